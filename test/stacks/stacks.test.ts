// Stacks on a one-manager swarm (a real shoald), driven by `shoal stack` and by the real docker CLI 28:
// deploy, ls, services, ps, rm; a redeploy updating only what changed, adding new services, --prune; every
// kind of bad input refused with the key path and file:line:col and the running version left unchanged.
// These check the objects the deploy writes (services, networks, secrets, configs, labels, versions); the
// stacks' tasks run only once workers attach overlay networks (test/stacks/stack-run.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupSwarm,
  type Daemon,
  docker,
  REPO,
  type Result,
  shoal,
  startShoald,
} from '../daemon/harness.js';
import { freePort } from '../images/registry-harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const EXAMPLES = join(REPO, 'deploy/examples');
let d: Daemon;
let dir: string;

const run = async (r: Promise<Result>, what: string): Promise<string> => {
  const x = await r;
  if (x.code !== 0) throw new Error(`${what} → ${x.code}\n${x.stdout}${x.stderr}`);
  return x.stdout;
};
const sh = (args: string[], input?: string) => run(shoal(d, args, input), `shoal ${args.join(' ')}`);
const dk = (args: string[]) => run(docker(d, args), `docker ${args.join(' ')}`);
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const lines = (s: string) => s.trim().split('\n').filter(Boolean);

