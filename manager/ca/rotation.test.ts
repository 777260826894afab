import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import {
  beginRootRotation,
  type CAState,
  CertificateAuthority,
  completeRootRotation,
  initCAState,
  MemoryCAState,
  trustBundle,
} from './authority.js';
import { chainsTo, createNodeKeyAndCSR, createRootCA, nodeIdentityOf, splitPem } from './certs.js';
import { planRotation } from './rotation.js';
import { parseToken } from './tokens.js';

const now = new Date();

async function failure(p: Promise<unknown>): Promise<ShoalError> {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(isShoalError(err), String(err)).toBe(true);
  return err as ShoalError;
}

/** A node credential issued by `ca` now (its key, its chain, the bundle it is told to trust). */
async function issue(ca: CertificateAuthority, token: string) {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const i = await ca.issue({ csrPem, token });
  return { keyPem, certPem: i.certPem, rootCertPem: i.rootCertPem };
}

type Cred = Awaited<ReturnType<typeof issue>>;

/** A real TLS handshake, both sides verifying (as the node listener and the gRPC clients do). */
async function handshake(server: Cred, client: Cred): Promise<{ ok: boolean; why?: string }> {
  const srv = tls.createServer({
    key: server.keyPem,
    cert: server.certPem,
    ca: server.rootCertPem,
    requestCert: true,
    rejectUnauthorized: true,
  });
  srv.on('secureConnection', (s) => s.end());
  srv.on('tlsClientError', () => {});
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  try {
    return await new Promise((resolve) => {
      const sock = tls.connect({
        host: '127.0.0.1',
        port,
        key: client.keyPem,
        cert: client.certPem,
        ca: client.rootCertPem,
        checkServerIdentity: () => undefined,
      });
      sock.once('secureConnect', () => {
        sock.destroy();
        resolve({ ok: true });
      });
      sock.once('error', (e) => resolve({ ok: false, why: e.message }));
    });
  } finally {
    srv.close();
  }
}

describe('root rotation', () => {
  it('nodes of the old root, of the rotation and of the new root all talk across it', async () => {
    const state = new MemoryCAState(await initCAState(now, 'clusterR'));
    const ca = new CertificateAuthority({ state, clock: () => now });
    const { worker } = await ca.tokens();
    const old = await issue(ca, worker);

    const rotating = await beginRootRotation(await state.read(), now);
    await state.write(rotating);
    const mid = await issue(ca, worker);
    // The new certificate comes with the cross-signed intermediate; the node trusts both roots.
    expect(splitPem(mid.certPem)).toHaveLength(2);
    expect(splitPem(mid.rootCertPem)).toHaveLength(2);
    expect(await chainsTo(mid.certPem, rotating.rootCertPem)).toBe(true);
    expect(await chainsTo(mid.certPem, rotating.rotation!.certPem)).toBe(true);
    expect(await chainsTo(old.certPem, mid.rootCertPem)).toBe(true);

    // Old ⇄ rotated, both directions, verified by OpenSSL.
    expect(await handshake(old, mid)).toEqual({ ok: true });
    expect(await handshake(mid, old)).toEqual({ ok: true });

    // A second rotation while one runs: refused, nothing changed.
    const e = await failure(beginRootRotation(rotating, now));
    expect(e.kind).toBe('failed_precondition');
    expect(e.message).toMatch(/already in progress/);
    expect((await state.read()).rotation?.certPem).toBe(rotating.rotation!.certPem);

    const done = completeRootRotation(await state.read());
    await state.write(done);
    expect(done.rotation).toBeUndefined();
    expect(done.rootCertPem).toBe(rotating.rotation!.certPem);
    // Tokens keep their secrets under the new root's digest; the old-digest token is refused.
    expect(parseToken(done.workerToken).secret).toBe(parseToken(worker).secret);
    expect(await ca.roleForToken(done.workerToken)).toBe('worker');
    expect((await failure(ca.roleForToken(worker))).message).toMatch(/CA digest/);

    const fresh = await issue(ca, done.workerToken);
    expect(splitPem(fresh.certPem)).toHaveLength(1);
    expect(fresh.rootCertPem).toBe(trustBundle(done));
    // The new root only: a node renewed during the rotation still talks to it; one of the old root does not.
    expect(await handshake(fresh, mid)).toEqual({ ok: true });
    expect(await handshake(mid, fresh)).toEqual({ ok: true });
    expect((await handshake(fresh, old)).ok).toBe(false);
    expect(await chainsTo(old.certPem, fresh.rootCertPem)).toBe(false);
  });

  it('an external root must be a CA with its own key', async () => {
    const s: CAState = await initCAState(now, 'clusterE');
    const other = await createRootCA(now);
    const e1 = await failure(
      beginRootRotation(s, now, { certPem: other.certPem, keyPem: (await createRootCA(now)).keyPem }),
    );
    expect(e1.field).toBe('CAConfig.SigningCAKey');
    const e2 = await failure(beginRootRotation(s, now, { certPem: 'nope', keyPem: other.keyPem }));
    expect(e2.field).toBe('CAConfig.SigningCACert');
    const state = new MemoryCAState(s);
    const ca = new CertificateAuthority({ state, clock: () => now });
    const leafOnly = await issue(ca, s.workerToken);
    const e3 = await failure(
      beginRootRotation(s, now, { certPem: leafOnly.certPem, keyPem: leafOnly.keyPem }),
    );
    expect(e3.message).toMatch(/not a CA certificate/);
    const ok = await beginRootRotation(s, now, other);
    expect(ok.rotation?.certPem).toBe(other.certPem);
    expect(
      nodeIdentityOf(
        (
          await issue(
            new CertificateAuthority({ state: new MemoryCAState(ok), clock: () => now }),
            s.workerToken,
          )
        ).certPem,
      ).clusterId,
    ).toBe('clusterE');
  });
});

describe('planRotation', () => {
  const node = (id: string, trustHash: string, asked = false) => ({ id, trustHash, asked });
  it('asks a batch at a time, counting those already asked, and is done when all moved', () => {
    const nodes = [
      node('a', 'old'),
      node('b', 'old'),
      node('c', 'old', true),
      node('d', 'new'),
      node('e', ''),
    ];
    expect(planRotation(nodes, 'new', 2)).toEqual({ ask: ['a'], moved: 1, total: 5, done: false });
    expect(planRotation(nodes, 'new', 1).ask).toEqual([]);
    expect(planRotation([node('a', 'new'), node('b', 'new')], 'new', 2)).toEqual({
      ask: [],
      moved: 2,
      total: 2,
      done: true,
    });
  });
});
