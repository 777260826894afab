// The HTTP server: turns node:http requests (and `Upgrade: tcp` requests, which attach and exec-start
// hijack) into RequestContexts and dispatches them through the router. Every error becomes
// `{"message": "..."}` with its status code.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError, toErrorReply } from './errors.js';
import { HttpReply, type Reply, SocketReply } from './reply.js';
import { type RequestContext, Router } from './router.js';

const MAX_BODY = 64 * 1024 * 1024;

export interface ApiServer {
  server: Server;
  /** Closes every open connection, hijacked ones included. */
  destroyConnections(): void;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(400, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads the Content-Length body of an upgrade request: first from `head` (bytes node read past the
 * headers), then from the socket. What follows the body (early stdin) is pushed back onto the socket.
 */
function readUpgradeBody(socket: Duplex, head: Buffer, length: number): Promise<Buffer> {
  if (head.length >= length) {
    if (head.length > length) socket.unshift(head.subarray(length));
    return Promise.resolve(head.subarray(0, length));
  }
  return new Promise((resolve, reject) => {
    let buf = head;
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < length) return;
      cleanup();
      socket.pause();
      if (buf.length > length) socket.unshift(buf.subarray(length));
      resolve(buf.subarray(0, length));
    };
    const onEnd = () => {
      cleanup();
      reject(new ApiError(400, 'connection closed before the request body was complete'));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}

function parseJson<T>(body: Buffer): T | undefined {
  const text = body.toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new ApiError(400, `invalid JSON in request body: ${(err as Error).message}`);
  }
}

function makeContext(
  req: IncomingMessage,
  reply: Reply,
  params: Record<string, string>,
  path: string,
  version: string | undefined,
  query: URLSearchParams,
  readBody: () => Promise<Buffer>,
  closed: AbortSignal,
): RequestContext {
  let cached: Promise<Buffer> | undefined;
  const body = () => {
    cached ??= readBody();
    return cached;
  };
  return {
    method: req.method ?? 'GET',
    path,
    version,
    params,
    query,
    headers: req.headers,
    reply,
    readBody: body,
    bodyStream: () => req as AsyncIterable<Buffer>,
    readJson: async <T>() => parseJson<T>(await body()),
    closed,
  };
}

async function dispatch(ctx: RequestContext, handler?: (c: RequestContext) => unknown): Promise<void> {
  try {
    if (!handler) throw new ApiError(404, 'page not found');
    await handler(ctx);
  } catch (err) {
    const { status, message } = toErrorReply(err);
    if (status >= 500) console.error(`shoald: ${ctx.method} ${ctx.path}: ${(err as Error)?.stack ?? err}`);
    if (!ctx.reply.started) ctx.reply.json(status, { message });
  }
}

export function createApiServer(router: Router): ApiServer {
  const sockets = new Set<Duplex>();
  // Like dockerd: idle keep-alive connections are not timed out (a client reusing one must not get
  // EPIPE), and long uploads (image load) are not cut off.
  const server = createServer({ keepAlive: true, keepAliveTimeout: 0, requestTimeout: 0 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://shoal');
    const { version, path } = Router.splitVersion(url.pathname);
    const m = router.match(req.method ?? 'GET', path);
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const ctx = makeContext(
      req,
      new HttpReply(res),
      m?.params ?? {},
      path,
      version,
      url.searchParams,
      () => readAll(req),
      ac.signal,
    );
    void dispatch(ctx, m?.handler);
  });

  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://shoal');
    const { version, path } = Router.splitVersion(url.pathname);
    const m = router.match(req.method ?? 'GET', path);
    const ac = new AbortController();
    socket.on('close', () => ac.abort());
    const length = Number(req.headers['content-length'] ?? 0) || 0;
    const bodyPromise =
      length > MAX_BODY
        ? Promise.reject(new ApiError(400, 'request body too large'))
        : readUpgradeBody(socket, head, length);
    bodyPromise.catch(() => {});
    const ctx = makeContext(
      req,
      new SocketReply(socket),
      m?.params ?? {},
      path,
      version,
      url.searchParams,
      () => bodyPromise,
      ac.signal,
    );
    // The body must be consumed before the handler hijacks, so that stdin is not mistaken for it.
    void bodyPromise.then(
      () => dispatch(ctx, m?.handler),
      (err) => dispatch(ctx, () => Promise.reject(err)),
    );
  });

  return {
    server,
    destroyConnections() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}
