import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { StreamHash } from './stream-hash.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

it('hashes on the thread pool what node:crypto hashes, in order, whatever the chunking', async () => {
  const data = randomBytes(3 << 20);
  for (const size of [1 << 20, 65_536, 1000, 7]) {
    // every chunk is a round trip to the pool: the 7-byte chunking covers the first 70 kB only
    const part = data.subarray(0, size === 7 ? 70_000 : data.length);
    const h = new StreamHash();
    for (let o = 0; o < part.length; o += size) await h.update(part.subarray(o, o + size));
    expect(await h.digest()).toBe(sha(part));
  }
  expect(await new StreamHash().digest()).toBe(sha(Buffer.alloc(0)));
});

it('gives the digest so far and goes on; updates not awaited still land in order', async () => {
  const a = randomBytes(100_000);
  const b = randomBytes(100_000);
  const h = new StreamHash();
  await h.update(a);
  await h.update(Buffer.alloc(0));
  expect(await h.digest()).toBe(sha(a));
  const chunks = Array.from({ length: 50 }, (_, i) => b.subarray(i * 2000, (i + 1) * 2000));
  const queued = chunks.map((c) => h.update(c)); // no await between them: the queue keeps the order
  await Promise.all(queued);
  expect(await h.digest()).toBe(sha(Buffer.concat([a, b])));
});

it('appends each chunk to a file once hashed, in order; a failed write fails the rest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-streamhash-'));
  try {
    const chunks = Array.from({ length: 9 }, (_, i) => randomBytes(100_000 + i));
    const out = await fsp.open(join(dir, 'blob'), 'wx');
    const h = new StreamHash();
    for (const c of chunks) await h.update(c, out.fd);
    expect(await h.digest()).toBe(sha(Buffer.concat(chunks)));
    await out.close();
    expect(readFileSync(join(dir, 'blob')).equals(Buffer.concat(chunks))).toBe(true);

    // a descriptor open for reading: the write fails, with Node's fs error shape
    const ro = await fsp.open(join(dir, 'blob'), 'r');
    const bad = new StreamHash();
    await bad.update(chunks[0], ro.fd);
    await expect(bad.digest()).rejects.toMatchObject({ code: 'EBADF', syscall: 'write' });
    await expect(bad.update(chunks[1], ro.fd)).rejects.toMatchObject({ code: 'EBADF' });
    await bad.settled();
    await ro.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
