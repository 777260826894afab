// Parsers for the docker service flags' value syntaxes: Go durations, mounts, ports, networks,
// key=value lists. Pure; every error names the flag and the value as the docker CLI does.
import { parseGoDuration } from '../../common/time.js';
import { FlagError } from '../flags.js';
import { parseBytes, parseNanoCpus } from '../units.js';

export function bad(flag: string, value: string, why: string): FlagError {
  return new FlagError(`invalid argument "${value}" for "${flag}" flag: ${why}`);
}

export { parseGoDuration };

/**
 * --since/--until as the docker CLI sends them: a Go duration ("42m") becomes now minus it, in unix
 * seconds; unix seconds and RFC3339 times go as they are (the daemon reads both).
 */
export function timeValue(flag: string, text: string, nowMs: number): string {
  const ns = parseGoDuration(text);
  if (ns !== undefined && text !== '0') return ((nowMs * 1e6 - ns) / 1e9).toFixed(9);
  if (/^\d+(\.\d+)?$/.test(text) || !Number.isNaN(Date.parse(text))) return text;
  throw bad(flag, text, 'use a duration (42m), unix seconds or an RFC3339 time');
}

/** timeValue for a flag that may be absent, counted back from now. */
export function timeFlag(flag: string, text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : timeValue(flag, text, Date.now());
}

export function durationValue(flag: string, text: string): number {
  const ns = parseGoDuration(text);
  if (ns === undefined) throw bad(flag, text, `time: invalid duration "${text}"`);
  return ns;
}

export function uintValue(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw bad(flag, text, `strconv.ParseUint: parsing "${text}": invalid syntax`);
  return Number(text);
}

export function intValue(flag: string, text: string): number {
  if (!/^-?\d+$/.test(text)) throw bad(flag, text, `strconv.ParseInt: parsing "${text}": invalid syntax`);
  return Number(text);
}

export function floatValue(flag: string, text: string): number {
  if (!/^-?(\d+\.?\d*|\.\d+)$/.test(text))
    throw bad(flag, text, `strconv.ParseFloat: parsing "${text}": invalid syntax`);
  return Number(text);
}

export function bytesValue(flag: string, text: string): number {
  const n = parseBytes(text);
  if (n === undefined) throw bad(flag, text, `invalid size: '${text}'`);
  return n;
}

export function cpuValue(flag: string, text: string): number {
  const n = parseNanoCpus(text);
  if (n === undefined) throw bad(flag, text, `failed to parse ${text} as a rational number`);
  return n;
}

export function oneOf(flag: string, text: string, allowed: string[]): string {
  if (!allowed.includes(text)) throw bad(flag, text, `must be one of ${allowed.join(', ')}`);
  return text;
}

