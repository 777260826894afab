// `shoal service create|update` flags → the Engine API ServiceSpec, field for field as the docker CLI
// 28 builds it (checked against the recorded request bodies). Pure: the environment and file
// reading are injected; network names are resolved to IDs by the caller.
import { FlagError, type FlagSpec, type ParsedFlags } from '../flags.js';
import {
  bad,
  bytesValue,
  cpuValue,
  durationValue,
  floatValue,
  intValue,
  kvMap,
  type MountSpec,
  normalizeCaps,
  oneOf,
  type PortConfig,
  parseDevice,
  parseFileRef,
  parseMount,
  parseNetwork,
  parsePorts,
  parseUlimit,
  shellWords,
  uintValue,
} from './service-values.js';

type Json = Record<string, unknown>;

const s = (long: string, help: string, value?: string, short?: string): FlagSpec => ({
  long,
  short,
  type: 'string',
  help,
  value,
});
const l = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'list', help });
const b = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'bool', help });

function configFlags(prefix: 'update' | 'rollback'): FlagSpec[] {
  const what = prefix === 'update' ? 'updates' : 'rollbacks';
  return [
    s(
      `${prefix}-parallelism`,
      `Maximum number of tasks ${prefix === 'update' ? 'updated' : 'rolled back'} simultaneously (0 to do all at once)`,
      'uint',
    ),
    s(`${prefix}-delay`, `Delay between ${what} (ns|us|ms|s|m|h)`, 'duration'),
    s(
      `${prefix}-failure-action`,
      `Action on ${prefix} failure ("pause", "continue"${prefix === 'update' ? ', "rollback"' : ''})`,
    ),
    s(
      `${prefix}-monitor`,
      `Duration after each task ${prefix} to monitor for failure (ns|us|ms|s|m|h)`,
      'duration',
    ),
    s(`${prefix}-max-failure-ratio`, `Failure rate to tolerate during an ${prefix}`, 'float'),
    s(
      `${prefix}-order`,
      `${prefix === 'update' ? 'Update' : 'Rollback'} order ("start-first", "stop-first")`,
    ),
  ];
}

/** Flags that create and update share (same names, same meanings). */
const COMMON_FLAGS: FlagSpec[] = [
  b('detach', 'Exit immediately instead of waiting for the service to converge', 'd'),
  b('quiet', 'Suppress progress output', 'q'),
  s('replicas', 'Number of tasks', 'uint'),
  s('max-replicas', 'Maximum number of tasks per node (default 0 = unlimited)', 'uint'),
  s('limit-cpu', 'Limit CPUs', 'decimal'),
  s('limit-memory', 'Limit Memory', 'bytes'),
  s('limit-pids', 'Limit maximum number of processes (default 0 = unlimited)', 'int'),
  s('reserve-cpu', 'Reserve CPUs', 'decimal'),
  s('reserve-memory', 'Reserve Memory', 'bytes'),
  s('restart-condition', 'Restart when condition is met ("none", "on-failure", "any")'),
  s('restart-delay', 'Delay between restart attempts (ns|us|ms|s|m|h)', 'duration'),
  s('restart-max-attempts', 'Maximum number of restarts before giving up', 'uint'),
  s('restart-window', 'Window used to evaluate the restart policy (ns|us|ms|s|m|h)', 'duration'),
  ...configFlags('update'),
  ...configFlags('rollback'),
  s('health-cmd', 'Command to run to check health'),
  s('health-interval', 'Time between running the check (ms|s|m|h)', 'duration'),
  s('health-timeout', 'Maximum time to allow one check to run (ms|s|m|h)', 'duration'),
  s('health-retries', 'Consecutive failures needed to report unhealthy', 'int'),
  s(
    'health-start-period',
    'Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)',
    'duration',
  ),
  b('no-healthcheck', 'Disable any container-specified HEALTHCHECK'),
  s('stop-grace-period', 'Time to wait before force killing a container (ns|us|ms|s|m|h)', 'duration'),
  s('stop-signal', 'Signal to stop the container'),
  s('user', 'Username or UID (format: <name|uid>[:<group|gid>])', undefined, 'u'),
  s('workdir', 'Working directory inside the container', undefined, 'w'),
  s('hostname', 'Container hostname'),
  s('entrypoint', 'Overwrite the default ENTRYPOINT of the image', 'command'),
  l('cap-add', 'Add Linux capabilities'),
  l('cap-drop', 'Drop Linux capabilities'),
  b('read-only', "Mount the container's root filesystem as read only"),
  b('init', 'Use an init inside each service container to forward signals and reap processes'),
  s('endpoint-mode', 'Endpoint mode (vip or dnsrr)'),
  b('with-registry-auth', 'Send registry authentication details to swarm agents'),
  b('no-resolve-image', 'Do not query the registry to resolve image digest and supported platforms'),
  b('tty', 'Allocate a pseudo-TTY', 't'),
];

