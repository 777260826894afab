// A network's own allocation, decided when it is created: its subnets (explicit ones checked, missing ones cut
// from the cluster's default address pool), gateways, and its VXLAN id. Pure: the existing networks and the
// cluster come in, the allocated IPAM and driver state (or an invalid_argument naming the field) come out.
import { invalidArgument } from '../../common/errors.js';
import type { Cluster, Network } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { NetworkSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import type { Driver, IpamConfig, IpamOptions } from '../../proto/gen/shoal/swarm/v1/types.js';
import {
  blockSize,
  type Cidr,
  contains,
  formatCidr,
  formatIp,
  lastOf,
  overlaps,
  parseCidr,
  parseIp,
  within,
} from './ipv4.js';

/** Docker's defaults (swarm init without --default-addr-pool). */
export const DEFAULT_ADDRESS_POOL = ['10.0.0.0/8'];
export const DEFAULT_SUBNET_SIZE = 24;
/** VXLAN ids start here, as Docker's overlay driver does (the ingress network, made first, gets 4096). */
export const FIRST_VNI = 4096;
const MAX_VNI = 2 ** 24 - 1;
export const VNI_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
export const OVERLAY = 'overlay';

/** The subnets a stored network holds (its allocated IPAM). */
export function subnetsOf(n: Network): Cidr[] {
  return (n.ipam?.configs ?? []).map((c) => parseCidr(c.subnet)).filter((c): c is Cidr => c !== undefined);
}

export function vniOf(n: Network): number | undefined {
  const v = Number(n.driverState?.options?.[VNI_OPTION] ?? Number.NaN);
  return Number.isInteger(v) ? v : undefined;
}

/** The default pools and subnet size of the cluster (checked; Docker's when unset). */
export function addressPoolOf(cluster: Cluster | undefined): { pools: Cidr[]; size: number } {
  const raw = cluster?.defaultAddressPool.length ? cluster.defaultAddressPool : DEFAULT_ADDRESS_POOL;
  const size = cluster?.subnetSize || DEFAULT_SUBNET_SIZE;
  return { pools: raw.map((p) => parseCidr(p)).filter((c): c is Cidr => c !== undefined), size };
}

/** Checks a --default-addr-pool / --default-addr-pool-mask-length pair (swarm init). */
export function checkAddressPool(pools: readonly string[], size: number): void {
  const parsed: Cidr[] = [];
  (pools.length ? pools : DEFAULT_ADDRESS_POOL).forEach((p, i) => {
    const c = parseCidr(p);
    if (!c) throw invalidArgument(`DefaultAddrPool[${i}]`, `invalid address pool "${p}": not an IPv4 CIDR`);
    if (parsed.some((q) => overlaps(q, c)))
      throw invalidArgument(`DefaultAddrPool[${i}]`, `address pool ${p} overlaps another pool`);
    if (size && size < c.prefix)
      throw invalidArgument(
        'SubnetSize',
        `subnet size /${size} is larger than the address pool ${p} (it must be at least /${c.prefix})`,
      );
    parsed.push(c);
  });
  if (size !== 0 && !(Number.isInteger(size) && size >= 1 && size <= 29))
    throw invalidArgument('SubnetSize', `invalid subnet size ${size}: must be between 1 and 29`);
}

/** The first block of `size` inside `pools` that overlaps none of `taken`. */
export function pickSubnet(pools: readonly Cidr[], size: number, taken: readonly Cidr[]): Cidr | undefined {
  const step = blockSize(size);
  for (const pool of pools) {
    if (size < pool.prefix) continue;
    const end = lastOf(pool);
    let base = pool.base;
    while (base + step - 1 <= end) {
      const cand = { base, prefix: size };
      const hit = taken.find((t) => overlaps(t, cand));
      if (!hit) return cand;
      // Jump past the block in the way, to the next aligned candidate.
      base = Math.ceil((lastOf(hit) + 1) / step) * step;
    }
  }
  return undefined;
}

export function pickVni(taken: ReadonlySet<number>): number | undefined {
  for (let v = FIRST_VNI; v <= MAX_VNI; v++) if (!taken.has(v)) return v;
  return undefined;
}

export interface NetworkAllocation {
  ipam: IpamOptions;
  driverState: Driver;
}

/**
 * Allocates a new network's subnets, gateways and VXLAN id against the networks that exist. Explicit subnets
 * must be valid IPv4 CIDRs that overlap no other network's; a gateway and an IP range must lie inside their
 * subnet. A config without a subnet (or no config) gets the first free block of the default pool.
 */
export function allocateNetwork(
  spec: NetworkSpec,
  existing: readonly Network[],
  cluster: Cluster | undefined,
): NetworkAllocation {
  // Lowest subnet first, so an overlap names the same network whatever the ids.
  const taken = existing
    .flatMap((n) => subnetsOf(n).map((c) => ({ c, name: n.spec?.annotations?.name ?? n.id })))
    .sort((a, b) => a.c.base - b.c.base);
  const configs = spec.ipam?.configs.length
    ? spec.ipam.configs
    : [{ subnet: '', range: '', gateway: '', auxAddresses: {} }];
  const explicit = configs.map((c, i) => {
    const f = `spec.ipam.configs[${i}]`;
    if (c.subnet === '') {
      if (c.gateway !== '' || c.range !== '')
        throw invalidArgument(`${f}.subnet`, 'a gateway or an IP range needs a subnet');
      return undefined;
    }
    const sub = parseCidr(c.subnet);
    if (!sub) {
      const hint = c.subnet.includes(':') ? ' (IPv6 is not supported)' : '';
      throw invalidArgument(
        `${f}.subnet`,
        `invalid subnet "${c.subnet}": not an IPv4 CIDR such as 10.10.0.0/24${hint}`,
      );
    }
    if (sub.prefix > 30)
      throw invalidArgument(
        `${f}.subnet`,
        `subnet ${c.subnet} is too small: at most /30 leaves room for addresses`,
      );
    return sub;
  });
  // Explicit subnets against each other and against every other network (before picking any automatic one).
  explicit.forEach((sub, i) => {
    if (!sub) return;
    const f = `spec.ipam.configs[${i}].subnet`;
    const other = taken.find((t) => overlaps(t.c, sub));
    if (other)
      throw invalidArgument(
        f,
        `subnet ${formatCidr(sub)} overlaps ${formatCidr(other.c)} of network ${other.name}`,
      );
    explicit.forEach((o, j) => {
      if (o && j < i && overlaps(o, sub))
        throw invalidArgument(f, `subnet ${formatCidr(sub)} overlaps ${formatCidr(o)} of configs[${j}]`);
    });
  });
  const used = [...taken.map((t) => t.c), ...explicit.filter((c): c is Cidr => c !== undefined)];
  const { pools, size } = addressPoolOf(cluster);
  const out: IpamConfig[] = configs.map((c, i) => {
    const f = `spec.ipam.configs[${i}]`;
    let sub = explicit[i];
    if (!sub) {
      sub = pickSubnet(pools, size, used);
      if (!sub)
        throw invalidArgument(
          `${f}.subnet`,
          `no free /${size} subnet is left in the default address pool (${pools.map(formatCidr).join(', ')})`,
        );
      used.push(sub);
    }
    if (c.range !== '') {
      const r = parseCidr(c.range);
      if (!r) throw invalidArgument(`${f}.range`, `invalid IP range "${c.range}": not an IPv4 CIDR`);
      if (!within(r, sub))
        throw invalidArgument(`${f}.range`, `IP range ${c.range} is not inside subnet ${formatCidr(sub)}`);
    }
    let gw: number;
    if (c.gateway !== '') {
      const g = parseIp(c.gateway);
      if (g === undefined)
        throw invalidArgument(`${f}.gateway`, `invalid gateway "${c.gateway}": not an IPv4 address`);
      if (!contains(sub, g) || g === sub.base || g === lastOf(sub))
        throw invalidArgument(
          `${f}.gateway`,
          `gateway ${c.gateway} is not a usable address of subnet ${formatCidr(sub)}`,
        );
      gw = g;
    } else {
      gw = sub.base + 1;
    }
    for (const [k, v] of Object.entries(c.auxAddresses)) {
      const a = parseIp(v);
      if (a === undefined || !contains(sub, a))
        throw invalidArgument(
          `${f}.aux_addresses`,
          `auxiliary address ${k}=${v} is not inside subnet ${formatCidr(sub)}`,
        );
    }
    return {
      subnet: formatCidr(sub),
      range: c.range,
      gateway: formatIp(gw),
      auxAddresses: { ...c.auxAddresses },
    };
  });
  const vni = pickVni(new Set(existing.map(vniOf).filter((v): v is number => v !== undefined)));
  if (vni === undefined) throw invalidArgument('spec', 'no VXLAN id is left');
  return {
    ipam: { driver: { name: spec.ipam?.driver?.name || 'default', options: {} }, configs: out },
    driverState: { name: spec.driverConfig?.name || OVERLAY, options: { [VNI_OPTION]: String(vni) } },
  };
}
