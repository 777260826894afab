// Parsers for the run flags whose text form needs checking: sizes, CPUs, capabilities, signals,
// binds, tmpfs, security options. Each throws InvalidArgumentError naming the field.
import { constants as osConstants } from 'node:os';
import { InvalidArgumentError } from '../errors.js';
import { ALL_CAPABILITIES } from './defaults.js';

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/**
 * A byte size as docker's RAMInBytes: a number of bytes, or "512m", "1.5g", "100k" (binary units,
 * case-insensitive). Negative, fractional bytes, or unknown units are errors.
 */
/** A terminal size (rows, columns up to 65535); `undefined` for 0x0 (docker's "not given"). */
export function parseConsoleSize(
  field: string,
  value: { height: number; width: number } | undefined,
): { height: number; width: number } | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object')
    throw new InvalidArgumentError(field, `${JSON.stringify(value)} is not {height, width}`);
  for (const k of ['height', 'width'] as const) {
    const v = value[k];
    if (!Number.isInteger(v) || v < 0 || v > 65535)
      throw new InvalidArgumentError(
        `${field}.${k}`,
        `${JSON.stringify(v)} is not a terminal size (0-65535)`,
      );
  }
  if (value.height === 0 && value.width === 0) return undefined;
  return { height: value.height, width: value.width };
}

export function parseBytes(field: string, value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      throw new InvalidArgumentError(field, `${value} is not a whole number of bytes`);
    if (value < 0) throw new InvalidArgumentError(field, `${value} is negative`);
    return value;
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!m) {
    const neg = /^\s*-/.test(value) ? ' (negative sizes are not allowed)' : '';
    throw new InvalidArgumentError(field, `"${value}" is not a size such as 512m or 1g${neg}`);
  }
  const unit = SIZE_UNITS[m[2].toLowerCase()];
  if (unit === undefined) throw new InvalidArgumentError(field, `"${value}" has an unknown unit "${m[2]}"`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError(field, `"${value}" is too large`);
  return bytes;
}

/** Like parseBytes but -1 means unlimited (docker's --memory-swap -1). */
export function parseBytesOrUnlimited(field: string, value: number | string): number {
  if (value === -1 || (typeof value === 'string' && value.trim() === '-1')) return -1;
  return parseBytes(field, value);
}

/** "1.5" CPUs → nano-CPUs (1.5e9), as docker's --cpus. */
export function parseCpus(field: string, value: number | string): number {
  const n =
    typeof value === 'number' ? value : /^\s*[0-9]*\.?[0-9]+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n))
    throw new InvalidArgumentError(field, `"${value}" is not a number of CPUs such as 1.5`);
  if (n < 0) throw new InvalidArgumentError(field, `${value} is negative`);
  const nano = Math.round(n * 1e9);
  if (n > 0 && nano < 1e7)
    throw new InvalidArgumentError(field, `${value} is below the minimum of 0.01 CPUs`);
  return nano;
}

const CAP_SET = new Set(ALL_CAPABILITIES);

/** "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; "ALL" stays "ALL". */
export function normalizeCapability(field: string, name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!CAP_SET.has(full)) throw new InvalidArgumentError(field, `unknown capability "${name}"`);
  return full;
}

/**
 * Docker's capability arithmetic: start from the default set (or every cap with --cap-add ALL),
 * drop (everything with --cap-drop ALL, then adds apply), add.
 */
export function resolveCapabilities(
  defaults: readonly string[],
  capAdd: readonly string[] = [],
  capDrop: readonly string[] = [],
): string[] {
  const add = capAdd.map((c) => normalizeCapability('capAdd', c));
  const drop = capDrop.map((c) => normalizeCapability('capDrop', c));
  let caps: string[];
  if (add.includes('ALL')) caps = [...ALL_CAPABILITIES];
  else if (drop.includes('ALL')) caps = [];
  else caps = [...defaults];
  if (!add.includes('ALL')) {
    caps = caps.filter((c) => !drop.includes(c));
    for (const c of add) if (!caps.includes(c)) caps.push(c);
  } else if (!drop.includes('ALL')) {
    caps = caps.filter((c) => !drop.includes(c));
  }
  return caps;
}

const SIGNALS = osConstants.signals as Record<string, number>;

/** "TERM", "SIGTERM", "sigterm", "15" → { name: "SIGTERM", number: 15 }. */
export function parseSignal(field: string, value: string | number): { name: string; number: number } {
  if (typeof value === 'number' || /^\s*[0-9]+\s*$/.test(value)) {
    const n = Number(value);
    const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
    if (!name && !(n >= 34 && n <= 64)) throw new InvalidArgumentError(field, `unknown signal ${value}`);
    return { name: name ?? `SIGRTMIN+${n - 34}`, number: n };
  }
  const up = value.trim().toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  const n = SIGNALS[name];
  if (n === undefined) throw new InvalidArgumentError(field, `unknown signal "${value}"`);
  return { name, number: n };
}

