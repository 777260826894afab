// Registry credentials, stored as docker stores them: $SHOAL_CONFIG/config.json (default ~/.shoal),
// {"auths": {"<registry>": {"auth": base64("user:password")}}}, file mode 0600.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../atomic.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** an OAuth2 refresh token (docker's identitytoken) */
  identityToken?: string;
  /** a bearer token to send as is */
  registryToken?: string;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SHOAL_CONFIG || path.join(os.homedir(), '.shoal');
}

export function configFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(configDir(env), 'config.json');
}

/** docker.io is stored under docker's historic key. */
export function credentialKey(domain: string): string {
  return domain === 'docker.io' ? 'https://index.docker.io/v1/' : domain;
}

async function readConfig(
  file: string,
): Promise<{ auths?: Record<string, { auth?: string; identitytoken?: string }> }> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

export async function loadCredentials(domain: string, file = configFile()): Promise<Credentials | undefined> {
  const entry = (await readConfig(file)).auths?.[credentialKey(domain)];
  if (!entry) return undefined;
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (!entry.auth) return undefined;
  const dec = Buffer.from(entry.auth, 'base64').toString();
  const i = dec.indexOf(':');
  if (i < 0)
    throw new Error(`${file}: auths["${credentialKey(domain)}"].auth is not base64("user:password")`);
  return { username: dec.slice(0, i), password: dec.slice(i + 1) };
}

export async function storeCredentials(
  domain: string,
  creds: Credentials,
  file = configFile(),
): Promise<void> {
  const cfg = await readConfig(file);
  cfg.auths ??= {};
  cfg.auths[credentialKey(domain)] = creds.identityToken
    ? { identitytoken: creds.identityToken }
    : { auth: Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64') };
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(cfg, null, 2)}\n`, 0o600);
  await fs.chmod(file, 0o600);
}

/** Returns false when there was nothing stored for the registry. */
export async function eraseCredentials(domain: string, file = configFile()): Promise<boolean> {
  const cfg = await readConfig(file);
  if (!cfg.auths?.[credentialKey(domain)]) return false;
  delete cfg.auths[credentialKey(domain)];
  await writeFileAtomic(file, `${JSON.stringify(cfg, null, 2)}\n`, 0o600);
  return true;
}

/** docker's X-Registry-Auth header: base64url(JSON {username, password, serveraddress}). */
export function encodeAuthHeader(creds: Credentials, serveraddress: string): string {
  return Buffer.from(
    JSON.stringify({
      username: creds.username,
      password: creds.password,
      identitytoken: creds.identityToken,
      registrytoken: creds.registryToken,
      serveraddress,
    }),
  ).toString('base64url');
}

export function decodeAuthHeader(h: string | undefined): Credentials | undefined {
  if (!h) return undefined;
  try {
    const j = JSON.parse(Buffer.from(h, 'base64url').toString());
    if (!j || typeof j !== 'object') return undefined;
    const c: Credentials = {
      username: j.username || undefined,
      password: j.password || undefined,
      identityToken: j.identitytoken || undefined,
      registryToken: j.registrytoken || undefined,
    };
    return c.username || c.identityToken || c.registryToken ? c : undefined;
  } catch {
    throw new Error('X-Registry-Auth: not base64url-encoded JSON');
  }
}
