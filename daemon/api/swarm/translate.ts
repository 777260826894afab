// Engine API JSON (PascalCase, nanosecond durations, RFC 3339 times, lowercase enum strings) ⇄ the swarm
// protos. Pure functions; field for field as dockerd 20.10 answers the docker CLI 28.2 (see the traces in
// /work/shared/docker-api/traces: service-*, node-*, swarm-*, info.json).
import { invalidArgument } from '../../../common/errors.js';
import type { Duration } from '../../../proto/gen/google/protobuf/duration.js';
import type {
  Cluster,
  Network,
  Node,
  NodeTlsInfo,
  Service,
  Task,
} from '../../../proto/gen/shoal/swarm/v1/objects.js';
import type {
  ClusterSpec,
  ContainerSpec,
  NodeSpec,
  ServiceSpec,
  TaskSpec,
} from '../../../proto/gen/shoal/swarm/v1/specs.js';
import {
  EndpointMode,
  type EndpointSpec,
  type Meta,
  type Mount,
  MountType,
  NodeAvailability,
  NodeRole,
  NodeState,
  type PortConfig,
  PortProtocol,
  PublishMode,
  Reachability,
  type Resources,
  RestartCondition,
  TaskState,
  type UpdateConfig,
  UpdateFailureAction,
  UpdateOrder,
  UpdateState,
} from '../../../proto/gen/shoal/swarm/v1/types.js';
import { type Json, Reader } from './json.js';

// ---- scalars ----

/** Docker's durations are int64 nanoseconds. */
export function durationFromNs(ns: number): Duration {
  const seconds = Math.trunc(ns / 1e9);
  return { seconds, nanos: Math.round(ns - seconds * 1e9) };
}
export const durationToNs = (d: Duration): number => d.seconds * 1e9 + d.nanos;

const ZERO_TIME = '0001-01-01T00:00:00Z';
/** Unix milliseconds → RFC 3339 (UTC), Docker's zero time when unset. */
export const timeToJson = (ms: number): string => (ms > 0 ? new Date(ms).toISOString() : ZERO_TIME);

const invert = <T extends string | number>(m: Record<string, T>): Map<T, string> =>
  new Map(Object.entries(m).map(([k, v]) => [v, k]));

const RESTART: Record<string, RestartCondition> = {
  none: RestartCondition.RESTART_CONDITION_NONE,
  'on-failure': RestartCondition.RESTART_CONDITION_ON_FAILURE,
  any: RestartCondition.RESTART_CONDITION_ANY,
};
const FAILURE_ACTION: Record<string, UpdateFailureAction> = {
  pause: UpdateFailureAction.UPDATE_FAILURE_ACTION_PAUSE,
  continue: UpdateFailureAction.UPDATE_FAILURE_ACTION_CONTINUE,
  rollback: UpdateFailureAction.UPDATE_FAILURE_ACTION_ROLLBACK,
};
const ORDER: Record<string, UpdateOrder> = {
  'stop-first': UpdateOrder.UPDATE_ORDER_STOP_FIRST,
  'start-first': UpdateOrder.UPDATE_ORDER_START_FIRST,
};
const ENDPOINT_MODE: Record<string, EndpointMode> = {
  vip: EndpointMode.ENDPOINT_MODE_VIP,
  dnsrr: EndpointMode.ENDPOINT_MODE_DNSRR,
};
const PROTOCOL: Record<string, PortProtocol> = {
  tcp: PortProtocol.PORT_PROTOCOL_TCP,
  udp: PortProtocol.PORT_PROTOCOL_UDP,
  sctp: PortProtocol.PORT_PROTOCOL_SCTP,
};
const PUBLISH_MODE: Record<string, PublishMode> = {
  ingress: PublishMode.PUBLISH_MODE_INGRESS,
  host: PublishMode.PUBLISH_MODE_HOST,
};
const MOUNT_TYPE: Record<string, MountType> = {
  bind: MountType.MOUNT_TYPE_BIND,
  volume: MountType.MOUNT_TYPE_VOLUME,
  tmpfs: MountType.MOUNT_TYPE_TMPFS,
};
const ROLE: Record<string, NodeRole> = {
  worker: NodeRole.NODE_ROLE_WORKER,
  manager: NodeRole.NODE_ROLE_MANAGER,
};
const AVAILABILITY: Record<string, NodeAvailability> = {
  active: NodeAvailability.NODE_AVAILABILITY_ACTIVE,
  pause: NodeAvailability.NODE_AVAILABILITY_PAUSE,
  drain: NodeAvailability.NODE_AVAILABILITY_DRAIN,
};
const NODE_STATE: Record<string, NodeState> = {
  unknown: NodeState.NODE_STATE_UNKNOWN,
  down: NodeState.NODE_STATE_DOWN,
  ready: NodeState.NODE_STATE_READY,
  disconnected: NodeState.NODE_STATE_DISCONNECTED,
};
const REACHABILITY: Record<string, Reachability> = {
  unknown: Reachability.REACHABILITY_UNKNOWN,
  unreachable: Reachability.REACHABILITY_UNREACHABLE,
  reachable: Reachability.REACHABILITY_REACHABLE,
};
const UPDATE_STATE: Record<string, UpdateState> = {
  updating: UpdateState.UPDATE_STATE_UPDATING,
  paused: UpdateState.UPDATE_STATE_PAUSED,
  completed: UpdateState.UPDATE_STATE_COMPLETED,
  rollback_started: UpdateState.UPDATE_STATE_ROLLBACK_STARTED,
  rollback_paused: UpdateState.UPDATE_STATE_ROLLBACK_PAUSED,
  rollback_completed: UpdateState.UPDATE_STATE_ROLLBACK_COMPLETED,
};
const TASK_STATE: Record<string, TaskState> = {
  new: TaskState.TASK_STATE_NEW,
  pending: TaskState.TASK_STATE_PENDING,
  assigned: TaskState.TASK_STATE_ASSIGNED,
  accepted: TaskState.TASK_STATE_ACCEPTED,
  preparing: TaskState.TASK_STATE_PREPARING,
  ready: TaskState.TASK_STATE_READY,
  starting: TaskState.TASK_STATE_STARTING,
  running: TaskState.TASK_STATE_RUNNING,
  complete: TaskState.TASK_STATE_COMPLETE,
  shutdown: TaskState.TASK_STATE_SHUTDOWN,
  failed: TaskState.TASK_STATE_FAILED,
  rejected: TaskState.TASK_STATE_REJECTED,
  remove: TaskState.TASK_STATE_REMOVE,
  orphaned: TaskState.TASK_STATE_ORPHANED,
};
const NAMES = {
  restart: invert(RESTART),
  failureAction: invert(FAILURE_ACTION),
  order: invert(ORDER),
  endpointMode: invert(ENDPOINT_MODE),
  protocol: invert(PROTOCOL),
  publishMode: invert(PUBLISH_MODE),
  mountType: invert(MOUNT_TYPE),
  role: invert(ROLE),
  availability: invert(AVAILABILITY),
  nodeState: invert(NODE_STATE),
  reachability: invert(REACHABILITY),
  updateState: invert(UPDATE_STATE),
  taskState: invert(TASK_STATE),
};

