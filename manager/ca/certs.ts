// Certificates of the cluster, as swarmkit makes them: one self-signed root (CN "swarm-ca", 20 years),
// and node certificates signed by it whose subject names the node (CN = node id), its role
// (OU = swarm-manager | swarm-worker) and the cluster (O = cluster id). The CA names the node itself;
// the subject a joiner writes into its CSR is ignored, only its public key is used.
//
// Keys are ECDSA P-256 and travel as PEM (PKCS#8 for keys, as node:tls wants them).
import { createHash, randomBytes, type webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { ShoalError } from '../../common/errors.js';
import { EC_ALG, SIGN_ALG, subtle, x509 } from './x509.js';

export type NodeRole = 'manager' | 'worker';

export const ROLE_OU: Record<NodeRole, string> = { manager: 'swarm-manager', worker: 'swarm-worker' };
/** DNS SAN put on every node certificate: the name our own server-identity check expects, by role. */
export const ROLE_DNS = ROLE_OU;

export const ROOT_CN = 'swarm-ca';
export const ROOT_VALIDITY_MS = 20 * 365 * 24 * 3600_000;
export const DEFAULT_NODE_VALIDITY_MS = 90 * 24 * 3600_000;
export const MIN_NODE_VALIDITY_MS = 3600_000;
/** Node certificates start an hour in the past so that clocks slightly behind still accept them. */
export const BACKDATE_MS = 3600_000;

export interface RootCA {
  certPem: string;
  /** PKCS#8 PEM. Lives in the replicated store (later encrypted); never sent to a node. */
  keyPem: string;
}

export interface NodeKeyPair {
  keyPem: string;
  csrPem: string;
}

/** Who a node certificate says its holder is. */
export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  notBefore: Date;
  notAfter: Date;
}

function roleFromOU(ou: string): NodeRole | undefined {
  if (ou === ROLE_OU.manager) return 'manager';
  if (ou === ROLE_OU.worker) return 'worker';
  return undefined;
}

function serial(): string {
  // Positive 128-bit serial (top bit clear so the DER integer stays positive).
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export async function importPrivateKey(pem: string, field = 'key'): Promise<webcrypto.CryptoKey> {
  try {
    const der = x509.PemConverter.decodeFirst(pem);
    return await subtle.importKey('pkcs8', der, EC_ALG, true, ['sign']);
  } catch (err) {
    throw new ShoalError(
      'invalid_argument',
      `${field}: not a PEM PKCS#8 ECDSA P-256 private key (${(err as Error).message})`,
      { field: field },
    );
  }
}

/** The first certificate of `pem` (a chain's leaf, a bundle's first root). */
export function parseCertificate(pem: string, field = 'certificate'): x509.X509Certificate {
  try {
    return new x509.X509Certificate(splitPem(pem)[0] ?? pem);
  } catch (err) {
    throw new ShoalError(
      'invalid_argument',
      `${field}: not a PEM X.509 certificate (${(err as Error).message})`,
      { field: field },
    );
  }
}

/** SHA-256 of the certificate's DER: what join tokens and pins carry (independent of PEM whitespace). */
export function certDigest(pem: string): Buffer {
  return createHash('sha256')
    .update(Buffer.from(parseCertificate(pem).rawData))
    .digest();
}

/** Made once, at `swarm init`. */
export async function createRootCA(now: Date, validityMs = ROOT_VALIDITY_MS): Promise<RootCA> {
  const keys = (await subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [ROOT_CN] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityMs),
    keys,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** Made on the node that joins (or renews): the key never leaves it, only the CSR does. */
export async function createNodeKeyAndCSR(): Promise<NodeKeyPair> {
  const keys = (await subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: ['swarm-node'] }],
    keys,
    signingAlgorithm: SIGN_ALG,
  });
  return { keyPem: await exportKeyPem(keys.privateKey), csrPem: csr.toString('pem') };
}

