// The orchestrator (with the scheduler) over random histories of a cluster: node changes, scaling, worker
// reports. Whatever happened, settling reaches a fixpoint where every service has what it asks for.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { RestartCondition, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { nodeReady } from '../scheduler/filters.js';
import { schedule } from '../scheduler/schedule.js';
import { node } from '../scheduler/testkit.js';
import { applyDecisions, isEmpty } from './decisions.js';
import { isLive, nodeLost } from './task.js';
import { arbitrary, harness, service } from './testkit.js';

const S = TaskState;

const arbEvent = fc.oneof(
  fc.record({ kind: fc.constant('orchestrate' as const) }),
  fc.record({ kind: fc.constant('schedule' as const) }),
  arbitrary.report,
  arbitrary.node,
  arbitrary.scale,
  arbitrary.time,
);

const arbWorld = fc.record({
  nodes: fc.integer({ min: 0, max: 4 }),
  replicas: fc.integer({ min: 0, max: 6 }),
  condition: arbitrary.condition,
  maxAttempts: fc.constantFrom(0, 1, 3),
  events: fc.array(arbEvent, { maxLength: 40 }),
});

describe('orchestrator properties', () => {
  it('settles to a fixpoint where every slot and node has what the services ask for', async () => {
    await fc.assert(
      fc.asyncProperty(arbWorld, async (w) => {
        const h = harness();
        const nodeIds = Array.from({ length: w.nodes }, (_, i) => `n${i}`);
        if (nodeIds.length) await h.put('node', ...nodeIds.map((id) => node(id)));
        const restart = { condition: w.condition, maxAttempts: w.maxAttempts };
        await h.put(
          'service',
          service('r', 'rep', { replicas: w.replicas, restart }),
          service('g', 'glob', { global: true, restart }),
        );
        const sched = async () => {
          await h.store.update((tx) => {
            for (const t of tx.list('task')) {
              if (t.status?.state === S.TASK_STATE_NEW && t.desiredState <= S.TASK_STATE_RUNNING) {
                tx.update('task', {
                  ...t,
                  status: { ...(t.status as NonNullable<Task['status']>), state: S.TASK_STATE_PENDING },
                });
              }
            }
          });
          const d = h.store.view((tx) => schedule(tx, h.clock.now));
          if (d.updates.length)
            await h.store.update((tx) => {
              for (const t of d.updates) tx.update('task', t);
            });
        };
        for (const e of w.events) {
          if (e.kind === 'orchestrate') await h.step();
          else if (e.kind === 'schedule') await sched();
          else if (e.kind === 'time') h.clock.now += e.ms;
          else if (e.kind === 'scale') {
            await h.edit('service', 'r', (s) => {
              s.spec!.mode = { $case: 'replicated', value: { replicas: e.replicas } };
            });
          } else if (e.kind === 'node' && nodeIds.length) {
            await h.edit('node', nodeIds[e.pick % nodeIds.length], (n) => {
              n.status!.state = e.state;
              n.spec!.availability = e.availability;
            });
          } else if (e.kind === 'report') {
            const placed = h
              .tasks()
              .filter((t) => t.nodeId && (t.status?.state ?? 0) >= S.TASK_STATE_ASSIGNED);
            const t = placed[e.pick % Math.max(1, placed.length)];
            if (t && (t.status?.state ?? 0) < e.state) await h.report(t.id, e.state);
          }
        }
        // Settle: orchestrate and schedule until nothing changes (time runs so restart delays end).
        let settled = false;
        for (let i = 0; i < 30 && !settled; i++) {
          const d = h.decide();
          if (!isEmpty(d)) await h.store.update((tx) => applyDecisions(tx, d));
          const before = h.store.appliedIndex;
          await sched();
          settled = isEmpty(d) && h.store.appliedIndex === before;
          h.clock.now += 60_000;
        }
        expect(settled).toBe(true);

        const nodes = new Map(h.store.view((tx) => tx.list('node')).map((n) => [n.id, n]));
        const replicas = (() => {
          const m = h.store.view((tx) => tx.get('service', 'r'))?.spec?.mode;
          return m?.$case === 'replicated' ? m.value.replicas : -1;
        })();
        // Replicated: `replicas` slots in use, each with at most one live task, none live on a lost node.
        const rep = h.tasks('r');
        const inUse = new Set(rep.filter((t) => t.desiredState < S.TASK_STATE_REMOVE).map((t) => t.slot));
        // (scale-down keeps the best-placed slots, not the lowest numbers, so only the count is fixed)
        expect(inUse.size).toBe(replicas);
        const liveRep = rep.filter(isLive);
        expect(new Set(liveRep.map((t) => t.slot)).size).toBe(liveRep.length);
        for (const t of liveRep) if (t.nodeId) expect(nodeLost(nodes.get(t.nodeId))).toBe(false);
        // A slot without a live task is one its restart policy gave up on.
        if (w.condition === RestartCondition.RESTART_CONDITION_ANY && w.maxAttempts === 0) {
          expect(liveRep).toHaveLength(replicas);
        }
        // Global: at most one live task per node, none on a lost node, one on every usable node unless given up.
        const glob = h.tasks('g').filter(isLive);
        expect(new Set(glob.map((t) => t.nodeId)).size).toBe(glob.length);
        for (const t of glob) expect(nodeLost(nodes.get(t.nodeId))).toBe(false);
        if (w.condition === RestartCondition.RESTART_CONDITION_ANY && w.maxAttempts === 0) {
          for (const n of nodes.values())
            if (nodeReady(n)) expect(glob.some((t) => t.nodeId === n.id)).toBe(true);
        }
        // History: at most 5 tasks per slot (or max_attempts+1) once settled, apart from copies still stopping.
        const limit = Math.max(5, w.maxAttempts + 1);
        for (const slot of inUse) {
          const held = rep.filter((t) => t.slot === slot && t.desiredState < S.TASK_STATE_REMOVE);
          const stopping = held.filter(
            (t) =>
              !isLive(t) &&
              (t.status?.state ?? 0) >= S.TASK_STATE_ASSIGNED &&
              (t.status?.state ?? 0) < S.TASK_STATE_COMPLETE &&
              !nodeLost(nodes.get(t.nodeId)),
          );
          expect(held.length - stopping.length).toBeLessThanOrEqual(limit);
        }
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
