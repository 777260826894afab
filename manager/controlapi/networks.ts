// Swarm networks in the control API: spec checks, Docker's defaults, who uses a network, and the published-port
// rules services must follow. Pure functions over a read transaction; controlapi.ts does the writes.

import { invalidArgument, ShoalError } from '../../common/errors.js';
import type { Cluster, Network, Service } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NetworkSpec, type ServiceSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import { EndpointMode, PortProtocol, PublishMode, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';
import { allocateNetwork, OVERLAY, publishesIngress, taskDead, VNI_OPTION } from '../allocator/index.js';
import type { ReadTx } from '../store/index.js';
import { anyOf, checkFilterKeys, type Filters, labelsMatch } from './filters.js';

export const INGRESS_NAME = 'ingress';
export const NETWORK_FILTERS = ['id', 'name', 'label', 'driver', 'scope', 'type', 'dangling'] as const;
const PRUNE_FILTERS = ['label', 'label!', 'until'] as const;

// Docker's rule for network names.
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Checks a network spec and fills Docker's defaults (driver overlay, IPAM driver default). Returns a new spec. */
export function checkNetworkSpec(input: NetworkSpec): NetworkSpec {
  const spec = NetworkSpec.fromPartial(input);
  const name = spec.annotations?.name ?? '';
  if (name === '') throw invalidArgument('spec.annotations.name', 'a network needs a name');
  if (!NAME.test(name) || name.length > 128)
    throw invalidArgument(
      'spec.annotations.name',
      `invalid network name "${name}": letters, digits, '_', '.' and '-', starting with a letter or digit`,
    );
  const driver = spec.driverConfig?.name || OVERLAY;
  if (driver !== OVERLAY)
    throw invalidArgument(
      'spec.driver_config.name',
      `driver "${driver}" cannot make a swarm-scoped network (only overlay)`,
    );
  if (spec.driverConfig?.options[VNI_OPTION] !== undefined)
    throw invalidArgument(
      `spec.driver_config.options`,
      `${VNI_OPTION} is chosen by the swarm and cannot be set`,
    );
  const ipamDriver = spec.ipam?.driver?.name || 'default';
  if (ipamDriver !== 'default')
    throw invalidArgument(
      'spec.ipam.driver.name',
      `IPAM driver "${ipamDriver}" is not supported (only default)`,
    );
  if (spec.ipv6Enabled) throw invalidArgument('spec.ipv6_enabled', 'IPv6 overlay networks are not supported');
  if (spec.ingress && spec.attachable)
    throw invalidArgument('spec.attachable', 'an ingress network cannot be attachable');
  if (spec.ingress && spec.internal)
    throw invalidArgument('spec.internal', 'an ingress network cannot be internal');
  return {
    ...spec,
    annotations: { name, labels: spec.annotations?.labels ?? {} },
    driverConfig: { name: driver, options: spec.driverConfig?.options ?? {} },
    ipam: {
      driver: { name: ipamDriver, options: spec.ipam?.driver?.options ?? {} },
      configs: spec.ipam?.configs ?? [],
    },
  };
}

const nameOf = (s: Service) => s.spec?.annotations?.name ?? s.id;

/** Services whose tasks attach to `n` (named by id or name in their task template). */
export function servicesOn(tx: ReadTx, n: Network): Service[] {
  const name = n.spec?.annotations?.name;
  return byName(
    tx
      .list('service')
      .filter((s) =>
        (s.spec?.taskTemplate?.networks ?? []).some((a) => a.target === n.id || a.target === name),
      ),
  );
}

/** Sorted by name, so messages naming them read the same whatever the ids. */
const byName = (xs: Service[]): Service[] => [...xs].sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : 1));

/** Services publishing ports through the routing mesh (they need the ingress network). */
export const servicesOnIngress = (tx: ReadTx): Service[] =>
  byName(tx.list('service').filter((s) => publishesIngress(s.spec?.endpointSpec?.ports ?? [])));

