// Builds a complete OCI runtime spec from run options and an image config, as dockerd does:
// Docker's defaults (from defaults.ts) adjusted by the flags. Pure: every host fact it needs
// (rootfs files, path existence, devices, cpu count) comes in through SpecContext.
import { InvalidArgumentError } from '../errors.js';
import type { ImageConfig, MountPoint, ResolvedConfig, RunOptions } from '../types.js';
import {
  baseSpec,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  type OciDevice,
  type OciMount,
  type OciNamespace,
  type OciRlimit,
  type OciSpec,
} from './defaults.js';
import { applyDevices, type ResolvedDevice } from './devices.js';
import type { ResolvedMount } from './mounts.js';
import {
  checkCpuset,
  checkHostname,
  normalizeCapability,
  normalizePath,
  parseBind,
  parseBytes,
  parseBytesOrUnlimited,
  parseConsoleSize,
  parseCpus,
  parseSecurityOpts,
  parseSignal,
  parseTmpfs,
  resolveCapabilities,
  toRlimit,
} from './parse.js';
import { defaultSeccompProfile } from './seccomp.js';
import { resolveUser } from './user.js';

export interface SpecContext {
  /** The container id (64 hex); its first 12 characters are the default hostname. */
  id: string;
  /** root.path of the spec (a directory, or the overlay mount point). */
  rootfsPath: string;
  /** Reads a file of the rootfs by its in-container path (for /etc/passwd and /etc/group). */
  readRootfsFile: (path: string) => string | undefined;
  /** Whether a host path exists (bind sources, netns paths). */
  pathExists: (hostPath: string) => boolean;
  /** cgroupsPath for the spec, unique per daemon and container. */
  cgroupsPath: string;
  /** networkMode "container:<ref>" → that container's netns path; throws if it is not running. */
  containerNetns?: (ref: string) => string;
  /** Capabilities the daemon itself holds (its bounding set); undefined = all. */
  hostCapabilities?: readonly string[];
  /** Host device nodes given to --privileged containers. */
  hostDevices?: () => OciDevice[];
  /** Online CPUs, to bound --cpus as docker does. */
  hostCpus?: number;
  /** The host's hostname, the default for --network host as in docker. */
  hostHostname?: string;
  /** Annotations to add (the rootfs overlay ones). */
  annotations?: Record<string, string>;
  /**
   * Bind and volume mounts already resolved to host paths (spec/mounts.ts + volumes/resolve.ts);
   * when given, `binds` is not read again. Without it binds must name existing host paths.
   */
  mounts?: ResolvedMount[];
  /** `devices` stat'ed on the host (../devices.ts), at their container paths; required when any are given. */
  devices?: ResolvedDevice[];
  /** Host path of the init `--init` runs (shoal-init, next to the runtime); without it --init is refused. */
  initPath?: string;
}

/** argv[0] of the init under --init: docker's path, so `ps` shows what docker users expect. */
export const INIT_ARGV0 = '/sbin/docker-init';

export interface BuiltSpec {
  spec: OciSpec;
  config: ResolvedConfig;
  mounts: MountPoint[];
  /** The options with sizes and CPUs parsed to numbers. */
  hostConfig: RunOptions;
}

const CPU_PERIOD = 100_000;
const MIN_MEMORY = 6 * 1024 * 1024; // docker's minimum

/**
 * KEY=VALUE list merge: later keys replace earlier ones in place (the first entry of that key),
 * new keys are appended. A bare KEY (no "=") unsets KEY, as dockerd: the docker CLI sends `-e VAR`
 * as "VAR" when VAR is not set on its side. Linear: an index by key, not a search per entry.
 */
export function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const out: (string | undefined)[] = [...base];
  const keyOf = (e: string) => {
    const eq = e.indexOf('=');
    return eq < 0 ? e : e.slice(0, eq);
  };
  const at = new Map<string, number>();
  out.forEach((e, i) => {
    const k = keyOf(e as string);
    if (!at.has(k)) at.set(k, i);
  });
  for (const e of over) {
    const k = keyOf(e);
    const i = at.get(k);
    if (!e.includes('=')) {
      if (i !== undefined) out[i] = undefined;
      at.delete(k);
    } else if (i !== undefined) out[i] = e;
    else {
      at.set(k, out.length);
      out.push(e);
    }
  }
  return out.filter((e): e is string => e !== undefined);
}

