// A pass scoped to the store events since the last pass decides exactly what a pass over everything decides,
// over random histories: scaling, spec changes (rollouts), node changes, worker reports, tasks deleted behind
// the orchestrator's back, a service removed. This is what lets the leader look at a few slots after a status
// batch instead of at every task of a 100,000-replica service.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { allocate } from '../allocator/allocate.js';
import { ControlApi, predefinedIngress } from '../controlapi/index.js';
import { schedule } from '../scheduler/schedule.js';
import { node } from '../scheduler/testkit.js';
import type { StoreEvent } from '../store/index.js';
import { makeCluster } from '../store/testkit.js';
import { applyDecisions, type Decisions, isEmpty } from './decisions.js';
import { orchestrate } from './orchestrate.js';
import { scopeIn } from './scope.js';
import { arbitrary, harness, service } from './testkit.js';

const S = TaskState;

const arbEvent = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('orchestrate' as const) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('schedule' as const) }), weight: 3 },
  { arbitrary: arbitrary.report, weight: 4 },
  { arbitrary: arbitrary.node, weight: 1 },
  { arbitrary: arbitrary.scale, weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant('image' as const), image: fc.constantFrom('bb:1', 'bb:2') }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('rm' as const) }), weight: 1 },
  // A node registering again as it was: a new status message and address, the same description.
  { arbitrary: fc.record({ kind: fc.constant('register' as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: arbitrary.time, weight: 1 },
  // Placement edited, and nodes' labels changed under it: a task kept by an edited constraint its node met
  // becomes dirty once the node no longer meets it, with no change to its service.
  {
    arbitrary: fc.record({ kind: fc.constant('constrain' as const), on: fc.boolean() }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('label' as const),
      pick: fc.nat(),
      zone: fc.constantFrom('a', 'b'),
    }),
    weight: 1,
  },
);

const arbWorld = fc.record({
  nodes: fc.integer({ min: 0, max: 3 }),
  replicas: fc.integer({ min: 0, max: 6 }),
  condition: arbitrary.condition,
  maxAttempts: fc.constantFrom(0, 1),
  /** The services' tasks join an overlay network (addresses, node attachments). */
  networked: fc.boolean(),
  events: fc.array(arbEvent, { minLength: 20, maxLength: 80 }),
});

/** Decisions with the generated ids of new tasks left out (each pass draws its own); wakeAt apart. */
function canonical(d: Decisions) {
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const created = (t: Task) =>
    JSON.stringify([t.serviceId, t.slot, t.nodeId, t.desiredState, t.status?.state, t.serviceVersion]);
  return {
    creates: d.creates.map(created).sort(),
    updates: [...d.updates].sort(byId),
    removes: d.removes.map((t) => t.id).sort(),
    removeServices: d.removeServices.map((s) => s.id).sort(),
    updateServices: [...(d.updateServices ?? [])].sort(byId),
    // (addresses depend on the order a pass allocates in: the networks each node is attached to)
    updateNodes: [...(d.updateNodes ?? [])]
      .sort(byId)
      .map((n) => [n.id, n.attachments.map((a) => a.network?.id).sort()]),
  };
}

describe('scoped orchestrator passes', () => {
  it('decide what a full pass decides, given every event since the last pass', async () => {
    let scopedPasses = 0;
    let scopedDecisions = 0;
    await fc.assert(
      fc.asyncProperty(arbWorld, async (w) => {
        const h = harness();
        const watch = h.store.watch({});
        const nodeIds = Array.from({ length: w.nodes }, (_, i) => `n${i}`);
        if (nodeIds.length) await h.put('node', ...nodeIds.map((id) => node(id, { labels: { zone: 'a' } })));
        const restart = { condition: w.condition, maxAttempts: w.maxAttempts };
        const rep = service('r', 'rep', { replicas: w.replicas, restart });
        const glob = service('g', 'glob', { global: true, restart });
        if (w.networked) {
          const cluster = makeCluster('c1');
          await h.put('cluster', cluster);
          await h.put('network', predefinedIngress('ingress0', cluster));
          await new ControlApi(h.store).createNetwork({
            annotations: { name: 'appnet', labels: {} },
          } as never);
          for (const s of [rep, glob])
            s.spec!.taskTemplate!.networks = [{ target: 'appnet', aliases: [], driverOpts: {} }];
        }
        await h.put('service', rep, glob);
        let ids = 0;
        const newId = () => `o${++ids}`;
        // The first pass and the one after the clock moved look at everything (as the loop's timer does).
        let full = true;
        // The loop's timer: set by a full pass, brought forward by scoped ones.
        let armed: number | undefined;
        const pass = async () => {
          const changes: StoreEvent[] = watch.drain();
          const now = h.clock.now;
          const decide = (scoped: boolean) =>
            h.store.view((tx) => {
              const scope = scoped && !full ? scopeIn(tx, changes) : undefined;
              if (scoped && scope) scopedPasses++;
              return allocate(tx, orchestrate(tx, now, newId, { scope }), now, scope);
            });
          const whole = decide(false);
          const before = scopedPasses;
          const part = decide(true);
          if (scopedPasses > before && !isEmpty(part)) scopedDecisions++;
          expect(canonical(part)).toEqual(canonical(whole));
          // No wake-up is lost: what a full pass would wait for, the timer fires at or before.
          armed = full ? part.wakeAt : Math.min(armed ?? Infinity, part.wakeAt ?? Infinity);
          if (whole.wakeAt !== undefined) expect(armed).toBeLessThanOrEqual(whole.wakeAt);
          full = false;
          if (!isEmpty(whole)) await h.store.update((tx) => applyDecisions(tx, whole));
        };
        const sched = async () => {
          const d = h.store.view((tx) => schedule(tx, h.clock.now));
          if (d.updates.length)
            await h.store.update((tx) => {
              for (const t of d.updates) tx.update('task', t);
            });
        };
        const pick = (n: number, tasks: Task[]) => tasks[n % Math.max(1, tasks.length)];
        for (const e of w.events) {
          if (e.kind === 'orchestrate') await pass();
          else if (e.kind === 'schedule') await sched();
          else if (e.kind === 'time') {
            h.clock.now += e.ms;
            full = true;
          } else if (e.kind === 'scale') {
            await h.edit('service', 'r', (s) => {
              s.spec!.mode = { $case: 'replicated', value: { replicas: e.replicas } };
            });
          } else if (e.kind === 'image') {
            await h.edit('service', 'r', (s) => {
              s.spec!.taskTemplate!.containerSpec!.image = e.image;
            });
          } else if (e.kind === 'constrain') {
            await h.edit('service', 'r', (s) => {
              s.spec!.taskTemplate!.placement!.constraints = e.on ? ['node.labels.zone==a'] : [];
            });
          } else if (e.kind === 'label' && nodeIds.length) {
            await h.edit('node', nodeIds[e.pick % nodeIds.length], (n) => {
              n.spec!.annotations!.labels = { zone: e.zone };
            });
          } else if (e.kind === 'rm') {
            if (h.store.view((tx) => tx.get('service', 'g')))
              await h.edit('service', 'g', (s) => {
                s.pendingDelete = true;
              });
          } else if (e.kind === 'node' && nodeIds.length) {
            await h.edit('node', nodeIds[e.pick % nodeIds.length], (n) => {
              n.status!.state = e.state;
              n.spec!.availability = e.availability;
            });
          } else if (e.kind === 'register' && nodeIds.length) {
            await h.edit('node', nodeIds[e.pick % nodeIds.length], (n) => {
              n.status = { ...n.status!, message: `again ${e.pick}`, addr: `10.0.0.${e.pick % 250}` };
              n.description = structuredClone(n.description);
            });
          } else if (e.kind === 'delete') {
            const t = pick(e.pick, h.tasks());
            if (t) await h.store.update((tx) => tx.remove('task', t.id));
          } else if (e.kind === 'report') {
            const placed = h
              .tasks()
              .filter((t) => t.nodeId && (t.status?.state ?? 0) >= S.TASK_STATE_ASSIGNED);
            const t = pick(e.pick, placed);
            if (t && (t.status?.state ?? 0) < e.state) await h.report(t.id, e.state);
          }
        }
        await pass();
        watch.close();
      }),
      { numRuns: 300 },
    );
    // The property says something only if scoped passes ran, and decided things.
    expect(scopedPasses).toBeGreaterThan(300);
    expect(scopedDecisions).toBeGreaterThan(100);
  }, 120_000);
});
