// Pure: a Task (its ContainerSpec and resources) → the engine's create options, as swarm's container
// adapter builds Docker's Config/HostConfig. Every field is either mapped or refused with a Refusal
// naming it: a task never runs with part of its spec silently dropped.

import type { Duration } from '../../proto/gen/google/protobuf/duration.js';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { ContainerSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import { MountType, PortProtocol, PublishMode } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { CreateOptions, FileMount, MountOption, RunOptions } from '../engine/index.js';
import type { ResolvedImage } from './types.js';

/** A field the worker cannot honour; the task is REJECTED with `${field}: ${problem}`. */
export class Refusal extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = 'Refusal';
  }
}

export const LABEL = {
  nodeId: 'com.docker.swarm.node.id',
  serviceId: 'com.docker.swarm.service.id',
  serviceName: 'com.docker.swarm.service.name',
  task: 'com.docker.swarm.task',
  taskId: 'com.docker.swarm.task.id',
  taskName: 'com.docker.swarm.task.name',
} as const;

/** Swarm's default stop grace period (api/defaults). */
export const DEFAULT_GRACE_MS = 10_000;

export const durationMs = (d: Duration | undefined): number =>
  d ? d.seconds * 1000 + Math.round(d.nanos / 1e6) : 0;

/** `<service>.<slot>.<task id>` (`<service>.<node id>.<task id>` for global tasks), as swarm names them. */
export function taskName(task: Task): string {
  if (task.annotations?.name) return task.annotations.name;
  const slot = task.slot > 0 ? String(task.slot) : task.nodeId;
  return `${task.serviceAnnotations?.name ?? ''}.${slot}.${task.id}`;
}

export function swarmLabels(task: Task): Record<string, string> {
  return {
    [LABEL.nodeId]: task.nodeId,
    [LABEL.serviceId]: task.serviceId,
    [LABEL.serviceName]: task.serviceAnnotations?.name ?? '',
    [LABEL.task]: '',
    [LABEL.taskId]: task.id,
    [LABEL.taskName]: taskName(task),
  };
}

/** The container spec, or a Refusal for a task with none or without an image. */
export function containerSpecOf(task: Task): ContainerSpec {
  const c = task.spec?.containerSpec;
  if (!c) throw new Refusal('spec.containerSpec', 'a task needs a container spec');
  if (!c.image) throw new Refusal('spec.containerSpec.image', 'an image is required');
  return c;
}

/** The stop grace period in ms (swarm's default when unset); a negative one is refused. */
export function gracePeriodMs(task: Task): number {
  const d = task.spec?.containerSpec?.stopGracePeriod;
  if (!d) return DEFAULT_GRACE_MS;
  const ms = durationMs(d);
  if (ms < 0) throw new Refusal('spec.containerSpec.stop_grace_period', 'must not be negative');
  return ms;
}

/** Checks everything that needs no image, so an unsupported task is refused before any pull. */
export function checkTask(task: Task): void {
  toRunOptions(task);
}

/** Where docker puts them when the target is relative (moby's containerSecretMountPath and config path). */
export const SECRETS_DIR = '/run/secrets';
const DEFAULT_FILE_MODE = 0o444;

/** A secret or config the task mounts: which one, and the file it becomes in the container. */
export interface FileRef {
  kind: 'secret' | 'config';
  id: string;
  name: string;
  target: string;
  uid: number;
  gid: number;
  mode: number;
}

const numericId = (v: string, field: string): number => {
  if (v === '') return 0;
  if (!/^\d{1,10}$/.test(v) || Number(v) > 0xfffffffe) throw new Refusal(field, `"${v}" is not a numeric id`);
  return Number(v);
};

/**
 * The files of the task's secrets (default target /run/secrets/NAME) and configs (default /NAME), as docker:
 * a relative target is joined to that directory; uid and gid are numeric strings (default 0); mode 0 is 0444.
 */
