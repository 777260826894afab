// The local multi-host bed itself (deploy/local-cluster.sh through the harness): two clusters side by
// side, node-to-node traffic by address, partitions and healing, a crashed shoald, crash leftovers, bad
// input, and a `down` that leaves nothing (checked in the kernel and on disk, not taken on trust).
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DATA_BASE,
  LocalCluster,
  REPO,
  ROOTFS,
  RUN_BASE,
  run,
  SCRIPT,
  script,
  uniquePrefix,
  useLocalCluster,
} from './harness.js';

const HTTPD_PORT = 8080;

/** Runs a busybox httpd (host network = the node's namespace) serving one line that names the node. */
async function startWeb(c: LocalCluster, node: string): Promise<string> {
  const r = await c.shoal(node, [
    'run',
    '-d',
    '--network',
    'host',
    '--rootfs',
    ROOTFS,
    'sh',
    '-c',
    `mkdir -p /tmp/www && echo hello-from-${node} > /tmp/www/index.html && exec httpd -f -p ${HTTPD_PORT} -h /tmp/www`,
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

/** Polls until curl from `from` to `to`'s httpd gives the page (the container may still be starting). */
async function reachable(c: LocalCluster, from: string, to: string): Promise<boolean> {
  const url = `http://${c.node(to).address}:${HTTPD_PORT}/`;
  for (let i = 0; i < 50; i++) {
    const r = await c.curlFrom(from, url);
    if (r.code === 0) {
      expect(r.stdout.trim()).toBe(`hello-from-${to}`);
      return true;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  return false;
}

/** One attempt, short timeout: used where traffic must be blocked. */
async function blocked(c: LocalCluster, from: string, to: string): Promise<boolean> {
  const r = await c.curlFrom(from, `http://${c.node(to).address}:${HTTPD_PORT}/`, 2);
  return r.code !== 0;
}

async function netnsNames(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout.split('\n').map((l) => l.split(' ')[0]);
}

async function linkNames(): Promise<string[]> {
  const r = await run('ip', ['-o', 'link', 'show']);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(': ')[1].split('@')[0]);
}

function ofPrefix(names: string[], prefix: string): string[] {
  return names.filter((n) => n.startsWith(`${prefix}-`));
}

/** (dev, inode) of a network namespace file, to find processes still in it after the file is gone. */
function nsId(path: string): string {
  const s = statSync(path);
  return `${s.dev}:${s.ino}`;
}

// A freed namespace's inode number is given to the next namespace made, possibly by a test running
// beside this one; `bornBefore` (clock ticks since boot) leaves out processes started after the
// cluster's namespaces began to go, which cannot be the cluster's own.
function pidsInNetns(ids: Set<string>, bornBefore = Number.POSITIVE_INFINITY): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (ids.has(nsId(`/proc/${p}/ns/net`)) && startTicks(Number(p)) < bornBefore) out.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A running process (a zombie is not: this machine's init reaps orphans lazily). */
const CLOCK_TICKS = 100; // USER_HZ on Linux
const ticksSinceBoot = () =>
  Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * CLOCK_TICKS);
function startTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function cgroupsOf(id: string): string[] {
  return readdirSync('/sys/fs/cgroup')
    .map((h) => `/sys/fs/cgroup/${h}/shoal/${id}`)
    .filter((d) => {
      try {
        return statSync(d).isDirectory();
      } catch {
        return false;
      }
    });
}

function mountsUnder(prefix: string): string[] {
  const roots = [`${RUN_BASE}/${prefix}`, `${DATA_BASE}/${prefix}`, `/run/netns/${prefix}-`];
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && roots.some((r) => m.startsWith(r)));
}

describe('deploy/local-cluster.sh', () => {
  let a: LocalCluster;
  let b: LocalCluster;
  const prefixes = [uniquePrefix('lca'), uniquePrefix('lcb')];

  beforeAll(async () => {
    // Two clusters at the same time: different prefixes must not clash.
    const [ra, rb] = await Promise.allSettled([
      // standalone nodes: these tests are about the bed (namespaces, links, partitions), not the swarm
      LocalCluster.up({ managers: 2, workers: 1, prefix: prefixes[0], swarm: 'no' }),
      LocalCluster.up({ managers: 1, workers: 1, prefix: prefixes[1], swarm: 'no' }),
    ]);
    if (ra.status === 'rejected') throw ra.reason;
    if (rb.status === 'rejected') throw rb.reason;
    a = ra.value;
    b = rb.value;
  }, 180_000);

  afterAll(async () => {
    for (const p of prefixes) await script(['down', '--prefix', p]);
  }, 180_000);

  it('passes bash -n and shellcheck', async () => {
    expect((await run('bash', ['-n', SCRIPT])).code).toBe(0);
    const sc = await run('shellcheck', [SCRIPT]);
    expect(sc.stdout + sc.stderr).toBe('');
    expect(sc.code).toBe(0);
  });

  it('brings up one namespace and one answering shoald per node, named by the prefix', async () => {
    expect(a.nodes.map((n) => `${n.name}:${n.role}`)).toEqual(['m1:manager', 'm2:manager', 'w1:worker']);
    expect(b.nodes.map((n) => `${n.name}:${n.role}`)).toEqual(['m1:manager', 'w1:worker']);
    const ns = await netnsNames();
    for (const c of [a, b]) {
      for (const n of c.nodes) {
        expect(n.netns).toBe(`${c.prefix}-${n.name}`);
        expect(ns).toContain(n.netns);
        expect(n.socket).toBe(`${RUN_BASE}/${c.prefix}/${n.name}/shoald.sock`);
        expect(await c.ping(n.name)).toBe(true);
        // each shoald is named after its namespace (--hostname), not after the machine
        const info = await c.api(n.name, 'GET', '/info');
        expect(JSON.parse(info.body).Name).toBe(n.netns);
      }
      // the node's own address on eth0, and no route but its subnet (and the node's own container bridge,
      // shoal0, which stays inside the namespace): nothing leads to the uplink
      const m1 = c.node('m1');
      const addr = await c.inNetns('m1', 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      expect(addr.stdout).toContain(`inet ${m1.address}/24`);
      const routes = await c.inNetns('m1', 'ip', ['-4', 'route', 'show']);
      expect(routes.stdout).not.toContain('default');
      expect(
        routes.stdout
          .trim()
          .split('\n')
          .filter((r) => !r.includes('dev shoal0')),
      ).toHaveLength(1);
    }
    // distinct subnets, bridges and namespaces
    const subnet = (c: LocalCluster) => c.node('m1').address.split('.').slice(0, 3).join('.');
    expect(subnet(a)).not.toBe(subnet(b));
    const links = await linkNames();
    expect(links).toContain(a.bridge);
    expect(links).toContain(b.bridge);
    const onA = await run('ip', ['-o', 'link', 'show', 'master', a.bridge]);
    expect(onA.stdout).toContain(`${a.prefix}-m1`);
    expect(onA.stdout).not.toContain(`${b.prefix}-`);
    expect(a.swarm).toBe(a.upLog.includes('swarm formed'));
    if (!a.swarm) expect(a.upLog).toContain('standalone');
  });

  it('env and status describe the nodes', async () => {
    const env = await script(['env', 'm2', '--prefix', a.prefix]);
    expect(env.stdout.trim()).toBe(`export SHOAL_HOST=${a.node('m2').host}`);
    const st = await a.status();
    expect([...st.keys()]).toEqual(['m1', 'm2', 'w1']);
    for (const pid of st.values()) expect(pid).toBeGreaterThan(0);
  });

  it("runs each shoald with bin/shoald's #! environment and node flags, as a user starting it gets them", async () => {
    // `#!/usr/bin/env -S NAME=VALUE… node FLAGS…`
    const shebang = readFileSync('bin/shoald', 'utf8')
      .split('\n')[0]
      .replace(/^#!\S*env -S /, '')
      .split(' ');
    const nodeAt = shebang.indexOf('node');
    const env = shebang.slice(0, nodeAt);
    const flags = shebang.slice(nodeAt + 1);
    expect(env).toContain('MALLOC_ARENA_MAX=1');
    expect(flags.length).toBeGreaterThan(0);
    for (const pid of (await a.status()).values()) {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      for (const e of env) expect(environ).toContain(e);
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      expect(argv.slice(1, 1 + flags.length)).toEqual(flags);
    }
  });

  it('nodes reach each other by address; another cluster cannot', async () => {
    await startWeb(a, 'm2');
    expect(await reachable(a, 'm1', 'm2')).toBe(true);
    expect(await reachable(a, 'w1', 'm2')).toBe(true);
    // b's node has no route to a's subnet at all
    const r = await b.curlFrom('m1', `http://${a.node('m2').address}:${HTTPD_PORT}/`, 2);
    expect(r.code).not.toBe(0);
  });

  it('a cut drops a node off the network and heal brings it back', async () => {
    await a.cut('m2');
    expect(await blocked(a, 'm1', 'm2')).toBe(true);
    expect(await blocked(a, 'w1', 'm2')).toBe(true);
    await a.heal('m2');
    expect(await reachable(a, 'm1', 'm2')).toBe(true);

    // a partial cut: only between m2 and m1
    await a.cut('m2', { from: ['m1'] });
    expect(await blocked(a, 'm1', 'm2')).toBe(true);
    expect(await reachable(a, 'w1', 'm2')).toBe(true);
    await a.heal('m2');
    expect(await reachable(a, 'm1', 'm2')).toBe(true);

    // the link form: the host end of the veth goes down
    await a.cut('m2', { link: true });
    expect(await blocked(a, 'm1', 'm2')).toBe(true);
    await a.heal('m2');
    expect(await reachable(a, 'm1', 'm2')).toBe(true);
    // healing twice is fine
    await a.heal('m2');
  });

  it("SIGKILLs and restarts a node's shoald; its container keeps serving meanwhile", async () => {
    const before = (await a.status()).get('m2');
    await a.kill('m2', 'SIGKILL');
    expect((await a.status()).get('m2')).toBeNull();
    expect(await a.ping('m2')).toBe(false);
    expect(await reachable(a, 'm1', 'm2')).toBe(true);
    await a.start('m2');
    const after = (await a.status()).get('m2');
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
    expect(await a.ping('m2')).toBe(true);
    const ps = await a.shoal('m2', ['ps', '-q']);
    expect(ps.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('refuses bad input with the field named, and creates nothing', async () => {
    const p = uniquePrefix('lcx');
    const cases: [string[], RegExp][] = [
      [['up', '--managers', '0', '--prefix', p], /--managers: "0"/],
      [['up', '--managers', 'two', '--prefix', p], /--managers: "two"/],
      [['up', '--managers', '1', '--workers', '-1', '--prefix', p], /--workers: "-1"/],
      [['up', '--workers', '1', '--prefix', p], /--managers N is required/],
      [['up', '--managers', '1', '--prefix', 'Bad_Prefix'], /--prefix: "Bad_Prefix"/],
      [['up', '--managers', '1', '--prefix', 'waytoolongprefix'], /--prefix: "waytoolongprefix"/],
      [
        ['up', '--managers', '1', '--prefix', p, '--subnet', '8.8.8.0/24'],
        /--subnet: "8.8.8.0\/24".*private/,
      ],
      [['up', '--managers', '1', '--prefix', p, '--subnet', '10.1.2.3/24'], /--subnet: "10.1.2.3\/24"/],
      [['up', '--managers', '1', '--prefix', p, '--bogus'], /unknown option "--bogus"/],
      [['env', '--prefix', a.prefix], /which node/],
      [['env', 'w7', '--prefix', a.prefix], /node "w7": no such node/],
      [['kill', 'm1', '--signal', 'NOPE', '--prefix', a.prefix], /--signal: "NOPE"/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['up', '--managers', '1', '--prefix', p, '--swarm', 'maybe'], /--swarm: "maybe"/],
    ];
    for (const [args, msg] of cases) {
      const r = await script(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
    // a subnet another cluster uses is refused too, before anything is made
    const taken = `${a.node('m1').address.split('.').slice(0, 3).join('.')}.0/24`;
    const clash = await script(['up', '--managers', '1', '--prefix', p, '--subnet', taken]);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toMatch(/overlaps/);
    // a live cluster is not replaced
    const again = await script(['up', '--managers', '1', '--prefix', a.prefix]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/is up/);
    expect(await a.ping('m1')).toBe(true);

    expect(ofPrefix(await netnsNames(), p)).toEqual([]);
    expect(ofPrefix(await linkNames(), p)).toEqual([]);
    expect(() => statSync(`${RUN_BASE}/${p}`)).toThrow();
    expect(() => statSync(`${DATA_BASE}/${p}`)).toThrow();
  });

  it('up after a crashed run cleans its leftovers (shoalds killed, a container still running)', async () => {
    const id = await startWeb(b, 'w1');
    expect(await reachable(b, 'm1', 'w1')).toBe(true);
    const ctrPids = readFileSync(`/sys/fs/cgroup/pids/shoal/${id}/cgroup.procs`, 'utf8')
      .trim()
      .split('\n')
      .map(Number);
    expect(ctrPids.length).toBeGreaterThan(0);
    await b.kill('m1', 'SIGKILL');
    await b.kill('w1', 'SIGKILL');

    const fresh = await LocalCluster.up({ managers: 1, workers: 1, prefix: b.prefix, swarm: 'no' });
    expect(fresh.upLog).toContain('leftovers');
    for (const pid of ctrPids) expect(alive(pid)).toBe(false);
    expect(cgroupsOf(id)).toEqual([]);
    for (const n of fresh.nodes) expect(await fresh.ping(n.name)).toBe(true);
    expect((await fresh.shoal('w1', ['ps', '-aq'])).stdout.trim()).toBe('');
    b = fresh;
  });

  it('down leaves no namespace, link, mount, cgroup, process or directory of either cluster', async () => {
    // a container on each cluster, so down has containers to remove
    const ids = [...(await a.shoal('m1', ['ps', '-aq', '--no-trunc'])).stdout.trim().split('\n')];
    ids.push(await startWeb(b, 'm1'));
    ids.push(...(await a.shoal('m2', ['ps', '-aq', '--no-trunc'])).stdout.trim().split('\n'));
    const ctrIds = ids.filter((x) => /^[0-9a-f]{64}$/.test(x));
    expect(ctrIds.length).toBeGreaterThanOrEqual(2);
    const ctrPids = ctrIds.flatMap((id) =>
      readFileSync(`/sys/fs/cgroup/pids/shoal/${id}/cgroup.procs`, 'utf8').trim().split('\n').map(Number),
    );
    const shoalds = [...(await a.status()).values(), ...(await b.status()).values()] as number[];
    expect(shoalds.every((p) => p > 0)).toBe(true);
    const nsIds = new Set([...a.nodes, ...b.nodes].map((n) => nsId(`/run/netns/${n.netns}`)));
    expect(pidsInNetns(nsIds).length).toBeGreaterThan(0);

    const downBegan = ticksSinceBoot();
    for (const c of [a, b]) {
      const r = await c.down();
      expect(r.stderr).toContain('nothing left');
      expect(r.code).toBe(0);
    }

    for (const p of [a.prefix, b.prefix]) {
      expect(ofPrefix(await netnsNames(), p)).toEqual([]);
      expect(ofPrefix(await linkNames(), p)).toEqual([]);
      expect(mountsUnder(p)).toEqual([]);
      expect(() => statSync(`${RUN_BASE}/${p}`)).toThrow();
      expect(() => statSync(`${DATA_BASE}/${p}`)).toThrow();
    }
    for (const id of ctrIds) expect(cgroupsOf(id)).toEqual([]);
    for (const pid of [...shoalds, ...ctrPids]) expect(alive(pid)).toBe(false);
    expect(pidsInNetns(nsIds, downBegan)).toEqual([]);
    const routes = await run('ip', ['-4', 'route', 'show']);
    expect(routes.stdout).not.toContain(`${a.prefix}-br`);

    // idempotent
    const again = await a.down();
    expect(again.code).toBe(0);
  });
});

// The swarm-forming steps, against a stand-in `shoal` CLI that records its arguments (the real swarm
// commands are being built): init on m1 with its address, both tokens, then every other node joins m1.
describe('local-cluster.sh up --swarm yes', () => {
  const prefix = uniquePrefix('lcs');
  let dir = '';
  let calls = '';
  let fakeScript = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'shoal-lc-swarm-'));
    calls = join(dir, 'calls.jsonl');
    fakeScript = join(dir, 'deploy/local-cluster.sh');
    mkdirSync(join(dir, 'deploy'));
    mkdirSync(join(dir, 'bin'));
    copyFileSync(SCRIPT, fakeScript);
    symlinkSync(join(REPO, 'dist'), join(dir, 'dist'));
    symlinkSync(join(REPO, 'bin/shoald'), join(dir, 'bin/shoald'));
    writeFileSync(
      join(dir, 'bin/shoal'),
      `const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(calls)}, JSON.stringify(args) + '\\n');
const [, , cmd, sub, , kind] = args;
if (cmd === 'swarm' && sub === 'join-token') console.log('SWMTKN-1-fake-' + kind);
if (cmd === 'node' && sub === 'ls') console.log('Ready\\nReady\\nReady');
`,
    );
  });

  afterAll(async () => {
    await script(['down', '--prefix', prefix]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  it('initialises m1 and joins the other managers and the workers with their tokens', async () => {
    const up = await run('bash', [
      fakeScript,
      'up',
      '--managers',
      '2',
      '--workers',
      '1',
      '--prefix',
      prefix,
      '--swarm',
      'yes',
    ]);
    expect(up.stderr).toContain('swarm formed');
    expect(up.code).toBe(0);
    const [m1, m2, w1] = ['m1', 'm2', 'w1'].map((n) => {
      const line = up.stdout.split('\n').find((l) => l.startsWith(`${n} `))!;
      const f = line.split(' ');
      return { host: f[4], address: f[3] };
    });
    const got = readFileSync(calls, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as string[]);
    expect(got).toEqual([
      ['-H', m1.host, 'swarm', 'init', '--advertise-addr', m1.address],
      ['-H', m1.host, 'swarm', 'join-token', '-q', 'manager'],
      ['-H', m1.host, 'swarm', 'join-token', '-q', 'worker'],
      [
        '-H',
        m2.host,
        'swarm',
        'join',
        '--token',
        'SWMTKN-1-fake-manager',
        '--advertise-addr',
        m2.address,
        `${m1.address}:2377`,
      ],
      [
        '-H',
        w1.host,
        'swarm',
        'join',
        '--token',
        'SWMTKN-1-fake-worker',
        '--advertise-addr',
        w1.address,
        `${m1.address}:2377`,
      ],
      ['-H', m1.host, 'node', 'ls', '--format', '{{.Status}}'],
    ]);
    const down = await run('bash', [fakeScript, 'down', '--prefix', prefix]);
    expect(down.code).toBe(0);
  });
});

// The real swarm on the bed: `up` forms it (init on m1, the workers join with the worker token) and a
// service's tasks spread over the three namespaces.
describe('a real swarm on the bed', () => {
  const cluster = useLocalCluster({ managers: 1, workers: 2, swarm: 'yes' });
  const IMAGE = resolve('test/fixtures/out/images/busybox.docker.tar');

  it('forms the swarm and spreads a service one task per node', async () => {
    const c = cluster();
    expect(c.swarm).toBe(true);
    for (const n of c.nodes) expect((await c.shoal(n.name, ['load', '-q', '-i', IMAGE])).code).toBe(0);
    const ls = await c.shoal('m1', ['node', 'ls', '--format', '{{.Status}} {{.ManagerStatus}}']);
    const rows = ls.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    expect(rows.sort()).toEqual(['Ready', 'Ready', 'Ready Leader']);
    const create = await c.shoal('m1', [
      'service',
      'create',
      '--name',
      'web',
      '--replicas',
      '3',
      '--stop-grace-period',
      '0s',
      'busybox',
      'sleep',
      '1000',
    ]);
    expect(create.code, create.stderr).toBe(0);
    for (const n of c.nodes) {
      const ps = await c.shoal(n.name, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=web']);
      expect(ps.stdout.trim().split('\n').filter(Boolean), n.name).toHaveLength(1);
    }
    expect((await c.shoal('m1', ['service', 'rm', 'web'])).code).toBe(0);
  });

  it("names each node after the script's node (PREFIX-NODE), so node.hostname constraints can pick one", async () => {
    const c = cluster();
    const ls = await c.shoal('m1', ['node', 'ls', '--format', '{{.Hostname}}']);
    expect(ls.code, ls.stderr).toBe(0);
    const hostnames = ls.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    expect(hostnames.sort()).toEqual(c.nodes.map((n) => `${c.prefix}-${n.name}`).sort());
    expect(hostnames.sort()).toEqual(c.nodes.map((n) => n.netns).sort());

    const target = c.node('w2');
    const create = await c.shoal('m1', [
      'service',
      'create',
      '--name',
      'pinned',
      '--replicas',
      '2',
      '--constraint',
      `node.hostname==${target.netns}`,
      '--stop-grace-period',
      '0s',
      'busybox',
      'sleep',
      '1000',
    ]);
    expect(create.code, create.stderr).toBe(0);
    try {
      for (const n of c.nodes) {
        const ps = await c.shoal(n.name, [
          'ps',
          '-q',
          '--filter',
          'label=com.docker.swarm.service.name=pinned',
        ]);
        const here = ps.stdout.trim().split('\n').filter(Boolean);
        expect(here, n.name).toHaveLength(n.name === target.name ? 2 : 0);
      }
    } finally {
      await c.shoal('m1', ['service', 'rm', 'pinned']);
    }
  });
});

// useLocalCluster: the per-file form other multi-host tests use; its afterAll must leave nothing.
let hookPrefix = '';
describe('useLocalCluster', () => {
  const cluster = useLocalCluster({ managers: 1 });

  it('gives a running cluster with a unique prefix', async () => {
    const c = cluster();
    hookPrefix = c.prefix;
    expect(c.nodes.map((n) => n.name)).toEqual(['m1']);
    expect(c.managers).toHaveLength(1);
    expect(c.workers).toHaveLength(0);
    expect(await c.ping('m1')).toBe(true);
    expect(() => c.node('w1')).toThrow(/no node w1/);
  });
});

describe('after useLocalCluster', () => {
  it('its afterAll took everything of its prefix down', async () => {
    expect(hookPrefix).not.toBe('');
    expect(ofPrefix(await netnsNames(), hookPrefix)).toEqual([]);
    expect(ofPrefix(await linkNames(), hookPrefix)).toEqual([]);
    expect(mountsUnder(hookPrefix)).toEqual([]);
    expect(() => statSync(`${RUN_BASE}/${hookPrefix}`)).toThrow();
    expect(() => statSync(`${DATA_BASE}/${hookPrefix}`)).toThrow();
  });
});

describe('down and processes it did not start', () => {
  it('reports a stray process in a node namespace, does not kill it, and exits 1', async () => {
    const c = await LocalCluster.up({ managers: 1, prefix: uniquePrefix('lcp') });
    const stray = c.spawnInNetns('m1', 'sleep', ['1000']);
    let again: Awaited<ReturnType<LocalCluster['down']>>;
    try {
      await new Promise((res) => setTimeout(res, 300));
      const r = await c.down();
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`still run in ${c.prefix}-m1: ${stray.pid} `));
      expect(alive(stray.pid!)).toBe(true);
    } finally {
      if (stray.exitCode === null && stray.signalCode === null) {
        const gone = new Promise((res) => stray.once('exit', res));
        stray.kill('SIGKILL');
        await gone;
      }
      again = await c.down(); // always, even when an expectation above failed
    }
    expect(again.stderr).toContain('nothing left');
    expect(again.code).toBe(0);
    expect(ofPrefix(await netnsNames(), c.prefix)).toEqual([]);
  });
});