/** `k=v` items → a map (`k` alone → empty value). */
export function kvMap(flag: string, items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq === 0) throw bad(flag, item, 'empty key');
    if (eq < 0) out[item] = '';
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** A CSV field list as docker's csv reader splits it (quotes allowed around a field). */
function csvFields(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function boolField(flag: string, text: string, key: string, value: string | undefined): boolean {
  if (value === undefined || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw bad(flag, text, `invalid value for ${key}: ${value}`);
}

export interface MountSpec {
  Type: string;
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string };
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string>;
    DriverConfig?: { Name?: string; Options?: Record<string, string> };
  };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/** `--mount type=bind,src=/a,dst=/b,readonly` → a swarm Mount. */
export function parseMount(text: string, flag = '--mount'): MountSpec {
  const m: MountSpec = { Type: 'volume', Target: '' };
  const volume = () => {
    m.VolumeOptions ??= {};
    return m.VolumeOptions;
  };
  for (const field of csvFields(text)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = () => {
      if (value === undefined) throw bad(flag, text, `invalid field '${field}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case 'type':
        m.Type = oneOfMount(flag, text, need());
        break;
      case 'source':
      case 'src':
        m.Source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = need();
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = boolField(flag, text, key, value);
        break;
      case 'consistency':
        m.Consistency = need();
        break;
      case 'bind-propagation':
        m.BindOptions = { Propagation: need() };
        break;
      case 'volume-nocopy':
        volume().NoCopy = boolField(flag, text, key, value);
        break;
      case 'volume-label': {
        const [k, ...v] = need().split('=');
        volume().Labels = { ...volume().Labels, [k]: v.join('=') };
        break;
      }
      case 'volume-driver':
        volume().DriverConfig = { ...volume().DriverConfig, Name: need() };
        break;
      case 'volume-opt': {
        const [k, ...v] = need().split('=');
        const dc = volume().DriverConfig ?? {};
        volume().DriverConfig = { ...dc, Options: { ...dc.Options, [k]: v.join('=') } };
        break;
      }
      case 'tmpfs-size':
        m.TmpfsOptions = { ...m.TmpfsOptions, SizeBytes: bytesValue(flag, need()) };
        break;
      case 'tmpfs-mode': {
        const v = need();
        if (!/^[0-7]+$/.test(v)) throw bad(flag, text, `invalid value for ${key}: ${v}`);
        m.TmpfsOptions = { ...m.TmpfsOptions, Mode: Number.parseInt(v, 8) };
        break;
      }
      default:
        throw bad(flag, text, `unexpected key '${key}' in '${field}'`);
    }
  }
  if (!m.Target) throw bad(flag, text, 'target is required');
  if (m.Type === 'bind' && !m.Source) throw bad(flag, text, 'source is required when specifying bind mounts');
  if (m.VolumeOptions && m.Type !== 'volume')
    throw bad(flag, text, `cannot mix 'volume-*' options with mount type '${m.Type}'`);
  if (m.BindOptions && m.Type !== 'bind')
    throw bad(flag, text, `cannot mix 'bind-*' options with mount type '${m.Type}'`);
  if (m.TmpfsOptions && m.Type !== 'tmpfs')
    throw bad(flag, text, `cannot mix 'tmpfs-*' options with mount type '${m.Type}'`);
  if (m.Type === 'tmpfs' && m.Source) throw bad(flag, text, 'source must not be specified for tmpfs mounts');
  // Docker's field order (Type, Source, Target, ReadOnly, …), so bodies match byte for byte.
  const ordered: Record<string, unknown> = {};
  for (const k of [
    'Type',
    'Source',
    'Target',
    'ReadOnly',
    'Consistency',
    'BindOptions',
    'VolumeOptions',
    'TmpfsOptions',
  ])
    if ((m as unknown as Record<string, unknown>)[k] !== undefined)
      ordered[k] = (m as unknown as Record<string, unknown>)[k];
  return ordered as unknown as MountSpec;
}

function oneOfMount(flag: string, text: string, type: string): string {
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw bad(flag, text, `invalid mount type: ${type}`);
  return type;
}

export interface PortConfig {
  Name?: string;
  Protocol: string;
  TargetPort: number;
  PublishedPort?: number;
  PublishMode: string;
}

function portNumber(flag: string, text: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw bad(flag, text, `invalid port: ${v}`);
  return Number(v);
}

/** `-p 8080:80[/udp]`, `-p 80`, or `-p published=8080,target=80,protocol=udp,mode=host`. */
export function parsePorts(text: string, flag = '-p, --publish'): PortConfig[] {
  if (text.includes('=')) {
    const p: PortConfig = { Protocol: 'tcp', TargetPort: 0, PublishMode: 'ingress' };
    for (const field of csvFields(text)) {
      const eq = field.indexOf('=');
      if (eq < 0) throw bad(flag, text, `invalid field ${field}`);
      const key = field.slice(0, eq).toLowerCase();
      const value = field.slice(eq + 1);
      if (key === 'protocol') p.Protocol = oneOf(flag, value, ['tcp', 'udp', 'sctp']);
      else if (key === 'mode') p.PublishMode = oneOf(flag, value, ['ingress', 'host']);
      else if (key === 'target') p.TargetPort = portNumber(flag, text, value);
      else if (key === 'published') p.PublishedPort = portNumber(flag, text, value);
      else throw bad(flag, text, `invalid field key ${key}`);
    }
    if (!p.TargetPort) throw bad(flag, text, 'missing mandatory field "target"');
    return [p];
  }
  const m = /^(?:(\d+(?:-\d+)?):)?(\d+(?:-\d+)?)(?:\/(tcp|udp|sctp))?$/.exec(text);
  if (!m) throw bad(flag, text, `invalid port format: ${text}`);
  const range = (r: string) => {
    const [a, b] = r.split('-').map((x) => portNumber(flag, text, x));
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  };
  const targets = range(m[2]);
  const published = m[1] ? range(m[1]) : undefined;
  if (published && published.length !== targets.length)
    throw bad(flag, text, 'published and target port ranges must have the same length');
  return targets.map((t, i) => ({
    Protocol: m[3] ?? 'tcp',
    TargetPort: t,
    ...(published ? { PublishedPort: published[i] } : {}),
    PublishMode: 'ingress',
  }));
}

export interface NetworkRef {
  name: string;
  aliases: string[];
  driverOpts: Record<string, string>;
}

/** `--network appnet` or `--network name=appnet,alias=web,driver-opt=k=v`. */
export function parseNetwork(text: string, flag = '--network'): NetworkRef {
  if (!text.includes('=')) return { name: text, aliases: [], driverOpts: {} };
  const out: NetworkRef = { name: '', aliases: [], driverOpts: {} };
  for (const field of csvFields(text)) {
    const eq = field.indexOf('=');
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    if (key === 'name') out.name = value;
    else if (key === 'alias') out.aliases.push(value);
    else if (key === 'driver-opt') Object.assign(out.driverOpts, kvMap(flag, [value]));
    else throw bad(flag, text, `invalid field key ${key}`);
  }
  if (!out.name) throw bad(flag, text, 'network name is required');
  return out;
}

/** `--ulimit nofile=1024:2048` → {Name, Hard, Soft}. */
export function parseUlimit(text: string, flag = '--ulimit'): { Name: string; Hard: number; Soft: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text);
  if (!m) throw bad(flag, text, 'expected NAME=SOFT[:HARD], e.g. nofile=1024:2048');
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard)
    throw bad(flag, text, `ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: m[1], Hard: hard, Soft: soft };
}

/** docker's capability normalisation: upper case, "CAP_" prefix, "ALL" kept. */
export function normalizeCaps(items: string[]): string[] {
  const out: string[] = [];
  for (const raw of items) {
    const c = raw.trim().toUpperCase();
    if (!c) continue;
    const name = c === 'ALL' || c.startsWith('CAP_') ? c : `CAP_${c}`;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** Splits a command string as a POSIX shell would split words (quotes and backslashes). */
export function shellWords(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (quote) throw new FlagError(`invalid command line string: unterminated quote in ${text}`);
  if (has) out.push(cur);
  return out;
}

export interface FileRef {
  source: string;
  target: string;
  uid: string;
  gid: string;
  mode: number;
}

/** `--secret s1` or `--secret source=s1,target=name,uid=0,gid=0,mode=0400` (same for --config). */
export function parseFileRef(text: string, flag: string): FileRef {
  const ref: FileRef = { source: '', target: '', uid: '0', gid: '0', mode: 0o444 };
  if (!text.includes('=')) {
    ref.source = text;
  } else {
    for (const field of csvFields(text)) {
      const eq = field.indexOf('=');
      const key = field.slice(0, eq).toLowerCase();
      const value = field.slice(eq + 1);
      if (eq < 0) throw bad(flag, text, `invalid field '${field}' must be a key=value pair`);
      if (key === 'source' || key === 'src') ref.source = value;
      else if (key === 'target') ref.target = value;
      else if (key === 'uid') ref.uid = value;
      else if (key === 'gid') ref.gid = value;
      else if (key === 'mode') {
        if (!/^[0-7]+$/.test(value)) throw bad(flag, text, `invalid mode specified: ${value}`);
        ref.mode = Number.parseInt(value, 8);
      } else throw bad(flag, text, `invalid field in ${flag.replace(/^--/, '')} request: ${key}`);
    }
  }
  if (!ref.source) throw bad(flag, text, 'source is required');
  if (!ref.target) ref.target = ref.source;
  return ref;
}

/** `--device /dev/fuse[:/dev/fuse[:rwm]]` → docker run's DeviceMapping shape. */
export function parseDevice(
  text: string,
  flag = '--device',
): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = text.split(':');
  if (parts.length > 3 || !parts[0].startsWith('/'))
    throw bad(flag, text, 'expected /dev/HOST[:/dev/CONTAINER[:rwm]]');
  let inside = parts[1] ?? parts[0];
  let perms = parts[2] ?? 'rwm';
  if (parts.length === 2 && /^[rwm]+$/.test(parts[1])) {
    inside = parts[0];
    perms = parts[1];
  }
  if (!inside.startsWith('/')) throw bad(flag, text, `the container path "${inside}" must be absolute`);
  if (!/^[rwm]{1,3}$/.test(perms))
    throw bad(flag, text, `invalid cgroup permissions "${perms}" (a subset of rwm)`);
  return { PathOnHost: parts[0], PathInContainer: inside, CgroupPermissions: perms };
}
