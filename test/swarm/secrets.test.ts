// Secrets and configs end to end in a one-manager swarm (a real shoald, real containers), driven by the real
// docker CLI and by shoal: create/ls/inspect/rm with docker's refusals, a service reading its secret and its
// config at their targets with the asked owner and mode, the secret's plaintext nowhere under the data root
// (raft log and snapshots, the agent's state file, the container records) while it is in the container's
// tmpfs, removal refused while in use, and no mount left once the service is gone.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  cleanupSwarm,
  type Daemon,
  docker,
  eventually,
  REPO,
  shoal,
  startShoald,
  stopShoald,
} from '../daemon/harness.js';
import { freePort } from '../images/registry-harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
// Unique per run, so a match can only be this run's secret.
const SECRET = `pw-${randomBytes(12).toString('hex')}`;
const CONFIG = `listen: ${randomBytes(6).toString('hex')}\n`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let d: Daemon;

/** Every regular file under `dir` whose bytes contain `needle` (what `grep -rl` finds). */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (p: string) => {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p, { throwIfNoEntry: false }) as ReturnType<typeof statSync>;
    } catch {
      return;
    }
    if (!st) return;
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) walk(join(p, e));
    } else if (st.isFile() && readFileSync(p).includes(needle)) hits.push(p);
  };
  walk(dir);
  return hits;
}

/** Mount points (this process's mount namespace) under `dir`. */
const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(dir));

