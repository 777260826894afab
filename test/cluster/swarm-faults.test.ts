// Multi-host faults on a real swarm (issue 9): three managers and two workers, each a shoald in its own
// network namespace (deploy/local-cluster.sh through the harness). A service spread and scaled; a worker
// SIGKILLed; a worker cut off the network; a shoald stopped in the middle of a scale-down; a node drained and
// made active again; the raft leader SIGKILLed and started again later; the raft leader cut off the network;
// the whole cluster restarted. After each, the truth is checked in the containers every node actually runs
// (not only in the store): every slot of a service runs exactly once, never twice, and no task was taken for
// a failure.
//
// Every wait is a poll with a generous deadline: a deadline passed is a failure, never a measurement.
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { StateFile } from '../../worker/agent/state-file.js';
import { apiJson, DATA_BASE, type LocalCluster, poll, uniquePrefix, useLocalCluster } from './harness.js';

const IMAGE = resolve('test/fixtures/out/images/busybox.docker.tar');
const MANAGERS = ['m1', 'm2', 'm3'];
const WORKERS = ['w1', 'w2'];
const NO_LEADER = /does not have a leader/;

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
  ManagerStatus?: { Leader?: boolean; Reachability: string; Addr: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The promise's value, or a failure once `ms` passed without one. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no ${what} within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Managers whose shoald is stopped or cut off: the control calls go to another one. */
const away = new Set<string>();

/** The manager the control calls go to: the first one not away. */
function via(): string {
  const m = MANAGERS.find((x) => !away.has(x));
  if (!m) throw new Error('every manager is away');
  return m;
}

const json = apiJson;

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
  return json<ApiTask[]>(c, via(), 'GET', `/tasks?filters=${f}`);
}

async function nodes(c: LocalCluster, on = via()): Promise<ApiNode[]> {
  return json<ApiNode[]>(c, on, 'GET', '/nodes');
}

/** The bed node of a swarm node (matched by address: every namespace reports the host's hostname). */
function bedName(c: LocalCluster, n: ApiNode): string | undefined {
  return c.nodes.find((x) => x.address === n.Status.Addr)?.name;
}

/** The swarm node of a bed node. */
async function swarmNode(c: LocalCluster, name: string, on = via()): Promise<ApiNode> {
  const n = (await nodes(c, on)).find((x) => bedName(c, x) === name);
  if (!n) throw new Error(`no swarm node has ${name}'s address ${c.node(name).address}`);
  return n;
}

/** The bed name of the raft leader, as the manager `on` sees it (undefined: none). */
async function leader(c: LocalCluster, on = via()): Promise<string | undefined> {
  const l = (await nodes(c, on)).find((n) => n.ManagerStatus?.Leader);
  return l && bedName(c, l);
}

const createArgs = (name: string, replicas: number) => [
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
];

