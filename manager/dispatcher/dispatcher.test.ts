import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import { FakeClock } from '../../common/fake-clock.js';
import { SESSION_RETRY_MAX_MS } from '../../common/session-timing.js';
import {
  type Assignment,
  AssignmentAction,
  type AssignmentChange,
  AssignmentsType,
  type SessionMessage,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import {
  NodeDescription,
  Secret,
  type Task,
  Task as TaskMsg,
} from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeRole, NodeState, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { DataKeyCipher, newDataKey } from '../secrets/index.js';
import { MemoryLog } from '../store/memlog.js';

// biome-ignore format: one line
const itemId = (i: Assignment['item']) => (i?.$case === 'network' ? i.value.network?.id : i?.value.id);

import { runWhileLeader } from '../raft/replicated.js';
import { Store } from '../store/store.js';
import {
  makeCluster,
  makeConfig,
  makeNetwork,
  makeNode,
  makeTask,
  storeOnMemoryLog,
} from '../store/testkit.js';
import { DEFAULT_TIMING, type DispatcherTiming } from './config.js';
import { Dispatcher, leaderChangeGraceMs, type SessionSink } from './dispatcher.js';
import { peerHost } from './service.js';

const PERIOD = 1000;
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

class RecordingSink implements SessionSink {
  messages: SessionMessage[] = [];
  closedWith: ShoalError | undefined;
  send(m: SessionMessage) {
    this.messages.push(m);
  }
  close(err: ShoalError) {
    this.closedWith = err;
  }
  get assignments() {
    return this.messages.flatMap((m) => (m.payload?.$case === 'assignments' ? [m.payload.value] : []));
  }
}

const description = (hostname: string) =>
  NodeDescription.fromPartial({
    hostname,
    platform: { os: 'linux', architecture: 'x86_64' },
    resources: { nanoCpus: 4e9, memoryBytes: 8e9 },
    engine: { engineVersion: 'shoal-0.1', labels: { disk: 'ssd' } },
  });

async function setup(nodes: string[] = ['n1', 'n2'], timing: Partial<DispatcherTiming> = {}) {
  const { store } = storeOnMemoryLog();
  const clock = new FakeClock();
  await store.update((tx) => {
    tx.create('cluster', makeCluster('c1'));
    for (const n of nodes) tx.create('node', makeNode(n, `host-${n}`));
  });
  const logged: string[] = [];
  const d = new Dispatcher(store, {
    clock,
    random: () => 0.5,
    timing: { heartbeatPeriodMs: PERIOD, ...timing },
    log: (m) => logged.push(m),
  });
  // The cluster object says 5 s (Docker's default); these tests run on the dispatcher's own 1 s default.
  await store.update((tx) => {
    const c = tx.get('cluster', 'c1');
    if (c?.spec?.dispatcher)
      tx.update('cluster', { ...c, spec: { ...c.spec, dispatcher: { heartbeatPeriod: undefined } } });
  });
  const node = (id: string) => store.view((tx) => tx.get('node', id));
  const task = (id: string) => store.view((tx) => tx.get('task', id)) as Task;
  return { store, clock, d, node, task, logged };
}

async function register(d: Dispatcher, nodeId: string) {
  const sink = new RecordingSink();
  const sessionId = await d.register(
    { nodeId, description: description(`host-${nodeId}`), addr: '10.0.0.1' },
    sink,
  );
  return { sink, sessionId };
}

const assigned = (
  id: string,
  nodeId: string,
  state = TaskState.TASK_STATE_ASSIGNED,
  desired = TaskState.TASK_STATE_RUNNING,
) => {
  const t = makeTask(id, 'svc', 1, nodeId, desired);
  return { ...t, status: { ...t.status!, state } } as Task;
};

describe('dispatcher sessions', () => {
  it('registration writes the description and marks the node READY; the session starts with its settings', async () => {
    const { d, node } = await setup();
    d.start();
    const { sink, sessionId } = await register(d, 'n1');
    const n = node('n1');
    expect(n?.status?.state).toBe(NodeState.NODE_STATE_READY);
    expect(n?.status?.addr).toBe('10.0.0.1');
    expect(n?.description?.engine?.labels).toEqual({ disk: 'ssd' });
    expect(n?.description?.resources?.memoryBytes).toBe(8e9);
    const started = sink.messages[0]?.payload;
    expect(started?.$case).toBe('started');
    if (started?.$case !== 'started') return;
    expect(started.value.sessionId).toBe(sessionId);
    expect(started.value.heartbeatPeriod).toEqual({ seconds: 1, nanos: 0 });
    expect(sink.assignments[0]?.type).toBe(AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE);
    d.stop();
  });

  it('refuses a node the store does not know, a missing description, and any call when not running', async () => {
    const { d } = await setup();
    await expect(register(d, 'n1')).rejects.toMatchObject({ kind: 'unavailable' });
    d.start();
    await expect(register(d, 'ghost')).rejects.toMatchObject({ kind: 'not_found', field: 'node_id' });
    await expect(
      d.register({ nodeId: 'n1', description: undefined, addr: '' }, new RecordingSink()),
    ).rejects.toMatchObject({
      kind: 'invalid_argument',
      field: 'description',
    });
    expect(() => d.heartbeat('n1', 'nope')).toThrow(/not the current session/);
    d.stop();
  });

  it('marks a node DOWN and closes its session once it misses the heartbeat deadline (period × 3)', async () => {
    const { d, clock, node } = await setup();
    d.start();
    const { sink, sessionId } = await register(d, 'n1');
    // Heartbeats keep it up well past the deadline.
    for (let i = 0; i < 10; i++) {
      clock.advance(PERIOD);
      expect(d.heartbeat('n1', sessionId)).toBe(PERIOD);
    }
    await settle();
    expect(node('n1')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    clock.advance(3 * PERIOD - 1);
    await settle();
    expect(node('n1')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    clock.advance(1);
    await settle();
    expect(node('n1')?.status).toMatchObject({
      state: NodeState.NODE_STATE_DOWN,
      message: 'heartbeat failure',
    });
    expect(sink.closedWith?.kind).toBe('unavailable');
    expect(() => d.heartbeat('n1', sessionId)).toThrow(/start a new session/);
    d.stop();
  });

  it('a node whose session stream closed is down after one period unless it opens a new session', async () => {
    const { d, clock, node } = await setup();
    d.start();
    const a = await register(d, 'n1');
    const b = await register(d, 'n2');
    clock.advance(PERIOD / 2);
    d.sessionClosed('n1', a.sessionId);
    d.sessionClosed('n2', b.sessionId);
    // n2 comes back within the grace (a dropped connection); n1 does not (its process died).
    clock.advance(PERIOD / 2);
    const again = await register(d, 'n2');
    clock.advance(PERIOD / 2 - 1);
    await settle();
    expect(node('n1')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    clock.advance(1);
    await settle();
    expect(node('n1')?.status).toMatchObject({ state: NodeState.NODE_STATE_DOWN, message: 'session lost' });
    // The new session runs on the normal deadline.
    clock.advance(2 * PERIOD);
    d.heartbeat('n2', again.sessionId);
    await settle();
    expect(node('n2')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    // A closed stream never lengthens a deadline about to fire.
    const c = await register(d, 'n1');
    clock.advance(3 * PERIOD - 10);
    d.sessionClosed('n1', c.sessionId);
    clock.advance(10);
    await settle();
    expect(node('n1')?.status?.message).toBe('heartbeat failure');
    d.stop();
  });

  it('a stopped event loop does not cost a node its session: heartbeats that waited behind it count', async () => {
    const { d, clock, node } = await setup();
    d.start();
    const { sessionId } = await register(d, 'n1');
    await register(d, 'n2');
    clock.advance(PERIOD);
    d.heartbeat('n1', sessionId);
    // The loop stops for 4 s: both deadlines (3 s) fire late. n1's heartbeat, sent meanwhile, is read next.
    clock.stall(4 * PERIOD);
    d.heartbeat('n1', sessionId);
    await settle();
    expect(node('n1')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    // n2 sent nothing since it registered (t=0, due at 3 s, fired at 5 s): down once the 2 s stall it sat
    // through has been made up, at 7 s.
    expect(node('n2')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    clock.advance(2 * PERIOD - 1);
    await settle();
    expect(node('n2')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    clock.advance(1);
    await settle();
    expect(node('n2')?.status).toMatchObject({
      state: NodeState.NODE_STATE_DOWN,
      message: 'heartbeat failure',
    });
    expect(node('n1')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    d.stop();
  });

  it('a deadline firing a little late marks the node down at once; a long stall is made up once at most', async () => {
    const { d, clock, node } = await setup(['n1', 'n2']);
    d.start();
    await register(d, 'n1');
    clock.stall(3 * PERIOD + 100);
    await settle();
    expect(node('n1')?.status?.state).toBe(NodeState.NODE_STATE_DOWN);
    // A stall far longer than the deadline adds the deadline's length (3 s), no more.
    await register(d, 'n2');
    clock.stall(60 * PERIOD);
    await settle();
    expect(node('n2')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    clock.advance(3 * PERIOD - 1);
    await settle();
    expect(node('n2')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    clock.stall(1000);
    await settle();
    expect(node('n2')?.status?.state).toBe(NodeState.NODE_STATE_DOWN);
    d.stop();
  });

  it('a new session replaces the old one, whose stream is ended', async () => {
    const { d } = await setup();
    d.start();
    const first = await register(d, 'n1');
    const second = await register(d, 'n1');
    expect(first.sink.closedWith?.message).toMatch(/replaced/);
    expect(() => d.heartbeat('n1', first.sessionId)).toThrow(/not the current session/);
    expect(d.heartbeat('n1', second.sessionId)).toBe(PERIOD);
    d.stop();
  });

  it('after a leader change, nodes get a longer grace to come back; those that do not are marked DOWN', async () => {
    const { store, d, clock, node } = await setup(['n1', 'n2', 'n3']);
    await store.update((tx) => {
      for (const id of ['n1', 'n2', 'n3']) {
        const n = tx.get('node', id)!;
        tx.update('node', { ...n, status: { state: NodeState.NODE_STATE_READY, message: '', addr: '' } });
      }
    });
    d.start();
    // Past the normal deadline, nobody is down: they are reconnecting to the new leader.
    clock.advance(3 * PERIOD + 500);
    await settle();
    const ready = [NodeState.NODE_STATE_READY, NodeState.NODE_STATE_READY, NodeState.NODE_STATE_READY];
    expect(['n1', 'n2', 'n3'].map((id) => node(id)?.status?.state)).toEqual(ready);
    const { sessionId } = await register(d, 'n1');
    const s2 = await register(d, 'n2');
    const beat = (ms: number) => {
      for (let t = 0; t < ms; t += PERIOD) {
        clock.advance(PERIOD);
        d.heartbeat('n1', sessionId);
        d.heartbeat('n2', s2.sessionId);
      }
    };
    // Past period × 6 too: a worker may be asleep for its whole retry backoff (8 s) when the leader comes up,
    // so it has that plus a heartbeat deadline (8 s + 3 s).
    beat(10 * PERIOD - 3 * PERIOD);
    await settle();
    expect(['n1', 'n2', 'n3'].map((id) => node(id)?.status?.state)).toEqual(ready);
    beat(2 * PERIOD);
    await settle();
    expect(node('n3')?.status?.state).toBe(NodeState.NODE_STATE_DOWN);
    expect(node('n3')?.status?.message).toMatch(/new leader/);
    expect(node('n1')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    expect(node('n2')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    d.stop();
  });

  it("a new leader's grace follows the period its many nodes will be handed, not the idle one", async () => {
    // 40 nodes at 4 heartbeats a second: once back they beat every 10 s, so they have 10 s × 6 to return.
    const ids = Array.from({ length: 40 }, (_, i) => `n${i}`);
    const { store, d, clock, node } = await setup(ids, { maxHeartbeatsPerSecond: 4 });
    await store.update((tx) => {
      for (const id of ids) {
        const n = tx.get('node', id)!;
        tx.update('node', { ...n, status: { state: NodeState.NODE_STATE_READY, message: '', addr: '' } });
      }
    });
    d.start();
    clock.advance(59_000);
    await settle();
    expect(ids.filter((id) => node(id)?.status?.state !== NodeState.NODE_STATE_READY)).toEqual([]);
    clock.advance(2_000);
    await settle();
    expect(node('n0')?.status?.state).toBe(NodeState.NODE_STATE_DOWN);
    d.stop();
  });

  it('the grace after a start covers the longest worker backoff plus a heartbeat deadline', () => {
    expect(leaderChangeGraceMs(1000, DEFAULT_TIMING)).toBe(SESSION_RETRY_MAX_MS + 3000);
    expect(leaderChangeGraceMs(5000, DEFAULT_TIMING)).toBe(30_000); // Docker's period: × 6 is longer
    expect(leaderChangeGraceMs(1000, { ...DEFAULT_TIMING, sessionRetryMaxMs: 0 })).toBe(6000);
  });

  it('the heartbeat period is the cluster setting, read at each heartbeat', async () => {
    const { store, d } = await setup();
    d.start();
    const { sessionId } = await register(d, 'n1');
    expect(d.heartbeat('n1', sessionId)).toBe(PERIOD);
    await store.update((tx) => {
      const c = tx.get('cluster', 'c1');
      if (c?.spec)
        tx.update('cluster', {
          ...c,
          spec: { ...c.spec, dispatcher: { heartbeatPeriod: { seconds: 2, nanos: 0 } } },
        });
    });
    expect(d.heartbeat('n1', sessionId)).toBe(2000);
    d.stop();
  });

  it('serves again after a stop and a new start (leadership regained)', async () => {
    const { d, node, clock } = await setup();
    d.start();
    await register(d, 'n1');
    d.stop();
    clock.advance(60 * PERIOD);
    await settle();
    expect(node('n1')?.status?.state).toBe(NodeState.NODE_STATE_READY); // a stopped dispatcher marks nothing
    d.start();
    const { sessionId } = await register(d, 'n1');
    expect(d.heartbeat('n1', sessionId)).toBe(PERIOD);
    d.stop();
  });

  it('lengthens the period when the sessions would heartbeat more often than the leader takes, and keeps each deadline to the period handed out', async () => {
    const { store, clock } = await setup(['n1', 'n2', 'n3']);
    const d = new Dispatcher(store, {
      clock,
      random: () => 0.5,
      timing: { heartbeatPeriodMs: PERIOD, maxHeartbeatsPerSecond: 2 },
    });
    const node = (id: string) => store.view((tx) => tx.get('node', id));
    d.start();
    const a = await register(d, 'n1');
    expect(d.heartbeat('n1', a.sessionId)).toBe(PERIOD); // one session: 1 a second is within 2
    await register(d, 'n2');
    const c = await register(d, 'n3');
    expect(d.heartbeatPeriodMs()).toBe(1500); // three sessions at 2 a second
    expect(d.heartbeat('n3', c.sessionId)).toBe(1500);
    // n3 was told 1.5 s: its deadline is 4.5 s, not 3 s
    clock.advance(3 * PERIOD + 100);
    await settle();
    expect(node('n3')?.status?.state).toBe(NodeState.NODE_STATE_READY);
    clock.advance(1500);
    await settle();
    expect(node('n3')?.status?.state).toBe(NodeState.NODE_STATE_DOWN);
    d.stop();
  });

  it('stop ends every session and arms no timers', async () => {
    const { d, clock } = await setup();
    d.start();
    const { sink } = await register(d, 'n1');
    d.stop();
    expect(sink.closedWith?.kind).toBe('unavailable');
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('dispatcher task status', () => {
  async function withTasks() {
    const env = await setup();
    await env.store.update((tx) => {
      tx.create('task', assigned('t1', 'n1'));
      tx.create('task', assigned('t2', 'n1'));
      tx.create('task', assigned('other', 'n2'));
    });
    env.d.start();
    const s = await register(env.d, 'n1');
    return { ...env, ...s };
  }
  const report = (taskId: string, state: TaskState, timestamp = 1, message = '') => ({
    taskId,
    status: { state, timestamp, message, err: '', containerStatus: undefined, portStatus: undefined },
  });

  it('coalesces reports arriving within the window into one store transaction, keeping the larger state', async () => {
    const { d, clock, store, sessionId, task } = await withTasks();
    const before = store.appliedIndex;
    const a = d.updateTaskStatus('n1', sessionId, [report('t1', TaskState.TASK_STATE_STARTING)]);
    const b = d.updateTaskStatus('n1', sessionId, [
      report('t1', TaskState.TASK_STATE_RUNNING, 2),
      report('t2', TaskState.TASK_STATE_PREPARING),
    ]);
    const c = d.updateTaskStatus('n1', sessionId, [report('t1', TaskState.TASK_STATE_PREPARING, 3)]);
    await settle();
    expect(store.appliedIndex).toBe(before); // nothing written before the window closes
    clock.advance(50);
    expect(await a).toEqual([]);
    expect(await b).toEqual([]);
    expect(await c).toEqual([]);
    expect(store.appliedIndex).toBe(before + 1);
    expect(task('t1').status?.state).toBe(TaskState.TASK_STATE_RUNNING);
    expect(task('t2').status?.state).toBe(TaskState.TASK_STATE_PREPARING);
    expect(task('t1').desiredState).toBe(TaskState.TASK_STATE_RUNNING);
    d.stop();
  });

  it('retries a status write that lost a race with another writer of the task', async () => {
    const { store } = storeOnMemoryLog('async');
    const clock = new FakeClock();
    await store.update((tx) => {
      tx.create('node', makeNode('n1', 'h1'));
      tx.create('task', assigned('t1', 'n1'));
    });
    const d = new Dispatcher(store, { clock, random: () => 0.5, log: () => {} });
    d.start();
    const { sessionId } = await register(d, 'n1');
    const done = d.updateTaskStatus('n1', sessionId, [report('t1', TaskState.TASK_STATE_RUNNING)]);
    clock.advance(50);
    // The orchestrator's write is built on the same version before the status write applies.
    const t = store.view((tx) => tx.get('task', 't1')) as Task;
    const orchestrator = store.update((tx) =>
      tx.update('task', { ...t, desiredState: TaskState.TASK_STATE_SHUTDOWN }),
    );
    await orchestrator;
    expect(await done).toEqual([]);
    const after = store.view((tx) => tx.get('task', 't1')) as Task;
    expect(after.status?.state).toBe(TaskState.TASK_STATE_RUNNING);
    expect(after.desiredState).toBe(TaskState.TASK_STATE_SHUTDOWN);
    d.stop();
  });

  it('refuses, whole, a batch naming another node’s task', async () => {
    const { d, clock, sessionId, task } = await withTasks();
    let err: unknown;
    try {
      d.updateTaskStatus('n1', sessionId, [
        report('t1', TaskState.TASK_STATE_RUNNING),
        report('other', TaskState.TASK_STATE_FAILED),
      ]);
    } catch (e) {
      err = e;
    }
    expect(isShoalError(err, 'permission_denied')).toBe(true);
    expect((err as Error).message).toMatch(/task other is not assigned to node n1/);
    clock.advance(100);
    await settle();
    expect(task('t1').status?.state).toBe(TaskState.TASK_STATE_ASSIGNED);
    expect(task('other').status?.state).toBe(TaskState.TASK_STATE_ASSIGNED);
    d.stop();
  });

  it('ignores a backward state move, with the reason, and writes nothing for it', async () => {
    const { d, clock, sessionId, task } = await withTasks();
    const up = d.updateTaskStatus('n1', sessionId, [report('t1', TaskState.TASK_STATE_RUNNING)]);
    clock.advance(50);
    await up;
    const back = d.updateTaskStatus('n1', sessionId, [report('t1', TaskState.TASK_STATE_STARTING)]);
    clock.advance(50);
    const ignored = await back;
    expect(ignored).toHaveLength(1);
    expect(ignored[0]?.reason).toMatch(/behind the stored TASK_STATE_RUNNING/);
    expect(task('t1').status?.state).toBe(TaskState.TASK_STATE_RUNNING);
    d.stop();
  });

  it('refuses malformed reports naming the field, and states a worker cannot report', async () => {
    const { d, sessionId } = await withTasks();
    expect(() => d.updateTaskStatus('n1', sessionId, [report('', TaskState.TASK_STATE_RUNNING)])).toThrow(
      /updates\[0\]\.task_id: is empty/,
    );
    expect(() => d.updateTaskStatus('n1', sessionId, [{ taskId: 't1', status: undefined }])).toThrow(
      /updates\[0\]\.status: is missing/,
    );
    for (const s of [TaskState.TASK_STATE_ASSIGNED, TaskState.TASK_STATE_REMOVE, 12345 as TaskState]) {
      expect(() => d.updateTaskStatus('n1', sessionId, [report('t1', s)])).toThrow(/status\.state/);
    }
    expect(() =>
      d.updateTaskStatus('n1', 'stale-session', [report('t1', TaskState.TASK_STATE_RUNNING)]),
    ).toThrow(/not the current session/);
    d.stop();
  });

  it('refuses pending reports when it stops (the worker retries them with the next leader)', async () => {
    const { d, sessionId } = await withTasks();
    const p = d.updateTaskStatus('n1', sessionId, [report('t1', TaskState.TASK_STATE_RUNNING)]);
    d.stop();
    await expect(p).rejects.toMatchObject({ kind: 'unavailable' });
  });
});

describe('dispatcher assignments', () => {
  it("paces a session's messages by the number of sessions: what comes meanwhile goes out together", async () => {
    // Two sessions at 10 messages a second over all: a session's messages at least 200 ms apart.
    const { store, d, clock } = await setup(['n1', 'n2'], { maxAssignmentMessagesPerSecond: 10 });
    d.start();
    const { sink } = await register(d, 'n1');
    await register(d, 'n2');
    await settle();
    clock.advance(1000);
    const sent = sink.assignments.length;
    const since = () =>
      sink.assignments.slice(sent).map((a) => a.changes.map((c) => itemId(c.assignment?.item)));
    const create = async (id: string) => {
      await store.update((tx) => tx.create('task', assigned(id, 'n1')));
      await settle();
    };
    // Quiet for longer than the gap: a change goes out after the batch window alone.
    await create('t1');
    clock.advance(2);
    expect(since()).toEqual([['t1']]);
    // The next ones wait until 200 ms after it (sent at +2), and go out together.
    await create('t2');
    clock.advance(100);
    await create('t3');
    clock.advance(99);
    expect(since()).toEqual([['t1']]);
    clock.advance(1);
    expect(since()).toEqual([['t1'], ['t2', 't3']]);
    d.stop();
  });

  it('a small cluster keeps the batch window: two sessions at the default limit wait no longer', async () => {
    const { store, d, clock } = await setup(['n1', 'n2'], { assignmentBatchMs: 2 });
    d.start();
    const { sink } = await register(d, 'n1');
    for (const id of ['t1', 't2']) {
      await store.update((tx) => tx.create('task', assigned(id, 'n1')));
      await settle();
      clock.advance(2);
    }
    expect(sink.assignments.slice(1).map((a) => a.changes.length)).toEqual([1, 1]);
    d.stop();
  });

  it('sends the complete set first, then incremental changes; status-only changes are not echoed', async () => {
    const { store, d, clock } = await setup();
    await store.update((tx) => {
      tx.create('task', assigned('t1', 'n1'));
      tx.create('task', {
        ...assigned('pending', 'n1'),
        status: { ...assigned('p', 'n1').status!, state: TaskState.TASK_STATE_PENDING },
      });
      tx.create('task', assigned('elsewhere', 'n2'));
    });
    d.start();
    const { sink, sessionId } = await register(d, 'n1');
    const complete = sink.assignments[0]!;
    expect(complete.type).toBe(AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE);
    expect(complete.changes.map((c) => itemId(c.assignment?.item))).toEqual(['t1']);

    // New task, and the worker's own report on t1: one message, holding only the new task.
    await store.update((tx) => tx.create('task', assigned('t2', 'n1')));
    const st = d.updateTaskStatus('n1', sessionId, [
      {
        taskId: 't1',
        status: {
          state: TaskState.TASK_STATE_RUNNING,
          timestamp: 1,
          message: '',
          err: '',
          containerStatus: undefined,
          portStatus: undefined,
        },
      },
    ]);
    clock.advance(50);
    await st;
    await settle();
    clock.advance(50);
    await settle();
    const inc = sink.assignments.slice(1);
    expect(inc).toHaveLength(1);
    expect(inc[0]?.type).toBe(AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL);
    expect(inc[0]?.appliesTo).toBe(complete.resultsIn);
    expect(inc[0]?.changes.map((c) => [itemId(c.assignment?.item), c.action])).toEqual([
      ['t2', AssignmentAction.ASSIGNMENT_ACTION_UPDATE],
    ]);

    // Desired SHUTDOWN: sent as an update (the worker still runs it); once reported stopped: removed.
    await store.update((tx) => {
      const t = tx.get('task', 't1')!;
      tx.update('task', { ...t, desiredState: TaskState.TASK_STATE_SHUTDOWN });
      tx.remove('task', 't2');
    });
    await settle();
    clock.advance(50);
    const shut = sink.assignments[2]!;
    expect(shut.changes.map((c) => [itemId(c.assignment?.item), c.action])).toEqual([
      ['t1', AssignmentAction.ASSIGNMENT_ACTION_UPDATE],
      ['t2', AssignmentAction.ASSIGNMENT_ACTION_REMOVE],
    ]);
    const down = d.updateTaskStatus('n1', sessionId, [
      {
        taskId: 't1',
        status: {
          state: TaskState.TASK_STATE_SHUTDOWN,
          timestamp: 2,
          message: '',
          err: '',
          containerStatus: undefined,
          portStatus: undefined,
        },
      },
    ]);
    clock.advance(50);
    await down;
    await settle();
    clock.advance(50);
    expect(sink.assignments[3]?.changes.map((c) => [itemId(c.assignment?.item), c.action])).toEqual([
      ['t1', AssignmentAction.ASSIGNMENT_ACTION_REMOVE],
    ]);
    d.stop();
  });

  it('tells every session when the store’s manager set changes', async () => {
    const { store, d } = await setup(['n1', 'm1']);
    d.start();
    const { sink } = await register(d, 'n1');
    const started = sink.messages[0]?.payload;
    expect(started?.$case === 'started' && started.value.managers).toEqual([]);
    await store.update((tx) => {
      const m = tx.get('node', 'm1')!;
      tx.update('node', {
        ...m,
        managerStatus: { raftId: 1, addr: '10.0.0.9:2377', leader: true, reachability: 3 },
      });
    });
    await settle();
    const last = sink.messages.at(-1)?.payload;
    expect(last?.$case).toBe('managers');
    expect(last?.$case === 'managers' && last.value.managers).toEqual([
      { nodeId: 'm1', addr: '10.0.0.9:2377', weight: 2 },
    ]);
    d.stop();
  });

  it('tells a session when its node’s overlay attachments change (and only then)', async () => {
    const { store, d } = await setup(['n1', 'n2']);
    d.start();
    const { sink } = await register(d, 'n1');
    const before = sink.messages.length;
    const attach = (id: string, addr: string) =>
      store.update((tx) => {
        const n = tx.get('node', id)!;
        tx.update('node', {
          ...n,
          attachments: [
            {
              network: makeNetwork('net1', 'appnet'),
              addresses: [addr],
              aliases: [],
              driverAttachmentOpts: {},
            },
          ],
        });
      });
    await attach('n1', '10.0.1.3/24');
    await attach('n2', '10.0.1.4/24');
    await settle();
    const nodeMsgs = sink.messages.slice(before).filter((m) => m.payload?.$case === 'node');
    expect(nodeMsgs).toHaveLength(1);
    const p = nodeMsgs[0]!.payload;
    expect(p?.$case === 'node' && p.value.node?.attachments[0]?.addresses).toEqual(['10.0.1.3/24']);
    // A status-only change of the node sends nothing new.
    await store.update((tx) => {
      const n = tx.get('node', 'n1')!;
      tx.update('node', { ...n, status: { ...n.status!, message: 'x' } });
    });
    await settle();
    expect(sink.messages.slice(before).filter((m) => m.payload?.$case === 'node')).toHaveLength(1);
    d.stop();
  });

  it('resends the complete set when its store watch fell behind', async () => {
    const { store, clock } = await setup();
    const logged: string[] = [];
    const d = new Dispatcher(store, { clock, random: () => 0.5, watchLimit: 1, log: (m) => logged.push(m) });
    d.start();
    const { sink } = await register(d, 'n1');
    await store.update((tx) => {
      for (const id of ['a', 'b', 'c']) tx.create('task', assigned(id, 'n1'));
    });
    await settle();
    clock.advance(50);
    const completes = sink.assignments.filter((a) => a.type === AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE);
    expect(completes).toHaveLength(2);
    expect(completes[1]?.changes.map((c) => itemId(c.assignment?.item))).toEqual(['a', 'b', 'c']);
    expect(logged.join()).toMatch(/resending complete assignment sets/);
    // And it goes on following the store.
    await store.update((tx) => tx.create('task', assigned('d', 'n1')));
    await settle();
    clock.advance(50);
    expect(sink.assignments.at(-1)?.changes.map((c) => itemId(c.assignment?.item))).toEqual(['d']);
    d.stop();
  });

  it('ends the session of a node whose role changed (it learns the new role from its next session)', async () => {
    const { store, d } = await setup();
    d.start();
    const { sink } = await register(d, 'n1');
    await store.update((tx) => {
      const n = tx.get('node', 'n1')!;
      tx.update('node', { ...n, description: n.description }); // no role change: the session goes on
    });
    await settle();
    expect(sink.closedWith).toBeUndefined();
    await store.update((tx) => {
      const n = tx.get('node', 'n1')!;
      tx.update('node', {
        ...n,
        role: n.role === NodeRole.NODE_ROLE_MANAGER ? NodeRole.NODE_ROLE_WORKER : NodeRole.NODE_ROLE_MANAGER,
      });
    });
    await settle();
    expect(sink.closedWith?.kind).toBe('unavailable');
    expect(sink.closedWith?.message).toMatch(/role of node n1 changed/);
    d.stop();
  });

  it('ends the session of a node removed from the store', async () => {
    const { store, d } = await setup();
    d.start();
    const { sink } = await register(d, 'n1');
    await store.update((tx) => tx.remove('node', 'n1'));
    await settle();
    expect(sink.closedWith?.kind).toBe('permission_denied');
    d.stop();
  });
});

describe('peer addresses', () => {
  it('keep the host of a grpc peer string', () => {
    expect(peerHost('ipv4:127.0.0.1:5000')).toBe('127.0.0.1');
    expect(peerHost('ipv6:[::1]:5000')).toBe('::1');
    expect(peerHost('10.1.2.3:80')).toBe('10.1.2.3');
  });
});

describe('leadership', () => {
  it('a leader whose first read barriers time out still starts its dispatcher in that term', async () => {
    const log = new MemoryLog('sync');
    const store = new Store();
    const face = log.addMember(store);
    store.connect(face);
    const d = new Dispatcher(store, { clock: new FakeClock(), log: () => {} });
    log.failNextReadBarriers(2);
    const errors: unknown[] = [];
    const off = runWhileLeader(face, d, (e) => errors.push(e));
    for (let i = 0; i < 100 && !d.isRunning; i++) await new Promise((r) => setTimeout(r, 10));
    expect(d.isRunning).toBe(true);
    expect(errors).toHaveLength(2);
    off();
  });

  it('the dispatcher runs only on the leader, started once its store is caught up', async () => {
    const log = new MemoryLog('sync');
    const members = [0, 1].map(() => {
      const store = new Store();
      const face = log.addMember(store);
      store.connect(face);
      const d = new Dispatcher(store, { clock: new FakeClock(), log: () => {} });
      return { store, face, d };
    });
    const [a, b] = members as [(typeof members)[0], (typeof members)[0]];
    const offs = members.map((m) => runWhileLeader(m.face, m.d));
    await settle();
    expect([a.d.isRunning, b.d.isRunning]).toEqual([true, false]);
    log.setLeader(1);
    expect(a.d.isRunning).toBe(false); // stopped at once
    await settle();
    expect([a.d.isRunning, b.d.isRunning]).toEqual([false, true]);
    log.setLeader(undefined);
    expect([a.d.isRunning, b.d.isRunning]).toEqual([false, false]);
    log.setLeader(0);
    await settle();
    expect([a.d.isRunning, b.d.isRunning]).toEqual([true, false]);
    for (const off of offs) off();
    expect([a.d.isRunning, b.d.isRunning]).toEqual([false, false]);
  });
});

describe('dispatcher: secrets and configs', () => {
  const withRefs = (t: Task, secretId: string, configId: string): Task =>
    TaskMsg.fromPartial({
      ...t,
      spec: {
        containerSpec: {
          image: 'busybox',
          secrets: secretId
            ? [{ secretId, secretName: 'db', file: { name: 'db', uid: '0', gid: '0', mode: 0o444 } }]
            : [],
          configs: configId
            ? [{ configId, configName: 'app', file: { name: '/app', uid: '0', gid: '0', mode: 0o444 } }]
            : [],
        },
      },
    });

  async function setupWithKey() {
    const s = await setup();
    const cipher = new DataKeyCipher(newDataKey());
    const d = new Dispatcher(s.store, {
      clock: s.clock,
      random: () => 0.5,
      timing: { heartbeatPeriodMs: PERIOD },
      log: () => {},
      openSecret: (sec) => cipher.open(sec.id, sec.sealed!),
    });
    await s.store.update((tx) => {
      tx.create(
        'secret',
        Secret.fromPartial({
          id: 'sec1',
          spec: { annotations: { name: 'db' } },
          sealed: cipher.seal('sec1', Buffer.from('pw')),
        }),
      );
      tx.create('config', makeConfig('cfg1', 'app', 'k: v'));
    });
    return { ...s, d };
  }

  const items = (a: { changes: AssignmentChange[] }) =>
    a.changes.map(
      (c) =>
        `${c.assignment?.item?.$case}:${itemId(c.assignment?.item)}:${c.action === AssignmentAction.ASSIGNMENT_ACTION_REMOVE ? 'rm' : 'up'}`,
    );

  it('sends a secret (opened) and a config only to the node whose task needs them, before the task', async () => {
    const { store, d } = await setupWithKey();
    await store.update((tx) => {
      tx.create('task', withRefs(assigned('t1', 'n1'), 'sec1', 'cfg1'));
      tx.create('task', assigned('t2', 'n2'));
    });
    d.start();
    const one = await register(d, 'n1');
    const two = await register(d, 'n2');
    const c1 = one.sink.assignments[0]!;
    expect(items(c1)).toEqual(['secret:sec1:up', 'config:cfg1:up', 'task:t1:up']);
    const sec = c1.changes[0]!.assignment!.item!;
    expect(sec.$case === 'secret' && Buffer.from(sec.value.spec!.data).toString()).toBe('pw');
    expect(sec.$case === 'secret' && sec.value.sealed).toBeUndefined();
    expect(items(two.sink.assignments[0]!)).toEqual(['task:t2:up']);
    d.stop();
  });

  it('sends them when a task needing them arrives, and drops them once no task of the node needs them', async () => {
    const { store, d, clock } = await setupWithKey();
    d.start();
    const { sink } = await register(d, 'n1');
    await store.update((tx) => tx.create('task', withRefs(assigned('t1', 'n1'), 'sec1', '')));
    await settle();
    clock.advance(50);
    await settle();
    expect(items(sink.assignments[1]!).sort()).toEqual(['secret:sec1:up', 'task:t1:up']);
    // A second task with the same secret: nothing new to send for it.
    await store.update((tx) => tx.create('task', withRefs(assigned('t2', 'n1'), 'sec1', 'cfg1')));
    await settle();
    clock.advance(50);
    await settle();
    expect(items(sink.assignments[2]!).sort()).toEqual(['config:cfg1:up', 'task:t2:up']);
    // t1 gone: the secret stays (t2 needs it). t2 gone too: both are dropped.
    await store.update((tx) => tx.remove('task', 't1'));
    await settle();
    clock.advance(50);
    await settle();
    expect(items(sink.assignments[3]!)).toEqual(['task:t1:rm']);
    await store.update((tx) => tx.remove('task', 't2'));
    await settle();
    clock.advance(50);
    await settle();
    expect(items(sink.assignments[4]!).sort()).toEqual(['config:cfg1:rm', 'secret:sec1:rm', 'task:t2:rm']);
    d.stop();
  });

  it('a manager without the data key sends no secret (the task then fails on the worker, naming it)', async () => {
    const { store, d } = await setup();
    const cipher = new DataKeyCipher(newDataKey());
    await store.update((tx) => {
      tx.create(
        'secret',
        Secret.fromPartial({
          id: 'sec1',
          spec: { annotations: { name: 'db' } },
          sealed: cipher.seal('sec1', Buffer.from('pw')),
        }),
      );
      tx.create('task', withRefs(assigned('t1', 'n1'), 'sec1', ''));
    });
    d.start();
    const { sink } = await register(d, 'n1');
    expect(items(sink.assignments[0]!)).toEqual(['task:t1:up']);
    d.stop();
  });
});
