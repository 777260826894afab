// Where and how to reach a registry: https with the system CAs plus an optional per-host CA
// (<certsDir>/<host>/*.crt, as docker's certs.d), or plain http for registries marked insecure and,
// as docker does, for loopback registries without a certs dir.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { registryHost } from '../../../common/reference.js';

export interface RegistryOptions {
  /** registries (host[:port]) reached over plain http */
  insecureRegistries?: string[];
  /** default /etc/shoal/certs.d */
  certsDir?: string;
}

export interface Endpoint {
  base: string;
  host: string;
  ca?: Buffer;
}

export const DEFAULT_CERTS_DIR = '/etc/shoal/certs.d';

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export function endpointFor(domain: string, opts: RegistryOptions = {}): Endpoint {
  const host = registryHost(domain);
  const certs = path.join(opts.certsDir ?? DEFAULT_CERTS_DIR, domain);
  let ca: Buffer | undefined;
  if (existsSync(certs)) {
    const crts = readdirSync(certs).filter((f) => f.endsWith('.crt'));
    if (crts.length) ca = Buffer.concat(crts.map((f) => readFileSync(path.join(certs, f))));
  }
  const insecure = (opts.insecureRegistries ?? []).includes(domain) || (isLoopback(host) && !ca);
  return { base: `${insecure ? 'http' : 'https'}://${host}`, host: domain, ca };
}
