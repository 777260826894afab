import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { ServiceSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import {
  NodeAvailability,
  NodeRole,
  NodeState,
  RestartCondition,
  TaskState,
  UpdateFailureAction,
  UpdateOrder,
  UpdateState,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import { parseConstraint } from '../scheduler/constraint.js';
import { makeCluster, makeNetwork, makeTask, storeOnMemoryLog } from '../store/testkit.js';
import { ControlApi } from './controlapi.js';

function setup() {
  const { store } = storeOnMemoryLog('sync');
  let tokens = 0;
  const control = new ControlApi(
    store,
    { newJoinToken: (role) => `SWMTKN-1-x-${role}${++tokens}` },
    () => 0.5,
    () => 1_000,
  );
  return { store, control };
}

const spec = (over: Partial<ServiceSpec> = {}, replicas = 3): ServiceSpec => ({
  annotations: { name: 'web', labels: { app: 'web' } },
  taskTemplate: {
    containerSpec: { image: 'busybox', args: ['sleep', '1000'] } as never,
    resources: undefined,
    restartPolicy: undefined,
    attachment: undefined,
    placement: undefined,
    networks: [],
    forceUpdate: 0,
    logDriver: undefined,
  },
  mode: { $case: 'replicated', value: { replicas } },
  updateConfig: undefined,
  rollbackConfig: undefined,
  endpointSpec: undefined,
  ...over,
});

async function rejects(p: Promise<unknown> | (() => unknown)): Promise<ShoalError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (isShoalError(err)) return err;
    throw err;
  }
  throw new Error('expected a ShoalError');
}

function node(id: string, role: NodeRole, state = NodeState.NODE_STATE_READY) {
  return Node.fromPartial({
    id,
    spec: {
      desiredRole: role,
      availability: NodeAvailability.NODE_AVAILABILITY_ACTIVE,
      annotations: { labels: {} },
    },
    role,
    description: { hostname: `host-${id}` },
    status: { state },
  });
}

