// The one typed face of native/ (shoal_native.node and the shoal-runtime executable it spawns).
// Every addon call is declared here, and every native failure becomes a typed error here.
// Contract: native/PROTOCOL.md and native/include/shoal_native.h.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineError, type EngineErrorCode } from './errors.js';

export interface NativeProbe {
  cgroup: 'v1' | 'v2' | 'hybrid';
  seccomp: boolean;
  overlay: boolean;
}

export interface RuntimeOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * One operation of `applyFileOps`: what Node's fs cannot do (device nodes, FIFOs, xattrs) plus the
 * owner/mode/time fix-ups those nodes need, and small writes batched into one round trip. Times are
 * seconds since the epoch.
 */
export type FileOp =
  | {
      op: 'mknod';
      path: string;
      mode: number /* S_IFCHR|S_IFBLK|S_IFIFO | perms */;
      major?: number;
      minor?: number;
    }
  | { op: 'lchown'; path: string; uid: number; gid: number }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'lutimes'; path: string; atime: number; mtime: number }
  | { op: 'lsetxattr'; path: string; name: string; value: Buffer }
  /** A tmpfs (nosuid, nodev, noexec) of `size` bytes on the directory `path`, its root `mode`. */
  | { op: 'mountTmpfs'; path: string; size: number; mode: number }
  /** Detaches the mount on `path` (MNT_DETACH: even while in use; UMOUNT_NOFOLLOW). */
  | { op: 'umount'; path: string }
  /** mkdir(2); an existing directory is fine. */
  | { op: 'mkdir'; path: string; mode: number }
  /** The whole of `value` into `path` (created with `mode`, or truncated; never through a symlink). */
  | { op: 'writeFile'; path: string; value: Buffer; mode: number }
  /** rename(2) `path` to `to`. */
  | { op: 'rename'; path: string; to: string }
  /**
   * The directory's "top of a hierarchy" flag (ext2/3/4 FS_TOPDIR_FL): the kernel spreads its new
   * subdirectories over the block groups as it does top-level ones. ENOTTY/EOPNOTSUPP elsewhere.
   */
  | { op: 'spreadSubdirs'; path: string };

/** File-type bits for `mknod` (as in <sys/stat.h>; Node's fs.constants has them too). */
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** One rtnetlink request of `netlink` (native/include/shoal_native.h lists the fields). */
export type NetOp = { netns?: string } & (
  | { op: 'bridge-add'; name: string; mtu?: number; mac?: string; up?: boolean }
  | {
      op: 'veth-add';
      name: string;
      peer: string;
      peerNetns?: string;
      peerMac?: string;
      mtu?: number;
      master?: string;
      up?: boolean;
    }
  | {
      op: 'vxlan-add';
      name: string;
      vni: number;
      local?: string;
      port?: number;
      dev?: string;
      learning?: boolean;
      /** Answer ARP from the neighbour table (no flooding to other VTEPs). */
      proxy?: boolean;
      mtu?: number;
      master?: string;
      up?: boolean;
    }
  | {
      op: 'link-set';
      name: string;
      up?: boolean;
      mtu?: number;
      mac?: string;
      master?: string;
      rename?: string;
      /** moves the link into the namespace at this path */
      peerNetns?: string;
      hairpin?: boolean;
    }
  | { op: 'link-del'; name: string }
  | { op: 'addr-add' | 'addr-del'; name: string; ip: string; prefix: number }
  | { op: 'route-add' | 'route-del'; ip?: string; prefix: number; gateway?: string; dev?: string }
  | { op: 'neigh-add' | 'neigh-del'; dev: string; ip: string; mac?: string }
  | { op: 'fdb-add' | 'fdb-del'; dev: string; mac: string; ip?: string }
);

/** A link as `linkGet` reports it; `master` is the ifindex of its bridge (0: none). */
export interface LinkInfo {
  index: number;
  name: string;
  kind: string;
  mtu: number;
  mac: string;
  up: boolean;
  master: number;
}