export interface SignRequest {
  csrPem: string;
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  /** IP addresses the node advertises: become IP SANs. */
  addresses?: readonly string[];
  now: Date;
  validityMs?: number;
  /** Lowest validity accepted (default MIN_NODE_VALIDITY_MS, one hour). */
  minValidityMs?: number;
}

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** The CA's one signing operation: a verified CSR in, a node certificate naming id, role and cluster out. */
export async function signNodeCSR(root: RootCA, req: SignRequest): Promise<string> {
  if (!ID_RE.test(req.nodeId))
    throw new ShoalError('invalid_argument', `node id ${JSON.stringify(req.nodeId)} is not a valid id`, {
      field: 'nodeId',
    });
  if (!ID_RE.test(req.clusterId))
    throw new ShoalError(
      'invalid_argument',
      `cluster id ${JSON.stringify(req.clusterId)} is not a valid id`,
      { field: 'clusterId' },
    );
  const validity = req.validityMs ?? DEFAULT_NODE_VALIDITY_MS;
  const min = req.minValidityMs ?? MIN_NODE_VALIDITY_MS;
  if (!(validity >= min))
    throw new ShoalError(
      'invalid_argument',
      `certificate validity ${validity} ms is below the minimum of ${min === MIN_NODE_VALIDITY_MS ? '1 hour' : `${min} ms`}`,
      { field: 'validityMs' },
    );
  const addresses = req.addresses ?? [];
  for (const a of addresses)
    if (isIP(a) === 0)
      throw new ShoalError('invalid_argument', `address ${JSON.stringify(a)} is not an IP address`, {
        field: 'addresses',
      });

  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(req.csrPem);
  } catch (err) {
    throw new ShoalError('invalid_argument', `csr: not a PEM PKCS#10 request (${(err as Error).message})`, {
      field: 'csr',
    });
  }
  const signed = await csr.verify().catch(() => false);
  if (!signed)
    throw new ShoalError('invalid_argument', 'csr: its signature does not match its content', {
      field: 'csr',
    });
  const pubAlg = csr.publicKey.algorithm as webcrypto.EcKeyAlgorithm;
  if (pubAlg.name !== 'ECDSA' || pubAlg.namedCurve !== 'P-256')
    throw new ShoalError('invalid_argument', 'csr: the key must be ECDSA P-256', { field: 'csr' });

  const rootCert = parseCertificate(root.certPem, 'root certificate');
  const signingKey = await importPrivateKey(root.keyPem, 'root key');
  const now = req.now.getTime();
  const notAfter = Math.min(now + validity, rootCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [req.nodeId] }, { OU: [ROLE_OU[req.role]] }, { O: [req.clusterId] }],
    issuer: rootCert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey: csr.publicKey,
    signingKey,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: ROLE_DNS[req.role] },
        { type: 'dns', value: req.nodeId },
        ...addresses.map((a) => ({ type: 'ip' as const, value: a })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootCert.publicKey),
    ],
  });
  return cert.toString('pem');
}

/** Reads id, role and cluster from a node certificate (the DER of a TLS peer, or PEM). */
export function nodeIdentityOf(cert: string | Uint8Array | x509.X509Certificate): NodeIdentity {
  const c =
    cert instanceof x509.X509Certificate
      ? cert
      : typeof cert === 'string'
        ? parseCertificate(cert)
        : new x509.X509Certificate(cert);
  const name = c.subjectName;
  const nodeId = name.getField('CN')[0];
  const ou = name.getField('OU')[0];
  const clusterId = name.getField('O')[0];
  const role = ou === undefined ? undefined : roleFromOU(ou);
  if (!nodeId || !clusterId || !role)
    throw new ShoalError(
      'unauthenticated',
      `certificate subject ${JSON.stringify(c.subject)} is not a node certificate (needs CN, OU swarm-manager|swarm-worker, O)`,
    );
  return { nodeId, role, clusterId, notBefore: c.notBefore, notAfter: c.notAfter };
}

/** True when `certPem` was signed by `rootPem`'s key and names that root as issuer. */
export async function isSignedBy(certPem: string, rootPem: string): Promise<boolean> {
  const cert = parseCertificate(certPem);
  const root = parseCertificate(rootPem, 'root certificate');
  if (cert.issuer !== root.subject) return false;
  return cert.verify({ publicKey: root.publicKey, signatureOnly: true });
}

