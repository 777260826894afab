// IPv4 addresses and CIDR blocks as unsigned 32-bit numbers. Pure; the parsers return undefined on bad input
// so callers can name the field at fault.

export interface Cidr {
  /** The network address (host bits zero). */
  base: number;
  prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIp(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export const formatIp = (n: number): string =>
  [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** Number of addresses in a block of this prefix length. */
export const blockSize = (prefix: number): number => 2 ** (32 - prefix);

/** "10.0.1.0/24" → its block; undefined when malformed or when host bits are set ("10.0.1.5/24"). */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const base = parseIp(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (base === undefined || !/^\d{1,2}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > 32) return undefined;
  if (base % blockSize(prefix) !== 0) return undefined;
  return { base, prefix };
}

/** "10.0.0.5/24" (an address with its network's prefix, as attachments and VIPs are written). */
export function parseAddrPrefix(s: string): { addr: number; prefix: number } | undefined {
  const slash = s.indexOf('/');
  const addr = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (addr === undefined) return undefined;
  const prefix = slash < 0 ? 32 : Number(s.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  return { addr, prefix };
}

export const formatCidr = (c: Cidr): string => `${formatIp(c.base)}/${c.prefix}`;

export const lastOf = (c: Cidr): number => c.base + blockSize(c.prefix) - 1;

export const contains = (c: Cidr, ip: number): boolean => ip >= c.base && ip <= lastOf(c);

export const overlaps = (a: Cidr, b: Cidr): boolean => a.base <= lastOf(b) && b.base <= lastOf(a);

/** Whether `inner` lies wholly inside `outer`. */
export const within = (inner: Cidr, outer: Cidr): boolean =>
  inner.prefix >= outer.prefix && contains(outer, inner.base);
