// One network's IPv4 address pool: which addresses of its range are taken. Lowest-free allocation, so the
// pool is a pure function of the addresses in use (what the store holds): rebuilding it after a leader change
// hands out exactly what the old leader would have.
import { blockSize, type Cidr, contains, formatIp } from './ipv4.js';

export class AddressPool {
  private readonly used = new Set<number>();
  /** No free address below this one (a search hint; release lowers it). */
  private hint: number;
  private readonly first: number;
  private readonly last: number;

  constructor(
    readonly subnet: Cidr,
    /** The part of the subnet tasks and VIPs get addresses from (docker's --ip-range; default the subnet). */
    readonly range: Cidr,
    readonly gateway: number | undefined,
  ) {
    const size = blockSize(subnet.prefix);
    // The network and broadcast addresses are never handed out (a /31 or /32 has neither).
    const lo = size > 2 ? subnet.base + 1 : subnet.base;
    const hi = size > 2 ? subnet.base + size - 2 : subnet.base + size - 1;
    this.first = Math.max(lo, range.base);
    this.last = Math.min(hi, range.base + blockSize(range.prefix) - 1);
    this.hint = this.first;
  }

  /** Whether `ip` may be handed out here at all (inside the range, not network/broadcast/gateway). */
  usable(ip: number): boolean {
    return ip >= this.first && ip <= this.last && ip !== this.gateway;
  }

  has(ip: number): boolean {
    return this.used.has(ip);
  }

  /** Marks an address taken (rebuild from the store); false when it is outside the subnet or already taken. */
  reserve(ip: number): boolean {
    if (!contains(this.subnet, ip) || this.used.has(ip)) return false;
    this.used.add(ip);
    return true;
  }

  /** The lowest free usable address, now taken; undefined when the range is full. */
  take(): number | undefined {
    for (let ip = this.hint; ip <= this.last; ip++) {
      if (ip === this.gateway || this.used.has(ip)) continue;
      this.used.add(ip);
      this.hint = ip + 1;
      return ip;
    }
    this.hint = this.last + 1;
    return undefined;
  }

  release(ip: number): void {
    if (this.used.delete(ip) && ip < this.hint) this.hint = Math.max(ip, this.first);
  }

  /** "10.0.1.5/24": an address with its subnet's prefix, as task attachments and VIPs carry it. */
  format(ip: number): string {
    return `${formatIp(ip)}/${this.subnet.prefix}`;
  }

  get size(): number {
    return this.used.size;
  }
}
