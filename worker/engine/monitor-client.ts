// Client of a container monitor's control socket (native/PROTOCOL.md): one JSON request line,
// one JSON reply line per connection. attach/exec keep the connection open as the stream.
import { closeSync, openSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { basename, dirname } from 'node:path';

/** The monitor is not there any more (socket missing or refusing): the container has exited. */
export class MonitorGoneError extends Error {
  constructor(socketPath: string, cause: unknown) {
    super(`container monitor at ${socketPath} is gone`, { cause });
    this.name = 'MonitorGoneError';
  }
}

/** The monitor answered {"ok":false,"error":…}. */
export class MonitorRequestError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(message);
    this.name = 'MonitorRequestError';
  }
}

export type MonitorStatus = 'created' | 'running' | 'paused' | 'stopped';

export interface MonitorExit {
  exitCode: number;
  signal: string | null;
  oomKilled: boolean;
  finishedAt: string;
}

export interface MonitorStats {
  read: string;
  memory: { usage: number; limit: number; maxUsage: number; failcnt: number };
  cpu: {
    usageNs: number;
    userNs: number;
    systemNs: number;
    periods: number;
    throttledPeriods: number;
    throttledNs: number;
  };
  pids: { current: number; limit: number };
}

/** The OCI process object for exec. */
export interface MonitorProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: Record<string, string[]>;
  noNewPrivileges?: boolean;
  rlimits?: { type: string; soft: number; hard: number }[];
}

type Reply = { ok: true; [k: string]: unknown } | { ok: false; error: string };

const GONE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTSOCK']);

const SUN_PATH_MAX = 107;

/**
 * A unix socket path longer than sun_path allows is reached through an open descriptor of its
 * directory (/proc/self/fd/N/name), so deep exec roots still work. `release` is idempotent.
 */
function reachable(socketPath: string): { path: string; release: () => void } {
  if (Buffer.byteLength(socketPath) <= SUN_PATH_MAX) return { path: socketPath, release: () => {} };
  let fd: number;
  try {
    fd = openSync(dirname(socketPath), 'r');
  } catch {
    return { path: socketPath, release: () => {} }; // connect reports the problem
  }
  let open = true;
  const release = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return { path: `/proc/self/fd/${fd}/${basename(socketPath)}`, release };
}

/** Opens a connection, sends `req`, and resolves with the reply and the still-open socket. */
function exchange(
  socketPath: string,
  req: object,
  signal?: AbortSignal,
): Promise<{ reply: Reply; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const target = reachable(socketPath);
    const socket = createConnection(target.path);
    // The directory fd is only needed to resolve the path during connect.
    socket.once('connect', target.release);
    socket.once('close', target.release);
    let buf = Buffer.alloc(0);
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      const code = (err as NodeJS.ErrnoException)?.code;
      // Refused, missing, or reset before replying: the monitor is exiting or gone.
      reject(code && GONE_CODES.has(code) ? new MonitorGoneError(socketPath, err) : err);
    };
    const onAbort = () => fail(signal?.reason ?? new Error('aborted'));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      settled = true;
      cleanup();
      socket.pause();
      const rest = buf.subarray(nl + 1);
      // Bytes after the reply line already belong to the stream: hand them back to the socket.
      if (rest.length > 0) socket.unshift(rest);
      try {
        resolve({ reply: JSON.parse(buf.subarray(0, nl).toString('utf8')) as Reply, socket });
      } catch (e) {
        socket.destroy();
        reject(new Error(`monitor at ${socketPath} sent a malformed reply: ${(e as Error).message}`));
      }
    };
    const onEnd = () =>
      // Closed before replying: the monitor went away while we waited (e.g. exited after init died).
      fail(new MonitorGoneError(socketPath, new Error('connection closed before a reply')));
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('end', onEnd);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      socket.write(`${JSON.stringify(req)}\n`);
    });
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('end', onEnd);
  });
}

function check(op: string, reply: Reply): Record<string, unknown> {
  if (!reply.ok) throw new MonitorRequestError(op, reply.error);
  return reply;
}

/** One request, one reply; the connection is closed afterwards. */
export async function monitorCall(
  socketPath: string,
  req: { op: string; [k: string]: unknown },
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  const { reply, socket } = await exchange(socketPath, req, signal);
  socket.destroy();
  return check(req.op, reply);
}

/** A request whose successful reply turns the connection into a byte stream (attach, exec). */
export async function monitorStream(
  socketPath: string,
  req: { op: string; [k: string]: unknown },
): Promise<{ reply: Record<string, unknown>; stream: Socket }> {
  const { reply, socket } = await exchange(socketPath, req);
  try {
    check(req.op, reply);
  } catch (e) {
    socket.destroy();
    throw e;
  }
  socket.resume();
  return { reply, stream: socket };
}

/** Typed wrappers for the control socket's ops. */
export class MonitorClient {
  constructor(readonly socketPath: string) {}

  /** Starts the user process; the reply may carry init's pid (saves a `state` round trip). */
  async start(): Promise<{ pid?: number }> {
    const r = await monitorCall(this.socketPath, { op: 'start' });
    return typeof r.pid === 'number' ? { pid: r.pid } : {};
  }
  async state(): Promise<{ status: MonitorStatus; pid: number }> {
    const r = await monitorCall(this.socketPath, { op: 'state' });
    return { status: r.status as MonitorStatus, pid: Number(r.pid ?? 0) };
  }
  async kill(signal: number, all = false): Promise<void> {
    await monitorCall(this.socketPath, { op: 'kill', signal, all });
  }
  /** Resolves when init has exited. */
  async wait(signal?: AbortSignal): Promise<MonitorExit> {
    const r = await monitorCall(this.socketPath, { op: 'wait' }, signal);
    return {
      exitCode: Number(r.exitCode),
      signal: (r.signal as string | null) ?? null,
      oomKilled: !!r.oomKilled,
      finishedAt: String(r.finishedAt ?? ''),
    };
  }
  async pause(): Promise<void> {
    await monitorCall(this.socketPath, { op: 'pause' });
  }
  async resume(): Promise<void> {
    await monitorCall(this.socketPath, { op: 'resume' });
  }
  async stats(): Promise<MonitorStats> {
    return (await monitorCall(this.socketPath, { op: 'stats' })) as unknown as MonitorStats;
  }
  async resize(height: number, width: number, execId?: string): Promise<void> {
    await monitorCall(this.socketPath, { op: 'resize', height, width, ...(execId ? { execId } : {}) });
  }
  async attach(opts: { stdin: boolean; stdout: boolean; stderr: boolean }): Promise<Socket> {
    return (await monitorStream(this.socketPath, { op: 'attach', ...opts })).stream;
  }
  async exec(
    process: MonitorProcess,
    detach: boolean,
  ): Promise<{ execId: string; pid: number; stream: Socket | null }> {
    if (detach) {
      const r = await monitorCall(this.socketPath, { op: 'exec', process, detach: true });
      return { execId: String(r.execId), pid: Number(r.pid), stream: null };
    }
    const { reply, stream } = await monitorStream(this.socketPath, { op: 'exec', process, detach: false });
    return { execId: String(reply.execId), pid: Number(reply.pid), stream };
  }
  async execState(execId: string): Promise<{ running: boolean; pid: number; exitCode: number | null }> {
    const r = await monitorCall(this.socketPath, { op: 'exec-state', execId });
    return {
      running: !!r.running,
      pid: Number(r.pid ?? 0),
      exitCode: r.exitCode === null || r.exitCode === undefined ? null : Number(r.exitCode),
    };
  }
}