/** Why `n` cannot be removed now, or undefined (swarmkit's rules, every user named). */
export function removalRefusal(tx: ReadTx, n: Network): string | undefined {
  const name = n.spec?.annotations?.name ?? n.id;
  if (n.spec?.ingress) {
    const users = servicesOnIngress(tx);
    if (users.length)
      return `ingress network cannot be removed because ${plural(users.length, 'service')} ${users.map(nameOf).join(', ')} ${users.length > 1 ? 'depend' : 'depends'} on it`;
    return undefined;
  }
  const users = servicesOn(tx, n);
  if (users.length)
    return `network ${name} is in use by ${plural(users.length, 'service')} ${users.map(nameOf).join(', ')}`;
  // swarmkit's rule: a task holds the network while it is meant to run and still could. A removed service's
  // tasks do not (the orchestrator is about to tell them to stop): `docker stack rm` removes the networks
  // right after the services, while their containers are still stopping.
  const services = new Set(tx.list('service').map((s) => s.id));
  const holding = tx
    .list('task')
    .filter(
      (t) =>
        t.networks.some((a) => a.network?.id === n.id) &&
        !taskDead(t) &&
        t.desiredState <= TaskState.TASK_STATE_RUNNING,
    );
  const containers = holding
    .filter(isAttachment)
    .map((t) => t.annotations?.name || t.spec?.attachment?.containerId);
  if (containers.length)
    return `network ${name} is in use by ${plural(containers.length, 'container')} ${containers.join(', ')}`;
  const tasks = holding.filter((t) => services.has(t.serviceId));
  if (tasks.length)
    return `network ${name} is in use by ${plural(tasks.length, 'task')} ${tasks.map((t) => t.id).join(', ')}`;
  return undefined;
}

const plural = (n: number, word: string) => (n === 1 ? word : `${word}s`);

export function listNetworks(tx: ReadTx, filters: Filters): Network[] {
  checkFilterKeys(filters, NETWORK_FILTERS);
  for (const v of filters.type ?? [])
    if (v !== 'custom' && v !== 'builtin') throw invalidArgument('filters', `invalid filter: 'type'='${v}'`);
  for (const v of filters.scope ?? [])
    if (!['swarm', 'local', 'global'].includes(v))
      throw invalidArgument('filters', `invalid filter: 'scope'='${v}'`);
  const dangling = filters.dangling?.map((v) => {
    if (['true', '1'].includes(v)) return true;
    if (['false', '0'].includes(v)) return false;
    throw invalidArgument('filters', `invalid filter 'dangling=${v}'`);
  });
  return tx.list('network').filter((n) => {
    const name = n.spec?.annotations?.name ?? '';
    return (
      anyOf(filters.id, (v) => n.id.startsWith(v)) &&
      anyOf(filters.name, (v) => name.includes(v)) &&
      labelsMatch(filters.label, n.spec?.annotations?.labels ?? {}) &&
      anyOf(filters.driver, (v) => v === (n.spec?.driverConfig?.name || OVERLAY)) &&
      anyOf(filters.scope, (v) => v === 'swarm') &&
      // Predefined networks are the node's local ones (bridge, host, none): every swarm network is custom.
      anyOf(filters.type, (v) => v === 'custom') &&
      (dangling === undefined ||
        dangling.some((d) => d === (servicesOn(tx, n).length === 0 && !n.spec?.ingress)))
    );
  });
}

/** Networks `network prune` removes: unused, not ingress, matching the label filters. */
export function prunable(tx: ReadTx, filters: Filters, now: number): Network[] {
  checkFilterKeys(filters, PRUNE_FILTERS);
  const until = filters.until?.map((v) => {
    const ms = untilMs(v, now);
    if (ms === undefined)
      throw invalidArgument('filters', `invalid filter 'until=${v}': a timestamp or a duration`);
    return ms;
  });
  return tx
    .list('network')
    .filter(
      (n) =>
        !n.spec?.ingress &&
        labelsMatch(filters.label, n.spec?.annotations?.labels ?? {}) &&
        !(filters['label!'] ?? []).some((v) => labelsMatch([v], n.spec?.annotations?.labels ?? {})) &&
        anyOf(until?.map(String), (ms) => (n.meta?.createdAt ?? 0) < Number(ms)) &&
        removalRefusal(tx, n) === undefined,
    );
}

