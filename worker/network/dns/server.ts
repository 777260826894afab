// A resolver listener: UDP and TCP on one address and port, answering from a network's records through
// the pure core (answer.ts) and forwarding unknown names upstream when configured. One instance per
// network; any number per process. `stop` closes every socket it opened (listeners, TCP clients, the
// sockets of forwards still in flight).

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { invalidArgument, ShoalError } from '../../../common/errors.js';
import { type Rotation, RoundRobin, resolve } from './answer.js';
import { chainRecords, type Records } from './records.js';
import { forwardQuery, type Upstream } from './upstream.js';

export interface DnsServerOptions {
  /** The address to listen on (the caller picks: the network's gateway, another node address, 127.0.0.x in tests). */
  address: string;
  /** 0 picks a free port, the same for UDP and TCP. */
  port: number;
  records: Records;
  searchDomains?: readonly string[];
  /** Forwarding is on only when this is non-empty; tried in order. */
  upstreams?: readonly Upstream[];
  /** Per upstream attempt (default 2000 ms); when every attempt fails the client gets SERVFAIL. */
  upstreamTimeoutMs?: number;
  rotation?: Rotation;
  /**
   * The records of the asking client's other networks (by its source address), answered after this
   * network's own; absent or empty: this network's alone.
   */
  othersFor?: (client: string) => readonly Records[];
  /** Told about socket errors that do not stop the listener (a bad client, a failed send). */
  onError?: (err: Error) => void;
}

/** Forwards in flight per listener beyond which new unknown names get SERVFAIL (docker: 100). */
export const MAX_FORWARDS = 100;
/** TCP clients per listener; more are refused. */
export const MAX_TCP_CLIENTS = 128;
/** A TCP client idle this long is closed (RFC 7766 suggests seconds). */
export const TCP_IDLE_MS = 10_000;

export class DnsServer {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly clients = new Set<Socket>();
  private aborts = new AbortController();
  private forwards = 0;
  private boundPort = 0;
  private records: Records;
  private readonly rotation: Rotation;

  constructor(private readonly options: DnsServerOptions) {
    validate(options);
    this.records = options.records;
    this.rotation = options.rotation ?? new RoundRobin();
  }

  /** The port both listeners are bound to (after `start`). */
  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return this.options.address;
  }

  /** Replaces the records every later query reads. */
  setRecords(records: Records): void {
    this.records = records;
  }

  async start(): Promise<void> {
    if (this.udp) throw new ShoalError('failed_precondition', 'the DNS listener is already started');
    this.aborts = new AbortController();
    // With port 0 the kernel picks the UDP port; TCP must then get the same one, which can be taken: retry.
    for (let attempt = 0; ; attempt++) {
      const udp = await this.bindUdp(this.options.port);
      const port = udp.address().port;
      try {
        this.tcp = await this.listenTcp(port);
        this.udp = udp;
        this.boundPort = port;
        return;
      } catch (err) {
        await new Promise<void>((r) => udp.close(() => r()));
        if (this.options.port !== 0 || attempt >= 8 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
          throw new ShoalError(
            'unavailable',
            `cannot listen on ${this.options.address}:${port}/tcp: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
      }
    }
  }

  async stop(): Promise<void> {
    this.aborts.abort();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  private bindUdp(port: number): Promise<UdpSocket> {
    return new Promise((resolveBind, reject) => {
      const sock = createSocket({ type: isIP(this.options.address) === 6 ? 'udp6' : 'udp4' });
      const onError = (err: Error) => {
        sock.close();
        reject(
          new ShoalError(
            'unavailable',
            `cannot listen on ${this.options.address}:${port}/udp: ${err.message}`,
            { cause: err },
          ),
        );
      };
      sock.once('error', onError);
      sock.bind(port, this.options.address, () => {
        sock.off('error', onError);
        sock.on('error', (e) => this.options.onError?.(e));
        sock.on('message', (msg, rinfo) => {
          void this.handle(msg, 'udp', rinfo.address).then(
            (reply) => {
              if (reply && this.udp === sock) {
                sock.send(reply, rinfo.port, rinfo.address, (e) => {
                  if (e) this.options.onError?.(e);
                });
              }
            },
            (e: Error) => this.options.onError?.(e),
          );
        });
        resolveBind(sock);
      });
    });
  }

  private listenTcp(port: number): Promise<Server> {
    return new Promise((resolveListen, reject) => {
      const server = createServer((conn) => this.serveTcp(conn));
      server.maxConnections = MAX_TCP_CLIENTS;
      server.once('error', reject);
      server.listen({ port, host: this.options.address, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (e) => this.options.onError?.(e));
        resolveListen(server);
      });
    });
  }

  // RFC 1035 §4.2.2 framing: a 2-byte length before each message; several queries may share a connection.
  private serveTcp(conn: Socket): void {
    this.clients.add(conn);
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('close', () => this.clients.delete(conn));
    conn.on('error', (e) => this.options.onError?.(e));
    let buf = Buffer.alloc(0);
    conn.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len === 0) {
          conn.destroy();
          return;
        }
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.handle(msg, 'tcp', conn.remoteAddress ?? '').then(
          (reply) => {
            if (!reply || conn.destroyed) return;
            const head = Buffer.alloc(2);
            head.writeUInt16BE(reply.length, 0);
            conn.write(Buffer.concat([head, reply]));
          },
          (e: Error) => this.options.onError?.(e),
        );
      }
    });
  }

  private async handle(msg: Buffer, transport: 'udp' | 'tcp', client: string): Promise<Buffer | undefined> {
    const upstreams = this.options.upstreams ?? [];
    const others = this.options.othersFor?.(client) ?? [];
    const r = resolve(msg, {
      records: chainRecords(this.records, ...others),
      transport,
      searchDomains: this.options.searchDomains,
      forwarding: upstreams.length > 0,
      rotation: this.rotation,
    });
    if (r.action === 'drop') return undefined;
    if (r.action === 'reply') return r.packet;
    if (this.forwards >= MAX_FORWARDS) return r.servfail;
    this.forwards++;
    try {
      for (const up of upstreams) {
        if (this.aborts.signal.aborted) return undefined;
        try {
          return await forwardQuery(
            r.query,
            transport,
            up,
            this.options.upstreamTimeoutMs ?? 2000,
            this.aborts.signal,
          );
        } catch (err) {
          this.options.onError?.(err as Error);
        }
      }
      return r.servfail;
    } finally {
      this.forwards--;
    }
  }
}

function validate(o: DnsServerOptions): void {
  if (isIP(o.address) === 0) throw invalidArgument('address', `"${o.address}" is not an IP address`);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
    throw invalidArgument('port', `${o.port} is not a port (0-65535)`);
  }
  (o.upstreams ?? []).forEach((u, i) => {
    if (isIP(u.address) === 0)
      throw invalidArgument(`upstreams[${i}].address`, `"${u.address}" is not an IP address`);
    if (u.port !== undefined && (!Number.isInteger(u.port) || u.port < 1 || u.port > 65535)) {
      throw invalidArgument(`upstreams[${i}].port`, `${u.port} is not a port (1-65535)`);
    }
  });
  const t = o.upstreamTimeoutMs;
  if (t !== undefined && (!Number.isFinite(t) || t <= 0)) {
    throw invalidArgument('upstreamTimeoutMs', `${t} is not a positive number of milliseconds`);
  }
}
