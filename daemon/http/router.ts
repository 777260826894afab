// Method + path-pattern routing for the Engine API. Paths may carry a version prefix (`/v1.41/...`);
// it is stripped before matching. Patterns: `:name` matches one segment, `*name` one or more
// (image references contain slashes: `/images/*name/json`).
import type { IncomingHttpHeaders } from 'node:http';
import { badRequest } from './errors.js';
import type { Reply } from './reply.js';

export interface RequestContext {
  readonly method: string;
  /** The path without the version prefix. */
  readonly path: string;
  /** The API version the client asked for in the path, or undefined for unversioned paths. */
  readonly version: string | undefined;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly reply: Reply;
  /** The whole request body. */
  readBody(): Promise<Buffer>;
  /** The request body as a stream, unbuffered and without the size cap (image load/import); plain requests only. */
  bodyStream(): AsyncIterable<Buffer>;
  /** The request body parsed as JSON, or undefined when it is empty. Bad JSON is a 400. */
  readJson<T = unknown>(): Promise<T | undefined>;
  /** A signal that fires when the client goes away before the reply is complete. */
  readonly closed: AbortSignal;
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  names: string[];
  handler: Handler;
}

/** A percent-decoded path segment; malformed escapes ("%", "%zz", "%C3") are the client's error. */
function decodeParam(name: string, raw: string): string {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw badRequest(`invalid ${name} in the path: "${raw}" is not valid percent-encoding`);
  }
  if (value.includes('\0')) throw badRequest(`invalid ${name} in the path: contains a NUL byte`);
  return value;
}

const VERSION_PREFIX = /^\/v(\d+(?:\.\d+)?)(?=\/)/;

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    const names: string[] = [];
    const source = pattern
      .split('/')
      .map((seg) => {
        if (seg.startsWith(':')) {
          names.push(seg.slice(1));
          return '([^/]+)';
        }
        if (seg.startsWith('*')) {
          names.push(seg.slice(1));
          return '(.+)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    this.routes.push({ method, pattern, regex: new RegExp(`^${source}/?$`), names, handler });
    return this;
  }

  get(pattern: string, h: Handler): this {
    return this.add('GET', pattern, h);
  }
  post(pattern: string, h: Handler): this {
    return this.add('POST', pattern, h);
  }
  put(pattern: string, h: Handler): this {
    return this.add('PUT', pattern, h);
  }
  delete(pattern: string, h: Handler): this {
    return this.add('DELETE', pattern, h);
  }
  head(pattern: string, h: Handler): this {
    return this.add('HEAD', pattern, h);
  }

  /** Splits a raw request path into its version and unversioned path. */
  static splitVersion(rawPath: string): { version: string | undefined; path: string } {
    const m = VERSION_PREFIX.exec(rawPath);
    if (!m) return { version: undefined, path: rawPath };
    return { version: m[1], path: rawPath.slice(m[0].length) };
  }

  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | undefined {
    for (const r of this.routes) {
      if (r.method !== method) continue;
      const m = r.regex.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => {
        params[n] = decodeParam(n, m[i + 1]);
      });
      return { handler: r.handler, params };
    }
    return undefined;
  }
}
