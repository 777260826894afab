// Pure pieces of a swarm overlay on one node: device names, and the netlink operations that take the
// VXLAN device's forwarding entries and the bridge's VIPs from what is programmed to what the plan says.
// Each remote endpoint gets a neighbour entry (its IP → its MAC, so the device answers ARP itself: proxy)
// and an FDB entry (its MAC → the VTEP of its node); nothing is learned and nothing is flooded.
import type { NetOp } from '../engine/index.js';
import { macFor, parseIp } from './ipam.js';
import type { OverlayPeer } from './types.js';

/** What the dataplane is told of one overlay (from the dispatcher's plan, translated by the agent). */
export interface OverlaySpec {
  id: string;
  name: string;
  vni: number;
  subnet: string;
  gateway: string;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  /** The node's own address on the network (CIDR), when allocated. */
  local?: string;
  /** The VIPs of services on this network (held on the bridge as /32, so local tasks' ARP is answered). */
  vips: string[];
  /** The endpoints on other nodes. */
  peers: OverlayPeer[];
}

/** `shob<id10>` (bridge) and `shox<id10>` (VXLAN): 14 characters, under IFNAMSIZ. */
export function overlayDevices(id: string): { bridge: string; vxlan: string } {
  return { bridge: `shob${id.slice(0, 10)}`, vxlan: `shox${id.slice(0, 10)}` };
}

const peerKey = (p: OverlayPeer) => `${p.ip}@${p.vtep}`;

/** Removals first (a peer that moved node is deleted, then added with its new VTEP), then additions. */
export function peerOps(
  vxlan: string,
  before: readonly OverlayPeer[],
  after: readonly OverlayPeer[],
): NetOp[] {
  const had = new Map(before.map((p) => [peerKey(p), p]));
  const want = new Map(after.map((p) => [peerKey(p), p]));
  const ops: NetOp[] = [];
  for (const [k, p] of had) {
    if (want.has(k)) continue;
    const mac = macFor(parseIp(p.ip, 'peer'));
    ops.push({ op: 'fdb-del', dev: vxlan, mac, ip: p.vtep }, { op: 'neigh-del', dev: vxlan, ip: p.ip });
  }
  for (const [k, p] of want) {
    if (had.has(k)) continue;
    const mac = macFor(parseIp(p.ip, 'peer'));
    ops.push({ op: 'neigh-add', dev: vxlan, ip: p.ip, mac }, { op: 'fdb-add', dev: vxlan, mac, ip: p.vtep });
  }
  return ops;
}

export function vipOps(bridge: string, before: readonly string[], after: readonly string[]): NetOp[] {
  const ops: NetOp[] = [];
  for (const v of before)
    if (!after.includes(v)) ops.push({ op: 'addr-del', name: bridge, ip: v, prefix: 32 });
  for (const v of after)
    if (!before.includes(v)) ops.push({ op: 'addr-add', name: bridge, ip: v, prefix: 32 });
  return ops;
}
