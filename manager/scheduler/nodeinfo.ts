// What the scheduler knows of each node while it places a batch: resources left, tasks per service, host ports
// in use. Built once from the store view, then updated as the pass assigns tasks, so one pass never
// overcommits a node however many tasks it places.

import type { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { PublishMode, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';

export interface NodeInfo {
  readonly node: Node;
  /** Capacity minus the reservations of the tasks holding the node. May go negative if the view was overcommitted. */
  nanoCpus: number;
  memoryBytes: number;
  /** Tasks meant to run here (desired ≤ RUNNING), all services. */
  tasks: number;
  /** The same, per service id. */
  byService: Map<string, number>;
  /** "protocol/port" of host-mode published ports held here. */
  hostPorts: Set<string>;
}

/** A task uses its node from assignment until the worker reports a terminal state (whatever its desired state). */
export const holdsNode = (t: Task): boolean =>
  t.nodeId !== '' &&
  t.status !== undefined &&
  t.status.state >= TaskState.TASK_STATE_ASSIGNED &&
  t.status.state < TaskState.TASK_STATE_COMPLETE;

/** Counted for spread and max-replicas: holding the node and still wanted. */
export const activeOnNode = (t: Task): boolean =>
  holdsNode(t) && t.desiredState <= TaskState.TASK_STATE_RUNNING;

export const reservationsOf = (t: Task) => ({
  nanoCpus: t.spec?.resources?.reservations?.nanoCpus ?? 0,
  memoryBytes: t.spec?.resources?.reservations?.memoryBytes ?? 0,
});

/** Host-mode published ports of a task, as "protocol/port" (the allocator's ports, else the spec's). */
export function hostPortsOf(t: Task): string[] {
  const ep = t.endpoint;
  const ports = ep?.ports.length ? ep.ports : (ep?.spec?.ports ?? []);
  return ports
    .filter((p) => p.publishMode === PublishMode.PUBLISH_MODE_HOST && p.publishedPort !== 0)
    .map((p) => `${p.protocol}/${p.publishedPort}`);
}

export function buildNodeInfos(nodes: readonly Node[], tasks: readonly Task[]): Map<string, NodeInfo> {
  const infos = new Map<string, NodeInfo>();
  for (const node of nodes) {
    const r = node.description?.resources;
    infos.set(node.id, {
      node,
      nanoCpus: r?.nanoCpus ?? 0,
      memoryBytes: r?.memoryBytes ?? 0,
      tasks: 0,
      byService: new Map(),
      hostPorts: new Set(),
    });
  }
  for (const t of tasks) {
    // A network attachment (a plain container's address on an overlay) takes nothing the scheduler weighs.
    if (!holdsNode(t) || isAttachment(t)) continue;
    const info = infos.get(t.nodeId);
    if (info) addTask(info, t);
  }
  return infos;
}

/** Accounts `t` (assigned to info's node) in the node's figures. */
export function addTask(info: NodeInfo, t: Task): void {
  const r = reservationsOf(t);
  info.nanoCpus -= r.nanoCpus;
  info.memoryBytes -= r.memoryBytes;
  for (const p of hostPortsOf(t)) info.hostPorts.add(p);
  if (t.desiredState <= TaskState.TASK_STATE_RUNNING) {
    info.tasks++;
    info.byService.set(t.serviceId, (info.byService.get(t.serviceId) ?? 0) + 1);
  }
}