export const taskStateName = (s: TaskState): string => NAMES.taskState.get(s) ?? 'new';
export const nodeStateName = (s: NodeState): string => NAMES.nodeState.get(s) ?? 'unknown';

/** Drops undefined, empty arrays, empty strings, zeros and false (Go's omitempty). */
export function omitEmpty(o: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === '' || v === 0 || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out;
}

export const nonEmptyMap = (m: Record<string, string>) => (Object.keys(m).length > 0 ? m : undefined);
const dur = (d: Duration | undefined) => (d ? durationToNs(d) : undefined);
const optDur = (r: Reader, k: string) => (r.has(k) ? durationFromNs(r.int(k)) : undefined);

export function metaJson(id: string, meta: Meta | undefined): Json {
  return {
    ID: id,
    Version: { Index: meta?.version ?? 0 },
    CreatedAt: timeToJson(meta?.createdAt ?? 0),
    UpdatedAt: timeToJson(meta?.updatedAt ?? 0),
  };
}

// ---- service spec: JSON → proto ----

function resourcesFromJson(r: Reader | undefined): Resources | undefined {
  if (!r) return undefined;
  r.refuse('GenericResources', '--generic-resource');
  return { nanoCpus: r.int('NanoCPUs'), memoryBytes: r.int('MemoryBytes'), pids: r.int('Pids') };
}

function mountFromJson(r: Reader): Mount {
  const b = r.obj('BindOptions');
  const v = r.obj('VolumeOptions');
  const t = r.obj('TmpfsOptions');
  const d = v?.obj('DriverConfig');
  return {
    type: r.oneOf('Type', MOUNT_TYPE, MountType.MOUNT_TYPE_VOLUME),
    source: r.str('Source'),
    target: r.str('Target'),
    readOnly: r.bool('ReadOnly'),
    consistency: r.str('Consistency'),
    bindOptions: b && {
      propagation: b.str('Propagation'),
      nonRecursive: b.bool('NonRecursive'),
      createMountpoint: b.bool('CreateMountpoint'),
    },
    volumeOptions: v && {
      noCopy: v.bool('NoCopy'),
      labels: v.map('Labels'),
      driverConfig: d && { name: d.str('Name'), options: d.map('Options') },
      subpath: v.str('Subpath'),
    },
    tmpfsOptions: t && { sizeBytes: t.int('SizeBytes'), mode: t.uint('Mode') },
  };
}

