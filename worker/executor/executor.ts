// The worker's executor: one TaskController per task, fan-out of their status reports, and the
// restore of tasks from the containers they left (found by swarm's labels) after a worker restart.
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import { TaskController } from './controller.js';
import { LABEL } from './spec-map.js';
import { isTerminal, TaskState } from './task-state.js';
import {
  type Clock,
  type ContainerInfo,
  type DataPort,
  type EnginePort,
  type ImagePort,
  realClock,
  type StatusListener,
  type StatusReport,
  type TaskExecutor,
} from './types.js';

export interface ExecutorOptions {
  engine: EnginePort;
  images: ImagePort;
  /** The node's secrets and configs (the agent's Dependencies). */
  data?: DataPort;
  clock?: Clock;
  log?: (message: string) => void;
}

export class Executor implements TaskExecutor {
  private readonly controllers = new Map<string, TaskController>();
  private readonly listeners = new Set<StatusListener>();
  private readonly clock: Clock;

  constructor(private readonly opts: ExecutorOptions) {
    this.clock = opts.clock ?? realClock;
  }

  run(task: Task): void {
    const known = this.controllers.get(task.id);
    if (known) {
      known.update(task);
      return;
    }
    this.controllers.set(task.id, this.controllerFor(task, this.containerOf(task.id)));
  }

  update(task: Task): void {
    this.run(task);
  }

  async shutdown(taskId: string): Promise<void> {
    const c = this.controllers.get(taskId);
    if (!c) return;
    if (!isTerminal(c.state)) c.desire(TaskState.TASK_STATE_SHUTDOWN);
    await c.done;
  }

  async remove(taskId: string): Promise<void> {
    await this.shutdown(taskId);
    const c = this.controllers.get(taskId);
    const id = c?.container || this.containerOf(taskId)?.id;
    if (id) await this.opts.engine.remove(id);
    this.controllers.delete(taskId);
  }

  status(taskId: string): TaskStatus | undefined {
    return this.controllers.get(taskId)?.status;
  }

  list(): { taskId: string; status: TaskStatus }[] {
    return [...this.controllers.values()].map((c) => ({ taskId: c.taskId, status: c.status }));
  }

  async restore(known: Task[] = []): Promise<StatusReport[]> {
    const found: StatusReport[] = [];
    const byId = new Map(known.map((t) => [t.id, t]));
    for (const info of this.opts.engine.list()) {
      const taskId = info.labels[LABEL.taskId];
      if (!taskId || this.controllers.has(taskId)) continue;
      // Without the agent's copy, the task keeps the state its container is in until it says more.
      const desired = info.status === 'created' ? TaskState.TASK_STATE_READY : TaskState.TASK_STATE_RUNNING;
      const task =
        byId.get(taskId) ??
        Task.fromPartial({
          id: taskId,
          serviceId: info.labels[LABEL.serviceId] ?? '',
          nodeId: info.labels[LABEL.nodeId] ?? '',
          annotations: { name: info.labels[LABEL.taskName] ?? '' },
          serviceAnnotations: { name: info.labels[LABEL.serviceName] ?? '' },
          desiredState: desired,
        });
      const c = this.controllerFor(task, info);
      this.controllers.set(taskId, c);
      found.push({ taskId, status: c.status });
    }
    return found;
  }

  onStatus(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const c of this.controllers.values()) c.close();
    await Promise.all([...this.controllers.values()].map((c) => c.done));
  }

  // ----------------------------------------------------------------

  private controllerFor(task: Task, adopted: ContainerInfo | undefined): TaskController {
    return new TaskController(
      task,
      {
        engine: this.opts.engine,
        images: this.opts.images,
        data: this.opts.data,
        clock: this.clock,
        log: this.opts.log,
        report: (status) => {
          for (const l of this.listeners) {
            try {
              l({ taskId: task.id, status });
            } catch (e) {
              this.opts.log?.(`status listener: ${(e as Error).message}`);
            }
          }
        },
      },
      adopted,
    );
  }

  /** The container made for a task, if any (a restart that skipped restore, or a replayed assignment). */
  private containerOf(taskId: string): ContainerInfo | undefined {
    return this.opts.engine.list().find((c) => c.labels[LABEL.taskId] === taskId);
  }
}
