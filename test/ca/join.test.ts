// The CA over real gRPC on 127.0.0.1: joining with tokens, pinning the root before the token leaves,
// renewal, and authorisation by role; certificates of another cluster stopped at the TLS layer.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import {
  type CAState,
  CertificateAuthority,
  initCAState,
  MemoryCAState,
} from '../../manager/ca/authority.js';
import { authorizationInterceptor, type MethodPolicy } from '../../manager/ca/authz.js';
import { createNodeKeyAndCSR, signNodeCSR } from '../../manager/ca/certs.js';
import { joinCluster, type NodeCredentials, renewCertificate } from '../../manager/ca/join.js';
import { NodeTlsListener } from '../../manager/ca/listener.js';
import { CA_POLICY, caService } from '../../manager/ca/service.js';
import {
  channelOptionsFor,
  mtlsChannelCredentials,
  mtlsServerCredentials,
  peerIdentity,
} from '../../manager/ca/tls.js';
import { generateToken } from '../../manager/ca/tokens.js';
import {
  type CAServiceServer,
  GetRootCACertificateRequest,
  GetRootCACertificateResponse,
} from '../../proto/gen/shoal/ca/v1/ca.js';

// A manager-only method to test authorisation with: a service of its own, reusing the CA's messages.
const PingService = {
  ping: {
    path: '/shoal.test.v1.Ping/Ping',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: GetRootCACertificateRequest) =>
      Buffer.from(GetRootCACertificateRequest.encode(v).finish()),
    requestDeserialize: (b: Buffer) => GetRootCACertificateRequest.decode(b),
    responseSerialize: (v: GetRootCACertificateResponse) =>
      Buffer.from(GetRootCACertificateResponse.encode(v).finish()),
    responseDeserialize: (b: Buffer) => GetRootCACertificateResponse.decode(b),
  },
} as const;
const PingClient = grpc.makeGenericClientConstructor(PingService, 'Ping');
const POLICY: MethodPolicy = { ...CA_POLICY, [PingService.ping.path]: ['manager'] };

interface Cluster {
  state: CAState;
  ca: CertificateAuthority;
  server: grpc.Server;
  listener: NodeTlsListener;
  address: string;
  issueCalls: number;
  manager: NodeCredentials;
  removed: Set<string>;
}

const now = () => new Date();

/** A cluster's first manager: root and tokens, its own certificate, the CA service on one TLS port. */
async function startCluster(clusterId: string): Promise<Cluster> {
  const state = await initCAState(now(), clusterId);
  const ca = new CertificateAuthority({ state: new MemoryCAState(state), clock: now });
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const certPem = await signNodeCSR(
    { certPem: state.rootCertPem, keyPem: state.rootKeyPem },
    { csrPem, nodeId: 'manager0', role: 'manager', clusterId, addresses: ['127.0.0.1'], now: now() },
  );
  const manager: NodeCredentials = {
    nodeId: 'manager0',
    role: 'manager',
    clusterId,
    keyPem,
    certPem,
    rootCertPem: state.rootCertPem,
  };
  const removed = new Set<string>();
  const server = new grpc.Server({
    interceptors: [
      authorizationInterceptor(
        POLICY,
        () => clusterId,
        (id) => removed.has(id),
      ),
    ],
  });
  const svc = caService(ca);
  const cluster = { state, ca, server, manager, issueCalls: 0, removed } as Cluster;
  const counted: CAServiceServer = {
    ...svc.implementation,
    issueNodeCertificate: (call, cb) => {
      cluster.issueCalls++;
      svc.implementation.issueNodeCertificate(call, cb);
    },
  };
  server.addService(svc.definition, counted);
  server.addService(PingService, {
    ping: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { certificate: `pong ${peerIdentity(call)?.nodeId}` }),
  });
  cluster.listener = await NodeTlsListener.listen(server, { host: '127.0.0.1', port: 0, identity: manager });
  cluster.address = `127.0.0.1:${cluster.listener.port}`;
  return cluster;
}

async function stopCluster(c: Cluster | undefined) {
  if (!c) return;
  await c.listener.close();
  c.server.forceShutdown();
}

