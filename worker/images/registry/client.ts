// OCI distribution API for one repository: manifests and blobs, with auth and retries.
import type { Digest } from '../../../common/digest.js';
import { type ErrorKind, ShoalError } from '../../../common/errors.js';
import type { Credentials } from '../../../common/registry-auth.js';
import type { ChunkPool } from '../chunk-pool.js';
import { MANIFEST_ACCEPT } from '../mediatypes.js';
import { AuthError, Authorizer } from './auth.js';
import { type Endpoint, endpointFor, type RegistryOptions } from './endpoint.js';
import { type HttpRequest, type HttpResponse, NetworkError, request } from './http.js';

/**
 * A registry operation failed. `kind` says whose fault it is: the registry's answer (not found,
 * denied), a registry that is down (unavailable), or content that breaks the protocol (internal);
 * `code` is the registry's own error code (e.g. MANIFEST_UNKNOWN) when it sent one.
 */
export class RegistryError extends ShoalError {
  constructor(
    message: string,
    kind: ErrorKind,
    readonly code?: string,
  ) {
    super(kind, message);
    this.name = 'RegistryError';
  }
}

/** Node's codes for a body cut off mid-way (reset, aborted, premature close): the download resumes. */
const RESUMABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The kind of a registry's non-2xx answer. */
export function kindOfRegistryStatus(status: number): ErrorKind {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'permission_denied';
  if (status === 404) return 'not_found';
  if (status === 429 || status >= 500) return 'unavailable';
  return 'internal';
}

export interface ClientOptions extends RegistryOptions {
  credentials?: Credentials;
  /** retries of 5xx / network failures per request (default 4) */
  retries?: number;
  /** base delay between retries in ms (doubles each time; default 200) */
  retryDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Reads the registry's JSON error body into a message. */
async function errorOf(res: HttpResponse, what: string): Promise<RegistryError> {
  let detail = '';
  let code: string | undefined;
  try {
    const text = await res.text();
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    if (j.errors?.length) {
      code = j.errors[0].code;
      detail = j.errors
        .map((e) => `${(e.code ?? '').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`.trim())
        .join('; ');
    } else detail = text.slice(0, 200);
  } catch {
    /* not JSON */
  }
  const status = res.status;
  const base =
    status === 401
      ? 'unauthorized: authentication required'
      : status === 403
        ? 'denied: requested access to the resource is denied'
        : status === 404
          ? 'not found'
          : `registry answered ${status}`;
  return new RegistryError(`${what}: ${detail || base}`, kindOfRegistryStatus(status), code);
}

export class RegistryClient {
  readonly endpoint: Endpoint;
  readonly auth: Authorizer;
  private readonly retries: number;
  private readonly retryDelay: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly domain: string,
    readonly repo: string,
    readonly opts: ClientOptions = {},
  ) {
    this.endpoint = endpointFor(domain, opts);
    this.auth = new Authorizer(opts.credentials, domain, this.endpoint.ca);
    this.retries = opts.retries ?? 4;
    this.retryDelay = opts.retryDelayMs ?? 200;
    this.sleep = opts.sleep ?? defaultSleep;
  }

  url(p: string): string {
    return p.startsWith('http') ? p : `${this.endpoint.base}${p}`;
  }

  /**
   * Sends a request with auth (learning the scheme from a 401 and retrying once) and retries 5xx and
   * network errors with backoff when `idempotent`. Non-2xx answers other than those are returned.
   */
  async send(
    req: Omit<HttpRequest, 'url'> & { path: string },
    scopes: string[],
    idempotent = true,
  ): Promise<HttpResponse> {
    let attempt = 0;
    for (;;) {
      let res: HttpResponse;
      try {
        res = await this.sendAuthed(req, scopes);
      } catch (e) {
        if (!(e instanceof NetworkError) || !idempotent || attempt >= this.retries) throw e;
        await this.sleep(this.retryDelay * 2 ** attempt++);
        continue;
      }
      if (res.status >= 500 && idempotent && attempt < this.retries) {
        await res.drain();
        await this.sleep(this.retryDelay * 2 ** attempt++);
        continue;
      }
      return res;
    }
  }

