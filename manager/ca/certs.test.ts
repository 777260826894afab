import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../common/errors.js';
import {
  certDigest,
  createNodeKeyAndCSR,
  createRootCA,
  DEFAULT_NODE_VALIDITY_MS,
  isSignedBy,
  keyMatchesCert,
  needsRenewal,
  nodeIdentityOf,
  renewalTime,
  signNodeCSR,
} from './certs.js';

const now = new Date('2026-01-01T00:00:00Z');
const DAY = 24 * 3600_000;

async function rejects(p: Promise<unknown>, field: string, re: RegExp) {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(isShoalError(err, 'invalid_argument'), String(err)).toBe(true);
  expect(err.field).toBe(field);
  expect(err.message).toMatch(re);
}

describe('certificates', () => {
  it('root: self-signed CA "swarm-ca", ECDSA P-256, about 20 years', async () => {
    const root = await createRootCA(now);
    const c = new X509Certificate(root.certPem); // node's own parser agrees with the library's output
    expect(c.subject).toBe('CN=swarm-ca');
    expect(c.ca).toBe(true);
    expect(c.checkIssued(c)).toBe(true);
    expect(c.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const years = (Date.parse(c.validTo) - now.getTime()) / (365 * DAY);
    expect(years).toBeGreaterThan(19.9);
    expect(root.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(certDigest(root.certPem)).toHaveLength(32);
  });

  it('node certificate: CN node id, OU role, O cluster, SANs, 90 days, signed by the root', async () => {
    const root = await createRootCA(now);
    const { keyPem, csrPem } = await createNodeKeyAndCSR();
    const pem = await signNodeCSR(root, {
      csrPem,
      nodeId: 'node1',
      role: 'manager',
      clusterId: 'clusterA',
      addresses: ['127.0.0.5', '::1'],
      now,
    });
    const c = new X509Certificate(pem);
    expect(c.subject.split('\n').sort()).toEqual(['CN=node1', 'O=clusterA', 'OU=swarm-manager']);
    expect(c.subjectAltName).toContain('DNS:swarm-manager');
    expect(c.subjectAltName).toContain('IP Address:127.0.0.5');
    expect(c.ca).toBe(false);
    expect(c.verify(new X509Certificate(root.certPem).publicKey)).toBe(true);
    expect(Date.parse(c.validTo) - now.getTime()).toBe(DEFAULT_NODE_VALIDITY_MS);
    expect(Date.parse(c.validFrom)).toBe(now.getTime() - 3600_000); // backdated an hour
    const who = nodeIdentityOf(pem);
    expect(who).toMatchObject({ nodeId: 'node1', role: 'manager', clusterId: 'clusterA' });
    expect(await isSignedBy(pem, root.certPem)).toBe(true);
    expect(await isSignedBy(pem, (await createRootCA(now)).certPem)).toBe(false);
    expect(await keyMatchesCert(keyPem, pem)).toBe(true);
    expect(await keyMatchesCert((await createNodeKeyAndCSR()).keyPem, pem)).toBe(false);
  });

  it('the CA names the node: the CSR subject is ignored', async () => {
    const root = await createRootCA(now);
    const { csrPem } = await createNodeKeyAndCSR();
    const pem = await signNodeCSR(root, { csrPem, nodeId: 'n2', role: 'worker', clusterId: 'c', now });
    expect(nodeIdentityOf(pem)).toMatchObject({ nodeId: 'n2', role: 'worker', clusterId: 'c' });
    expect(new X509Certificate(pem).subjectAltName).toBe('DNS:swarm-worker, DNS:n2');
  });

  it('refuses bad signing requests naming the field', async () => {
    const root = await createRootCA(now);
    const { csrPem } = await createNodeKeyAndCSR();
    const base = { csrPem, nodeId: 'n', role: 'worker' as const, clusterId: 'c', now };
    await rejects(signNodeCSR(root, { ...base, csrPem: 'garbage' }), 'csr', /not a PEM PKCS#10/);
    // A CSR altered after signing: one letter of its subject changed.
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const at = der.indexOf('swarm-node');
    expect(at).toBeGreaterThan(0);
    der[at] = 'S'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----`;
    await rejects(signNodeCSR(root, { ...base, csrPem: tampered }), 'csr', /signature does not match/);
    await rejects(signNodeCSR(root, { ...base, nodeId: 'a,b' }), 'nodeId', /not a valid id/);
    await rejects(signNodeCSR(root, { ...base, clusterId: '' }), 'clusterId', /not a valid id/);
    await rejects(signNodeCSR(root, { ...base, addresses: ['host.example'] }), 'addresses', /not an IP/);
    await rejects(signNodeCSR(root, { ...base, validityMs: 60_000 }), 'validityMs', /minimum of 1 hour/);
  });

  it('a root certificate is not a node certificate', async () => {
    const root = await createRootCA(now);
    expect(() => nodeIdentityOf(root.certPem)).toThrow(/not a node certificate/);
  });

  it('renewal falls 50–80 % into the validity', () => {
    const id = {
      notBefore: new Date(now.getTime() - 3600_000),
      notAfter: new Date(now.getTime() + 100 * DAY),
    };
    expect(renewalTime(id, () => 0).getTime()).toBe(now.getTime() + 50 * DAY);
    expect(renewalTime(id, () => 1).getTime()).toBe(now.getTime() + 80 * DAY);
    expect(needsRenewal(id, new Date(now.getTime() + 79 * DAY))).toBe(false);
    expect(needsRenewal(id, new Date(now.getTime() + 80 * DAY))).toBe(true);
  });
});