async function createService(c: LocalCluster, name: string, replicas: number): Promise<string> {
  const r = await c.shoal(via(), createArgs(name, replicas));
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function scale(c: LocalCluster, name: string, replicas: number, on = via()): Promise<void> {
  const r = await c.shoal(on, ['service', 'scale', '-d', `${name}=${replicas}`]);
  expect(r.code, r.stderr).toBe(0);
}

async function serviceNames(c: LocalCluster, on: string): Promise<string[]> {
  const r = await c.shoal(on, ['service', 'ls', '--format', '{{.Name}}']);
  if (r.code !== 0) throw new Error(`service ls on ${on}: ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).sort();
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
 * Every node runs exactly the containers of the service's tasks the store has running there (by task id):
 * none more, none fewer, on any node.
 */
async function matchesStore(c: LocalCluster, service: string): Promise<void> {
  const byAddr = new Map((await nodes(c)).map((n) => [n.ID, bedName(c, n)]));
  const want = (await tasks(c, service))
    .filter((t) => t.DesiredState === 'running' && t.Status.State === 'running')
    .map((t) => `${byAddr.get(t.NodeID ?? '')}:${t.ID}`)
    .sort();
  const have = (await containers(c, service))
    .filter((x) => x.running)
    .map((x) => `${x.node}:${x.taskId}`)
    .sort();
  expect(have).toEqual(want);
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
  const last = new Map((await tasks(c, name)).map((t) => [t.ID, `${t.DesiredState}/${t.Status.State}`]));
  expect((await c.shoal(via(), ['service', 'rm', name])).code).toBe(0);
  let left: Ctr[] = [];
  await poll(`${name}: every container removed`, async () => {
    left = await containers(c, name);
    return left.length === 0;
  }).catch(async (err) => {
    const what = await Promise.all(
      left.map(async (x) => {
        // For the diagnosis: the container's state, and whether the node's agent still holds the task.
        const state = await c.api(x.node, 'GET', `/containers/${x.id}/json`).then(
          (r) => JSON.stringify(JSON.parse(r.body).State),
          (e) => String(e),
        );
        const file = join(DATA_BASE, c.prefix, x.node, 'data/swarm/worker/agent-tasks.json');
        const held = await new StateFile(file).load().then(
          (f) => {
            const h = f.tasks.find((k) => k.id === x.taskId);
            if (!h) return 'not held by the agent';
            const name = (s?: number) => (s === undefined ? 'none' : TaskState[s]);
            return `held by the agent: desired ${name(h.desiredState)}, status ${name(h.status?.state)}, seen ${name(f.statuses.get(x.taskId)?.state)}`;
          },
          (e) => `${file}: ${(e as Error).message}`,
        );
        const node = await swarmNode(c, x.node).then(
          (n) => n.Status.State,
          (e) => String(e),
        );
        const stored = last.get(x.taskId) ?? 'not in the store';
        return `${x.node} (${node}) ${x.taskId} slot ${x.slot} (${state}; ${held}; before the rm: ${stored})`;
      }),
    );
    throw new Error(`${(err as Error).message}; left: ${what.join(', ')}`);
  });
}

/** A worker holding at least one running task of the service. */
function holder(ctrs: Ctr[]): string {
  const w = WORKERS.find((n) => ctrs.some((x) => x.node === n && x.running));
  if (!w) throw new Error(`no worker holds a task: ${describeSlots(ctrs)}`);
  return w;
}

/** Polls until the bed node's swarm state is `state` (as `on` sees it). */
async function nodeState(c: LocalCluster, name: string, state: 'ready' | 'down', on?: string) {
  await poll(`${name} ${state}`, async () => (await swarmNode(c, name, on)).Status.State === state);
}

/** Polls until none of `theirs` runs any more on `node`. */
async function oldCopiesStopped(c: LocalCluster, node: string, service: string, theirs: Ctr[]) {
  await poll(`${node}'s old ${service} containers stopped`, async () => {
    const left = await containersOn(c, node, service);
    return theirs.every((t) => !left.some((x) => x.id === t.id && x.running));
  });
}

/**
 * Watches every node but `except` until stopped: any seen not ready is recorded (a survivor marked down by a
 * new leader). Reads that fail (no leader for a moment) are skipped.
 */
function watchReady(c: LocalCluster, except: string) {
  const seen = new Set<string>();
  let on = true;
  const done = (async () => {
    while (on) {
      try {
        for (const n of await nodes(c))
          if (bedName(c, n) !== except && n.Status.State !== 'ready')
            seen.add(`${bedName(c, n)}: ${n.Status.State}`);
      } catch {}
      await sleep(250);
    }
  })();
  return async () => {
    on = false;
    await done;
    return [...seen];
  };
}

/** Sets the dispatcher's heartbeat period (through any manager). */
async function heartbeat(c: LocalCluster, period: string) {
  const r = await c.shoal(via(), ['swarm', 'update', '--dispatcher-heartbeat', period]);
  expect(r.code, r.stderr).toBe(0);
}

const cluster = useLocalCluster({ managers: 3, workers: 2, swarm: 'yes', prefix: uniquePrefix('sf') });