describe('createService', () => {
  it("applies Docker's defaults", async () => {
    const { control } = setup();
    const s = await control.createService(spec({ mode: undefined }));
    const t = s.spec!.taskTemplate!;
    expect(s.spec!.mode).toEqual({ $case: 'replicated', value: { replicas: 1 } });
    expect(t.restartPolicy).toMatchObject({
      condition: RestartCondition.RESTART_CONDITION_ANY,
      delay: { seconds: 5, nanos: 0 },
      maxAttempts: 0,
    });
    expect(t.containerSpec!.stopGracePeriod).toEqual({ seconds: 10, nanos: 0 });
    for (const u of [s.spec!.updateConfig, s.spec!.rollbackConfig]) {
      expect(u).toMatchObject({
        parallelism: 1,
        failureAction: UpdateFailureAction.UPDATE_FAILURE_ACTION_PAUSE,
        monitor: { seconds: 5, nanos: 0 },
        order: UpdateOrder.UPDATE_ORDER_STOP_FIRST,
      });
    }
    expect(s.meta!.version).toBeGreaterThan(0);
  });

  it('names a nameless service', async () => {
    const { control } = setup();
    const s = await control.createService(spec({ annotations: { name: '', labels: {} } }));
    expect(s.spec!.annotations!.name).toMatch(/^[a-z]+-[a-z]+-\d+$/);
  });

  it.each([
    [
      'a bad name',
      spec({ annotations: { name: 'trailing_', labels: {} } }),
      'spec.annotations.name',
      /invalid name "trailing_"/,
    ],
    [
      'a name too long',
      spec({ annotations: { name: 'a'.repeat(64), labels: {} } }),
      'spec.annotations.name',
      /invalid name/,
    ],
    ['negative replicas', spec({}, -1), 'spec.mode.replicated.replicas', /must be an integer ≥ 0, not -1/],
    ['fractional replicas', spec({}, 1.5), 'spec.mode.replicated.replicas', /integer/],
    [
      'no image',
      spec({ taskTemplate: { ...spec().taskTemplate!, containerSpec: { image: ' ' } as never } }),
      'spec.task_template.container_spec.image',
      /image is required/,
    ],
    [
      'an unparseable constraint',
      spec({
        taskTemplate: {
          ...spec().taskTemplate!,
          placement: { constraints: ['node.role=manager'], preferences: [], maxReplicas: 0, platforms: [] },
        },
      }),
      'spec.task_template.placement.constraints[0]',
      /invalid constraint "node.role=manager": expected one operator from ==, !=/,
    ],
    [
      'a negative reservation',
      spec({
        taskTemplate: {
          ...spec().taskTemplate!,
          resources: { limits: undefined, reservations: { nanoCpus: -1, memoryBytes: 0, pids: 0 } },
        },
      }),
      'spec.task_template.resources.reservations.nano_cpus',
      /negative/,
    ],
    [
      'a failure ratio above 1',
      spec({
        updateConfig: {
          parallelism: 1,
          delay: undefined,
          failureAction: 0,
          monitor: undefined,
          maxFailureRatio: 2,
          order: 0,
        },
      }),
      'spec.update_config.max_failure_ratio',
      /between 0 and 1/,
    ],
    [
      'a negative restart delay',
      spec({
        taskTemplate: {
          ...spec().taskTemplate!,
          restartPolicy: {
            condition: 0,
            delay: { seconds: -1, nanos: 0 },
            maxAttempts: 0,
            window: undefined,
          },
        },
      }),
      'spec.task_template.restart_policy.delay',
      /negative/,
    ],
    [
      'rollback as a rollback failure action',
      spec({
        rollbackConfig: {
          parallelism: 1,
          delay: undefined,
          failureAction: UpdateFailureAction.UPDATE_FAILURE_ACTION_ROLLBACK,
          monitor: undefined,
          maxFailureRatio: 0,
          order: 0,
        },
      }),
      'spec.rollback_config.failure_action',
      /rollback/,
    ],
  ])('refuses %s, naming the field, and writes nothing', async (_, bad, field, message) => {
    const { store, control } = setup();
    const before = store.appliedIndex;
    const err = await rejects(control.createService(bad));
    expect(err.kind).toBe('invalid_argument');
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
    expect(store.appliedIndex).toBe(before);
    expect(control.listServices()).toEqual([]);
  });

  it('allows a reservation larger than any node (its tasks will stay pending)', async () => {
    const { control } = setup();
    const big = { nanoCpus: 1e15, memoryBytes: 2 ** 50, pids: 0 };
    const s = await control.createService(
      spec({
        taskTemplate: { ...spec().taskTemplate!, resources: { limits: undefined, reservations: big } },
      }),
    );
    expect(s.spec!.taskTemplate!.resources!.reservations).toEqual(big);
  });

  it('refuses references to secrets, configs and networks that do not exist', async () => {
    const { store, control } = setup();
    const base = spec().taskTemplate!;
    const withNet = (target: string) =>
      spec({ taskTemplate: { ...base, networks: [{ target, aliases: [], driverOpts: {} }] } });
    const err = await rejects(control.createService(withNet('appnet')));
    expect(err.field).toBe('spec.task_template.networks[0]');
    expect(err.message).toMatch(/network appnet not found/);
    const secret = spec({
      taskTemplate: {
        ...base,
        containerSpec: {
          ...base.containerSpec!,
          secrets: [
            { secretId: 'nope', secretName: 'db', file: { name: 'db', uid: '0', gid: '0', mode: 0o444 } },
          ],
        },
      },
    });
    expect((await rejects(control.createService(secret))).message).toMatch(/secret not found: db/);
    // A reference without a file is malformed (swarmkit checks that first).
    secret.taskTemplate!.containerSpec!.secrets[0]!.file = undefined;
    expect((await rejects(control.createService(secret))).message).toMatch(/malformed file secret reference/);
    await store.update((tx) => tx.create('network', makeNetwork('net1', 'appnet')));
    const s = await control.createService(withNet('appnet'));
    expect(s.spec!.taskTemplate!.networks[0]!.target).toBe('appnet');
  });

  it('refuses a taken name with a conflict', async () => {
    const { control } = setup();
    await control.createService(spec());
    const err = await rejects(control.createService(spec()));
    expect(err.kind).toBe('conflict');
    expect(err.message).toBe('name conflicts with an existing object: service web already exists');
  });
});