export function fileRefs(task: Task): FileRef[] {
  const c = containerSpecOf(task);
  const refs: FileRef[] = [];
  const one = (
    kind: 'secret' | 'config',
    i: number,
    id: string,
    name: string,
    file: { name: string; uid: string; gid: string; mode: number } | undefined,
  ) => {
    const f = (x: string) => `spec.containerSpec.${kind}s[${i}]${x}`;
    if (!id) throw new Refusal(f(`.${kind}_id`), 'required');
    if (!file?.name) throw new Refusal(f('.file.name'), 'required (the file the container sees)');
    const base = kind === 'secret' ? SECRETS_DIR : '/';
    const target = file.name.startsWith('/') ? file.name : `${base}/${file.name}`.replace(/^\/\//, '/');
    if (target.split('/').includes('..'))
      throw new Refusal(f('.file.name'), `"${file.name}" must not contain ".."`);
    if (file.mode > 0o7777) throw new Refusal(f('.file.mode'), `${file.mode} is not a file mode`);
    refs.push({
      kind,
      id,
      name: name || id,
      target,
      uid: numericId(file.uid, f('.file.uid')),
      gid: numericId(file.gid, f('.file.gid')),
      mode: file.mode || DEFAULT_FILE_MODE,
    });
  };
  c.secrets.forEach((r, i) => {
    one('secret', i, r.secretId, r.secretName, r.file);
  });
  c.configs.forEach((r, i) => {
    one('config', i, r.configId, r.configName, r.file);
  });
  return refs;
}

/** The full create options for a task whose image is resolved (and whose secrets and configs are read). */
export function toCreateOptions(task: Task, image: ResolvedImage, files: FileMount[] = []): CreateOptions {
  return {
    ...toRunOptions(task),
    ...(files.length ? { files } : {}),
    name: taskName(task),
    image: image.reference,
    imageId: image.id,
    rootfs: { layers: image.layers, imageConfig: image.config },
    // The executor probes a task's health itself (health.ts): the engine must not probe the image's too.
    healthcheck: { test: ['NONE'] },
  };
}

const unsupported = (field: string, what: string) =>
  new Refusal(field, `${what} is not supported by this worker yet`);

function toRunOptions(task: Task): RunOptions {
  const c = containerSpecOf(task);
  const f = (name: string) => `spec.containerSpec.${name}`;
  const o: RunOptions = {};

  // Swarm's rule: command replaces the entrypoint (and args are then its cmd); args alone replace the cmd.
  if (c.command.length > 0) {
    o.entrypoint = [...c.command];
    o.cmd = [...c.args];
  } else if (c.args.length > 0) o.cmd = [...c.args];

  if (c.hostname) o.hostname = c.hostname;
  if (c.env.length) o.env = [...c.env];
  if (c.dir) o.workingDir = c.dir;
  if (c.user) o.user = c.user;
  if (c.groups.length) o.groupAdd = [...c.groups];
  if (c.tty) o.tty = true;
  if (c.openStdin) o.openStdin = true;
  if (c.readOnly) o.readOnly = true;
  if (c.init === true) o.init = true;
  if (c.stopSignal) o.stopSignal = c.stopSignal;
  o.stopTimeout = Math.ceil(gracePeriodMs(task) / 1000);
  if (c.hosts.length) throw unsupported(f('hosts'), 'extra /etc/hosts entries');
  const dns = c.dnsConfig;
  if (dns && (dns.nameservers.length || dns.search.length || dns.options.length))
    throw unsupported(f('dns_config'), 'a DNS configuration');
  fileRefs(task); // secrets and configs: checked here, read and mounted at create
  if (c.capabilityAdd.length) o.capAdd = [...c.capabilityAdd];
  if (c.capabilityDrop.length) o.capDrop = [...c.capabilityDrop];
  if (Object.keys(c.sysctls).length) o.sysctls = { ...c.sysctls };
  if (c.ulimits.length)
    o.ulimits = c.ulimits.map((u, i) => {
      if (!u.name) throw new Refusal(f(`ulimits[${i}].name`), 'required');
      return { name: u.name, soft: u.soft, hard: u.hard };
    });
  if (c.privileged) o.privileged = true;
  if (c.devices.length)
    // The engine stats each host path at create: a missing or non-device one rejects the task.
    o.devices = c.devices.map((d) => ({
      pathOnHost: d.pathOnHost,
      pathInContainer: d.pathInContainer || undefined,
      cgroupPermissions: d.cgroupPermissions || undefined,
    }));
  mapMounts(c, o);
  mapResources(task, o);
  mapNetworks(task, o);
  checkPlumbing(task);

  o.labels = { ...c.labels, ...swarmLabels(task) };
  return o;
}

const CONSISTENCIES = new Set(['', 'default', 'consistent', 'cached', 'delegated']);

function mapMounts(c: ContainerSpec, o: RunOptions): void {
  const binds: MountOption[] = [];
  const tmpfs: Record<string, string> = {};
  c.mounts.forEach((m, i) => {
    const f = (name: string) => `spec.containerSpec.mounts[${i}]${name ? `.${name}` : ''}`;
    if (!m.target.startsWith('/')) throw new Refusal(f('target'), `"${m.target}" is not an absolute path`);
    // Consistency is a macOS file-sharing hint; Linux ignores it, as docker does.
    if (!CONSISTENCIES.has(m.consistency))
      throw new Refusal(f('consistency'), `unknown value "${m.consistency}"`);
    if (m.type !== MountType.MOUNT_TYPE_BIND && m.bindOptions)
      throw new Refusal(f('bind_options'), 'only for bind mounts');
    if (m.type !== MountType.MOUNT_TYPE_VOLUME && m.volumeOptions)
      throw new Refusal(f('volume_options'), 'only for volume mounts');
    if (m.type !== MountType.MOUNT_TYPE_TMPFS && m.tmpfsOptions)
      throw new Refusal(f('tmpfs_options'), 'only for tmpfs mounts');
    switch (m.type) {
      case MountType.MOUNT_TYPE_BIND: {
        if (!m.source.startsWith('/'))
          throw new Refusal(f('source'), `a bind source must be an absolute host path, got "${m.source}"`);
        if (m.source.includes(':') || m.target.includes(':'))
          throw new Refusal(f(''), 'paths containing ":" are not supported');
        const opts: string[] = [m.readOnly ? 'ro' : 'rw'];
        const b = m.bindOptions;
        if (b?.propagation) opts.push(b.propagation);
        if (b?.nonRecursive) throw unsupported(f('bind_options.non_recursive'), 'a non-recursive bind');
        if (b?.createMountpoint)
          throw unsupported(f('bind_options.create_mountpoint'), 'creating a missing bind source');
        // As a mount, not a -v bind: a missing source is refused (as swarm), never created.
        binds.push({
          type: 'bind',
          source: m.source,
          target: m.target,
          readOnly: m.readOnly,
          ...(b?.propagation ? { propagation: b.propagation } : {}),
        });
        return;
      }
      case MountType.MOUNT_TYPE_TMPFS: {
        if (m.source) throw new Refusal(f('source'), 'a tmpfs mount has no source');
        const opts: string[] = [];
        const t = m.tmpfsOptions;
        if (t && t.sizeBytes < 0) throw new Refusal(f('tmpfs_options.size_bytes'), 'must not be negative');
        if (t?.sizeBytes) opts.push(`size=${t.sizeBytes}`);
        if (t?.mode) opts.push(`mode=${t.mode.toString(8)}`);
        if (m.readOnly) opts.push('ro');
        if (m.target in tmpfs) throw new Refusal(f('target'), `${m.target} is mounted twice`);
        tmpfs[m.target] = opts.join(',');
        return;
      }
      case MountType.MOUNT_TYPE_VOLUME: {
        // A volume of this node's local driver (made when missing; no source = anonymous).
        const v = m.volumeOptions;
        if (v?.subpath) throw unsupported(f('volume_options.subpath'), 'a volume subpath');
        const driver = v?.driverConfig;
        if (driver?.name && driver.name !== 'local')
          throw unsupported(f('volume_options.driver_config.name'), `the volume driver "${driver.name}"`);
        if (driver && Object.keys(driver.options ?? {}).length > 0)
          throw unsupported(f('volume_options.driver_config.options'), 'volume driver options');
        binds.push({
          type: 'volume',
          ...(m.source ? { source: m.source } : {}),
          target: m.target,
          readOnly: m.readOnly,
          ...(v?.noCopy ? { noCopy: true } : {}),
          ...(v && Object.keys(v.labels ?? {}).length > 0 ? { labels: v.labels } : {}),
        });
        return;
      }
      default:
        throw new Refusal(f('type'), 'must be bind, volume or tmpfs');
    }
  });
  if (binds.length) o.mounts = binds;
  if (Object.keys(tmpfs).length) o.tmpfs = tmpfs;
}

function mapResources(task: Task, o: RunOptions): void {
  const r = task.spec?.resources;
  const lim = r?.limits;
  const res = r?.reservations;
  const f = (name: string) => `spec.resources.${name}`;
  for (const [name, v] of [
    ['limits.nano_cpus', lim?.nanoCpus],
    ['limits.memory_bytes', lim?.memoryBytes],
    ['limits.pids', lim?.pids],
    ['reservations.nano_cpus', res?.nanoCpus],
    ['reservations.memory_bytes', res?.memoryBytes],
  ] as const)
    if ((v ?? 0) < 0) throw new Refusal(f(name), 'must not be negative');
  if (lim?.nanoCpus) o.nanoCpus = lim.nanoCpus;
  if (lim?.memoryBytes) o.memory = lim.memoryBytes;
  if (lim?.pids) o.pidsLimit = lim.pids;
  // A memory reservation is also the container's soft limit; CPU reservations only guide the scheduler.
  if (res?.memoryBytes) o.memoryReservation = res.memoryBytes;
  if (res?.pids) throw new Refusal(f('reservations.pids'), 'pids is a limit only');
}

/**
 * The task's networks (the allocator's addresses and aliases; the task's own networks first, ingress last,
 * so that its resolver is the one of its first own network) and its host-mode published ports (a binding on
 * the container's default-bridge endpoint, as docker's docker_gwbridge). Ingress-mode ports need nothing
 * here: every node's load balancer sends them to the task's ingress address.
 */
function mapNetworks(task: Task, o: RunOptions): void {
  if (task.spec?.networks.length && task.networks.length === 0)
    throw new Refusal('networks', 'the task has networks in its spec but no addresses allocated');
  const atts = [...task.networks].sort(
    (a, b) => Number(a.network?.spec?.ingress ?? false) - Number(b.network?.spec?.ingress ?? false),
  );
  atts.forEach((a, i) => {
    const f = (x: string) => `networks[${i}].${x}`;
    if (!a.network?.id) throw new Refusal(f('network.id'), 'required');
    const addr = a.addresses[0]?.split('/')[0];
    if (!addr) throw new Refusal(f('addresses'), 'the allocator gave no address');
    o.endpoints ??= {};
    o.endpoints[a.network.id] = { aliases: [...a.aliases], ipv4Address: addr };
  });
  if (atts[0]?.network) o.networkMode = atts[0].network.id;
  for (const [i, p] of (task.endpoint?.ports ?? []).entries()) {
    if (p.publishMode !== PublishMode.PUBLISH_MODE_HOST) continue;
    const proto =
      p.protocol === PortProtocol.PORT_PROTOCOL_UDP
        ? 'udp'
        : p.protocol === PortProtocol.PORT_PROTOCOL_SCTP
          ? undefined
          : 'tcp';
    if (!proto) throw unsupported(`endpoint.ports[${i}].protocol`, 'sctp');
    if (!p.targetPort) throw new Refusal(`endpoint.ports[${i}].target_port`, 'required');
    const key = `${p.targetPort}/${proto}`;
    o.portBindings ??= {};
    o.portBindings[key] = [
      ...(o.portBindings[key] ?? []),
      { HostIp: '', HostPort: p.publishedPort ? String(p.publishedPort) : '' },
    ];
  }
}

/** Log drivers: refused unless json-file. */
function checkPlumbing(task: Task): void {
  for (const [field, d] of [
    ['spec.log_driver', task.spec?.logDriver],
    ['log_driver', task.logDriver],
  ] as const) {
    if (!d) continue;
    if (d.name !== '' && d.name !== 'json-file')
      throw unsupported(`${field}.name`, `the "${d.name}" log driver (only json-file)`);
    if (Object.keys(d.options).length) throw unsupported(`${field}.options`, 'per-task log driver options');
  }
}