/** The raw addon, exactly as native/include/shoal_native.h documents it. */
interface ShoalNativeAddon {
  netnsCreate(path: string): Promise<void>;
  netnsDelete(path: string): Promise<void>;
  netlink(ops: NetOp[]): Promise<void>;
  linkGet(name: string, netns?: string): Promise<LinkInfo | null>;
  nftApply(text: string): Promise<void>;
  applyFileOps(ops: FileOp[]): Promise<void>;
  lgetxattr(path: string, name: string): Promise<Buffer | null>;
  Sha256: new () => NativeSha256;
  alignedBuffer(size: number): Buffer;
  Gunzip: new (hashOutput: boolean) => NativeGunzip;
  create(args: string[]): Promise<void>;
  runtime(args: string[]): Promise<RuntimeOutput>;
  probe(): NativeProbe;
  runtimePath(): string;
  setRuntimePath(path: string): void;
  releaseMemory(): boolean;
  trimMemory(): boolean;
}

/** What went wrong in the runtime, in domain terms. */
export type RuntimeErrorKind =
  | 'not-found' // no such container
  | 'invalid-spec' // a bad value in the spec: field and problem are in the message
  | 'exec-not-found' // the command does not exist in the rootfs (docker exits 127)
  | 'exec-permission' // the command exists but cannot be executed (docker exits 126)
  | 'conflict' // duplicate id, already started, not stopped …
  | 'not-running' // the operation needs a running container
  | 'system'; // anything the caller did not cause

const KIND_TO_CODE: Record<RuntimeErrorKind, EngineErrorCode> = {
  'not-found': 'not_found',
  'invalid-spec': 'invalid_argument',
  'exec-not-found': 'invalid_argument',
  'exec-permission': 'invalid_argument',
  conflict: 'conflict',
  'not-running': 'not_running',
  system: 'internal',
};

/**
 * A failure reported by shoal-runtime or the addon; `message` is the runtime's own line, `runtimeKind`
 * the runtime's finer class (the ShoalError `kind` follows from it).
 */
export class RuntimeError extends EngineError {
  readonly runtimeKind: RuntimeErrorKind;
  readonly exitCode: number;
  constructor(runtimeKind: RuntimeErrorKind, message: string, exitCode: number) {
    super(KIND_TO_CODE[runtimeKind], message);
    this.runtimeKind = runtimeKind;
    this.exitCode = exitCode;
  }
}

const PREFIX = 'shoal-runtime: ';

/** Sorts a runtime stderr line into a kind. Pure; exported for tests. */
export function classifyRuntimeFailure(line: string, exitCode: number): RuntimeError {
  const message = (line.startsWith(PREFIX) ? line.slice(PREFIX.length) : line).trim();
  const rules: [RegExp, RuntimeErrorKind][] = [
    [/^exec "[^"]*": (executable file not found in \$PATH|no such file or directory)/, 'exec-not-found'],
    [/^exec "[^"]*": (permission denied|is a directory)/, 'exec-permission'],
    [/does not exist$/, 'not-found'],
    [/already exists$|already started|already paused|is not paused|not stopped|still running/, 'conflict'],
    [/is not running|has exited|is paused|no monitor/, 'not-running'],
    [
      /^invalid |^bundle |^open .*config.json|^unknown capability|^bind mount source |^rootfs |^namespace path |^unable to find (user|group)|: invalid value$|^rootfs layer |^cgroup path /,
      'invalid-spec',
    ],
  ];
  for (const [re, kind] of rules) if (re.test(message)) return new RuntimeError(kind, message, exitCode);
  return new RuntimeError('system', message || `shoal-runtime exited with status ${exitCode}`, exitCode);
}

function addonCandidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromEnv = process.env.SHOAL_NATIVE_ADDON;
  return [
    ...(fromEnv ? [fromEnv] : []),
    resolve(here, '../../native/build/Release/shoal_native.node'), // worker/engine/native.ts
    resolve(here, '../native/build/Release/shoal_native.node'), // dist/*.mjs bundles
  ];
}

let loaded: ShoalNativeAddon | undefined;

/** Loads the addon once; throws a RuntimeError('system') naming the build step when it is missing. */
export function addon(): ShoalNativeAddon {
  if (loaded) return loaded;
  const path = addonCandidates().find((p) => existsSync(p));
  if (!path) {
    throw new RuntimeError('system', 'shoal_native.node is not built (run `npm run build:native`)', -1);
  }
  const require = createRequire(import.meta.url);
  loaded = require(path) as ShoalNativeAddon;
  return loaded;
}

function rethrow(err: unknown): never {
  if (err instanceof RuntimeError) throw err;
  const e = err as { message?: string; exitCode?: number };
  throw classifyRuntimeFailure(String(e?.message ?? err), typeof e?.exitCode === 'number' ? e.exitCode : -1);
}