describe('swarm faults on a 3-manager, 2-worker bed', () => {
  beforeAll(async () => {
    const c = cluster();
    expect(c.swarm).toBe(true);
    await Promise.all(
      c.nodes.map(async (n) => expect((await c.shoal(n.name, ['load', '-q', '-i', IMAGE])).code).toBe(0)),
    );
    const rows = await nodes(c);
    expect(rows.filter((n) => n.ManagerStatus).map((n) => n.ManagerStatus?.Reachability)).toEqual([
      'reachable',
      'reachable',
      'reachable',
    ]);
    expect(await leader(c)).toBe('m1');
  }, 120_000);

  it('three replicas spread over three hosts; scaled up and down, every engine runs what the store says', async () => {
    const c = cluster();
    await createService(c, 'spread', 3);
    const three = await converged(c, 'spread', 3);
    expect(new Set(three.filter((x) => x.running).map((x) => x.node)).size).toBe(3);
    await matchesStore(c, 'spread');

    // Through a follower this time: it forwards the write to the leader.
    await scale(c, 'spread', 10, 'm3');
    const ten = await converged(c, 'spread', 10);
    await matchesStore(c, 'spread');
    // The scheduler spreads: two on each of the five nodes.
    const perNode = c.nodes.map((n) => ten.filter((x) => x.node === n.name && x.running).length);
    expect(perNode).toEqual([2, 2, 2, 2, 2]);

    await scale(c, 'spread', 2, 'm2');
    await converged(c, 'spread', 2);
    await poll('the scaled-down containers stopped', async () => {
      await matchesStore(c, 'spread');
      return true;
    });
    // A bad scale is refused and changes nothing.
    const bad = await c.shoal('m2', ['service', 'scale', '-d', 'spread=-1']);
    expect(bad.code).not.toBe(0);
    await converged(c, 'spread', 2);
    await removeService(c, 'spread');
  }, 120_000);

  it('a SIGKILLed worker is marked down, its tasks run elsewhere; back, it stops its old copies', async () => {
    const c = cluster();
    await createService(c, 'killed', 5);
    const before = await converged(c, 'killed', 5);
    const victim = holder(before);
    const theirs = before.filter((x) => x.node === victim && x.running);

    await c.kill(victim, 'SIGKILL');
    try {
      await nodeState(c, victim, 'down');
      await converged(c, 'killed', 5, victim);
    } finally {
      await c.start(victim);
    }
    await nodeState(c, victim, 'ready');
    await oldCopiesStopped(c, victim, 'killed', theirs);
    await converged(c, 'killed', 5);
    await removeService(c, 'killed');
  }, 120_000);

  it('a worker cut off the network is marked down and replaced; healed, it stops its old copies', async () => {
    const c = cluster();
    await createService(c, 'cutoff', 5);
    const before = await converged(c, 'cutoff', 5);
    const victim = holder(before);
    const theirs = before.filter((x) => x.node === victim && x.running);

    await c.cut(victim);
    try {
      await nodeState(c, victim, 'down');
      await converged(c, 'cutoff', 5, victim);
      // Cut off, the worker keeps its containers: it cannot know it was replaced.
      expect((await containersOn(c, victim, 'cutoff')).filter((x) => x.running).length).toBe(theirs.length);
    } finally {
      await c.heal(victim);
    }
    await nodeState(c, victim, 'ready');
    await oldCopiesStopped(c, victim, 'cutoff', theirs);
    await converged(c, 'cutoff', 5);
    await removeService(c, 'cutoff');
  }, 120_000);

  it('a shoald stopped during a scale-down 6 → 2 leaves no slot running twice', async () => {
    const c = cluster();
    await createService(c, 'shrink', 6);
    // Each round: scale down and, at once (after a few ms), stop one node's shoald; restart it either
    // before the leader notices (a quick restart) or once it is marked down (its tasks replaced or reaped).
    // 'leader' is the raft leader of the moment (it answers the scale, then is stopped).
    const rounds: { victim: string; delayMs: number; untilDown: boolean; signal?: NodeJS.Signals }[] = [
      { victim: 'w1', delayMs: 0, untilDown: false },
      { victim: 'w2', delayMs: 30, untilDown: true },
      { victim: 'leader', delayMs: 20, untilDown: false },
      { victim: 'leader', delayMs: 5, untilDown: false, signal: 'SIGKILL' },
      { victim: 'w1', delayMs: 10, untilDown: false, signal: 'SIGKILL' }, // no clean stop at all
    ];
    for (const round of rounds) {
      const { delayMs, untilDown, signal = 'SIGTERM' } = round;
      await converged(c, 'shrink', 6);
      const victim = round.victim === 'leader' ? await poll('a leader', () => leader(c)) : round.victim;
      // (a manager answers the scale before it is stopped: the call would fail with it)
      const scaled = scale(c, 'shrink', 2, victim.startsWith('m') ? victim : via());
      if (victim.startsWith('m')) await scaled;
      try {
        await sleep(delayMs);
        await c.kill(victim, signal);
        if (victim.startsWith('m')) away.add(victim);
        await scaled;
        if (untilDown) await nodeState(c, victim, 'down');
      } finally {
        await c.start(victim);
      }
      away.delete(victim);
      await nodeState(c, victim, 'ready');
      await converged(c, 'shrink', 2);
      await scale(c, 'shrink', 6);
    }
    await converged(c, 'shrink', 6);
    await removeService(c, 'shrink');
  }, 180_000);

  it('drain moves a node’s tasks away; active lets new tasks land on it again', async () => {
    const c = cluster();
    await createService(c, 'drained', 4);
    const before = await converged(c, 'drained', 4);
    const victim = holder(before);
    const id = (await swarmNode(c, victim)).ID;
    const upd = await c.shoal(via(), ['node', 'update', '--availability', 'drain', id]);
    expect(upd.code, upd.stderr).toBe(0);
    expect((await swarmNode(c, victim)).Spec.Availability).toBe('drain');
    await converged(c, 'drained', 4, victim);
    await poll(`no task left on ${victim}`, async () =>
      (await containersOn(c, victim, 'drained')).every((x) => !x.running),
    );
    expect((await swarmNode(c, victim)).Status.State).toBe('ready');

    // A bad availability is refused and changes nothing.
    const bad = await c.shoal(via(), ['node', 'update', '--availability', 'sideways', id]);
    expect(bad.code).not.toBe(0);
    expect((await swarmNode(c, victim)).Spec.Availability).toBe('drain');

    expect((await c.shoal(via(), ['node', 'update', '--availability', 'active', id])).code).toBe(0);
    await scale(c, 'drained', 10);
    const spread = await converged(c, 'drained', 10);
    expect(spread.filter((x) => x.node === victim && x.running).length).toBeGreaterThan(0);
    await removeService(c, 'drained');
  }, 120_000);

  it('SIGKILL of the raft leader: the survivors run on and elect a new leader; back later, the old one rejoins', async () => {
    const c = cluster();
    await createService(c, 'steady', 5);
    const before = await converged(c, 'steady', 5);
    const old = await poll('a leader', () => leader(c));
    const survivors = before.filter((x) => x.node !== old && x.running);
    const theirs = before.filter((x) => x.node === old && x.running);
    const liveTasks = async () =>
      (await tasks(c, 'steady'))
        .filter((t) => t.DesiredState === 'running')
        .map((t) => t.ID)
        .sort();
    // A short heartbeat period: the new leader's grace for the sessions to come back must still cover the
    // workers' retry waits (it was period × 6 alone once: 3 s, shorter than a retry wait).
    await heartbeat(c, '500ms');
    try {
      await sleep(2000); // every node has heartbeated with the new period
      await c.kill(old, 'SIGKILL');
      away.add(old);
      const stopWatch = watchReady(c, old);
      let notReady: string[] = [];
      try {
        // A write on a survivor is accepted once a new leader is elected (an answer lost in the failover
        // may have been committed: then the retry finds the name taken).
        await poll(
          'a service create accepted by a surviving manager',
          async () => {
            const r = await c.shoal(via(), createArgs('during', 2));
            if (r.code !== 0 && !/already exists/.test(r.stderr)) throw new Error(r.stderr);
            return true;
          },
          10_000,
        );
        const now = await poll('a new leader in node ls', async () => {
          const l = await leader(c);
          return l !== old && l;
        });
        expect(MANAGERS).toContain(now);
        // The survivors' containers were never touched.
        const still = await containers(
          c,
          'steady',
          c.nodes.map((n) => n.name).filter((n) => n !== old),
        );
        for (const s of survivors) expect(still.find((x) => x.id === s.id)?.running).toBe(true);

        await nodeState(c, old, 'down');
        await converged(c, 'steady', 5, old);
        await converged(c, 'during', 2, old);
      } finally {
        notReady = await stopWatch();
        await c.start(old);
        away.delete(old);
      }
      expect(notReady).toEqual([]);
      await poll(`${old} ready and reachable again`, async () => {
        const n = await swarmNode(c, old);
        return n.Status.State === 'ready' && n.ManagerStatus?.Reachability === 'reachable';
      });
      // It follows: it answers with the writes made while it was away.
      expect(
        await poll(`${old} listing 'during'`, async () => (await serviceNames(c, old)).includes('during')),
      );
      expect(await leader(c, old)).not.toBe(old);
      await oldCopiesStopped(c, old, 'steady', theirs);
      const after = await converged(c, 'steady', 5);
      for (const s of survivors) expect(after.find((x) => x.id === s.id)?.running).toBe(true);
      // Only the old leader's tasks were replaced.
      const replaced = (await liveTasks()).filter((id) => !before.some((x) => x.taskId === id));
      expect(replaced.length).toBe(theirs.length);
      await converged(c, 'during', 2);
    } finally {
      await heartbeat(c, '1s');
    }
    await removeService(c, 'steady');
    await removeService(c, 'during');
  }, 150_000);

  it('the raft leader cut off: the majority elects another and takes writes; the cut one refuses writes, then follows', async () => {
    const c = cluster();
    await createService(c, 'kept', 5);
    const before = await converged(c, 'kept', 5);
    const old = await poll('a leader', () => leader(c));
    const theirs = before.filter((x) => x.node === old && x.running);

    await c.cut(old);
    away.add(old);
    try {
      // The cut leader cannot commit: its write fails with the no-leader message (never a success).
      const refused = await within(
        30_000,
        `a write on the cut ${old} answered`,
        c.shoal(old, createArgs('minority', 1)),
      );
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(NO_LEADER);
      // The majority side elects a new leader and takes writes.
      await poll(
        'a write accepted by the majority',
        async () => {
          const r = await c.shoal(via(), createArgs('majority', 2));
          if (r.code !== 0 && !/already exists/.test(r.stderr)) throw new Error(r.stderr);
          return true;
        },
        30_000,
      );
      const now = await poll('a new leader on the majority side', async () => {
        const l = await leader(c);
        return l !== old && l;
      });
      expect(MANAGERS).toContain(now);
      // Reads on the cut member say plainly that it has no leader.
      const ls = await c.shoal(old, ['service', 'ls']);
      expect(ls.code).not.toBe(0);
      expect(ls.stderr).toMatch(NO_LEADER);
      await nodeState(c, old, 'down');
      await converged(c, 'kept', 5, old);
      await converged(c, 'majority', 2, old);
    } finally {
      await c.heal(old);
      away.delete(old);
    }
    // Healed, it follows the new leader: the writes made meanwhile, never its own refused one.
    await poll(`${old} following with the majority's writes`, async () => {
      const names = await serviceNames(c, old);
      return names.includes('majority') && (await leader(c, old)) !== old;
    });
    expect(await serviceNames(c, old)).not.toContain('minority');
    expect(await serviceNames(c, via())).not.toContain('minority');
    await nodeState(c, old, 'ready');
    await poll(
      `${old} reachable`,
      async () => (await swarmNode(c, old)).ManagerStatus?.Reachability === 'reachable',
    );
    await oldCopiesStopped(c, old, 'kept', theirs);
    await converged(c, 'kept', 5);
    await converged(c, 'majority', 2);
    await removeService(c, 'kept');
    await removeService(c, 'majority');
  }, 150_000);

  it('a full cluster restart, the hosts back one by one, restores every service with its id, no slot twice', async () => {
    const c = cluster();
    const ids = { alpha: await createService(c, 'alpha', 3), beta: await createService(c, 'beta', 5) };
    const ctrs = [...(await converged(c, 'alpha', 3)), ...(await converged(c, 'beta', 5))];
    const late = 'm2';
    const lateOnes = ctrs.filter((x) => x.node === late && x.running);
    expect(lateOnes.length).toBeGreaterThan(0); // (8 tasks spread over 5 nodes)
    const live = async () =>
      (await Promise.all(['alpha', 'beta'].map((s) => tasks(c, s))))
        .flat()
        .filter((t) => t.DesiredState === 'running')
        .map((t) => t.ID)
        .sort();
    const before = await live();

    // No clean stop anywhere (the containers go on: live restore).
    await Promise.all(c.nodes.map((n) => c.kill(n.name, 'SIGKILL')));
    for (const n of c.nodes) expect(await c.ping(n.name)).toBe(false);
    // The hosts come back one after another: the workers first (they retry until their waits reach the
    // ceiling), one manager alone (no quorum: it serves after its wait for a leader), a second (a leader
    // then); the third much later. The nodes back in time keep every task; the late one is marked down, its
    // tasks replaced, and back it stops its old copies.
    away.add(late);
    try {
      await Promise.all(WORKERS.map((w) => c.start(w)));
      await c.start('m3');
      await c.start('m1');
      await poll('a leader', () => leader(c));
      await nodeState(c, late, 'down');
      await converged(c, 'alpha', 3, late);
      await converged(c, 'beta', 5, late);
      const kept = before.filter((id) => !lateOnes.some((x) => x.taskId === id));
      expect((await live()).filter((id) => before.includes(id))).toEqual(kept);
    } finally {
      await c.start(late);
      away.delete(late);
    }
    await nodeState(c, late, 'ready');
    await poll(
      `${late} reachable`,
      async () => (await swarmNode(c, late)).ManagerStatus?.Reachability === 'reachable',
    );
    await oldCopiesStopped(c, late, 'alpha', lateOnes);
    await oldCopiesStopped(c, late, 'beta', lateOnes);
    await converged(c, 'alpha', 3);
    await converged(c, 'beta', 5);
    for (const m of MANAGERS) {
      const services = await json<{ ID: string; Spec: { Name: string } }[]>(c, m, 'GET', '/services');
      expect(Object.fromEntries(services.map((s) => [s.Spec.Name, s.ID]))).toEqual(ids);
    }
    await removeService(c, 'alpha');
    await removeService(c, 'beta');
  }, 150_000);
});
