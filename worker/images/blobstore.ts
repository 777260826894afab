// Content-addressed blob store. Blobs are written to a temp file, hashed while written, and only
// renamed into blobs/sha256/<hex> after the digest matched: a crash or a wrong digest leaves at most
// a temp file (cleaned on open), never a blob that looks valid.
import { createReadStream, promises as fs, constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { type Digest, hexOf, parseDigest } from '../../common/digest.js';
import { StreamHash } from './stream-hash.js';

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
    what = 'blob',
  ) {
    super(`${what}: digest mismatch: expected ${expected}, got ${actual}`);
  }
}

export class SizeMismatchError extends Error {
  constructor(expected: number, actual: number, what = 'blob') {
    super(
      `${what}: size mismatch: expected ${expected} bytes, got ${actual}${actual < expected ? ' (truncated)' : ''}`,
    );
  }
}

let tmpCounter = 0;

/** An in-progress blob: append bytes, then commit under the expected digest or abort. */
export class BlobWriter {
  private readonly hash = new StreamHash();
  size = 0;
  private closed = false;
  private constructor(
    private readonly store: BlobStore,
    readonly tmpPath: string,
    private fh: FileHandle,
  ) {}

  static async open(store: BlobStore, tmpPath: string): Promise<BlobWriter> {
    // O_DIRECT: a blob is written once and fsynced before it is named, so its pages would only be a
    // copy to make and keep; aligned chunks go straight to the device (direct_io.cc), the rest (and
    // everything on a file system without direct I/O) through the page cache
    const { O_WRONLY, O_CREAT, O_EXCL, O_DIRECT } = fsConstants;
    const fh = await fs
      .open(tmpPath, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0o600)
      .catch((e: NodeJS.ErrnoException) => {
        // the file may have been made before O_DIRECT was refused; its name is this writer's alone
        if (e.code === 'EINVAL') return fs.open(tmpPath, 'w', 0o600);
        throw e;
      });
    return new BlobWriter(store, tmpPath, fh);
  }

  /** Appends a chunk, which must not change afterwards: hashed and written in one trip through the pool. */
  async write(chunk: Buffer): Promise<void> {
    await this.hash.update(chunk, this.fh.fd);
    this.size += chunk.length;
  }

  /** The digest of what was written so far (writing may go on). */
  digest(): Promise<Digest> {
    return this.hash.digest();
  }

  /** Verifies and moves the blob into place. Throws (and removes the temp file) on mismatch. */
  async commit(expected?: Digest, expectedSize?: number, what = 'blob'): Promise<Digest> {
    const actual = await this.hash.digest();
    try {
      if (expectedSize !== undefined && expectedSize >= 0 && this.size !== expectedSize)
        throw new SizeMismatchError(expectedSize, this.size, what);
      if (expected && expected !== actual) throw new DigestMismatchError(expected, actual, what);
      await this.fh.sync();
      await this.fh.close();
      this.closed = true;
      await fs.rename(this.tmpPath, this.store.pathOf(actual));
      return actual;
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  async abort(): Promise<void> {
    // queued writes first: the descriptor must not be closed (and its number reused) under them
    await this.hash.settled();
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => {});
    }
    await fs.rm(this.tmpPath, { force: true });
  }
}

export class BlobStore {
  readonly blobDir: string;
  readonly tmpDir: string;

  constructor(readonly root: string) {
    this.blobDir = path.join(root, 'blobs', 'sha256');
    this.tmpDir = path.join(root, 'tmp');
  }

  /** Creates the directories and removes temp files a crash may have left. */
  async init(): Promise<void> {
    await fs.mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    await fs.rm(this.tmpDir, { recursive: true, force: true });
    await fs.mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  pathOf(d: Digest): string {
    return path.join(this.blobDir, hexOf(parseDigest(d)));
  }

  tempPath(prefix = 'blob'): string {
    return path.join(this.tmpDir, `${prefix}-${process.pid}-${Date.now()}-${++tmpCounter}`);
  }

  async has(d: Digest): Promise<boolean> {
    try {
      await fs.access(this.pathOf(d));
      return true;
    } catch {
      return false;
    }
  }

  async size(d: Digest): Promise<number> {
    return (await fs.stat(this.pathOf(d))).size;
  }

  writer(): Promise<BlobWriter> {
    return BlobWriter.open(this, this.tempPath());
  }

  async put(data: Buffer, expected?: Digest): Promise<Digest> {
    const w = await this.writer();
    await w.write(data);
    return w.commit(expected, undefined);
  }

  /** Streams a readable into the store, verifying digest and size when given. */
  async ingest(
    src: Readable | AsyncIterable<Buffer>,
    expected?: Digest,
    expectedSize?: number,
  ): Promise<Digest> {
    if (expected && (await this.has(expected))) {
      // Already present: drain the source so the caller's stream completes.
      for await (const _ of src) {
        /* discard */
      }
      return expected;
    }
    const w = await this.writer();
    try {
      for await (const chunk of src) await w.write(chunk as Buffer);
    } catch (e) {
      await w.abort();
      throw e;
    }
    return w.commit(expected, expectedSize);
  }

  async read(d: Digest): Promise<Buffer> {
    return fs.readFile(this.pathOf(d));
  }

  stream(d: Digest, start = 0): Readable {
    return createReadStream(this.pathOf(d), { start, highWaterMark: 1024 * 1024 });
  }

  async delete(d: Digest): Promise<void> {
    await fs.rm(this.pathOf(d), { force: true });
  }

  async list(): Promise<Digest[]> {
    const names = await fs.readdir(this.blobDir).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  }
}
