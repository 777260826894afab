// The joining side, and a member's renewal. Joining, in swarmkit's order:
//   1. parse the token (bad tokens fail here, before any network);
//   2. fetch the root CA certificate over TLS that trusts nothing;
//   3. check its digest against the token's; a mismatch ends the join: the token was never sent;
//   4. pin that root, and only over a channel verified against it send a fresh CSR with the token;
//   5. check what came back: signed by the pinned root, for our key, naming the role it claims.
// A man in the middle can replay the real root in step 2 but cannot present a server certificate
// signed by it in step 4, so the token only ever reaches a manager of the cluster.
import * as grpc from '@grpc/grpc-js';
import { ShoalError } from '../../common/errors.js';
import { CAServiceClient } from '../../proto/gen/shoal/ca/v1/ca.js';
import {
  certDigest,
  chainsTo,
  createNodeKeyAndCSR,
  keyMatchesCert,
  type NodeRole,
  nodeIdentityOf,
  parseCertificate,
} from './certs.js';
import { kindOfCode, roleFromWire } from './service.js';
import {
  channelOptionsFor,
  mtlsChannelCredentials,
  pinnedRootChannelCredentials,
  type TlsIdentity,
  unverifiedChannelCredentials,
} from './tls.js';
import { parseToken } from './tokens.js';

export interface NodeCredentials extends TlsIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
}

export interface JoinOptions {
  /** host:port of a manager. */
  address: string;
  token: string;
  /** IP addresses this node advertises (IP SANs of its certificate). */
  addresses?: readonly string[];
  timeoutMs?: number;
}

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => grpc.ClientUnaryCall;

async function call<Req, Res>(
  client: grpc.Client,
  fn: Unary<Req, Res>,
  req: Req,
  timeoutMs: number,
  what: string,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err) reject(new ShoalError(kindOfCode(err.code), `${what}: ${err.details || err.message}`));
      else resolve(res);
    });
  });
}

/** Steps 2–3: the manager's root CA certificate, accepted only if it matches the token's digest. */
export async function fetchPinnedRoot(address: string, token: string, timeoutMs = 20_000): Promise<string> {
  const { rootDigest } = parseToken(token);
  const client = new CAServiceClient(address, unverifiedChannelCredentials(), channelOptionsFor('manager'));
  try {
    const res = await call(
      client,
      client.getRootCaCertificate as Unary<object, { certificate: string }>,
      {},
      timeoutMs,
      `fetching the root CA from ${address}`,
    );
    const root = parseCertificate(res.certificate, 'root CA certificate');
    const got = certDigest(res.certificate);
    if (!got.equals(rootDigest))
      throw new ShoalError(
        'unauthenticated',
        `the manager at ${address} presented a root CA (sha256 ${got.toString('hex')}) that is not the one in the join token (sha256 ${rootDigest.toString('hex')}): wrong cluster, or someone in between; the token was not sent`,
        { field: 'token' },
      );
    if (!(await root.isSelfSigned()))
      throw new ShoalError('unauthenticated', `the root CA from ${address} is not self-signed`);
    return res.certificate;
  } finally {
    client.close();
  }
}

async function checkIssued(
  res: { nodeId: string; role: number; certificate: string; rootCaCertificate: string },
  keyPem: string,
  rootCertPem: string,
  from: string,
  acceptNewTrust = false,
): Promise<NodeCredentials> {
  // A joiner must get the root it pinned first in the bundle (after it, during a rotation, the new root). A
  // member renewing over mTLS (the manager proved itself under the current trust) takes the bundle it is
  // given: both roots during a rotation, the new one after it. Either way the bundle came over a channel
  // verified against what this node already trusts.
  const trust = res.rootCaCertificate;
  if (!acceptNewTrust && certDigest(res.rootCaCertificate).compare(certDigest(rootCertPem)) !== 0)
    throw new ShoalError('unauthenticated', `${from} answered with a different root CA than the pinned one`);
  if (!(await chainsTo(res.certificate, trust)))
    throw new ShoalError(
      'unauthenticated',
      `${from} answered with a certificate not signed by the ${acceptNewTrust ? 'given' : 'pinned'} root`,
    );
  if (!(await chainsTo(res.certificate, rootCertPem)))
    throw new ShoalError(
      'unauthenticated',
      `${from} answered with a certificate the current root does not accept (no cross-signed intermediate)`,
    );
  if (!(await keyMatchesCert(keyPem, res.certificate)))
    throw new ShoalError('unauthenticated', `${from} answered with a certificate for another key`);
  const who = nodeIdentityOf(res.certificate);
  if (who.nodeId !== res.nodeId || who.role !== roleFromWire(res.role))
    throw new ShoalError(
      'unauthenticated',
      `${from} answered with a certificate that does not match its reply`,
    );
  return {
    nodeId: who.nodeId,
    role: who.role,
    clusterId: who.clusterId,
    keyPem,
    certPem: res.certificate,
    rootCertPem: trust,
  };
}

/** Joins the cluster of `token` through the manager at `address`: a new key and certificate. */
export async function joinCluster(opts: JoinOptions): Promise<NodeCredentials> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const rootCertPem = await fetchPinnedRoot(opts.address, opts.token, timeoutMs);
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const client = new CAServiceClient(
    opts.address,
    pinnedRootChannelCredentials(rootCertPem),
    channelOptionsFor('manager'),
  );
  try {
    const res = await call(
      client,
      client.issueNodeCertificate as Unary<object, Parameters<typeof checkIssued>[0]>,
      { csr: csrPem, token: opts.token, addresses: [...(opts.addresses ?? [])] },
      timeoutMs,
      `joining through ${opts.address}`,
    );
    return await checkIssued(res, keyPem, rootCertPem, opts.address);
  } finally {
    client.close();
  }
}

/** A member's renewal over mTLS: a new key, the same node id; the role is the one the CA decides. */
export async function renewCertificate(
  address: string,
  current: NodeCredentials,
  opts: { addresses?: readonly string[]; timeoutMs?: number } = {},
): Promise<NodeCredentials> {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const client = new CAServiceClient(
    address,
    mtlsChannelCredentials(current, { clusterId: current.clusterId, role: 'manager' }),
    channelOptionsFor('manager'),
  );
  try {
    const res = await call(
      client,
      client.renewNodeCertificate as Unary<object, Parameters<typeof checkIssued>[0]>,
      { csr: csrPem, addresses: [...(opts.addresses ?? [])] },
      opts.timeoutMs ?? 20_000,
      `renewing through ${address}`,
    );
    const next = await checkIssued(res, keyPem, current.rootCertPem, address, true);
    if (next.nodeId !== current.nodeId || next.clusterId !== current.clusterId)
      throw new ShoalError('unauthenticated', `${address} renewed into another node's identity`);
    return next;
  } finally {
    client.close();
  }
}
