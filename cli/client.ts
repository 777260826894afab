// The shoal CLI's Engine-API client over a unix socket. Requests use /v1.41/ paths directly (no
// ping round trip: shoal and shoald speak the same version). A whole reply (what most commands need)
// is one exchange on a connection the daemon closes after it (reply.ts), without node:http: loading
// that is ~6 ms of a `shoal ps` that should cost little more than Node's own start. Streams and the
// hijacked connections of attach and exec load node:http when they are used.
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { parseReply } from './reply.js';

export const API_PREFIX = '/v1.41';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A daemon that cannot be reached at all (no socket, refused). */
export class ConnectError extends Error {}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

function buildPath(path: string, query?: Query): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === false) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v === true ? '1' : String(v))}`);
  }
  return API_PREFIX + path + (parts.length ? `?${parts.join('&')}` : '');
}

async function readBody(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function errorFrom(status: number, body: Buffer): ApiError {
  const text = body.toString('utf8');
  try {
    const j = JSON.parse(text) as { message?: string };
    if (typeof j.message === 'string') return new ApiError(status, j.message);
  } catch {}
  return new ApiError(status, text.trim() || `HTTP ${status}`);
}

export class Client {
  constructor(readonly socketPath: string) {}

  private connectError(err: NodeJS.ErrnoException): Error {
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES') {
      return new ConnectError(
        `Cannot connect to the shoal daemon at unix://${this.socketPath}. Is shoald running? (${err.code})`,
      );
    }
    return err;
  }

  /** Sends a request and returns the response with its body unread (for streams). Non-2xx become ApiError. */
  async open(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const { request } = await import('./node-http.js');
    return new Promise((resolve, reject) => {
      const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
      const req = request({
        // A connection of our own, no Agent: the Agent checks the Host header with net.isIP, whose first
        // use compiles a large regular expression (~15 ms of a ~100 ms `shoal ps`).
        createConnection: () => connect(this.socketPath),
        method,
        path: buildPath(path, opts.query),
        signal: opts.signal,
        headers: {
          Host: 'shoal',
          'User-Agent': 'shoal-cli',
          ...(payload
            ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) }
            : {}),
          ...opts.headers,
        },
      });
      req.on('error', (err) => reject(this.connectError(err)));
      req.on('response', async (res) => {
        const status = res.statusCode ?? 0;
        // 304 Not Modified: start of a running or stop of a stopped container, nothing to do (as dockerd).
        if ((status >= 200 && status < 300) || status === 304) resolve(res);
        else reject(errorFrom(status, await readBody(res).catch(() => Buffer.alloc(0))));
      });
      req.end(payload);
    });
  }

  /** A whole JSON (or empty) reply. */
  async call<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const { status, body } = await this.exchange(method, path, opts);
    // 304 Not Modified: start of a running or stop of a stopped container, nothing to do (as dockerd).
    if (!((status >= 200 && status < 300) || status === 304)) throw errorFrom(status, body);
    const text = body.toString('utf8').trim();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** One request, its whole reply; the daemon closes the connection after it (Connection: close). */
  private exchange(
    method: string,
    path: string,
    opts: RequestOptions,
  ): Promise<{ status: number; body: Buffer }> {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = {
      Host: 'shoal',
      'User-Agent': 'shoal-cli',
      Connection: 'close',
      ...(payload ? { 'Content-Type': 'application/json' } : {}),
      'Content-Length': String(payload?.length ?? 0),
      ...opts.headers,
    };
    let head = `${method} ${buildPath(path, opts.query)} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    return new Promise((resolve, reject) => {
      const sock = connect(this.socketPath);
      const chunks: Buffer[] = [];
      const abort = () => sock.destroy(new Error('The operation was aborted'));
      opts.signal?.addEventListener('abort', abort, { once: true });
      sock.on('connect', () =>
        sock.write(payload ? Buffer.concat([Buffer.from(`${head}\r\n`), payload]) : `${head}\r\n`),
      );
      sock.on('data', (c: Buffer) => chunks.push(c));
      sock.on('error', (err) => {
        opts.signal?.removeEventListener('abort', abort);
        reject(this.connectError(err));
      });
      sock.on('end', () => {
        opts.signal?.removeEventListener('abort', abort);
        sock.destroy();
        try {
          resolve(parseReply(Buffer.concat(chunks)));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  get<T = unknown>(path: string, query?: Query): Promise<T> {
    return this.call<T>('GET', path, { query });
  }

  post<T = unknown>(path: string, query?: Query, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, { query, body });
  }

  /** Upgrade to a raw stream (attach, exec start): resolves with the socket once the daemon answered 101. */
  async hijack(path: string, query?: Query, body?: unknown): Promise<Socket> {
    const { request } = await import('./node-http.js');
    return new Promise((resolve, reject) => {
      const payload = Buffer.from(body === undefined ? '' : JSON.stringify(body));
      const req = request({
        // A connection of our own, no Agent: the Agent checks the Host header with net.isIP, whose first
        // use compiles a large regular expression (~15 ms of a ~100 ms `shoal ps`).
        createConnection: () => connect(this.socketPath),
        method: 'POST',
        path: buildPath(path, query),
        headers: {
          Host: 'shoal',
          'User-Agent': 'shoal-cli',
          Connection: 'Upgrade',
          Upgrade: 'tcp',
          'Content-Type': body === undefined ? 'text/plain' : 'application/json',
          'Content-Length': String(payload.length),
        },
      });
      req.on('error', (err) => reject(this.connectError(err)));
      req.on('upgrade', (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', async (res) => {
        const body = await readBody(res).catch(() => Buffer.alloc(0));
        const status = res.statusCode ?? 0;
        reject(
          status >= 300 ? errorFrom(status, body) : new Error(`unable to upgrade to tcp, received ${status}`),
        );
      });
      req.end(payload);
    });
  }
}
