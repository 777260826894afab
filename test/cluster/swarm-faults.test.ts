// Multi-host faults on a real swarm (issue 9): one manager and three workers, each a shoald in its own
// network namespace (deploy/local-cluster.sh through the harness). A worker SIGKILLed, a worker cut off the
// network, a shoald stopped in the middle of a scale-down, a node drained and made active again, the manager
// away long enough for the workers' retries to slow down, the whole cluster restarted. After each, the truth
// is checked in the containers every node actually runs (not only in the store): every slot of a service
// runs exactly once, never twice, and no task was taken for a failure.
//
// Every wait is a poll with a generous deadline: a deadline passed is a failure, never a measurement.
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type LocalCluster, uniquePrefix, useLocalCluster } from './harness.js';

const IMAGE = resolve('test/fixtures/out/images/busybox.docker.tar');
const WORKERS = ['w1', 'w2', 'w3'];
const DEADLINE_MS = 60_000;

interface Ctr {
  id: string;
  node: string;
  running: boolean;
  taskId: string;
  slot: number;
}

interface ApiTask {
  ID: string;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState: string;
  Status: { State: string; Err?: string };
}

interface ApiNode {
  ID: string;
  Version: { Index: number };
  Spec: { Availability: string };
  Status: { State: string; Addr: string };
}