function ping(address: string, creds: grpc.ChannelCredentials): Promise<string> {
  const client = new PingClient(address, creds, channelOptionsFor('manager'));
  return new Promise<string>((resolve, reject) => {
    client.ping(
      {},
      { deadline: Date.now() + 15_000 },
      (err: grpc.ServiceError | null, res: { certificate: string }) => {
        client.close();
        if (err) reject(err);
        else resolve(res.certificate);
      },
    );
  });
}

async function failure(p: Promise<unknown>): Promise<ShoalError> {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(isShoalError(err), String(err)).toBe(true);
  return err as ShoalError;
}

async function grpcFailure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(err, 'call should fail').toBeDefined();
  return err as grpc.ServiceError;
}

let a: Cluster;
let b: Cluster;

beforeAll(async () => {
  a = await startCluster('clusterA');
  b = await startCluster('clusterB');
});
afterAll(async () => {
  await stopCluster(a);
  await stopCluster(b);
});

describe('joining a cluster over gRPC', () => {
  it('a worker token yields a worker certificate, a manager token a manager certificate', async () => {
    const t = await a.ca.tokens();
    const w = await joinCluster({ address: a.address, token: t.worker });
    expect(w).toMatchObject({ role: 'worker', clusterId: 'clusterA' });
    // The trust bundle the manager hands out: the root alone outside a rotation (PEM, newline-terminated).
    expect(w.rootCertPem.trim()).toBe(a.state.rootCertPem.trim());
    const m = await joinCluster({ address: a.address, token: t.manager, addresses: ['127.0.0.7'] });
    expect(m).toMatchObject({ role: 'manager', clusterId: 'clusterA' });
    expect(m.nodeId).not.toBe(w.nodeId);
  });

  it('a token whose digest is not the server’s root stops before the token is sent', async () => {
    const before = a.issueCalls;
    const tokenOfB = (await b.ca.tokens()).manager;
    const err = await failure(joinCluster({ address: a.address, token: tokenOfB }));
    expect(err.kind).toBe('unauthenticated');
    expect(err.message).toMatch(/not the one in the join token.*the token was not sent/);
    expect(a.issueCalls).toBe(before); // the server never received a join request
  });

  it('a wrong or rotated secret is refused by the CA', async () => {
    const t = await a.ca.tokens();
    const digestOfA = Buffer.from(
      (await import('../../manager/ca/certs.js')).certDigest(a.state.rootCertPem),
    );
    let err = await failure(joinCluster({ address: a.address, token: generateToken(digestOfA) }));
    expect(err.kind).toBe('unauthenticated');
    expect(err.message).toMatch(/secret is not valid/);

    const fresh = await a.ca.rotateToken('worker');
    err = await failure(joinCluster({ address: a.address, token: t.worker }));
    expect(err.message).toMatch(/secret is not valid/);
    expect((await joinCluster({ address: a.address, token: fresh })).role).toBe('worker');
  });

  it('bad tokens fail before any network, naming the part', async () => {
    const before = a.issueCalls;
    const err = await failure(joinCluster({ address: '127.0.0.1:1', token: 'SWMTKN-1-xyz-abc' }));
    expect(err.kind).toBe('invalid_argument');
    expect(err.field).toBe('token');
    expect(err.message).toMatch(/CA digest must be 50 characters, got 3/);
    expect(a.issueCalls).toBe(before);
  });
});

