// The quick start's cluster path (deploy/quickstart.sh), non-interactively: a 1-manager + 1-worker
// cluster under a unique prefix instead of 3 + 2 under "demo", and --skip-setup (the setup itself,
// apt and npm and the build, is what every other test already stands on). Checked: the demo service
// spreads over the nodes, a re-run replaces the cluster, the printed next steps work as typed (down
// included), and the repository is left as it was.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DATA_BASE, REPO, type Result, RUN_BASE, run, script, uniquePrefix } from './harness.js';

const QUICKSTART = join(REPO, 'deploy/quickstart.sh');

function quickstart(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return run('bash', [QUICKSTART, ...args], { env: { ...process.env, SHOAL_HOST: '', ...env } });
}

/** Tracked changes and untracked files of the repository (ignored build outputs excepted). */
async function repoState(): Promise<string> {
  const r = await run('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=all']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** The rows of a table the script printed after `$ bin/shoal CMD` (header dropped), up to a blank line. */
function tableAfter(stdout: string, command: string): string[][] {
  const lines = stdout.split('\n');
  const at = lines.indexOf(`$ bin/shoal ${command}`);
  expect(at, `"$ bin/shoal ${command}" in the output`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const l of lines.slice(at + 2)) {
    if (!l.trim()) break;
    rows.push(l.trim().split(/\s+/));
  }
  return rows;
}

describe('deploy/quickstart.sh (the cluster demo)', () => {
  const prefix = uniquePrefix('qs');

  afterAll(async () => {
    const r = await script(['down', '--prefix', prefix]);
    if (r.code !== 0) throw new Error(`down --prefix ${prefix} exited ${r.code}:\n${r.stderr}`);
  }, 180_000);

  it('passes bash -n and shellcheck', async () => {
    expect((await run('bash', ['-n', QUICKSTART])).code).toBe(0);
    const sc = await run('shellcheck', [QUICKSTART]);
    expect(sc.stdout + sc.stderr).toBe('');
    expect(sc.code).toBe(0);
  });

  it('refuses bad arguments before doing anything, naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--managers', 'three'], /--managers: "three"/],
      [['--managers', '0'], /--managers: "0"/],
      [['--workers', '-1'], /--workers: "-1"/],
      [['--prefix', 'Demo'], /--prefix: "Demo"/],
      [['--prefix', 'waytoolongprefix'], /--prefix: "waytoolongprefix"/],
      [['--managers'], /--managers needs a value/],
      [['--frobnicate'], /unknown argument "--frobnicate"/],
    ];
    for (const [args, msg] of cases) {
      const r = await quickstart(['--skip-setup', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
    // the environment's overrides are checked the same way
    const env = await quickstart(['--skip-setup'], { QUICKSTART_MANAGERS: 'x', QUICKSTART_PREFIX: prefix });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/--managers: "x"/);
    expect(() => statSync(`${RUN_BASE}/${prefix}`)).toThrow();
  });

  it('brings up the cluster, spreads demo-web over it, and a re-run starts afresh', async () => {
    const before = await repoState();
    const first = await quickstart(['--skip-setup', '--managers', '1', '--workers', '1', '--prefix', prefix]);
    expect(first.code, first.stderr).toBe(0);

    const nodes = tableAfter(first.stdout, 'node ls');
    // ID [*] HOSTNAME STATUS AVAILABILITY [MANAGER STATUS] ENGINE
    const hostnames = nodes.map((f) => (f[1] === '*' ? f[2] : f[1])).sort();
    expect(hostnames).toEqual([`${prefix}-m1`, `${prefix}-w1`]);
    expect(nodes.every((f) => f.includes('Ready'))).toBe(true);

    const tasks = tableAfter(first.stdout, 'service ps demo-web');
    expect(tasks).toHaveLength(5);
    for (const t of tasks) {
      expect(t[1]).toMatch(/^demo-web\.[1-5]$/);
      expect(t[4]).toBe('Running'); // desired
      expect(t[5]).toBe('Running'); // current
    }
    expect(new Set(tasks.map((t) => t[3]))).toEqual(new Set(hostnames)); // on both nodes

    // The demo stack: every service at all its replicas, and web answering on each node (routing mesh).
    const stack = tableAfter(first.stdout, 'stack services app');
    expect(stack.map((f) => `${f[1]} ${f[3]}`).sort()).toEqual([
      'app_cache 1/1',
      'app_web 2/2',
      'app_worker 1/1',
    ]);
    const mesh = first.stdout.split('\n').filter((l) => l.startsWith('$ curl'));
    expect(mesh).toHaveLength(2);
    expect(first.stdout.match(/^hello from \S+$/gm)).toHaveLength(2);

    const again = await quickstart(['--skip-setup', '--managers', '1', '--workers', '1', '--prefix', prefix]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`a cluster "${prefix}" exists: taking it down to start afresh`);
    const againNodes = tableAfter(again.stdout, 'node ls');
    expect(againNodes.map((f) => f[0]).filter((id) => nodes.some((n) => n[0] === id))).toEqual([]); // a new swarm
    expect(tableAfter(again.stdout, 'service ps demo-web')).toHaveLength(5);

    // What it says to type next, typed as printed (comments are shell comments), from the repository.
    const steps = again.stdout.slice(again.stdout.indexOf('What to type next'));
    const typed = steps
      .split('\n')
      .slice(1)
      .filter((l) => l.startsWith('  '))
      .map((l) => l.trim())
      .filter((l) => !l.startsWith('cd ')); // printed when run from elsewhere; the session below cds
    expect(typed).toEqual([
      `eval "$(deploy/local-cluster.sh env m1 --prefix ${prefix})"   # point bin/shoal (and docker -H $SHOAL_HOST) at m1`,
      'bin/shoal node ls',
      'bin/shoal service ls',
      'bin/shoal service scale demo-web=10',
      'bin/shoal service ps demo-web',
      'bin/shoal stack ps app',
      expect.stringMatching(
        /^curl -s http:\/\/[\d.]+:8080\/ {3}# the stack's web, through the routing mesh$/,
      ),
      `deploy/local-cluster.sh down --prefix ${prefix}   # remove the whole cluster; nothing is left behind`,
    ]);
    const session = await run('bash', ['-euc', `cd ${REPO}\n${typed.join('\n')}`], {
      env: { ...process.env, SHOAL_HOST: '' },
    });
    expect(session.code, session.stderr).toBe(0);
    expect(session.stdout).toMatch(/demo-web\s+replicated\s+5\/5\s+busybox/);
    expect(session.stdout).toContain('demo-web scaled to 10');
    expect(session.stdout).toMatch(/demo-web\.10\s+busybox\s+\S+\s+Running\s+Running/);
    expect(session.stdout).toMatch(/app_worker\.1\s+busybox:latest\s+\S+\s+Running\s+Running/);
    expect(session.stdout).toMatch(/^hello from \S+$/m);
    expect(session.stderr).toContain(`down ${prefix}: nothing left`);
    expect(() => statSync(`${RUN_BASE}/${prefix}`)).toThrow();
    expect(() => statSync(`${DATA_BASE}/${prefix}`)).toThrow();

    expect(await repoState()).toBe(before);
  }, 420_000);
});
