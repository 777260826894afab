// The dispatcher and the agent over real gRPC with real mTLS on 127.0.0.1, on the in-memory replicated
// store: registration, assignments reaching the executor, status reaching the store, node DOWN on silence,
// failover to another manager, and a restarted agent reconciling from its state file. The executor is an
// in-memory recorder (the agent's port); everything else is the real thing.
import dc from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationInterceptor } from '../../manager/ca/authz.js';
import { createRootCA, type RootCA } from '../../manager/ca/certs.js';
import {
  channelOptionsFor,
  mtlsChannelCredentials,
  mtlsServerCredentials,
  type TlsIdentity,
} from '../../manager/ca/tls.js';
import { Dispatcher } from '../../manager/dispatcher/dispatcher.js';
import { DISPATCHER_POLICY, dispatcherService } from '../../manager/dispatcher/service.js';
import { MemoryLog } from '../../manager/store/memlog.js';
import { Store } from '../../manager/store/store.js';
import { makeCluster, makeNode, makeTask } from '../../manager/store/testkit.js';
import { DispatcherClient, type TaskStatusAck } from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import { NodeDescription, type Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeState, TaskState, TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import { Agent } from '../../worker/agent/agent.js';
import { RecordingExecutor } from '../../worker/agent/testkit.js';
import { identity, waitFor } from './helpers.js';

const CLUSTER = 'clusterdispatch';
const PERIOD_MS = 500;

interface Manager {
  store: Store;
  dispatcher: Dispatcher;
  server: grpc.Server;
  addr: string;
}

let root: RootCA;
let log: MemoryLog;
const managers: Manager[] = [];
let workerId: TlsIdentity;
let dir: string;
const agents: Agent[] = [];
const logs: string[] = [];

const node = (m: Manager) => m.store.view((tx) => tx.get('node', 'worker1'));
const task = (m: Manager, id: string) => m.store.view((tx) => tx.get('task', id));

function newAgent(executor: RecordingExecutor, addrs: string[], stateDir = dir): Agent {
  const a = new Agent({
    managers: addrs,
    credentials: mtlsChannelCredentials(workerId, { clusterId: CLUSTER }),
    channelOptions: channelOptionsFor('manager'),
    executor,
    describe: () =>
      NodeDescription.fromPartial({
        hostname: 'worker-1',
        platform: { os: 'linux', architecture: 'x86_64' },
        resources: { nanoCpus: 2e9, memoryBytes: 4e9 },
        engine: { engineVersion: 'shoal', labels: { zone: 'a' } },
      }),
    stateDir,
    backoff: { initialMs: 50, maxMs: 500 },
    log: (m) => logs.push(m),
  });
  agents.push(a);
  return a;
}

async function assign(m: Manager, id: string): Promise<void> {
  const t = makeTask(id, 'svc', 1, 'worker1');
  await m.store.update((tx) =>
    tx.create('task', {
      ...t,
      status: { ...(t.status as Task['status'] & object), state: TaskState.TASK_STATE_ASSIGNED },
    }),
  );
}

beforeAll(async () => {
  root = await createRootCA(new Date());
  workerId = await identity(root, CLUSTER, 'worker1', 'worker');
  dir = await mkdtemp(join(tmpdir(), 'shoal-dispatch-'));
  log = new MemoryLog('sync');
  for (let i = 0; i < 2; i++) {
    const store = new Store();
    store.connect(log.addMember(store));
    const server = new grpc.Server({
      interceptors: [authorizationInterceptor(DISPATCHER_POLICY, () => CLUSTER)],
    });
    const m = { store, server, addr: '' } as Manager;
    managers.push(m);
    const id = await identity(root, CLUSTER, `manager${i}`, 'manager');
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', mtlsServerCredentials(id), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    m.addr = `127.0.0.1:${port}`;
  }
  for (const m of managers) {
    m.dispatcher = new Dispatcher(m.store, {
      managers: () => managers.map((x, i) => ({ nodeId: `manager${i}`, addr: x.addr, weight: 1 })),
      log: (msg) => logs.push(msg),
    });
    // A manager that does not lead names the one that does (the leader hint the agent follows).
    const leaderAddr = () => managers.find((x) => x.dispatcher?.isRunning)?.addr;
    m.server.addService(
      ...(Object.values(dispatcherService(m.dispatcher, { leaderAddr })) as [never, never]),
    );
  }
  const first = managers[0] as Manager;
  // The cluster (heartbeat period 500 ms) and the worker's node object, as the CA made it when it joined.
  await first.store.update((tx) => {
    const c = makeCluster('c1');
    tx.create('cluster', {
      ...c,
      spec: { ...c.spec!, dispatcher: { heartbeatPeriod: { seconds: 0, nanos: PERIOD_MS * 1e6 } } },
    });
    tx.create('node', makeNode('worker1', 'worker-1'));
  });
  first.dispatcher.start();
});

afterAll(async () => {
  for (const a of agents) await a.stop();
  for (const m of managers) {
    m.dispatcher?.stop();
    m.server.forceShutdown();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
  if (process.env.SHOW_LOGS) console.log(logs.join('\n'));
});

describe('dispatcher ⇄ agent over mTLS gRPC', () => {
  const executor = new RecordingExecutor();

  it('registration marks the node READY with its description and address', async () => {
    const [a] = managers as [Manager, Manager];
    const agent = newAgent(executor, [a.addr]);
    await agent.start();
    const n = await waitFor(
      'node READY',
      () => node(a)?.status?.state === NodeState.NODE_STATE_READY && node(a),
    );
    expect(n.description?.hostname).toBe('worker-1');
    expect(n.description?.engine?.labels).toEqual({ zone: 'a' });
    expect(n.status?.addr).toBe('127.0.0.1');
    await waitFor('connected', () => agent.manager === a.addr);
    expect(agent.managers).toEqual(managers.map((m) => m.addr)); // followed the dispatcher's list
  });

  it('a task assigned in the store reaches the executor; RUNNING reaches the store', async () => {
    const [a] = managers as [Manager, Manager];
    await assign(a, 't1');
    await waitFor('run t1', () => executor.calls.some((c) => c[0] === 'run' && c[1] === 't1'));
    executor.report('t1', TaskState.TASK_STATE_PREPARING);
    executor.report('t1', TaskState.TASK_STATE_RUNNING, 'started');
    const t = await waitFor(
      't1 RUNNING',
      () => task(a, 't1')?.status?.state === TaskState.TASK_STATE_RUNNING && task(a, 't1'),
    );
    expect(t.status?.message).toBe('started');
    expect(t.desiredState).toBe(TaskState.TASK_STATE_RUNNING);
    await waitFor('acknowledged', () => agents[0]?.unacknowledged === 0);
  });

  it('fails over to the next manager when the leader changes, and keeps its tasks running meanwhile', async () => {
    const [a, b] = managers as [Manager, Manager];
    const agent = agents[0] as Agent;
    const callsBefore = executor.calls.length;
    log.setLeader(1);
    a.dispatcher.stop();
    b.dispatcher.start();
    await waitFor('session with the second manager', () => agent.manager === b.addr);
    expect(executor.calls.slice(callsBefore).filter((c) => c[0] !== 'run')).toEqual([]);
    expect(executor.running.has('t1')).toBe(true);
    await assign(b, 't2');
    await waitFor('run t2', () => executor.calls.some((c) => c[0] === 'run' && c[1] === 't2'));
    executor.report('t2', TaskState.TASK_STATE_RUNNING);
    await waitFor('t2 RUNNING', () => task(b, 't2')?.status?.state === TaskState.TASK_STATE_RUNNING);
    await waitFor(
      'node READY on the new leader',
      () => node(b)?.status?.state === NodeState.NODE_STATE_READY,
    );
  });

  it('a new session with a manager it was connected to reuses the connection: no new TLS handshake', async () => {
    const [a, b] = managers as [Manager, Manager];
    const agent = agents[0] as Agent;
    await waitFor('session with the leader', () => agent.manager === b.addr);
    const port = Number(b.addr.split(':')[1]);
    let accepted = 0;
    const count = (m: unknown) => {
      if ((m as { socket: { localPort: number } }).socket.localPort === port) accepted++;
    };
    dc.subscribe('net.server.socket', count);
    try {
      const seen = logs.length;
      // the session ends on the manager's side (its dispatcher restarts); the agent asks the other manager,
      // which names this one, and comes back
      b.dispatcher.stop();
      b.dispatcher.start();
      expect(a.dispatcher.isRunning).toBe(false);
      await waitFor('the session ended', () =>
        logs.slice(seen).some((l) => l.includes(`session with ${b.addr} ended`)),
      );
      // every session logs the heartbeat period it was given
      await waitFor('a new session', () => {
        const after = logs.slice(seen);
        const ended = after.findIndex((l) => l.includes(`session with ${b.addr} ended`));
        return ended >= 0 && after.slice(ended).some((l) => l.includes(`set by ${b.addr}`));
      });
      expect(accepted).toBe(0);
    } finally {
      dc.unsubscribe('net.server.socket', count);
    }
  });

  it('an agent that knows only a manager that does not lead follows its hint to the leader', async () => {
    const [a, b] = managers as [Manager, Manager];
    expect(a.dispatcher.isRunning).toBe(false);
    // a state file of its own: two agents saving one file race on its temporary name
    const other = newAgent(new RecordingExecutor(), [a.addr], join(dir, 'other'));
    await other.start();
    await waitFor('a session with the leader', () => other.manager === b.addr);
    await other.stop();
    agents.splice(agents.indexOf(other), 1);
  });

  it('a worker that stops (and says so) is marked DOWN after the heartbeat deadline (period × 3)', async () => {
    const [, b] = managers as [Manager, Manager];
    const agent = agents[0] as Agent;
    const t0 = Date.now();
    await agent.stop();
    const n = await waitFor(
      'node DOWN',
      () => node(b)?.status?.state === NodeState.NODE_STATE_DOWN && node(b),
    );
    expect(n.status?.message).toBe('heartbeat failure');
    console.log(`node DOWN ${Date.now() - t0} ms after the agent stopped (deadline ${3 * PERIOD_MS} ms)`);
  });

  it('a restarted agent resumes its tasks from the state file, reports them, and removes those no longer assigned', async () => {
    const [, b] = managers as [Manager, Manager];
    // While the worker was away, the managers deleted t2 and asked t1 to shut down (replaced elsewhere).
    await b.store.update((tx) => {
      tx.remove('task', 't2');
      const t1 = tx.get('task', 't1') as Task;
      tx.update('task', { ...t1, desiredState: TaskState.TASK_STATE_SHUTDOWN });
    });
    const executor2 = new RecordingExecutor();
    // A container the agent has no record of (as if left by a lost state file).
    executor2.containers.add('stray');
    const agent = newAgent(executor2, [b.addr]);
    await agent.start();
    // Before any manager answered: both tasks resumed from disk.
    expect(executor2.calls.slice(0, 2)).toEqual([
      ['run', 't1', TaskState.TASK_STATE_RUNNING],
      ['run', 't2', TaskState.TASK_STATE_RUNNING],
    ]);
    await waitFor('t2 removed', () => executor2.calls.some((c) => c[0] === 'remove' && c[1] === 't2'));
    await waitFor('stray removed', () => executor2.calls.some((c) => c[0] === 'remove' && c[1] === 'stray'));
    await waitFor('t1 shut down', () =>
      executor2.calls.some(
        (c) => c[0] === 'update' && c[1] === 't1' && c[2] === TaskState.TASK_STATE_SHUTDOWN,
      ),
    );
    expect(executor2.calls).toContainEqual(['shutdown', 't1']);
    await waitFor(
      't1 SHUTDOWN in the store',
      () => task(b, 't1')?.status?.state === TaskState.TASK_STATE_SHUTDOWN,
    );
    await waitFor('node READY again', () => node(b)?.status?.state === NodeState.NODE_STATE_READY);
    // Once reported stopped, t1 leaves the assignment set and its container is removed.
    await waitFor('t1 removed', () => executor2.calls.some((c) => c[0] === 'remove' && c[1] === 't1'));
    await waitFor('nothing held', () => agent.heldTasks().length === 0);
    await waitFor('reports acknowledged', () => agent.unacknowledged === 0);
  });

  it('takes the node from the certificate: another node cannot use its session; no certificate, no call', async () => {
    const [, b] = managers as [Manager, Manager];
    // The session opened below is worker1's own; the agent of the test before (worker1 too) would open a new
    // one when it finds its own replaced, and replace this one in turn, whenever its retry came.
    for (const a of agents) await a.stop();
    let own: DispatcherClient | undefined;
    const sessionId = await new Promise<string>((resolve) => {
      // The live session of worker1, as the dispatcher knows it.
      const c = new DispatcherClient(
        b.addr,
        mtlsChannelCredentials(workerId, { clusterId: CLUSTER }),
        channelOptionsFor('manager'),
      );
      const stream = c.session({
        description: NodeDescription.fromPartial({ hostname: 'worker-1' }),
        advertiseAddr: '',
      });
      stream.on('data', (m) => {
        if (m.payload?.$case === 'started') {
          resolve(m.payload.value.sessionId);
        }
      });
      stream.on('error', () => {});
      own = c;
      afterAll(() => {
        stream.cancel();
        c.close();
      });
    });
    const other = await identity(root, CLUSTER, 'worker2', 'worker');
    const c2 = new DispatcherClient(
      b.addr,
      mtlsChannelCredentials(other, { clusterId: CLUSTER }),
      channelOptionsFor('manager'),
    );
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      c2.heartbeat({ sessionId, stopping: false }, (e) => resolve(e)),
    );
    expect(err?.code).toBe(grpc.status.NOT_FOUND);
    expect(err?.details).toMatch(/not the current session of node worker2/);
    // Status batches on another node's session are refused, batch by batch, on the status stream. A client
    // that closes its side at once still gets every answer, then the end: worker1's own batch about a task
    // the store does not have is answered only once the dispatcher's status write is done.
    const sendAndClose = async (client: DispatcherClient, batch: number, taskId: string) => {
      const statuses = client.reportTaskStatus();
      statuses.on('error', () => {});
      const acks: TaskStatusAck[] = [];
      statuses.on('data', (a: TaskStatusAck) => acks.push(a));
      const ended = new Promise((resolve) => statuses.on('end', resolve));
      statuses.write({
        sessionId,
        batch,
        updates: [
          { taskId, status: TaskStatus.fromPartial({ state: TaskState.TASK_STATE_FAILED, timestamp: 1 }) },
        ],
      });
      statuses.end();
      await ended;
      return acks;
    };
    const notMine = await sendAndClose(c2, 7, 't1');
    expect(notMine.map((a) => [a.batch, a.code])).toEqual([[7, grpc.status.NOT_FOUND]]);
    expect(notMine[0]?.message).toMatch(/not the current session of node worker2/);
    const taken = await sendAndClose(own!, 8, 'no-such-task');
    expect(taken.map((a) => [a.batch, a.code, a.ignored])).toEqual([
      [8, 0, [{ taskId: 'no-such-task', reason: 'no such task (deleted)' }]],
    ]);
    c2.close();
    const anon = new DispatcherClient(
      b.addr,
      grpc.credentials.createSsl(Buffer.from(root.certPem)),
      channelOptionsFor('manager'),
    );
    const refused = await new Promise<grpc.ServiceError | null>((resolve) =>
      anon.heartbeat({ sessionId, stopping: false }, (e) => resolve(e)),
    );
    // The strict mTLS listener refuses the handshake of a client without a certificate.
    expect(refused?.code).toBe(grpc.status.UNAVAILABLE);
    anon.close();
  });

  it('answers the status stream with its headers at once (the agent then keeps no copy of its batches)', async () => {
    // grpc-js keeps what a client stream sent (to replay it on a retry) until the server's headers arrive.
    const [, b] = managers as [Manager, Manager];
    const c = new DispatcherClient(
      b.addr,
      mtlsChannelCredentials(workerId, { clusterId: CLUSTER }),
      channelOptionsFor('manager'),
    );
    const statuses = c.reportTaskStatus();
    statuses.on('error', () => {});
    const headers = new Promise((resolve) => statuses.on('metadata', resolve));
    const none = new Promise((resolve) => setTimeout(() => resolve('none'), 3000));
    await expect(Promise.race([headers, none])).resolves.not.toBe('none');
    statuses.cancel();
    c.close();
  });

  it('a session whose stream closes unannounced costs the node one period; one announced, the whole deadline', async () => {
    const [, b] = managers as [Manager, Manager];
    const open = async (nodeId: string) => {
      await b.store.update((tx) => tx.create('node', makeNode(nodeId, nodeId)));
      const c = new DispatcherClient(
        b.addr,
        mtlsChannelCredentials(await identity(root, CLUSTER, nodeId, 'worker'), { clusterId: CLUSTER }),
        channelOptionsFor('manager'),
      );
      const stream = c.session({
        description: NodeDescription.fromPartial({ hostname: nodeId }),
        advertiseAddr: '',
      });
      stream.on('error', () => {});
      const sessionId = await new Promise<string>((resolve) =>
        stream.on('data', (m) => m.payload?.$case === 'started' && resolve(m.payload.value.sessionId)),
      );
      return { c, stream, sessionId };
    };
    const state = (id: string) => b.store.view((tx) => tx.get('node', id))?.status;
    // A worker that dies: its connection closes with no word before.
    const dead = await open('worker-dies');
    const restarting = await open('worker-restarts');
    const said = await new Promise<grpc.ServiceError | null>((resolve) =>
      restarting.c.heartbeat({ sessionId: restarting.sessionId, stopping: true }, (e) => resolve(e)),
    );
    expect(said).toBeNull();
    dead.stream.cancel();
    restarting.stream.cancel();
    const gone = await waitFor(
      'the dead worker DOWN',
      () => state('worker-dies')?.state === NodeState.NODE_STATE_DOWN && state('worker-dies'),
    );
    expect(gone.message).toBe('session lost');
    // The one that said it stops keeps the heartbeat deadline (period × 3).
    expect(state('worker-restarts')?.state).toBe(NodeState.NODE_STATE_READY);
    const late = await waitFor(
      'the stopped worker DOWN',
      () => state('worker-restarts')?.state === NodeState.NODE_STATE_DOWN && state('worker-restarts'),
    );
    expect(late.message).toBe('heartbeat failure');
    dead.c.close();
    restarting.c.close();
  });
});
