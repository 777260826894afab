// Published ports as docker writes them: `-p [IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTO]` and the
// Engine API's PortBindings ({"80/tcp": [{HostIp, HostPort}]}). Pure; shared by the CLI and the daemon.
import { ShoalError } from './errors.js';

export type PortProto = 'tcp' | 'udp';

/** One HostConfig.PortBindings entry: HostPort "" = an ephemeral port, "8000-8010" = a range. */
export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

export type PortBindings = Record<string, PortBinding[]>;

const bad = (field: string, msg: string) => new ShoalError('invalid_argument', msg, { field });

function portNumber(s: string, what: string, spec: string): number {
  if (!/^\d{1,5}$/.test(s)) throw bad('publish', `invalid ${what} port "${s}" in "${spec}"`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw bad('publish', `invalid ${what} port ${n} in "${spec}": must be 1-65535`);
  return n;
}

function range(s: string, what: string, spec: string): [number, number] {
  const [a, b, extra] = s.split('-');
  if (extra !== undefined) throw bad('publish', `invalid ${what} port range "${s}" in "${spec}"`);
  const lo = portNumber(a, what, spec);
  const hi = b === undefined ? lo : portNumber(b, what, spec);
  if (hi < lo) throw bad('publish', `invalid ${what} port range "${s}" in "${spec}": end before start`);
  return [lo, hi];
}

function ipv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** `-p` values → the PortBindings and ExposedPorts docker sends; errors name the bad spec. */
export function parsePublish(specs: string[]): { bindings: PortBindings; exposed: string[] } {
  const bindings: PortBindings = {};
  const exposed: string[] = [];
  for (const spec of specs) {
    let rest = spec;
    let proto: PortProto = 'tcp';
    const slash = rest.lastIndexOf('/');
    if (slash >= 0) {
      const p = rest.slice(slash + 1).toLowerCase();
      if (p !== 'tcp' && p !== 'udp')
        throw bad('publish', `invalid proto "${rest.slice(slash + 1)}" in "${spec}": tcp or udp`);
      proto = p;
      rest = rest.slice(0, slash);
    }
    const parts = rest.split(':');
    if (parts.length > 3 || rest === '') throw bad('publish', `invalid publish spec "${spec}"`);
    const container = parts[parts.length - 1];
    const host = parts.length >= 2 ? parts[parts.length - 2] : '';
    const ip = parts.length === 3 ? parts[0] : '';
    if (ip && !ipv4(ip)) throw bad('publish', `invalid IP address "${ip}" in "${spec}"`);
    const [clo, chi] = range(container, 'container', spec);
    let hlo = 0;
    let hhi = 0;
    if (host) {
      [hlo, hhi] = range(host, 'host', spec);
      if (hhi - hlo !== chi - clo && clo !== chi)
        throw bad('publish', `invalid ranges in "${spec}": host and container ranges differ in size`);
    }
    for (let c = clo; c <= chi; c++) {
      const key = `${c}/${proto}`;
      if (!exposed.includes(key)) exposed.push(key);
      let hostPort = '';
      if (host)
        hostPort = clo === chi ? (hlo === hhi ? String(hlo) : `${hlo}-${hhi}`) : String(hlo + (c - clo));
      bindings[key] = [...(bindings[key] ?? []), { HostIp: ip, HostPort: hostPort }];
    }
  }
  return { bindings, exposed };
}

/** "80/tcp" → [80, 'tcp']; a missing proto is tcp. */
export function parsePortKey(key: string): { port: number; proto: PortProto } {
  const [p, pr = 'tcp'] = key.split('/');
  const proto = pr.toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp')
    throw bad('PortBindings', `invalid port "${key}": the protocol must be tcp or udp`);
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535)
    throw bad('PortBindings', `invalid port "${key}": must be 1-65535`);
  return { port: Number(p), proto };
}

/** A HostPort value: "" (ephemeral), "8080", or "8000-8010" → [lo, hi] (0,0 for ephemeral). */
export function parseHostPort(v: string, key: string): [number, number] {
  if (v === '' || v === undefined) return [0, 0];
  return range(v, 'host', `${v}:${key}`);
}