const ok = async (args: string[], input?: string) => {
  const r = await docker(d, args, input);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function containerOf(service: string): Promise<string> {
  const r = await api(
    d,
    'GET',
    `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${service}`] }))}`,
  );
  const list = JSON.parse(r.body) as { Id: string }[];
  if (list.length !== 1) throw new Error(`${list.length} running containers of ${service}`);
  return list[0]!.Id;
}

beforeAll(async () => {
  d = await startShoald();
  await ok(['load', '-i', TARBALL]);
  const addr = `127.0.0.1:${await freePort()}`;
  await ok(['swarm', 'init', '--advertise-addr', addr, '--listen-addr', addr]);
}, 120_000);

afterAll(() => cleanupSwarm(d), 120_000);

describe('secrets and configs in a swarm', () => {
  it('docker secret/config create, ls, inspect; bad input refused with nothing created', async () => {
    const id = (await ok(['secret', 'create', '--label', 'env=test', 's1', '-'], SECRET)).trim();
    expect(id).toMatch(/^[a-z0-9]{25}$/);
    expect((await ok(['config', 'create', 'c1', '-'], CONFIG)).trim()).toMatch(/^[a-z0-9]{25}$/);

    const refusals: [string[], string | undefined, RegExp][] = [
      [['secret', 'create', 's1', '-'], 'x', /secret s1 already exists/],
      [['secret', 'create', 'bad_', '-'], 'x', /invalid name, only 64 \[a-zA-Z0-9-_.\] characters allowed/],
      [['secret', 'create', 'empty', '-'], '', /data is empty/], // the docker CLI's own check
      [
        ['secret', 'create', '--driver', 'vault', 'ext'],
        undefined,
        /secret drivers \(--driver vault\) are not supported/,
      ],
      [['config', 'create', 'c1', '-'], 'x', /config c1 already exists/],
      [['config', 'create', '--template-driver', 'golang', 'tpl', '-'], 'x', /not supported by shoal yet/],
    ];
    for (const [args, input, message] of refusals) {
      const r = await docker(d, args, input);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
    const empty = await shoal(d, ['secret', 'create', 'empty', '-'], '');
    expect(empty.stderr).toBe(
      'Error response from daemon: secret data must be larger than 0 and less than 512000 bytes\n',
    );
    const big = await docker(d, ['secret', 'create', 'big', '-'], 'x'.repeat(500 * 1024));
    expect(big.stderr).toMatch(/less than 512000 bytes/);
    expect(await ok(['secret', 'ls', '--format', '{{.Name}}'])).toBe('s1\n');
    expect(await ok(['config', 'ls', '--format', '{{.Name}}'])).toBe('c1\n');

    // inspect: a secret never shows its data, a config does (base64, as docker).
    const si = JSON.parse(await ok(['secret', 'inspect', 's1']))[0];
    expect(si.ID).toBe(id);
    expect(si.Spec).toEqual({ Name: 's1', Labels: { env: 'test' } });
    const ci = JSON.parse(await ok(['config', 'inspect', 'c1']))[0];
    expect(Buffer.from(ci.Spec.Data, 'base64').toString()).toBe(CONFIG);
    expect(await ok(['config', 'inspect', '--pretty', 'c1'])).toContain(`Data:\n${CONFIG}`);
    // shoal's own commands show the same.
    const pretty = await shoal(d, ['secret', 'inspect', '--pretty', 's1']);
    expect(pretty.stdout).toMatch(
      /^ID:\s+[a-z0-9]{25}\nName:\s+s1\nLabels:\n - env=test\nDriver:\s+\nCreated at:/,
    );
    expect(pretty.stdout).not.toContain(SECRET);
    expect((await shoal(d, ['secret', 'ls'])).stdout).toMatch(
      /^ID\s+NAME\s+DRIVER\s+CREATED\s+UPDATED\n[a-z0-9]{25}\s+s1\s+/,
    );
    expect((await shoal(d, ['config', 'ls', '-q'])).stdout).toBe(`${ci.ID}\n`);
    const missing = await shoal(d, ['secret', 'inspect', 'nope']);
    expect([missing.code, missing.stderr]).toEqual([1, 'Error: No such secret: nope\n']);

    // Labels-only updates through the API: new labels pass, other data is docker's refusal.
    const v = si.Version.Index;
    const bad = await api(d, 'POST', `/secrets/s1/update?version=${v}`, {
      Name: 's1',
      Labels: {},
      Data: Buffer.from('other').toString('base64'),
    });
    expect([bad.status, JSON.parse(bad.body).message]).toEqual([400, 'only updates to Labels are allowed']);
    const good = await api(d, 'POST', `/secrets/s1/update?version=${v}`, {
      Name: 's1',
      Labels: { env: 'prod' },
    });
    expect(good.status).toBe(200);
    expect(JSON.parse(await ok(['secret', 'inspect', 's1']))[0].Spec.Labels).toEqual({ env: 'prod' });
  });

  it('a service reads its secrets and config at their targets with the asked owner and mode', async () => {
    const script = [
      'sha256sum /run/secrets/s1 /run/secrets/other /etc/app.conf',
      'stat -c "%n %a %u %g" /run/secrets/s1 /run/secrets/other /etc/app.conf',
      'echo x > /run/secrets/s1 2>/dev/null || echo read-only',
      'sleep 1000',
    ].join('; ');
    await ok([
      'service',
      'create',
      '-d',
      '--name',
      'sv',
      '--secret',
      's1',
      '--secret',
      'source=s1,target=other,uid=1000,gid=1000,mode=0400',
      '--config',
      'source=c1,target=/etc/app.conf,mode=0440',
      'busybox',
      'sh',
      '-c',
      script,
    ]);
    let logs = '';
    await eventually(async () => {
      const c = await containerOf('sv').catch(() => '');
      if (!c) return false;
      logs = (await shoal(d, ['logs', c])).stdout;
      return logs.includes('read-only');
    }, 'the service to print what it read');
    expect(logs).toContain(`${sha(SECRET)}  /run/secrets/s1\n`);
    expect(logs).toContain(`${sha(SECRET)}  /run/secrets/other\n`);
    expect(logs).toContain(`${sha(CONFIG)}  /etc/app.conf\n`);
    expect(logs).toContain(
      '/run/secrets/s1 444 0 0\n/run/secrets/other 400 1000 1000\n/etc/app.conf 440 0 0\n',
    );
    expect(await ok(['exec', await containerOf('sv'), 'cat', '/etc/app.conf'])).toBe(CONFIG);

    // The plaintext is in the container's tmpfs (so the search below can find it)…
    const tmpfs = mountsUnder(join(d.execRoot, 'files'));
    expect(tmpfs).toHaveLength(1);
    expect(filesContaining(tmpfs[0]!, SECRET)).toHaveLength(2);
    // …and nowhere under the data root: not in raft's WAL or snapshots, the agent's state, the records.
    expect(filesContaining(join(d.dataRoot, 'swarm', 'raft'), 'listen: ')).not.toEqual([]); // configs are
    expect(filesContaining(d.dataRoot, SECRET)).toEqual([]);
    expect(filesContaining(join(d.dataRoot, 'swarm', 'worker'), 'listen: ')).toEqual([]);

    // A shoald restart: the running task keeps its files; a new task (update --force) gets the secret again
    // from the manager (the worker kept it in memory only, so it was fetched anew).
    const before = await containerOf('sv');
    await stopShoald(d);
    d = await startShoald(d.dir);
    await eventually(
      async () => (await shoal(d, ['node', 'ls', '--format', '{{.Status}}'])).stdout === 'Ready\n',
      'the node to be Ready again',
    );
    expect(await containerOf('sv')).toBe(before);
    await ok(['service', 'update', '-d', '--force', 'sv']);
    await eventually(async () => {
      const c = await containerOf('sv').catch(() => before);
      if (c === before) return false;
      return (await shoal(d, ['logs', c])).stdout.includes(`${sha(SECRET)}  /run/secrets/other`);
    }, 'a new task reading the secret after the restart');
    expect(filesContaining(d.dataRoot, SECRET)).toEqual([]);
  });

  it('rm of a secret or config in use is refused naming the service; after service rm, no mount is left', async () => {
    const r = await docker(d, ['secret', 'rm', 's1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("secret 's1' is in use by the following service: sv");
    const c = await docker(d, ['config', 'rm', 'c1']);
    expect(c.stderr).toContain("config 'c1' is in use by the following service: sv");
    expect(await ok(['secret', 'ls', '-q'])).not.toBe('');

    await ok(['service', 'rm', 'sv']);
    // The task stops within its grace period (10 s: sleep ignores SIGTERM as PID 1), then its mounts go.
    await eventually(
      async () => mountsUnder(join(d.execRoot, 'files')).length === 0,
      'the tmpfs to go',
      1200,
    );
    expect(await ok(['secret', 'rm', 's1'])).toBe('s1\n');
    expect(await ok(['config', 'rm', 'c1'])).toBe('c1\n');
    expect(await ok(['secret', 'ls', '-q'])).toBe('');
  }, 120_000);

  it('service update --secret-add / --secret-rm, through shoal', async () => {
    await ok(['secret', 'create', 's2', '-'], SECRET);
    expect(
      (
        await shoal(d, [
          'service',
          'create',
          '-d',
          '--name',
          'up',
          'busybox',
          'sh',
          '-c',
          'cat /run/secrets/s2; sleep 1000',
        ])
      ).code,
    ).toBe(0);
    const add = await shoal(d, ['service', 'update', '-d', '--secret-add', 'source=s2,mode=0400', 'up']);
    expect(add.stderr).toBe('');
    const spec = JSON.parse(await ok(['service', 'inspect', 'up']))[0].Spec.TaskTemplate.ContainerSpec;
    expect(spec.Secrets).toEqual([
      {
        File: { Name: 's2', UID: '0', GID: '0', Mode: 0o400 },
        SecretID: expect.any(String),
        SecretName: 's2',
      },
    ]);
    const missing = await shoal(d, ['service', 'update', '-d', '--secret-add', 'nope', 'up']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('secret not found: nope');
    await shoal(d, ['service', 'update', '-d', '--secret-rm', 's2', 'up']);
    const after = JSON.parse(await ok(['service', 'inspect', 'up']))[0].Spec.TaskTemplate.ContainerSpec;
    expect(after.Secrets).toBeUndefined();
    await ok(['service', 'rm', 'up']);
    await ok(['secret', 'rm', 's2']);
  });
});
