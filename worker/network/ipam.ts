// Local IPAM for bridge networks: IPv4 subnets as numbers, the lowest free address, docker's MACs.
// Pure; the manager keeps what is in use (persisted with each container's endpoints).
import { ShoalError } from '../../common/errors.js';

export interface Subnet {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

const bad = (field: string, msg: string) => new ShoalError('invalid_argument', msg, { field });

export function parseIp(s: string, field: string): number {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255))
    throw bad(field, `invalid ${field}: "${s}" is not an IPv4 address`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export const ipString = (n: number): string =>
  [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** "10.1.0.0/16" → its subnet; host bits must be zero (docker refuses "10.1.0.1/16" as a subnet too). */
export function parseSubnet(s: string, field = 'subnet'): Subnet {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m) throw bad(field, `invalid ${field}: "${s}" is not an IPv4 CIDR (like 10.1.0.0/24)`);
  const ip = parseIp(m[1], field);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30)
    throw bad(field, `invalid ${field}: "${s}": the prefix length must be from 8 to 30`);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (base !== ip)
    throw bad(
      field,
      `invalid ${field}: "${s}" has host bits set (did you mean ${ipString(base)}/${prefix}?)`,
    );
  return { base, prefix };
}

/** `--bip`: the bridge's own address with the subnet's length ("172.17.0.1/16"). */
export function parseAddressCidr(s: string, field: string): { ip: number; subnet: Subnet } {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m)
    throw bad(field, `invalid ${field}: "${s}" is not an IPv4 address with a prefix (like 172.17.0.1/16)`);
  const ip = parseIp(m[1], field);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw bad(field, `invalid ${field}: the prefix length must be from 8 to 30`);
  const subnet = { base: (ip & maskOf(prefix)) >>> 0, prefix };
  if (ip === subnet.base || ip === lastAddress(subnet))
    throw bad(field, `invalid ${field}: ${ipString(ip)} is the network or broadcast address`);
  return { ip, subnet };
}

export const subnetString = (s: Subnet): string => `${ipString(s.base)}/${s.prefix}`;
export const lastAddress = (s: Subnet): number => (s.base + 2 ** (32 - s.prefix) - 1) >>> 0;
export const contains = (s: Subnet, ip: number): boolean => (ip & maskOf(s.prefix)) >>> 0 === s.base;
export const overlaps = (a: Subnet, b: Subnet): boolean => contains(a, b.base) || contains(b, a.base);

/** A usable host address of the subnet (not the network or broadcast address). */
export function checkHost(s: Subnet, ip: number, field: string): void {
  if (!contains(s, ip))
    throw bad(field, `invalid ${field}: ${ipString(ip)} is not in the subnet ${subnetString(s)}`);
  if (ip === s.base || ip === lastAddress(s))
    throw bad(
      field,
      `invalid ${field}: ${ipString(ip)} is the network or broadcast address of ${subnetString(s)}`,
    );
}

/** The lowest free host address, or undefined when the subnet is full. */
export function lowestFree(s: Subnet, used: Set<number>): number | undefined {
  for (let ip = s.base + 1; ip < lastAddress(s); ip++) if (!used.has(ip)) return ip;
  return undefined;
}

/** docker's MAC for an address: 02:42 then the four bytes of the IPv4 address. */
export function macFor(ip: number): string {
  return [
    '02',
    '42',
    ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((b) => b.toString(16).padStart(2, '0')),
  ].join(':');
}
