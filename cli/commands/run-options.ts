// `shoal run` / `shoal create` flags → the Engine API create request (Config + HostConfig), with the
// docker CLI's meanings. Pure: the environment and file reading are injected.
import { parsePublish } from '../../common/ports.js';
import { FlagError, type FlagSpec, flagLabel, type ParsedFlags } from '../flags.js';
import { parseBytes, parseNanoCpus } from '../units.js';
import { durationValue, intValue, parseDevice } from './service-values.js';

/** The cgroup limits, shared by run/create and update (docker's flags and meanings). */
export const RESOURCE_FLAGS: FlagSpec[] = [
  { long: 'memory', short: 'm', type: 'string', value: 'bytes', help: 'Memory limit' },
  {
    long: 'memory-swap',
    type: 'string',
    value: 'bytes',
    help: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
  },
  { long: 'memory-reservation', type: 'string', value: 'bytes', help: 'Memory soft limit' },
  { long: 'cpus', type: 'string', value: 'decimal', help: 'Number of CPUs' },
  { long: 'cpu-shares', short: 'c', type: 'string', value: 'int', help: 'CPU shares (relative weight)' },
  {
    long: 'cpu-period',
    type: 'string',
    value: 'int',
    help: 'Limit CPU CFS (Completely Fair Scheduler) period',
  },
  {
    long: 'cpu-quota',
    type: 'string',
    value: 'int',
    help: 'Limit CPU CFS (Completely Fair Scheduler) quota',
  },
  { long: 'cpuset-cpus', type: 'string', help: 'CPUs in which to allow execution (0-3, 0,1)' },
  { long: 'cpuset-mems', type: 'string', help: 'MEMs in which to allow execution (0-3, 0,1)' },
  {
    long: 'pids-limit',
    type: 'string',
    value: 'int',
    help: 'Tune container pids limit (set -1 for unlimited)',
  },
];

/**
 * The HostConfig fields of the resource flags that were given (the API's names), checked as the docker
 * CLI checks them. run/create send 0 for the rest; update sends only these.
 */