/** KEY=VALUE, or a bare KEY (unset); never "=VALUE". */
function checkEnv(env: readonly string[]): void {
  for (const e of env) {
    if (e.startsWith('=')) throw new InvalidArgumentError('env', `"${e}" is not KEY=VALUE`);
  }
}

/**
 * The first string anywhere in `value` that holds a NUL byte, as a field path ("cmd[1]",
 * "labels.app"). The kernel takes strings up to their first NUL: `["tr\0ue"]` would run `tr`.
 */
export function findNul(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path : undefined;
  if (value === null || typeof value !== 'object' || depth > 8) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findNul(value[i], `${path}[${i}]`, depth + 1);
      if (hit) return hit;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value)) {
    const field = path ? `${path}.${k}` : k;
    if (k.includes('\0')) return field;
    const hit = findNul(v, field, depth + 1);
    if (hit) return hit;
  }
  return undefined;
}

function checkNoNul(opts: RunOptions, image: ImageConfig | undefined): void {
  const own = findNul(opts, '');
  if (own) throw new InvalidArgumentError(own, 'contains a NUL byte');
  const inImage = findNul(image ?? {}, 'image config');
  if (inImage) throw new InvalidArgumentError(inImage, 'contains a NUL byte');
}

/** The command: docker's merge of image Entrypoint/Cmd with the run options. */
function resolveCommand(
  opts: RunOptions,
  image: ImageConfig | undefined,
): { entrypoint: string[]; cmd: string[] } {
  const clean = (a: string[]) => (a.length === 1 && a[0] === '' ? [] : a);
  let entrypoint: string[];
  let cmd: string[];
  if (opts.entrypoint !== undefined) {
    // An explicit entrypoint (even an empty one) drops the image's Cmd unless a cmd is given.
    entrypoint = clean(opts.entrypoint);
    cmd = opts.cmd ?? [];
  } else {
    entrypoint = image?.Entrypoint ?? [];
    cmd = opts.cmd && opts.cmd.length > 0 ? opts.cmd : (image?.Cmd ?? []);
  }
  if (entrypoint.length + cmd.length === 0)
    throw new InvalidArgumentError('cmd', 'no command specified (the image has no Cmd or Entrypoint either)');
  if ([...entrypoint, ...cmd][0] === '')
    throw new InvalidArgumentError('cmd', 'the command is an empty string');
  return { entrypoint, cmd };
}

const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/** Whether a sysctl belongs to a namespace the container has its own of (else it would change the host's). */
export function sysctlNamespace(key: string): 'ipc' | 'network' | undefined {
  if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) return 'ipc';
  if (key.startsWith('net.')) return 'network';
  return undefined;
}

function resolveSysctls(
  sysctls: Record<string, string> | undefined,
  namespaces: readonly OciNamespace[],
): Record<string, string> | undefined {
  const entries = Object.entries(sysctls ?? {});
  if (entries.length === 0) return undefined;
  for (const [k, v] of entries) {
    if (!/^[a-z0-9_]+(\.[a-z0-9_*-]+)+$/i.test(k) || k.includes('..'))
      throw new InvalidArgumentError('sysctls', `"${k}" is not a sysctl name`);
    if (v.includes('\n') || v.includes('\0'))
      throw new InvalidArgumentError('sysctls', `the value of ${k} must be one line`);
    const ns = sysctlNamespace(k);
    if (!ns)
      throw new InvalidArgumentError(
        'sysctls',
        `sysctl "${k}" is not namespaced (only net.*, kernel.msg*/sem/shm*, fs.mqueue.*): it would change the host`,
      );
    // Own namespace only: a path means a shared one (net=host has none at all).
    if (!namespaces.some((n) => n.type === ns && !n.path))
      throw new InvalidArgumentError('sysctls', `sysctl "${k}" needs the container's own ${ns} namespace`);
  }
  return Object.fromEntries(entries);
}

function resolveNetwork(opts: RunOptions, ctx: SpecContext): { ns?: OciNamespace; host: boolean } {
  const mode = opts.networkMode ?? 'none';
  if (mode === 'none' || mode === 'default' || mode === 'bridge' || mode === '')
    return { ns: { type: 'network' }, host: false };
  if (mode === 'host') return { host: true };
  if (mode.startsWith('container:')) {
    const ref = mode.slice('container:'.length);
    if (!ref) throw new InvalidArgumentError('networkMode', '"container:" needs a container name or id');
    if (!ctx.containerNetns)
      throw new InvalidArgumentError('networkMode', 'container: mode is not available here');
    return { ns: { type: 'network', path: ctx.containerNetns(ref) }, host: false };
  }
  const path = mode.startsWith('netns:') ? mode.slice('netns:'.length) : mode;
  if (!path.startsWith('/'))
    throw new InvalidArgumentError(
      'networkMode',
      `"${mode}" is not none, host, container:<name> or a netns path`,
    );
  if (!ctx.pathExists(path))
    throw new InvalidArgumentError('networkMode', `netns path ${path} does not exist`);
  return { ns: { type: 'network', path }, host: false };
}

