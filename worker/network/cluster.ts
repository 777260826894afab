// The swarm's side of the node's dataplane: the networks the dispatcher says this node takes part in
// (plans), turned into overlays (NetworkManager.ensureOverlay: bridge, VXLAN, forwarding entries), names
// for the embedded resolver (services, VIPs, tasks) and the load balancer's state (service VIPs and the
// routing mesh, worker/network/lb). Each apply is given the whole set; what is not in it goes (an overlay
// once no container uses it any more).

import { compareText } from '../../common/compare.js';
import { ShoalError } from '../../common/errors.js';
import type { ContainerNames, ServiceNames } from './dns/records.js';
import type { Backend, LbState, PublishedPort, VipService } from './lb/index.js';
import type { NetworkManager } from './manager.js';
import type { OverlaySpec } from './overlay.js';
import type { EmbeddedResolver } from './resolver.js';

export interface PlanEndpoint {
  address: string;
  nodeId: string;
  /** The node's underlay address (VTEP). */
  nodeAddr: string;
  /** Empty for a node's own address. */
  taskId: string;
  serviceId: string;
  running: boolean;
  name: string;
  aliases: string[];
}

export interface PlanPort {
  protocol: 'tcp' | 'udp';
  target: number;
  published: number;
  mode: 'ingress' | 'host';
}

export interface PlanService {
  id: string;
  name: string;
  /** Empty for dnsrr. */
  vip: string;
  dnsrr: boolean;
  aliases: string[];
  ports: PlanPort[];
}

/** One swarm network as the dispatcher describes it to this node. */
export interface NetworkPlanView {
  id: string;
  name: string;
  vni: number;
  subnet: string;
  gateway: string;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  /** This node. */
  nodeId: string;
  /** This node's address on the network (CIDR), once allocated. */
  local?: string;
  endpoints: PlanEndpoint[];
  services: PlanService[];
}

/** The part of LbController this needs (a test may hand in its own). */
export interface LbPort {
  update(state: LbState): Promise<void>;
}

export interface ClusterNetworksOptions {
  network: NetworkManager;
  resolver?: EmbeddedResolver;
  lb?: LbPort;
  log?: (msg: string) => void;
}

/** The overlay to make for a plan: peers are the other nodes' endpoints, each address once. */
export function overlaySpecOf(p: NetworkPlanView): OverlaySpec {
  const peers = new Map<string, string>();
  for (const e of p.endpoints)
    if (e.nodeId !== p.nodeId && e.nodeAddr && e.address) peers.set(e.address, e.nodeAddr);
  const vips = [...new Set(p.services.filter((s) => s.vip && !s.dnsrr && !p.ingress).map((s) => s.vip))];
  return {
    id: p.id,
    name: p.name,
    vni: p.vni,
    subnet: p.subnet,
    gateway: p.gateway,
    internal: p.internal,
    attachable: p.attachable,
    ingress: p.ingress,
    ...(p.local ? { local: p.local } : {}),
    vips: vips.sort(),
    peers: [...peers].map(([ip, vtep]) => ({ ip, vtep })).sort((a, b) => compareText(a.ip, b.ip)),
  };
}

/** The resolver's names of a plan: its services, and the tasks on other nodes by name and alias. */
export function clusterNamesOf(p: NetworkPlanView): {
  services: ServiceNames[];
  containers: ContainerNames[];
} {
  // Ingress carries only the routing mesh: names are answered on the tasks' own networks.
  if (p.ingress) return { services: [], containers: [] };
  const services: ServiceNames[] = p.services.map((s) => ({
    name: s.name,
    endpointMode: s.dnsrr ? 'dnsrr' : 'vip',
    ...(s.vip && !s.dnsrr ? { vip: s.vip } : {}),
    tasks: p.endpoints.filter((e) => e.serviceId === s.id && e.running).map((e) => e.address),
    aliases: s.aliases,
  }));
  const containers: ContainerNames[] = p.endpoints
    .filter((e) => e.taskId && e.nodeId !== p.nodeId && e.running)
    .map((e) => ({ name: e.name, id: e.taskId, aliases: e.aliases, address: e.address }));
  return { services, containers };
}

