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

/**
 * Each task's and status's JSON, kept per object (the agent replaces a task or status, never changes one in
 * place): a node's tasks change a few at a time while the file holds them all, and encoding every task at
 * every write was most of a simulated host's time.
 */
const taskJson = new WeakMap<Task, string>();
const statusJson = new WeakMap<TaskStatus, string>();

function cachedJson<T extends object>(cache: WeakMap<T, string>, o: T, toJSON: (o: T) => unknown): string {
  let j = cache.get(o);
  if (j === undefined) {
    j = JSON.stringify(toJSON(o));
    cache.set(o, j);
  }
  return j;
}

/** The file's text: `{"version":1,"tasks":[…],"statuses":{id: status, …}}`. */
function encodeState(state: AgentState): string {
  const tasks = state.tasks.map((t) => cachedJson(taskJson, t, Task.toJSON));
  const statuses: string[] = [];
  for (const [id, st] of state.statuses)
    statuses.push(`${JSON.stringify(id)}:${cachedJson(statusJson, st, TaskStatus.toJSON)}`);
  return `{"version":${STATE_FORMAT_VERSION},"tasks":[${tasks.join(',')}],"statuses":{${statuses.join(',')}}}`;
}

export class StateFile {
  private writing: Promise<void> = Promise.resolve();
  /** The state to write next, or how to get it when the write starts (queued saves then copy nothing). */
  private next: AgentState | (() => AgentState) | undefined;
  /** The directory was made (once, not at every write; made again after a write that found it gone). */
  private dirMade = false;
  private lastWriteEnd = 0;

  /**
   * `gapMs`: how long after a write the next may start. The changes of that time go out together in one write
   * (a busy node's statuses come by the dozen a second, and each write is a whole file with two fsyncs); the
   * file may lag the agent that long, which a restart covers: the executor finds its containers and the
   * managers send the assignments again.
   */
  constructor(
    readonly path: string,
    private readonly gapMs = 0,
  ) {}

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

  /**
   * Saves `state` (writes are serialized; when several are queued only the latest is written). A function
   * is called when its write starts, so a burst of changes costs one copy of the state, not one each.
   */
  save(state: AgentState | (() => AgentState)): Promise<void> {
    const pending = this.next !== undefined;
    this.next = state;
    if (pending) return this.writing;
    // (after a write that failed too: that one's caller was told; a later state must still be written)
    this.writing = this.writing
      .catch(() => {})
      .then(async () => {
        const wait = this.lastWriteEnd + this.gapMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const s = this.next;
        this.next = undefined;
        if (!s) return;
        try {
          await this.write(typeof s === 'function' ? s() : s);
        } finally {
          this.lastWriteEnd = Date.now();
        }
      });
    return this.writing;
  }

  private async write(state: AgentState): Promise<void> {
    const body = encodeState(state);
    const dir = dirname(this.path);
    if (!this.dirMade) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      this.dirMade = true;
    }
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
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.dirMade = false;
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
