// The engine's domain types: what a caller asks for (RunOptions, a subset of Docker's
// Config + HostConfig) and what it gets back (Container, ContainerState, stats, exec info).
// Field names follow Docker's in camelCase so the daemon's Engine-API layer is a thin rename.

import type { MonitorStats } from './monitor-client.js';

/** The image config part the engine uses (Docker's image Config, PascalCase as in the image JSON). */
export interface ImageConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Volumes?: Record<string, object>;
  ExposedPorts?: Record<string, object>;
  /** HEALTHCHECK (durations in ns). */
  Healthcheck?: {
    Test?: string[];
    Interval?: number;
    Timeout?: number;
    StartPeriod?: number;
    StartInterval?: number;
    Retries?: number;
  };
}

/** Where the container's root filesystem comes from. */
export type RootfsSource =
  /** An existing directory used as is (`shoal run --rootfs DIR`). */
  | { dir: string }
  /** Read-only image layers, top first; the engine adds a per-container upper+work dir (overlayfs). */
  | { layers: string[]; imageConfig?: ImageConfig };

export interface Ulimit {
  name: string; // "nofile" (others are accepted if the kernel knows them: nproc, core, …)
  soft: number;
  hard: number;
}

export type NetworkMode =
  | 'none' // new network namespace with only loopback (the default when the engine has no networking)
  | 'host' // the host's network namespace
  | `container:${string}` // share another container's network namespace (id or name)
  | `netns:${string}` // join the network namespace at this path (e.g. /run/netns/x)
  | string; // a netns path given directly (absolute), or a network's name or id ("bridge", "default", user networks)

/**
 * Run options: Docker's Config + HostConfig fields the engine honours.
 * Sizes and CPUs accept either Docker API numbers (bytes, nano-CPUs) or CLI strings ("512m", "1.5").
 */
export interface RunOptions {
  // --- Config
  cmd?: string[];
  /** `[]` or `['']` clears the image's entrypoint, as `docker run --entrypoint ''`. */
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  /** `uid[:gid]`, `name[:group]`; names are resolved in the rootfs' /etc/passwd and /etc/group. */
  user?: string;
  /** Extra supplementary groups (names or gids), as `--group-add`. */
  groupAdd?: string[];
  hostname?: string;
  domainname?: string;
  tty?: boolean;
  /** The terminal's size from the first byte (with tty), as Docker's HostConfig.ConsoleSize; 0x0 = unset. */
  consoleSize?: ConsoleSize;
  openStdin?: boolean;
  stdinOnce?: boolean;
  labels?: Record<string, string>;
  stopSignal?: string;
  /** Seconds; default 10. */
  stopTimeout?: number;
  // --- HostConfig
  /**
   * `SRC:DST[:MODE]`: SRC an absolute host path (created when missing, as docker's -v) or a volume
   * name (created when missing); `DST` alone is an anonymous volume. MODE: ro, rw, z, Z, nocopy,
   * a propagation (binds).
   */
  binds?: string[];
  /** HostConfig.Mounts of type bind or volume (tmpfs mounts go to `tmpfs`). */
  mounts?: MountOption[];
  /** Config.Volumes: destinations that get an anonymous volume (as the image's VOLUME). */
  volumes?: string[];
  /** `CONTAINER[:ro|rw]`: that container's volumes and binds, at the same destinations. */
  volumesFrom?: string[];
  /** DST → mount options (`size=64m,mode=1777`), as HostConfig.Tmpfs; or `DST[:opts]` strings as the CLI. */
  tmpfs?: Record<string, string> | string[];
  memory?: number | string;
  /** -1 = unlimited swap; equal to memory (or unset) = no swap, as docker. */
  memorySwap?: number | string;
  memoryReservation?: number | string;
  nanoCpus?: number;
  /** CLI form of nanoCpus ("1.5"). */
  cpus?: number | string;
  cpuShares?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** <= 0 (or undefined) = unlimited. */
  pidsLimit?: number;
  capAdd?: string[];
  capDrop?: string[];
  readOnly?: boolean;
  privileged?: boolean;
  /** `no-new-privileges[:true|false]`, `seccomp=unconfined`, `seccomp=<profile JSON path>`. */
  securityOpt?: string[];
  networkMode?: NetworkMode;
  /** HostConfig.PortBindings: "80/tcp" → host bindings (HostPort "" = ephemeral, "8000-8010" = a range). */
  portBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  /** `-P`: every exposed port (image EXPOSE and exposedPorts) on an ephemeral host port. */
  publishAllPorts?: boolean;
  /** Config.ExposedPorts of the request ("80/tcp"), added to the image's. */
  exposedPorts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** `NAME:IP` (IP may be `host-gateway`). */
  extraHosts?: string[];
  /** NetworkingConfig.EndpointsConfig: network name/id → aliases and a requested IPv4 address. */
  endpoints?: Record<string, { aliases?: string[]; ipv4Address?: string }>;
  ulimits?: Ulimit[];
  /**
   * Kernel parameters set inside the container (`--sysctl`): only namespaced ones (net.* with the container's
   * own network namespace, IPC kernel.msg, sem and shm ones, fs.mqueue), so the host's are never touched.
   */
  sysctls?: Record<string, string>;
  shmSize?: number | string;
  autoRemove?: boolean;
  /** Run a tiny init (shoal-init, as /sbin/docker-init) as PID 1: it forwards signals and reaps zombies. */
  init?: boolean;
  /** Extra OCI annotations (merged into the spec). */
  annotations?: Record<string, string>;
  /** User-namespace mapping (`--userns-remap`-like): container uid 0 → host uid `hostId`, `size` ids. */
  usernsRemap?: { hostUid: number; hostGid: number; size: number };
  /** Docker's HostConfig.RestartPolicy; default `no`. `autoRemove` with another policy is refused. */
  restartPolicy?: RestartPolicy;
  /** Docker's Config.Healthcheck (durations in ns, 0 = unset); over the image's HEALTHCHECK. */
  healthcheck?: HealthcheckConfig;
  /** Host devices (`--device`): a char or block node, or a directory of them; stat'ed at create. */
  devices?: DeviceMapping[];
  /** Extra device cgroup allow rules (`--device-cgroup-rule "c 1:3 rwm"`). */
  deviceCgroupRules?: string[];
}

