// The agent's assignments on disk, so a restarted shoald knows its tasks (keeps them running, reports them)
// before any manager answers. Two files, written in turn (`agent-tasks.json` and `agent-tasks.json.alt`),
// each a header line (a sequence number and the body's SHA-256) and the JSON: a write overwrites the older
// copy in place and syncs it, so a crash damages at most the copy being written and load takes the newest
// intact one. No temporary file and no rename: on a file system without a journal ext4 scans past every
// inode freed in the last seconds to find a free one, and a node rewriting its file twice a second made each
// write's create cost milliseconds of kernel time (a thousand simulated nodes: a fifth of their CPU).
// A file written before (plain JSON, no header) is read as sequence 0.
import { createHash } from 'node:crypto';
import { constants, fstatSync } from 'node:fs';
import { type FileHandle, mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ShoalError } from '../../common/errors.js';
import { syncDir } from '../../common/sync-dir.js';
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
 * Each task's and status's JSON as UTF-8 bytes, kept per object (the agent replaces a task or status, never
 * changes one in place): a node's tasks change a few at a time while the file holds them all, and encoding
 * every task at every write, then the whole text again into bytes, was most of a simulated host's time.
 */
const taskJson = new WeakMap<Task, Buffer>();
/** A status's bytes with the id it was filed under (`"id":{…}`), for that id. */
const statusJson = new WeakMap<TaskStatus, { id: string; bytes: Buffer }>();

const taskBytes = (t: Task): Buffer => {
  let b = taskJson.get(t);
  if (b === undefined) {
    b = Buffer.from(JSON.stringify(Task.toJSON(t)));
    taskJson.set(t, b);
  }
  return b;
};

const statusBytes = (id: string, st: TaskStatus): Buffer => {
  const kept = statusJson.get(st);
  if (kept?.id === id) return kept.bytes;
  const bytes = Buffer.from(`${JSON.stringify(id)}:${JSON.stringify(TaskStatus.toJSON(st))}`);
  statusJson.set(st, { id, bytes });
  return bytes;
};

const COMMA = Buffer.from(',');
const OPEN = Buffer.from(`{"version":${STATE_FORMAT_VERSION},"tasks":[`);
const BETWEEN = Buffer.from('],"statuses":{');
const CLOSE = Buffer.from('}}');

/**
 * The file's body, `{"version":1,"tasks":[…],"statuses":{id: status, …}}`, as the kept bytes of its parts
 * (written with one writev and hashed part by part: joining them was a copy of the whole file per write).
 */
function encodeState(state: AgentState): Buffer[] {
  const parts: Buffer[] = [OPEN];
  state.tasks.forEach((t, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(taskBytes(t));
  });
  parts.push(BETWEEN);
  let first = true;
  for (const [id, st] of state.statuses) {
    if (!first) parts.push(COMMA);
    first = false;
    parts.push(statusBytes(id, st));
  }
  parts.push(CLOSE);
  return parts;
}

/** Open copies are closed after this long without a write (a busy node writes twice a second). */
const IDLE_CLOSE_MS = 5_000;

const HEADER = '#shoal-agent-state';

/** One copy as read: its sequence number and state, or why it cannot be used. */
type Copy = { seq: number; state: AgentState } | { error: ShoalError };

export class StateFile {
  private writing: Promise<void> = Promise.resolve();
  /** The state to write next, or how to get it when the write starts (queued saves then copy nothing). */
  private next: AgentState | (() => AgentState) | undefined;
  /** The directory was made (once, not at every write; made again after a write that found it gone). */
  private dirMade = false;
  private lastWriteEnd = 0;
  /** Which copy (0, 1) holds the newest state, and its sequence number; undefined until looked at. */
  private newest: { slot: number; seq: number } | undefined;
  /** The copies known to exist with their directory entry synced (a new file's entry is synced once). */
  private readonly synced = [false, false];
  /** Each copy's length as this process last wrote it (unknown before: cut at the first write). */
  private readonly lengths: (number | undefined)[] = [undefined, undefined];
  /**
   * The copies, kept open between writes while the node is busy: an open and a close per write were a
   * third of a simulated host's state-file time. Closed after IDLE_CLOSE_MS (or two gaps) without a write,
   * and by close().
   */
  private readonly handles: (FileHandle | undefined)[] = [undefined, undefined];
  private idleTimer: NodeJS.Timeout | undefined;
  private busy = false;

  /**
   * `gapMs`: how long after a write the next may start. The changes of that time go out together in one write
   * (a busy node's statuses come by the dozen a second, and each write is a whole file with an fsync); the
   * file may lag the agent that long, which a restart covers: the executor finds its containers and the
   * managers send the assignments again.
   */
  constructor(
    readonly path: string,
    private readonly gapMs = 0,
  ) {}

  /** The two copies' paths. */
  get paths(): [string, string] {
    return [this.path, `${this.path}.alt`];
  }

