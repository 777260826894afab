// mTLS for gRPC between nodes: credentials built from a node's identity (key, certificate, root), the
// server-identity check done by role and cluster rather than by hostname, and the peer's identity as
// read from its verified certificate.
import { createSecureContext, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { type NodeIdentity, type NodeRole, nodeIdentityOf, ROLE_DNS } from './certs.js';

/** What a node holds to speak mTLS: its key and certificate, and the cluster's root it trusts. */
export interface TlsIdentity {
  keyPem: string;
  certPem: string;
  rootCertPem: string;
}

/**
 * Server credentials that require every client to present a certificate signed by the root: a
 * listener for nodes that already joined (a joiner has no certificate; see NodeTlsListener).
 */
export function mtlsServerCredentials(id: TlsIdentity): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(
    Buffer.from(id.rootCertPem),
    [{ private_key: Buffer.from(id.keyPem), cert_chain: Buffer.from(id.certPem) }],
    true,
  );
}

/**
 * The check a client makes of the server's certificate once it chains to the pinned root: it must be a
 * node certificate of the expected cluster with the expected role (managers are what nodes dial).
 * Hostnames are not checked: node addresses change, identities do not.
 */
export function serverIdentityCheck(expect: { clusterId?: string; role?: NodeRole }) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    try {
      const who = nodeIdentityOf(new Uint8Array(cert.raw));
      if (expect.clusterId !== undefined && who.clusterId !== expect.clusterId)
        return new Error(`server certificate is for cluster ${who.clusterId}, expected ${expect.clusterId}`);
      if (expect.role !== undefined && who.role !== expect.role)
        return new Error(`server certificate is for a ${who.role}, expected a ${expect.role}`);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  };
}

/** Client credentials of a node: its own certificate, trusting only the cluster root. */
export function mtlsChannelCredentials(
  id: TlsIdentity,
  expect: { clusterId?: string; role?: NodeRole } = {},
): grpc.ChannelCredentials {
  const server = { role: 'manager' as NodeRole, ...expect }; // nodes dial managers unless told otherwise
  return grpc.credentials.createSsl(
    Buffer.from(id.rootCertPem),
    Buffer.from(id.keyPem),
    Buffer.from(id.certPem),
    {
      checkServerIdentity: serverIdentityCheck(server),
    },
  );
}

/** Credentials of a joiner that pinned the root but has no certificate yet. */
export function pinnedRootChannelCredentials(rootCertPem: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(rootCertPem), null, null, {
    checkServerIdentity: serverIdentityCheck({ role: 'manager' }),
  });
}

/**
 * TLS that trusts nothing: only for fetching the root CA certificate, whose digest the joiner then
 * checks against its token. Nothing secret may be sent on such a channel.
 */
export function unverifiedChannelCredentials(): grpc.ChannelCredentials {
  // An empty CA list rather than none: given none, Node fills the context with a copy of its whole root
  // store (~20 ms a join here, a fifth of a simulated host's CPU while 250 nodes join) for a check that is off.
  return grpc.credentials.createFromSecureContext(createSecureContext({ ca: [] }), {
    rejectUnauthorized: false,
  });
}

/**
 * grpc-js keeps channelz bookkeeping for every call unless told not to (a tenth of a busy leader's gRPC
 * time at 200 nodes); nothing in shoal reads channelz.
 */
export const NO_CHANNELZ = { 'grpc.enable_channelz': 0 } as const;

/**
 * Channel options for dialing a node of `role`: TLS SNI names the role's DNS SAN instead of an IP
 * address (RFC 6066 forbids IPs there).
 */
export function channelOptionsFor(role: NodeRole = 'manager'): grpc.ChannelOptions {
  return { 'grpc.ssl_target_name_override': ROLE_DNS[role], ...NO_CHANNELZ };
}

interface AuthContextCall {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

/**
 * The identity of the peer of a server call, from its certificate as verified by the TLS layer
 * (grpc-js reports a certificate only when the handshake verified it), or undefined without one.
 */
export function peerIdentity(call: AuthContextCall): NodeIdentity | undefined {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (!cert?.raw) return undefined;
  // Parsing a certificate (ASN.1 in JavaScript) costs about a millisecond, and every call of every node asks
  // (a heartbeat per node per second): the identity is a function of the certificate's bytes, so it is kept
  // by their SHA-256 (which the TLS layer has computed already).
  const key = cert.fingerprint256;
  const known = key ? identities.get(key) : undefined;
  if (known) return known;
  const id = nodeIdentityOf(new Uint8Array(cert.raw));
  if (key) {
    if (identities.size >= IDENTITY_CACHE_MAX) identities.clear();
    identities.set(key, id);
  }
  return id;
}

/** Identities of the certificates peers presented, by SHA-256 fingerprint (bounded: cleared when full). */
const identities = new Map<string, NodeIdentity>();
const IDENTITY_CACHE_MAX = 20_000;