function containerSpecFromJson(c: Reader): ContainerSpec {
  const h = c.obj('Healthcheck');
  const dns = c.obj('DNSConfig');
  c.refuse('Privileges', '--credential-spec, SELinux, AppArmor, seccomp, no-new-privileges');
  c.refuse('Isolation', '--isolation', ['default']);
  c.refuse('OomScoreAdj', '--oom-score-adj');
  c.refuse('Capabilities', 'Capabilities (use --cap-add, --cap-drop)');
  const file = (r: Reader | undefined) =>
    r && { name: r.str('Name'), uid: r.str('UID'), gid: r.str('GID'), mode: r.uint('Mode') };
  return {
    image: c.str('Image'),
    labels: c.map('Labels'),
    command: c.strs('Command'),
    args: c.strs('Args'),
    hostname: c.str('Hostname'),
    env: c.strs('Env'),
    dir: c.str('Dir'),
    user: c.str('User'),
    groups: c.strs('Groups'),
    tty: c.bool('TTY'),
    openStdin: c.bool('OpenStdin'),
    readOnly: c.bool('ReadOnly'),
    init: c.optBool('Init'),
    mounts: c.list('Mounts').map(mountFromJson),
    stopGracePeriod: optDur(c, 'StopGracePeriod'),
    stopSignal: c.str('StopSignal'),
    healthcheck: h && {
      test: h.strs('Test'),
      interval: optDur(h, 'Interval'),
      timeout: optDur(h, 'Timeout'),
      retries: h.int('Retries'),
      startPeriod: optDur(h, 'StartPeriod'),
      startInterval: optDur(h, 'StartInterval'),
    },
    hosts: c.strs('Hosts'),
    dnsConfig: dns && {
      nameservers: dns.strs('Nameservers'),
      search: dns.strs('Search'),
      options: dns.strs('Options'),
    },
    secrets: c.list('Secrets').map((s) => ({
      secretId: s.str('SecretID'),
      secretName: s.str('SecretName'),
      file: file(s.obj('File')),
    })),
    configs: c.list('Configs').map((s) => ({
      configId: s.str('ConfigID'),
      configName: s.str('ConfigName'),
      file: file(s.obj('File')),
    })),
    capabilityAdd: c.strs('CapabilityAdd'),
    capabilityDrop: c.strs('CapabilityDrop'),
    sysctls: c.map('Sysctls'),
    ulimits: c
      .list('Ulimits')
      .map((u) => ({ name: u.str('Name'), soft: u.int('Soft'), hard: u.int('Hard') })),
    privileged: c.bool('Privileged'),
    devices: c.list('Devices').map(deviceFromJson),
  };
}

/** A device mapping checked as far as the manager can (the worker stats the host path). */
function deviceFromJson(d: Reader) {
  const abs = (k: string, v: string) => {
    if (!v.startsWith('/')) throw invalidArgument(d.field(k), `"${v}" is not an absolute path`);
  };
  const m = {
    pathOnHost: d.str('PathOnHost'),
    pathInContainer: d.str('PathInContainer'),
    cgroupPermissions: d.str('CgroupPermissions'),
  };
  abs('PathOnHost', m.pathOnHost);
  if (m.pathInContainer) abs('PathInContainer', m.pathInContainer);
  if (m.cgroupPermissions && !/^(?!.*(.).*\1)[rwm]{1,3}$/.test(m.cgroupPermissions))
    throw invalidArgument(
      d.field('CgroupPermissions'),
      `"${m.cgroupPermissions}" is not a combination of r, w, m`,
    );
  return m;
}

function taskSpecFromJson(t: Reader): TaskSpec {
  const c = t.obj('ContainerSpec');
  if (!c) throw invalidArgument(t.field('ContainerSpec'), 'a service needs a container spec');
  const res = t.obj('Resources');
  const rp = t.obj('RestartPolicy');
  const pl = t.obj('Placement');
  const log = t.obj('LogDriver');
  t.refuse('PluginSpec', 'a plugin runtime');
  t.refuse('NetworkAttachmentSpec', 'a network attachment runtime');
  res?.refuse('SwapBytes', '--memory-swap');
  res?.refuse('MemorySwappiness', '--memory-swappiness');
  const runtime = t.str('Runtime');
  if (runtime !== '' && runtime !== 'container')
    throw invalidArgument(t.field('Runtime'), `runtime "${runtime}" is not supported (only "container")`);
  return {
    containerSpec: containerSpecFromJson(c),
    resources: res && {
      limits: resourcesFromJson(res.obj('Limits')),
      reservations: resourcesFromJson(res.obj('Reservations')),
    },
    restartPolicy: rp && {
      condition: rp.oneOf('Condition', RESTART, RestartCondition.RESTART_CONDITION_ANY),
      delay: optDur(rp, 'Delay'),
      maxAttempts: rp.uint('MaxAttempts'),
      window: optDur(rp, 'Window'),
    },
    placement: pl && {
      constraints: pl.strs('Constraints'),
      preferences: pl.list('Preferences').map((p) => ({
        spread: { spreadDescriptor: p.obj('Spread')?.str('SpreadDescriptor') ?? '' },
      })),
      maxReplicas: pl.uint('MaxReplicas'),
      platforms: pl.list('Platforms').map((p) => ({ architecture: p.str('Architecture'), os: p.str('OS') })),
    },
    networks: t.list('Networks').map((n) => ({
      target: n.str('Target'),
      aliases: n.strs('Aliases'),
      driverOpts: n.map('DriverOpts'),
    })),
    forceUpdate: t.uint('ForceUpdate'),
    logDriver: log && { name: log.str('Name'), options: log.map('Options') },
    attachment: undefined,
  };
}

