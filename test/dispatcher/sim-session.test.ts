// shoald's simulated executor behind the real agent, against a real dispatcher over mTLS gRPC on 127.0.0.1
// (on the in-memory replicated store): assigned tasks go through every worker state to RUNNING in the store,
// and to SHUTDOWN once told to stop — what the scale benchmark relies on, without its thousand nodes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeNode } from '../../daemon/swarm/describe.js';
import { authorizationInterceptor } from '../../manager/ca/authz.js';
import { createRootCA } from '../../manager/ca/certs.js';
import { channelOptionsFor, mtlsChannelCredentials, mtlsServerCredentials } from '../../manager/ca/tls.js';
import { Dispatcher } from '../../manager/dispatcher/dispatcher.js';
import { DISPATCHER_POLICY, dispatcherService } from '../../manager/dispatcher/service.js';
import { MemoryLog } from '../../manager/store/memlog.js';
import { Store } from '../../manager/store/store.js';
import { makeCluster, makeNode, makeTask } from '../../manager/store/testkit.js';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { Agent } from '../../worker/agent/agent.js';
import { SimExecutor } from '../../worker/executor/sim.js';
import { identity, waitFor } from './helpers.js';

const CLUSTER = 'clustersim';
const TASKS = 20;

let store: Store;
let dispatcher: Dispatcher;
let server: grpc.Server;
let agent: Agent;
let dir: string;
const executor = new SimExecutor();
const seen = new Map<string, TaskState[]>();

beforeAll(async () => {
  const root = await createRootCA(new Date());
  dir = await mkdtemp(join(tmpdir(), 'shoal-sim-session-'));
  store = new Store();
  store.connect(new MemoryLog('sync').addMember(store));
  server = new grpc.Server({ interceptors: [authorizationInterceptor(DISPATCHER_POLICY, () => CLUSTER)] });
  const managerId = await identity(root, CLUSTER, 'manager0', 'manager');
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', mtlsServerCredentials(managerId), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const addr = `127.0.0.1:${port}`;
  dispatcher = new Dispatcher(store, { managers: () => [{ nodeId: 'manager0', addr, weight: 1 }] });
  server.addService(
    ...(Object.values(dispatcherService(dispatcher, { leaderAddr: () => addr })) as [never, never]),
  );
  await store.update((tx) => {
    tx.create('cluster', makeCluster('c1'));
    tx.create('node', makeNode('sim1', 'sim-1'));
  });
  dispatcher.start();
  executor.onStatus((r) => seen.set(r.taskId, [...(seen.get(r.taskId) ?? []), r.status.state]));
  const worker = await identity(root, CLUSTER, 'sim1', 'worker');
  agent = new Agent({
    managers: [addr],
    credentials: mtlsChannelCredentials(worker, { clusterId: CLUSTER }),
    channelOptions: channelOptionsFor('manager'),
    executor,
    describe: () => describeNode('sim-1'),
    stateDir: dir,
    backoff: { initialMs: 50, maxMs: 500 },
    log: () => {},
  });
  await agent.start();
});

afterAll(async () => {
  await agent?.stop();
  dispatcher?.stop();
  server?.forceShutdown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const stateOf = (id: string) => store.view((tx) => tx.get('task', id))?.status?.state;

describe('the simulated executor behind the agent', () => {
  it('takes assigned tasks through every worker state to RUNNING in the store', async () => {
    const ids = Array.from({ length: TASKS }, (_, i) => `t${i}`);
    await store.update((tx) => {
      for (const [i, id] of ids.entries()) {
        const t = makeTask(id, 'svc', i + 1, 'sim1');
        tx.create('task', {
          ...t,
          status: { ...(t.status as Task['status'] & object), state: TaskState.TASK_STATE_ASSIGNED },
        });
      }
    });
    await waitFor(
      'every task RUNNING',
      () => ids.every((id) => stateOf(id) === TaskState.TASK_STATE_RUNNING),
      30_000,
    );
    for (const id of ids)
      expect(seen.get(id)).toEqual([
        TaskState.TASK_STATE_ACCEPTED,
        TaskState.TASK_STATE_PREPARING,
        TaskState.TASK_STATE_READY,
        TaskState.TASK_STATE_STARTING,
        TaskState.TASK_STATE_RUNNING,
      ]);
    expect(store.view((tx) => tx.get('task', 't0'))?.status?.message).toBe('started');
  });

  it('reports SHUTDOWN once the tasks are desired shut down', async () => {
    await store.update((tx) => {
      for (const t of tx.list('task'))
        tx.update('task', { ...t, desiredState: TaskState.TASK_STATE_SHUTDOWN });
    });
    await waitFor(
      'every task SHUTDOWN',
      () =>
        store.view((tx) => tx.list('task')).every((t) => t.status?.state === TaskState.TASK_STATE_SHUTDOWN),
      30_000,
    );
    expect(seen.get('t3')?.at(-1)).toBe(TaskState.TASK_STATE_SHUTDOWN);
  });
});