  private async sendAuthed(
    req: Omit<HttpRequest, 'url'> & { path: string },
    scopes: string[],
  ): Promise<HttpResponse> {
    const make = async (): Promise<HttpRequest> => {
      const headers = { ...(req.headers ?? {}) };
      const h = await this.auth.header(scopes);
      if (h) headers.Authorization = h;
      return { ...req, url: this.url(req.path), headers, ca: this.endpoint.ca };
    };
    let res = await request(await make());
    if (res.status === 401 && !Buffer.isBuffer(req.body) && req.body) return res; // a stream cannot be resent
    if (res.status === 401) {
      const hadAuth = this.auth.learned;
      await res.drain();
      if (!this.auth.learn(res.headers['www-authenticate'] as string | undefined))
        throw new AuthError(`${this.domain}: unauthorized (no usable WWW-Authenticate challenge)`);
      if (hadAuth) this.auth.invalidate(scopes);
      res = await request(await make());
      if (res.status === 401) throw await errorOf(res, `${this.domain}/${this.repo}`);
    }
    return res;
  }

  pullScope(): string[] {
    return [`repository:${this.repo}:pull`];
  }

  pushScope(from?: string): string[] {
    const s = [`repository:${this.repo}:pull,push`];
    if (from && from !== this.repo) s.push(`repository:${from}:pull`);
    return s;
  }

  /** GET /v2/: reachability and credentials check (docker login does the same). */
  async ping(): Promise<void> {
    const res = await this.send({ method: 'GET', path: '/v2/' }, []);
    if (res.status === 200) {
      await res.drain();
      return;
    }
    throw await errorOf(res, `${this.domain}: /v2/`);
  }

