// The CLI's registry credentials (login/logout), stored as docker stores them: $SHOAL_CONFIG/config.json (default ~/.shoal),
// {"auths": {"<registry>": {"auth": base64("user:password")}}}, file mode 0600.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Credentials } from '../common/registry-auth.js';

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

/** Replaces the file through a temp file and a rename, so a crash never leaves half a config. */
async function writeConfig(file: string, cfg: unknown): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await fs.writeFile(tmp, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
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
  await writeConfig(file, cfg);
  await fs.chmod(file, 0o600);
}

/** Returns false when there was nothing stored for the registry. */
export async function eraseCredentials(domain: string, file = configFile()): Promise<boolean> {
  const cfg = await readConfig(file);
  if (!cfg.auths?.[credentialKey(domain)]) return false;
  delete cfg.auths[credentialKey(domain)];
  await writeConfig(file, cfg);
  return true;
}
