// Small synchronous file-system helpers with typed errors. The WAL uses synchronous I/O on purpose:
// one write plus one fdatasync per Ready batch is short, and it keeps the persist-before-send order
// trivially true.
import * as fs from 'node:fs';
import { storageError } from './errors.js';

export function fsyncDir(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    throw storageError('fsync directory', dir, err);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.R_OK);
  } catch (err) {
    throw storageError('open data directory', dir, realMkdirError(dir, err));
  }
}

/** Recursive mkdir reports ENOENT for a read-only or forbidden parent; a plain mkdir gives the real cause. */
function realMkdirError(dir: string, err: unknown): unknown {
  if ((err as NodeJS.ErrnoException)?.code !== 'ENOENT') return err;
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.rmdirSync(dir);
  } catch (e) {
    return e;
  }
  return err;
}

/** Writes all of buf[0,len) at position, looping over short writes. */
export function writeFully(fd: number, buf: Uint8Array, len: number, position: number): void {
  let done = 0;
  while (done < len) {
    done += fs.writeSync(fd, buf, done, len - done, position + done);
  }
}

/** Atomically replaces `file` with `data`: temp file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(dir: string, name: string, parts: Uint8Array[]): void {
  const tmp = `${dir}/${name}.tmp`;
  let fd = -1;
  try {
    fd = fs.openSync(tmp, 'w', 0o600);
    let pos = 0;
    for (const p of parts) {
      writeFully(fd, p, p.length, pos);
      pos += p.length;
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, `${dir}/${name}`);
  } catch (err) {
    if (fd >= 0) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw storageError('write', `${dir}/${name}`, err);
  }
  fsyncDir(dir);
}