function updateConfigFromJson(u: Reader | undefined): UpdateConfig | undefined {
  if (!u) return undefined;
  return {
    parallelism: u.uint('Parallelism'),
    delay: optDur(u, 'Delay'),
    failureAction: u.oneOf('FailureAction', FAILURE_ACTION, UpdateFailureAction.UPDATE_FAILURE_ACTION_PAUSE),
    monitor: optDur(u, 'Monitor'),
    maxFailureRatio: u.num('MaxFailureRatio'),
    order: u.oneOf('Order', ORDER, UpdateOrder.UPDATE_ORDER_STOP_FIRST),
  };
}

function portFromJson(p: Reader): PortConfig {
  return {
    name: p.str('Name'),
    protocol: p.oneOf('Protocol', PROTOCOL, PortProtocol.PORT_PROTOCOL_TCP),
    targetPort: p.uint('TargetPort'),
    publishedPort: p.uint('PublishedPort'),
    publishMode: p.oneOf('PublishMode', PUBLISH_MODE, PublishMode.PUBLISH_MODE_INGRESS),
  };
}

function endpointSpecFromJson(e: Reader | undefined): EndpointSpec | undefined {
  if (!e) return undefined;
  return {
    mode: e.oneOf('Mode', ENDPOINT_MODE, EndpointMode.ENDPOINT_MODE_VIP),
    ports: e.list('Ports').map(portFromJson),
  };
}

/** A `POST /services/create` or `/services/{id}/update` body → ServiceSpec (types checked, naming the field). */
export function serviceSpecFromJson(body: unknown): ServiceSpec {
  const r = Reader.of(body);
  const t = r.obj('TaskTemplate');
  if (!t) throw invalidArgument('TaskTemplate', 'a service needs a task template with a ContainerSpec');
  const m = r.obj('Mode');
  let mode: ServiceSpec['mode'];
  if (m?.has('Replicated')) {
    const rep = m.obj('Replicated')!;
    // Replicas is *uint64 in Docker: absent means 1. A negative count is left for the control API to refuse.
    mode = { $case: 'replicated', value: { replicas: rep.has('Replicas') ? rep.int('Replicas') : 1 } };
    if (m.has('Global')) throw invalidArgument('Mode', 'Replicated and Global are exclusive');
  } else if (m?.has('Global')) {
    mode = { $case: 'global', value: {} };
  } else if (m?.has('ReplicatedJob') || m?.has('GlobalJob')) {
    throw invalidArgument('Mode', 'jobs (ReplicatedJob, GlobalJob) are not supported by shoal');
  }
  return {
    annotations: { name: r.str('Name'), labels: r.map('Labels') },
    taskTemplate: taskSpecFromJson(t),
    mode,
    updateConfig: updateConfigFromJson(r.obj('UpdateConfig')),
    rollbackConfig: updateConfigFromJson(r.obj('RollbackConfig')),
    endpointSpec: endpointSpecFromJson(r.obj('EndpointSpec')),
  };
}

// ---- service spec: proto → JSON ----

function resourcesJson(r: Resources | undefined): Json {
  return r ? omitEmpty({ NanoCPUs: r.nanoCpus, MemoryBytes: r.memoryBytes, Pids: r.pids }) : {};
}

function mountJson(m: Mount): Json {
  return omitEmpty({
    Type: NAMES.mountType.get(m.type) ?? 'volume',
    Source: m.source,
    Target: m.target,
    ReadOnly: m.readOnly,
    Consistency: m.consistency,
    BindOptions:
      m.bindOptions &&
      omitEmpty({
        Propagation: m.bindOptions.propagation,
        NonRecursive: m.bindOptions.nonRecursive,
        CreateMountpoint: m.bindOptions.createMountpoint,
      }),
    VolumeOptions:
      m.volumeOptions &&
      omitEmpty({
        NoCopy: m.volumeOptions.noCopy,
        Labels: nonEmptyMap(m.volumeOptions.labels),
        DriverConfig:
          m.volumeOptions.driverConfig &&
          omitEmpty({
            Name: m.volumeOptions.driverConfig.name,
            Options: nonEmptyMap(m.volumeOptions.driverConfig.options),
          }),
        Subpath: m.volumeOptions.subpath,
      }),
    TmpfsOptions:
      m.tmpfsOptions && omitEmpty({ SizeBytes: m.tmpfsOptions.sizeBytes, Mode: m.tmpfsOptions.mode }),
  });
}

