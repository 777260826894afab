// The secrets and configs this node was sent, in memory only: never in the state file, never on disk. The
// dispatcher sends them with (before) the tasks that need them and drops them when no task here needs them.
// After a restart the set is empty until a session's COMPLETE fills it: a task that must be (re)created
// meanwhile waits for its secrets (`data`), bounded, then fails naming the missing one.
import {
  AssignmentAction,
  type Assignments,
  AssignmentsType,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';

export type DependencyKind = 'secret' | 'config';

/** How long a task waits for a secret or config not yet received (a restarted worker's first session). */
export const DEPENDENCY_WAIT_MS = 60_000;

export class Dependencies {
  private readonly items = new Map<string, Buffer>();
  private waiters = new Set<() => void>();

  /** Applies the secret and config changes of one assignment message (COMPLETE replaces the set). */
  apply(msg: Assignments): void {
    const complete = msg.type === AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE;
    if (complete) this.items.clear();
    for (const c of msg.changes) {
      const item = c.assignment?.item;
      if (item?.$case !== 'secret' && item?.$case !== 'config') continue;
      const key = `${item.$case}/${item.value.id}`;
      if (c.action === AssignmentAction.ASSIGNMENT_ACTION_REMOVE) this.items.delete(key);
      else this.items.set(key, Buffer.from(item.value.spec?.data ?? []));
    }
    const w = this.waiters;
    this.waiters = new Set();
    for (const wake of w) wake();
  }

  has(kind: DependencyKind, id: string): boolean {
    return this.items.has(`${kind}/${id}`);
  }

  /** Held ids, e.g. ["secret/abc"] (tests, diagnostics). */
  keys(): string[] {
    return [...this.items.keys()];
  }

  /** The data of a secret or config; waits for it (up to `waitMs`) when it has not come yet. */
  async data(
    kind: DependencyKind,
    id: string,
    signal?: AbortSignal,
    waitMs = DEPENDENCY_WAIT_MS,
  ): Promise<Buffer> {
    const key = `${kind}/${id}`;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const v = this.items.get(key);
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted)
        throw new Error(`${kind} ${id} is not available on this node (not received from a manager)`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal?.removeEventListener('abort', done);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        signal?.addEventListener('abort', done, { once: true });
        this.waiters.add(done);
      });
    }
  }
}