  async getManifest(ref: string): Promise<{ bytes: Buffer; mediaType: string; digest?: string }> {
    const res = await this.send(
      { method: 'GET', path: `/v2/${this.repo}/manifests/${ref}`, headers: { Accept: MANIFEST_ACCEPT } },
      this.pullScope(),
    );
    if (res.status !== 200) {
      if (res.status === 404)
        throw new RegistryError(
          `manifest for ${this.domain}/${this.repo}:${ref} not found: manifest unknown`,
          'not_found',
          'MANIFEST_UNKNOWN',
        );
      throw await errorOf(res, `manifest ${this.domain}/${this.repo}:${ref}`);
    }
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of res.body) {
      n += (c as Buffer).length;
      if (n > 4 << 20) throw new RegistryError(`manifest ${ref}: larger than 4 MiB`, 'internal');
      parts.push(c as Buffer);
    }
    return {
      bytes: Buffer.concat(parts),
      mediaType: String(res.headers['content-type'] ?? ''),
      digest: res.headers['docker-content-digest'] as string | undefined,
    };
  }

  /** Small blobs (configs) in memory. */
  async getBlobBytes(digest: Digest, size = -1, max = 16 << 20): Promise<Buffer> {
    if (size > max)
      throw new RegistryError(`blob ${digest}: ${size} bytes is larger than ${max}`, 'internal');
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of this.blobStream(digest, size)) {
      n += c.length;
      if (n > max) throw new RegistryError(`blob ${digest}: larger than ${max} bytes`, 'internal');
      parts.push(c);
    }
    return Buffer.concat(parts);
  }

  /**
   * Streams a blob; when the connection breaks or the registry fails mid-way, reconnects with
   * Range: bytes=<received>- and continues, up to `retries` times. `size` < 0 when unknown. With
   * `into`, a plain-HTTP download lands in that pool's buffers, each let go when the next is asked
   * for (hold what you keep longer: chunk-pool.ts).
   */
  async *blobStream(
    digest: Digest,
    size: number,
    onRetry?: (offset: number, err: Error) => void,
    into?: ChunkPool,
  ): AsyncGenerator<Buffer> {
    let offset = 0;
    let failures = 0;
    for (;;) {
      const headers: Record<string, string> = {};
      if (offset > 0) headers.Range = `bytes=${offset}-`;
      let res: HttpResponse;
      try {
        res = await this.send(
          { method: 'GET', path: `/v2/${this.repo}/blobs/${digest}`, headers, followRedirects: true, into },
          this.pullScope(),
        );
      } catch (e) {
        if (e instanceof RegistryError || e instanceof AuthError) throw e;
        // send() has already retried network failures
        throw new RegistryError(
          `blob ${digest}: download failed after ${this.retries + 1} attempts: ${(e as Error).message}`,
          'unavailable',
        );
      }
      if (res.status === 404) {
        await res.drain();
        throw new RegistryError(
          `blob ${digest} not found in ${this.domain}/${this.repo}: blob unknown`,
          'not_found',
          'BLOB_UNKNOWN',
        );
      }
      let skip = 0;
      if (offset > 0 && res.status === 200)
        skip = offset; // no range support: discard what we have
      else if (offset > 0 && res.status === 206) {
        const m = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        if (!m || Number(m[1]) !== offset) {
          await res.drain();
          throw new RegistryError(`blob ${digest}: registry resumed at the wrong offset`, 'internal');
        }
      } else if (res.status !== 200) throw await errorOf(res, `blob ${digest}`);
      try {
        for await (const raw of res.body) {
          let c = raw as Buffer;
          if (skip > 0) {
            const drop = Math.min(skip, c.length);
            skip -= drop;
            c = c.subarray(drop);
            if (c.length === 0) continue;
          }
          offset += c.length;
          yield c;
        }
        if (!res.body.complete) throw new NetworkError('connection closed before the end of the body');
        if (size >= 0 && offset < size)
          throw new NetworkError(`connection closed after ${offset} of ${size} bytes`);
        return;
      } catch (e) {
        if (!(e instanceof NetworkError) && !RESUMABLE_CODES.has((e as NodeJS.ErrnoException).code ?? ''))
          throw e;
        if (++failures > this.retries)
          throw new RegistryError(
            `blob ${digest}: download failed after ${failures} attempts: ${(e as Error).message}`,
            'unavailable',
          );
        onRetry?.(offset, e as Error);
        await this.sleep(this.retryDelay * 2 ** (failures - 1));
      }
    }
  }

  async hasBlob(digest: Digest, scopes = this.pullScope()): Promise<boolean> {
    const res = await this.send({ method: 'HEAD', path: `/v2/${this.repo}/blobs/${digest}` }, scopes);
    await res.drain();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw new RegistryError(
      `HEAD blob ${digest}: registry answered ${res.status}`,
      kindOfRegistryStatus(res.status),
    );
  }

  /** Tries a cross-repository mount; returns true when mounted, else the upload location it opened. */
  async mountBlob(digest: Digest, from: string): Promise<true | string> {
    const res = await this.send(
      {
        method: 'POST',
        path: `/v2/${this.repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      },
      this.pushScope(from),
    );
    await res.drain();
    if (res.status === 201) return true;
    if (res.status === 202 && res.headers.location) return String(res.headers.location);
    throw await errorOf(res, `mount ${digest} from ${from}`);
  }

  async startUpload(): Promise<string> {
    const res = await this.send(
      { method: 'POST', path: `/v2/${this.repo}/blobs/uploads/` },
      this.pushScope(),
    );
    if (res.status !== 202 || !res.headers.location)
      throw await errorOf(res, `start upload to ${this.domain}/${this.repo}`);
    await res.drain();
    return String(res.headers.location);
  }

  private withDigest(location: string, digest: Digest): string {
    const u = new URL(location, this.endpoint.base);
    u.searchParams.set('digest', digest);
    return u.toString();
  }

  /** Monolithic upload: one PUT with the whole blob. */
  async putBlob(location: string, digest: Digest, data: Buffer): Promise<void> {
    const res = await this.send(
      {
        method: 'PUT',
        path: this.withDigest(location, digest),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) },
        body: data,
      },
      this.pushScope(),
      false,
    );
    if (res.status !== 201) throw await errorOf(res, `upload ${digest}`);
    await res.drain();
  }

  /** Chunked upload: PATCH each chunk (Content-Range), then PUT ?digest= to close the session. */
  async putBlobChunked(
    location: string,
    digest: Digest,
    chunks: AsyncIterable<Buffer>,
    onChunk?: (sent: number) => void,
  ): Promise<void> {
    let loc = location;
    let sent = 0;
    for await (const c of chunks) {
      const res = await this.send(
        {
          method: 'PATCH',
          path: new URL(loc, this.endpoint.base).toString(),
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Length': String(c.length),
            'Content-Range': `${sent}-${sent + c.length - 1}`,
          },
          body: c,
        },
        this.pushScope(),
        false,
      );
      if (res.status !== 202) throw await errorOf(res, `upload chunk of ${digest} at ${sent}`);
      await res.drain();
      if (res.headers.location) loc = String(res.headers.location);
      sent += c.length;
      onChunk?.(sent);
    }
    const res = await this.send(
      {
        method: 'PUT',
        path: this.withDigest(loc, digest),
        headers: { 'Content-Length': '0' },
        body: Buffer.alloc(0),
      },
      this.pushScope(),
      false,
    );
    if (res.status !== 201) throw await errorOf(res, `finish upload of ${digest}`);
    await res.drain();
  }

  async putManifest(ref: string, mediaType: string, bytes: Buffer): Promise<string | undefined> {
    const res = await this.send(
      {
        method: 'PUT',
        path: `/v2/${this.repo}/manifests/${ref}`,
        headers: { 'Content-Type': mediaType, 'Content-Length': String(bytes.length) },
        body: bytes,
      },
      this.pushScope(),
      true,
    );
    if (res.status !== 201) throw await errorOf(res, `push manifest ${this.domain}/${this.repo}:${ref}`);
    await res.drain();
    return res.headers['docker-content-digest'] as string | undefined;
  }
}
