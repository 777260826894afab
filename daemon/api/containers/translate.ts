// Engine API (PascalCase JSON) ⇄ engine domain types for containers. Pure functions only.

import { humanDuration } from '../../../common/humanize.js';
import type {
  Container,
  CreateOptions,
  DeviceMapping,
  HealthcheckConfig,
  HealthState,
  MountOption,
  MountPoint,
  RestartPolicyName,
  RootfsSource,
  RunOptions,
  Ulimit,
} from '../../../worker/engine/index.js';
import type { ContainerNetView, EndpointView } from '../../../worker/network/index.js';
import { badRequest } from '../../http/errors.js';
import type { ResolvedImage } from '../deps.js';

/** The parts of a container-create body shoal reads (Docker's Config + HostConfig, plus `Rootfs`). */
export interface CreateBody {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  Image?: string;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  Healthcheck?: HealthcheckBody | null;
  /** shoal extension: run this directory as the root filesystem instead of an image (`--rootfs`). */
  Rootfs?: string;
  /** Destinations that get an anonymous volume (`docker run -v /path`). */
  Volumes?: Record<string, unknown> | null;
  ExposedPorts?: Record<string, unknown> | null;
  HostConfig?: HostConfigBody | null;
  NetworkingConfig?: {
    EndpointsConfig?: Record<
      string,
      { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null } | null
    > | null;
  } | null;
}

/** Docker's HealthConfig (durations in nanoseconds). */
export interface HealthcheckBody {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface HostConfigBody {
  RestartPolicy?: { Name?: string; MaximumRetryCount?: number } | null;
  Binds?: string[] | null;
  Tmpfs?: Record<string, string> | null;
  Mounts?: MountBody[] | null;
  VolumesFrom?: string[] | null;
  VolumeDriver?: string;
  NetworkMode?: string;
  PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
  PublishAllPorts?: boolean;
  Dns?: string[] | null;
  DnsSearch?: string[] | null;
  DnsOptions?: string[] | null;
  ExtraHosts?: string[] | null;
  AutoRemove?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  GroupAdd?: string[] | null;
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  Ulimits?: { Name: string; Soft: number; Hard: number }[] | null;
  Sysctls?: Record<string, string> | null;
  ShmSize?: number;
  Init?: boolean | null;
  /** [height, width] of the client's terminal (docker run -t sends it at create). */
  ConsoleSize?: [number, number] | null;
  Devices?: DeviceBody[] | null;
  DeviceCgroupRules?: string[] | null;
}

export interface DeviceBody {
  PathOnHost?: string;
  PathInContainer?: string;
  CgroupPermissions?: string;
}

export interface MountBody {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
  BindOptions?: { Propagation?: string; NonRecursive?: boolean } | null;
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string> | null;
    DriverConfig?: { Name?: string; Options?: Record<string, string> | null } | null;
  } | null;
}

const MIN_MEMORY = 6 * 1024 * 1024;

/**
 * dockerd's checks of the resource fields (verifyContainerResources, verifyPlatformContainerSettings),
 * with its messages. Negative values it refuses are refused here too, instead of reading as "unset";
 * the negatives it accepts mean "unlimited" (CpuQuota, PidsLimit) and stay so.
 */
