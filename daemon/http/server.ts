// The HTTP server: turns node:http requests (and `Upgrade: tcp` requests, which attach and exec-start
// hijack) into RequestContexts and dispatches them through the router. Every error becomes
// `{"message": "..."}` with its status code.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { JsonDepthError, parseBoundedJson } from '../../common/bounded-json.js';
import { ShoalError } from '../../common/errors.js';
import { ApiError, badRequest, notFound, toErrorReply } from './errors.js';
import { API_VERSION, HttpReply, MIN_API_VERSION, type Reply, SocketReply } from './reply.js';
import { type RequestContext, Router } from './router.js';

/**
 * JSON bodies (create, exec, auth…) are a few KiB; 4 MiB leaves room for large Env/Labels while a
 * client cannot make the daemon buffer and parse hundreds of MiB. Image load/import bodies are read
 * with bodyStream() and are not limited this way.
 */
export const MAX_JSON_BODY = 4 * 1024 * 1024;

const tooLarge = () =>
  new ApiError(413, `request body too large: the limit is ${MAX_JSON_BODY / (1024 * 1024)} MiB`);

export interface ApiServer {
  server: Server;
  /** Closes every open connection, hijacked ones included. */
  destroyConnections(): void;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_JSON_BODY) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BODY) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
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
    // Chunks are joined once at the end: concatenating on every chunk is quadratic in the body size.
    const chunks: Buffer[] = [head];
    let size = head.length;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size < length) return;
      cleanup();
      socket.pause();
      const buf = Buffer.concat(chunks, size);
      if (buf.length > length) socket.unshift(buf.subarray(length));
      resolve(buf.subarray(0, length));
    };
    const onEnd = () => {
      cleanup();
      reject(badRequest('connection closed before the request body was complete'));
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
    return parseBoundedJson(text) as T;
  } catch (err) {
    if (err instanceof JsonDepthError)
      throw badRequest(`invalid JSON in request body: nested deeper than ${err.limit} levels`);
    throw badRequest(`invalid JSON in request body: ${(err as Error).message}`);
  }
}

/** "1.9" < "1.12": versions compare by their numbers, not as text. */
function compareVersions(a: string, b: string): number {
  const [am, an = 0] = a.split('.').map(Number);
  const [bm, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

/** A version prefix outside the range this daemon speaks is refused as dockerd refuses it (400). */
function checkVersion(version: string): void {
  if (compareVersions(version, MIN_API_VERSION) < 0)
    throw badRequest(
      `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  if (compareVersions(version, API_VERSION) > 0)
    throw badRequest(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
}

/** Where a request goes: its version, unversioned path, query and matched route. Malformed targets are a 400. */
function target(router: Router, req: IncomingMessage) {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://shoal');
  } catch {
    throw badRequest(`malformed request target: ${JSON.stringify(String(req.url).slice(0, 200))}`);
  }
  const { version, path } = Router.splitVersion(url.pathname);
  if (version !== undefined) checkVersion(version);
  const m = router.match(req.method ?? 'GET', path);
  return { version, path, query: url.searchParams, handler: m?.handler, params: m?.params ?? {} };
}

/** Errors that are bugs in shoald (a JavaScript TypeError …), not conditions to report: their text stays in the log. */
const isInternal = (err: unknown) =>
  err instanceof TypeError ||
  err instanceof RangeError ||
  err instanceof ReferenceError ||
  err instanceof SyntaxError ||
  err instanceof URIError ||
  !(err instanceof Error);

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

/**
 * The per-request error boundary: whatever a handler throws or rejects with becomes this request's
 * error reply (or, once a reply has started, the end of its connection); it never reaches the process.
 */
async function dispatch(ctx: RequestContext, handler?: (c: RequestContext) => unknown): Promise<void> {
  try {
    if (!handler) throw notFound('page not found');
    await handler(ctx);
  } catch (err) {
    replyError(ctx.method, ctx.path, ctx.reply, err);
  }
}

let incidents = 0;

function replyError(method: string, path: string, reply: Reply, err: unknown): void {
  try {
    let { status, message } = toErrorReply(err);
    if (!(err instanceof ShoalError) && isInternal(err)) {
      // A bug: the JavaScript message means nothing to the client; the log keeps it with an id.
      const id = `${Date.now().toString(36)}-${++incidents}`;
      console.error(`shoald: internal error ${id} in ${method} ${path}: ${(err as Error)?.stack ?? err}`);
      status = 500;
      message = `internal error ${id} in shoald (see its log)`;
    } else if (status >= 500) {
      // An expected failure (no leader, a node unreachable): one line, the stack says nothing more.
      const text = err instanceof Error ? err.message : String(err);
      console.error(`shoald: ${method} ${path}: ${status} ${text.split('\n')[0]}`);
    }
    if (!reply.started) reply.json(status, { message });
    else reply.abort();
  } catch (again) {
    console.error(`shoald: replying to ${method} ${path} failed: ${(again as Error)?.stack ?? again}`);
    reply.abort();
  }
}

export function createApiServer(router: Router): ApiServer {
  const sockets = new Set<Duplex>();
  // Like dockerd: idle keep-alive connections are not timed out (a client reusing one must not get
  // EPIPE), and long uploads (image load) are not cut off.
  const server = createServer({ keepAlive: true, keepAliveTimeout: 0, requestTimeout: 0 }, (req, res) => {
    const reply = new HttpReply(res);
    try {
      const t = target(router, req);
      const ac = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) ac.abort();
      });
      const ctx = makeContext(
        req,
        reply,
        t.params,
        t.path,
        t.version,
        t.query,
        () => readAll(req),
        ac.signal,
      );
      void dispatch(ctx, t.handler);
    } catch (err) {
      replyError(req.method ?? '?', String(req.url), reply, err);
    }
  });

  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const reply = new SocketReply(socket);
    try {
      const t = target(router, req);
      const ac = new AbortController();
      socket.on('close', () => ac.abort());
      const rawLength = req.headers['content-length'] ?? '0';
      if (!/^[0-9]+$/.test(rawLength))
        throw badRequest(`invalid Content-Length ${JSON.stringify(rawLength)}`);
      const length = Number(rawLength);
      const bodyPromise =
        length > MAX_JSON_BODY ? Promise.reject(tooLarge()) : readUpgradeBody(socket, head, length);
      bodyPromise.catch(() => {});
      const ctx = makeContext(req, reply, t.params, t.path, t.version, t.query, () => bodyPromise, ac.signal);
      // The body must be consumed before the handler hijacks, so that stdin is not mistaken for it.
      void bodyPromise.then(
        () => dispatch(ctx, t.handler),
        (err) => dispatch(ctx, () => Promise.reject(err)),
      );
    } catch (err) {
      replyError(req.method ?? '?', String(req.url), reply, err);
    }
  });

  return {
    server,
    destroyConnections() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}
