// What each node's dataplane is told about the networks it takes part in, as a pure function of the store:
// the network itself, the node's own address on it, every other endpoint (tasks and nodes, with the node's
// underlay address, for the VXLAN forwarding entries) and the services (VIPs, aliases, running tasks, for
// DNS and load balancing). A node gets a network only while one of its assigned tasks is attached to it,
// or — for ingress — while some service publishes ingress ports (every node is then part of the mesh).

import { isDeepStrictEqual } from 'node:util';
import { compareText } from '../../common/compare.js';
import { NetworkPlan, type NetworkService } from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import type { Network, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { EndpointMode, PublishMode, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { taskDead } from '../allocator/addresses.js';
import type { ReadTx, StoreEvent } from '../store/index.js';
import { isAssigned } from './assignments.js';

const bare = (cidr: string) => cidr.split('/')[0] ?? '';

/** The container name a worker gives the task (worker/executor's taskName, repeated: no import across). */
function taskName(t: Task): string {
  if (t.annotations?.name) return t.annotations.name;
  const slot = t.slot > 0 ? String(t.slot) : t.nodeId;
  return `${t.serviceAnnotations?.name ?? ''}.${slot}.${t.id}`;
}

const publishesIngress = (s: Service): boolean =>
  (s.endpoint?.ports ?? []).some((p) => p.publishMode !== PublishMode.PUBLISH_MODE_HOST);

/**
 * Everything the store knows about endpoints, built once per pass and then cut per node (`plansFor`), so a
 * pass over every session costs one walk over the tasks.
 */
export class NetworkPlans {
  private readonly byNetwork = new Map<string, NetworkPlan>();
  /** network id → node ids with an assigned task on it */
  private readonly users = new Map<string, Set<string>>();
  private readonly ingressId: string | undefined;
  private readonly meshWanted: boolean;
  private readonly attachments = new Map<string, Map<string, string>>();

  constructor(view: ReadTx) {
    const nodes = new Map(view.list('node').map((n) => [n.id, n]));
    const services = view.list('service');
    const networks = new Map(view.list('network').map((n) => [n.id, n]));
    const underlay = (nodeId: string) => nodes.get(nodeId)?.status?.addr ?? '';
    const plan = (net: Network): NetworkPlan => {
      let p = this.byNetwork.get(net.id);
      if (!p) {
        p = NetworkPlan.fromPartial({ network: networks.get(net.id) ?? net });
        this.byNetwork.set(net.id, p);
      }
      return p;
    };
    const ingress = [...networks.values()].find((n) => n.spec?.ingress);
    this.ingressId = ingress?.id;
    this.meshWanted = services.some(publishesIngress);
    const aliases = new Map<string, Set<string>>(); // `${service}/${network}` → aliases
    for (const t of view.list('task')) {
      if (!t.nodeId || t.networks.length === 0 || taskDead(t)) continue;
      const running =
        t.status?.state === TaskState.TASK_STATE_RUNNING && t.desiredState <= TaskState.TASK_STATE_RUNNING;
      for (const att of t.networks) {
        const net = att.network;
        if (!net?.id || !att.addresses[0]) continue;
        plan(net).endpoints.push({
          address: bare(att.addresses[0]),
          nodeId: t.nodeId,
          nodeAddr: underlay(t.nodeId),
          taskId: t.id,
          serviceId: t.serviceId,
          running,
          name: taskName(t),
          aliases: [...att.aliases],
        });
        const k = `${t.serviceId}/${net.id}`;
        const set = aliases.get(k) ?? new Set<string>();
        for (const a of att.aliases) set.add(a);
        aliases.set(k, set);
        if (isAssigned(t, t.nodeId)) {
          const u = this.users.get(net.id) ?? new Set<string>();
          u.add(t.nodeId);
          this.users.set(net.id, u);
        }
      }
    }
    for (const n of nodes.values())
      for (const att of n.attachments) {
        const net = att.network;
        if (!net?.id || !att.addresses[0]) continue;
        const m = this.attachments.get(n.id) ?? new Map<string, string>();
        m.set(net.id, att.addresses[0]);
        this.attachments.set(n.id, m);
        plan(net).endpoints.push({
          address: bare(att.addresses[0]),
          nodeId: n.id,
          nodeAddr: underlay(n.id),
          taskId: '',
          serviceId: '',
          running: false,
          name: '',
          aliases: [],
        });
      }
    for (const s of services) {
      const dnsrr = s.spec?.endpointSpec?.mode === EndpointMode.ENDPOINT_MODE_DNSRR;
      const onNets = new Set<string>([
        ...(s.endpoint?.virtualIps ?? []).map((v) => v.networkId),
        ...[...aliases.keys()].filter((k) => k.startsWith(`${s.id}/`)).map((k) => k.slice(s.id.length + 1)),
      ]);
      for (const netId of onNets) {
        const p = this.byNetwork.get(netId);
        if (!p) continue;
        const vip = (s.endpoint?.virtualIps ?? []).find((v) => v.networkId === netId);
        const svc: NetworkService = {
          id: s.id,
          name: s.spec?.annotations?.name ?? s.id,
          vip: vip ? bare(vip.addr) : '',
          dnsrr,
          aliases: [...(aliases.get(`${s.id}/${netId}`) ?? [])].sort(),
          ports: (s.endpoint?.ports ?? []).map((x) => ({ ...x })),
        };
        p.services.push(svc);
      }
    }
    for (const p of this.byNetwork.values()) {
      p.endpoints.sort((a, b) => compareText(a.address, b.address) || compareText(a.taskId, b.taskId));
      p.services.sort((a, b) => compareText(a.id, b.id));
    }
  }

  /** The plans of the networks `nodeId` takes part in, by network id. */
  plansFor(nodeId: string): Map<string, NetworkPlan> {
    const out = new Map<string, NetworkPlan>();
    for (const [id, p] of this.byNetwork) {
      const mine = this.users.get(id)?.has(nodeId) || (id === this.ingressId && this.meshWanted);
      if (!mine) continue;
      out.set(id, { ...p, nodeId, localAddress: this.attachments.get(nodeId)?.get(id) ?? '' });
    }
    return out;
  }
}

/** What the worker acts on, as bytes (a plan whose fingerprint is unchanged is not sent again). */
export function planFingerprint(p: NetworkPlan): string {
  return Buffer.from(
    NetworkPlan.encode({ ...p, network: p.network ? { ...p.network, meta: undefined } : undefined }).finish(),
  ).toString('base64');
}

/** What of a task a plan shows: nothing for a task on no network or a dead one. */
function endpointView(t: Task | undefined): unknown {
  if (!t?.nodeId || t.networks.length === 0 || taskDead(t)) return undefined;
  return {
    nodeId: t.nodeId,
    serviceId: t.serviceId,
    name: taskName(t),
    running:
      t.status?.state === TaskState.TASK_STATE_RUNNING && t.desiredState <= TaskState.TASK_STATE_RUNNING,
    assigned: isAssigned(t, t.nodeId),
    networks: t.networks.map((a) => [a.network?.id, a.addresses, a.aliases]),
  };
}

/**
 * Whether a store change can change any node's network plans. Most changes are tasks' status reports
 * (thousands a second on a large cluster) and nodes' heartbeats of state: those leave every plan as it
 * was, and rebuilding the plans (a walk over every task) for each of them would be the dispatcher's
 * largest cost.
 */
export function touchesNetworkPlans(e: StoreEvent): boolean {
  if (e.table === 'task') {
    if (e.kind !== 'update') return endpointView(e.object) !== undefined;
    return !isDeepStrictEqual(endpointView(e.previous), endpointView(e.object));
  }
  if (e.table === 'node') {
    if (e.kind !== 'update' || !e.previous) return true;
    return (
      e.previous.status?.addr !== e.object.status?.addr ||
      !isDeepStrictEqual(e.previous.attachments, e.object.attachments)
    );
  }
  return true;
}