/** True when the private key belongs to the certificate (their public halves match). */
export async function keyMatchesCert(keyPem: string, certPem: string): Promise<boolean> {
  const key = await importPrivateKey(keyPem);
  const jwk = await subtle.exportKey('jwk', key);
  const pub = await subtle.importKey(
    'jwk',
    { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
    EC_ALG,
    true,
    ['verify'],
  );
  const spki = Buffer.from(await subtle.exportKey('spki', pub));
  return spki.equals(Buffer.from(parseCertificate(certPem).publicKey.rawData));
}

/**
 * When a node should renew: at a point 50–80 % into its certificate's validity (chosen by `random`,
 * so that nodes issued together do not all renew together), as swarmkit does.
 */
export function renewalTime(
  identity: Pick<NodeIdentity, 'notBefore' | 'notAfter'>,
  random: () => number,
): Date {
  const start = identity.notBefore.getTime() + BACKDATE_MS;
  const span = identity.notAfter.getTime() - start;
  return new Date(start + span * (0.5 + 0.3 * random()));
}

/** True once `now` has reached the renewal point of a certificate (`fraction` of its validity, default 0.8). */
export function needsRenewal(
  identity: Pick<NodeIdentity, 'notBefore' | 'notAfter'>,
  now: Date,
  fraction = 0.8,
): boolean {
  const start = identity.notBefore.getTime() + BACKDATE_MS;
  const span = identity.notAfter.getTime() - start;
  return now.getTime() >= start + span * fraction;
}

// ---- root rotation: bundles, chains, the cross-signed intermediate ----

/** The certificates of a PEM bundle (a trust bundle, or a leaf followed by its intermediate), in order. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

async function signedBy(cert: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  if (cert.issuer !== issuer.subject) return false;
  return cert.verify({ publicKey: issuer.publicKey, signatureOnly: true }).catch(() => false);
}

/**
 * True when the first certificate of `chainPem` leads to a root of `bundlePem`: signed by one directly, or by
 * the chain's next certificate (a CA) which a root signed — the one level a root rotation's cross-signed
 * intermediate adds.
 */
export async function chainsTo(chainPem: string, bundlePem: string): Promise<boolean> {
  const [leaf, ...rest] = splitPem(chainPem).map((p) => parseCertificate(p));
  if (!leaf) return false;
  const roots = splitPem(bundlePem).map((p) => parseCertificate(p, 'root certificate'));
  for (const root of roots) if (await signedBy(leaf, root)) return true;
  for (const mid of rest) {
    const bc = mid.getExtension(x509.BasicConstraintsExtension);
    if (!bc?.ca || !(await signedBy(leaf, mid))) continue;
    for (const root of roots) if (await signedBy(mid, root)) return true;
  }
  return false;
}

/**
 * The new root's subject and key, signed by the old root's key (swarmkit's cross-signed CA certificate): a
 * node that trusts only the old root accepts a certificate signed by the new key when this comes with it.
 */
export async function crossSignRoot(oldRoot: RootCA, newRootPem: string, now: Date): Promise<string> {
  const oldCert = parseCertificate(oldRoot.certPem, 'root certificate');
  const next = parseCertificate(newRootPem, 'new root certificate');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: next.subjectName,
    issuer: oldCert.subjectName,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(Math.min(next.notAfter.getTime(), oldCert.notAfter.getTime())),
    publicKey: next.publicKey,
    signingKey: await importPrivateKey(oldRoot.keyPem, 'root key'),
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(next.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(oldCert.publicKey),
    ],
  });
  return cert.toString('pem');
}

/**
 * An operator's root for `swarm ca --rotate --ca-cert --ca-key`, checked: one CA certificate, valid now,
 * and its ECDSA P-256 key (what this CA signs with).
 */
export async function checkExternalRoot(root: RootCA, now: Date): Promise<RootCA> {
  const certs = splitPem(root.certPem);
  if (certs.length !== 1)
    throw new ShoalError(
      'invalid_argument',
      `CAConfig.SigningCACert: expected one PEM certificate, got ${certs.length}`,
      {
        field: 'CAConfig.SigningCACert',
      },
    );
  const cert = parseCertificate(certs[0]!, 'CAConfig.SigningCACert');
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca)
    throw new ShoalError(
      'invalid_argument',
      'CAConfig.SigningCACert: not a CA certificate (basic constraints CA:false)',
      {
        field: 'CAConfig.SigningCACert',
      },
    );
  if (cert.notBefore.getTime() > now.getTime() || cert.notAfter.getTime() <= now.getTime())
    throw new ShoalError('invalid_argument', 'CAConfig.SigningCACert: not valid now', {
      field: 'CAConfig.SigningCACert',
    });
  await importPrivateKey(root.keyPem, 'CAConfig.SigningCAKey');
  if (!(await keyMatchesCert(root.keyPem, certs[0]!)))
    throw new ShoalError(
      'invalid_argument',
      'CAConfig.SigningCAKey: does not belong to CAConfig.SigningCACert',
      {
        field: 'CAConfig.SigningCAKey',
      },
    );
  return { certPem: certs[0]!, keyPem: root.keyPem };
}