/** Docker's DeviceMapping: the container path defaults to the host one, permissions to rwm. */
export interface DeviceMapping {
  pathOnHost: string;
  pathInContainer?: string;
  cgroupPermissions?: string;
}

export type RestartPolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure only: 0 = no limit. */
  maximumRetryCount: number;
}

/** Docker's HealthConfig: Test `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", "…"]`; durations in nanoseconds. */
export interface HealthcheckConfig {
  test?: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** One probe in State.Health.Log (times RFC3339Nano). */
export interface HealthLogEntry {
  start: string;
  end: string;
  exitCode: number;
  output: string;
}

/** Docker's State.Health. */
export interface HealthState {
  status: HealthStatus;
  failingStreak: number;
  /** The newest 5 probes. */
  log: HealthLogEntry[];
}

/**
 * A file the container gets from memory (a swarm secret or config): written to the container's own tmpfs and
 * bind-mounted read-only at `target` (file-mounts.ts). Never persisted: the record keeps the targets only.
 */
export interface FileMount {
  target: string;
  data: Uint8Array;
  uid: number;
  gid: number;
  mode: number;
}

export interface CreateOptions extends RunOptions {
  /** Files from memory (secrets, configs): see FileMount. */
  files?: FileMount[];
  /** Unique name; generated (adjective_name style) when absent. A leading "/" is ignored. */
  name?: string;
  /** Image reference shown in ps/inspect ("busybox:latest"); empty for --rootfs. */
  image?: string;
  /** Image id shown in inspect. */
  imageId?: string;
  rootfs: RootfsSource;
}

export type ContainerStatus =
  | 'created'
  | 'running'
  | 'paused'
  | 'restarting'
  | 'removing'
  | 'exited'
  | 'dead';

export interface ContainerState {
  status: ContainerStatus;
  running: boolean;
  paused: boolean;
  restarting: boolean;
  oomKilled: boolean;
  dead: boolean;
  pid: number;
  exitCode: number;
  /** Name of the signal that killed init ("SIGKILL"), null when it exited. */
  signal: string | null;
  error: string;
  /** RFC3339Nano; "0001-01-01T00:00:00Z" when never started / not finished (as docker). */
  startedAt: string;
  finishedAt: string;
  /** With a health check, from the first start on (as docker's State.Health). */
  health?: HealthState;
}

/** The resolved process config (image config merged with run options). */
export interface ResolvedConfig {
  hostname: string;
  domainname: string;
  user: string;
  env: string[];
  cmd: string[];
  entrypoint: string[];
  workingDir: string;
  labels: Record<string, string>;
  stopSignal: string;
  stopTimeout: number;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  image: string;
}

/** One HostConfig.Mounts entry the engine takes (Docker's mount.Mount, bind and volume types). */
export interface MountOption {
  type: 'bind' | 'volume';
  /** bind: an absolute host path that must exist; volume: a name, or absent for an anonymous volume. */
  source?: string;
  target: string;
  readOnly?: boolean;
  /** bind: rprivate (default), private, rshared, shared, rslave, slave. */
  propagation?: string;
  /** volume: do not copy the image's content at the target into a new volume. */
  noCopy?: boolean;
  /** volume: labels for a volume this mount creates. */
  labels?: Record<string, string>;
  /** volume: the driver (only "local") and its options (none are supported). */
  driver?: string;
  driverOptions?: Record<string, string>;
}

export interface MountPoint {
  type: 'bind' | 'tmpfs' | 'volume';
  source: string;
  destination: string;
  rw: boolean;
  options: string[];
  /** volume: its name and driver. */
  name?: string;
  driver?: string;
  /** The mode as docker shows it ("z", "ro", ""). */
  mode?: string;
}

/** The full record of one container (what `inspect` shows). */
export interface Container {
  id: string;
  name: string;
  /** RFC3339Nano. */
  created: string;
  /** The process: path = args[0], args = the rest (as docker's Path/Args). */
  path: string;
  args: string[];
  image: string;
  imageId: string;
  config: ResolvedConfig;
  /** The create options as given (normalised: strings parsed to numbers). */
  hostConfig: RunOptions;
  state: ContainerState;
  mounts: MountPoint[];
  /** Directory holding config.json, the record and the logs: <dataRoot>/containers/<id>. */
  bundle: string;
  logPath: string;
  rootfs: RootfsSource;
  restartCount: number;
  execIds: string[];
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface WaitResult {
  exitCode: number;
  signal: string | null;
  oomKilled: boolean;
  error?: string;
}

/** A container's cgroup figures as its monitor reports them (`read` is the RFC3339Nano sample time). */
export interface ContainerStats extends MonitorStats {
  /** Host-wide cpu time (ns) and online cpus at the same moment, for docker's cpu % formula. */
  systemCpuNs: number;
  onlineCpus: number;
}

export interface ConsoleSize {
  height: number;
  width: number;
}

export interface ExecOptions {
  cmd: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  tty?: boolean;
  /** The exec's terminal size from the start (with tty). */
  consoleSize?: ConsoleSize;
  attachStdin?: boolean;
  attachStdout?: boolean;
  attachStderr?: boolean;
  privileged?: boolean;
  detachKeys?: string;
}

export interface ExecInfo {
  id: string;
  containerId: string;
  running: boolean;
  exitCode: number | null;
  pid: number;
  options: ExecOptions;
}

export interface LogOptions {
  stdout?: boolean; // default true
  stderr?: boolean; // default true
  follow?: boolean;
  /** Last N lines (across rotated files); undefined / 'all' = everything. */
  tail?: number | 'all';
  /** Unix seconds (fractional allowed); only entries at or after / before. */
  since?: number;
  until?: number;
  /** Stop following when this aborts. */
  signal?: AbortSignal;
}

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC3339Nano as written by the monitor. */
  time: string;
  /** The raw bytes of the line including its trailing "\n" (if the process wrote one). */
  line: Buffer;
}

export type EngineEventAction =
  | 'create'
  | 'start'
  | 'die'
  | 'oom'
  | 'kill'
  | 'stop'
  | 'pause'
  | 'unpause'
  | 'restart'
  | 'destroy'
  | 'attach'
  | 'exec_create'
  | 'exec_start'
  | 'exec_die'
  | 'resize'
  | 'rename'
  | 'update'
  | 'commit'
  | 'archive-path'
  | 'extract-to-dir'
  | 'export'
  | `health_status: ${HealthStatus}`;

export interface EngineEvent {
  action: EngineEventAction;
  id: string;
  /** name, image, exitCode (die), signal (kill), execID (exec_*), and the container's labels. */
  attributes: Record<string, string>;
  /** Milliseconds since the epoch. */
  timeMs: number;
}

/** What the networking port is told about a container. */
export interface NetContainer {
  id: string;
  name: string;
  hostname: string;
  domainname: string;
  /** The container's directory (made by the engine after prepare). */
  dir: string;
  opts: RunOptions;
  /** Ports the image EXPOSEs ("80/tcp"), for -P. */
  imageExposed: string[];
}

/** The spec's network: the namespace to join (or the host's) and files to bind-mount over /etc. */
export interface NetPrepared {
  /** A netns path to join; undefined keeps the mode as given (none, container:, netns:). */
  netnsPath?: string;
  host?: boolean;
  /** destination in the container → file on the host */
  files: Record<string, string>;
}

/**
 * The port through which the engine asks worker/network for a container's network (the daemon wires
 * it). prepare at create (may refuse bad input; nothing is left when it does), connect before every
 * start (may refuse: a port in use), disconnect after every exit, release at remove; adopt at live
 * restore for containers still running.
 */
export interface ContainerNetworking {
  prepare(c: NetContainer): Promise<NetPrepared>;
  connect(id: string): Promise<void>;
  disconnect(id: string): Promise<void>;
  release(id: string): Promise<void>;
  adopt(id: string, running: boolean): Promise<void>;
}

export interface ManagerOptions {
  /** Container networking (worker/network via the daemon); without it a container gets networkMode none. */
  networking?: ContainerNetworking;
  /** Persistent state: <dataRoot>/containers/<id>/ (records, bundles, logs, upper dirs). */
  dataRoot: string;
  /** Runtime state (tmpfs in production): <execRoot>/runtime is shoal-runtime's --root. */
  execRoot: string;
  /** json-file rotation; defaults 10 MiB × 5 files. */
  logMaxSize?: number;
  logMaxFiles?: number;
  /** Injected for tests: clock and id source. */
  now?: () => Date;
  randomId?: () => string;
  /** How long finished execs stay inspectable, and how many per container (default 5 min, 64). */
  execRetention?: { keepFinishedMs?: number; maxFinishedPerContainer?: number };
}
