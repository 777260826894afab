// The allocator's pure core: given a store view and a pass's decisions (the orchestrator's, or none), adds
// what networking needs before a task may be scheduled — a service's published ports and VIPs, a task's
// address on each of its networks, a node's own address on each overlay it has tasks on — and moves
// allocated tasks from NEW to PENDING. Everything it decides is written in the same transaction as the
// decisions it extends (one commit), and everything it knows comes from the view (NetworkAddresses), so a new
// leader resumes with no memory of the old one.
import type {
  Network,
  NetworkAttachment,
  Node,
  Service,
  Task,
} from '../../proto/gen/shoal/swarm/v1/objects.js';
import {
  type Endpoint,
  EndpointMode,
  type EndpointVirtualIp,
  type PortConfig,
  PortProtocol,
  PublishMode,
  TaskState,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import { type Decisions, emptyDecisions } from '../orchestrator/decisions.js';
import { type Scope, tasksInScope } from '../orchestrator/scope.js';
import type { ReadTx } from '../store/index.js';
import { NetworkAddresses } from './addresses.js';
import { ATTACHED_MESSAGE, isAttachment } from './attachments.js';

/** Docker's range for published ports the user left to the swarm (PublishedPort 0, ingress mode). */
export const DYNAMIC_PORT_FIRST = 30000;
export const DYNAMIC_PORT_LAST = 32767;
export const PENDING_MESSAGE = 'pending task scheduling';

const isIngressPort = (p: PortConfig): boolean => p.publishMode !== PublishMode.PUBLISH_MODE_HOST;
const portKey = (p: PortConfig): string =>
  `${p.protocol || PortProtocol.PORT_PROTOCOL_TCP}/${p.publishedPort}`;

/** Whether a service publishes ports through the routing mesh (its tasks then join the ingress network). */
export const publishesIngress = (ports: readonly PortConfig[]): boolean => ports.some(isIngressPort);

class Pass {
  private addrs: NetworkAddresses | undefined;
  private portsInUse: Set<string> | undefined;
  readonly networks: Map<string, Network>;
  readonly ingress: Network | undefined;
  /** Each service as this pass leaves it. */
  readonly services = new Map<string, Service>();
  /** Services whose endpoint could not be allocated (their tasks wait). */
  readonly unallocated = new Set<string>();

  constructor(
    readonly view: ReadTx,
    readonly now: number,
  ) {
    this.networks = new Map(view.list('network').map((n) => [n.id, n]));
    this.ingress = [...this.networks.values()].find((n) => n.spec?.ingress);
  }

  get pool(): NetworkAddresses {
    this.addrs ??= NetworkAddresses.fromView(this.view);
    return this.addrs;
  }

  resolve(target: string): Network | undefined {
    return this.networks.get(target) ?? this.view.lookup('network', target);
  }

  /** The published ports other services hold ("proto/port"), for picking a free dynamic one. */
  private usedPorts(): Set<string> {
    if (!this.portsInUse) {
      this.portsInUse = new Set();
      for (const s of this.view.list('service')) {
        for (const p of s.endpoint?.ports ?? []) if (p.publishedPort) this.portsInUse.add(portKey(p));
        for (const p of s.spec?.endpointSpec?.ports ?? [])
          if (p.publishedPort) this.portsInUse.add(portKey(p));
      }
    }
    return this.portsInUse;
  }

  pickPort(protocol: PortProtocol): number | undefined {
    const used = this.usedPorts();
    for (let port = DYNAMIC_PORT_FIRST; port <= DYNAMIC_PORT_LAST; port++) {
      const key = portKey({ protocol, publishedPort: port } as PortConfig);
      if (!used.has(key)) {
        used.add(key);
        return port;
      }
    }
    return undefined;
  }
}

/** The networks a service's VIPs belong on: ingress when it publishes there, then its own (vip mode only). */
function vipNetworks(p: Pass, s: Service, ports: readonly PortConfig[]): string[] | string {
  const spec = s.spec;
  if ((spec?.endpointSpec?.mode ?? EndpointMode.ENDPOINT_MODE_VIP) === EndpointMode.ENDPOINT_MODE_DNSRR)
    return [];
  const out: string[] = [];
  if (publishesIngress(ports)) {
    if (!p.ingress) return 'the ingress network is not present';
    out.push(p.ingress.id);
  }
  for (const n of spec?.taskTemplate?.networks ?? []) {
    const net = p.resolve(n.target);
    if (!net) return `network ${n.target} not found`;
    if (!out.includes(net.id)) out.push(net.id);
  }
  return out;
}

/** The endpoint a service should have, reusing what it holds; undefined when it already has it. */
function allocateService(p: Pass, s: Service): Service | undefined {
  const specPorts = s.spec?.endpointSpec?.ports ?? [];
  const cur: Endpoint = s.endpoint ?? { spec: s.spec?.endpointSpec, ports: [], virtualIps: [] };
  const nets = s.spec?.taskTemplate?.networks ?? [];
  // The common case (no ports, no networks, nothing held): nothing to look at.
  if (specPorts.length === 0 && nets.length === 0 && cur.ports.length === 0 && cur.virtualIps.length === 0)
    return undefined;
  // Ports: the spec's, a dynamic one kept from before or picked for each ingress port left at 0.
  const ports: PortConfig[] = [];
  for (const sp of specPorts) {
    if (sp.publishedPort !== 0 || !isIngressPort(sp)) {
      ports.push({ ...sp });
      continue;
    }
    const kept = cur.ports.find(
      (c) =>
        c.targetPort === sp.targetPort &&
        c.protocol === sp.protocol &&
        isIngressPort(c) &&
        c.publishedPort >= DYNAMIC_PORT_FIRST &&
        !ports.some((q) => q.publishedPort === c.publishedPort && q.protocol === c.protocol),
    );
    const port = kept?.publishedPort ?? p.pickPort(sp.protocol);
    if (port === undefined) return markUnallocated(p, s);
    ports.push({ ...sp, publishedPort: port });
  }
  const want = vipNetworks(p, s, ports);
  if (typeof want === 'string') return markUnallocated(p, s);
  const held = new Map(cur.virtualIps.map((v) => [v.networkId, v]));
  const sameVips =
    want.length === cur.virtualIps.length && want.every((id, i) => cur.virtualIps[i]?.networkId === id);
  if (sameVips && samePorts(ports, cur.ports)) return undefined;
  const vips: EndpointVirtualIp[] = [];
  const taken: EndpointVirtualIp[] = [];
  for (const id of want) {
    const h = held.get(id);
    if (h) {
      vips.push(h);
      continue;
    }
    const addr = p.pool.take(id);
    if (!addr) {
      for (const t of taken) p.pool.release(t.networkId, t.addr);
      return markUnallocated(p, s);
    }
    const v = { networkId: id, addr };
    taken.push(v);
    vips.push(v);
  }
  for (const v of cur.virtualIps) if (!want.includes(v.networkId)) p.pool.release(v.networkId, v.addr);
  return { ...s, endpoint: { spec: cur.spec, ports, virtualIps: vips } };
}

function markUnallocated(p: Pass, s: Service): undefined {
  p.unallocated.add(s.id);
  return undefined;
}

const samePorts = (a: readonly PortConfig[], b: readonly PortConfig[]): boolean =>
  a.length === b.length &&
  a.every(
    (x, i) =>
      x.name === b[i]!.name &&
      x.protocol === b[i]!.protocol &&
      x.targetPort === b[i]!.targetPort &&
      x.publishedPort === b[i]!.publishedPort &&
      x.publishMode === b[i]!.publishMode,
  );

/** A NEW task's attachments and endpoint, or why it cannot have them yet. */
function allocateTask(p: Pass, t: Task): Task | string {
  const attachment = isAttachment(t);
  const svc = p.services.get(t.serviceId);
  if (!svc && !attachment) return 'its service is gone';
  if (svc && p.unallocated.has(svc.id)) return 'its service could not be allocated';
  const endpoint = svc?.endpoint;
  const wants: { net: Network; aliases: string[]; opts: Record<string, string> }[] = [];
  if (endpoint && publishesIngress(endpoint.ports)) {
    if (!p.ingress) return 'the ingress network is not present';
    wants.push({ net: p.ingress, aliases: [], opts: {} });
  }
  for (const n of t.spec?.networks ?? []) {
    const net = p.resolve(n.target);
    if (!net) return `network ${n.target} not found`;
    if (wants.some((w) => w.net.id === net.id)) continue;
    wants.push({ net, aliases: [...n.aliases], opts: { ...n.driverOpts } });
  }
  const networks: NetworkAttachment[] = [];
  for (const w of wants) {
    const addr = p.pool.take(w.net.id);
    if (!addr) {
      for (const a of networks) p.pool.release(a.network!.id, a.addresses[0]!);
      return `no IP address is left on network ${w.net.spec?.annotations?.name ?? w.net.id}`;
    }
    networks.push({ network: w.net, addresses: [addr], aliases: w.aliases, driverAttachmentOpts: w.opts });
  }
  return {
    ...t,
    networks,
    // The service's allocated ports and VIPs travel with the task (swarmkit's copy); untouched otherwise.
    endpoint: endpoint && (endpoint.ports.length || endpoint.virtualIps.length) ? endpoint : t.endpoint,
    status: {
      ...(t.status as NonNullable<Task['status']>),
      // An attachment is bound to its node and runs nothing: allocated is all it needs to be.
      state: attachment ? TaskState.TASK_STATE_RUNNING : TaskState.TASK_STATE_PENDING,
      message: attachment ? ATTACHED_MESSAGE : PENDING_MESSAGE,
      timestamp: p.now,
    },
  };
}

const needsAllocation = (t: Task): boolean =>
  t.status?.state === TaskState.TASK_STATE_NEW && t.desiredState <= TaskState.TASK_STATE_RUNNING;

/** The node's attachments as they should be: one per network its tasks use, and ingress for every node. */
function allocateNode(p: Pass, n: Node, wanted: Set<string> | undefined): Node | undefined {
  const want = new Set(wanted);
  if (p.ingress) want.add(p.ingress.id);
  const have = n.attachments.filter(
    (a) => a.network && want.has(a.network.id) && p.networks.has(a.network.id),
  );
  if (have.length === n.attachments.length && have.length === want.size) return undefined;
  for (const a of n.attachments)
    if (!have.includes(a)) for (const addr of a.addresses) p.pool.release(a.network?.id ?? '', addr);
  const attachments = [...have];
  for (const id of want) {
    if (attachments.some((a) => a.network?.id === id)) continue;
    const net = p.networks.get(id);
    const addr = net && p.pool.take(id);
    if (!net || !addr) continue;
    attachments.push({ network: net, addresses: [addr], aliases: [], driverAttachmentOpts: {} });
  }
  // Nothing could be added (a full network) and nothing was dropped: no write (it would repeat every pass).
  if (attachments.length === n.attachments.length && have.length === n.attachments.length) return undefined;
  return { ...n, attachments };
}

/** Extends `d` with the allocations of this pass (a new Decisions; `d` is not changed). */
export function allocate(view: ReadTx, d: Decisions = emptyDecisions(), now = 0, scope?: Scope): Decisions {
  const p = new Pass(view, now);
  const removedServices = new Set(d.removeServices.map((s) => s.id));
  const updateServices: Service[] = [...(d.updateServices ?? [])];
  const updatedServiceIds = new Set(updateServices.map((s) => s.id));
  for (const s of view.list('service')) {
    if (removedServices.has(s.id)) continue;
    const base = updateServices.find((u) => u.id === s.id) ?? s;
    const next = s.pendingDelete ? undefined : allocateService(p, base);
    if (next) {
      if (updatedServiceIds.has(s.id)) updateServices[updateServices.findIndex((u) => u.id === s.id)] = next;
      else updateServices.push(next);
    }
    p.services.set(s.id, next ?? base);
  }

  // Tasks: the pass's own first (its creates and updates), then NEW tasks already in the store (of the
  // scope only: a task waiting for an allocation waits for a change of its service or of the networks, which
  // put it in scope).
  const creates = d.creates.map((t) => allocateOrKeep(p, t).task);
  const updates: Task[] = [];
  const touched = new Set<string>([...d.creates, ...d.updates, ...d.removes].map((t) => t.id));
  for (const t of d.updates) updates.push(allocateOrKeep(p, t).task);
  for (const t of scope ? tasksInScope(view, scope) : view.list('task')) {
    if (touched.has(t.id) || !needsAllocation(t)) continue;
    const r = allocateOrKeep(p, t);
    if (r.changed) updates.push(r.task);
  }

  // Node attachments: the networks of every task bound to the node (history included, so a rolling
  // replacement keeps the node's address), and ingress; with a scope, of the nodes whose tasks changed.
  let updateNodes: Node[] = [...(d.updateNodes ?? [])];
  if (p.networks.size > 0) {
    const byNode = new Map<string, Set<string>>();
    const removed = new Set(d.removes.map((t) => t.id));
    const note = (t: Task) => {
      if (!t.nodeId || t.networks.length === 0) return;
      const s = byNode.get(t.nodeId) ?? new Set<string>();
      for (const a of t.networks) if (a.network) s.add(a.network.id);
      byNode.set(t.nodeId, s);
    };
    const decided = [...creates, ...updates];
    let nodes: readonly Node[];
    if (scope) {
      const ids = new Set(scope.nodes);
      // Only tasks with networks change a node's attachments (a pass that places 2,000 plain tasks would
      // otherwise look at every node, and count every address to retry a full ingress network).
      for (const t of [...decided, ...d.removes]) if (t.nodeId && t.networks.length > 0) ids.add(t.nodeId);
      nodes = [...ids].sort().flatMap((id) => view.get('node', id) ?? []);
      for (const n of nodes)
        for (const t of view.findUnordered('task', 'node', n.id)) if (!touched.has(t.id)) note(t);
    } else {
      nodes = view.list('node');
      for (const t of view.list('task')) if (!touched.has(t.id)) note(t);
    }
    for (const t of decided) if (!removed.has(t.id)) note(t);
    for (const n of nodes) {
      const base = updateNodes.find((u) => u.id === n.id) ?? n;
      const next = allocateNode(p, base, byNode.get(n.id));
      if (next) updateNodes = [...updateNodes.filter((u) => u.id !== n.id), next];
    }
  }
  return { ...d, creates, updates, updateServices, updateNodes };
}

function allocateOrKeep(p: Pass, t: Task): { task: Task; changed: boolean } {
  if (!needsAllocation(t)) return { task: t, changed: false };
  const r = allocateTask(p, t);
  if (typeof r !== 'string') return { task: r, changed: true };
  const message = `waiting for network allocation: ${r}`;
  if (t.status?.message === message) return { task: t, changed: false };
  return { task: { ...t, status: { ...(t.status as NonNullable<Task['status']>), message } }, changed: true };
}