/** The fields of RunOptions that are cgroup limits: what `update` may change on a live container. */
export const RESOURCE_FIELDS = [
  'memory',
  'memorySwap',
  'memoryReservation',
  'nanoCpus',
  'cpus',
  'cpuShares',
  'cpuPeriod',
  'cpuQuota',
  'cpusetCpus',
  'cpusetMems',
  'pidsLimit',
] as const satisfies readonly (keyof RunOptions)[];

export type ResourceOptions = Pick<RunOptions, (typeof RESOURCE_FIELDS)[number]>;

/**
 * The cgroup limits (linux.resources without devices) of a set of resource options, checked as at create,
 * and the options normalised. Pure: what `update` writes to a live container and into its config.json.
 */
export function resourcesSpec(
  opts: ResourceOptions,
  hostCpus: number | undefined,
): { resources: NonNullable<NonNullable<OciSpec['linux']>['resources']>; norm: ResourceOptions } {
  const spec: OciSpec = { linux: { resources: {} } } as OciSpec;
  const norm: RunOptions = { ...opts };
  resolveResources(opts, { hostCpus } as SpecContext, norm, spec);
  const picked = Object.fromEntries(
    RESOURCE_FIELDS.filter((k) => norm[k] !== undefined).map((k) => [k, norm[k]]),
  ) as ResourceOptions;
  return { resources: spec.linux?.resources ?? {}, norm: picked };
}

function resolveResources(opts: RunOptions, ctx: SpecContext, norm: RunOptions, spec: OciSpec): void {
  const res = spec.linux!.resources!;
  if (opts.memory !== undefined) {
    const memory = parseBytes('memory', opts.memory);
    if (memory > 0 && memory < MIN_MEMORY) throw new InvalidArgumentError('memory', 'the minimum is 6MB');
    norm.memory = memory;
  }
  if (opts.memorySwap !== undefined) norm.memorySwap = parseBytesOrUnlimited('memorySwap', opts.memorySwap);
  if (opts.memoryReservation !== undefined)
    norm.memoryReservation = parseBytes('memoryReservation', opts.memoryReservation);
  const memory = (norm.memory as number | undefined) ?? 0;
  const swap = (norm.memorySwap as number | undefined) ?? 0;
  if (swap > 0 && memory === 0)
    throw new InvalidArgumentError(
      'memorySwap',
      'set memory too when setting memorySwap (it includes memory)',
    );
  if (swap > 0 && swap < memory)
    throw new InvalidArgumentError(
      'memorySwap',
      `${swap} is below memory ${memory} (it is memory plus swap)`,
    );
  if (memory > 0 || norm.memoryReservation) {
    res.memory = {};
    if (memory > 0) {
      res.memory.limit = memory;
      // Unset swap = no swap (the limit is a hard memory limit); -1 = unlimited swap.
      res.memory.swap = swap === 0 ? memory : swap;
    }
    if (norm.memoryReservation) res.memory.reservation = norm.memoryReservation as number;
  }

  const cpu: NonNullable<NonNullable<OciSpec['linux']>['resources']>['cpu'] = {};
  if (opts.cpus !== undefined && opts.nanoCpus !== undefined)
    throw new InvalidArgumentError('cpus', 'give either cpus or nanoCpus, not both');
  const nano = opts.cpus !== undefined ? parseCpus('cpus', opts.cpus) : (opts.nanoCpus ?? 0);
  if (!Number.isSafeInteger(nano) || nano < 0)
    throw new InvalidArgumentError('nanoCpus', `${opts.nanoCpus} is not a non-negative integer`);
  if (nano > 0) {
    if (opts.cpuQuota || opts.cpuPeriod)
      throw new InvalidArgumentError('cpus', 'cannot be combined with cpuQuota or cpuPeriod');
    if (ctx.hostCpus && nano > ctx.hostCpus * 1e9)
      throw new InvalidArgumentError(
        'cpus',
        `${nano / 1e9} is more than the ${ctx.hostCpus} CPUs available (range 0.01 to ${ctx.hostCpus}.00)`,
      );
    norm.nanoCpus = nano;
    delete norm.cpus;
    cpu.period = CPU_PERIOD;
    cpu.quota = Math.round((nano * CPU_PERIOD) / 1e9);
  }
  if (opts.cpuQuota !== undefined && opts.cpuQuota !== 0) {
    if (!Number.isSafeInteger(opts.cpuQuota) || (opts.cpuQuota < 1000 && opts.cpuQuota !== -1))
      throw new InvalidArgumentError(
        'cpuQuota',
        `${opts.cpuQuota} is below the minimum of 1000 microseconds`,
      );
    cpu.quota = opts.cpuQuota;
  }
  if (opts.cpuPeriod !== undefined && opts.cpuPeriod !== 0) {
    if (!Number.isSafeInteger(opts.cpuPeriod) || opts.cpuPeriod < 1000 || opts.cpuPeriod > 1_000_000)
      throw new InvalidArgumentError('cpuPeriod', `${opts.cpuPeriod} is outside 1000..1000000 microseconds`);
    cpu.period = opts.cpuPeriod;
  }
  if (opts.cpuShares !== undefined && opts.cpuShares !== 0) {
    if (!Number.isSafeInteger(opts.cpuShares) || opts.cpuShares < 0)
      throw new InvalidArgumentError('cpuShares', `${opts.cpuShares} is not a positive integer`);
    // The kernel's bounds, as docker clamps them.
    cpu.shares = Math.min(Math.max(opts.cpuShares, 2), 262144);
  }
  if (opts.cpusetCpus) cpu.cpus = checkCpuset('cpusetCpus', opts.cpusetCpus);
  if (opts.cpusetMems) cpu.mems = checkCpuset('cpusetMems', opts.cpusetMems);
  if (Object.keys(cpu).length > 0) res.cpu = cpu;

  if (opts.pidsLimit !== undefined) {
    if (!Number.isSafeInteger(opts.pidsLimit) || opts.pidsLimit < -1)
      throw new InvalidArgumentError(
        'pidsLimit',
        `${opts.pidsLimit} is not a whole number (0 or -1 for unlimited)`,
      );
    if (opts.pidsLimit > 0) res.pids = { limit: opts.pidsLimit };
  }
}