describe('parseConstraint', () => {
  it('parses == and !=', () => {
    expect(parseConstraint('node.labels.zone == a')).toEqual({
      key: 'node.labels.zone',
      operator: '==',
      value: 'a',
    });
    expect(parseConstraint('node.role!=manager')).toEqual({
      key: 'node.role',
      operator: '!=',
      value: 'manager',
    });
  });
  it.each(['node.role', 'node.role==', '==x', 'node.role==a==b', 'no de==x'])('refuses %j', (c) => {
    expect(() => parseConstraint(c)).toThrow(/invalid constraint/);
  });
});

describe('updateService', () => {
  it('keeps the previous spec and refuses a stale version', async () => {
    const { store, control } = setup();
    const s = await control.createService(spec());
    const v = s.meta!.version;
    const scaled = await control.updateService('web', v, {
      ...s.spec!,
      mode: { $case: 'replicated', value: { replicas: 5 } },
    });
    expect(scaled.previousSpec!.mode).toEqual({ $case: 'replicated', value: { replicas: 3 } });
    expect(scaled.meta!.version).toBeGreaterThan(v);
    const before = store.appliedIndex;
    const err = await rejects(control.updateService('web', v, s.spec!));
    expect(err.kind).toBe('conflict');
    expect(err.message).toBe('update out of sequence');
    expect(store.appliedIndex).toBe(before);
  });

  it('counts forced updates and refuses renames and mode changes', async () => {
    const { control } = setup();
    const s = await control.createService(spec());
    const forced = await control.updateService(s.id, s.meta!.version, {
      ...s.spec!,
      taskTemplate: { ...s.spec!.taskTemplate!, forceUpdate: 1 },
    });
    expect(forced.spec!.taskTemplate!.forceUpdate).toBe(1);
    const v = forced.meta!.version;
    expect(
      (
        await rejects(
          control.updateService(s.id, v, { ...s.spec!, annotations: { name: 'other', labels: {} } }),
        )
      ).message,
    ).toMatch(/renaming services is not supported/);
    expect(
      (await rejects(control.updateService(s.id, v, { ...s.spec!, mode: { $case: 'global', value: {} } })))
        .message,
    ).toMatch(/mode change is not allowed/);
  });

  it('refuses an update naming an unknown secret or network, changing nothing', async () => {
    const { store, control } = setup();
    const s = await control.createService(spec());
    const before = store.appliedIndex;
    const base = s.spec!.taskTemplate!;
    const net = await rejects(
      control.updateService(s.id, s.meta!.version, {
        ...s.spec!,
        taskTemplate: { ...base, networks: [{ target: 'nonet', aliases: [], driverOpts: {} }] },
      }),
    );
    expect(net.message).toMatch(/network nonet not found/);
    const secret = await rejects(
      control.updateService(s.id, s.meta!.version, {
        ...s.spec!,
        taskTemplate: {
          ...base,
          containerSpec: {
            ...base.containerSpec!,
            secrets: [
              { secretId: 'nope', secretName: 'db', file: { name: 'db', uid: '0', gid: '0', mode: 0o444 } },
            ],
          },
        },
      }),
    );
    expect(secret.message).toMatch(/secret not found: db/);
    expect(store.appliedIndex).toBe(before);
    expect(control.getService(s.id)).toEqual(s);
  });

  it('rolls back to the previous spec', async () => {
    const { store, control } = setup();
    const s = await control.createService(spec());
    const before = store.appliedIndex;
    const none = await rejects(
      control.updateService(s.id, s.meta!.version, s.spec!, { rollback: 'previous' }),
    );
    expect(none.kind).toBe('failed_precondition');
    expect(none.message).toBe(`service ${s.id} does not have a previous spec`);
    expect(store.appliedIndex).toBe(before);
    const u = await control.updateService(s.id, s.meta!.version, {
      ...s.spec!,
      mode: { $case: 'replicated', value: { replicas: 9 } },
    });
    const r = await control.updateService(s.id, u.meta!.version, u.spec!, { rollback: 'previous' });
    expect(r.spec!.mode).toEqual({ $case: 'replicated', value: { replicas: 3 } });
    expect(r.previousSpec!.mode).toEqual({ $case: 'replicated', value: { replicas: 9 } });
    expect(r.updateStatus).toEqual({
      state: UpdateState.UPDATE_STATE_ROLLBACK_STARTED,
      startedAt: 1_000,
      completedAt: 0,
      message: 'manually requested rollback',
    });
  });

  it('removes a service; a missing one is not_found', async () => {
    const { control } = setup();
    await control.createService(spec());
    await control.removeService('web');
    expect(control.listServices()).toEqual([]);
    expect((await rejects(control.removeService('web'))).kind).toBe('not_found');
  });
});

