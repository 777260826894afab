// Registry authentication: WWW-Authenticate challenges, bearer tokens from the token endpoint
// (cached per scope until they expire), and basic auth.
import { ShoalError } from '../../../common/errors.js';
import type { Credentials } from '../../../common/registry-auth.js';
import { request } from './http.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (one challenge; quoted or token values). */
export function parseChallenge(h: string | undefined): Challenge | undefined {
  if (!h) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(h);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g;
  for (let p = re.exec(m[2]); p; p = re.exec(m[2]))
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return { scheme: m[1].toLowerCase(), params };
}

/** The registry or its token server refused our identity (or offered no way to present one). */
export class AuthError extends ShoalError {
  constructor(message: string) {
    super('unauthenticated', message);
    this.name = 'AuthError';
  }
}

interface CachedToken {
  token: string;
  expires: number;
}

export class Authorizer {
  private tokens = new Map<string, CachedToken>();
  private scheme: 'none' | 'basic' | 'bearer' = 'none';
  private challenge?: Challenge;

  constructor(
    private readonly creds: Credentials | undefined,
    private readonly host: string,
    private readonly ca?: Buffer,
    private readonly now: () => number = Date.now,
  ) {}

  /** Remembers how the registry wants to be authenticated (from a 401). */
  learn(wwwAuthenticate: string | undefined): boolean {
    const c = parseChallenge(wwwAuthenticate);
    if (!c) return false;
    if (c.scheme === 'basic') this.scheme = 'basic';
    else if (c.scheme === 'bearer') this.scheme = 'bearer';
    else return false;
    this.challenge = c;
    return true;
  }

  get learned(): boolean {
    return this.scheme !== 'none';
  }

  /** The Authorization header for a request needing `scopes` (e.g. repository:foo:pull). */
  async header(scopes: string[]): Promise<string | undefined> {
    if (this.scheme === 'basic') {
      if (!this.creds?.username)
        throw new AuthError(
          `${this.host}: authentication required (no credentials; run shoal login ${this.host})`,
        );
      return `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password ?? ''}`).toString('base64')}`;
    }
    if (this.scheme === 'bearer') {
      if (this.creds?.registryToken) return `Bearer ${this.creds.registryToken}`;
      const key = [...scopes].sort().join(' ');
      const cached = this.tokens.get(key);
      if (cached && cached.expires > this.now()) return `Bearer ${cached.token}`;
      const t = await this.fetchToken(scopes);
      this.tokens.set(key, t);
      return `Bearer ${t.token}`;
    }
    return undefined;
  }

  invalidate(scopes: string[]): void {
    this.tokens.delete([...scopes].sort().join(' '));
  }

  private async fetchToken(scopes: string[]): Promise<CachedToken> {
    const realm = this.challenge?.params.realm;
    if (!realm) throw new AuthError(`${this.host}: bearer challenge without a realm`);
    const u = new URL(realm);
    if (this.challenge?.params.service) u.searchParams.set('service', this.challenge.params.service);
    for (const s of scopes) u.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (this.creds?.username)
      headers.Authorization = `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password ?? ''}`).toString('base64')}`;
    let res: Awaited<ReturnType<typeof request>>;
    if (this.creds?.identityToken) {
      u.search = '';
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: this.creds.identityToken,
        service: this.challenge?.params.service ?? '',
        scope: scopes.join(' '),
        client_id: 'shoal',
      });
      res = await request({
        method: 'POST',
        url: u.toString(),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        ca: this.ca,
      });
    } else {
      res = await request({ method: 'GET', url: u.toString(), headers, ca: this.ca });
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403)
      throw new AuthError(`${this.host}: unauthorized: the token server ${u.host} rejected the credentials`);
    if (res.status !== 200)
      throw new AuthError(`${this.host}: token server ${u.host} answered ${res.status}`);
    let j: { token?: string; access_token?: string; expires_in?: number };
    try {
      j = JSON.parse(text);
    } catch {
      throw new AuthError(`${this.host}: token server ${u.host} sent invalid JSON`);
    }
    const token = j.token ?? j.access_token;
    if (!token) throw new AuthError(`${this.host}: token server ${u.host} sent no token`);
    // refresh a little early; registries default to 60 s when expires_in is absent
    const ttl = Math.max(10, (j.expires_in ?? 60) - 5) * 1000;
    return { token, expires: this.now() + ttl };
  }
}
