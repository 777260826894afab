// Host ports for published container ports: chosen (a fixed port, the first free of a range, or an
// ephemeral one) and held by a socket of shoald's own, as dockerd does, so that neither another
// container nor a host program can take a published port. Conflicts carry docker's message.
import dgram from 'node:dgram';
import net from 'node:net';
import { ShoalError } from '../../common/errors.js';
import { parseHostPort, parsePortKey } from '../../common/ports.js';
import type { MappedPort } from './types.js';

const EPHEMERAL: [number, number] = [32768, 60999];

interface Held {
  port: MappedPort;
  close(): void;
}

function holdTcp(ip: string, port: number): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: ip || '0.0.0.0', port, exclusive: true, backlog: 1 }, () => {
      s.unref();
      resolve(() => s.close());
    });
  });
}

function holdUdp(ip: string, port: number): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4' });
    s.once('error', reject);
    s.bind({ address: ip || '0.0.0.0', port, exclusive: true }, () => {
      s.unref();
      resolve(() => s.close());
    });
  });
}

export class PortReservations {
  private readonly held = new Map<string, Held[]>(); // container id → its ports
  private ephemeralNext = EPHEMERAL[0];

  private clashes(p: MappedPort): boolean {
    for (const list of this.held.values())
      for (const h of list)
        if (
          h.port.proto === p.proto &&
          h.port.hostPort === p.hostPort &&
          (!h.port.hostIp || !p.hostIp || h.port.hostIp === p.hostIp)
        )
          return true;
    return false;
  }

  private async tryHold(owner: string, p: MappedPort): Promise<boolean> {
    if (this.clashes(p)) return false;
    try {
      const close = await (p.proto === 'tcp' ? holdTcp : holdUdp)(p.hostIp, p.hostPort);
      this.held.set(owner, [...(this.held.get(owner) ?? []), { port: p, close }]);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Reserves every binding for `owner` (all or nothing). `name` and `endpoint` make docker's message:
   * `driver failed programming external connectivity on endpoint NAME (ID): Bind for 0.0.0.0:8080
   * failed: port is already allocated`.
   */
  async reserve(
    owner: string,
    bindings: Record<string, { HostIp: string; HostPort: string }[]>,
    who: { name: string; endpoint: string },
  ): Promise<MappedPort[]> {
    const out: MappedPort[] = [];
    try {
      for (const [key, list] of Object.entries(bindings)) {
        const { port, proto } = parsePortKey(key);
        for (const b of list) {
          const [lo, hi] = parseHostPort(b.HostPort, key);
          const hostIp = b.HostIp === '0.0.0.0' ? '' : b.HostIp;
          const candidates = lo === 0 ? this.ephemeralCandidates() : range(lo, hi);
          let got: MappedPort | undefined;
          for (const hostPort of candidates) {
            const p: MappedPort = { proto, containerPort: port, hostIp, hostPort };
            if (await this.tryHold(owner, p)) {
              got = p;
              if (lo === 0) this.ephemeralNext = hostPort + 1;
              break;
            }
          }
          if (!got)
            throw new ShoalError(
              'conflict',
              `driver failed programming external connectivity on endpoint ${who.name} (${who.endpoint}): Bind for ${hostIp || '0.0.0.0'}:${lo === 0 ? 'ephemeral' : lo === hi ? lo : `${lo}-${hi}`} failed: port is already allocated`,
              { field: 'PortBindings' },
            );
          out.push(got);
        }
      }
      return out;
    } catch (e) {
      this.release(owner);
      throw e;
    }
  }

  /** Holds exactly these ports again (live restore); ones that cannot be held are dropped. */
  async readopt(owner: string, ports: MappedPort[]): Promise<MappedPort[]> {
    const kept: MappedPort[] = [];
    for (const p of ports) if (await this.tryHold(owner, p)) kept.push(p);
    return kept;
  }

  release(owner: string): void {
    for (const h of this.held.get(owner) ?? []) h.close();
    this.held.delete(owner);
  }

  private *ephemeralCandidates(): Generator<number> {
    const [lo, hi] = EPHEMERAL;
    const start = this.ephemeralNext > hi ? lo : this.ephemeralNext;
    for (let p = start; p <= hi; p++) yield p;
    for (let p = lo; p < start; p++) yield p;
  }
}

function* range(lo: number, hi: number): Generator<number> {
  for (let p = lo; p <= hi; p++) yield p;
}
