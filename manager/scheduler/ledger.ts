// What the scheduler keeps between passes: each node's accounting (buildNodeInfos' figures) and the tasks
// waiting to be placed, kept current from the store's events instead of rebuilt from every task at every pass.
// At 100,000 tasks a rebuild was 0.4–1 s of the leader's time per placement batch; an event costs a few map
// operations. The ledger is built from a view and then fed every change applied after it (Store.viewAndObserve),
// so infos() always equals buildNodeInfos(view's nodes, view's tasks) and pending() the view's schedulable
// tasks (ledger.property.test.ts checks both over random histories).

import type { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';
import type { ReadTx, StoreEvent } from '../store/index.js';
import { holdsNode, hostPortsOf, type NodeInfo, reservationsOf } from './nodeinfo.js';

/** What one task takes from its node (absent: nothing). */
interface Share {
  nodeId: string;
  nanoCpus: number;
  memoryBytes: number;
  /** Set when the task counts for spread and max-replicas (desired ≤ RUNNING). */
  serviceId: string | undefined;
  ports: string[];
}

/** The sum of the shares on one node id (kept whether or not the node exists: it may register again). */
interface Load {
  nanoCpus: number;
  memoryBytes: number;
  tasks: number;
  byService: Map<string, number>;
  ports: Map<string, number>;
}

export class NodeLedger {
  private readonly nodes = new Map<string, Node>();
  private readonly shares = new Map<string, Share>();
  private readonly loads = new Map<string, Load>();
  private readonly waiting = new Set<string>();

  constructor(
    private readonly isSchedulable: (t: Task) => boolean,
    nodes: readonly Node[],
    tasks: readonly Task[],
  ) {
    for (const n of nodes) this.nodes.set(n.id, n);
    for (const t of tasks) this.setTask(t);
  }

  static of(view: ReadTx, isSchedulable: (t: Task) => boolean): NodeLedger {
    return new NodeLedger(isSchedulable, view.list('node'), view.list('task'));
  }

  /** Applies the events of one change (in order). */
  apply(events: readonly StoreEvent[]): void {
    for (const e of events) {
      if (e.table === 'node') {
        if (e.kind === 'remove') this.nodes.delete(e.object.id);
        else this.nodes.set(e.object.id, e.object);
      } else if (e.table === 'task') {
        if (e.kind === 'remove') this.dropTask(e.object.id);
        else this.setTask(e.object);
      }
    }
  }

  /** Ids of the tasks waiting to be placed (the order is not meaningful). */
  pending(): string[] {
    return [...this.waiting];
  }

  /** Fresh figures for one pass (it may change them as it assigns; the ledger is not touched). */
  infos(): Map<string, NodeInfo> {
    const out = new Map<string, NodeInfo>();
    for (const node of this.nodes.values()) {
      const r = node.description?.resources;
      const load = this.loads.get(node.id);
      out.set(node.id, {
        node,
        nanoCpus: (r?.nanoCpus ?? 0) - (load?.nanoCpus ?? 0),
        memoryBytes: (r?.memoryBytes ?? 0) - (load?.memoryBytes ?? 0),
        tasks: load?.tasks ?? 0,
        byService: new Map(load?.byService),
        // bump() keeps only ports with a holder.
        hostPorts: new Set(load?.ports.keys()),
      });
    }
    return out;
  }

  private setTask(t: Task): void {
    if (this.isSchedulable(t)) this.waiting.add(t.id);
    else this.waiting.delete(t.id);
    const before = this.shares.get(t.id);
    // A network attachment (a plain container's address on an overlay) takes nothing the scheduler weighs.
    const share = holdsNode(t) && !isAttachment(t) ? shareOf(t) : undefined;
    // Most changes are status reports that leave the share as it was.
    if (before && share && sameShare(before, share)) return;
    this.dropShare(t.id);
    if (share) {
      this.shares.set(t.id, share);
      this.add(share, 1);
    }
  }

  private dropTask(id: string): void {
    this.waiting.delete(id);
    this.dropShare(id);
  }

  private dropShare(id: string): void {
    const share = this.shares.get(id);
    if (!share) return;
    this.shares.delete(id);
    this.add(share, -1);
  }

  private add(s: Share, sign: 1 | -1): void {
    let load = this.loads.get(s.nodeId);
    if (!load) {
      load = { nanoCpus: 0, memoryBytes: 0, tasks: 0, byService: new Map(), ports: new Map() };
      this.loads.set(s.nodeId, load);
    }
    load.nanoCpus += sign * s.nanoCpus;
    load.memoryBytes += sign * s.memoryBytes;
    for (const p of s.ports) bump(load.ports, p, sign);
    if (s.serviceId !== undefined) {
      load.tasks += sign;
      bump(load.byService, s.serviceId, sign);
    }
    const empty = load.tasks === 0 && load.ports.size === 0 && load.nanoCpus === 0 && load.memoryBytes === 0;
    if (empty) this.loads.delete(s.nodeId);
  }
}

function shareOf(t: Task): Share {
  const r = reservationsOf(t);
  return {
    nodeId: t.nodeId,
    nanoCpus: r.nanoCpus,
    memoryBytes: r.memoryBytes,
    serviceId: t.desiredState <= TaskState.TASK_STATE_RUNNING ? t.serviceId : undefined,
    ports: hostPortsOf(t),
  };
}

function sameShare(a: Share, b: Share): boolean {
  return (
    a.nodeId === b.nodeId &&
    a.nanoCpus === b.nanoCpus &&
    a.memoryBytes === b.memoryBytes &&
    a.serviceId === b.serviceId &&
    a.ports.length === b.ports.length &&
    a.ports.every((p, i) => p === b.ports[i])
  );
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n === 0) m.delete(key);
  else m.set(key, n);
}