export function verifyResources(hc: HostConfigBody | null | undefined, hostCpus: number): void {
  if (!hc) return;
  const memory = hc.Memory ?? 0;
  const reservation = hc.MemoryReservation ?? 0;
  const swap = hc.MemorySwap ?? 0;
  const nano = hc.NanoCpus ?? 0;
  const period = hc.CpuPeriod ?? 0;
  const quota = hc.CpuQuota ?? 0;
  if (memory !== 0 && memory < MIN_MEMORY) throw badRequest('Minimum memory limit allowed is 6MB');
  if (memory > 0 && swap > 0 && swap < memory)
    throw badRequest('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory === 0 && swap > 0)
    throw badRequest('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (reservation !== 0 && reservation < MIN_MEMORY)
    throw badRequest('Minimum memory reservation allowed is 6MB');
  if (memory > 0 && reservation > 0 && memory < reservation)
    throw badRequest('Minimum memory limit can not be less than memory reservation limit, see usage');
  if (nano > 0 && period > 0)
    throw badRequest('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nano > 0 && quota > 0)
    throw badRequest('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nano !== 0 && (nano < 0 || nano > hostCpus * 1e9))
    throw badRequest(
      `range of CPUs is from 0.01 to ${hostCpus}.00, as there are only ${hostCpus} CPUs available`,
    );
  if ((hc.CpuShares ?? 0) < 0)
    throw badRequest(`invalid CPU shares (${hc.CpuShares}): value must be a positive integer`);
  if (period !== 0 && (period < 1000 || period > 1_000_000))
    throw badRequest('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  if (quota > 0 && quota < 1000) throw badRequest('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if ((hc.ShmSize ?? 0) < 0) throw badRequest('SHM size can not be less than 0');
}

const asList = (v: string[] | string | null | undefined): string[] | undefined =>
  v == null ? undefined : Array.isArray(v) ? v : [v];
const positive = (n: number | null | undefined): number | undefined => (n && n > 0 ? n : undefined);
const nonEmpty = <T>(a: T[] | null | undefined): T[] | undefined => (a && a.length > 0 ? a : undefined);

function mountsToRunOptions(mounts: MountBody[], out: MountOption[], tmpfs: Record<string, string>): void {
  for (const [i, m] of mounts.entries()) {
    if (!m.Target) throw badRequest(`invalid HostConfig.Mounts[${i}]: Target is required`);
    if (m.Type === 'bind') {
      if (!m.Source) throw badRequest(`invalid HostConfig.Mounts[${i}]: Source is required for a bind mount`);
      if (m.VolumeOptions)
        throw badRequest(`invalid HostConfig.Mounts[${i}].VolumeOptions: not allowed for a bind mount`);
      if (m.BindOptions?.NonRecursive)
        throw badRequest(`invalid HostConfig.Mounts[${i}].BindOptions.NonRecursive: not supported`);
      out.push({
        type: 'bind',
        source: m.Source,
        target: m.Target,
        readOnly: !!m.ReadOnly,
        ...(m.BindOptions?.Propagation ? { propagation: m.BindOptions.Propagation } : {}),
      });
    } else if (m.Type === 'volume') {
      if (m.BindOptions)
        throw badRequest(`invalid HostConfig.Mounts[${i}].BindOptions: not allowed for a volume mount`);
      const v = m.VolumeOptions ?? {};
      const driver = v.DriverConfig?.Name;
      const options = v.DriverConfig?.Options;
      out.push({
        type: 'volume',
        ...(m.Source ? { source: m.Source } : {}),
        target: m.Target,
        readOnly: !!m.ReadOnly,
        ...(v.NoCopy ? { noCopy: true } : {}),
        ...(v.Labels && Object.keys(v.Labels).length > 0 ? { labels: v.Labels } : {}),
        ...(driver ? { driver } : {}),
        ...(options && Object.keys(options).length > 0 ? { driverOptions: options } : {}),
      });
    } else if (m.Type === 'tmpfs') {
      const opts: string[] = [];
      if (m.TmpfsOptions?.SizeBytes) opts.push(`size=${m.TmpfsOptions.SizeBytes}`);
      if (m.TmpfsOptions?.Mode) opts.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
      if (m.ReadOnly) opts.push('ro');
      tmpfs[m.Target] = opts.join(',');
    } else {
      throw badRequest(
        `invalid HostConfig.Mounts[${i}]: mount type "${m.Type}" is not supported (bind, volume, tmpfs)`,
      );
    }
  }
}

/** Builds the engine's create options from a create body; `image` is the resolved image when Rootfs is absent. */
export function createOptionsFromBody(
  body: CreateBody,
  name: string | undefined,
  image?: ResolvedImage,
): CreateOptions {
  const hc = body.HostConfig ?? {};
  let rootfs: RootfsSource;
  if (body.Rootfs) {
    if (!body.Rootfs.startsWith('/'))
      throw badRequest(`invalid Rootfs "${body.Rootfs}": must be an absolute path`);
    rootfs = { dir: body.Rootfs };
  } else if (image) {
    rootfs = { layers: image.layers, imageConfig: image.config };
  } else {
    throw badRequest('no image given: set Image (or Rootfs, a root filesystem directory)');
  }
  const binds = [...(hc.Binds ?? [])];
  const tmpfs: Record<string, string> = { ...(hc.Tmpfs ?? {}) };
  const mounts: MountOption[] = [];
  mountsToRunOptions(hc.Mounts ?? [], mounts, tmpfs);
  if (hc.VolumeDriver && hc.VolumeDriver !== 'local')
    throw badRequest(
      `invalid HostConfig.VolumeDriver: volume driver "${hc.VolumeDriver}" is not supported (only local)`,
    );
  const ulimits: Ulimit[] | undefined = hc.Ulimits?.map((u) => ({
    name: u.Name,
    soft: u.Soft,
    hard: u.Hard,
  }));
  const opts: CreateOptions = {
    name,
    image: body.Rootfs ? '' : (image?.reference ?? body.Image ?? ''),
    imageId: image?.id,
    rootfs,
    cmd: asList(body.Cmd),
    entrypoint: asList(body.Entrypoint),
    env: body.Env ?? undefined,
    workingDir: body.WorkingDir || undefined,
    user: body.User || undefined,
    groupAdd: nonEmpty(hc.GroupAdd),
    hostname: body.Hostname || undefined,
    domainname: body.Domainname || undefined,
    tty: body.Tty ?? false,
    consoleSize: consoleSize(hc.ConsoleSize),
    openStdin: body.OpenStdin ?? false,
    stdinOnce: body.StdinOnce ?? false,
    labels: body.Labels ?? undefined,
    stopSignal: body.StopSignal || undefined,
    stopTimeout: body.StopTimeout ?? undefined,
    binds: nonEmpty(binds),
    mounts: nonEmpty(mounts),
    volumes: body.Volumes ? nonEmpty(Object.keys(body.Volumes)) : undefined,
    volumesFrom: nonEmpty(hc.VolumesFrom),
    tmpfs: Object.keys(tmpfs).length > 0 ? tmpfs : undefined,
    memory: positive(hc.Memory),
    memorySwap: hc.MemorySwap ? hc.MemorySwap : undefined,
    memoryReservation: positive(hc.MemoryReservation),
    nanoCpus: positive(hc.NanoCpus),
    cpuShares: positive(hc.CpuShares),
    cpuPeriod: positive(hc.CpuPeriod),
    cpuQuota: positive(hc.CpuQuota),
    cpusetCpus: hc.CpusetCpus || undefined,
    cpusetMems: hc.CpusetMems || undefined,
    pidsLimit: positive(hc.PidsLimit),
    capAdd: nonEmpty(hc.CapAdd),
    capDrop: nonEmpty(hc.CapDrop),
    readOnly: hc.ReadonlyRootfs ?? false,
    privileged: hc.Privileged ?? false,
    securityOpt: nonEmpty(hc.SecurityOpt),
    networkMode: hc.NetworkMode || undefined,
    portBindings: portBindingsOf(hc.PortBindings),
    publishAllPorts: hc.PublishAllPorts || undefined,
    exposedPorts: body.ExposedPorts ? nonEmpty(Object.keys(body.ExposedPorts)) : undefined,
    dns: nonEmpty(hc.Dns),
    dnsSearch: nonEmpty(hc.DnsSearch),
    dnsOptions: nonEmpty(hc.DnsOptions),
    extraHosts: nonEmpty(hc.ExtraHosts),
    endpoints: endpointsOf(body.NetworkingConfig?.EndpointsConfig),
    ulimits: nonEmpty(ulimits),
    sysctls: hc.Sysctls && Object.keys(hc.Sysctls).length > 0 ? { ...hc.Sysctls } : undefined,
    shmSize: positive(hc.ShmSize),
    autoRemove: hc.AutoRemove ?? false,
    init: hc.Init ?? undefined,
    restartPolicy: hc.RestartPolicy
      ? {
          name: (hc.RestartPolicy.Name ?? '') as RestartPolicyName,
          maximumRetryCount: hc.RestartPolicy.MaximumRetryCount ?? 0,
        }
      : undefined,
    healthcheck: healthcheckOptions(body.Healthcheck),
    devices: devicesOf(hc.Devices),
    deviceCgroupRules: nonEmpty(hc.DeviceCgroupRules),
  };
  // Leave out what was not given, so the engine's defaults apply and inspect stays tidy.
  for (const k of Object.keys(opts) as (keyof CreateOptions)[]) if (opts[k] === undefined) delete opts[k];
  return opts;
}

/** HostConfig.PortBindings: shape checked here, values by the network manager. */
function portBindingsOf(pb: HostConfigBody['PortBindings']): CreateOptions['portBindings'] {
  if (!pb || Object.keys(pb).length === 0) return undefined;
  const out: NonNullable<CreateOptions['portBindings']> = {};
  for (const [k, list] of Object.entries(pb)) {
    if (list !== null && !Array.isArray(list))
      throw badRequest(`invalid HostConfig.PortBindings["${k}"]: not a list`);
    out[k] = (list ?? [{}]).map((b) => ({ HostIp: b?.HostIp ?? '', HostPort: b?.HostPort ?? '' }));
  }
  return out;
}

/** NetworkingConfig.EndpointsConfig → aliases and --ip per network. */
function endpointsOf(
  e: NonNullable<CreateBody['NetworkingConfig']>['EndpointsConfig'],
): CreateOptions['endpoints'] {
  if (!e || Object.keys(e).length === 0) return undefined;
  const out: NonNullable<CreateOptions['endpoints']> = {};
  for (const [net, conf] of Object.entries(e))
    out[net] = {
      ...(conf?.Aliases?.length ? { aliases: conf.Aliases } : {}),
      ...(conf?.IPAMConfig?.IPv4Address ? { ipv4Address: conf.IPAMConfig.IPv4Address } : {}),
    };
  return out;
}

/** HostConfig.Devices: the shape is checked here, the paths and permissions by the engine. */
function devicesOf(list: DeviceBody[] | null | undefined): DeviceMapping[] | undefined {
  if (!list?.length) return undefined;
  return list.map((d, i) => {
    const field = `HostConfig.Devices[${i}]`;
    if (!d || typeof d !== 'object' || Array.isArray(d)) throw badRequest(`invalid ${field}: not an object`);
    for (const k of ['PathOnHost', 'PathInContainer', 'CgroupPermissions'] as const)
      if (d[k] !== undefined && d[k] !== null && typeof d[k] !== 'string')
        throw badRequest(`invalid ${field}.${k}: not a string`);
    return {
      pathOnHost: d.PathOnHost ?? '',
      pathInContainer: d.PathInContainer || undefined,
      cgroupPermissions: d.CgroupPermissions || undefined,
    };
  });
}

function healthcheckOptions(h: HealthcheckBody | null | undefined): HealthcheckConfig | undefined {
  if (!h) return undefined;
  const out: HealthcheckConfig = {
    test: h.Test ?? undefined,
    interval: h.Interval,
    timeout: h.Timeout,
    startPeriod: h.StartPeriod,
    startInterval: h.StartInterval,
    retries: h.Retries,
  };
  for (const k of Object.keys(out) as (keyof HealthcheckConfig)[]) if (out[k] === undefined) delete out[k];
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Config.Healthcheck as inspect shows it (absent when the container has none of its own). */
function healthcheckJson(h: HealthcheckConfig | undefined): Record<string, unknown> | undefined {
  if (!h) return undefined;
  return {
    ...(h.test ? { Test: h.test } : {}),
    ...(h.interval ? { Interval: h.interval } : {}),
    ...(h.timeout ? { Timeout: h.timeout } : {}),
    ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
    ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
    ...(h.retries ? { Retries: h.retries } : {}),
  };
}

/** Config.Healthcheck: the container's own, else the image's (dockerd merges the image config in at create). */
function configHealthcheck(c: Container): { Healthcheck?: Record<string, unknown> } {
  if (c.hostConfig.healthcheck) return { Healthcheck: healthcheckJson(c.hostConfig.healthcheck) };
  const img = 'layers' in c.rootfs ? c.rootfs.imageConfig?.Healthcheck : undefined;
  return img ? { Healthcheck: { ...img } } : {};
}

/** State.Health as inspect shows it. */
function healthJson(h: HealthState): Record<string, unknown> {
  return {
    Status: h.status,
    FailingStreak: h.failingStreak,
    Log: h.log.map((e) => ({ Start: e.start, End: e.end, ExitCode: e.exitCode, Output: e.output })),
  };
}

/** Docker's [h, w] pair; 0x0 (the CLI's "no terminal") and malformed values go to the engine's check. */
function consoleSize(v: [number, number] | null | undefined): CreateOptions['consoleSize'] {
  if (!v) return undefined;
  if (!Array.isArray(v) || v.length !== 2) return v as unknown as CreateOptions['consoleSize'];
  return { height: v[0], width: v[1] };
}

const num = (v: number | string | undefined): number => (typeof v === 'number' ? v : 0);
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Docker's HostConfig as inspect shows it, from the normalised run options. */
export function hostConfigJson(h: RunOptions): Record<string, unknown> {
  const tmpfs = Array.isArray(h.tmpfs)
    ? Object.fromEntries(h.tmpfs.map((t) => [t.split(':')[0], t.split(':').slice(1).join(':')]))
    : h.tmpfs;
  return {
    Binds: h.binds ?? null,
    ContainerIDFile: '',
    LogConfig: { Type: 'json-file', Config: {} },
    NetworkMode: h.networkMode ?? 'default',
    PortBindings: h.portBindings ?? {},
    RestartPolicy: {
      Name: h.restartPolicy?.name ?? 'no',
      MaximumRetryCount: h.restartPolicy?.maximumRetryCount ?? 0,
    },
    AutoRemove: h.autoRemove ?? false,
    VolumeDriver: '',
    VolumesFrom: h.volumesFrom ?? null,
    CapAdd: h.capAdd ?? null,
    CapDrop: h.capDrop ?? null,
    CgroupnsMode: 'private',
    Dns: h.dns ?? [],
    DnsOptions: h.dnsOptions ?? [],
    DnsSearch: h.dnsSearch ?? [],
    ExtraHosts: h.extraHosts ?? null,
    GroupAdd: h.groupAdd ?? null,
    IpcMode: 'private',
    Cgroup: '',
    Links: null,
    OomScoreAdj: 0,
    PidMode: '',
    Privileged: h.privileged ?? false,
    PublishAllPorts: h.publishAllPorts ?? false,
    ReadonlyRootfs: h.readOnly ?? false,
    SecurityOpt: h.securityOpt ?? null,
    Tmpfs: tmpfs,
    UTSMode: '',
    UsernsMode: '',
    ShmSize: num(h.shmSize) || 67108864,
    Runtime: 'shoal-runtime',
    ConsoleSize: h.consoleSize ? [h.consoleSize.height, h.consoleSize.width] : [0, 0],
    Isolation: '',
    CpuShares: h.cpuShares ?? 0,
    Memory: num(h.memory),
    NanoCpus: h.nanoCpus ?? 0,
    CgroupParent: '',
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: [],
    BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [],
    CpuPeriod: h.cpuPeriod ?? 0,
    CpuQuota: h.cpuQuota ?? 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: h.cpusetCpus ?? '',
    CpusetMems: h.cpusetMems ?? '',
    Devices: (h.devices ?? []).map((d) => ({
      PathOnHost: d.pathOnHost,
      PathInContainer: d.pathInContainer || d.pathOnHost,
      CgroupPermissions: d.cgroupPermissions || 'rwm',
    })),
    DeviceCgroupRules: h.deviceCgroupRules ?? null,
    DeviceRequests: null,
    KernelMemory: 0,
    KernelMemoryTCP: 0,
    MemoryReservation: num(h.memoryReservation),
    MemorySwap: num(h.memorySwap),
    MemorySwappiness: null,
    OomKillDisable: false,
    PidsLimit: h.pidsLimit && h.pidsLimit > 0 ? h.pidsLimit : null,
    Ulimits: (h.ulimits ?? []).map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
    ...(h.sysctls ? { Sysctls: h.sysctls } : {}),
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    Init: h.init ?? null,
    ...(h.mounts ? { Mounts: h.mounts.map(mountOptionJson) } : {}),
  };
}

/** HostConfig.Mounts as given (bind and volume entries; tmpfs ones show under Tmpfs). */
function mountOptionJson(m: MountOption): Record<string, unknown> {
  return {
    Type: m.type,
    ...(m.source ? { Source: m.source } : {}),
    Target: m.target,
    ...(m.readOnly ? { ReadOnly: true } : {}),
    ...(m.propagation ? { BindOptions: { Propagation: m.propagation } } : {}),
    ...(m.type === 'volume' && (m.noCopy || m.labels)
      ? {
          VolumeOptions: { ...(m.noCopy ? { NoCopy: true } : {}), ...(m.labels ? { Labels: m.labels } : {}) },
        }
      : {}),
  };
}

function mountJson(m: MountPoint): Record<string, unknown> {
  const propagation = m.options.find((o) => /^r?(private|shared|slave)$/.test(o)) ?? 'rprivate';
  if (m.type === 'volume')
    return {
      Type: 'volume',
      Name: m.name ?? '',
      Source: m.source,
      Destination: m.destination,
      Driver: m.driver ?? 'local',
      Mode: m.mode ?? '',
      RW: m.rw,
      Propagation: '',
    };
  return {
    Type: m.type,
    Source: m.source,
    Destination: m.destination,
    Mode: m.mode ?? m.options.join(','),
    RW: m.rw,
    Propagation: m.type === 'bind' ? propagation : '',
  };
}

/** What the IMAGE column shows: the image reference, or the root filesystem directory for --rootfs. */
export function imageLabel(c: Container): string {
  if (c.image) return c.image;
  return 'dir' in c.rootfs ? c.rootfs.dir : '';
}

function networkName(c: Container): string {
  const mode = c.hostConfig.networkMode ?? 'default';
  return mode === 'default' ? 'bridge' : mode;
}

function endpointJson(e: EndpointView | undefined): Record<string, unknown> {
  return {
    IPAMConfig: e?.requestedIp ? { IPv4Address: e.requestedIp } : null,
    Links: null,
    Aliases: e?.aliases.length ? e.aliases : null,
    NetworkID: e?.networkId ?? '',
    EndpointID: e?.endpointId ?? '',
    Gateway: e?.gateway ?? '',
    IPAddress: e?.ip ?? '',
    IPPrefixLen: e?.prefix ?? 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: e?.mac ?? '',
    DriverOpts: null,
  };
}

function networksJson(c: Container, net?: ContainerNetView): Record<string, unknown> {
  if (!net?.endpoints.length) return { [networkName(c)]: endpointJson(undefined) };
  return Object.fromEntries(net.endpoints.map((e) => [e.networkName, endpointJson(e)]));
}

/** NetworkSettings.Ports → the `Ports` list of GET /containers/json. */
function portsList(net?: ContainerNetView): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [k, list] of Object.entries(net?.ports ?? {})) {
    const [port, type] = k.split('/');
    if (!list) out.push({ PrivatePort: Number(port), Type: type });
    else
      for (const b of list)
        out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}

/** Config.Volumes as dockerd shows it: the image's VOLUMEs merged with the request's. */
function configVolumes(c: Container): Record<string, object> | null {
  const fromImage = 'layers' in c.rootfs ? Object.keys(c.rootfs.imageConfig?.Volumes ?? {}) : [];
  const all = [...fromImage, ...(c.hostConfig.volumes ?? [])];
  return all.length > 0 ? Object.fromEntries(all.map((v) => [v, {}])) : null;
}

/** GET /containers/{id}/json. */
export function inspectJson(c: Container, net?: ContainerNetView): Record<string, unknown> {
  const primary = net?.endpoints[0];
  const s = c.state;
  return {
    Id: c.id,
    Created: c.created,
    Path: c.path,
    Args: c.args,
    State: {
      Status: s.status,
      Running: s.running,
      Paused: s.paused,
      Restarting: s.restarting,
      OOMKilled: s.oomKilled,
      Dead: s.dead,
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt || ZERO_TIME,
      FinishedAt: s.finishedAt || ZERO_TIME,
      ...(s.health ? { Health: healthJson(s.health) } : {}),
    },
    Image: c.imageId || '',
    ResolvConfPath: net?.files.resolv ?? '',
    HostnamePath: net?.files.hostname ?? '',
    HostsPath: net?.files.hosts ?? '',
    LogPath: c.logPath,
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    Driver: 'dir' in c.rootfs ? 'rootfs' : 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: c.execIds.length > 0 ? c.execIds : null,
    HostConfig: hostConfigJson(c.hostConfig),
    GraphDriver: {
      Data: 'dir' in c.rootfs ? { RootDir: c.rootfs.dir } : { LowerDir: c.rootfs.layers.join(':') },
      Name: 'dir' in c.rootfs ? 'rootfs' : 'overlay',
    },
    Mounts: c.mounts.map(mountJson),
    Config: {
      Hostname: c.config.hostname,
      Domainname: c.config.domainname,
      User: c.config.user,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: c.config.tty,
      OpenStdin: c.config.openStdin,
      StdinOnce: c.config.stdinOnce,
      Env: c.config.env,
      Cmd: c.config.cmd.length > 0 ? c.config.cmd : null,
      Image: imageLabel(c),
      Volumes: configVolumes(c),
      WorkingDir: c.config.workingDir,
      Entrypoint: c.config.entrypoint.length > 0 ? c.config.entrypoint : null,
      OnBuild: null,
      Labels: c.config.labels,
      StopSignal: c.config.stopSignal,
      StopTimeout: c.config.stopTimeout,
      ...configHealthcheck(c),
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: net?.sandboxKey ? c.id : '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: net?.ports ?? {},
      SandboxKey: net?.sandboxKey ?? '',
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      // The top-level fields are the default bridge's (docker fills them for that network only).
      EndpointID: primary?.networkName === 'bridge' ? primary.endpointId : '',
      Gateway: primary?.networkName === 'bridge' ? primary.gateway : '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: primary?.networkName === 'bridge' ? primary.ip : '',
      IPPrefixLen: primary?.networkName === 'bridge' ? primary.prefix : 0,
      IPv6Gateway: '',
      MacAddress: primary?.networkName === 'bridge' ? primary.mac : '',
      Networks: networksJson(c, net),
    },
  };
}

/** Docker's human status for `ps`: "Up 5 seconds", "Exited (0) 3 minutes ago", "Created", … */
export function humanStatus(c: Container, now: Date): string {
  const s = c.state;
  const since = (t: string) => humanDuration(now.getTime() - Date.parse(t));
  switch (s.status) {
    case 'running':
      // As docker: "(health: starting)", "(healthy)", "(unhealthy)".
      if (s.health)
        return `Up ${since(s.startedAt)} (${s.health.status === 'starting' ? 'health: starting' : s.health.status})`;
      return `Up ${since(s.startedAt)}`;
    case 'paused':
      return `Up ${since(s.startedAt)} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${since(s.finishedAt)} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'created':
      return 'Created';
    default:
      return s.finishedAt && s.finishedAt !== ZERO_TIME
        ? `Exited (${s.exitCode}) ${since(s.finishedAt)} ago`
        : 'Exited';
  }
}

/** A shell-quoted command line, as docker ps's COMMAND column. */
export function commandLine(c: Container): string {
  return [c.path, ...c.args]
    .map((a) => (a === '' ? "''" : /[^\w@%+=:,./-]/.test(a) ? `'${a.replace(/'/g, "'\"'\"'")}'` : a))
    .join(' ');
}

/** One entry of GET /containers/json. */
export function listEntryJson(c: Container, now: Date, net?: ContainerNetView): Record<string, unknown> {
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: imageLabel(c),
    ImageID: c.imageId || '',
    Command: commandLine(c),
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: portsList(net),
    Labels: c.config.labels,
    State: c.state.status,
    Status: humanStatus(c, now),
    HostConfig: { NetworkMode: c.hostConfig.networkMode ?? 'default' },
    NetworkSettings: { Networks: networksJson(c, net) },
    Mounts: c.mounts.map(mountJson),
  };
}