function containerSpecJson(c: ContainerSpec): Json {
  const file = (f: { name: string; uid: string; gid: string; mode: number } | undefined) =>
    f && { Name: f.name, UID: f.uid, GID: f.gid, Mode: f.mode };
  const h = c.healthcheck;
  return {
    ...omitEmpty({
      Image: c.image,
      Labels: nonEmptyMap(c.labels),
      Command: c.command,
      Args: c.args,
      Hostname: c.hostname,
      Env: c.env,
      Dir: c.dir,
      User: c.user,
      Groups: c.groups,
      TTY: c.tty,
      OpenStdin: c.openStdin,
      ReadOnly: c.readOnly,
    }),
    ...(c.init === undefined ? {} : { Init: c.init }),
    ...omitEmpty({ Mounts: c.mounts.map(mountJson) }),
    // A pointer in Docker's API: a set 0 is shown, so a client's read-modify-write (service scale) keeps it.
    ...(c.stopGracePeriod === undefined ? {} : { StopGracePeriod: dur(c.stopGracePeriod) }),
    ...omitEmpty({
      StopSignal: c.stopSignal,
      Healthcheck:
        h &&
        omitEmpty({
          Test: h.test,
          Interval: dur(h.interval),
          Timeout: dur(h.timeout),
          Retries: h.retries,
          StartPeriod: dur(h.startPeriod),
          StartInterval: dur(h.startInterval),
        }),
      Hosts: c.hosts,
    }),
    DNSConfig: c.dnsConfig
      ? omitEmpty({
          Nameservers: c.dnsConfig.nameservers,
          Search: c.dnsConfig.search,
          Options: c.dnsConfig.options,
        })
      : {},
    ...omitEmpty({
      Secrets: c.secrets.map((s) => ({ File: file(s.file), SecretID: s.secretId, SecretName: s.secretName })),
      Configs: c.configs.map((s) => ({ File: file(s.file), ConfigID: s.configId, ConfigName: s.configName })),
      CapabilityAdd: c.capabilityAdd,
      CapabilityDrop: c.capabilityDrop,
      Sysctls: nonEmptyMap(c.sysctls),
      Ulimits: c.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      Privileged: c.privileged,
      Devices: c.devices.map((d) => ({
        PathOnHost: d.pathOnHost,
        PathInContainer: d.pathInContainer,
        CgroupPermissions: d.cgroupPermissions,
      })),
    }),
    Isolation: 'default',
  };
}

export function taskSpecJson(t: TaskSpec): Json {
  const rp = t.restartPolicy;
  const pl = t.placement;
  return omitEmpty({
    ContainerSpec: t.containerSpec && containerSpecJson(t.containerSpec),
    Resources: {
      Limits: resourcesJson(t.resources?.limits),
      Reservations: resourcesJson(t.resources?.reservations),
    },
    RestartPolicy: rp && {
      Condition: NAMES.restart.get(rp.condition) ?? 'any',
      ...omitEmpty({ Delay: dur(rp.delay) }),
      MaxAttempts: rp.maxAttempts,
      ...omitEmpty({ Window: dur(rp.window) }),
    },
    Placement: pl
      ? omitEmpty({
          Constraints: pl.constraints,
          Preferences: pl.preferences.map((p) => ({
            Spread: { SpreadDescriptor: p.spread?.spreadDescriptor ?? '' },
          })),
          MaxReplicas: pl.maxReplicas,
          Platforms: pl.platforms.map((p) => ({ Architecture: p.architecture, OS: p.os })),
        })
      : {},
    Networks: t.networks.map((n) =>
      omitEmpty({ Target: n.target, Aliases: n.aliases, DriverOpts: nonEmptyMap(n.driverOpts) }),
    ),
    LogDriver:
      t.logDriver && omitEmpty({ Name: t.logDriver.name, Options: nonEmptyMap(t.logDriver.options) }),
  });
}

function updateConfigJson(u: UpdateConfig | undefined): Json | undefined {
  if (!u) return undefined;
  return {
    Parallelism: u.parallelism,
    ...omitEmpty({ Delay: dur(u.delay) }),
    FailureAction: NAMES.failureAction.get(u.failureAction) ?? 'pause',
    ...omitEmpty({ Monitor: dur(u.monitor) }),
    // A float32 in the proto: shown with float32's shortest digits (0.2, not 0.20000000298023224).
    MaxFailureRatio: Number(Math.fround(u.maxFailureRatio).toPrecision(7)),
    Order: NAMES.order.get(u.order) ?? 'stop-first',
  };
}