/** `shoal-runtime <args>` where args hold global flags and the `create` verb; resolves once created. */
export async function runtimeCreate(args: string[]): Promise<void> {
  try {
    await addon().create(args);
  } catch (err) {
    rethrow(err);
  }
}

/** Runs any verb and returns its exit status and output as they are. */
export async function runtimeRun(args: string[]): Promise<RuntimeOutput> {
  try {
    return await addon().runtime(args);
  } catch (err) {
    rethrow(err);
  }
}

/** Runs a verb that must succeed; returns its stdout, throws the classified RuntimeError otherwise. */
export async function runtimeVerb(args: string[]): Promise<string> {
  const out = await runtimeRun(args);
  if (out.code !== 0) {
    const lines = out.stderr.trim().split('\n');
    throw classifyRuntimeFailure(lines[lines.length - 1] ?? '', out.code);
  }
  return out.stdout;
}

export function probe(): NativeProbe {
  return addon().probe();
}

/** The shoal-runtime executable the addon spawns (next to the addon by default). */
export function runtimePath(): string {
  return addon().runtimePath();
}

/** shoal-init (docker-init for `--init`): built next to the runtime, run by it from a sealed copy. */
export function initPath(): string {
  return join(dirname(runtimePath()), 'shoal-init');
}

export function setRuntimePath(path: string): void {
  addon().setRuntimePath(path);
}

/**
 * Full, compacting V8 collections, then the malloc arenas' free pages back to the kernel (synchronous,
 * tens of ms): for a daemon whose event loop went quiet after a busy spell. True when the trim released some.
 */
export function releaseMemory(): boolean {
  return addon().releaseMemory();
}

/**
 * The malloc arenas' free pages back to the kernel, without a collection: a moment after releaseMemory,
 * for the blocks its collection let go of but that were freed only afterwards (swept backing stores,
 * Node-API finalizers). True when it released some.
 */
export function trimMemory(): boolean {
  return addon().trimMemory();
}

/** The addon's `create` under its protocol name (PROTOCOL.md); same as runtimeCreate. */
export const create = runtimeCreate;

/**
 * A failed file syscall, shaped like Node's fs errors: message `ENOENT mknod /x/dev/foo: no such
 * file or directory`; `index` is the failed op of the batch (earlier ones stay applied).
 */
export class FileOpError extends Error implements NodeJS.ErrnoException {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;
  readonly index: number;
  constructor(
    message: string,
    fields: { code: string; errno: number; syscall: string; path: string; index: number },
  ) {
    super(message);
    this.name = 'FileOpError';
    this.code = fields.code;
    this.errno = fields.errno;
    this.syscall = fields.syscall;
    this.path = fields.path;
    this.index = fields.index;
  }
}

function rethrowFileOp(err: unknown): never {
  const e = err as {
    message?: string;
    code?: unknown;
    errno?: number;
    syscall?: string;
    path?: string;
    index?: number;
  };
  // TypeErrors (a malformed op, rejected before anything was touched) pass through as they are
  if (typeof e?.code !== 'string' || typeof e.syscall !== 'string') throw err;
  throw new FileOpError(String(e.message), {
    code: e.code,
    errno: e.errno ?? 0,
    syscall: e.syscall,
    path: e.path ?? '',
    index: e.index ?? 0,
  });
}

/** Applies ops in order as one async work item; rejects with a FileOpError at the first failure. */
export async function applyFileOps(ops: FileOp[]): Promise<void> {
  if (ops.length === 0) return;
  try {
    await addon().applyFileOps(ops);
  } catch (err) {
    rethrowFileOp(err);
  }
}

/** mknod(2): a device node or FIFO; `mode` holds the type bits (the umask applies to the rest). */
export function mknod(path: string, mode: number, major = 0, minor = 0): Promise<void> {
  return applyFileOps([{ op: 'mknod', path, mode, major, minor }]);
}

/** lsetxattr(2): sets an extended attribute without following a final symlink. */
export function lsetxattr(path: string, name: string, value: Buffer): Promise<void> {
  return applyFileOps([{ op: 'lsetxattr', path, name, value }]);
}

