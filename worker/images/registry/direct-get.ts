// A GET over plain HTTP/1.1 whose body the kernel reads straight into a chunk pool's buffers
// (net's `onread`). Through node:http a blob's bytes were read 64 KiB at a time and copied twice in
// user space (into the parser's body buffers, then into the pool's chunks): for 128 MB ~100 ms of
// CPU and ~2,000 trips through the stream machinery, against ~20 ms and ~130 reads this way. Full
// chunks are page-aligned and so go on to the blob file with O_DIRECT (blobstore.ts) untouched.
//
// Only a response with a Content-Length and no Transfer-Encoding is read here; for any other the
// answer is null and the caller asks again through node:http (the request is an idempotent GET).
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { type ChunkPool, drop } from '../chunk-pool.js';
import { NetworkError } from './network-error.js';

/** The status line and header fields must arrive within this many bytes. */
const MAX_HEAD = 64 << 10;
/** Full chunks read ahead of the consumer before the socket pauses. */
const READ_AHEAD = 4;

export interface DirectResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: DirectBody;
}

/**
 * Sends GET u (plain HTTP) with these header fields and reads the response head. Rejects with a
 * NetworkError when the connection fails or times out before the head arrived.
 */
export function directGet(
  u: URL,
  headers: Record<string, string>,
  pool: ChunkPool,
  timeoutMs: number,
): Promise<DirectResponse | null> {
  const what = `GET ${u.origin}${u.pathname}`;
  let head = 'GET ';
  head += `${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n:]/.test(k) || /[\r\n]/.test(v))
      throw new NetworkError(`${what}: header ${k} holds a line break`);
    head += `${k}: ${v}\r\n`;
  }
  head += 'Connection: close\r\n\r\n';
  return new DirectBody(pool, what).start(u, head, timeoutMs);
}

/** The response body: the pool's chunks, full but for the last, each let go when the next is asked for. */
export class DirectBody implements AsyncIterable<Buffer> {
  /** every byte the Content-Length announced has arrived */
  complete = false;
  private socket: net.Socket | null = null;
  private headBuf: Buffer | null = Buffer.allocUnsafe(MAX_HEAD);
  private headLen = 0;
  private onHead: ((r: DirectResponse | null) => void) | null = null;
  private onHeadError: ((e: Error) => void) | null = null;
  private cur: Buffer | null = null;
  private filled = 0;
  /** body bytes still to come */
  private want = 0;
  private readonly ready: Buffer[] = [];
  private failure: Error | null = null;
  private ended = false;
  private wake: (() => void) | null = null;
  private paused = false;

  constructor(
    private readonly pool: ChunkPool,
    private readonly what: string,
  ) {}

  start(u: URL, head: string, timeoutMs: number): Promise<DirectResponse | null> {
    return new Promise((resolve, reject) => {
      this.onHead = resolve;
      this.onHeadError = reject;
      const s = net.connect({
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: Number(u.port || 80),
        onread: { buffer: () => this.space(), callback: (n: number) => this.received(n) },
      });
      this.socket = s;
      s.setNoDelay(true);
      s.setTimeout(timeoutMs, () => this.fail(new NetworkError(`${this.what}: timed out`)));
      s.on('error', (e) => this.fail(new NetworkError(`${this.what}: ${e.message}`)));
      // the server's end is followed by 'close' (no half-open sockets here): one place for both
      s.on('close', () => this.fail(new NetworkError(`${this.what}: connection closed ${this.where()}`)));
      s.write(head);
    });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    let last: Buffer | null = null;
    try {
      for (;;) {
        if (last) drop(last);
        last = null;
        while (this.ready.length === 0 && !this.ended) await new Promise<void>((r) => (this.wake = r));
        const next = this.ready.shift();
        if (this.paused && this.ready.length < READ_AHEAD) {
          this.paused = false;
          this.socket?.resume();
        }
        if (next) {
          last = next;
          yield next;
          continue;
        }
        if (!this.complete && this.failure) throw this.failure;
        return;
      }
    } finally {
      if (last) drop(last);
      this.close();
    }
  }

  /** The body (copied out of the pool's chunks) as text: error responses. */
  async text(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const c of this) parts.push(Buffer.from(c));
    return Buffer.concat(parts).toString();
  }

  /** Done with the response: the connection is closed (it was never to be reused). */
  close(): void {
    this.ended = true;
    this.socket?.destroy();
    this.socket = null;
    for (const c of this.ready.splice(0)) drop(c);
    if (this.cur) drop(this.cur);
    this.cur = null;
    this.wakeUp();
  }

  private where(): string {
    return this.headBuf ? 'before the response head' : `with ${this.want} bytes of the body to come`;
  }

  /** Where the next read goes: the head buffer, then the rest of the current chunk (never past the body). */
  private space(): Buffer {
    if (this.headBuf) return this.headBuf.subarray(this.headLen);
    if (!this.cur) return Buffer.allocUnsafe(1); // the body is complete; nothing more is read
    return this.cur.subarray(this.filled, this.filled + Math.min(this.cur.length - this.filled, this.want));
  }

  /** n bytes arrived where space() said; false pauses the socket. */
  private received(n: number): boolean {
    if (this.ended) return false;
    if (this.headBuf) return this.headReceived(n);
    this.filled += n;
    this.want -= n;
    this.chunkDone();
    if (this.ready.length >= READ_AHEAD) this.paused = true;
    return !this.paused;
  }

  private headReceived(n: number): boolean {
    const buf = this.headBuf!;
    const from = Math.max(0, this.headLen - 3);
    this.headLen += n;
    const end = buf.subarray(0, this.headLen).indexOf('\r\n\r\n', from, 'latin1');
    if (end < 0) {
      if (this.headLen === buf.length)
        this.fail(new NetworkError(`${this.what}: response head larger than ${MAX_HEAD} bytes`));
      return true;
    }
    const parsed = parseHead(buf.toString('latin1', 0, end));
    const length = parsed ? contentLength(parsed.headers) : null;
    const resolve = this.onHead!;
    this.onHead = this.onHeadError = null;
    if (!parsed || length === null) {
      this.headBuf = null;
      this.close();
      resolve(null);
      return false;
    }
    // the body bytes that came with the head start the first chunk(s)
    this.want = length;
    this.headBuf = null;
    if (length > 0) this.cur = this.pool.take();
    for (let off = end + 4, stop = end + 4 + Math.min(this.headLen - end - 4, length); off < stop; ) {
      const k = buf.copy(this.cur!, this.filled, off, stop);
      off += k;
      this.filled += k;
      this.want -= k;
      this.chunkDone();
    }
    this.chunkDone();
    resolve({ status: parsed.status, headers: parsed.headers, body: this });
    return true;
  }

  /** Hands on the current chunk when full or when the body is complete. */
  private chunkDone(): void {
    const c = this.cur;
    if (c && (this.filled === c.length || this.want === 0)) {
      this.ready.push(this.filled === c.length ? c : c.subarray(0, this.filled));
      this.cur = this.want > 0 ? this.pool.take() : null;
      this.filled = 0;
    }
    if (this.want === 0) {
      this.complete = true;
      this.ended = true;
      this.socket?.destroy();
      this.socket = null;
    }
    this.wakeUp();
  }

  private fail(e: Error): void {
    if (this.onHeadError) {
      const reject = this.onHeadError;
      this.onHead = this.onHeadError = null;
      this.close();
      reject(e);
      return;
    }
    if (this.ended) return;
    this.failure ??= e;
    this.ended = true;
    // what arrived is handed on before the failure: a resumed download asks only for the rest
    if (this.cur && this.filled > 0) this.ready.push(this.cur.subarray(0, this.filled));
    else if (this.cur) drop(this.cur);
    this.cur = null;
    this.socket?.destroy();
    this.socket = null;
    this.wakeUp();
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/** Status and header fields (names lower-cased, repeated ones joined), or null when malformed. */
function parseHead(text: string): { status: number; headers: IncomingHttpHeaders } | null {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]);
  if (!m) return null;
  const status = Number(m[1]);
  if (status < 200) return null; // 1xx interim answers: left to node:http
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) return null;
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  return { status, headers };
}

/** The body's length when it is given by one plain Content-Length (and no transfer coding), else null. */
function contentLength(h: IncomingHttpHeaders): number | null {
  if (h['transfer-encoding'] !== undefined) return null;
  const v = h['content-length'];
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) return null;
  return Number(v);
}