const portJson = (p: PortConfig): Json =>
  omitEmpty({
    Name: p.name,
    Protocol: NAMES.protocol.get(p.protocol) ?? 'tcp',
    TargetPort: p.targetPort,
    PublishedPort: p.publishedPort,
    PublishMode: NAMES.publishMode.get(p.publishMode) ?? 'ingress',
  });

const endpointSpecJson = (e: EndpointSpec | undefined): Json | undefined =>
  e && omitEmpty({ Mode: NAMES.endpointMode.get(e.mode) ?? 'vip', Ports: e.ports.map(portJson) });

export function serviceSpecJson(s: ServiceSpec): Json {
  const mode = s.mode;
  return omitEmpty({
    Name: s.annotations?.name ?? '',
    Labels: s.annotations?.labels ?? {},
    TaskTemplate: s.taskTemplate && {
      ...taskSpecJson(s.taskTemplate),
      ForceUpdate: s.taskTemplate.forceUpdate,
      Runtime: 'container',
    },
    Mode: mode?.$case === 'global' ? { Global: {} } : { Replicated: { Replicas: mode?.value.replicas ?? 1 } },
    UpdateConfig: updateConfigJson(s.updateConfig),
    RollbackConfig: updateConfigJson(s.rollbackConfig),
    EndpointSpec: endpointSpecJson(s.endpointSpec),
  });
}

export interface ServiceStatusJson {
  RunningTasks: number;
  DesiredTasks: number;
  CompletedTasks: number;
}

export function serviceJson(s: Service, status?: ServiceStatusJson): Json {
  const e = s.endpoint;
  const u = s.updateStatus;
  return omitEmpty({
    ...metaJson(s.id, s.meta),
    Spec: s.spec && serviceSpecJson(s.spec),
    PreviousSpec: s.previousSpec && serviceSpecJson(s.previousSpec),
    Endpoint: e
      ? omitEmpty({
          Spec: endpointSpecJson(e.spec) ?? {},
          Ports: e.ports.map(portJson),
          VirtualIPs: e.virtualIps.map((v) => ({ NetworkID: v.networkId, Addr: v.addr })),
        })
      : { Spec: {} },
    UpdateStatus: u?.state
      ? omitEmpty({
          State: NAMES.updateState.get(u.state),
          StartedAt: u.startedAt ? timeToJson(u.startedAt) : undefined,
          CompletedAt: u.completedAt ? timeToJson(u.completedAt) : undefined,
          Message: u.message,
        })
      : undefined,
    ServiceStatus: status,
  });
}

// ---- tasks ----

export function taskJson(t: Task): Json {
  const st = t.status;
  const cs = st?.containerStatus;
  return omitEmpty({
    ...metaJson(t.id, t.meta),
    Labels: t.annotations?.labels ?? {},
    Spec: t.spec ? { ...taskSpecJson(t.spec), ForceUpdate: t.spec.forceUpdate } : {},
    ServiceID: t.serviceId,
    Slot: t.slot,
    NodeID: t.nodeId,
    Status: {
      Timestamp: timeToJson(st?.timestamp ?? 0),
      State: taskStateName(st?.state ?? TaskState.TASK_STATE_NEW),
      Message: st?.message ?? '',
      ...omitEmpty({ Err: st?.err }),
      ...(cs ? { ContainerStatus: { ContainerID: cs.containerId, PID: cs.pid, ExitCode: cs.exitCode } } : {}),
      PortStatus: st?.portStatus?.ports.length ? { Ports: st.portStatus.ports.map(portJson) } : {},
    },
    DesiredState: taskStateName(t.desiredState),
    NetworksAttachments: t.networks.map((n) =>
      omitEmpty({ Network: n.network && swarmNetworkJson(n.network), Addresses: n.addresses }),
    ),
  });
}

/** A network as the swarm API shows it inside a task's NetworksAttachments (swarm.Network). */
export function swarmNetworkJson(n: Network): Json {
  const spec = n.spec;
  const ipamConfigs = (n.ipam?.configs ?? []).map((c) =>
    omitEmpty({ Subnet: c.subnet, Range: c.range, Gateway: c.gateway }),
  );
  return {
    ...metaJson(n.id, n.meta),
    Spec: {
      Name: spec?.annotations?.name ?? '',
      Labels: spec?.annotations?.labels ?? {},
      DriverConfiguration: spec?.ingress
        ? {}
        : omitEmpty({
            Name: spec?.driverConfig?.name,
            Options: nonEmptyMap(spec?.driverConfig?.options ?? {}),
          }),
      ...omitEmpty({ Internal: spec?.internal, Attachable: spec?.attachable, Ingress: spec?.ingress }),
      IPAMOptions: { Driver: {} },
      Scope: 'swarm',
    },
    DriverState: { Name: n.driverState?.name ?? 'overlay', Options: { ...(n.driverState?.options ?? {}) } },
    IPAMOptions: { Driver: { Name: n.ipam?.driver?.name || 'default' }, Configs: ipamConfigs },
  };
}

