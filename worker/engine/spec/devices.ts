// Host devices in a container (`--device`, `--device-cgroup-rule`), as dockerd adds them: the node
// in linux.devices and an allow rule with the mapping's permissions in linux.resources.devices.
// Pure: the host nodes are stat'ed by the caller (../devices.ts) and come in resolved.
import { InvalidArgumentError } from '../errors.js';
import type { DeviceMapping } from '../types.js';
import type { OciDevice, OciDeviceCgroup, OciLinux } from './defaults.js';
import { normalizePath } from './parse.js';

/** A mapping checked: absolute paths, permissions a non-empty subset of rwm (default rwm). */
export interface CheckedMapping {
  host: string;
  container: string;
  access: string;
}

/** A host node found for a mapping, placed at its container path, with the mapping's permissions. */
export interface ResolvedDevice extends OciDevice {
  type: 'c' | 'b';
  major: number;
  minor: number;
  access: string;
}

const ACCESS = /^(?!.*(.).*\1)[rwm]{1,3}$/;

/** Checks one mapping; `index` names it in errors (`devices[1].cgroupPermissions`). */
export function checkDeviceMapping(d: DeviceMapping, index: number): CheckedMapping {
  const f = (name: string) => `devices[${index}].${name}`;
  const host = d.pathOnHost ?? '';
  if (!host) throw new InvalidArgumentError(f('pathOnHost'), 'a host device path is required');
  if (!host.startsWith('/'))
    throw new InvalidArgumentError(f('pathOnHost'), `"${host}" is not an absolute path`);
  const container = d.pathInContainer || host;
  if (!container.startsWith('/'))
    throw new InvalidArgumentError(f('pathInContainer'), `"${container}" is not an absolute path`);
  if (normalizePath(container) === '/')
    throw new InvalidArgumentError(f('pathInContainer'), 'a device cannot replace /');
  const access = d.cgroupPermissions || 'rwm';
  if (!ACCESS.test(access))
    throw new InvalidArgumentError(
      f('cgroupPermissions'),
      `"${access}" is not a combination of r (read), w (write) and m (mknod)`,
    );
  return { host: normalizePath(host), container: normalizePath(container), access };
}

const RULE = /^([acb]) (\*|\d+):(\*|\d+) ([rwm]{1,3})$/;

/** `c 1:3 rwm`, `b 8:* r`, `a *:* m` (`--device-cgroup-rule`) → an allow rule. */
export function parseDeviceCgroupRule(rule: string, index: number): OciDeviceCgroup {
  const field = `deviceCgroupRules[${index}]`;
  const m = RULE.exec(rule.trim());
  if (!m || !ACCESS.test(m[4]))
    throw new InvalidArgumentError(
      field,
      `"${rule}" is not TYPE MAJOR:MINOR ACCESS (TYPE a, b or c; MAJOR and MINOR numbers or *; ACCESS of r, w, m)`,
    );
  const num = (v: string) => {
    if (v === '*') return null;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n > 0xffffffff)
      throw new InvalidArgumentError(field, `"${v}" in "${rule}" is not a device number`);
    return n;
  };
  const type = m[1] as 'a' | 'b' | 'c';
  return type === 'a'
    ? { allow: true, type, major: null, minor: null, access: m[4] }
    : { allow: true, type, major: num(m[2]), minor: num(m[3]), access: m[4] };
}

/**
 * Adds the resolved devices (nodes + allow rules) and the cgroup rules to the spec's linux part. A
 * later device at the same container path replaces an earlier one (so it may replace a privileged
 * container's host node too), and two mappings to one path are an error.
 */
export function applyDevices(
  linux: OciLinux,
  devices: readonly ResolvedDevice[],
  rules: readonly string[] | undefined,
): void {
  const seen = new Set<string>();
  for (const d of devices) {
    if (seen.has(d.path)) throw new InvalidArgumentError('devices', `${d.path} is mapped twice`);
    seen.add(d.path);
  }
  const nodes: OciDevice[] = devices.map((d) => ({
    type: d.type,
    path: d.path,
    major: d.major,
    minor: d.minor,
    fileMode: d.fileMode,
    uid: d.uid,
    gid: d.gid,
  }));
  const kept = (linux.devices ?? []).filter((d) => !seen.has(d.path));
  if (nodes.length || kept.length) linux.devices = [...kept, ...nodes];
  const allow: OciDeviceCgroup[] = devices.map((d) => ({
    allow: true,
    type: d.type,
    major: d.major,
    minor: d.minor,
    access: d.access,
  }));
  const parsed = (rules ?? []).map(parseDeviceCgroupRule);
  if (allow.length + parsed.length === 0) return;
  linux.resources = linux.resources ?? {};
  linux.resources.devices = [...(linux.resources.devices ?? []), ...allow, ...parsed];
}
