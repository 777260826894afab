// Reads docker json-file logs written by the monitor: FILE, FILE.1 … FILE.(N-1) (oldest last),
// one {"log","stream","time"} object per line. Supports tail across rotated files and follow
// mode that survives rotation (it keeps reading the renamed file to its end, then the new one).
import { type FileHandle, open, readFile, stat } from 'node:fs/promises';
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

async function readLines(path: string): Promise<string[]> {
  try {
    const text = await readFile(path, 'utf8');
    const lines = text.split('\n');
    lines.pop(); // the piece after the last "\n": empty, or a line still being written
    return lines;
  } catch {
    return [];
  }
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
    const liveSize = live ? (await live.stat()).size : 0;
    const files = await logFiles(path, maxFiles);
    const entries: LogEntry[] = [];
    // Newest file first, until enough lines for the tail are collected.
    for (let i = files.length - 1; i >= 0 && entries.length < tail; i--) {
      let lines: string[];
      if (i === files.length - 1 && live) {
        const buf = Buffer.alloc(liveSize);
        if (liveSize > 0) await live.read(buf, 0, liveSize, 0);
        const end = buf.lastIndexOf(10) + 1; // only complete lines
        offset = end;
        lines = buf.subarray(0, end).toString('utf8').split('\n');
        lines.pop();
      } else lines = await readLines(files[i]);
      const parsed: LogEntry[] = [];
      for (const l of lines) {
        const e = parseLogLine(l);
        if (e && wanted(e, opts)) parsed.push(e);
      }
      entries.unshift(...parsed.slice(Math.max(0, parsed.length - (tail - entries.length))));
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