const backendsOf = (p: NetworkPlanView, serviceId: string): Backend[] => {
  const seen = new Set<string>();
  const out: Backend[] = [];
  for (const e of p.endpoints)
    if (e.serviceId === serviceId && e.running && !seen.has(e.address)) {
      seen.add(e.address);
      out.push({ address: e.address, local: e.nodeId === p.nodeId });
    }
  return out;
};

/**
 * The load balancer's state: a VIP per (service, overlay) on every port (as docker's IPVS fwmark), the
 * ingress-mode published ports of the services on ingress (the routing mesh, to running tasks on any node),
 * and every overlay subnet for hairpin masquerade. Host-mode ports are the executor's (a port binding on
 * the task's own container), not the mesh's.
 */
export function lbStateOf(plans: readonly NetworkPlanView[]): LbState {
  const services: VipService[] = [];
  const published = new Map<string, PublishedPort>();
  for (const p of plans) {
    for (const s of p.services) {
      if (p.ingress) {
        for (const port of s.ports) {
          if (port.mode !== 'ingress' || !port.published) continue;
          const key = `${port.protocol}/${port.published}`;
          if (published.has(key)) continue;
          published.set(key, {
            protocol: port.protocol,
            published: port.published,
            target: port.target,
            mode: 'ingress',
            backends: backendsOf(p, s.id),
          });
        }
        continue;
      }
      if (!s.vip || s.dnsrr) continue;
      services.push({
        id: `${s.id}_${p.id}`.replace(/[^A-Za-z0-9_]/g, '').slice(0, 64),
        vip: s.vip,
        ports: [
          { protocol: 'tcp', port: 0 },
          { protocol: 'udp', port: 0 },
        ],
        backends: backendsOf(p, s.id),
      });
    }
  }
  return {
    services,
    published: [...published.values()],
    hairpinSubnets: [...new Set(plans.map((p) => p.subnet))].sort(),
  };
}

export class ClusterNetworks {
  private queue: Promise<void> = Promise.resolve();
  private last: NetworkPlanView[] = [];
  /** Set while an overlay that left the plans is still in use: another look a second later. */
  private again: NodeJS.Timeout | undefined;

  constructor(private readonly o: ClusterNetworksOptions) {}

  /** The whole set of plans (runs after the previous apply; failures are logged, the next apply retries). */
  apply(plans: readonly NetworkPlanView[]): Promise<void> {
    const run = () => this.doApply([...plans]);
    const p = this.queue.then(run, run);
    this.queue = p.catch((e) => this.o.log?.(`network: cluster plans: ${(e as Error).message}`));
    return p;
  }

  /** Stops the backstop timer (shoald's stop). */
  close(): void {
    clearTimeout(this.again);
  }

  /** Tries again to remove overlays that were still in use (a container on them went away). */
  retry(): Promise<void> {
    return this.apply(this.last);
  }

  private async doApply(plans: NetworkPlanView[]): Promise<void> {
    this.last = plans;
    const failures: string[] = [];
    // Overlays that left the plans go first: a network made since may have been given the VXLAN id of
    // one of them (ids are reused lowest-first), and the kernel takes one device per id.
    const wanted = new Set(plans.map((p) => p.id));
    let busy = false;
    for (const id of this.o.network.overlayIds())
      if (!wanted.has(id))
        busy = !(await this.o.network.dropOverlay(id).catch((e) => failures.push(`${id}: ${e}`))) || busy;
    for (const p of plans) {
      try {
        await this.o.network.ensureOverlay(overlaySpecOf(p));
        this.o.resolver?.setCluster(p.id, clusterNamesOf(p));
      } catch (e) {
        failures.push(`${p.name}: ${(e as Error).message}`);
      }
    }
    // Its containers go on their own schedule (the executor's); a release also calls retry, this is the
    // backstop for one released while the plans still named the network, and for a plan that failed (an
    // overlay still held by a container of the one whose VXLAN id it took).
    clearTimeout(this.again);
    this.again =
      busy || failures.length ? setTimeout(() => void this.retry().catch(() => {}), 1000) : undefined;
    this.again?.unref();
    await this.o.lb?.update(lbStateOf(plans)).catch((e) => failures.push(`load balancer: ${e}`));
    if (failures.length) throw new ShoalError('internal', failures.join('; '));
  }
}