export const CREATE_FLAGS: FlagSpec[] = [
  s('name', 'Service name'),
  s('mode', 'Service mode ("replicated", "global")'),
  l('env', 'Set environment variables', 'e'),
  l('env-file', 'Read in a file of environment variables'),
  l('label', 'Service labels', 'l'),
  l('container-label', 'Container labels'),
  l('mount', 'Attach a filesystem mount to the service'),
  l('constraint', 'Placement constraints'),
  l('placement-pref', 'Add a placement preference'),
  l('publish', 'Publish a port as a node port', 'p'),
  l('network', 'Network attachments'),
  l('sysctl', 'Sysctl options'),
  l('ulimit', 'Ulimit options'),
  l('secret', 'Specify secrets to expose to the service'),
  l('config', 'Specify configurations to expose to the service'),
  l('group', 'Set one or more supplementary user groups for the container'),
  b('privileged', 'Give extended privileges to the service containers (shoal)'),
  l('device', 'Add a host device to the service containers (shoal)'),
  ...COMMON_FLAGS,
];

export const UPDATE_FLAGS: FlagSpec[] = [
  s('image', 'Service image tag'),
  s('args', 'Service command args', 'command'),
  l('env-add', 'Add or update an environment variable'),
  l('env-rm', 'Remove an environment variable'),
  l('label-add', 'Add or update a service label'),
  l('label-rm', 'Remove a label by its key'),
  l('container-label-add', 'Add or update a container label'),
  l('container-label-rm', 'Remove a container label by its key'),
  l('mount-add', 'Add or update a mount on a service'),
  l('mount-rm', 'Remove a mount by its target path'),
  l('constraint-add', 'Add or update a placement constraint'),
  l('constraint-rm', 'Remove a constraint'),
  l('placement-pref-add', 'Add a placement preference'),
  l('placement-pref-rm', 'Remove a placement preference'),
  l('publish-add', 'Add or update a published port'),
  l('publish-rm', 'Remove a published port by its target port'),
  l('network-add', 'Add a network'),
  l('network-rm', 'Remove a network'),
  l('sysctl-add', 'Add or update a Sysctl option'),
  l('sysctl-rm', 'Remove a Sysctl option'),
  l('ulimit-add', 'Add or update a ulimit option'),
  l('ulimit-rm', 'Remove a ulimit option'),
  l('group-add', 'Add an additional supplementary user group to the container'),
  l('group-rm', 'Remove a previously added supplementary user group from the container'),
  l('secret-add', 'Add or update a secret on a service'),
  l('secret-rm', 'Remove a secret'),
  l('config-add', 'Add or update a config file on a service'),
  l('config-rm', 'Remove a configuration file'),
  b('force', 'Force update even if no changes require it'),
  b('rollback', 'Rollback to previous specification'),
  ...COMMON_FLAGS,
];

export interface SpecEnv {
  env: Record<string, string | undefined>;
  readFile(path: string): string;
}