describe('filters', () => {
  it('filters services by id, name, label and mode', async () => {
    const { control } = setup();
    const a = await control.createService(spec());
    await control.createService(
      spec({ annotations: { name: 'db', labels: { tier: 'data' } }, mode: { $case: 'global', value: {} } }),
    );
    const names = (f: Record<string, string[]>) =>
      control.listServices(f).map((s) => s.spec!.annotations!.name);
    expect(names({ name: ['we'] })).toEqual(['web']);
    expect(names({ id: [a.id] })).toEqual(['web']);
    expect(names({ label: ['tier=data'] })).toEqual(['db']);
    expect(names({ label: ['tier'] })).toEqual(['db']);
    expect(names({ mode: ['global'] })).toEqual(['db']);
    expect(() => control.listServices({ bogus: ['x'] })).toThrow(/invalid filter 'bogus'/);
  });

  it('filters tasks by service (id or name), node, desired state, name and service label', async () => {
    const { store, control } = setup();
    const s = await control.createService(spec());
    await store.update((tx) => {
      tx.create('task', makeTask('t1', s.id, 1, 'n1'));
      tx.create('task', makeTask('t2', s.id, 2, 'n2', TaskState.TASK_STATE_SHUTDOWN));
      tx.create('task', makeTask('t3', 'other', 1, 'n1'));
    });
    const ids = (f: Record<string, string[]>) => control.listTasks(f).map((t) => t.id);
    expect(ids({ service: ['web'] })).toEqual(['t1', 't2']);
    expect(ids({ service: [s.id], node: ['n1'] })).toEqual(['t1']);
    expect(ids({ 'desired-state': ['running'] })).toEqual(['t1', 't3']);
    expect(ids({ 'desired-state': ['shutdown'] })).toEqual(['t2']);
    expect(ids({ label: ['app=web'] })).toEqual(['t1', 't2']);
    expect(ids({ id: ['t3'] })).toEqual(['t3']);
    // _up-to-date: tasks whose spec is the service's current template (a scale keeps them up to date).
    await store.update((tx) => {
      const t1 = tx.get('task', 't1')!;
      tx.update('task', { ...t1, spec: s.spec!.taskTemplate });
    });
    expect(ids({ '_up-to-date': ['true'], service: ['web'] })).toEqual(['t1']);
    const scaled = await control.updateService('web', s.meta!.version, {
      ...s.spec!,
      mode: { $case: 'replicated', value: { replicas: 7 } },
    });
    expect(ids({ '_up-to-date': ['true'], service: ['web'] })).toEqual(['t1']);
    await control.updateService('web', scaled.meta!.version, {
      ...s.spec!,
      taskTemplate: {
        ...s.spec!.taskTemplate!,
        containerSpec: { ...s.spec!.taskTemplate!.containerSpec!, env: ['B=2'] },
      },
    });
    expect(ids({ '_up-to-date': ['true'], service: ['web'] })).toEqual([]);
    expect(() => control.listTasks({ 'desired-state': ['sleeping'] })).toThrow(/desired-state=sleeping/);
    expect(control.getTask('t2').slot).toBe(2);
    expect(() => control.getTask('nope')).toThrow(/task nope not found/);
  });
});