// ---- nodes ----

export function nodeSpecJson(s: NodeSpec | undefined): Json {
  return {
    ...omitEmpty({ Name: s?.annotations?.name }),
    Labels: s?.annotations?.labels ?? {},
    Role: NAMES.role.get(s?.desiredRole ?? 0) ?? 'worker',
    Availability: NAMES.availability.get(s?.availability ?? 0) ?? 'active',
  };
}

/** `POST /nodes/{id}/update` body (the whole Spec) → NodeSpec. */
export function nodeSpecFromJson(body: unknown): NodeSpec {
  const r = Reader.of(body);
  return {
    annotations: { name: r.str('Name'), labels: r.map('Labels') },
    desiredRole: r.oneOf('Role', ROLE, NodeRole.NODE_ROLE_UNSPECIFIED),
    availability: r.oneOf('Availability', AVAILABILITY, NodeAvailability.NODE_AVAILABILITY_UNSPECIFIED),
  };
}

const b64 = (b: Uint8Array | undefined) => Buffer.from(b ?? new Uint8Array()).toString('base64');

export function nodeJson(n: Node): Json {
  const d = n.description;
  const ms = n.managerStatus;
  return omitEmpty({
    ...metaJson(n.id, n.meta),
    Spec: nodeSpecJson(n.spec),
    Description: d
      ? omitEmpty({
          Hostname: d.hostname,
          Platform: { Architecture: d.platform?.architecture ?? '', OS: d.platform?.os ?? '' },
          Resources: resourcesJson(d.resources),
          Engine: omitEmpty({
            EngineVersion: d.engine?.engineVersion,
            Labels: nonEmptyMap(d.engine?.labels ?? {}),
            Plugins: d.engine?.plugins.map((p) => ({ Type: p.type, Name: p.name })),
          }),
          TLSInfo: d.tlsInfo && {
            TrustRoot: withFinalNewline(Buffer.from(d.tlsInfo.trustRoot).toString('utf8')),
            CertIssuerSubject: b64(d.tlsInfo.certIssuerSubject),
            CertIssuerPublicKey: b64(d.tlsInfo.certIssuerPublicKey),
          },
        })
      : {},
    Status: omitEmpty({
      State: nodeStateName(n.status?.state ?? NodeState.NODE_STATE_UNKNOWN),
      Message: n.status?.message,
      Addr: n.status?.addr,
    }),
    ManagerStatus: ms && {
      Leader: ms.leader,
      Reachability: NAMES.reachability.get(ms.reachability) ?? 'unknown',
      Addr: ms.addr,
    },
  });
}

// ---- the cluster (GET /swarm, the Cluster of /info) ----

export function clusterSpecJson(s: ClusterSpec | undefined): Json {
  const raft = s?.raft;
  return {
    Name: s?.annotations?.name ?? 'default',
    Labels: s?.annotations?.labels ?? {},
    Orchestration: { TaskHistoryRetentionLimit: s?.orchestration?.taskHistoryRetentionLimit ?? 5 },
    Raft: {
      SnapshotInterval: raft?.snapshotInterval ?? 0,
      KeepOldSnapshots: raft?.keepOldSnapshots ?? 0,
      LogEntriesForSlowFollowers: raft?.logEntriesForSlowFollowers ?? 0,
      ElectionTick: raft?.electionTick ?? 0,
      HeartbeatTick: raft?.heartbeatTick ?? 0,
    },
    Dispatcher: omitEmpty({ HeartbeatPeriod: dur(s?.dispatcher?.heartbeatPeriod) }),
    CAConfig: omitEmpty({
      NodeCertExpiry: dur(s?.caConfig?.nodeCertExpiry),
      ForceRotate: s?.caConfig?.forceRotate || undefined,
    }),
    TaskDefaults: s?.taskDefaults?.logDriver
      ? {
          LogDriver: omitEmpty({
            Name: s.taskDefaults.logDriver.name,
            Options: nonEmptyMap(s.taskDefaults.logDriver.options),
          }),
        }
      : {},
    EncryptionConfig: { AutoLockManagers: s?.encryptionConfig?.autoLockManagers ?? false },
  };
}

/**
 * `POST /swarm/update` (and the Spec of `/swarm/init`) body → ClusterSpec, over the current spec: the CLI
 * sends the whole spec, with zeros for what it leaves alone (as in the swarm-init trace), so zeros keep
 * the current value.
 */
