import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import { CertificateAuthority, initCAState, MemoryCAState } from './authority.js';
import { createNodeKeyAndCSR, isSignedBy, nodeIdentityOf } from './certs.js';
import { parseToken } from './tokens.js';

const now = new Date('2026-03-01T00:00:00Z');

async function setup(opts: { desiredRole?: (id: string) => Promise<'manager' | 'worker' | undefined> } = {}) {
  const state = new MemoryCAState(await initCAState(now, 'clusterX'));
  let n = 0;
  const joined: string[] = [];
  const ca = new CertificateAuthority({
    state,
    clock: () => now,
    newNodeId: () => `node${++n}`,
    desiredRole: opts.desiredRole,
    onJoined: async (i) => {
      joined.push(`${i.nodeId}:${i.role}`);
    },
  });
  return { ca, state, joined };
}

async function failure(p: Promise<unknown>): Promise<ShoalError> {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(isShoalError(err), String(err)).toBe(true);
  return err as ShoalError;
}

describe('CertificateAuthority', () => {
  it('init makes a root and two different tokens carrying its digest', async () => {
    const { ca } = await setup();
    const t = await ca.tokens();
    expect(t.worker).not.toBe(t.manager);
    expect(parseToken(t.worker).rootDigest.equals(parseToken(t.manager).rootDigest)).toBe(true);
  });

  it('the token decides the role; the CA names the node', async () => {
    const { ca, joined } = await setup();
    const t = await ca.tokens();
    const w = await ca.issue({ csrPem: (await createNodeKeyAndCSR()).csrPem, token: t.worker });
    const m = await ca.issue({
      csrPem: (await createNodeKeyAndCSR()).csrPem,
      token: t.manager,
      addresses: ['127.0.0.9'],
    });
    expect(nodeIdentityOf(w.certPem)).toMatchObject({
      nodeId: 'node1',
      role: 'worker',
      clusterId: 'clusterX',
    });
    expect(nodeIdentityOf(m.certPem)).toMatchObject({
      nodeId: 'node2',
      role: 'manager',
      clusterId: 'clusterX',
    });
    expect(await isSignedBy(w.certPem, await ca.rootCertificate())).toBe(true);
    expect(joined).toEqual(['node1:worker', 'node2:manager']);
  });

  it('refuses a wrong secret, a rotated token, and another cluster’s token', async () => {
    const { ca } = await setup();
    const other = await setup();
    const { csrPem } = await createNodeKeyAndCSR();
    const t = await ca.tokens();
    const wrong = t.worker.slice(0, -1) + (t.worker.endsWith('0') ? '1' : '0');
    let err = await failure(ca.issue({ csrPem, token: wrong }));
    expect(err.kind).toBe('unauthenticated');
    expect(err.message).toMatch(/secret is not valid/);

    const fresh = await ca.rotateToken('worker');
    err = await failure(ca.issue({ csrPem, token: t.worker }));
    expect(err.kind).toBe('unauthenticated');
    expect((await ca.issue({ csrPem, token: fresh })).role).toBe('worker');
    expect((await ca.tokens()).manager).toBe(t.manager); // rotating one leaves the other

    err = await failure(ca.issue({ csrPem, token: (await other.ca.tokens()).manager }));
    expect(err.kind).toBe('invalid_argument');
    expect(err.message).toMatch(/CA digest is not this cluster/);

    err = await failure(ca.issue({ csrPem, token: 'SWMTKN-1-abc' }));
    expect(err.field).toBe('token');
  });

  it('renewal keeps node id and role, unless the store says otherwise', async () => {
    const desired = new Map<string, 'manager' | 'worker'>();
    const { ca } = await setup({ desiredRole: async (id) => desired.get(id) });
    const t = await ca.tokens();
    const w = await ca.issue({ csrPem: (await createNodeKeyAndCSR()).csrPem, token: t.worker });
    const caller = nodeIdentityOf(w.certPem);
    const r1 = await ca.renew(caller, { csrPem: (await createNodeKeyAndCSR()).csrPem });
    expect(nodeIdentityOf(r1.certPem)).toMatchObject({ nodeId: caller.nodeId, role: 'worker' });
    desired.set(caller.nodeId, 'manager'); // promoted
    const r2 = await ca.renew(caller, { csrPem: (await createNodeKeyAndCSR()).csrPem });
    expect(nodeIdentityOf(r2.certPem).role).toBe('manager');
    const err = await failure(ca.renew({ ...caller, clusterId: 'elsewhere' }, { csrPem: 'x' }));
    expect(err.kind).toBe('permission_denied');
  });
});