async function poll<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  deadlineMs = DEADLINE_MS,
): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(
        `no ${what} within ${deadlineMs / 1000} s${last ? `: ${(last as Error).message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function json<T>(c: LocalCluster, node: string, method: string, path: string, body?: unknown) {
  const r = await c.api(node, method, path, body);
  if (r.status < 200 || r.status >= 300)
    throw new Error(`${method} ${path} on ${node}: ${r.status} ${r.body}`);
  return (r.body ? JSON.parse(r.body) : undefined) as T;
}

/** The containers of a service a node's engine has (its shoald must be up). */
async function containersOn(c: LocalCluster, node: string, service: string): Promise<Ctr[]> {
  const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${service}`] }));
  const list = await json<{ Id: string; State: string; Labels: Record<string, string> }[]>(
    c,
    node,
    'GET',
    `/containers/json?all=1&filters=${f}`,
  );
  return list.map((x) => ({
    id: x.Id,
    node,
    running: x.State === 'running',
    taskId: x.Labels['com.docker.swarm.task.id'] ?? '',
    slot: Number((x.Labels['com.docker.swarm.task.name'] ?? '').split('.').at(-2)),
  }));
}

async function containers(c: LocalCluster, service: string, nodes = c.nodes.map((n) => n.name)) {
  return (await Promise.all(nodes.map((n) => containersOn(c, n, service)))).flat();
}

/** slot → the nodes running a container of it. */
function runningBySlot(ctrs: Ctr[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const x of ctrs.filter((x) => x.running)) out.set(x.slot, [...(out.get(x.slot) ?? []), x.node]);
  return out;
}

/** Exactly slots 1..replicas, each running once, on these nodes' engines. */
function servedOnce(ctrs: Ctr[], replicas: number): boolean {
  const bySlot = runningBySlot(ctrs);
  if (bySlot.size !== replicas) return false;
  for (let s = 1; s <= replicas; s++) if (bySlot.get(s)?.length !== 1) return false;
  return true;
}

function describeSlots(ctrs: Ctr[]): string {
  return JSON.stringify(Object.fromEntries(runningBySlot(ctrs)));
}

async function tasks(c: LocalCluster, service: string): Promise<ApiTask[]> {
  const f = encodeURIComponent(JSON.stringify({ service: [service] }));
  return json<ApiTask[]>(c, 'm1', 'GET', `/tasks?filters=${f}`);
}

async function nodes(c: LocalCluster): Promise<ApiNode[]> {
  return json<ApiNode[]>(c, 'm1', 'GET', '/nodes');
}

/** The swarm node of a bed node (matched by address: every namespace reports the host's hostname). */
async function swarmNode(c: LocalCluster, name: string): Promise<ApiNode> {
  const n = (await nodes(c)).find((x) => x.Status.Addr === c.node(name).address);
  if (!n) throw new Error(`no swarm node has ${name}'s address ${c.node(name).address}`);
  return n;
}

async function createService(c: LocalCluster, name: string, replicas: number): Promise<string> {
  const r = await c.shoal('m1', [
    'service',
    'create',
    '-d',
    '-q',
    '--name',
    name,
    '--replicas',
    String(replicas),
    '--stop-grace-period',
    '0s',
    'busybox',
    'sleep',
    '100000',
  ]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function scale(c: LocalCluster, name: string, replicas: number): Promise<void> {
  const r = await c.shoal('m1', ['service', 'scale', '-d', `${name}=${replicas}`]);
  expect(r.code, r.stderr).toBe(0);
}

/** The store's view: `replicas` tasks running and desired running, none on `notOn`. */
async function storeConverged(c: LocalCluster, service: string, replicas: number, notOn?: string) {
  const ts = (await tasks(c, service)).filter((t) => t.DesiredState === 'running');
  const avoid = notOn ? (await swarmNode(c, notOn)).ID : undefined;
  return (
    ts.length === replicas &&
    ts.every((t) => t.Status.State === 'running' && t.NodeID !== avoid) &&
    new Set(ts.map((t) => t.Slot)).size === replicas
  );
}

/**
 * Waits until the service runs each of its slots exactly once on the nodes' engines, none on `notOn`, and the
 * store agrees.
 */
async function converged(c: LocalCluster, service: string, replicas: number, notOn?: string) {
  let seen: Ctr[] = [];
  const on = c.nodes.map((n) => n.name).filter((n) => n !== notOn);
  await poll(`${service}: ${replicas} slots each running once`, async () => {
    seen = await containers(c, service, on);
    return servedOnce(seen, replicas) && (await storeConverged(c, service, replicas, notOn));
  }).catch((err) => {
    throw new Error(`${(err as Error).message}; running by slot: ${describeSlots(seen)}`);
  });
  return seen;
}

/**
 * Every task of the service ended as asked: nothing here fails by itself (sleep), so a FAILED or REJECTED
 * task means a stop or a restart was taken for a failure.
 */
async function noneFailed(c: LocalCluster, service: string): Promise<void> {
  const bad = (await tasks(c, service)).filter((t) => ['failed', 'rejected'].includes(t.Status.State));
  expect(bad.map((t) => ({ slot: t.Slot, state: t.Status.State, err: t.Status.Err }))).toEqual([]);
}

async function removeService(c: LocalCluster, name: string): Promise<void> {
  await noneFailed(c, name);
  expect((await c.shoal('m1', ['service', 'rm', name])).code).toBe(0);
  await poll(`${name}: every container removed`, async () => (await containers(c, name)).length === 0);
}

/** A worker holding at least one running task of the service. */
function holder(ctrs: Ctr[]): string {
  const w = WORKERS.find((n) => ctrs.some((x) => x.node === n && x.running));
  if (!w) throw new Error(`no worker holds a task: ${describeSlots(ctrs)}`);
  return w;
}

const cluster = useLocalCluster({ managers: 1, workers: 3, swarm: 'yes', prefix: uniquePrefix('sf') });

describe('swarm faults on a 1-manager, 3-worker bed', () => {
  beforeAll(async () => {
    const c = cluster();
    expect(c.swarm).toBe(true);
    await Promise.all(
      c.nodes.map(async (n) => expect((await c.shoal(n.name, ['load', '-q', '-i', IMAGE])).code).toBe(0)),
    );
  }, 120_000);

  it('a SIGKILLed worker is marked down, its tasks run elsewhere; back, it stops its old copies', async () => {
    const c = cluster();
    await createService(c, 'killed', 6);
    const before = await converged(c, 'killed', 6);
    const victim = holder(before);
    const theirs = before.filter((x) => x.node === victim && x.running);

    await c.kill(victim, 'SIGKILL');
    await poll(`${victim} down`, async () => (await swarmNode(c, victim)).Status.State === 'down');
    await converged(c, 'killed', 6, victim);

    await c.start(victim);
    await poll(`${victim} ready again`, async () => (await swarmNode(c, victim)).Status.State === 'ready');
    await poll(`${victim}'s old containers stopped`, async () => {
      const left = await containersOn(c, victim, 'killed');
      return theirs.every((t) => !left.some((x) => x.id === t.id && x.running));
    });
    const after = await converged(c, 'killed', 6);
    expect(runningBySlot(after).size).toBe(6);
    await removeService(c, 'killed');
  }, 240_000);

  it('a worker cut off the network is marked down and replaced; healed, it stops its old copies', async () => {
    const c = cluster();
    await createService(c, 'cutoff', 6);
    const before = await converged(c, 'cutoff', 6);
    const victim = holder(before);
    const theirs = before.filter((x) => x.node === victim && x.running);

    await c.cut(victim);
    try {
      await poll(`${victim} down`, async () => (await swarmNode(c, victim)).Status.State === 'down');
      await converged(c, 'cutoff', 6, victim);
      // Cut off, the worker keeps its containers: it cannot know it was replaced.
      expect((await containersOn(c, victim, 'cutoff')).filter((x) => x.running).length).toBe(theirs.length);
    } finally {
      await c.heal(victim);
    }
    await poll(`${victim} ready again`, async () => (await swarmNode(c, victim)).Status.State === 'ready');
    await poll(`${victim}'s old containers stopped`, async () => {
      const left = await containersOn(c, victim, 'cutoff');
      return theirs.every((t) => !left.some((x) => x.id === t.id && x.running));
    });
    await converged(c, 'cutoff', 6);
    await removeService(c, 'cutoff');
  }, 240_000);

  it('a shoald that gets SIGTERM during a scale-down 6 → 2 leaves no slot running twice', async () => {
    const c = cluster();
    await createService(c, 'shrink', 6);
    // Each round: scale down and, at once (after a few ms), SIGTERM one node's shoald; restart it either
    // before the manager notices (a quick restart) or once it is marked down (its tasks replaced or reaped).
    const rounds: { victim: string; delayMs: number; untilDown: boolean; signal?: NodeJS.Signals }[] = [
      { victim: 'w1', delayMs: 0, untilDown: false },
      { victim: 'w2', delayMs: 30, untilDown: true },
      { victim: 'w3', delayMs: 100, untilDown: false },
      { victim: 'w1', delayMs: 200, untilDown: true },
      { victim: 'm1', delayMs: 20, untilDown: false },
      { victim: 'w2', delayMs: 10, untilDown: false, signal: 'SIGKILL' }, // no clean stop at all
    ];
    for (const { victim, delayMs, untilDown, signal = 'SIGTERM' } of rounds) {
      await converged(c, 'shrink', 6);
      // (the manager answers the scale before it is stopped: the call would fail with it)
      const scaled = scale(c, 'shrink', 2);
      if (victim === 'm1') await scaled;
      try {
        await new Promise((r) => setTimeout(r, delayMs));
        await c.kill(victim, signal);
        await scaled;
        if (untilDown)
          await poll(`${victim} down`, async () => (await swarmNode(c, victim)).Status.State === 'down');
      } finally {
        await c.start(victim);
      }
      await poll(`${victim} ready again`, async () => (await swarmNode(c, victim)).Status.State === 'ready');
      await converged(c, 'shrink', 2);
      await scale(c, 'shrink', 6);
    }
    await converged(c, 'shrink', 6);
    await removeService(c, 'shrink');
  }, 300_000);

  it('drain moves a node’s tasks away; active lets new tasks land on it again', async () => {
    const c = cluster();
    await createService(c, 'drained', 4);
    const before = await converged(c, 'drained', 4);
    const victim = holder(before);
    const id = (await swarmNode(c, victim)).ID;
    const upd = await c.shoal('m1', ['node', 'update', '--availability', 'drain', id]);
    expect(upd.code, upd.stderr).toBe(0);
    expect((await swarmNode(c, victim)).Spec.Availability).toBe('drain');
    await converged(c, 'drained', 4, victim);
    await poll(`no task left on ${victim}`, async () =>
      (await containersOn(c, victim, 'drained')).every((x) => !x.running),
    );
    expect((await swarmNode(c, victim)).Status.State).toBe('ready');

    // A bad availability is refused and changes nothing.
    const bad = await c.shoal('m1', ['node', 'update', '--availability', 'sideways', id]);
    expect(bad.code).not.toBe(0);
    expect((await swarmNode(c, victim)).Spec.Availability).toBe('drain');

    expect((await c.shoal('m1', ['node', 'update', '--availability', 'active', id])).code).toBe(0);
    await scale(c, 'drained', 8);
    const spread = await converged(c, 'drained', 8);
    expect(spread.filter((x) => x.node === victim && x.running).length).toBeGreaterThan(0);
    await removeService(c, 'drained');
  }, 240_000);

  it('a manager back after a while (workers at their longest retry wait) marks no worker down, moves no task', async () => {
    const c = cluster();
    await createService(c, 'steady', 4);
    await converged(c, 'steady', 4);
    const running = async () =>
      (await tasks(c, 'steady'))
        .filter((t) => t.DesiredState === 'running')
        .map((t) => t.ID)
        .sort();
    const before = await running();
    // A short heartbeat period (the grace after a start was period × 6 alone: 3 s, shorter than a retry wait).
    const hb = async (period: string) =>
      expect((await c.shoal('m1', ['swarm', 'update', '--dispatcher-heartbeat', period])).code).toBe(0);
    await hb('500ms');
    try {
      await new Promise((r) => setTimeout(r, 2000)); // every worker has heartbeated with the new period
      await c.kill('m1', 'SIGKILL');
      // Long enough for the workers' session retries to back off to their ceiling (8 s).
      await new Promise((r) => setTimeout(r, 15_000));
      await c.start('m1');
      // Past the dispatcher's grace after a start (8 s + 3 periods): every worker must be back within it.
      const end = Date.now() + 12_000;
      while (Date.now() < end) {
        const down = (await nodes(c)).filter((n) => n.Status.State !== 'ready');
        expect(down.map((n) => n.Status.Addr)).toEqual([]);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await hb('1s');
    }
    await converged(c, 'steady', 4);
    expect(await running()).toEqual(before);
    await removeService(c, 'steady');
  }, 240_000);

  it('a full cluster restart restores every service with its replicas, its id, and no duplicates', async () => {
    const c = cluster();
    const ids = { alpha: await createService(c, 'alpha', 3), beta: await createService(c, 'beta', 5) };
    await converged(c, 'alpha', 3);
    await converged(c, 'beta', 5);
    const live = async () =>
      (await Promise.all(['alpha', 'beta'].map((s) => tasks(c, s))))
        .flat()
        .filter((t) => t.DesiredState === 'running')
        .map((t) => t.ID)
        .sort();
    const before = await live();

    await Promise.all(c.nodes.map((n) => c.kill(n.name, 'SIGTERM')));
    for (const n of c.nodes) expect(await c.ping(n.name)).toBe(false);
    await c.start('m1');
    await Promise.all(WORKERS.map((w) => c.start(w)));

    await poll('every node ready', async () => (await nodes(c)).every((n) => n.Status.State === 'ready'));
    await converged(c, 'alpha', 3);
    await converged(c, 'beta', 5);
    const services = await json<{ ID: string; Spec: { Name: string } }[]>(c, 'm1', 'GET', '/services');
    expect(Object.fromEntries(services.map((s) => [s.Spec.Name, s.ID]))).toEqual(ids);
    // The containers outlived their shoalds (live restore): the same tasks run, none was replaced.
    expect(await live()).toEqual(before);
    await removeService(c, 'alpha');
    await removeService(c, 'beta');
  }, 240_000);
});
