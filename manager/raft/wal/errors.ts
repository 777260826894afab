// Typed storage errors. Callers (the raft node, the state store) branch on the class, never on message text.

/** A record that cannot be trusted was found somewhere other than the torn tail: the node must not start. */
export class WalCorruptError extends Error {
  override name = 'WalCorruptError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`WAL corrupt in ${file} at offset ${offset}: ${reason}`);
  }
}

/** A snapshot file failed its checksum or could not be parsed. */
export class SnapshotCorruptError extends Error {
  override name = 'SnapshotCorruptError';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`snapshot ${file} is corrupt: ${reason}`);
  }
}

/**
 * A persisted record carries a format version this build does not read (written by a newer shoal, or
 * missing). Nothing of it was interpreted: refusing is the only safe answer, guessing could misread data.
 */
export class FormatVersionError extends Error {
  override name = 'FormatVersionError';
  constructor(
    /** The file (or, for embedded data, where it came from). */
    readonly file: string,
    /** Which record: 'WAL segment header', 'snapshot file', 'node snapshot', 'member identity'. */
    readonly what: string,
    readonly version: number,
    readonly supported: number,
  ) {
    super(
      version === 0
        ? `${what} in ${file} has no format version (not written by shoal's format ${supported})`
        : `${what} in ${file} has format version ${version}; this build reads only version ${supported}` +
            (version > supported ? ' (written by a newer shoal: run that version)' : ''),
    );
  }
}

/** An I/O operation on the data directory failed; nothing half-written is left behind that would count as valid. */
export class StorageError extends Error {
  override name = 'StorageError';
  constructor(
    readonly op: string,
    readonly path: string,
    readonly code: string,
    cause?: unknown,
  ) {
    super(`storage ${op} failed on ${path}: ${code}${cause instanceof Error ? ` (${cause.message})` : ''}`, {
      cause,
    });
  }
}

/** The file system is out of space (ENOSPC/EDQUOT). Retrying once space is freed succeeds. */
export class DiskFullError extends StorageError {
  override name = 'DiskFullError';
}

/** The process may not write the data directory (EACCES/EPERM/EROFS). */
export class StoragePermissionError extends StorageError {
  override name = 'StoragePermissionError';
}

/** Wraps a Node fs error thrown by `op` on `path` into the matching typed error. */
export function storageError(op: string, path: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as NodeJS.ErrnoException)?.code ?? 'EIO';
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DiskFullError(op, path, code, err);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new StoragePermissionError(op, path, code, err);
  }
  return new StorageError(op, path, code, err);
}