function untilMs(v: string, now: number): number | undefined {
  const d = /^(\d+(?:\.\d+)?)(h|m|s)$/.exec(v);
  if (d) return now - Number(d[1]) * { h: 3600e3, m: 60e3, s: 1e3 }[d[2] as 'h' | 'm' | 's'];
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * A service's published ports against each other, the endpoint mode and every other service (swarmkit's
 * rules and messages): an ingress port is the swarm's alone; host-mode ports may repeat (the scheduler keeps
 * them on different nodes) but not collide with an ingress one.
 */
export function checkPorts(tx: ReadTx, spec: ServiceSpec, selfId: string | undefined): void {
  const ports = spec.endpointSpec?.ports ?? [];
  if (spec.endpointSpec?.mode === EndpointMode.ENDPOINT_MODE_DNSRR && publishesIngress(ports))
    throw new ShoalError(
      'invalid_argument',
      "port published with ingress mode can't be used with dnsrr mode",
      {
        field: 'spec.endpoint_spec.mode',
      },
    );
  const key = (protocol: PortProtocol, port: number) =>
    `${protocol || PortProtocol.PORT_PROTOCOL_TCP}/${port}`;
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    if (!p.publishedPort) return;
    const k = key(p.protocol, p.publishedPort);
    if (seen.has(k))
      throw invalidArgument(`spec.endpoint_spec.ports[${i}]`, `duplicate published port ${p.publishedPort}`);
    seen.add(k);
  });
  if (ports.length === 0) return;
  const ingress = new Map<string, Service>();
  const host = new Map<string, Service>();
  for (const s of tx.list('service')) {
    if (s.id === selfId) continue;
    for (const p of [...(s.spec?.endpointSpec?.ports ?? []), ...(s.endpoint?.ports ?? [])]) {
      if (!p.publishedPort) continue;
      (p.publishMode === PublishMode.PUBLISH_MODE_HOST ? host : ingress).set(
        key(p.protocol, p.publishedPort),
        s,
      );
    }
  }
  ports.forEach((p, i) => {
    if (!p.publishedPort) return;
    const k = key(p.protocol, p.publishedPort);
    const other =
      p.publishMode === PublishMode.PUBLISH_MODE_HOST ? ingress.get(k) : (ingress.get(k) ?? host.get(k));
    if (!other) return;
    const as = ingress.get(k) === other ? 'as an ingress port' : 'as a host-published port';
    throw new ShoalError(
      'invalid_argument',
      `port '${p.publishedPort}' is already in use by service '${nameOf(other)}' (${other.id}) ${as}`,
      { field: `spec.endpoint_spec.ports[${i}].published_port` },
    );
  });
  if (publishesIngress(ports) && !tx.list('network').some((n) => n.spec?.ingress))
    throw new ShoalError(
      'failed_precondition',
      'service needs ingress network, but no ingress network is present',
      { field: 'spec.endpoint_spec.ports' },
    );
}

/** The ingress network made at `swarm init` (Docker's: overlay, named ingress, first subnet of the pool). */
export function predefinedIngress(id: string, cluster: Cluster): Network {
  const spec = NetworkSpec.fromPartial({
    annotations: { name: INGRESS_NAME, labels: {} },
    driverConfig: { name: OVERLAY, options: {} },
    ingress: true,
    ipam: { driver: { name: 'default', options: {} }, configs: [] },
  });
  const a = allocateNetwork(spec, [], cluster);
  return { id, meta: undefined, spec, driverState: a.driverState, ipam: a.ipam };
}
