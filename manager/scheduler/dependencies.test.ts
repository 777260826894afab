// depends_on in the scheduler: tasks of a service naming dependencies stay PENDING with the reason in err
// until each dependency has a started (or healthy) task; then they are placed like any other.
import { describe, expect, it } from 'vitest';
import { DEPENDS_ON_LABEL } from '../../common/depends-on.js';
import type { Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { service } from '../orchestrator/testkit.js';
import { dependencyGate } from './dependencies.js';
import { scheduleTasks } from './schedule.js';
import { node, running, task } from './testkit.js';

const NOW = 1_700_000_000_000;

const withDeps = (s: Service, deps: string): Service => ({
  ...s,
  spec: {
    ...s.spec!,
    annotations: { name: s.spec!.annotations!.name, labels: { [DEPENDS_ON_LABEL]: deps } },
  },
});

const run = (services: Service[], tasks: Task[]) =>
  scheduleTasks([node('a')], tasks, NOW, {
    waitFor: dependencyGate(services, (id) => tasks.filter((t) => t.serviceId === id)),
  }).updates;

describe('depends_on', () => {
  const web = withDeps(service('sw', 'app_web'), 'app_cache,app_db:healthy');
  const cache = service('sc', 'app_cache');
  const db = service('sd', 'app_db');

  it('holds a task while a dependency is missing or has no started/healthy task, naming each', () => {
    const t = task('w1', 'sw', 1);
    const [u] = run([web, cache], [t]);
    expect(u.status?.state).toBe(TaskState.TASK_STATE_PENDING);
    expect(u.status?.err).toBe(
      'waiting for dependencies: app_cache has no running task yet; app_db does not exist',
    );
    // db started but not yet healthy (STARTING), cache running: still waiting, for db only.
    const tasks = [
      t,
      running('c1', 'sc', 1, 'a'),
      running('d1', 'sd', 1, 'a', { state: TaskState.TASK_STATE_STARTING }),
    ];
    const [v] = run([web, cache, db], tasks);
    expect(v.status?.err).toBe('waiting for dependencies: app_db has no healthy task yet');
    // The same reason again is not rewritten (the loop settles).
    expect(run([web, cache, db], [{ ...t, status: v.status }, ...tasks.slice(1)])).toEqual([]);
  });

  it('places the task once every dependency is up; a task of a stopping dependency does not count', () => {
    const t = task('w1', 'sw', 1);
    const ok = run([web, cache, db], [t, running('c1', 'sc', 1, 'a'), running('d1', 'sd', 1, 'a')]);
    expect(ok[0]).toMatchObject({ id: 'w1', nodeId: 'a', status: { state: TaskState.TASK_STATE_ASSIGNED } });
    const stopping = running('c1', 'sc', 1, 'a', { desired: TaskState.TASK_STATE_SHUTDOWN });
    const held = run([web, cache, db], [t, stopping, running('d1', 'sd', 1, 'a')]);
    expect(held[0].status?.err).toBe('waiting for dependencies: app_cache has no running task yet');
  });

  it('services without the label are untouched; a bad label is reported, not obeyed', () => {
    expect(run([cache], [task('c1', 'sc', 1)])[0].nodeId).toBe('a');
    const bad = withDeps(service('sb', 'app_bad'), 'x:finished');
    expect(run([bad], [task('b1', 'sb', 1)])[0].status?.err).toMatch(
      /^depends_on: labels\.org\.shoal\.depends-on: "x:finished" is not SERVICE/,
    );
  });
});
