// Minimal HTTP(S) client for the registry: streaming bodies, per-registry CA, redirects, keep-alive.
import http from 'node:http';
import https from 'node:https';
import type { ChunkPool } from '../chunk-pool.js';
import { directGet } from './direct-get.js';
import { NetworkError } from './network-error.js';

export { NetworkError };

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | AsyncIterable<Buffer>;
  ca?: Buffer;
  /** follow 3xx for GET/HEAD (blob downloads are often redirected to storage) */
  followRedirects?: boolean;
  timeoutMs?: number;
  /**
   * A GET over plain HTTP reads its body straight into this pool's buffers (direct-get.ts): chunks
   * handed on full but for the last, each let go when the next is asked for (chunk-pool.ts).
   */
  into?: ChunkPool;
}

/** A response body: its chunks, and whether all of it arrived. */
export interface ResponseBody extends AsyncIterable<Buffer | string> {
  readonly complete: boolean;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: ResponseBody;
  url: string;
  text(): Promise<string>;
  drain(): Promise<void>;
}

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const httpsAgents = new Map<string, https.Agent>();

function agentFor(u: URL, ca?: Buffer): http.Agent {
  if (u.protocol === 'http:') return httpAgent;
  const key = ca ? ca.toString('base64').slice(0, 64) : '';
  let a = httpsAgents.get(key);
  if (!a) {
    a = new https.Agent({ keepAlive: true, maxSockets: 16, ca });
    httpsAgents.set(key, a);
  }
  return a;
}

async function once(req: HttpRequest): Promise<HttpResponse> {
  const u = new URL(req.url);
  if (req.into && req.method === 'GET' && !req.body && u.protocol === 'http:') {
    const r = await directGet(u, req.headers ?? {}, req.into, req.timeoutMs ?? 30_000);
    if (r)
      return {
        ...r,
        url: req.url,
        text: () => r.body.text(),
        drain: async () => r.body.close(),
      };
    // a response node:http reads better (no Content-Length, a transfer coding): asked again there
  }
  return viaNodeHttp(req, u);
}

function viaNodeHttp(req: HttpRequest, u: URL): Promise<HttpResponse> {
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const r = mod.request(
      u,
      {
        method: req.method,
        headers: req.headers,
        agent: agentFor(u, req.ca),
        timeout: req.timeoutMs ?? 30_000,
      },
      (res) => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: res,
          url: req.url,
          async text() {
            const parts: Buffer[] = [];
            for await (const c of res) parts.push(c as Buffer);
            return Buffer.concat(parts).toString();
          },
          async drain() {
            res.resume();
            if (!res.complete) await new Promise((ok) => res.once('close', ok));
          },
        });
      },
    );
    r.on('timeout', () => r.destroy(new NetworkError(`${req.method} ${u.host}: timed out`)));
    r.on('error', (e) =>
      reject(
        e instanceof NetworkError
          ? e
          : new NetworkError(`${req.method} ${u.origin}${u.pathname}: ${e.message}`),
      ),
    );
    const body = req.body;
    if (!body) r.end();
    else if (Buffer.isBuffer(body)) r.end(body);
    else
      (async () => {
        for await (const c of body) if (!r.write(c)) await new Promise((ok) => r.once('drain', ok));
        r.end();
      })().catch((e) => r.destroy(e));
  });
}

export async function request(req: HttpRequest): Promise<HttpResponse> {
  let cur = req;
  for (let hop = 0; ; hop++) {
    const res = await once(cur);
    if (!req.followRedirects || ![301, 302, 303, 307, 308].includes(res.status) || !res.headers.location)
      return res;
    if (hop >= 5) throw new NetworkError(`${req.method} ${req.url}: too many redirects`);
    await res.drain();
    const next = new URL(res.headers.location, cur.url);
    const headers = { ...(cur.headers ?? {}) };
    // credentials are for the registry, not for the storage a blob is redirected to
    if (next.host !== new URL(cur.url).host) delete headers.Authorization;
    cur = { ...cur, url: next.toString(), headers };
  }
}
