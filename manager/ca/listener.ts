// One port for joiners and members, as swarm's 2377: the TLS handshake asks for a client certificate
// but accepts a connection without one (a joining node has none yet), and refuses one that does not
// verify against the root (another cluster's, expired, forged) before any HTTP/2 byte is read. This is
// Go's VerifyClientCertIfGiven, which node:tls lacks; so the listener terminates TLS itself and hands
// the decrypted socket to grpc-js through its connection injector. Calls then see the peer certificate
// through getAuthContext() as with grpc-js's own TLS, and the authorisation interceptor decides which
// methods a caller without a certificate may use (only joining ones).
//
// The server's certificate can be replaced while it runs (renewal): new connections use the new one.
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { TlsIdentity } from './tls.js';

export interface NodeTlsListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  identity: TlsIdentity;
  handshakeTimeoutMs?: number;
  log?: (msg: string) => void;
}

export class NodeTlsListener {
  private context: tls.SecureContext;
  private readonly injector: grpc.ConnectionInjector;
  private readonly tcp: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly log: (msg: string) => void;
  private readonly handshakeTimeoutMs: number;

  private constructor(server: grpc.Server, opts: NodeTlsListenerOptions) {
    this.context = NodeTlsListener.contextFor(opts.identity);
    this.log = opts.log ?? (() => {});
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 10_000;
    // TLS is done here; grpc-js sees already decrypted streams.
    this.injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.tcp = net.createServer((raw) => this.accept(raw));
  }

  /** Starts accepting on host:port for `server` (whose services and interceptors are already added). */
  static async listen(server: grpc.Server, opts: NodeTlsListenerOptions): Promise<NodeTlsListener> {
    const l = new NodeTlsListener(server, opts);
    await new Promise<void>((resolve, reject) => {
      l.tcp.once('error', reject);
      l.tcp.listen(opts.port, opts.host, () => {
        l.tcp.off('error', reject);
        resolve();
      });
    });
    return l;
  }

  get port(): number {
    return (this.tcp.address() as net.AddressInfo).port;
  }

  /** Serves a renewed certificate (or a new root) to connections made from now on. */
  setIdentity(identity: TlsIdentity): void {
    this.context = NodeTlsListener.contextFor(identity);
  }

  async close(): Promise<void> {
    this.injector.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }

  private static contextFor(id: TlsIdentity): tls.SecureContext {
    return tls.createSecureContext({
      key: id.keyPem,
      cert: id.certPem,
      ca: id.rootCertPem,
      minVersion: 'TLSv1.2',
    });
  }

  private accept(raw: net.Socket): void {
    this.sockets.add(raw);
    raw.once('close', () => this.sockets.delete(raw));
    raw.on('error', () => raw.destroy());
    raw.setTimeout(this.handshakeTimeoutMs, () => raw.destroy());
    const sock = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: this.context,
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
    });
    sock.on('error', (err) => {
      this.log(`tls from ${raw.remoteAddress}: ${err.message}`);
      sock.destroy();
    });
    sock.once('secure', () => {
      raw.setTimeout(0);
      const peer = sock.getPeerCertificate();
      const presented = peer !== null && Object.keys(peer).length > 0;
      // node sets `authorized` only for sockets of a tls.Server; ask the handshake's verdict directly.
      const verifyError =
        (sock as unknown as { ssl?: { verifyError(): Error | null } }).ssl?.verifyError() ?? null;
      if (presented && verifyError) {
        this.log(`tls from ${raw.remoteAddress}: client certificate refused (${verifyError.message})`);
        sock.destroy();
        return;
      }
      if (sock.alpnProtocol !== 'h2') {
        this.log(`tls from ${raw.remoteAddress}: client did not negotiate h2`);
        sock.destroy();
        return;
      }
      (sock as { authorized: boolean }).authorized = presented;
      this.injector.injectConnection(sock);
    });
  }
}
