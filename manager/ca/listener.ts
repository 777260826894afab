// One port for joiners and members, as swarm's 2377: the TLS handshake asks for a client certificate
// but accepts a connection without one (a joining node has none yet), and refuses one that does not
// verify against the root (another cluster's, expired, forged) before any HTTP/2 byte is read. This is
// Go's VerifyClientCertIfGiven, which node:tls lacks (it has "require" or "accept anything"); so a
// tls.Server asks without requiring, this listener closes connections whose certificate did not verify,
// and hands the others, decrypted, to grpc-js through its connection injector. Calls then see the peer certificate
// through getAuthContext() as with grpc-js's own TLS, and the authorisation interceptor decides which
// methods a caller without a certificate may use (only joining ones).
//
// The server's certificate can be replaced while it runs (renewal): new connections use the new one.
import type * as net from 'node:net';
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
  private readonly injector: grpc.ConnectionInjector;
  private readonly tls: tls.Server;
  private readonly sockets = new Set<tls.TLSSocket>();
  private readonly log: (msg: string) => void;

  private constructor(server: grpc.Server, opts: NodeTlsListenerOptions) {
    this.log = opts.log ?? (() => {});
    // TLS is done here; grpc-js sees already decrypted streams.
    this.injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.tls = tls.createServer(
      {
        ...NodeTlsListener.contextOptions(opts.identity),
        requestCert: true,
        rejectUnauthorized: false,
        ALPNProtocols: ['h2'],
        handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
      },
      (sock) => this.accept(sock),
    );
    this.tls.on('tlsClientError', (err, sock) => {
      this.log(`tls from ${sock.remoteAddress}: ${err.message}`);
    });
  }

  /** Starts accepting on host:port for `server` (whose services and interceptors are already added). */
  static async listen(server: grpc.Server, opts: NodeTlsListenerOptions): Promise<NodeTlsListener> {
    const l = new NodeTlsListener(server, opts);
    await new Promise<void>((resolve, reject) => {
      l.tls.once('error', reject);
      l.tls.listen(opts.port, opts.host, () => {
        l.tls.off('error', reject);
        resolve();
      });
    });
    return l;
  }

  get port(): number {
    return (this.tls.address() as net.AddressInfo).port;
  }

  /** Serves a renewed certificate (or a new root) to connections made from now on. */
  setIdentity(identity: TlsIdentity): void {
    this.tls.setSecureContext(NodeTlsListener.contextOptions(identity));
  }

  async close(): Promise<void> {
    this.injector.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.tls.close(() => resolve()));
  }

  private static contextOptions(id: TlsIdentity): tls.SecureContextOptions {
    return { key: id.keyPem, cert: id.certPem, ca: id.rootCertPem, minVersion: 'TLSv1.2' };
  }

  private accept(sock: tls.TLSSocket): void {
    sock.on('error', (err) => this.log(`tls from ${sock.remoteAddress}: ${err.message}`));
    const peer = sock.getPeerCertificate();
    const presented = peer !== null && Object.keys(peer).length > 0;
    if (presented && !sock.authorized) {
      this.log(`tls from ${sock.remoteAddress}: client certificate refused (${sock.authorizationError})`);
      sock.destroy();
      return;
    }
    if (sock.alpnProtocol !== 'h2') {
      this.log(`tls from ${sock.remoteAddress}: client did not negotiate h2`);
      sock.destroy();
      return;
    }
    memoizePeerCertificate(sock);
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
    this.injector.injectConnection(sock);
  }
}

/**
 * grpc-js asks the socket for its peer's certificate on every call (`getAuthContext`), and Node builds a new
 * object each time (fingerprints, the whole chain): with 200 nodes heartbeating and reporting, 1.7 s of a
 * leader's 29 s busy. With renegotiation off the peer's certificate cannot change for the life of the
 * connection, so the first answer is the answer.
 */
function memoizePeerCertificate(sock: tls.TLSSocket): void {
  sock.disableRenegotiation();
  const original = sock.getPeerCertificate.bind(sock);
  const cert = original();
  sock.getPeerCertificate = ((detailed?: boolean) =>
    detailed ? original(true) : cert) as tls.TLSSocket['getPeerCertificate'];
}
