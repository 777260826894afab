// Property tests of the rolling updater's slot guarantees, over random interleavings of orchestrator passes,
// worker events (a task started, a stop carried out, a running task failing), clock ticks and service updates:
// - stop-first: no slot ever has two tasks that may run (assigned … RUNNING) at once;
// - start-first: an orchestrator pass never leaves a slot without a running task when it had one;
// - either way, once the events stop, every slot runs the service's current image exactly once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState as S, UpdateFailureAction, UpdateOrder } from '../../proto/gen/shoal/swarm/v1/types.js';
import { node } from '../scheduler/testkit.js';
import { editService, imageOf } from './spec.js';
import { harness, seconds, service } from './testkit.js';

const NODES = ['a', 'b', 'c'];

type Cmd =
  | { kind: 'pass' }
  | { kind: 'start'; pick: number }
  | { kind: 'stop'; pick: number }
  | { kind: 'fail'; pick: number }
  | { kind: 'tick'; ms: number }
  | { kind: 'edit'; image: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'pass' as const }) },
  { weight: 3, arbitrary: fc.nat(20).map((pick) => ({ kind: 'start' as const, pick })) },
  { weight: 3, arbitrary: fc.nat(20).map((pick) => ({ kind: 'stop' as const, pick })) },
  { weight: 1, arbitrary: fc.nat(20).map((pick) => ({ kind: 'fail' as const, pick })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 6000 }).map((ms) => ({ kind: 'tick' as const, ms })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((image) => ({ kind: 'edit' as const, image })) },
);

const mayRun = (t: Task) =>
  t.nodeId !== '' &&
  (t.status?.state ?? 0) >= S.TASK_STATE_ASSIGNED &&
  (t.status?.state ?? 0) <= S.TASK_STATE_RUNNING;
const up = (t: Task) => t.desiredState === S.TASK_STATE_RUNNING && t.status?.state === S.TASK_STATE_RUNNING;

function bySlot(ts: readonly Task[]): Map<number, Task[]> {
  const m = new Map<number, Task[]>();
  for (const t of ts) m.set(t.slot, [...(m.get(t.slot) ?? []), t]);
  return m;
}

async function scenario(startFirst: boolean, replicas: number, parallelism: number, cmds: Cmd[]) {
  const h = harness();
  await h.put('node', ...NODES.map((n) => node(n)));
  await h.put(
    'service',
    service('s', 'web', {
      replicas,
      update: {
        parallelism,
        monitor: seconds(5),
        order: startFirst ? UpdateOrder.UPDATE_ORDER_START_FIRST : UpdateOrder.UPDATE_ORDER_STOP_FIRST,
        failureAction: UpdateFailureAction.UPDATE_FAILURE_ACTION_CONTINUE,
      },
    }),
  );
  await h.converge(NODES);
  let image = 1;
  const pick = (ts: Task[], i: number) => (ts.length ? ts[i % ts.length] : undefined);

  for (const c of cmds) {
    const before = bySlot(h.tasks('s'));
    switch (c.kind) {
      case 'pass':
        await h.step();
        break;
      case 'start': {
        const t = pick(
          h
            .tasks('s')
            .filter(
              (x) => x.desiredState === S.TASK_STATE_RUNNING && (x.status?.state ?? 0) < S.TASK_STATE_RUNNING,
            ),
          c.pick,
        );
        if (t) {
          await h.edit('task', t.id, (x) => {
            x.nodeId ||= NODES[c.pick % NODES.length];
          });
          await h.report(t.id, S.TASK_STATE_RUNNING);
        }
        break;
      }
      case 'stop': {
        const t = pick(
          h.tasks('s').filter((x) => x.desiredState > S.TASK_STATE_RUNNING && mayRun(x)),
          c.pick,
        );
        if (t) await h.report(t.id, S.TASK_STATE_SHUTDOWN);
        break;
      }
      case 'fail': {
        const t = pick(
          h.tasks('s').filter((x) => x.status?.state === S.TASK_STATE_RUNNING),
          c.pick,
        );
        if (t) await h.report(t.id, S.TASK_STATE_FAILED);
        break;
      }
      case 'tick':
        h.clock.now += c.ms;
        break;
      case 'edit':
        image = c.image;
        await h.edit('service', 's', (s) => {
          s.previousSpec = structuredClone(s.spec);
          editService(s, { image: `bb:${c.image}` });
          s.updateStatus = undefined; // what the control API does on every update
        });
        break;
    }
    const after = bySlot(h.tasks('s'));
    for (const [slot, ts] of after) {
      if (!startFirst) {
        const running = ts.filter(mayRun).map((t) => `${t.id} ${imageOf(t)} ${t.status?.state}`);
        expect(running.length, `slot ${slot} runs ${running.join(', ')} after ${c.kind}`).toBeLessThanOrEqual(
          1,
        );
      } else if (c.kind === 'pass' && (before.get(slot) ?? []).some(up)) {
        expect(ts.some(up), `slot ${slot} left without a running task by a pass`).toBe(true);
      }
    }
  }

  // Quiet: every slot ends up running the current image, once.
  for (let i = 0; i < 4; i++) {
    await h.converge(NODES);
    h.clock.now += 20_000;
  }
  await h.converge(NODES);
  const live = h.live('s');
  expect(live.map((t) => t.slot).sort()).toEqual(Array.from({ length: replicas }, (_, i) => i + 1));
  expect(live.every((t) => up(t) && imageOf(t) === `bb:${image}`)).toBe(true);
}

describe('rolling update slot guarantees (property)', () => {
  for (const startFirst of [false, true]) {
    it(`${startFirst ? 'start-first' : 'stop-first'}: ${startFirst ? 'never a slot left without a running task' : 'never two tasks running in a slot'}; converges once quiet`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 0, max: 3 }),
          fc.array(cmd, { maxLength: 40 }),
          (replicas, parallelism, cmds) => scenario(startFirst, replicas, parallelism, cmds),
        ),
        { numRuns: 60 },
      );
    }, 120_000);
  }
});
