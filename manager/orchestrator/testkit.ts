// Test helpers for the orchestrator and the runners: services, and a store over the in-memory log with a
// movable clock.
import fc from 'fast-check';
import { Service, type Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { RestartPolicy, UpdateConfig } from '../../proto/gen/shoal/swarm/v1/types.js';
import {
  NodeAvailability,
  NodeState,
  RestartCondition,
  TaskState,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import type { Objects, TableName } from '../store/index.js';
import { clone } from '../store/tables.js';
import { storeOnMemoryLog } from '../store/testkit.js';
import { applyDecisions, type Decisions, isEmpty } from './decisions.js';
import { orchestrate } from './orchestrate.js';

export interface ServiceOpts {
  replicas?: number;
  global?: boolean;
  image?: string;
  constraints?: string[];
  restart?: Partial<RestartPolicy>;
  /** The update config (parallelism 1, stop-first, pause, monitor 5 s, as swarmkit's defaults, when absent). */
  update?: Partial<UpdateConfig>;
  rollback?: Partial<UpdateConfig>;
}

export function service(id: string, name: string, o: ServiceOpts = {}): Service {
  const mode: NonNullable<Service['spec']>['mode'] = o.global
    ? { $case: 'global', value: {} }
    : { $case: 'replicated', value: { replicas: o.replicas ?? 1 } };
  const s = Service.fromPartial({
    id,
    spec: {
      annotations: { name, labels: {} },
      taskTemplate: {
        containerSpec: { image: o.image ?? 'bb:1' },
        restartPolicy: {
          condition: RestartCondition.RESTART_CONDITION_ANY,
          maxAttempts: 0,
          ...o.restart,
        },
        placement: { constraints: o.constraints ?? [] },
      },
      updateConfig: o.update,
      rollbackConfig: o.rollback,
    },
  });
  (s.spec as NonNullable<Service['spec']>).mode = mode;
  return s;
}

export const seconds = (s: number) => ({ seconds: s, nanos: 0 });

/** A store on an in-memory log, a clock the test moves, and helpers to drive the pure orchestrator. */
export function harness() {
  const { store, log, clock } = storeOnMemoryLog();
  let n = 0;
  const newId = () => `t${++n}`;
  const h = {
    store,
    log,
    clock,
    decide: (): Decisions => store.view((tx) => orchestrate(tx, clock.now, newId)),
    /** One orchestrator pass, committed. */
    async step(): Promise<Decisions> {
      const d = h.decide();
      if (!isEmpty(d)) await store.update((tx) => applyDecisions(tx, d));
      return d;
    },
    /** Passes until one decides nothing; returns how many wrote. */
    async settle(): Promise<number> {
      for (let i = 0; i < 20; i++) if (isEmpty(await h.step())) return i;
      throw new Error('the orchestrator did not settle in 20 passes');
    },
    async put<K extends TableName>(table: K, ...objs: Objects[K][]): Promise<void> {
      await store.update((tx) => {
        for (const o of objs) tx.create(table, o);
      });
    },
    async edit<K extends TableName>(table: K, id: string, fn: (o: Objects[K]) => void): Promise<void> {
      await store.update((tx) => {
        const o = tx.get(table, id);
        if (!o) throw new Error(`no ${table} ${id}`);
        const c = clone(table, o);
        fn(c);
        tx.update(table, c);
      });
    },
    /** What a worker would report (stored as the dispatcher stores it, running_since kept or set). */
    async report(taskId: string, state: TaskState, message = ''): Promise<void> {
      await h.edit('task', taskId, (t) => {
        if (!t.runningSince && state === TaskState.TASK_STATE_RUNNING) t.runningSince = clock.now;
        t.status = {
          ...(t.status ?? { err: '', containerStatus: undefined, portStatus: undefined }),
          state,
          message,
          timestamp: clock.now,
          err: '',
        } as Task['status'];
      });
    },
    /**
     * One round of the rest of the cluster, as scheduler and workers would do it: a task desired RUNNING is
     * placed (round robin over `nodes`, unless bound) and RUNNING; one asked to stop that may be running is
     * SHUTDOWN. A round takes 1 ms of the clock. Returns how many tasks changed.
     */
    async work(nodes: readonly string[]): Promise<number> {
      clock.now += 1;
      let changed = 0;
      let i = 0;
      for (const t of h.tasks()) {
        const s = t.status?.state ?? 0;
        if (t.desiredState === TaskState.TASK_STATE_RUNNING && s < TaskState.TASK_STATE_RUNNING) {
          const nodeId = t.nodeId || nodes[i++ % nodes.length];
          await h.edit('task', t.id, (x) => {
            x.nodeId = nodeId;
          });
          await h.report(t.id, TaskState.TASK_STATE_RUNNING);
          changed++;
        } else if (
          t.desiredState > TaskState.TASK_STATE_RUNNING &&
          s >= TaskState.TASK_STATE_ASSIGNED &&
          s < TaskState.TASK_STATE_COMPLETE
        ) {
          await h.report(t.id, TaskState.TASK_STATE_SHUTDOWN);
          changed++;
        }
      }
      return changed;
    },
    /** Orchestrator passes and cluster rounds until neither changes anything (the clock stands still). */
    async converge(nodes: readonly string[]): Promise<void> {
      for (let i = 0; i < 50; i++) {
        await h.settle();
        if ((await h.work(nodes)) === 0) return;
      }
      throw new Error('no convergence in 50 rounds');
    },
    tasks: (serviceId?: string): Task[] =>
      store
        .view((tx) => (serviceId ? tx.find('task', 'service', serviceId) : tx.list('task')))
        .sort(
          (a, b) =>
            a.slot - b.slot || (a.meta?.version ?? 0) - (b.meta?.version ?? 0) || (a.id < b.id ? -1 : 1),
        ),
    live: (serviceId?: string): Task[] =>
      h.tasks(serviceId).filter((t) => t.desiredState <= TaskState.TASK_STATE_RUNNING),
  };
  return h;
}

/** Random histories for the property tests: what workers, users and nodes do between passes. */
export const arbitrary = {
  report: fc.record({
    kind: fc.constant('report' as const),
    pick: fc.nat(),
    state: fc.constantFrom(
      TaskState.TASK_STATE_RUNNING,
      TaskState.TASK_STATE_FAILED,
      TaskState.TASK_STATE_COMPLETE,
      TaskState.TASK_STATE_SHUTDOWN,
    ),
  }),
  node: fc.record({
    kind: fc.constant('node' as const),
    pick: fc.nat(),
    state: fc.constantFrom(NodeState.NODE_STATE_READY, NodeState.NODE_STATE_DOWN),
    availability: fc.constantFrom(
      NodeAvailability.NODE_AVAILABILITY_ACTIVE,
      NodeAvailability.NODE_AVAILABILITY_PAUSE,
      NodeAvailability.NODE_AVAILABILITY_DRAIN,
    ),
  }),
  scale: fc.record({ kind: fc.constant('scale' as const), replicas: fc.integer({ min: 0, max: 6 }) }),
  time: fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 20_000 }) }),
  condition: fc.constantFrom(
    RestartCondition.RESTART_CONDITION_ANY,
    RestartCondition.RESTART_CONDITION_ON_FAILURE,
    RestartCondition.RESTART_CONDITION_NONE,
  ),
};