/** lgetxattr(2): the attribute's value, or null when the file has none by that name. */
export async function lgetxattr(path: string, name: string): Promise<Buffer | null> {
  try {
    return await addon().lgetxattr(path, name);
  } catch (err) {
    rethrowFileOp(err);
  }
}

// ---------------------------------------------------------------- hashing and gzip on the thread pool

/** SHA-256 whose updates run on the thread pool; one update at a time (chain them). */
export interface NativeSha256 {
  /**
   * With fd, the data is then written to it too (at its offset), in the same trip through the pool:
   * directly to the device if fd has O_DIRECT and address, length and offset allow (else O_DIRECT
   * is cleared on fd and the write goes through the page cache).
   */
  update(data: Buffer, fd?: number): Promise<void>;
  /** hex; the state is copied, updates may go on */
  digest(): string;
}

/** A gzip stream (one or more members) inflated on the thread pool by ISA-L; one step at a time. */
export interface NativeGunzip {
  /**
   * Inflates from input into output until the input is used up or the output is full; rejects (code
   * EGUNZIP) on bad data. Neither buffer may be touched until it settles.
   */
  step(input: Buffer, output: Buffer): Promise<{ used: number; produced: number }>;
  /** Whether the bytes so far end exactly after a member (else the stream was cut short). */
  complete(): boolean;
  /** hex SHA-256 of all output so far (made with hashOutput; each step hashed what it produced) */
  outputDigest(): string;
}

/** A Buffer at a page-aligned address, so that writes from it may bypass the page cache (O_DIRECT). */
export function alignedBuffer(size: number): Buffer {
  return addon().alignedBuffer(size);
}

export function newSha256(): NativeSha256 {
  return new (addon().Sha256)();
}

export function newGunzip(opts: { hashOutput?: boolean } = {}): NativeGunzip {
  return new (addon().Gunzip)(opts.hashOutput === true);
}

// ---------------------------------------------------------------- networking

/** What the kernel refused, as errno names: the facade (netlink.ts) turns them into ShoalError kinds. */
export class NetlinkError extends EngineError {
  readonly errnoCode: string;
  readonly op: string;
  readonly index: number;
  constructor(message: string, errnoCode: string, op: string, index: number) {
    super(NETLINK_KIND[errnoCode] ?? 'internal', message);
    this.errnoCode = errnoCode;
    this.op = op;
    this.index = index;
  }
}

const NETLINK_KIND: Record<string, EngineErrorCode> = {
  EEXIST: 'conflict',
  EADDRINUSE: 'conflict',
  EBUSY: 'conflict',
  ENODEV: 'not_found',
  ENOENT: 'not_found',
  ESRCH: 'not_found',
  EINVAL: 'invalid_argument',
  ERANGE: 'invalid_argument',
};

function rethrowNet(err: unknown): never {
  const e = err as { message?: string; code?: unknown; op?: string; index?: number };
  if (typeof e?.code !== 'string') {
    // a malformed op (TypeError from the addon) is our bug, not the user's
    throw new RuntimeError('system', String(e?.message ?? err), -1);
  }
  throw new NetlinkError(String(e.message), e.code, e.op ?? '', e.index ?? 0);
}

/** A new network namespace pinned by a bind mount at `path` (lo up); nothing left on failure. */
export async function netnsCreate(path: string): Promise<void> {
  try {
    await addon().netnsCreate(path);
  } catch (err) {
    rethrowNet(err);
  }
}

/** Unmounts and unlinks a namespace file made by netnsCreate. */
export async function netnsDelete(path: string): Promise<void> {
  try {
    await addon().netnsDelete(path);
  } catch (err) {
    rethrowNet(err);
  }
}

/** Runs rtnetlink requests in order as one async work item; the first failure stops the batch. */
export async function netlink(ops: NetOp[]): Promise<void> {
  if (ops.length === 0) return;
  try {
    await addon().netlink(ops);
  } catch (err) {
    rethrowNet(err);
  }
}

/** The link named `name` in the namespace at `netns` (default: ours), or null. */
export async function linkGet(name: string, netns?: string): Promise<LinkInfo | null> {
  try {
    return await addon().linkGet(name, netns);
  } catch (err) {
    rethrowNet(err);
  }
}

/** An nftables script (nft's syntax) through libnftables: one transaction, no `nft` process. */
export async function nftApply(text: string): Promise<void> {
  try {
    await addon().nftApply(text);
  } catch (err) {
    rethrowNet(err);
  }
}
