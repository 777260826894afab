import { execFileSync } from 'node:child_process';
import { promises as fs, constants as fsConstants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { sha256Of } from '../../common/digest.js';
import { alignedBuffer } from '../engine/native.js';
import { BlobStore, type BlobWriter } from './blobstore.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-blobs-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

it('stores content under its sha256 and reads it back', async () => {
  const s = new BlobStore(tmp);
  await s.init();
  const d = await s.ingest(chunks('hello ', 'world'), sha256Of('hello world'), 11);
  expect(d).toBe(sha256Of('hello world'));
  expect((await s.read(d)).toString()).toBe('hello world');
  expect(await s.list()).toEqual([d]);
});

it('a wrong digest or size leaves no blob and no temp file', async () => {
  const s = new BlobStore(tmp);
  await s.init();
  await expect(s.ingest(chunks('abc'), sha256Of('abd'))).rejects.toThrow(
    `blob: digest mismatch: expected ${sha256Of('abd')}, got ${sha256Of('abc')}`,
  );
  await expect(s.ingest(chunks('ab'), sha256Of('abc'), 3)).rejects.toThrow(
    /size mismatch: expected 3 bytes, got 2 \(truncated\)/,
  );
  expect(await s.list()).toEqual([]);
  expect(await fs.readdir(s.tmpDir)).toEqual([]);
});

it('a source failing mid-stream leaves nothing', async () => {
  const s = new BlobStore(tmp);
  await s.init();
  async function* broken(): AsyncGenerator<Buffer> {
    yield Buffer.from('part');
    throw new Error('connection reset');
  }
  await expect(s.ingest(broken())).rejects.toThrow('connection reset');
  expect(await s.list()).toEqual([]);
  expect(await fs.readdir(s.tmpDir)).toEqual([]);
});

it('temp files of a crashed writer are removed on open and never listed', async () => {
  const s = new BlobStore(tmp);
  await s.init();
  const w = await s.writer();
  await w.write(Buffer.from('half'));
  // simulate a crash: the writer is never committed; a new process opens the store
  const s2 = new BlobStore(tmp);
  expect(await s2.list()).toEqual([]);
  await s2.init();
  expect(await fs.readdir(s2.tmpDir)).toEqual([]);
  await w.abort();
});

it('rejects malformed digests', async () => {
  const s = new BlobStore(tmp);
  expect(() => s.pathOf('sha256:../../etc/passwd' as never)).toThrow(/invalid digest/);
});

/** Whether the writer's descriptor still has O_DIRECT (the flags in /proc/self/fdinfo, octal). */
async function direct(w: BlobWriter): Promise<boolean> {
  for (const fd of await fs.readdir('/proc/self/fd')) {
    const target = await fs.readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target !== w.tmpPath) continue;
    const info = await fs.readFile(`/proc/self/fdinfo/${fd}`, 'utf8');
    return (Number.parseInt(/flags:\s+([0-7]+)/.exec(info)![1], 8) & fsConstants.O_DIRECT) !== 0;
  }
  throw new Error(`no descriptor open on ${w.tmpPath}`);
}

/** Bytes of the file in the page cache (fincore). */
function cached(file: string): number {
  return Number(
    execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }),
  );
}

it('a blob written from page-aligned chunks bypasses the page cache; its unaligned tail goes through it', async () => {
  const s = new BlobStore(tmp);
  await s.init();
  const w = await s.writer();
  const a = alignedBuffer(1 << 20).fill(1);
  const b = alignedBuffer(1 << 20).fill(2);
  await w.write(a);
  await w.write(b);
  await w.digest(); // every queued write done
  expect(await direct(w)).toBe(true);
  expect(cached(w.tmpPath)).toBe(0);
  // a last chunk of 5000 bytes: its first 4096 still direct, the rest (and anything after) cached
  const tail = alignedBuffer(8192).fill(3).subarray(0, 5000);
  await w.write(tail);
  await w.digest();
  expect(await direct(w)).toBe(false);
  expect(cached(w.tmpPath)).toBe(4096);
  const whole = Buffer.concat([a, b, tail]);
  const d = await w.commit(sha256Of(whole), whole.length);
  expect((await s.read(d)).equals(whole)).toBe(true);
});

it('chunks at unaligned addresses or offsets are written through the page cache, whole and in order', async () => {
  const s = new BlobStore(tmp);
  await s.init();
  const w = await s.writer();
  const parts = [Buffer.from('abc'), alignedBuffer(1 << 16).fill(4), Buffer.alloc(70000, 5).subarray(7)];
  for (const p of parts) await w.write(p);
  await w.digest();
  expect(await direct(w)).toBe(false);
  const whole = Buffer.concat(parts);
  const d = await w.commit(sha256Of(whole), whole.length);
  expect((await s.read(d)).equals(whole)).toBe(true);
});