export function resourceBody(f: ParsedFlags): Record<string, number | string> {
  const memory = bytesFlag(f, 'memory');
  const memorySwap = bytesFlag(f, 'memory-swap', true);
  if (memorySwap !== undefined && memorySwap !== -1 && memory !== undefined && memorySwap < memory) {
    throw new FlagError('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  const cpusText = f.strings.get('cpus');
  let nanoCpus: number | undefined;
  if (cpusText !== undefined) {
    nanoCpus = parseNanoCpus(cpusText);
    if (nanoCpus === undefined) throw bad('--cpus', cpusText, 'must be a positive decimal number of CPUs');
  }
  const fields: [string, number | string | undefined][] = [
    ['Memory', memory],
    ['MemorySwap', memorySwap],
    ['MemoryReservation', bytesFlag(f, 'memory-reservation')],
    ['NanoCpus', nanoCpus],
    ['CpuShares', intFlag(f, 'cpu-shares')],
    ['CpuPeriod', intFlag(f, 'cpu-period')],
    ['CpuQuota', intFlag(f, 'cpu-quota')],
    ['CpusetCpus', f.strings.get('cpuset-cpus')],
    ['CpusetMems', f.strings.get('cpuset-mems')],
    ['PidsLimit', intFlag(f, 'pids-limit')],
  ];
  return Object.fromEntries(fields.filter((e): e is [string, number | string] => e[1] !== undefined));
}

export const CREATE_FLAGS: FlagSpec[] = [
  { long: 'name', type: 'string', help: 'Assign a name to the container' },
  {
    long: 'rootfs',
    type: 'string',
    value: 'dir',
    help: 'Use DIR as the root filesystem instead of an image (shoal)',
  },
  { long: 'env', short: 'e', type: 'list', help: 'Set environment variables' },
  { long: 'env-file', type: 'list', help: 'Read in a file of environment variables' },
  {
    long: 'volume',
    short: 'v',
    type: 'list',
    help: 'Bind mount a host path or a named volume (SRC:DST[:ro]), or an anonymous volume (DST)',
  },
  { long: 'mount', type: 'list', help: 'Attach a filesystem mount (type=bind|volume|tmpfs,src=…,dst=…)' },
  { long: 'volumes-from', type: 'list', help: 'Mount volumes from the specified container(s)' },
  { long: 'volume-driver', type: 'string', help: 'Volume driver for the container (local only)' },
  { long: 'tmpfs', type: 'list', help: 'Mount a tmpfs directory (DST[:opts])' },
  ...RESOURCE_FLAGS,
  { long: 'cap-add', type: 'list', help: 'Add Linux capabilities' },
  { long: 'cap-drop', type: 'list', help: 'Drop Linux capabilities' },
  { long: 'read-only', type: 'bool', help: "Mount the container's root filesystem as read only" },
  {
    long: 'init',
    type: 'bool',
    help: 'Run an init inside the container that forwards signals and reaps processes',
  },
  { long: 'user', short: 'u', type: 'string', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { long: 'group-add', type: 'list', help: 'Add additional groups to join' },
  { long: 'hostname', short: 'h', type: 'string', help: 'Container host name' },
  { long: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
  { long: 'network', type: 'string', help: 'Connect a container to a network (bridge, host, none, NAME)' },
  { long: 'network-alias', type: 'list', help: 'Add network-scoped alias for the container' },
  { long: 'ip', type: 'string', help: 'IPv4 address (e.g., 172.30.100.104)' },
  { long: 'publish', short: 'p', type: 'list', help: "Publish a container's port(s) to the host" },
  { long: 'publish-all', short: 'P', type: 'bool', help: 'Publish all exposed ports to random ports' },
  { long: 'expose', type: 'list', help: 'Expose a port or a range of ports' },
  { long: 'dns', type: 'list', help: 'Set custom DNS servers' },
  { long: 'dns-search', type: 'list', help: 'Set custom DNS search domains' },
  { long: 'dns-option', type: 'list', help: 'Set DNS options' },
  { long: 'add-host', type: 'list', help: 'Add a custom host-to-IP mapping (host:ip)' },
  { long: 'net', type: 'string', help: 'Alias of --network' },
  { long: 'privileged', type: 'bool', help: 'Give extended privileges to this container' },
  { long: 'device', type: 'list', help: 'Add a host device to the container' },
  { long: 'device-cgroup-rule', type: 'list', help: 'Add a rule to the cgroup allowed devices list' },
  { long: 'security-opt', type: 'list', help: 'Security Options' },
  { long: 'ulimit', type: 'list', help: 'Ulimit options (nofile=1024:2048)' },
  { long: 'label', short: 'l', type: 'list', help: 'Set meta data on a container' },
  { long: 'stop-signal', type: 'string', help: 'Signal to stop the container' },
  { long: 'stop-timeout', type: 'string', value: 'int', help: 'Timeout (in seconds) to stop a container' },
  { long: 'entrypoint', type: 'string', help: 'Overwrite the default ENTRYPOINT of the image' },
  { long: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
  { long: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
  { long: 'rm', type: 'bool', help: 'Automatically remove the container when it exits' },
  { long: 'shm-size', type: 'string', value: 'bytes', help: 'Size of /dev/shm' },
  {
    long: 'restart',
    type: 'string',
    help: 'Restart policy to apply when a container exits (no, on-failure[:max-retries], always, unless-stopped)',
  },
  { long: 'health-cmd', type: 'string', help: 'Command to run to check health' },
  {
    long: 'health-interval',
    type: 'string',
    value: 'duration',
    help: 'Time between running the check (ms|s|m|h)',
  },
  {
    long: 'health-timeout',
    type: 'string',
    value: 'duration',
    help: 'Maximum time to allow one check to run (ms|s|m|h)',
  },
  {
    long: 'health-retries',
    type: 'string',
    value: 'int',
    help: 'Consecutive failures needed to report unhealthy',
  },
  {
    long: 'health-start-period',
    type: 'string',
    value: 'duration',
    help: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)',
  },
  {
    long: 'health-start-interval',
    type: 'string',
    value: 'duration',
    help: 'Time between running the check during the start period (ms|s|m|h)',
  },
  { long: 'no-healthcheck', type: 'bool', help: 'Disable any container-specified HEALTHCHECK' },
];

export const RUN_ONLY_FLAGS: FlagSpec[] = [
  { long: 'detach', short: 'd', type: 'bool', help: 'Run container in background and print container ID' },
  { long: 'sig-proxy', type: 'bool', help: 'Proxy received signals to the process (default true)' },
  { long: 'detach-keys', type: 'string', help: 'Override the key sequence for detaching a container' },
];

export interface CreateRequest {
  name?: string;
  /** The image reference, or undefined with --rootfs. */
  image?: string;
  body: Record<string, unknown>;
}

export interface OptionEnv {
  /** The local environment, for `-e NAME` without a value. */
  env: Record<string, string | undefined>;
  readFile(path: string): string;
}

function bad(spec: string, value: string, why: string): FlagError {
  return new FlagError(`invalid argument "${value}" for "${spec}" flag: ${why}`);
}

const label = (long: string) => flagLabel(CREATE_FLAGS.find((s) => s.long === long) as FlagSpec);

function intFlag(f: ParsedFlags, long: string): number | undefined {
  const v = f.strings.get(long);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw bad(label(long), v, 'not an integer');
  return Number(v);
}

function bytesFlag(f: ParsedFlags, long: string, allowMinusOne = false): number | undefined {
  const v = f.strings.get(long);
  if (v === undefined) return undefined;
  if (allowMinusOne && v === '-1') return -1;
  const n = parseBytes(v);
  if (n === undefined) throw bad(label(long), v, `invalid size: '${v}'`);
  return n;
}

/**
 * `-e K=V`, `-e K` (value from the local environment; sent bare when unset, which unsets K in the
 * container as with the docker CLI), `--env-file FILE` (a bare name unset locally is dropped).
 */
export function collectEnv(f: ParsedFlags, envIn: OptionEnv): string[] | null {
  const out: string[] = [];
  const add = (item: string) => {
    if (item.includes('=')) out.push(item);
    else if (item !== '' && envIn.env[item] !== undefined) out.push(`${item}=${envIn.env[item]}`);
  };
  for (const file of f.lists.get('env-file') ?? []) {
    let text: string;
    try {
      text = envIn.readFile(file);
    } catch (err) {
      throw new FlagError(
        `open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
      );
    }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/^\s+/, '').replace(/\r$/, '');
      if (line === '' || line.startsWith('#')) continue;
      if (/^=/.test(line)) throw new FlagError(`invalid environment variable in ${file}: ${line}`);
      add(line);
    }
  }
  for (const item of f.lists.get('env') ?? []) {
    if (item.startsWith('=')) throw new FlagError(`invalid environment variable: ${item}`);
    if (item.includes('=') || envIn.env[item] !== undefined) add(item);
    else if (item !== '') out.push(item);
  }
  return out.length ? out : null;
}

function parseUlimit(text: string): { Name: string; Soft: number; Hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text);
  if (!m) throw bad('--ulimit', text, 'expected NAME=SOFT[:HARD], e.g. nofile=1024:2048');
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard) throw bad('--ulimit', text, `soft limit ${soft} is larger than hard limit ${hard}`);
  return { Name: m[1], Soft: soft, Hard: hard };
}

function parseLabels(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq === 0) throw bad('-l, --label', item, 'empty label name');
    if (eq < 0) out[item] = '';
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** `-v`: `SRC:DST[:MODE]` goes to Binds; a lone `DST` is an anonymous volume (Config.Volumes), as docker. */
function parseVolumeFlag(item: string): { bind?: string; anonymous?: string } {
  const parts = item.split(':');
  if (parts.length > 3 || parts.some((p) => p === ''))
    throw bad('-v, --volume', item, 'expected [SRC:]DST[:MODE]');
  const dst = parts.length === 1 ? parts[0] : parts[1];
  if (!dst.startsWith('/'))
    throw bad('-v, --volume', item, `the destination "${dst}" must be an absolute path`);
  return parts.length === 1 ? { anonymous: dst } : { bind: item };
}

const truthy = (v: string | undefined, item: string) => {
  if (v === undefined || v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw bad('--mount', item, `invalid boolean "${v}"`);
};

/** `--mount type=volume,src=NAME,dst=/p,readonly,volume-nocopy,volume-label=k=v,…` → a HostConfig.Mounts entry. */
export function parseMountFlag(item: string): Record<string, unknown> {
  const m: Record<string, unknown> = { Type: 'volume' };
  const volume: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  const driverOpts: Record<string, string> = {};
  let driver: string | undefined;
  const bind: Record<string, unknown> = {};
  const tmpfs: Record<string, number> = {};
  for (const field of item.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = () => {
      if (value === undefined)
        throw bad('--mount', item, `invalid field '${field}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case 'type':
        m.Type = need();
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
        m.ReadOnly = truthy(value, item);
        break;
      case 'bind-propagation':
        bind.Propagation = need();
        break;
      case 'volume-nocopy':
        volume.NoCopy = truthy(value, item);
        break;
      case 'volume-label': {
        const v = need();
        const i = v.indexOf('=');
        labels[i < 0 ? v : v.slice(0, i)] = i < 0 ? '' : v.slice(i + 1);
        break;
      }
      case 'volume-driver':
        driver = need();
        break;
      case 'volume-opt': {
        const v = need();
        const i = v.indexOf('=');
        driverOpts[i < 0 ? v : v.slice(0, i)] = i < 0 ? '' : v.slice(i + 1);
        break;
      }
      case 'tmpfs-size': {
        const n = parseBytes(need());
        if (n === undefined) throw bad('--mount', item, `invalid tmpfs-size "${value}"`);
        tmpfs.SizeBytes = n;
        break;
      }
      case 'tmpfs-mode':
        if (!/^[0-7]+$/.test(need())) throw bad('--mount', item, `invalid tmpfs-mode "${value}"`);
        tmpfs.Mode = Number.parseInt(value as string, 8);
        break;
      default:
        throw bad('--mount', item, `unexpected key '${key}'`);
    }
  }
  if (!m.Target) throw bad('--mount', item, 'target is required');
  if (Object.keys(labels).length) volume.Labels = labels;
  if (driver !== undefined || Object.keys(driverOpts).length)
    volume.DriverConfig = { Name: driver ?? '', Options: driverOpts };
  if (Object.keys(volume).length) m.VolumeOptions = volume;
  if (Object.keys(bind).length) m.BindOptions = bind;
  if (Object.keys(tmpfs).length) m.TmpfsOptions = tmpfs;
  return m;
}

/** `--restart NAME[:COUNT]` as the docker CLI splits it (the daemon checks the policy itself). */
function restartPolicy(f: ParsedFlags): { Name: string; MaximumRetryCount: number } {
  return restartPolicyFlag(f.strings.get('restart'));
}

/** `NAME[:COUNT]` → Docker's RestartPolicy (`run --restart`, `update --restart`). */
export function restartPolicyFlag(v: string | undefined): { Name: string; MaximumRetryCount: number } {
  if (v === undefined || v === '') return { Name: 'no', MaximumRetryCount: 0 };
  const colon = v.indexOf(':');
  const name = colon < 0 ? v : v.slice(0, colon);
  const count = colon < 0 ? '' : v.slice(colon + 1);
  if (colon >= 0 && name === '') throw bad('--restart', v, 'no policy provided before colon');
  if (count !== '' && !/^-?\d+$/.test(count))
    throw bad('--restart', v, 'maximum retry count must be an integer');
  return { Name: name, MaximumRetryCount: count === '' ? 0 : Number(count) };
}

/** `--health-*` and `--no-healthcheck` → Config.Healthcheck (durations in ns), as the docker CLI. */
function healthcheck(f: ParsedFlags): Record<string, unknown> | undefined {
  const keys = [
    'health-cmd',
    'health-interval',
    'health-timeout',
    'health-retries',
    'health-start-period',
    'health-start-interval',
  ];
  const any = keys.some((k) => f.strings.has(k));
  if (f.bools.has('no-healthcheck')) {
    if (any) throw new FlagError('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!any) return undefined;
  const h: Record<string, unknown> = {};
  const cmd = f.strings.get('health-cmd');
  if (cmd) h.Test = ['CMD-SHELL', cmd];
  for (const [flag, key] of [
    ['health-interval', 'Interval'],
    ['health-timeout', 'Timeout'],
    ['health-start-period', 'StartPeriod'],
    ['health-start-interval', 'StartInterval'],
  ] as const) {
    const text = f.strings.get(flag);
    if (text === undefined) continue;
    const ns = durationValue(`--${flag}`, text);
    if (ns < 0) throw new FlagError(`--${flag} cannot be negative`);
    if (ns > 0) h[key] = ns;
  }
  const retries = f.strings.get('health-retries');
  if (retries !== undefined) {
    const r = intValue('--health-retries', retries);
    if (r < 0) throw new FlagError('--health-retries cannot be negative');
    if (r > 0) h.Retries = r;
  }
  return h;
}

/** Flags + positionals (IMAGE CMD… or CMD… with --rootfs) → the create request. */
export function buildCreateRequest(f: ParsedFlags, envIn: OptionEnv): CreateRequest {
  const rootfs = f.strings.get('rootfs');
  const positionals = [...f.positionals];
  let image: string | undefined;
  if (rootfs === undefined) {
    image = positionals.shift();
    if (!image)
      throw new FlagError('requires at least 1 argument: IMAGE [COMMAND] [ARG...] (or --rootfs DIR COMMAND)');
  } else if (rootfs === '') {
    throw new FlagError('invalid argument "" for "--rootfs" flag: needs a directory');
  }
  const cmd = positionals.length ? positionals : null;
  if (rootfs !== undefined && !cmd && f.strings.get('entrypoint') === undefined) {
    throw new FlagError('--rootfs needs a command: there is no image config to take a default command from');
  }
  const resources = resourceBody(f);
  if (resources.MemorySwap !== undefined && resources.MemorySwap !== -1 && resources.Memory === undefined) {
    throw new FlagError('You should always set the Memory limit when using Memoryswap limit');
  }
  const network = f.strings.get('network') ?? f.strings.get('net') ?? 'default';
  let published: ReturnType<typeof parsePublish>;
  try {
    published = parsePublish(f.lists.get('publish') ?? []);
  } catch (e) {
    throw new FlagError(`invalid argument for "-p, --publish" flag: ${(e as Error).message}`);
  }
  const exposed: Record<string, object> = Object.fromEntries(published.exposed.map((k) => [k, {}]));
  for (const e of f.lists.get('expose') ?? []) {
    try {
      for (const k of parsePublish([e]).exposed) exposed[k] = {};
    } catch (err) {
      throw new FlagError(`invalid argument for "--expose" flag: ${(err as Error).message}`);
    }
  }
  const aliases = f.lists.get('network-alias') ?? [];
  const ip = f.strings.get('ip');
  const endpoint =
    aliases.length || ip
      ? {
          [network]: {
            Aliases: aliases.length ? aliases : null,
            ...(ip ? { IPAMConfig: { IPv4Address: ip } } : {}),
          },
        }
      : undefined;
  const entrypoint = f.strings.get('entrypoint');
  const tmpfs: Record<string, string> = {};
  for (const t of f.lists.get('tmpfs') ?? []) {
    const colon = t.indexOf(':');
    const dst = colon < 0 ? t : t.slice(0, colon);
    if (!dst.startsWith('/')) throw bad('--tmpfs', t, 'the destination must be an absolute path');
    tmpfs[dst] = colon < 0 ? '' : t.slice(colon + 1);
  }
  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const item of f.lists.get('volume') ?? []) {
    const v = parseVolumeFlag(item);
    if (v.bind) binds.push(v.bind);
    else volumes[v.anonymous as string] = {};
  }
  const mounts = (f.lists.get('mount') ?? []).map(parseMountFlag);
  const stopTimeout = intFlag(f, 'stop-timeout');
  const restart = restartPolicy(f);
  if (f.bools.has('rm') && restart.Name !== 'no')
    throw new FlagError('Conflicting options: --restart and --rm');
  const health = healthcheck(f);
  const interactive = f.bools.has('interactive');
  const detach = f.bools.has('detach');
  const body: Record<string, unknown> = {
    Hostname: f.strings.get('hostname') ?? '',
    Domainname: '',
    User: f.strings.get('user') ?? '',
    AttachStdin: interactive && !detach,
    AttachStdout: !detach,
    AttachStderr: !detach,
    Tty: f.bools.has('tty'),
    OpenStdin: interactive,
    StdinOnce: interactive && !detach,
    Env: collectEnv(f, envIn),
    Cmd: cmd,
    Image: image ?? '',
    Volumes: volumes,
    WorkingDir: f.strings.get('workdir') ?? '',
    Entrypoint: entrypoint === undefined ? null : entrypoint === '' ? [''] : [entrypoint],
    Labels: parseLabels(f.lists.get('label') ?? []),
    ...(f.strings.has('stop-signal') ? { StopSignal: f.strings.get('stop-signal') } : {}),
    ...(stopTimeout !== undefined ? { StopTimeout: stopTimeout } : {}),
    ...(rootfs !== undefined ? { Rootfs: rootfs } : {}),
    ...(health ? { Healthcheck: health } : {}),
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    ...(endpoint ? { NetworkingConfig: { EndpointsConfig: endpoint } } : {}),
    HostConfig: {
      Binds: binds.length ? binds : null,
      ...(mounts.length ? { Mounts: mounts } : {}),
      VolumesFrom: f.lists.get('volumes-from') ?? null,
      VolumeDriver: f.strings.get('volume-driver') ?? '',
      NetworkMode: network,
      PortBindings: published.bindings,
      PublishAllPorts: f.bools.has('publish-all'),
      Dns: f.lists.get('dns') ?? [],
      DnsSearch: f.lists.get('dns-search') ?? [],
      DnsOptions: f.lists.get('dns-option') ?? [],
      ExtraHosts: f.lists.get('add-host') ?? null,
      AutoRemove: f.bools.has('rm'),
      CapAdd: f.lists.get('cap-add') ?? null,
      CapDrop: f.lists.get('cap-drop') ?? null,
      GroupAdd: f.lists.get('group-add') ?? null,
      Privileged: f.bools.has('privileged'),
      ReadonlyRootfs: f.bools.has('read-only'),
      ...(f.bools.has('init') ? { Init: true } : {}),
      SecurityOpt: f.lists.get('security-opt') ?? null,
      Tmpfs: Object.keys(tmpfs).length ? tmpfs : undefined,
      Memory: 0,
      MemorySwap: 0,
      MemoryReservation: 0,
      NanoCpus: 0,
      CpuShares: 0,
      CpuPeriod: 0,
      CpuQuota: 0,
      CpusetCpus: '',
      CpusetMems: '',
      PidsLimit: 0,
      ...resources,
      Ulimits: (f.lists.get('ulimit') ?? []).map(parseUlimit),
      ShmSize: bytesFlag(f, 'shm-size') ?? 0,
      RestartPolicy: restart,
      ...(f.lists.has('device') ? { Devices: (f.lists.get('device') ?? []).map((d) => parseDevice(d)) } : {}),
      ...(f.lists.has('device-cgroup-rule') ? { DeviceCgroupRules: f.lists.get('device-cgroup-rule') } : {}),
    },
  };
  return { name: f.strings.get('name'), image, body };
}
