// The shoal side: deploy/local-cluster.sh brings the nodes up (one shoald per network namespace), the
// busybox fixture is loaded into every node, and kill/start/status go through the script as a user's would.
// Until managers can join, `up --managers 3` fails at the join step: then the nodes come up standalone
// and the swarm is formed here, a manager that is refused joining as a worker, so the topology (and the
// number of nodes that hold tasks) stays the same and only the failover measurement is left out.
import { join } from 'node:path';
import { LocalCluster, REPO, script } from '../../cluster/harness.js';
import { type Bed, bedNode, guarded, log, type Role, sleep, vmRssMiB } from './bed.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const IMAGE = 'busybox:latest';

export interface ShoalTopology {
  managers: number;
  workers: number;
  prefix: string;
}

/** Tears down everything of the prefix (idempotent; what a failed or interrupted run calls too). */
export async function shoalDown(prefix: string): Promise<void> {
  const r = await script(['down', '--prefix', prefix]);
  if (r.code !== 0) log(`local-cluster.sh down --prefix ${prefix} exited ${r.code}: ${r.stderr.trim()}`);
}

export async function shoalBed(t: ShoalTopology): Promise<Bed> {
  const { cluster, joinError } = await guarded('up', () => upAndForm(t));
  return ready(cluster, joinError, t);
}

async function upAndForm(t: ShoalTopology): Promise<{ cluster: LocalCluster; joinError: string | null }> {
  let cluster: LocalCluster;
  let joinError: string | null = null;
  try {
    cluster = await LocalCluster.up({
      managers: t.managers,
      workers: t.workers,
      prefix: t.prefix,
      swarm: 'yes',
    });
  } catch (err) {
    if (t.managers < 2) throw err;
    joinError = firstLine(
      String((err as Error).message)
        .split('\n')
        .slice(1)
        .join('\n'),
    );
    log(`shoal: up with ${t.managers} managers failed (${joinError}); forming the swarm by hand`);
    cluster = await LocalCluster.up({
      managers: t.managers,
      workers: t.workers,
      prefix: t.prefix,
      swarm: 'no',
    });
    joinError = await formSwarm(cluster);
  }
  return { cluster, joinError };
}

async function ready(cluster: LocalCluster, joinError: string | null, t: ShoalTopology): Promise<Bed> {
  await Promise.all(
    cluster.nodes.map(async (n) => {
      const r = await cluster.shoal(n.name, ['load', '-q', '-i', TARBALL]);
      if (r.code !== 0) throw new Error(`loading busybox into ${n.name}: ${r.stderr}`);
    }),
  );
  const roles = await Promise.all(cluster.nodes.map((n) => swarmRole(cluster, n.name)));
  const nodes = cluster.nodes.map((n, i) => bedNode(n.name, roles[i], n.socket));
  const managers = nodes.filter((n) => n.role === 'manager').length;
  return {
    kind: 'shoal',
    nodes,
    image: IMAGE,
    managerGap:
      managers >= 3
        ? null
        : joinError
          ? `only ${managers} of ${t.managers} managers joined as managers: ${joinError}`
          : `${managers} manager(s): failover needs 3 (a quorum left after one is lost)`,
    kill: (name) => guarded(`kill ${name}`, () => cluster.kill(name, 'SIGKILL')),
    start: (name) => guarded(`start ${name}`, () => cluster.start(name)),
    async rssMiB() {
      const out = new Map<string, number>();
      for (const [name, pid] of await cluster.status()) {
        const mib = pid === null ? null : vmRssMiB(pid);
        if (mib !== null) out.set(name, mib);
      }
      return out;
    },
    async down() {
      for (const n of nodes) n.api.close();
      await shoalDown(t.prefix);
    },
  };
}

/**
 * init on m1, then each other manager tries the manager token and falls back to the worker token, the
 * workers join as workers. Returns the first manager-join refusal, or null when all joined as managers.
 */
async function formSwarm(c: LocalCluster): Promise<string | null> {
  const m1 = c.node('m1');
  await must(c.shoal('m1', ['swarm', 'init', '--advertise-addr', m1.address]), 'swarm init on m1');
  const token = async (role: string) =>
    (await must(c.shoal('m1', ['swarm', 'join-token', '-q', role]), `join-token ${role}`)).stdout.trim();
  const mtok = await token('manager');
  const wtok = await token('worker');
  let refused: string | null = null;
  for (const n of c.nodes) {
    if (n.name === 'm1') continue;
    const join = (tok: string) =>
      c.shoal(n.name, ['swarm', 'join', '--token', tok, '--advertise-addr', n.address, `${m1.address}:2377`]);
    if (n.role === 'manager') {
      const r = await join(mtok);
      if (r.code === 0) continue;
      refused ??= firstLine(r.stderr);
      log(`shoal: ${n.name} could not join as a manager (${firstLine(r.stderr)}); it joins as a worker`);
    }
    await must(join(wtok), `${n.name} joins as a worker`);
  }
  const end = Date.now() + 60_000;
  for (;;) {
    const ls = await c.shoal('m1', ['node', 'ls', '--format', '{{.Status}}']);
    const ready = ls.stdout.split('\n').filter((l) => l.trim() === 'Ready').length;
    if (ready >= c.nodes.length) return refused;
    if (Date.now() > end) throw new Error(`only ${ready} of ${c.nodes.length} nodes Ready after 60 s`);
    await sleep(100);
  }
}

async function swarmRole(c: LocalCluster, name: string): Promise<Role> {
  const info = JSON.parse((await c.api(name, 'GET', '/info')).body) as {
    Swarm?: { ControlAvailable?: boolean };
  };
  return info.Swarm?.ControlAvailable ? 'manager' : 'worker';
}

async function must<T extends { code: number; stderr: string }>(p: Promise<T>, what: string): Promise<T> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what}: exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/** The first line of a command's error output that is not the script's own progress. */
const firstLine = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l && !l.startsWith('local-cluster:')) ?? '(no message)';