function userMounts(opts: RunOptions, ctx: SpecContext): { oci: OciMount[]; points: MountPoint[] } {
  const oci: OciMount[] = [];
  const points: MountPoint[] = [];
  const dests = new Set<string>();
  const claim = (field: string, dest: string) => {
    if (dests.has(dest)) throw new InvalidArgumentError(field, `${dest} is mounted twice`);
    dests.add(dest);
  };
  const resolved: ResolvedMount[] =
    ctx.mounts ??
    (opts.binds ?? []).map((b) => {
      const bind = parseBind(b);
      if (!ctx.pathExists(bind.source))
        throw new InvalidArgumentError('binds', `bind source path ${bind.source} does not exist`);
      return { type: 'bind', ...bind, mode: '' };
    });
  for (const m of resolved) {
    claim(m.type === 'volume' ? 'volumes' : 'binds', m.destination);
    const options = ['rbind', m.propagation, ...(m.readOnly ? ['ro'] : [])];
    oci.push({ destination: m.destination, type: 'bind', source: m.source, options });
    points.push({
      type: m.type,
      source: m.source,
      destination: m.destination,
      rw: !m.readOnly,
      options,
      ...(m.type === 'volume' ? { name: m.name, driver: m.driver ?? 'local' } : {}),
      mode: m.mode,
    });
  }
  for (const t of opts.tmpfs ? parseTmpfs(opts.tmpfs) : []) {
    claim('tmpfs', t.destination);
    oci.push({ destination: t.destination, type: 'tmpfs', source: 'tmpfs', options: t.options });
    points.push({
      type: 'tmpfs',
      source: 'tmpfs',
      destination: t.destination,
      rw: !t.options.includes('ro'),
      options: t.options,
    });
  }
  return { oci, points };
}

/** Default mounts the user did not replace, then user mounts, parents before children (as docker sorts them). */
function mergeMounts(defaults: OciMount[], user: OciMount[]): OciMount[] {
  const userDests = new Set(user.map((m) => m.destination));
  const kept = defaults.filter((d) => !userDests.has(d.destination));
  const depth = (m: OciMount) => normalizePath(m.destination).split('/').length;
  return [...kept, ...[...user].sort((a, b) => depth(a) - depth(b))];
}

