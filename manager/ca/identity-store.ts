// A node's identity on disk (as swarm's certificates/ directory): its private key (0600), its
// certificate and the cluster root it trusts. Each file is written whole to a temporary name, synced,
// then renamed, so a crash leaves either the old or the new file. The key is renamed last; if a crash
// falls between the certificate's rename and the key's, loading finishes the job from the leftover.
// Loading refuses files that do not belong together or belong to another cluster, saying which.
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ShoalError } from '../../common/errors.js';
import { syncDir } from '../../common/sync-dir.js';
import { certDigest, chainsTo, keyMatchesCert, nodeIdentityOf } from './certs.js';
import type { NodeCredentials } from './join.js';
import type { TlsIdentity } from './tls.js';

export const IDENTITY_FILES = { key: 'node.key', cert: 'node.crt', root: 'root-ca.crt' } as const;
const TMP = '.tmp';

async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = file + TMP;
  const fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  try {
    await fh.chmod(mode); // in case tmp existed with another mode
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function saveNodeIdentity(dir: string, id: TlsIdentity): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const p = (name: string) => path.join(dir, name);
  await writeAtomic(p(IDENTITY_FILES.root), id.rootCertPem, 0o644);
  await writeAtomic(p(IDENTITY_FILES.cert), id.certPem, 0o644);
  await writeAtomic(p(IDENTITY_FILES.key), id.keyPem, 0o600);
  await syncDir(dir);
  await fs.rename(p(IDENTITY_FILES.root) + TMP, p(IDENTITY_FILES.root));
  await fs.rename(p(IDENTITY_FILES.cert) + TMP, p(IDENTITY_FILES.cert));
  await fs.rename(p(IDENTITY_FILES.key) + TMP, p(IDENTITY_FILES.key));
  await syncDir(dir);
}

export interface LoadOptions {
  /** The root this node must trust (its digest, from a join token or the configuration). */
  expectedRootDigest?: Buffer;
  expectedClusterId?: string;
}

/**
 * The identity saved in `dir`, or undefined when the node has none yet (never joined). Files that are
 * partial, mismatched or of another cluster are refused with an error naming the problem.
 */
export async function loadNodeIdentity(
  dir: string,
  opts: LoadOptions = {},
): Promise<NodeCredentials | undefined> {
  const p = (name: string) => path.join(dir, name);
  const [rootCertPem, certPem] = await Promise.all([
    readIfExists(p(IDENTITY_FILES.root)),
    readIfExists(p(IDENTITY_FILES.cert)),
  ]);
  let keyPem = await readIfExists(p(IDENTITY_FILES.key));
  if (rootCertPem === undefined && certPem === undefined && keyPem === undefined) return undefined;
  const missing = Object.entries({ [IDENTITY_FILES.root]: rootCertPem, [IDENTITY_FILES.cert]: certPem })
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
  if (
    missing.length > 0 ||
    (keyPem === undefined && (await readIfExists(p(IDENTITY_FILES.key) + TMP)) === undefined)
  )
    throw new ShoalError(
      'failed_precondition',
      `node identity in ${dir} is incomplete: missing ${[...missing, ...(keyPem === undefined ? [IDENTITY_FILES.key] : [])].join(', ')}`,
    );

  // A save interrupted between the certificate's rename and the key's: the new key is in the leftover.
  if (keyPem === undefined || !(await keyMatchesCert(keyPem, certPem!))) {
    const pending = await readIfExists(p(IDENTITY_FILES.key) + TMP);
    if (pending !== undefined && (await keyMatchesCert(pending, certPem!))) {
      await fs.rename(p(IDENTITY_FILES.key) + TMP, p(IDENTITY_FILES.key));
      await syncDir(dir);
      keyPem = pending;
    } else {
      throw new ShoalError(
        'failed_precondition',
        `node identity in ${dir}: ${IDENTITY_FILES.key} is not the key of ${IDENTITY_FILES.cert}`,
      );
    }
  }

  if (opts.expectedRootDigest && !certDigest(rootCertPem!).equals(opts.expectedRootDigest))
    throw new ShoalError(
      'failed_precondition',
      `node identity in ${dir} belongs to another cluster: its root CA (sha256 ${certDigest(rootCertPem!).toString('hex')}) is not the expected one (sha256 ${opts.expectedRootDigest.toString('hex')}); leave that cluster (remove ${dir}) to join this one`,
    );
  if (!(await chainsTo(certPem!, rootCertPem!)))
    throw new ShoalError(
      'failed_precondition',
      `node identity in ${dir}: ${IDENTITY_FILES.cert} was not issued by ${IDENTITY_FILES.root} (a certificate of another cluster)`,
    );
  const who = nodeIdentityOf(certPem!);
  if (opts.expectedClusterId !== undefined && who.clusterId !== opts.expectedClusterId)
    throw new ShoalError(
      'failed_precondition',
      `node identity in ${dir} belongs to cluster ${who.clusterId}, not ${opts.expectedClusterId}`,
    );
  return {
    nodeId: who.nodeId,
    role: who.role,
    clusterId: who.clusterId,
    keyPem: keyPem!,
    certPem: certPem!,
    rootCertPem: rootCertPem!,
  };
}