describe('serviceTaskCounts', () => {
  it('counts tasks running on nodes that are not down; a global service desires its tasks on such nodes', async () => {
    const { store, control } = setup();
    const web = await control.createService(spec());
    const db = await control.createService(
      spec({ annotations: { name: 'db', labels: {} }, mode: { $case: 'global', value: {} } }),
    );
    const running = (t: ReturnType<typeof makeTask>) => ({
      ...t,
      status: { ...t.status!, state: TaskState.TASK_STATE_RUNNING },
    });
    await store.update((tx) => {
      tx.create('node', node('up', NodeRole.NODE_ROLE_WORKER));
      tx.create('node', node('gone', NodeRole.NODE_ROLE_WORKER, NodeState.NODE_STATE_DOWN));
      tx.create('task', running(makeTask('w1', web.id, 1, 'up')));
      tx.create('task', makeTask('w2', web.id, 2, 'up')); // still NEW
      tx.create('task', running(makeTask('w3', web.id, 3, 'gone')));
      tx.create('task', running(makeTask('w4', web.id, 1, 'up', TaskState.TASK_STATE_SHUTDOWN)));
      tx.create('task', running(makeTask('d1', db.id, 0, 'up')));
      tx.create('task', running(makeTask('d2', db.id, 0, 'gone')));
      tx.create('task', makeTask('d3', db.id, 0, 'up', TaskState.TASK_STATE_SHUTDOWN));
      tx.create('task', running(makeTask('x1', 'other', 1, 'up')));
    });
    const counts = control.serviceTaskCounts(control.listServices());
    // w4 is being shut down but still runs: docker counts it too.
    expect(counts.get(web.id)).toEqual({ running: 2, desired: 3 });
    expect(counts.get(db.id)).toEqual({ running: 1, desired: 1 });
    expect(counts.size).toBe(2);
    expect(control.serviceTaskCounts([]).size).toBe(0);

    // Kept current through updates and removals (the store's `running` index), and node state changes.
    await store.update((tx) => {
      const w1 = tx.get('task', 'w1')!;
      tx.update('task', { ...w1, status: { ...w1.status!, state: TaskState.TASK_STATE_COMPLETE } });
      tx.update('task', running(tx.get('task', 'w2')!));
      tx.remove('task', 'w4');
      const gone = tx.get('node', 'gone')!;
      tx.update('node', { ...gone, status: { ...gone.status!, state: NodeState.NODE_STATE_READY } });
    });
    const after = control.serviceTaskCounts(control.listServices());
    expect(after.get(web.id)).toEqual({ running: 2, desired: 3 }); // w2, w3
    expect(after.get(db.id)).toEqual({ running: 2, desired: 2 });
  });
});