export function clusterSpecFromJson(body: unknown, current: ClusterSpec): ClusterSpec {
  const r = Reader.of(body);
  const o = r.obj('Orchestration');
  const raft = r.obj('Raft');
  const disp = r.obj('Dispatcher');
  const ca = r.obj('CAConfig');
  // Nodes get their certificates from shoal's own CA only.
  const external = ca?.raw('ExternalCAs');
  if (Array.isArray(external) && external.length > 0)
    throw invalidArgument('CAConfig.ExternalCAs', 'external CAs (cfssl) are not supported by shoal');
  const td = r.obj('TaskDefaults')?.obj('LogDriver');
  const enc = r.obj('EncryptionConfig');
  const keep = (v: number, old: number | undefined) => (v === 0 ? (old ?? 0) : v);
  const keepDur = (rd: Reader | undefined, k: string, old: Duration | undefined) =>
    rd?.has(k) && rd.int(k) !== 0 ? durationFromNs(rd.int(k)) : old;
  return {
    annotations: {
      name: current.annotations?.name ?? 'default',
      labels: r.has('Labels') ? r.map('Labels') : (current.annotations?.labels ?? {}),
    },
    orchestration: {
      taskHistoryRetentionLimit: o?.has('TaskHistoryRetentionLimit')
        ? o.int('TaskHistoryRetentionLimit')
        : (current.orchestration?.taskHistoryRetentionLimit ?? 5),
    },
    raft: {
      snapshotInterval: keep(raft?.uint('SnapshotInterval') ?? 0, current.raft?.snapshotInterval),
      keepOldSnapshots: keep(raft?.uint('KeepOldSnapshots') ?? 0, current.raft?.keepOldSnapshots),
      logEntriesForSlowFollowers: keep(
        raft?.uint('LogEntriesForSlowFollowers') ?? 0,
        current.raft?.logEntriesForSlowFollowers,
      ),
      electionTick: keep(raft?.uint('ElectionTick') ?? 0, current.raft?.electionTick),
      heartbeatTick: keep(raft?.uint('HeartbeatTick') ?? 0, current.raft?.heartbeatTick),
    },
    dispatcher: { heartbeatPeriod: keepDur(disp, 'HeartbeatPeriod', current.dispatcher?.heartbeatPeriod) },
    caConfig: {
      nodeCertExpiry: keepDur(ca, 'NodeCertExpiry', current.caConfig?.nodeCertExpiry),
      signingCaCert: Buffer.from(ca?.str('SigningCACert') ?? ''),
      signingCaKey: Buffer.from(ca?.str('SigningCAKey') ?? ''),
      forceRotate: ca?.has('ForceRotate') ? ca.uint('ForceRotate') : (current.caConfig?.forceRotate ?? 0),
    },
    taskDefaults: {
      logDriver: td ? { name: td.str('Name'), options: td.map('Options') } : current.taskDefaults?.logDriver,
    },
    encryptionConfig: { autoLockManagers: enc?.bool('AutoLockManagers') ?? false },
  };
}

/** dockerd's PEM ends with a newline (docker's `node inspect --pretty` shows the blank line it makes). */
export const withFinalNewline = (pem: string): string =>
  pem === '' || pem.endsWith('\n') ? pem : `${pem}\n`;

/**
 * The cluster as `GET /swarm` answers (with join tokens) or as /info's Swarm.Cluster (without). `tls` is a
 * node's TLS info under the current root (its issuer subject and key are what Docker shows here).
 */
export function clusterJson(
  c: Cluster,
  withTokens: boolean,
  tls?: NodeTlsInfo,
  rootRotationInProgress = false,
): Json {
  const pem = withFinalNewline(Buffer.from(c.rootCa?.caCert ?? new Uint8Array()).toString('utf8'));
  return {
    ...metaJson(c.id, c.meta),
    Spec: clusterSpecJson(c.spec),
    TLSInfo: omitEmpty({
      TrustRoot: pem,
      CertIssuerSubject: tls?.certIssuerSubject.length ? b64(tls.certIssuerSubject) : undefined,
      CertIssuerPublicKey: tls?.certIssuerPublicKey.length ? b64(tls.certIssuerPublicKey) : undefined,
    }),
    RootRotationInProgress: rootRotationInProgress,
    // Docker shows null for its default pool.
    DefaultAddrPool: c.defaultAddressPool.length ? [...c.defaultAddressPool] : null,
    SubnetSize: c.subnetSize || 24,
    DataPathPort: 4789,
    ...(withTokens
      ? {
          JoinTokens: {
            Worker: c.rootCa?.joinTokens?.worker ?? '',
            Manager: c.rootCa?.joinTokens?.manager ?? '',
          },
        }
      : {}),
  };
}
