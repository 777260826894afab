// The agent's assignments on disk, so a restarted shoald knows its tasks (keeps them running, reports them)
// before any manager answers. One JSON file, replaced atomically (write a temporary file, fsync, rename,
// fsync the directory): a crash leaves the old file or the new one, never a mix.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ShoalError } from '../../common/errors.js';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';

export const STATE_FORMAT_VERSION = 1;

export interface AgentState {
  /** The tasks assigned to this node at the last change. */
  tasks: Task[];
  /** The last status observed per task (re-sent after a restart until acknowledged). */
  statuses: Map<string, TaskStatus>;
}

export const emptyState = (): AgentState => ({ tasks: [], statuses: new Map() });

/**
 * The saved tasks, each with the last status this node observed when that is further on than the copy the
 * managers sent (which is as old as the last assignment change): the executor resumes a task from where it
 * was, so a container it had stopped on request is not taken for a failure, nor a finished task run again.
 */
export function resumable(state: AgentState): Task[] {
  return state.tasks.map((t) => {
    const seen = state.statuses.get(t.id);
    return seen && seen.state >= (t.status?.state ?? 0) ? { ...t, status: seen } : t;
  });
}

export class StateFile {
  private writing: Promise<void> = Promise.resolve();
  private next: AgentState | undefined;

  constructor(readonly path: string) {}

  /** The saved state; empty when there is no file yet. A file that cannot be read as one is an error. */
  async load(): Promise<AgentState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw err;
    }
    const bad = (problem: string, cause?: unknown) =>
      new ShoalError('invalid_argument', `agent state file ${this.path}: ${problem}`, {
        field: 'path',
        cause,
      });
    let raw: { version?: unknown; tasks?: unknown; statuses?: unknown };
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw bad('is not JSON', err);
    }
    if (raw?.version !== STATE_FORMAT_VERSION)
      throw bad(`format version ${String(raw?.version)} is not ${STATE_FORMAT_VERSION}`);
    if (!Array.isArray(raw.tasks)) throw bad('has no task list');
    const tasks = raw.tasks.map((t) => Task.fromJSON(t));
    if (tasks.some((t) => !t.id)) throw bad('holds a task without an id');
    const statuses = new Map<string, TaskStatus>();
    for (const [id, s] of Object.entries((raw.statuses ?? {}) as Record<string, unknown>))
      statuses.set(id, TaskStatus.fromJSON(s));
    return { tasks, statuses };
  }

  /** Saves `state` (writes are serialized; when several are queued only the latest is written). */
  save(state: AgentState): Promise<void> {
    const pending = this.next !== undefined;
    this.next = state;
    if (pending) return this.writing;
    // (after a write that failed too: that one's caller was told; a later state must still be written)
    this.writing = this.writing
      .catch(() => {})
      .then(async () => {
        const s = this.next;
        this.next = undefined;
        if (s) await this.write(s);
      });
    return this.writing;
  }

  private async write(state: AgentState): Promise<void> {
    const body = JSON.stringify({
      version: STATE_FORMAT_VERSION,
      tasks: state.tasks.map((t) => Task.toJSON(t)),
      statuses: Object.fromEntries([...state.statuses].map(([id, s]) => [id, TaskStatus.toJSON(s)])),
    });
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      const f = await open(tmp, 'w', 0o600);
      try {
        await f.writeFile(body);
        await f.sync();
      } finally {
        await f.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}