/** Name of a signal number ("SIGKILL"), or "SIG<n>" for one Node does not name. */
export function signalName(n: number): string {
  return Object.keys(SIGNALS).find((k) => SIGNALS[k] === n) ?? `SIG${n}`;
}

export interface BindSpec {
  source: string;
  destination: string;
  readOnly: boolean;
  /** rprivate (default), private, rshared, shared, rslave, slave */
  propagation: string;
}

const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

function checkDestination(field: string, dest: string, whole: string): void {
  if (!dest.startsWith('/'))
    throw new InvalidArgumentError(field, `"${whole}": destination must be an absolute path`);
  if (normalizePath(dest) === '/')
    throw new InvalidArgumentError(field, `"${whole}": destination cannot be "/"`);
}

/** Collapses "//", "/./" and a trailing "/" (".." is rejected by callers that care). */
export function normalizePath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join('/')}`;
}

/** `SRC:DST[:ro|rw|z|Z|propagation,...]`, SRC absolute (volume names and `DST` alone: spec/mounts.ts). */
export function parseBind(value: string): BindSpec {
  const field = 'binds';
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '')
    throw new InvalidArgumentError(field, `"${value}" is not SRC:DST[:ro]`);
  const [source, destination, mode = ''] = parts;
  if (!source.startsWith('/'))
    throw new InvalidArgumentError(field, `"${value}": source "${source}" must be an absolute path`);
  checkDestination(field, destination, value);
  let readOnly = false;
  let propagation = 'rprivate';
  for (const opt of mode.split(',').filter(Boolean)) {
    if (opt === 'ro') readOnly = true;
    else if (opt === 'rw') readOnly = false;
    else if (PROPAGATIONS.has(opt)) propagation = opt;
    else if (opt === 'z' || opt === 'Z' || opt === 'nocopy') {
      // SELinux relabel / volume copy flags: meaningless here, accepted as docker does without SELinux.
    } else throw new InvalidArgumentError(field, `"${value}": unknown mode "${opt}"`);
  }
  return { source: normalizePath(source), destination: normalizePath(destination), readOnly, propagation };
}

const TMPFS_FLAGS = new Set([
  'ro',
  'rw',
  'exec',
  'noexec',
  'suid',
  'nosuid',
  'dev',
  'nodev',
  'atime',
  'noatime',
  'diratime',
  'nodiratime',
  'relatime',
  'norelatime',
  'strictatime',
  'nostrictatime',
  'sync',
  'async',
  'dirsync',
]);

/** Validates tmpfs options (`size=64m,mode=1777,uid=…`) and returns them in mount(8) form. */
export function parseTmpfsOptions(dest: string, opts: string): string[] {
  const field = 'tmpfs';
  const out: string[] = [];
  for (const raw of opts.split(',').filter((o) => o.trim() !== '')) {
    const o = raw.trim();
    const eq = o.indexOf('=');
    if (eq < 0) {
      if (!TMPFS_FLAGS.has(o)) throw new InvalidArgumentError(field, `${dest}: unknown option "${o}"`);
      out.push(o);
      continue;
    }
    const key = o.slice(0, eq);
    const val = o.slice(eq + 1);
    if (key === 'size') out.push(`size=${parseBytes(`${field} ${dest} size`, val)}`);
    else if (key === 'mode') {
      if (!/^[0-7]{1,4}$/.test(val))
        throw new InvalidArgumentError(field, `${dest}: mode "${val}" is not octal`);
      out.push(`mode=${val}`);
    } else if (key === 'uid' || key === 'gid' || key === 'nr_inodes' || key === 'nr_blocks') {
      if (!/^[0-9]+[kKmMgG]?$/.test(val))
        throw new InvalidArgumentError(field, `${dest}: ${key} "${val}" is not a number`);
      out.push(o);
    } else throw new InvalidArgumentError(field, `${dest}: unknown option "${key}"`);
  }
  return out;
}

/** HostConfig.Tmpfs map or CLI `DST[:opts]` strings → [dest, options][] with docker's defaults first. */
export function parseTmpfs(
  value: Record<string, string> | string[],
): { destination: string; options: string[] }[] {
  const entries: [string, string][] = Array.isArray(value)
    ? value.map((v) => {
        const i = v.indexOf(':');
        return i < 0 ? [v, ''] : [v.slice(0, i), v.slice(i + 1)];
      })
    : Object.entries(value);
  const seen = new Set<string>();
  return entries.map(([dest, opts]) => {
    checkDestination('tmpfs', dest, dest);
    const destination = normalizePath(dest);
    if (seen.has(destination)) throw new InvalidArgumentError('tmpfs', `${destination} is given twice`);
    seen.add(destination);
    return {
      destination,
      options: mergeMountOptions(['noexec', 'nosuid', 'nodev'], parseTmpfsOptions(dest, opts)),
    };
  });
}

const OPPOSITES: Record<string, string> = {
  exec: 'noexec',
  suid: 'nosuid',
  dev: 'nodev',
  ro: 'rw',
  atime: 'noatime',
};

/** Later options win over earlier ones: "exec" cancels a default "noexec", "size=" replaces "size=". */
export function mergeMountOptions(defaults: string[], given: string[]): string[] {
  const keyOf = (o: string): string => {
    const eq = o.indexOf('=');
    if (eq >= 0) return o.slice(0, eq);
    for (const [a, b] of Object.entries(OPPOSITES)) if (o === a || o === b) return a;
    return o;
  };
  const byKey = new Map<string, string>();
  for (const o of [...defaults, ...given]) {
    byKey.delete(keyOf(o));
    byKey.set(keyOf(o), o);
  }
  return [...byKey.values()];
}

export interface SecurityOptions {
  noNewPrivileges: boolean;
  seccompUnconfined: boolean;
}

/** `no-new-privileges[:true|false]` (also `=`), `seccomp=unconfined`, `apparmor=…`/`label=…` (no-ops here). */
export function parseSecurityOpts(opts: readonly string[] = []): SecurityOptions {
  const field = 'securityOpt';
  const out: SecurityOptions = { noNewPrivileges: false, seccompUnconfined: false };
  for (const opt of opts) {
    const m = /^([a-z-]+)(?:[:=](.*))?$/.exec(opt.trim());
    if (!m) throw new InvalidArgumentError(field, `"${opt}" is not KEY[=VALUE]`);
    const [, key, val] = m;
    if (key === 'no-new-privileges') {
      if (val === undefined || val === 'true') out.noNewPrivileges = true;
      else if (val === 'false') out.noNewPrivileges = false;
      else throw new InvalidArgumentError(field, `"${opt}": no-new-privileges takes true or false`);
    } else if (key === 'seccomp') {
      if (val === 'unconfined') out.seccompUnconfined = true;
      else
        throw new InvalidArgumentError(
          field,
          `"${opt}": only seccomp=unconfined is supported (no custom profiles)`,
        );
    } else if (key === 'apparmor' || key === 'label') {
      // No AppArmor/SELinux on the engine's hosts: accepted and ignored, as docker does when they are disabled.
      if (val === undefined) throw new InvalidArgumentError(field, `"${opt}" needs a value`);
    } else throw new InvalidArgumentError(field, `unknown option "${opt}"`);
  }
  return out;
}

/** cpuset syntax: "0-3,5,7-8". */
export function checkCpuset(field: string, value: string): string {
  if (!/^\s*[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*\s*$/.test(value))
    throw new InvalidArgumentError(field, `"${value}" is not a list such as 0-2,4`);
  for (const range of value.trim().split(',')) {
    const [a, b] = range.split('-').map(Number);
    if (b !== undefined && b < a)
      throw new InvalidArgumentError(field, `"${value}": range ${range} is reversed`);
  }
  return value.trim();
}

const RLIMITS = new Set([
  'as',
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
]);

/** A ulimit {name:"nofile", soft, hard} → OCI {type:"RLIMIT_NOFILE", soft, hard}. */
export function toRlimit(u: { name: string; soft: number; hard: number }): {
  type: string;
  soft: number;
  hard: number;
} {
  const name = u.name.toLowerCase();
  if (!RLIMITS.has(name)) throw new InvalidArgumentError('ulimits', `unknown ulimit "${u.name}"`);
  for (const [k, v] of [
    ['soft', u.soft],
    ['hard', u.hard],
  ] as const)
    if (!Number.isSafeInteger(v) || v < -1)
      throw new InvalidArgumentError('ulimits', `${u.name} ${k} limit ${v} is not a whole number >= -1`);
  // -1 means unlimited (RLIM_INFINITY); the runtime reads it as such.
  const inf = (v: number) => (v === -1 ? Number.MAX_SAFE_INTEGER : v);
  if (inf(u.soft) > inf(u.hard))
    throw new InvalidArgumentError(
      'ulimits',
      `${u.name}: soft limit ${u.soft} is above hard limit ${u.hard}`,
    );
  return { type: `RLIMIT_${name.toUpperCase()}`, soft: u.soft, hard: u.hard };
}

/** "nofile=1024:2048" or "nofile=1024" (CLI form) → Ulimit. */
export function parseUlimit(value: string): { name: string; soft: number; hard: number } {
  const m = /^([a-z]+)=(-?[0-9]+)(?::(-?[0-9]+))?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('ulimits', `"${value}" is not NAME=SOFT[:HARD]`);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  toRlimit({ name: m[1], soft, hard });
  return { name: m[1], soft, hard };
}

const HOSTNAME_RE =
  /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function checkHostname(field: string, value: string): string {
  if (value.length > 253 || !HOSTNAME_RE.test(value))
    throw new InvalidArgumentError(field, `"${value}" is not a valid RFC 1123 hostname`);
  return value;
}
