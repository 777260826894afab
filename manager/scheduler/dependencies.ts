// depends_on (common/depends-on.ts): a pending task whose service names dependencies is not placed until each
// of them has a task that has started (STARTING or RUNNING), or a healthy one (RUNNING: a task with a health
// check is RUNNING only once a probe passed, worker/executor/health.ts). Swarm has no such thing (moby#40364);
// the wait is level-triggered like the rest of the scheduler, so it holds whatever order services arrive in.
// Pure: the store's services and tasks in, the reason a task must wait (or undefined) out.
import { DEPENDS_ON_LABEL, type Dependency, parseDependsOn } from '../../common/depends-on.js';
import { isShoalError } from '../../common/errors.js';
import type { Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';

interface Progress {
  started: boolean;
  healthy: boolean;
}

/**
 * Returns a function giving why a task must wait for its service's dependencies, or undefined. `tasksOf` gives
 * a service's tasks; it is asked only for services that others depend on.
 */
export function dependencyGate(
  services: readonly Service[],
  tasksOf: (serviceId: string) => readonly Task[],
): (t: Task) => string | undefined {
  const byName = new Map<string, Service>();
  const depsOf = new Map<string, Dependency[] | string>();
  for (const s of services) {
    if (s.pendingDelete) continue;
    byName.set(s.spec?.annotations?.name ?? '', s);
    const label = s.spec?.annotations?.labels?.[DEPENDS_ON_LABEL];
    if (label === undefined) continue;
    try {
      depsOf.set(s.id, parseDependsOn(label));
    } catch (err) {
      // The control API refuses such a label; one written before that check is reported, not obeyed.
      if (!isShoalError(err)) throw err;
      depsOf.set(s.id, err.message);
    }
  }
  if (depsOf.size === 0) return () => undefined;

  const progress = new Map<string, Progress>();
  const progressOf = (serviceId: string): Progress => {
    let p = progress.get(serviceId);
    if (p) return p;
    p = { started: false, healthy: false };
    for (const t of tasksOf(serviceId)) {
      if (t.desiredState > TaskState.TASK_STATE_RUNNING) continue;
      const state = t.status?.state ?? TaskState.TASK_STATE_NEW;
      if (state === TaskState.TASK_STATE_STARTING || state === TaskState.TASK_STATE_RUNNING) p.started = true;
      if (state === TaskState.TASK_STATE_RUNNING) p.healthy = true;
    }
    progress.set(serviceId, p);
    return p;
  };

  return (t) => {
    const deps = depsOf.get(t.serviceId);
    if (deps === undefined) return undefined;
    if (typeof deps === 'string') return `depends_on: ${deps}`;
    const waits: string[] = [];
    for (const d of deps) {
      const s = byName.get(d.service);
      if (!s) {
        waits.push(`${d.service} does not exist`);
        continue;
      }
      const p = progressOf(s.id);
      if (d.condition === 'healthy' && !p.healthy) waits.push(`${d.service} has no healthy task yet`);
      else if (d.condition === 'started' && !p.started) waits.push(`${d.service} has no running task yet`);
    }
    return waits.length ? `waiting for dependencies: ${waits.join('; ')}` : undefined;
  };
}
