import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { sha256Of } from '../../common/digest.js';
import { BlobStore } from './blobstore.js';

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