  /** The saved state; empty when there is no file yet. No intact copy among those present is an error. */
  async load(): Promise<AgentState> {
    const copies = await Promise.all(this.paths.map((p) => this.read(p)));
    let best: { slot: number; seq: number; state: AgentState } | undefined;
    for (const [slot, c] of copies.entries())
      if (c && 'state' in c && (!best || c.seq > best.seq)) best = { slot, ...c };
    if (best) {
      this.newest = { slot: best.slot, seq: best.seq };
      return best.state;
    }
    const failed = copies.find((c) => c && 'error' in c) as { error: ShoalError } | undefined;
    if (failed) throw failed.error;
    this.newest = undefined;
    return emptyState();
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

  /** Waits for the write under way and closes the copies (a later save opens them again). */
  async close(): Promise<void> {
    await this.writing.catch(() => {});
    await this.closeHandles();
  }

  private async closeHandles(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const open = this.handles.splice(0, 2, undefined, undefined);
    await Promise.all(open.map((h) => h?.close().catch(() => {})));
  }

  /**
   * The copy open for writing: the one kept, unless its file was removed meanwhile (its directory taken
   * away: a write there would be lost), then opened again by name.
   */
  private async handle(slot: number): Promise<FileHandle> {
    const kept = this.handles[slot];
    if (kept) {
      if (fstatSync(kept.fd).nlink > 0) return kept;
      // (the write's failure path closes the copies and forgets what it knew of the directory)
      throw Object.assign(new Error(`agent state file ${this.paths[slot]} was removed`), { code: 'ENOENT' });
    }
    const h = await open(this.paths[slot] as string, constants.O_WRONLY | constants.O_CREAT, 0o600);
    this.handles[slot] = h;
    return h;
  }

  /** One copy: undefined when it does not exist. */
  private async read(path: string): Promise<Copy | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const bad = (problem: string, cause?: unknown) => ({
      error: new ShoalError('invalid_argument', `agent state file ${path}: ${problem}`, {
        field: 'path',
        cause,
      }),
    });
    let seq = 0;
    let body = text;
    if (text.startsWith(HEADER)) {
      const nl = text.indexOf('\n');
      const m = /^#shoal-agent-state seq=(\d+) sha256=([0-9a-f]{64})$/.exec(text.slice(0, nl));
      if (nl < 0 || !m) return bad('has a damaged header');
      body = text.slice(nl + 1);
      if (createHash('sha256').update(body).digest('hex') !== m[2])
        return bad('is damaged (its checksum does not match: a write was cut short)');
      seq = Number(m[1]);
    }
    let raw: { version?: unknown; tasks?: unknown; statuses?: unknown };
    try {
      raw = JSON.parse(body);
    } catch (err) {
      return bad('is not JSON', err);
    }
    if (raw?.version !== STATE_FORMAT_VERSION)
      return bad(`format version ${String(raw?.version)} is not ${STATE_FORMAT_VERSION}`);
    if (!Array.isArray(raw.tasks)) return bad('has no task list');
    const tasks = raw.tasks.map((t) => Task.fromJSON(t));
    if (tasks.some((t) => !t.id)) return bad('holds a task without an id');
    const statuses = new Map<string, TaskStatus>();
    for (const [id, s] of Object.entries((raw.statuses ?? {}) as Record<string, unknown>))
      statuses.set(id, TaskStatus.fromJSON(s));
    return { seq, state: { tasks, statuses } };
  }

  private async write(state: AgentState): Promise<void> {
    this.busy = true;
    try {
      await this.writeCopy(state);
    } finally {
      this.busy = false;
    }
    clearTimeout(this.idleTimer);
    // (never as soon as the next write may come: a node writing every gap would open its copies each time)
    this.idleTimer = setTimeout(
      () => {
        if (!this.busy) void this.closeHandles();
      },
      Math.max(IDLE_CLOSE_MS, 2 * this.gapMs),
    );
    this.idleTimer.unref();
  }

  private async writeCopy(state: AgentState): Promise<void> {
    const parts = encodeState(state);
    const dir = dirname(this.path);
    if (!this.dirMade) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      this.dirMade = true;
    }
    // Never over the newest intact copy: a save before any load looks first.
    if (!this.newest) await this.load().catch(() => {});
    const slot = this.newest ? 1 - this.newest.slot : 0;
    const seq = (this.newest?.seq ?? 0) + 1;
    const hash = createHash('sha256');
    let length = 0;
    for (const p of parts) {
      hash.update(p);
      length += p.length;
    }
    const sum = hash.digest('hex');
    try {
      // Written over in place and then cut to length, not truncated first: truncating freed every block of
      // the copy at each write and the write allocated them again. A crash before the cut leaves the old
      // tail behind the new body, which the checksum then refuses, as it refuses any torn copy.
      const f = await this.handle(slot);
      const head = Buffer.from(`${HEADER} seq=${seq} sha256=${sum}\n`);
      const before = this.lengths[slot];
      this.lengths[slot] = undefined; // unknown until this write is whole
      const { bytesWritten } = await f.writev([head, ...parts], 0);
      if (bytesWritten !== head.length + length)
        throw new ShoalError('internal', `agent state file ${this.paths[slot]}: short write`);
      // Only a shorter copy has a tail to cut (a node's file mostly grows while its tasks start).
      if (before === undefined || bytesWritten < before) await f.truncate(bytesWritten);
      this.lengths[slot] = bytesWritten;
      await f.datasync();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.dirMade = false;
        this.synced.fill(false);
        this.lengths.fill(undefined);
      }
      await this.closeHandles(); // opened again by name at the next write
      throw err;
    }
    // A copy made just now is found after a crash only once its directory entry is on disk.
    if (!this.synced[slot]) {
      await syncDir(dir);
      this.synced[slot] = true;
    }
    this.newest = { slot, seq };
  }
}
