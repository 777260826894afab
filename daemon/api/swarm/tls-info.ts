// The TLSInfo Docker shows for nodes and the swarm: the root CA's PEM, and the DER of its subject and public
// key (the issuer of every node certificate). Derived from the root certificate when a node did not report
// its own, so `node inspect` and `--pretty`'s "TLS Info" match dockerd's shape.
import { X509Certificate } from 'node:crypto';
import type { NodeTlsInfo } from '../../../proto/gen/shoal/swarm/v1/objects.js';

/** One DER element at `at`: where its contents start and where it ends. */
function element(der: Buffer, at: number): { start: number; end: number } {
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  return { start, end: start + len };
}

/** The subject Name (raw DER) of an X.509 certificate. */
function subjectDer(cert: Buffer): Buffer {
  const tbs = element(cert, element(cert, 0).start);
  let at = tbs.start;
  if (cert[at] === 0xa0) at = element(cert, at).end; // [0] version
  // serial, signature algorithm, issuer, validity, then the subject
  for (let i = 0; i < 4; i++) at = element(cert, at).end;
  return cert.subarray(at, element(cert, at).end);
}

/** TLSInfo from a PEM root certificate; undefined when there is none or it does not parse. */
export function tlsInfoOfRoot(pem: Buffer): NodeTlsInfo | undefined {
  if (pem.length === 0) return undefined;
  try {
    const x = new X509Certificate(Buffer.from(pem));
    return {
      trustRoot: pem,
      certIssuerSubject: subjectDer(x.raw),
      certIssuerPublicKey: x.publicKey.export({ type: 'spki', format: 'der' }),
    };
  } catch {
    return undefined;
  }
}

/**
 * TLSInfo of a node holding `chainPem` (its certificate, then maybe a rotation's cross-signed intermediate)
 * and trusting `bundlePem`: the bundle, and the subject and key of what signed its certificate (the new root
 * during a rotation), as swarmkit's nodes report it.
 */
export function tlsInfoOf(chainPem: string, bundlePem: string): NodeTlsInfo | undefined {
  const certs = (s: string) =>
    (s.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
      (p) => new X509Certificate(p),
    );
  try {
    const [leaf, ...chain] = certs(chainPem);
    if (!leaf) return undefined;
    const issuer = [...certs(bundlePem), ...chain].find(
      (c) => leaf.checkIssued(c) && leaf.verify(c.publicKey),
    );
    if (!issuer) return undefined;
    return {
      trustRoot: Buffer.from(bundlePem),
      certIssuerSubject: subjectDer(issuer.raw),
      certIssuerPublicKey: issuer.publicKey.export({ type: 'spki', format: 'der' }),
    };
  } catch {
    return undefined;
  }
}