describe('authorisation by role', () => {
  it('a manager may call a manager-only method; a worker gets PERMISSION_DENIED', async () => {
    const t = await a.ca.tokens();
    const m = await joinCluster({ address: a.address, token: t.manager });
    const w = await joinCluster({ address: a.address, token: t.worker });
    expect(await ping(a.address, mtlsChannelCredentials(m, { clusterId: 'clusterA' }))).toBe(
      `pong ${m.nodeId}`,
    );
    const err = await grpcFailure(ping(a.address, mtlsChannelCredentials(w, { clusterId: 'clusterA' })));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toMatch(/is a worker; allowed: manager/);
  });

  it('a removed node is refused although its certificate is valid', async () => {
    const m = await joinCluster({ address: a.address, token: (await a.ca.tokens()).manager });
    const creds = mtlsChannelCredentials(m, { clusterId: 'clusterA' });
    expect(await ping(a.address, creds)).toBe(`pong ${m.nodeId}`);
    a.removed.add(m.nodeId);
    const err = await grpcFailure(ping(a.address, creds));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toMatch(/was removed from the cluster/);
  });

  it('without a certificate only the joining methods answer', async () => {
    const { pinnedRootChannelCredentials } = await import('../../manager/ca/tls.js');
    const err = await grpcFailure(ping(a.address, pinnedRootChannelCredentials(a.state.rootCertPem)));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('a certificate of another cluster is refused at the TLS layer', async () => {
    const t = await b.ca.tokens();
    const foreign = await joinCluster({ address: b.address, token: t.manager });
    // It trusts A's root (so the server check passes) but presents B's certificate.
    const creds = mtlsChannelCredentials({ ...foreign, rootCertPem: a.state.rootCertPem });
    const err = await grpcFailure(ping(a.address, creds));
    expect(err.code).toBe(grpc.status.UNAVAILABLE); // the connection was closed: no call reached the server
  });

  it('a node of cluster A will not talk to a manager of cluster B', async () => {
    const t = await a.ca.tokens();
    const m = await joinCluster({ address: a.address, token: t.manager });
    const err = await grpcFailure(ping(b.address, mtlsChannelCredentials(m, { clusterId: 'clusterA' })));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('an expired certificate is refused', async () => {
    const { keyPem, csrPem } = await createNodeKeyAndCSR();
    const long = new Date(Date.now() - 30 * 24 * 3600_000);
    const certPem = await signNodeCSR(
      { certPem: a.state.rootCertPem, keyPem: a.state.rootKeyPem },
      { csrPem, nodeId: 'old', role: 'manager', clusterId: 'clusterA', now: long, validityMs: 24 * 3600_000 },
    );
    const expired = { keyPem, certPem, rootCertPem: a.state.rootCertPem };
    const err = await grpcFailure(ping(a.address, mtlsChannelCredentials(expired)));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('renewal', () => {
  it('keeps node id and role, with a new key', async () => {
    const t = await a.ca.tokens();
    const w = await joinCluster({ address: a.address, token: t.worker });
    const r = await renewCertificate(a.address, w);
    expect(r).toMatchObject({ nodeId: w.nodeId, role: 'worker', clusterId: 'clusterA' });
    expect(r.keyPem).not.toBe(w.keyPem);
    expect(r.certPem).not.toBe(w.certPem);
    const m = await joinCluster({ address: a.address, token: t.manager });
    expect((await renewCertificate(a.address, m)).role).toBe('manager');
  });
});

describe('strict mTLS server credentials (grpc-js TLS)', () => {
  it('require a client certificate of the cluster', async () => {
    const server = new grpc.Server({ interceptors: [authorizationInterceptor(POLICY, () => 'clusterA')] });
    server.addService(PingService, {
      ping: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { certificate: `pong ${peerIdentity(call)?.nodeId}` }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', mtlsServerCredentials(a.manager), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    try {
      const addr = `127.0.0.1:${port}`;
      const t = await a.ca.tokens();
      const m = await joinCluster({ address: a.address, token: t.manager });
      expect(await ping(addr, mtlsChannelCredentials(m, { clusterId: 'clusterA' }))).toBe(`pong ${m.nodeId}`);
      const foreign = await joinCluster({ address: b.address, token: (await b.ca.tokens()).manager });
      const err = await grpcFailure(
        ping(addr, mtlsChannelCredentials({ ...foreign, rootCertPem: a.state.rootCertPem })),
      );
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      server.forceShutdown();
    }
  });
});

describe('the listener’s certificate', () => {
  it('can be replaced while it runs: new connections get the new one', async () => {
    const c = await startCluster('clusterC');
    try {
      const t = await c.ca.tokens();
      const m = await joinCluster({ address: c.address, token: t.manager });
      const w = await joinCluster({ address: c.address, token: t.worker });
      expect(await ping(c.address, mtlsChannelCredentials(m, { clusterId: 'clusterC' }))).toBe(
        `pong ${m.nodeId}`,
      );
      // The server now presents a worker certificate: a client expecting a manager refuses it.
      c.listener.setIdentity(w);
      const err = await grpcFailure(ping(c.address, mtlsChannelCredentials(m, { clusterId: 'clusterC' })));
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      c.listener.setIdentity(m);
      expect(await ping(c.address, mtlsChannelCredentials(m, { clusterId: 'clusterC' }))).toBe(
        `pong ${m.nodeId}`,
      );
    } finally {
      await stopCluster(c);
    }
  });
});
