// Test double for the agent's tests: an in-memory executor that records what it
// was asked (the executor is the agent's port, not the thing under test).
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, type TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { Executor, TaskStatusReport } from './executor-port.js';

export type ExecutorCall = ['run' | 'update', string, TaskState] | ['shutdown' | 'remove', string];

/**
 * Records calls; `report` plays the engine saying what a task's container did. Like the real executor, a
 * task run or updated with desired state SHUTDOWN or beyond is reported SHUTDOWN.
 */
export class RecordingExecutor implements Executor {
  readonly calls: ExecutorCall[] = [];
  readonly running = new Set<string>();
  readonly containers = new Set<string>();
  private readonly stopped = new Set<string>();
  private listener: ((r: TaskStatusReport) => void) | undefined;

  run(task: Task): void {
    this.calls.push(['run', task.id, task.desiredState]);
    this.containers.add(task.id);
    this.drive(task);
  }
  update(task: Task): void {
    this.calls.push(['update', task.id, task.desiredState]);
    this.drive(task);
  }
  shutdown(taskId: string): void {
    this.calls.push(['shutdown', taskId]);
  }
  remove(taskId: string): void {
    this.calls.push(['remove', taskId]);
    this.running.delete(taskId);
    this.containers.delete(taskId);
  }
  onStatus(listener: (r: TaskStatusReport) => void): void {
    this.listener = listener;
  }
  /** Tasks with a container (run and not removed), as the real executor lists them. */
  list(): { taskId: string }[] {
    return [...this.containers].map((taskId) => ({ taskId }));
  }
  report(taskId: string, state: TaskState, message = ''): void {
    const status: TaskStatus = {
      state,
      timestamp: Date.now(),
      message,
      err: '',
      containerStatus: undefined,
      portStatus: undefined,
    };
    this.listener?.({ taskId, status });
  }
  private drive(task: Task): void {
    if (task.desiredState < TaskState.TASK_STATE_SHUTDOWN) {
      this.running.add(task.id);
      return;
    }
    this.running.delete(task.id);
    if (this.stopped.has(task.id)) return;
    this.stopped.add(task.id);
    this.report(task.id, TaskState.TASK_STATE_SHUTDOWN);
  }
}
