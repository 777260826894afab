import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLogs, readTailEntries, timeToSeconds } from './logs.js';
import type { LogEntry, LogOptions } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'shoal-logs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (log: string, stream: 'stdout' | 'stderr', sec: number) =>
  `${JSON.stringify({ log, stream, time: `2026-01-01T00:00:${String(sec).padStart(2, '0')}.123456789Z` })}\n`;

async function collect(it: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.stream}:${e.line.toString()}`);
  return out;
}

function setup(name: string): string {
  const p = join(dir, name);
  writeFileSync(`${p}.2`, line('a\n', 'stdout', 1) + line('b\n', 'stderr', 2));
  writeFileSync(`${p}.1`, line('c\n', 'stdout', 3));
  writeFileSync(p, line('d\n', 'stdout', 4) + line('e\n', 'stderr', 5) + '{"log":"torn');
  return p;
}

describe('readLogs', () => {
  it('reads rotated files oldest first and skips a torn last line', async () => {
    const p = setup('all');
    expect(await collect(readLogs(p, 3, {}))).toEqual([
      'stdout:a\n',
      'stderr:b\n',
      'stdout:c\n',
      'stdout:d\n',
      'stderr:e\n',
    ]);
  });
  it('tails across files and filters streams', async () => {
    const p = setup('tail');
    const read = (o: LogOptions) => collect(readLogs(p, 3, o));
    expect(await read({ tail: 3 })).toEqual(['stdout:c\n', 'stdout:d\n', 'stderr:e\n']);
    expect(await read({ tail: 0 })).toEqual([]);
    expect(await read({ tail: 2, stderr: false })).toEqual(['stdout:c\n', 'stdout:d\n']);
    expect(await read({ stdout: false })).toEqual(['stderr:b\n', 'stderr:e\n']);
    expect(
      await read({
        since: timeToSeconds('2026-01-01T00:00:03Z'),
        until: timeToSeconds('2026-01-01T00:00:04.5Z'),
      }),
    ).toEqual(['stdout:c\n', 'stdout:d\n']);
  });
  it('follows appends and a rotation until the container stops', async () => {
    const p = join(dir, 'follow');
    writeFileSync(p, line('1\n', 'stdout', 1));
    let running = true;
    let exit!: () => void;
    const exited = new Promise<void>((r) => {
      exit = r;
    });
    const got: string[] = [];
    const done = (async () => {
      for await (const e of readLogs(
        p,
        3,
        { follow: true },
        { isRunning: () => running, exited: () => exited, pollMs: 5 },
      ))
        got.push(e.line.toString());
    })();
    const until = async (n: number) => {
      while (got.length < n) await new Promise((r) => setTimeout(r, 5));
    };
    await until(1);
    appendFileSync(p, line('2\n', 'stdout', 2));
    await until(2);
    // Rotation as the monitor does it: rename, then a new file; a last line lands in the old one first.
    appendFileSync(p, line('3\n', 'stdout', 3));
    renameSync(p, `${p}.1`);
    writeFileSync(p, line('4\n', 'stderr', 4));
    await until(4);
    running = false;
    appendFileSync(p, line('5\n', 'stdout', 5));
    exit();
    await done;
    expect(got).toEqual(['1\n', '2\n', '3\n', '4\n', '5\n']);
  });
  it('stops following when aborted', async () => {
    const p = setup('abort');
    const ac = new AbortController();
    const it = readLogs(
      p,
      3,
      { follow: true, tail: 1, signal: ac.signal },
      { isRunning: () => true, exited: () => new Promise(() => {}) },
    );
    const got: string[] = [];
    setTimeout(() => ac.abort(), 30);
    for await (const e of it) got.push(e.line.toString());
    expect(got).toEqual(['e\n']);
  });
  it('tails a file bigger than its read chunk exactly as a forward read would', async () => {
    const p = join(dir, 'big');
    let text = '';
    for (let i = 0; i < 5000; i++)
      text += line(`${'x'.repeat(i % 97)} ${i}\n`, i % 3 ? 'stdout' : 'stderr', i % 60);
    writeFileSync(p, text + '{"log":"partial');
    const forward = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.stream === 'stdout')
      .map((e) => e.log);
    for (const tail of [0, 1, 7, 1234, 4999, 10000]) {
      const got = (await collect(readLogs(p, 1, { tail, stderr: false }))).map((x) =>
        x.slice('stdout:'.length),
      );
      expect(got, `tail ${tail}`).toEqual(forward.slice(Math.max(0, forward.length - tail)));
    }
    const fh = await open(p, 'r');
    try {
      const { completeEnd } = await readTailEntries(fh, (await fh.stat()).size, 1, {});
      expect(completeEnd).toBe(Buffer.byteLength(text));
    } finally {
      await fh.close();
    }
  });
  it('parses RFC3339Nano times', () => {
    expect(timeToSeconds('1970-01-01T00:00:01.5Z')).toBe(1.5);
    expect(timeToSeconds('1970-01-01T01:00:00+01:00')).toBe(0);
    expect(Number.isNaN(timeToSeconds('yesterday'))).toBe(true);
  });
});