const LABEL: Record<string, string> = {
  replicas: '--replicas',
  user: '-u, --user',
  workdir: '-w, --workdir',
  env: '-e, --env',
  label: '-l, --label',
  publish: '-p, --publish',
};
const flagName = (long: string) => LABEL[long] ?? `--${long}`;

function str(f: ParsedFlags, long: string): string | undefined {
  return f.strings.get(long);
}
function dur(f: ParsedFlags, long: string): number | undefined {
  const v = str(f, long);
  return v === undefined ? undefined : durationValue(flagName(long), v);
}
function uint(f: ParsedFlags, long: string): number | undefined {
  const v = str(f, long);
  return v === undefined ? undefined : uintValue(flagName(long), v);
}

/** docker's ValidateEnv + ReadKVEnvStrings: files first, then -e; `NAME` alone takes the local value. */
export function readEnv(f: ParsedFlags, env: SpecEnv, listFlag = 'env'): string[] {
  const out: string[] = [];
  const add = (item: string, flag: string) => {
    if (item.startsWith('=')) throw bad(flag, item, `invalid environment variable: ${item}`);
    if (item.includes('=')) out.push(item);
    else out.push(env.env[item] !== undefined ? `${item}=${env.env[item]}` : item);
  };
  if (listFlag === 'env') {
    for (const file of f.lists.get('env-file') ?? []) {
      let text: string;
      try {
        text = env.readFile(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new FlagError(
          `open ${file}: ${code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
        );
      }
      for (const raw of text.split('\n')) {
        const line = raw.replace(/^\s+/, '').replace(/\r$/, '');
        if (line === '' || line.startsWith('#')) continue;
        add(line, '--env-file');
      }
    }
  }
  for (const item of f.lists.get(listFlag) ?? []) add(item, flagName(listFlag));
  return out;
}

function restartPolicy(f: ParsedFlags, base?: Json): Json | undefined {
  const keys = ['restart-condition', 'restart-delay', 'restart-max-attempts', 'restart-window'];
  if (!keys.some((k) => f.strings.has(k))) return base;
  const p: Json = base ? { ...base } : { Condition: 'any', Delay: 5e9, MaxAttempts: 0 };
  const cond = str(f, 'restart-condition');
  if (cond !== undefined) p.Condition = oneOf('--restart-condition', cond, ['none', 'on-failure', 'any']);
  const delay = dur(f, 'restart-delay');
  if (delay !== undefined) p.Delay = delay;
  const max = uint(f, 'restart-max-attempts');
  if (max !== undefined) p.MaxAttempts = max;
  const window = dur(f, 'restart-window');
  if (window !== undefined) p.Window = window;
  return p;
}

function rolloutConfig(f: ParsedFlags, prefix: 'update' | 'rollback', base?: Json): Json | undefined {
  const keys = ['parallelism', 'delay', 'failure-action', 'monitor', 'max-failure-ratio', 'order'].map(
    (k) => `${prefix}-${k}`,
  );
  if (!keys.some((k) => f.strings.has(k))) return base;
  const c: Json = base
    ? { ...base }
    : { Parallelism: 1, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' };
  const par = uint(f, `${prefix}-parallelism`);
  if (par !== undefined) c.Parallelism = par;
  const delay = dur(f, `${prefix}-delay`);
  if (delay !== undefined) c.Delay = delay;
  const action = str(f, `${prefix}-failure-action`);
  if (action !== undefined)
    c.FailureAction = oneOf(
      `--${prefix}-failure-action`,
      action,
      prefix === 'update' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'],
    );
  const monitor = dur(f, `${prefix}-monitor`);
  if (monitor !== undefined) c.Monitor = monitor;
  const ratio = str(f, `${prefix}-max-failure-ratio`);
  if (ratio !== undefined) c.MaxFailureRatio = floatValue(`--${prefix}-max-failure-ratio`, ratio);
  const order = str(f, `${prefix}-order`);
  if (order !== undefined) c.Order = oneOf(`--${prefix}-order`, order, ['start-first', 'stop-first']);
  // Docker's order: Parallelism, Delay, FailureAction, Monitor, MaxFailureRatio, Order.
  const ordered: Json = {};
  for (const k of ['Parallelism', 'Delay', 'FailureAction', 'Monitor', 'MaxFailureRatio', 'Order'])
    if (c[k] !== undefined) ordered[k] = c[k];
  return ordered;
}

function healthcheck(f: ParsedFlags, base?: Json): Json | undefined {
  const keys = ['health-cmd', 'health-interval', 'health-timeout', 'health-retries', 'health-start-period'];
  const any = keys.some((k) => f.strings.has(k));
  if (f.bools.has('no-healthcheck')) {
    if (any) throw new FlagError('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!any) return base;
  const h: Json = base && !(base.Test as string[] | undefined)?.includes('NONE') ? { ...base } : {};
  const cmd = str(f, 'health-cmd');
  if (cmd !== undefined) h.Test = cmd === '' ? undefined : ['CMD-SHELL', cmd];
  for (const [flag, key] of [
    ['health-interval', 'Interval'],
    ['health-timeout', 'Timeout'],
    ['health-start-period', 'StartPeriod'],
  ] as const) {
    const v = dur(f, flag);
    if (v !== undefined) {
      if (v < 0) throw bad(`--${flag}`, str(f, flag) as string, 'must not be negative');
      h[key] = v || undefined;
    }
  }
  const retries = str(f, 'health-retries');
  if (retries !== undefined) {
    const r = intValue('--health-retries', retries);
    if (r < 0) throw bad('--health-retries', retries, 'must not be negative');
    h.Retries = r || undefined;
  }
  return h;
}

function resources(f: ParsedFlags, base?: Json): Json {
  const limits: Json = { ...((base?.Limits as Json) ?? {}) };
  const reservations: Json = { ...((base?.Reservations as Json) ?? {}) };
  const cpu = str(f, 'limit-cpu');
  if (cpu !== undefined) limits.NanoCPUs = cpuValue('--limit-cpu', cpu);
  const mem = str(f, 'limit-memory');
  if (mem !== undefined) limits.MemoryBytes = bytesValue('--limit-memory', mem);
  const pids = str(f, 'limit-pids');
  if (pids !== undefined) limits.Pids = intValue('--limit-pids', pids) || undefined;
  const rcpu = str(f, 'reserve-cpu');
  if (rcpu !== undefined) reservations.NanoCPUs = cpuValue('--reserve-cpu', rcpu);
  const rmem = str(f, 'reserve-memory');
  if (rmem !== undefined) reservations.MemoryBytes = bytesValue('--reserve-memory', rmem);
  return { Limits: limits, Reservations: reservations };
}

function preference(text: string, flag: string): Json {
  const eq = text.indexOf('=');
  if (eq < 0) throw bad(flag, text, 'placement preference must be of the format "<strategy>=<arg>"');
  const strategy = text.slice(0, eq).toLowerCase();
  if (strategy !== 'spread')
    throw bad(flag, text, `unsupported placement preference ${strategy} (only spread is supported)`);
  return { Spread: { SpreadDescriptor: text.slice(eq + 1) } };
}

function modeOf(f: ParsedFlags): Json {
  const mode = str(f, 'mode') ?? 'replicated';
  const replicas = uint(f, 'replicas');
  if (mode === 'global') {
    if (replicas !== undefined)
      throw new FlagError('replicas can only be used with replicated or replicated-job mode');
    if (f.strings.has('max-replicas'))
      throw new FlagError('max-replicas can only be used with replicated or replicated-job mode');
    return { Global: {} };
  }
  if (mode !== 'replicated') throw bad('--mode', mode, 'must be one of replicated, global');
  return { Replicated: replicas === undefined ? {} : { Replicas: replicas } };
}

function endpointMode(f: ParsedFlags, fallback: string): string {
  const m = str(f, 'endpoint-mode');
  return m === undefined ? fallback : oneOf('--endpoint-mode', m.toLowerCase(), ['vip', 'dnsrr']);
}

/** Network attachments; Target holds the name the caller resolves to an ID. */
export function networkAttachments(items: string[], flag = '--network'): Json[] {
  return items.map((item) => {
    const n = parseNetwork(item, flag);
    return {
      Target: n.name,
      ...(n.aliases.length ? { Aliases: n.aliases } : {}),
      ...(Object.keys(n.driverOpts).length ? { DriverOpts: n.driverOpts } : {}),
    };
  });
}

function sysctls(items: string[], flag: string): Record<string, string> {
  const out = kvMap(flag, items);
  for (const [k, v] of Object.entries(out))
    if (!k || v === '') throw bad(flag, `${k}=${v}`, 'expected KEY=VALUE');
  return out;
}

export function fileRefs(items: string[], flag: string, kind: 'Secret' | 'Config'): Json[] | undefined {
  if (items.length === 0) return undefined;
  return items.map((item) => {
    const r = parseFileRef(item, flag);
    return {
      File: { Name: r.target, UID: r.uid, GID: r.gid, Mode: r.mode },
      [`${kind}ID`]: '',
      [`${kind}Name`]: r.source,
    };
  });
}

export interface CreatePlan {
  spec: Json;
  /** Whether progress should be shown (no -d). */
  detach: boolean;
  quiet: boolean;
}

/** `service create [OPTIONS] IMAGE [COMMAND] [ARG...]` → ServiceSpec. */
export function buildServiceSpec(f: ParsedFlags, env: SpecEnv): Json {
  const [image, ...args] = f.positionals;
  if (!image) throw new FlagError('"service create" requires at least 1 argument.');
  const envList = readEnv(f, env);
  const containerLabels = kvMap('--container-label', f.lists.get('container-label') ?? []);
  const mounts: MountSpec[] = (f.lists.get('mount') ?? []).map((m) => parseMount(m));
  const entrypoint = str(f, 'entrypoint');
  const caps = {
    add: normalizeCaps(f.lists.get('cap-add') ?? []),
    drop: normalizeCaps(f.lists.get('cap-drop') ?? []),
  };
  const stopGrace = dur(f, 'stop-grace-period');
  const health = healthcheck(f);
  const sysctl = sysctls(f.lists.get('sysctl') ?? [], '--sysctl');
  const ulimits = (f.lists.get('ulimit') ?? []).map((u) => parseUlimit(u));
  const groups = f.lists.get('group') ?? [];
  const devices = (f.lists.get('device') ?? []).map((d) => parseDevice(d));
  const containerSpec: Json = {
    Image: image,
    Labels: Object.keys(containerLabels).length ? containerLabels : undefined,
    Command: entrypoint !== undefined ? shellWords(entrypoint) : undefined,
    Args: args.length ? args : undefined,
    Hostname: str(f, 'hostname') || undefined,
    Env: envList.length ? envList : undefined,
    Dir: str(f, 'workdir') || undefined,
    User: str(f, 'user') || undefined,
    Groups: groups.length ? groups : undefined,
    Init: f.bools.has('init'),
    StopSignal: str(f, 'stop-signal') || undefined,
    TTY: f.bools.has('tty') || undefined,
    ReadOnly: f.bools.has('read-only') || undefined,
    Mounts: mounts.length ? mounts : undefined,
    StopGracePeriod: stopGrace,
    Healthcheck: health,
    DNSConfig: {},
    // Names for now: the caller resolves them to IDs (GET /secrets, GET /configs) before sending.
    Secrets: fileRefs(f.lists.get('secret') ?? [], '--secret', 'Secret'),
    Configs: fileRefs(f.lists.get('config') ?? [], '--config', 'Config'),
    Sysctls: Object.keys(sysctl).length ? sysctl : undefined,
    CapabilityAdd: caps.add.length ? caps.add : undefined,
    CapabilityDrop: caps.drop.length ? caps.drop : undefined,
    Ulimits: ulimits.length ? ulimits : undefined,
    // shoal extensions (not in docker's ContainerSpec): privileged mode and host devices.
    Privileged: f.bools.has('privileged') || undefined,
    Devices: devices.length ? devices : undefined,
  };
  const constraints = f.lists.get('constraint') ?? [];
  const prefs = (f.lists.get('placement-pref') ?? []).map((p) => preference(p, '--placement-pref'));
  const maxReplicas = uint(f, 'max-replicas');
  const networks = networkAttachments(f.lists.get('network') ?? []);
  const ports: PortConfig[] = (f.lists.get('publish') ?? []).flatMap((p) => parsePorts(p));
  const mode = modeOf(f);
  const spec: Json = {
    Name: str(f, 'name') ?? '',
    Labels: kvMap('-l, --label', f.lists.get('label') ?? []),
    TaskTemplate: {
      ContainerSpec: containerSpec,
      Resources: resources(f),
      RestartPolicy: restartPolicy(f),
      Placement: {
        Constraints: constraints.length ? constraints : undefined,
        Preferences: prefs.length ? prefs : undefined,
        MaxReplicas: maxReplicas || undefined,
      },
      Networks: networks.length ? networks : undefined,
      ForceUpdate: 0,
    },
    Mode: mode,
    UpdateConfig: rolloutConfig(f, 'update'),
    RollbackConfig: rolloutConfig(f, 'rollback'),
    EndpointSpec: { Mode: endpointMode(f, 'vip'), Ports: ports.length ? ports : undefined },
  };
  return dropUndefined(spec) as Json;
}

/** JSON.stringify drops undefined anyway; this makes deep comparisons with recorded bodies exact. */
export function dropUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropUndefined);
  if (v && typeof v === 'object') {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = dropUndefined(x);
    return out;
  }
  return v;
}

function removeKeys(map: Record<string, string> | undefined, keys: string[]): Record<string, string> {
  const out = { ...(map ?? {}) };
  for (const k of keys) delete out[k.split('=')[0]];
  return out;
}

/**
 * `service update` flags applied to the spec GET returned (docker's updateService): only what the
 * flags name changes; everything else is echoed back.
 */
/** obj[key] as an object, created when missing. */
function child(obj: Json, key: string): Json {
  if (obj[key] === undefined || obj[key] === null) obj[key] = {};
  return obj[key] as Json;
}

export function applyServiceUpdate(spec0: Json, f: ParsedFlags, env: SpecEnv): Json {
  const spec = structuredClone(spec0);
  const task = child(spec, 'TaskTemplate');
  const cs = child(task, 'ContainerSpec');
  const set = (obj: Json, key: string, value: unknown) => {
    obj[key] = value === '' || (Array.isArray(value) && value.length === 0) ? undefined : value;
  };
  // Annotations
  if (f.lists.has('label-add') || f.lists.has('label-rm')) {
    const labels = removeKeys(spec.Labels as Record<string, string>, f.lists.get('label-rm') ?? []);
    spec.Labels = { ...labels, ...kvMap('--label-add', f.lists.get('label-add') ?? []) };
  }
  // Container
  const image = str(f, 'image');
  if (image !== undefined) cs.Image = image;
  const args = str(f, 'args');
  if (args !== undefined) set(cs, 'Args', shellWords(args));
  const entry = str(f, 'entrypoint');
  if (entry !== undefined) set(cs, 'Command', shellWords(entry));
  if (f.lists.has('env-add') || f.lists.has('env-rm')) {
    const added = readEnv(f, env, 'env-add');
    const removed = new Set((f.lists.get('env-rm') ?? []).map((e) => e.split('=')[0]));
    const addedKeys = new Set(added.map((e) => e.split('=')[0]));
    // docker keeps the original order and replaces values in place; new names go last.
    const merged = ((cs.Env as string[] | undefined) ?? [])
      .map((e) => {
        const k = e.split('=')[0];
        if (removed.has(k) && !addedKeys.has(k)) return undefined;
        return addedKeys.has(k) ? added.find((a) => a.split('=')[0] === k) : e;
      })
      .filter((e): e is string => e !== undefined);
    for (const a of added) if (!merged.some((e) => e.split('=')[0] === a.split('=')[0])) merged.push(a);
    set(cs, 'Env', merged);
  }
  if (f.lists.has('container-label-add') || f.lists.has('container-label-rm')) {
    const labels = removeKeys(cs.Labels as Record<string, string>, f.lists.get('container-label-rm') ?? []);
    const next = { ...labels, ...kvMap('--container-label-add', f.lists.get('container-label-add') ?? []) };
    cs.Labels = Object.keys(next).length ? next : undefined;
  }
  if (f.lists.has('mount-add') || f.lists.has('mount-rm')) {
    const added = (f.lists.get('mount-add') ?? []).map((m) => parseMount(m, '--mount-add'));
    const gone = new Set([...(f.lists.get('mount-rm') ?? []), ...added.map((m) => m.Target)]);
    set(cs, 'Mounts', [
      ...((cs.Mounts as MountSpec[] | undefined) ?? []).filter((m) => !gone.has(m.Target)),
      ...added,
    ]);
  }
  for (const [flag, key] of [
    ['hostname', 'Hostname'],
    ['workdir', 'Dir'],
    ['user', 'User'],
    ['stop-signal', 'StopSignal'],
  ] as const) {
    const v = str(f, flag);
    if (v !== undefined) set(cs, key, v);
  }
  const grace = dur(f, 'stop-grace-period');
  if (grace !== undefined) cs.StopGracePeriod = grace;
  if (f.strings.has('read-only') || f.bools.has('read-only') || f.falses.has('read-only'))
    cs.ReadOnly = f.bools.has('read-only') || undefined;
  if (f.bools.has('init') || f.falses.has('init')) cs.Init = f.bools.has('init');
  if (f.bools.has('tty') || f.falses.has('tty')) cs.TTY = f.bools.has('tty') || undefined;
  const health = healthcheck(f, cs.Healthcheck as Json | undefined);
  if (health !== cs.Healthcheck) cs.Healthcheck = health;
  if (f.lists.has('cap-add') || f.lists.has('cap-drop')) {
    const add = normalizeCaps(f.lists.get('cap-add') ?? []);
    const drop = normalizeCaps(f.lists.get('cap-drop') ?? []);
    const curAdd = ((cs.CapabilityAdd as string[] | undefined) ?? []).filter((c) => !drop.includes(c));
    const curDrop = ((cs.CapabilityDrop as string[] | undefined) ?? []).filter((c) => !add.includes(c));
    set(cs, 'CapabilityAdd', [...new Set([...curAdd, ...add])]);
    set(cs, 'CapabilityDrop', [...new Set([...curDrop, ...drop])]);
  }
  if (f.lists.has('sysctl-add') || f.lists.has('sysctl-rm')) {
    const cur = removeKeys(cs.Sysctls as Record<string, string>, f.lists.get('sysctl-rm') ?? []);
    const next = { ...cur, ...sysctls(f.lists.get('sysctl-add') ?? [], '--sysctl-add') };
    cs.Sysctls = Object.keys(next).length ? next : undefined;
  }
  if (f.lists.has('ulimit-add') || f.lists.has('ulimit-rm')) {
    const added = (f.lists.get('ulimit-add') ?? []).map((u) => parseUlimit(u, '--ulimit-add'));
    const gone = new Set([...(f.lists.get('ulimit-rm') ?? []), ...added.map((u) => u.Name)]);
    const cur = ((cs.Ulimits as { Name: string }[] | undefined) ?? []).filter((u) => !gone.has(u.Name));
    set(cs, 'Ulimits', [...cur, ...added]);
  }
  if (f.lists.has('group-add') || f.lists.has('group-rm')) {
    const rm = new Set(f.lists.get('group-rm') ?? []);
    const cur = ((cs.Groups as string[] | undefined) ?? []).filter((g) => !rm.has(g));
    set(cs, 'Groups', [...new Set([...cur, ...(f.lists.get('group-add') ?? [])])]);
  }
  // Task
  const resourceFlags = ['limit-cpu', 'limit-memory', 'limit-pids', 'reserve-cpu', 'reserve-memory'];
  if (resourceFlags.some((k) => f.strings.has(k)))
    task.Resources = resources(f, task.Resources as Json | undefined);
  const restart = restartPolicy(f, task.RestartPolicy as Json | undefined);
  if (restart) task.RestartPolicy = restart;
  const placement = child(task, 'Placement');
  if (f.lists.has('constraint-add') || f.lists.has('constraint-rm')) {
    const rm = new Set(f.lists.get('constraint-rm') ?? []);
    const cur = ((placement.Constraints as string[] | undefined) ?? []).filter((c) => !rm.has(c));
    set(placement, 'Constraints', [...new Set([...cur, ...(f.lists.get('constraint-add') ?? [])])]);
  }
  if (f.lists.has('placement-pref-add') || f.lists.has('placement-pref-rm')) {
    const rm = new Set(
      (f.lists.get('placement-pref-rm') ?? []).map((p) =>
        JSON.stringify(preference(p, '--placement-pref-rm')),
      ),
    );
    const cur = ((placement.Preferences as Json[] | undefined) ?? []).filter(
      (p) => !rm.has(JSON.stringify(p)),
    );
    const add = (f.lists.get('placement-pref-add') ?? []).map((p) => preference(p, '--placement-pref-add'));
    set(placement, 'Preferences', [...cur, ...add]);
  }
  const maxReplicas = uint(f, 'max-replicas');
  if (maxReplicas !== undefined) placement.MaxReplicas = maxReplicas || undefined;
  if (f.bools.has('force')) task.ForceUpdate = ((task.ForceUpdate as number | undefined) ?? 0) + 1;
  // Mode
  const replicas = uint(f, 'replicas');
  if (replicas !== undefined) {
    const mode = spec.Mode as Json | undefined;
    if (!mode?.Replicated)
      throw new FlagError('replicas can only be used with replicated or replicated-job mode');
    mode.Replicated = { ...(mode.Replicated as Json), Replicas: replicas };
  }
  spec.UpdateConfig = rolloutConfig(f, 'update', spec.UpdateConfig as Json | undefined);
  spec.RollbackConfig = rolloutConfig(f, 'rollback', spec.RollbackConfig as Json | undefined);
  // Endpoint
  const ep = child(spec, 'EndpointSpec');
  ep.Mode = endpointMode(f, (ep.Mode as string | undefined) ?? 'vip');
  if (f.lists.has('publish-add') || f.lists.has('publish-rm')) {
    const added = (f.lists.get('publish-add') ?? []).flatMap((p) => parsePorts(p, '--publish-add'));
    const rm = (f.lists.get('publish-rm') ?? []).map((p) => parsePublishRm(p));
    const matches = (p: PortConfig, r: { port: number; proto?: string }) =>
      p.TargetPort === r.port && (r.proto === undefined || p.Protocol === r.proto);
    const cur = ((ep.Ports as PortConfig[] | undefined) ?? []).filter(
      (p) =>
        !rm.some((r) => matches(p, r)) &&
        !added.some((a) => a.TargetPort === p.TargetPort && a.Protocol === p.Protocol),
    );
    set(ep, 'Ports', [...cur, ...added]);
  }
  return dropUndefined(spec) as Json;
}

function parsePublishRm(text: string): { port: number; proto?: string } {
  const m = /^(?:\d+:)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(text) ?? /target=(\d+)/.exec(text);
  if (!m) throw bad('--publish-rm', text, 'expected TARGET[/PROTOCOL]');
  return { port: Number(m[1]), proto: m[2] };
}

/** Names the network flags of an update, for the caller to resolve: [added, removed]. */
export function networkChanges(f: ParsedFlags): { add: Json[]; rm: string[] } {
  return {
    add: networkAttachments(f.lists.get('network-add') ?? [], '--network-add'),
    rm: f.lists.get('network-rm') ?? [],
  };
}