describe('nodes', () => {
  it('updates availability, role and labels with the version, refusing a stale one', async () => {
    const { store, control } = setup();
    await store.update((tx) => {
      tx.create('node', node('m1', NodeRole.NODE_ROLE_MANAGER));
      tx.create('node', node('w1', NodeRole.NODE_ROLE_WORKER));
    });
    const w = control.getNode('w1');
    const u = await control.updateNode('w1', w.meta!.version, {
      annotations: { name: '', labels: { zone: 'a' } },
      desiredRole: NodeRole.NODE_ROLE_WORKER,
      availability: NodeAvailability.NODE_AVAILABILITY_DRAIN,
    });
    expect(u.spec!.availability).toBe(NodeAvailability.NODE_AVAILABILITY_DRAIN);
    expect(control.listNodes({ 'node.label': ['zone=a'] }).map((n) => n.id)).toEqual(['w1']);
    expect(control.listNodes({ role: ['manager'] }).map((n) => n.id)).toEqual(['m1']);
    expect(control.getNode('host-w1').id).toBe('w1');
    expect((await rejects(control.updateNode('w1', w.meta!.version, u.spec!))).message).toBe(
      'update out of sequence',
    );
    const m = control.getNode('m1');
    const demote = await rejects(
      control.updateNode('m1', m.meta!.version, { ...m.spec!, desiredRole: NodeRole.NODE_ROLE_WORKER }),
    );
    expect(demote.message).toMatch(/demote the last manager/);
  });

  it('removes a node only when it is a down worker, or forced', async () => {
    const { store, control } = setup();
    await store.update((tx) => {
      tx.create('node', node('m1', NodeRole.NODE_ROLE_MANAGER));
      tx.create('node', node('w1', NodeRole.NODE_ROLE_WORKER));
      tx.create('node', node('w2', NodeRole.NODE_ROLE_WORKER, NodeState.NODE_STATE_DOWN));
    });
    expect((await rejects(control.removeNode('m1', true))).message).toMatch(
      /must be demoted to worker before removal/,
    );
    const ready = await rejects(control.removeNode('w1', false));
    expect(ready.kind).toBe('failed_precondition');
    expect(ready.message).toMatch(/is not down and can't be removed/);
    await control.removeNode('w2', false);
    await control.removeNode('w1', true);
    expect(control.listNodes().map((n) => n.id)).toEqual(['m1']);
  });
});

describe('the cluster', () => {
  it('updates task history and heartbeat, rotates tokens, and refuses a stale version', async () => {
    const { store, control } = setup();
    await store.update((tx) =>
      tx.create('cluster', {
        ...makeCluster('c1'),
        rootCa: {
          caKey: Buffer.alloc(0),
          caCert: Buffer.alloc(0),
          caCertHash: 'h',
          joinTokens: { worker: 'W0', manager: 'M0' },
          rootRotation: undefined,
          lastForcedRotation: 0,
        },
      }),
    );
    const c = control.getCluster();
    const next = await control.updateCluster(
      c.meta!.version,
      {
        ...c.spec!,
        orchestration: { taskHistoryRetentionLimit: 2 },
        dispatcher: { heartbeatPeriod: { seconds: 1, nanos: 0 } },
      },
      { rotateWorkerToken: true },
    );
    expect(next.spec!.orchestration!.taskHistoryRetentionLimit).toBe(2);
    expect(next.spec!.dispatcher!.heartbeatPeriod).toEqual({ seconds: 1, nanos: 0 });
    expect(next.rootCa!.joinTokens).toEqual({ worker: 'SWMTKN-1-x-worker1', manager: 'M0' });
    expect((await rejects(control.updateCluster(c.meta!.version, c.spec!))).message).toBe(
      'update out of sequence',
    );
    const zero = await rejects(
      control.updateCluster(next.meta!.version, {
        ...next.spec!,
        dispatcher: { heartbeatPeriod: { seconds: 0, nanos: 0 } },
      }),
    );
    expect(zero.field).toBe('spec.dispatcher.heartbeat_period');
  });
});

describe('a root rotation asked through the cluster spec', () => {
  it('starts one when ForceRotate rises, refuses a second while it runs, a lowered counter and a half external root', async () => {
    const { store } = storeOnMemoryLog('sync');
    let made = 0;
    const control = new ControlApi(
      store,
      {
        newJoinToken: (role) => `SWMTKN-1-x-${role}`,
        // The CA's part (manager/ca's beginRootRotation in shoald): a new root each call.
        beginRotation: async () => ({
          caCert: Buffer.from(`root${++made}`),
          caKey: Buffer.from('key'),
          crossSignedCaCert: Buffer.from('cross'),
        }),
      },
      () => 0.5,
      () => 1_000,
    );
    await store.update((tx) =>
      tx.create('cluster', {
        ...makeCluster('c1'),
        rootCa: {
          caKey: Buffer.alloc(0),
          caCert: Buffer.from('root0'),
          caCertHash: 'h',
          joinTokens: { worker: 'W0', manager: 'M0' },
          rootRotation: undefined,
          lastForcedRotation: 0,
        },
      }),
    );
    const c = control.getCluster();
    const ca = (over: object) => ({
      ...c.spec!,
      caConfig: {
        nodeCertExpiry: undefined,
        signingCaCert: Buffer.alloc(0),
        signingCaKey: Buffer.alloc(0),
        forceRotate: 0,
        ...over,
      },
    });
    const halfExternal = await rejects(
      control.updateCluster(c.meta!.version, ca({ signingCaCert: Buffer.from('x') })),
    );
    expect(halfExternal.field).toBe('spec.ca_config.signing_ca_key');
    expect(made).toBe(0);

    const started = await control.updateCluster(c.meta!.version, ca({ forceRotate: 1 }));
    expect(Buffer.from(started.rootCa!.rootRotation!.caCert).toString()).toBe('root1');
    expect(started.rootCa!.lastForcedRotation).toBe(1);

    const twice = await rejects(control.updateCluster(started.meta!.version, ca({ forceRotate: 2 })));
    expect(twice.kind).toBe('failed_precondition');
    expect(twice.message).toMatch(/rotation is already in progress/);
    const lower = await rejects(control.updateCluster(started.meta!.version, ca({ forceRotate: 0 })));
    expect(lower.field).toBe('spec.ca_config.force_rotate');
    const now = control.getCluster();
    expect(now.meta!.version).toBe(started.meta!.version);
    expect(Buffer.from(now.rootCa!.rootRotation!.caCert).toString()).toBe('root1');
    expect(now.spec!.caConfig!.forceRotate).toBe(1);
  });
});