interface Svc {
  ID: string;
  Version: { Index: number };
  Spec: {
    Name: string;
    Labels: Record<string, string>;
    Mode: { Replicated?: { Replicas: number } };
  } & Record<string, unknown>;
}
async function services(stack: string): Promise<Map<string, Svc>> {
  const list = JSON.parse(
    await sh(['service', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${stack}`]).then(
      async (ids) => (lines(ids).length ? sh(['service', 'inspect', ...lines(ids)]) : '[]'),
    ),
  ) as Svc[];
  return new Map(list.map((s) => [s.Spec.Name, s]));
}
const versions = async (stack: string) =>
  Object.fromEntries([...(await services(stack))].map(([n, s]) => [n, s.Version.Index]));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoal-stacks-'));
  d = await startShoald(undefined, { ownNetns: true }); // its overlays stay out of the host's namespace
  await dk(['load', '-i', TARBALL]);
  const addr = `127.0.0.1:${await freePort()}`;
  await dk(['swarm', 'init', '--advertise-addr', addr, '--listen-addr', addr]);
}, 120_000);

afterAll(async () => {
  await cleanupSwarm(d);
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

const V1 = `version: "3.8"
services:
  web:
    image: busybox:latest
    command: httpd -f -p 80
    deploy:
      replicas: 2
  cache:
    image: busybox:latest
    command: ["sleep", "100000"]
    volumes: [cachedata:/data]
volumes:
  cachedata: {}
`;

describe('shoal stack', () => {
  it('deploys, lists, redeploys only what changed, adds, prunes and removes', async () => {
    const f1 = file('v1.yml', V1);
    const out = await sh(['stack', 'deploy', '--resolve-image', 'never', '-c', f1, 'shop']);
    expect(out).toBe(
      'Creating network shop_default\nCreating service shop_web\nCreating service shop_cache\n',
    );
    const svcs = await services('shop');
    expect([...svcs.keys()].sort()).toEqual(['shop_cache', 'shop_web']);
    const web = svcs.get('shop_web')!;
    expect(web.Spec.Labels['com.docker.stack.namespace']).toBe('shop');
    expect(web.Spec.Labels['com.docker.stack.image']).toBe('busybox:latest');
    expect(web.Spec.Mode.Replicated?.Replicas).toBe(2);
    const net = JSON.parse(await sh(['network', 'inspect', 'shop_default']))[0];
    expect(net.Labels['com.docker.stack.namespace']).toBe('shop');
    expect(net.Driver).toBe('overlay');

    expect(lines(await sh(['stack', 'ls']))).toEqual(['NAME      SERVICES', 'shop      2']);
    expect(lines(await sh(['stack', 'services', '--format', '{{.Name}} {{.Mode}}', 'shop'])).sort()).toEqual([
      'shop_cache replicated',
      'shop_web replicated',
    ]);
    // Tasks exist (the listing is what is checked here; test/stacks/stack-run.test.ts runs stacks on a cluster).
    expect(lines(await sh(['stack', 'ps', '--format', '{{.Name}}', 'shop'])).length).toBeGreaterThan(0);

    // The same file again: nothing written.
    const before = await versions('shop');
    expect(await sh(['stack', 'deploy', '--resolve-image', 'never', '-c', f1, 'shop'])).toBe('');
    expect(await versions('shop')).toEqual(before);

    // A change made by hand since is put back by a redeploy of the file (it is the desired state).
    await sh(['service', 'scale', '-d', 'shop_web=5']);
    expect(await sh(['stack', 'deploy', '--resolve-image', 'never', '-c', f1, 'shop'])).toMatch(
      /^Updating service shop_web \(id: \w+\)\n$/,
    );
    expect((await services('shop')).get('shop_web')!.Spec.Mode.Replicated?.Replicas).toBe(2);

    // Edit one service, add one: only those are written. A second file overrides the first.
    const mid = await versions('shop');
    const f2 = file(
      'v2.yml',
      `services:
  web:
    environment: [MODE=prod]
  worker:
    image: busybox:latest
    command: sleep 100000
`,
    );
    const out2 = await sh(['stack', 'deploy', '--resolve-image', 'never', '-c', f1, '-c', f2, 'shop']);
    expect(lines(out2).sort()).toEqual([
      'Creating service shop_worker',
      expect.stringMatching(/^Updating service shop_web/),
    ]);
    const after = await versions('shop');
    expect(after.shop_cache).toBe(mid.shop_cache);
    expect(after.shop_web).toBeGreaterThan(mid.shop_web);
    const env = (await services('shop')).get('shop_web')!.Spec as unknown as {
      TaskTemplate: { ContainerSpec: { Env: string[] } };
    };
    expect(env.TaskTemplate.ContainerSpec.Env).toEqual(['MODE=prod']);

    // Without --prune a service gone from the files stays; with it, it is removed.
    await sh(['stack', 'deploy', '--resolve-image', 'never', '-c', f1, 'shop']);
    expect((await services('shop')).has('shop_worker')).toBe(true);
    expect(await sh(['stack', 'deploy', '--prune', '--resolve-image', 'never', '-c', f1, 'shop'])).toContain(
      'Removing service shop_worker',
    );
    expect([...(await services('shop')).keys()].sort()).toEqual(['shop_cache', 'shop_web']);

    const rm = await sh(['stack', 'rm', 'shop']);
    expect(lines(rm)).toEqual([
      'Removing service shop_cache',
      'Removing service shop_web',
      'Removing network shop_default',
    ]);
    expect((await services('shop')).size).toBe(0);
    expect((await shoal(d, ['network', 'inspect', 'shop_default'])).code).not.toBe(0);
    expect(lines(await sh(['stack', 'ls']))).toEqual(['NAME      SERVICES']);
  }, 180_000);

  it('bad input: a clear error naming the place, nothing deployed, the running version unchanged', async () => {
    const good = file('good.yml', V1);
    await sh(['stack', 'deploy', '--resolve-image', 'never', '-c', good, 'keep']);
    const before = JSON.stringify([...(await services('keep')).values()].map((s) => [s.Spec, s.Version]));
    const secretsBefore = await sh(['secret', 'ls', '-q']);

    const cases: [string, string, RegExp][] = [
      ['malformed YAML', 'services:\n  web: [unclosed\n', /^invalid YAML: .*\(.*bad\.yml:\d+:\d+\)$/m],
      [
        'unknown key',
        'services:\n  web:\n    image: busybox:latest\n    replicas: 3\n',
        /^services\.web: unknown key "replicas" \(.*bad\.yml:4:5\)$/m,
      ],
      [
        'wrong type',
        'services:\n  web:\n    image: busybox:latest\n    deploy:\n      replicas: three\n',
        /^services\.web\.deploy\.replicas: expected an integer, got "three" \(.*bad\.yml:5:17\)$/m,
      ],
      [
        'undefined required variable',
        'services:\n  web:\n    image: "busybox:${TAG:?set TAG to the release}"\n',
        /^services\.web\.image: required variable TAG is missing or empty: set TAG to the release \(.*bad\.yml:3:12\)$/m,
      ],
      [
        'a secret that does not exist',
        'services:\n  web:\n    image: busybox:latest\n    secrets: [db]\nsecrets:\n  db:\n    external: true\n',
        /^secrets\.db: external secret "db" not found$/m,
      ],
      [
        'a secret file that does not exist',
        'services:\n  web:\n    image: busybox:latest\n    secrets: [db]\nsecrets:\n  db:\n    file: ./nope.txt\n',
        /^cannot read .*nope\.txt \(for db\): ENOENT$/m,
      ],
      [
        'a secret not declared',
        'services:\n  web:\n    image: busybox:latest\n    secrets: [db]\n',
        /^services\.web\.secrets\[0\]: undefined secret "db": declare it under the top-level secrets \(.*bad\.yml:4:15\)$/m,
      ],
      [
        'a port published twice',
        'services:\n  a:\n    image: busybox:latest\n    ports: ["8080:80"]\n  b:\n    image: busybox:latest\n    ports: ["8080:81"]\n',
        /^services\.b\.ports\[0\]: port 8080\/tcp is already published by service a \(.*bad\.yml:7:13\)$/m,
      ],
      [
        'a volume name with invalid characters',
        'services:\n  web:\n    image: busybox:latest\n    volumes: ["my$$vol:/data"]\n',
        /^services\.web\.volumes\[0\]: invalid volume name "my\$vol": letters, digits, '_', '\.' and '-' only \(.*bad\.yml:4:15\)$/m,
      ],
    ];
    for (const [what, text, re] of cases) {
      const f = file('bad.yml', text);
      const r = await shoal(d, ['stack', 'deploy', '--resolve-image', 'never', '-c', f, 'keep']);
      expect(r.code, what).toBe(1);
      expect(r.stderr, what).toMatch(re);
      expect(r.stderr, what).toMatch(/stack keep not deployed/);
      expect(r.stdout, what).toBe('');
    }
    const badName = await shoal(d, ['stack', 'deploy', '--resolve-image', 'never', '-c', good, 'no.dots']);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('invalid stack name "no.dots"');
    expect((await services('no.dots')).size).toBe(0);

    // Nothing of any refused deploy reached the daemon.
    expect(JSON.stringify([...(await services('keep')).values()].map((s) => [s.Spec, s.Version]))).toBe(
      before,
    );
    expect(await sh(['secret', 'ls', '-q'])).toBe(secretsBefore);

    // A refusal only the daemon can make (an unknown constraint key), after cache was already updated: the
    // deploy is undone — cache back to its previous spec, the new service and config gone.
    const specs = async () =>
      JSON.stringify(
        [...(await services('keep')).values()]
          .map((s) => s.Spec)
          .sort((a, b) => a.Name.localeCompare(b.Name)),
      );
    const specsBefore = await specs();
    const late = file(
      'late.yml',
      `services:
  cache:
    environment: [CHANGED=1]
  odd:
    image: busybox:latest
    configs: [c]
    deploy:
      placement:
        constraints: [node.colour==red]
configs:
  c:
    file: ./late.yml
`,
    );
    const lr = await shoal(d, [
      'stack',
      'deploy',
      '--resolve-image',
      'never',
      '-c',
      good,
      '-c',
      late,
      'keep',
    ]);
    expect(lr.code, lr.stdout + lr.stderr).toBe(1);
    expect(lr.stdout).toContain('Updating service keep_cache');
    expect(lr.stderr).toContain('unknown key "node.colour"');
    expect(lr.stderr).toContain('stack keep not deployed; what this deploy changed was undone');
    expect(lr.stderr).not.toContain('could not undo');
    expect(await specs()).toBe(specsBefore);
    expect([...(await services('keep')).keys()].sort()).toEqual(['keep_cache', 'keep_web']);
    expect(await sh(['config', 'ls', '-q'])).toBe('');
    // Keys a swarm cannot honour: a warning naming them, the rest deployed.
    const warned = await shoal(d, [
      'stack',
      'deploy',
      '--resolve-image',
      'never',
      '-c',
      file(
        'warn.yml',
        'services:\n  web:\n    image: busybox:latest\n    build: .\n    restart: always\n    container_name: w\n',
      ),
      'warned',
    ]);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toContain('Ignoring unsupported options in');
    expect(warned.stderr).toContain('service web: build, container_name, restart');
    await sh(['stack', 'rm', 'warned']);
    await sh(['stack', 'rm', 'keep']);
  }, 180_000);
});

describe('the docker CLI on the examples', () => {
  it('docker stack deploy --resolve-image never, ls, services, ps, rm (secrets and configs too)', async () => {
    const out = await dk([
      'stack',
      'deploy',
      '--resolve-image',
      'never',
      '-c',
      join(EXAMPLES, 'secrets.yml'),
      'vault',
    ]);
    expect(out).toContain('Creating secret vault_db_password');
    expect(out).toContain('Creating config vault_app_conf');
    expect(out).toContain('Creating service vault_app');
    expect(await dk(['stack', 'ls', '--format', '{{.Name}}:{{.Services}}'])).toContain('vault:1');
    expect(lines(await dk(['stack', 'services', '--format', '{{.Name}} {{.Mode}}', 'vault']))).toEqual([
      'vault_app replicated',
    ]);
    expect(lines(await dk(['stack', 'ps', '--format', '{{.Name}}', 'vault'])).length).toBeGreaterThan(0);
    // shoal sees docker's stack as its own, and the reverse.
    expect(lines(await sh(['stack', 'services', '--format', '{{.Name}}', 'vault']))).toEqual(['vault_app']);
    const spec = JSON.parse(await sh(['service', 'inspect', 'vault_app']))[0].Spec;
    expect(
      spec.TaskTemplate.ContainerSpec.Secrets.map((s: { SecretName: string }) => s.SecretName).sort(),
    ).toEqual(['vault_api_key', 'vault_db_password']);
    // docker's redeploy (secret/config label updates, service updates) is accepted.
    await dk(['stack', 'deploy', '--resolve-image', 'never', '-c', join(EXAMPLES, 'secrets.yml'), 'vault']);
    const rm = await dk(['stack', 'rm', 'vault']);
    expect(rm).toContain('Removing service vault_app');
    expect(rm).toContain('Removing secret vault_db_password');
    expect(rm).toContain('Removing config vault_app_conf');
    expect(rm).toContain('Removing network vault_default');
    expect(await sh(['secret', 'ls', '-q'])).toBe('');
    expect(await sh(['config', 'ls', '-q'])).toBe('');

    // Ours deployed, docker's listed and removed.
    await sh(['stack', 'deploy', '--resolve-image', 'never', '-c', join(EXAMPLES, 'global.yml'), 'agents']);
    expect(lines(await dk(['stack', 'services', '--format', '{{.Name}} {{.Mode}}', 'agents']))).toEqual([
      'agents_agent global',
    ]);
    expect(await dk(['stack', 'rm', 'agents'])).toContain('Removing network agents_default');
    expect((await dk(['stack', 'ls', '--format', '{{.Name}}'])).trim()).toBe('');
  }, 180_000);
});
