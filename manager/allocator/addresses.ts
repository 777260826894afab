// The addresses in use on every network, rebuilt from the store: live tasks' attachments, services' VIPs and
// nodes' attachments. Nothing else is remembered, so a new leader (or the next pass) sees exactly what the
// store holds — a released address is simply one no live object carries any more.
import type { Network, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { ReadTx } from '../store/index.js';
import { parseAddrPrefix, parseCidr, parseIp } from './ipv4.js';
import { AddressPool } from './pool.js';

/**
 * A task that will never use its addresses again: its container stopped (observed past RUNNING: a stopped
 * task is never restarted, a replacement is a new task), or it is not wanted and never reached a node. Its
 * addresses are free again, though the task stays in the store as history.
 */
export const taskDead = (t: Task): boolean => {
  const state = t.status?.state ?? 0;
  return (
    state > TaskState.TASK_STATE_RUNNING ||
    (t.desiredState > TaskState.TASK_STATE_RUNNING && state < TaskState.TASK_STATE_ASSIGNED)
  );
};

/**
 * The networks whose subnets and VXLAN ids are taken: the store's, and removed ones still carried by tasks
 * whose containers have not stopped (`network rm` does not wait for them). Their nodes still hold the
 * overlay — a bridge on that subnet, a VXLAN device with that id, which the kernel allows once per node —
 * so a new network given either would fail to come up on those nodes until the old one drains.
 */
export function networksHolding(view: ReadTx): Network[] {
  const out = new Map(view.list('network').map((n) => [n.id, n]));
  for (const t of view.list('task')) {
    if (taskDead(t)) continue;
    for (const a of t.networks) {
      const n = a.network;
      if (!n?.id || out.has(n.id)) continue;
      // Named so that a refusal (an overlapping subnet) says why a network not in `network ls` is in the way.
      const name = `${n.spec?.annotations?.name ?? n.id} (removed; its tasks are still stopping)`;
      out.set(n.id, {
        ...n,
        spec: n.spec && { ...n.spec, annotations: { labels: {}, ...n.spec.annotations, name } },
      });
    }
  }
  return [...out.values()];
}

function poolsOf(n: Network): AddressPool[] {
  const out: AddressPool[] = [];
  for (const c of n.ipam?.configs ?? []) {
    const subnet = parseCidr(c.subnet);
    if (!subnet) continue;
    const range = (c.range && parseCidr(c.range)) || subnet;
    out.push(new AddressPool(subnet, range, c.gateway ? parseIp(c.gateway) : undefined));
  }
  return out;
}

export class NetworkAddresses {
  private readonly pools = new Map<string, AddressPool[]>();

  /** Every network's pool with what the store's live objects hold reserved. */
  static fromView(view: ReadTx): NetworkAddresses {
    const a = new NetworkAddresses();
    for (const n of view.list('network')) a.pools.set(n.id, poolsOf(n));
    for (const t of view.list('task')) {
      if (t.networks.length === 0 || taskDead(t)) continue;
      for (const att of t.networks) for (const addr of att.addresses) a.reserve(att.network?.id ?? '', addr);
    }
    for (const s of view.list('service'))
      for (const v of s.endpoint?.virtualIps ?? []) a.reserve(v.networkId, v.addr);
    for (const n of view.list('node'))
      for (const att of n.attachments)
        for (const addr of att.addresses) a.reserve(att.network?.id ?? '', addr);
    return a;
  }

  hasNetwork(networkId: string): boolean {
    return this.pools.has(networkId);
  }

  /** Marks `addr` ("ip/prefix") taken; false when the network is unknown, it is outside, or already taken. */
  reserve(networkId: string, addr: string): boolean {
    const ip = parseAddrPrefix(addr)?.addr;
    if (ip === undefined) return false;
    return (this.pools.get(networkId) ?? []).some((p) => p.reserve(ip));
  }

  /** The lowest free address of the network ("ip/prefix"), now taken; undefined when full or unknown. */
  take(networkId: string): string | undefined {
    for (const p of this.pools.get(networkId) ?? []) {
      const ip = p.take();
      if (ip !== undefined) return p.format(ip);
    }
    return undefined;
  }

  release(networkId: string, addr: string): void {
    const ip = parseAddrPrefix(addr)?.addr;
    if (ip === undefined) return;
    for (const p of this.pools.get(networkId) ?? []) if (p.has(ip)) p.release(ip);
  }

  /** Addresses taken on the network (tests). */
  inUse(networkId: string): number {
    return (this.pools.get(networkId) ?? []).reduce((n, p) => n + p.size, 0);
  }
}