export function buildSpec(opts: RunOptions, image: ImageConfig | undefined, ctx: SpecContext): BuiltSpec {
  if (opts.init && !ctx.initPath)
    throw new InvalidArgumentError(
      'init',
      'an init process (--init) is not available on this node (no shoal-init)',
    );
  checkNoNul(opts, image);
  const norm: RunOptions = structuredClone(opts);
  const spec = baseSpec(ctx.rootfsPath);

  // --- command, env, cwd, user
  const { entrypoint, cmd } = resolveCommand(opts, image);
  checkEnv(opts.env ?? []);
  const configEnv = mergeEnv(image?.Env ?? [], opts.env ?? []);
  const net = resolveNetwork(opts, ctx);
  const hostname = checkHostname(
    'hostname',
    opts.hostname || (net.host && ctx.hostHostname ? ctx.hostHostname : ctx.id.slice(0, 12)),
  );
  if (opts.domainname) checkHostname('domainname', opts.domainname);
  const tty = !!opts.tty;
  // As dockerd: PATH, HOSTNAME, TERM first, then the config env replacing them in place.
  let env = [DEFAULT_PATH, `HOSTNAME=${hostname}`, ...(tty ? ['TERM=xterm'] : [])];
  env = mergeEnv(env, configEnv);

  const workingDir = opts.workingDir || image?.WorkingDir || '/';
  if (!workingDir.startsWith('/'))
    throw new InvalidArgumentError('workingDir', `"${workingDir}" must be an absolute path`);

  const userSpec = opts.user ?? image?.User ?? '';
  const user = resolveUser(userSpec, ctx.readRootfsFile, opts.groupAdd);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);

  spec.process.args = [...entrypoint, ...cmd];
  // --init: as docker, [/sbin/docker-init, --, command...]; the runtime runs the init from a sealed copy
  // of ctx.initPath (annotation below), so /sbin/docker-init names it only in ps.
  if (opts.init) spec.process.args = [INIT_ARGV0, '--', ...spec.process.args];
  spec.process.env = env;
  spec.process.cwd = normalizePath(workingDir);
  spec.process.terminal = tty;
  const consoleSize = parseConsoleSize('consoleSize', opts.consoleSize);
  if (consoleSize) norm.consoleSize = consoleSize;
  else delete norm.consoleSize;
  // The pty gets its size before init runs, so a program that asks at once sees it (not 0x0).
  if (tty && consoleSize) spec.process.consoleSize = consoleSize;
  spec.process.user = {
    uid: user.uid,
    gid: user.gid,
    ...(user.additionalGids.length > 0 ? { additionalGids: user.additionalGids } : {}),
    ...(user.username ? { username: user.username } : {}),
  };
  spec.hostname = hostname;
  if (opts.domainname) (spec as OciSpec & { domainname?: string }).domainname = opts.domainname;

  // --- security
  const sec = parseSecurityOpts(opts.securityOpt);
  const linux = spec.linux!;
  let caps: string[];
  if (opts.privileged) {
    caps = resolveCapabilities(DEFAULT_CAPABILITIES, ['ALL'], []);
    linux.seccomp = undefined;
    linux.maskedPaths = [];
    linux.readonlyPaths = [];
    linux.resources!.devices = [{ allow: true, access: 'rwm' }];
    linux.devices = ctx.hostDevices ? ctx.hostDevices() : [];
    for (const m of spec.mounts ?? [])
      if (m.type === 'sysfs' || m.type === 'cgroup') m.options = (m.options ?? []).filter((o) => o !== 'ro');
  } else {
    caps = resolveCapabilities(DEFAULT_CAPABILITIES, opts.capAdd, opts.capDrop);
    linux.seccomp = sec.seccompUnconfined ? undefined : defaultSeccompProfile(caps);
  }
  if (opts.privileged && (opts.capAdd?.length || opts.capDrop?.length))
    // Docker applies cap-drop even to privileged containers.
    caps = resolveCapabilities(caps, opts.capAdd, opts.capDrop);
  if (ctx.hostCapabilities) {
    // "All" means all the daemon can hand out; naming one it lacks is the user's error.
    const grantable = new Set(ctx.hostCapabilities);
    for (const c of opts.capAdd ?? []) {
      const name = normalizeCapability('capAdd', c);
      if (name !== 'ALL' && !grantable.has(name))
        throw new InvalidArgumentError('capAdd', `${name} is not in the daemon's capability bounding set`);
    }
    caps = caps.filter((c) => grantable.has(c));
  }
  spec.process.capabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps] };
  spec.process.noNewPrivileges = sec.noNewPrivileges;
  if (linux.seccomp === undefined) delete linux.seccomp;

  // --- devices (--device, --device-cgroup-rule)
  if (opts.devices?.length && !ctx.devices)
    throw new InvalidArgumentError('devices', 'host devices are not available here');
  applyDevices(linux, ctx.devices ?? [], opts.deviceCgroupRules);

  // --- rlimits
  const rlimits: OciRlimit[] = [...(spec.process.rlimits ?? [])];
  for (const u of opts.ulimits ?? []) {
    const r = toRlimit(u);
    const i = rlimits.findIndex((x) => x.type === r.type);
    if (i >= 0) rlimits[i] = r;
    else rlimits.push(r);
  }
  spec.process.rlimits = rlimits;

  // --- namespaces
  const namespaces = (linux.namespaces ?? []).filter((n) => n.type !== 'network');
  if (net.ns) namespaces.push(net.ns);
  if (opts.usernsRemap) {
    const { hostUid, hostGid, size } = opts.usernsRemap;
    for (const [k, v] of Object.entries({ hostUid, hostGid, size }))
      if (!Number.isSafeInteger(v) || v < (k === 'size' ? 1 : 0))
        throw new InvalidArgumentError('usernsRemap', `${k} ${v} is not a valid id`);
    namespaces.push({ type: 'user' });
    linux.uidMappings = [{ containerID: 0, hostID: hostUid, size }];
    linux.gidMappings = [{ containerID: 0, hostID: hostGid, size }];
  }
  linux.namespaces = namespaces;
  linux.cgroupsPath = ctx.cgroupsPath;
  const sysctls = resolveSysctls(opts.sysctls, namespaces);
  if (sysctls) linux.sysctl = sysctls;

  // --- resources
  resolveResources(opts, ctx, norm, spec);

  // --- mounts
  const extra = userMounts(opts, ctx);
  let defaults = [...(spec.mounts ?? [])];
  if (opts.shmSize !== undefined) {
    const shm = parseBytes('shmSize', opts.shmSize);
    if (shm > 0) {
      norm.shmSize = shm;
      defaults = defaults.map((m) =>
        m.destination === '/dev/shm'
          ? { ...m, options: [...(m.options ?? []).filter((o) => !o.startsWith('size=')), `size=${shm}`] }
          : m,
      );
    }
  }
  spec.mounts = mergeMounts(defaults, extra.oci);
  spec.root.readonly = !!opts.readOnly;

  // --- stop, labels, annotations
  const stopSignal = parseSignal('stopSignal', opts.stopSignal ?? image?.StopSignal ?? 'SIGTERM').name;
  const stopTimeout = opts.stopTimeout ?? 10;
  if (!Number.isSafeInteger(stopTimeout) || stopTimeout < -1)
    throw new InvalidArgumentError(
      'stopTimeout',
      `${opts.stopTimeout} is not a whole number of seconds (-1 = forever)`,
    );
  const annotations: Record<string, string> = { ...(opts.annotations ?? {}), ...(ctx.annotations ?? {}) };
  // as dockerd (CloseStdin && !TTY): a terminal's stdin is never closed by a client's end, so detaching
  // (ctrl-p ctrl-q closes the connection) leaves `run -it`'s shell running
  if (opts.stdinOnce && !opts.tty) annotations['org.shoal.stdin-once'] = 'true';
  // Only --init names the host file the runtime runs as PID 1; never a caller's annotation.
  delete annotations['org.shoal.init'];
  if (opts.init && ctx.initPath) annotations['org.shoal.init'] = ctx.initPath;
  if (Object.keys(annotations).length > 0) spec.annotations = annotations;

  const config: ResolvedConfig = {
    hostname,
    domainname: opts.domainname ?? '',
    user: userSpec,
    env: configEnv,
    cmd,
    entrypoint,
    workingDir: opts.workingDir || image?.WorkingDir || '',
    labels: { ...(image?.Labels ?? {}), ...(opts.labels ?? {}) },
    stopSignal,
    stopTimeout,
    tty,
    openStdin: !!opts.openStdin,
    stdinOnce: !!opts.stdinOnce,
    image: '',
  };
  return { spec, config, mounts: extra.points, hostConfig: norm };
}
