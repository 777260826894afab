// What the load balancer is told: the services with a VIP on this node's networks, the published ports,
// and which local subnets need hairpin masquerade. Validation names the bad field and happens before any
// nftables text is produced, so bad input never reaches the kernel.

import { isIPv4 } from 'node:net';
import { invalidArgument } from '../../../common/errors.js';

export type Protocol = 'tcp' | 'udp';

export interface Backend {
  address: string;
  /** True when the task runs on this node (its replies route back through us); false: on another node. */
  local: boolean;
}

export interface ServicePort {
  protocol: Protocol;
  /** The port on the VIP; traffic keeps it (a VIP's port is the task's port, as in docker). 0: every port
   * of the protocol (a swarm service's VIP forwards all ports, declared or not, as docker's IPVS fwmark). */
  port: number;
}

export interface VipService {
  /** Unique on the node; [A-Za-z0-9_]{1,64} (a swarm service id fits): it names the chain and map. */
  id: string;
  vip: string;
  ports: readonly ServicePort[];
  /** Healthy running tasks only; empty: connections are refused (TCP reset / ICMP unreachable). */
  backends: readonly Backend[];
}

export interface PublishedPort {
  protocol: Protocol;
  published: number;
  target: number;
  /** ingress: the routing mesh, backends anywhere; host: only tasks on this node (all `local`). */
  mode: 'ingress' | 'host';
  backends: readonly Backend[];
}

export interface LbState {
  services: readonly VipService[];
  published: readonly PublishedPort[];
  /** CIDRs of this node's local networks (bridges, overlays): a client and a backend in the same one
   * reach each other without us on the way back, so such connections are masqueraded (hairpin). */
  hairpinSubnets: readonly string[];
}

export interface LbTable {
  family: 'ip' | 'inet';
  name: string;
}

export interface LbOptions {
  /** The packet-mark bit that tells our postrouting chain a connection was balanced by us (default 0x2000). */
  markBit?: number;
  /** true (default): create the base chains hooked at nat prerouting/output/postrouting; false: only
   * regular chains `lb_prerouting`, `lb_output`, `lb_postrouting` for the caller to jump to. */
  hooks?: boolean;
}

export const EMPTY_STATE: LbState = { services: [], published: [], hairpinSubnets: [] };

const ID = /^[A-Za-z0-9_]{1,64}$/;
const TABLE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export function validateTable(t: LbTable): void {
  if (t.family !== 'ip' && t.family !== 'inet')
    throw invalidArgument('table.family', `"${t.family}" is not ip or inet`);
  if (!TABLE.test(t.name))
    throw invalidArgument('table.name', `"${t.name}" is not a table name ([A-Za-z][A-Za-z0-9_]*)`);
}

export function validateOptions(o: LbOptions): void {
  const m = o.markBit;
  if (m !== undefined && (!Number.isInteger(m) || m <= 0 || m > 0xffffffff || (m & (m - 1)) !== 0)) {
    throw invalidArgument('options.markBit', `${m} is not a single bit of a 32-bit mark`);
  }
}

function checkProtocol(p: unknown, field: string): void {
  if (p !== 'tcp' && p !== 'udp') throw invalidArgument(field, `${JSON.stringify(p)} is not tcp or udp`);
}

function checkPort(p: unknown, field: string): void {
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
    throw invalidArgument(field, `${JSON.stringify(p)} is not a port (1-65535)`);
  }
}

function checkAddress(a: unknown, field: string): void {
  if (typeof a !== 'string' || !isIPv4(a))
    throw invalidArgument(field, `${JSON.stringify(a)} is not an IPv4 address`);
}

function checkBackends(bs: readonly Backend[], field: string, hostMode: boolean): void {
  if (!Array.isArray(bs)) throw invalidArgument(field, 'is not a list');
  const seen = new Set<string>();
  bs.forEach((b, i) => {
    checkAddress(b?.address, `${field}[${i}].address`);
    if (typeof b.local !== 'boolean') throw invalidArgument(`${field}[${i}].local`, 'is not true or false');
    if (hostMode && !b.local) {
      throw invalidArgument(
        `${field}[${i}].local`,
        'a host-mode published port reaches only tasks on this node',
      );
    }
    if (seen.has(b.address)) throw invalidArgument(`${field}[${i}].address`, `${b.address} is listed twice`);
    seen.add(b.address);
  });
}

/** `a.b.c.d/n` with host bits zero. */
export function checkSubnet(s: unknown, field: string): void {
  const m = typeof s === 'string' ? /^([0-9.]+)\/(\d{1,2})$/.exec(s) : null;
  if (!m || !isIPv4(m[1]) || Number(m[2]) > 32)
    throw invalidArgument(field, `${JSON.stringify(s)} is not an IPv4 CIDR`);
  const bits = Number(m[2]);
  const n = m[1].split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const host = bits === 32 ? 0 : n % 2 ** (32 - bits);
  if (host !== 0) throw invalidArgument(field, `${s} has host bits set`);
}

/** Throws an invalid_argument ShoalError naming the first bad field. */
export function validateState(s: LbState): void {
  for (const f of ['services', 'published', 'hairpinSubnets'] as const) {
    if (!Array.isArray(s?.[f])) throw invalidArgument(f, 'is not a list');
  }
  const ids = new Set<string>();
  const frontends = new Set<string>();
  s.services.forEach((svc, i) => {
    const f = `services[${i}]`;
    if (typeof svc?.id !== 'string' || !ID.test(svc.id)) {
      throw invalidArgument(`${f}.id`, `${JSON.stringify(svc?.id)} is not an id ([A-Za-z0-9_]{1,64})`);
    }
    if (ids.has(svc.id)) throw invalidArgument(`${f}.id`, `${svc.id} is listed twice`);
    ids.add(svc.id);
    checkAddress(svc.vip, `${f}.vip`);
    if (!Array.isArray(svc.ports)) throw invalidArgument(`${f}.ports`, 'is not a list');
    svc.ports.forEach((p, j) => {
      checkProtocol(p?.protocol, `${f}.ports[${j}].protocol`);
      if (p?.port !== 0) checkPort(p.port, `${f}.ports[${j}].port`);
      const k = `${svc.vip}/${p.protocol}/${p.port}`;
      if (frontends.has(k))
        throw invalidArgument(`${f}.ports[${j}]`, `${svc.vip} ${p.port}/${p.protocol} is taken`);
      frontends.add(k);
    });
    checkBackends(svc.backends, `${f}.backends`, false);
  });
  const published = new Set<string>();
  s.published.forEach((p, i) => {
    const f = `published[${i}]`;
    checkProtocol(p?.protocol, `${f}.protocol`);
    checkPort(p.published, `${f}.published`);
    checkPort(p.target, `${f}.target`);
    if (p.mode !== 'ingress' && p.mode !== 'host') {
      throw invalidArgument(`${f}.mode`, `${JSON.stringify(p.mode)} is not ingress or host`);
    }
    const k = `${p.protocol}/${p.published}`;
    if (published.has(k))
      throw invalidArgument(`${f}.published`, `${p.published}/${p.protocol} is published twice`);
    published.add(k);
    checkBackends(p.backends, `${f}.backends`, p.mode === 'host');
  });
  s.hairpinSubnets.forEach((c, i) => {
    checkSubnet(c, `hairpinSubnets[${i}]`);
  });
}
