import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../common/errors.js';
import { certDigest, createNodeKeyAndCSR, createRootCA, type RootCA, signNodeCSR } from './certs.js';
import { IDENTITY_FILES, loadNodeIdentity, saveNodeIdentity } from './identity-store.js';

const now = new Date('2026-03-01T00:00:00Z');
let dir: string;
let root: RootCA;

async function nodeIdentity(r: RootCA, clusterId = 'c1') {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const certPem = await signNodeCSR(r, { csrPem, nodeId: 'n1', role: 'worker', clusterId, now });
  return { keyPem, certPem, rootCertPem: r.certPem };
}

async function refused(p: Promise<unknown>, re: RegExp) {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(isShoalError(err, 'failed_precondition'), String(err)).toBe(true);
  expect(err.message).toMatch(re);
}

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(tmpdir(), 'shoal-ca-id-'));
  root = await createRootCA(now);
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('node identity on disk', () => {
  it('saves (key 0600) and loads back', async () => {
    const id = await nodeIdentity(root);
    const sub = path.join(dir, 'certificates');
    expect(await loadNodeIdentity(sub)).toBeUndefined(); // never joined
    await saveNodeIdentity(sub, id);
    expect((await fs.stat(path.join(sub, IDENTITY_FILES.key))).mode & 0o777).toBe(0o600);
    expect((await fs.readdir(sub)).sort()).toEqual(Object.values(IDENTITY_FILES).sort()); // no leftovers
    const back = await loadNodeIdentity(sub, {
      expectedRootDigest: certDigest(root.certPem),
      expectedClusterId: 'c1',
    });
    expect(back).toMatchObject({ ...id, nodeId: 'n1', role: 'worker', clusterId: 'c1' });
  });

  it('a second save replaces the first', async () => {
    await saveNodeIdentity(dir, await nodeIdentity(root));
    const next = await nodeIdentity(root);
    await saveNodeIdentity(dir, next);
    expect((await loadNodeIdentity(dir))?.keyPem).toBe(next.keyPem);
  });

  it('refuses a certificate of another cluster', async () => {
    await saveNodeIdentity(dir, await nodeIdentity(root));
    const other = await createRootCA(now);
    await refused(
      loadNodeIdentity(dir, { expectedRootDigest: certDigest(other.certPem) }),
      /belongs to another cluster: its root CA/,
    );
    await refused(loadNodeIdentity(dir, { expectedClusterId: 'c2' }), /belongs to cluster c1, not c2/);
    // a certificate issued by another root next to this root
    const foreign = await nodeIdentity(other);
    await fs.writeFile(path.join(dir, IDENTITY_FILES.cert), foreign.certPem);
    await fs.writeFile(path.join(dir, IDENTITY_FILES.key), foreign.keyPem);
    await refused(loadNodeIdentity(dir), /was not issued by root-ca.crt/);
  });

  it('refuses partial or mismatched files, naming them', async () => {
    const id = await nodeIdentity(root);
    await saveNodeIdentity(dir, id);
    await fs.rm(path.join(dir, IDENTITY_FILES.cert));
    await refused(loadNodeIdentity(dir), /incomplete: missing node.crt/);
    await saveNodeIdentity(dir, id);
    await fs.writeFile(path.join(dir, IDENTITY_FILES.key), (await createNodeKeyAndCSR()).keyPem);
    await refused(loadNodeIdentity(dir), /node.key is not the key of node.crt/);
  });

  it('finishes a save interrupted between the certificate and the key', async () => {
    const old = await nodeIdentity(root);
    await saveNodeIdentity(dir, old);
    const next = await nodeIdentity(root);
    // the state after a crash: new cert in place, new key still under its temporary name
    await fs.writeFile(path.join(dir, IDENTITY_FILES.cert), next.certPem);
    await fs.writeFile(path.join(dir, `${IDENTITY_FILES.key}.tmp`), next.keyPem, { mode: 0o600 });
    const back = await loadNodeIdentity(dir);
    expect(back?.keyPem).toBe(next.keyPem);
    expect(await fs.readFile(path.join(dir, IDENTITY_FILES.key), 'utf8')).toBe(next.keyPem);
  });
});
