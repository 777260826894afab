// Reads docker json-file logs written by the monitor: FILE, FILE.1 … FILE.(N-1) (oldest last),
// one {"log","stream","time"} object per line. Supports tail across rotated files and follow
// mode that survives rotation (it keeps reading the renamed file to its end, then the new one).
import { type FileHandle, open, stat } from 'node:fs/promises';
import type { LogEntry, LogOptions } from './types.js';

interface RawEntry {
  log: string;
  stream: string;
  time: string;
}

/** Seconds since the epoch of an RFC3339Nano time, with sub-millisecond precision kept. */
export function timeToSeconds(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!m) return Number.NaN;
  const whole = Date.parse(`${m[1]}${m[3]}`) / 1000;
  return whole + (m[2] ? Number(`0.${m[2]}`) : 0);
}

export function parseLogLine(line: string): LogEntry | undefined {
  let raw: RawEntry;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined; // a torn line (crash mid-write) is skipped, as docker does
  }
  if (typeof raw.log !== 'string' || (raw.stream !== 'stdout' && raw.stream !== 'stderr')) return undefined;
  return { stream: raw.stream, time: String(raw.time), line: Buffer.from(raw.log, 'utf8') };
}

function wanted(e: LogEntry, opts: LogOptions): boolean {
  if (e.stream === 'stdout' && opts.stdout === false) return false;
  if (e.stream === 'stderr' && opts.stderr === false) return false;
  if (opts.since !== undefined || opts.until !== undefined) {
    const t = timeToSeconds(e.time);
    if (opts.since !== undefined && t < opts.since) return false;
    if (opts.until !== undefined && t > opts.until) return false;
  }
  return true;
}

/** Rotated files that exist, oldest first, then the live file. */
export async function logFiles(path: string, maxFiles: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = Math.max(maxFiles, 1) + 4; i >= 1; i--) {
    try {
      await stat(`${path}.${i}`);
      out.push(`${path}.${i}`);
    } catch {}
  }
  out.push(path);
  return out;
}

const CHUNK = 64 * 1024;

/**
 * The last `want` wanted entries of a log file, reading backwards in chunks so a tail of a big
 * file costs what it returns. `completeEnd` is the offset just past the last complete line
 * (a line still being written at the end is left for the follower).
 */
export async function readTailEntries(
  fh: FileHandle,
  size: number,
  want: number,
  opts: LogOptions,
): Promise<{ entries: LogEntry[]; completeEnd: number }> {
  const out: LogEntry[] = [];
  let pos = size;
  let carry = Buffer.alloc(0); // bytes of lines that begin before `pos`
  let completeEnd = -1;
  const take = (line: Buffer) => {
    const e = parseLogLine(line.toString('utf8'));
    if (e && wanted(e, opts)) out.push(e);
  };
  while (pos > 0 && out.length < want) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, pos);
    const data = carry.length ? Buffer.concat([buf, carry]) : buf;
    let end = data.length;
    if (completeEnd < 0) {
      const nl = data.lastIndexOf(10);
      if (nl < 0) {
        carry = data;
        continue;
      }
      completeEnd = pos + nl + 1;
      end = nl;
    }
    // Lines wholly inside `data` end at `end`; the piece before the first "\n" may start earlier.
    while (end > 0 && out.length < want) {
      const nl = data.lastIndexOf(10, end - 1);
      if (nl < 0) break;
      take(data.subarray(nl + 1, end));
      end = nl;
    }
    carry = data.subarray(0, end);
  }
  if (pos === 0 && completeEnd >= 0 && out.length < want && carry.length > 0) take(carry);
  return { entries: out.reverse(), completeEnd: Math.max(completeEnd, 0) };
}

export interface FollowControl {
  /** True while more output may come (the container is running or created). */
  isRunning: () => boolean;
  /** Resolves when the container exits (or soon after), to stop waiting early. */
  exited: () => Promise<unknown>;
  pollMs?: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Yields log entries: the existing ones (limited by tail), then, with follow, new ones until
 * the container stops and the file is drained, or opts.signal aborts.
 */
export async function* readLogs(
  path: string,
  maxFiles: number,
  opts: LogOptions,
  follow?: FollowControl,
): AsyncGenerator<LogEntry> {
  const tail =
    opts.tail === undefined || opts.tail === 'all' ? Number.POSITIVE_INFINITY : Math.max(0, opts.tail);

  // Remember where the live file ended so following continues exactly after what we yielded.
  let live: FileHandle | undefined;
  let offset = 0;
  if (opts.follow && follow) {
    try {
      live = await open(path, 'r');
    } catch {}
  }
  try {
    const files = await logFiles(path, maxFiles);
    const entries: LogEntry[] = [];
    // Newest file first, read backwards, until enough lines for the tail are collected.
    for (let i = files.length - 1; i >= 0 && entries.length < tail; i--) {
      const isLive = i === files.length - 1 && live !== undefined;
      let fh: FileHandle;
      try {
        fh = isLive ? live! : await open(files[i], 'r');
      } catch {
        continue; // rotated away meanwhile
      }
      try {
        const { size } = await fh.stat();
        const r = await readTailEntries(fh, size, tail - entries.length, opts);
        if (isLive) offset = r.completeEnd; // following continues right after the last complete line
        entries.unshift(...r.entries);
      } finally {
        if (!isLive) await fh.close();
      }
    }
    for (const e of entries) yield e;
    if (!live || !follow) return;

    // Follow: read appended bytes; on rotation finish the old file, then switch to the new one.
    let pending = Buffer.alloc(0);
    const pollMs = follow.pollMs ?? 50;
    let exited = false;
    follow.exited().then(
      () => {
        exited = true;
      },
      () => {
        exited = true;
      },
    );
    for (;;) {
      if (opts.signal?.aborted) return;
      const { size } = await live.stat();
      if (size > offset) {
        const buf = Buffer.alloc(size - offset);
        const { bytesRead } = await live.read(buf, 0, buf.length, offset);
        offset += bytesRead;
        pending = Buffer.concat([pending, buf.subarray(0, bytesRead)]);
        let nl = pending.indexOf(10);
        while (nl >= 0) {
          const e = parseLogLine(pending.subarray(0, nl).toString('utf8'));
          pending = pending.subarray(nl + 1);
          if (e && wanted(e, opts)) yield e;
          nl = pending.indexOf(10);
        }
        continue;
      }
      // Drained our file: has it been rotated away?
      let rotated = false;
      try {
        const cur = await stat(path);
        rotated = cur.ino !== (await live.stat()).ino;
      } catch {
        rotated = false; // mid-rotation: the new file does not exist yet
      }
      if (rotated) {
        // Lines may have landed in the old file after our last read and before the rename: drain it first.
        if ((await live.stat()).size > offset) continue;
        await live.close();
        live = await open(path, 'r');
        offset = 0;
        pending = Buffer.alloc(0);
        continue;
      }
      const running = follow.isRunning() && !exited;
      if (!running) {
        // One more pass after exit so the monitor's last writes are not lost.
        const { size: last } = await live.stat();
        if (last > offset) continue;
        return;
      }
      await sleep(pollMs, opts.signal);
    }
  } finally {
    await live?.close();
  }
}
