// Forwarding a query to an upstream server over the transport the client used, with a deadline.
// Each forward uses its own socket, closed whatever happens, so a lost answer leaks nothing.

import { createSocket } from 'node:dgram';
import { isIPv6, Socket } from 'node:net';

export interface Upstream {
  address: string;
  /** 53 when omitted. */
  port?: number;
}

export class UpstreamError extends Error {
  override name = 'UpstreamError';
}

/** Sends `query` to `upstream` and resolves with its reply (same id), or rejects on timeout or failure. */
export function forwardQuery(
  query: Buffer,
  transport: 'udp' | 'tcp',
  upstream: Upstream,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  return transport === 'udp'
    ? forwardUdp(query, upstream, timeoutMs, signal)
    : forwardTcp(query, upstream, timeoutMs, signal);
}

type Finish = (err: Error | null, reply?: Buffer) => void;

/**
 * One question to one upstream, settled once: by the reply, an error, the deadline or the abort signal,
 * whichever comes first; `close` releases the socket every way. `start` sends and calls `finish`.
 */
function exchange(
  up: Upstream,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  close: () => void,
  start: (finish: Finish) => void,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const port = up.port ?? 53;
    let done = false;
    const finish: Finish = (err, reply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const onAbort = () => finish(new UpstreamError('forward aborted'));
    const timer = setTimeout(
      () => finish(new UpstreamError(`upstream ${up.address}:${port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort);
    start(finish);
  });
}

function forwardUdp(query: Buffer, up: Upstream, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  const sock = createSocket(isIPv6(up.address) ? 'udp6' : 'udp4');
  const port = up.port ?? 53;
  const id = query.readUInt16BE(0);
  return exchange(
    up,
    timeoutMs,
    signal,
    () => sock.close(),
    (finish) => {
      sock.on('error', (e) => finish(e));
      sock.on('message', (msg, rinfo) => {
        // Only the server we asked, answering the question we asked (id), counts.
        if (
          rinfo.address !== up.address ||
          rinfo.port !== port ||
          msg.length < 12 ||
          msg.readUInt16BE(0) !== id
        )
          return;
        finish(null, msg);
      });
      sock.send(query, port, up.address, (e) => {
        if (e) finish(e);
      });
    },
  );
}

function forwardTcp(query: Buffer, up: Upstream, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  const sock = new Socket();
  const port = up.port ?? 53;
  let buf = Buffer.alloc(0);
  return exchange(
    up,
    timeoutMs,
    signal,
    () => sock.destroy(),
    (finish) => {
      sock.on('error', (e) => finish(e));
      sock.on('close', () =>
        finish(new UpstreamError(`upstream ${up.address}:${port} closed the connection`)),
      );
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
          finish(null, buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
      sock.connect(port, up.address, () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length, 0);
        sock.write(Buffer.concat([len, query]));
      });
    },
  );
}
