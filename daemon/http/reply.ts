// One reply interface over the two ways a request reaches us: a normal HTTP request (ServerResponse)
// or an `Upgrade: tcp` request (raw socket), which attach and exec-start hijack.
import type { ServerResponse } from 'node:http';
import { Duplex, Readable, type Writable } from 'node:stream';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.12';
export const SERVER_VERSION = '0.1.0';

/** Headers every reply carries, as dockerd sends them (only the ping's Api-Version matters to the CLI). */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'Api-Version': API_VERSION,
  'Docker-Experimental': 'false',
  Ostype: 'linux',
  Server: `shoal/${SERVER_VERSION} (linux)`,
};

export type Headers = Record<string, string>;

export interface Reply {
  /** JSON body with Content-Length. */
  json(status: number, body: unknown, headers?: Headers): void;
  /** No body (204, or 200 with Content-Length: 0). */
  empty(status: number, headers?: Headers): void;
  text(status: number, body: string, headers?: Headers): void;
  /** A body sent as it is produced (chunked); headers are flushed at once. */
  stream(status: number, headers?: Headers): Writable;
  /** 101 UPGRADED: afterwards the socket is a raw bidirectional stream. */
  hijack(): Duplex;
  /** Whether anything has been sent already (an error can then no longer become a reply). */
  readonly started: boolean;
  /** Ends the connection at once: for an error after the reply has started. */
  abort(): void;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  304: 'Not Modified',
  400: 'Bad Request',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

export class HttpReply implements Reply {
  constructor(private readonly res: ServerResponse) {}

  get started(): boolean {
    return this.res.headersSent;
  }

  abort(): void {
    this.res.destroy();
  }

  json(status: number, body: unknown, headers: Headers = {}): void {
    const data = Buffer.from(JSON.stringify(body) + '\n');
    this.res.writeHead(status, {
      ...COMMON_HEADERS,
      'Content-Type': 'application/json',
      'Content-Length': String(data.length),
      ...headers,
    });
    this.res.end(data);
  }

  empty(status: number, headers: Headers = {}): void {
    this.res.writeHead(status, {
      ...COMMON_HEADERS,
      ...(status === 204 ? {} : { 'Content-Length': '0' }),
      ...headers,
    });
    this.res.end();
  }

  text(status: number, body: string, headers: Headers = {}): void {
    const data = Buffer.from(body);
    this.res.writeHead(status, {
      ...COMMON_HEADERS,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': String(data.length),
      ...headers,
    });
    this.res.end(data);
  }

  stream(status: number, headers: Headers = {}): Writable {
    this.res.writeHead(status, { ...COMMON_HEADERS, ...headers });
    // docker run waits for the /wait headers before it sends /start: they must leave now.
    this.res.flushHeaders();
    return this.res;
  }

  /**
   * A request without `Upgrade` (dockerode's attach and exec start, `docker.run()`): dockerd takes the
   * connection over anyway. Here the raw stream is the reply's body (200, chunked) and the request's
   * body, when it has one (dockerode's openStdin), is the input; a request without a body never ends
   * the input (a container's stdin stays open until the connection goes, as with dockerd).
   */
  hijack(): Duplex {
    const req = this.res.req;
    this.res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'application/vnd.docker.raw-stream' });
    this.res.flushHeaders();
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const input = hasBody && !req.readableEnded ? req : new Readable({ read() {} });
    const duplex = Duplex.from({ readable: input, writable: this.res });
    this.res.once('close', () => {
      input.destroy();
      duplex.destroy();
    });
    return duplex;
  }
}

/** Replies written by hand onto the socket of an upgrade request. */
export class SocketReply implements Reply {
  private sent = false;
  constructor(private readonly socket: Duplex) {}

  get started(): boolean {
    return this.sent;
  }

  abort(): void {
    this.socket.destroy();
  }

  private head(status: number, headers: Headers): void {
    this.sent = true;
    const lines = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    this.socket.write(lines.join('\r\n') + '\r\n\r\n');
  }

  private whole(status: number, body: Buffer, headers: Headers): void {
    this.head(status, {
      ...COMMON_HEADERS,
      ...headers,
      'Content-Length': String(body.length),
      Connection: 'close',
    });
    // A whole reply ends the exchange: close once it is flushed, so that a client still sending
    // (a refused oversized body) does not keep a half-open socket in the daemon.
    this.socket.end(body, () => this.socket.destroy());
  }

  json(status: number, body: unknown, headers: Headers = {}): void {
    this.whole(status, Buffer.from(JSON.stringify(body) + '\n'), {
      'Content-Type': 'application/json',
      ...headers,
    });
  }

  empty(status: number, headers: Headers = {}): void {
    this.whole(status, Buffer.alloc(0), headers);
  }

  text(status: number, body: string, headers: Headers = {}): void {
    this.whole(status, Buffer.from(body), { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  }

  stream(status: number, headers: Headers = {}): Writable {
    // No chunked framing on a hand-written reply: the body ends when the connection closes.
    this.head(status, { ...COMMON_HEADERS, ...headers, Connection: 'close' });
    return this.socket;
  }

  hijack(): Duplex {
    this.head(101, {
      'Content-Type': 'application/vnd.docker.raw-stream',
      Connection: 'Upgrade',
      Upgrade: 'tcp',
      ...COMMON_HEADERS,
    });
    return this.socket;
  }
}
