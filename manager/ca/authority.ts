// The certificate authority's decisions, without gRPC: make the cluster's root and tokens at init,
// issue a node certificate for a join token (the token decides the role), renew a node's certificate
// keeping its identity, and rotate tokens. Where the root key and tokens live, the clock and the id
// generator are injected: the replicated store backs CAStatePort in shoald; tests use the in-memory one.
import { createHash } from 'node:crypto';
import { customAlphabet } from 'nanoid';
import { ShoalError } from '../../common/errors.js';
import {
  certDigest,
  checkExternalRoot,
  createRootCA,
  crossSignRoot,
  DEFAULT_NODE_VALIDITY_MS,
  type NodeIdentity,
  type NodeRole,
  type RootCA,
  signNodeCSR,
} from './certs.js';
import { formatToken, generateToken, parseToken, secretsEqual } from './tokens.js';

/** What the cluster keeps about its CA (a field of the Cluster object in the store). */
export interface CAState {
  clusterId: string;
  rootCertPem: string;
  /** PKCS#8 PEM of the root key. */
  rootKeyPem: string;
  workerToken: string;
  managerToken: string;
  /** A root rotation under way: nodes are issued under `certPem`'s key with `crossSignedPem` after them. */
  rotation?: RootRotationState;
  /** The cluster's CAConfig.NodeCertExpiry; undefined: the CA's default. */
  nodeValidityMs?: number;
}

export interface RootRotationState {
  certPem: string;
  keyPem: string;
  crossSignedPem: string;
}

/** The roots a node must trust now: the root, and during a rotation the new one too. */
export function trustBundle(s: Pick<CAState, 'rootCertPem' | 'rotation'>): string {
  const pems = [s.rootCertPem, ...(s.rotation ? [s.rotation.certPem] : [])];
  return pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
}

/** sha256 (hex) of a trust bundle: what nodes' certificate records are compared with. */
export function trustHash(bundle: string): string {
  return createHash('sha256').update(bundle).digest('hex');
}

/**
 * Starts a root rotation: a new root (or the operator's), cross-signed by the current one. Refused while
 * another is under way.
 */
export async function beginRootRotation(s: CAState, now: Date, external?: RootCA): Promise<CAState> {
  if (s.rotation)
    throw new ShoalError(
      'failed_precondition',
      'a root CA rotation is already in progress: wait until it completes (docker swarm ca shows its progress)',
      { field: 'CAConfig.ForceRotate' },
    );
  const next = external ? await checkExternalRoot(external, now) : await createRootCA(now);
  if (certDigest(next.certPem).equals(certDigest(s.rootCertPem)))
    throw new ShoalError('invalid_argument', 'CAConfig.SigningCACert: this is already the root CA', {
      field: 'CAConfig.SigningCACert',
    });
  const crossSignedPem = await crossSignRoot(
    { certPem: s.rootCertPem, keyPem: s.rootKeyPem },
    next.certPem,
    now,
  );
  return { ...s, rotation: { certPem: next.certPem, keyPem: next.keyPem, crossSignedPem } };
}

/**
 * Ends a rotation once every node holds a certificate of the new root: the new root becomes the root, the
 * old one is trusted no more, and the join tokens keep their secrets under the new root's digest.
 */
export function completeRootRotation(s: CAState): CAState {
  if (!s.rotation) return s;
  const digest = certDigest(s.rotation.certPem);
  const reDigest = (token: string) => formatToken(digest, parseToken(token).secret);
  return {
    ...s,
    rootCertPem: s.rotation.certPem,
    rootKeyPem: s.rotation.keyPem,
    rotation: undefined,
    workerToken: reDigest(s.workerToken),
    managerToken: reDigest(s.managerToken),
  };
}

export interface CAStatePort {
  read(): Promise<CAState>;
  /** Replaces the state (a store transaction in shoald). */
  write(next: CAState): Promise<void>;
}

export class MemoryCAState implements CAStatePort {
  constructor(private state: CAState) {}
  async read(): Promise<CAState> {
    return { ...this.state };
  }
  async write(next: CAState): Promise<void> {
    this.state = { ...next };
  }
}

export interface IssuedCertificate {
  nodeId: string;
  role: NodeRole;
  /** The node certificate, followed during a rotation by the cross-signed intermediate. */
  certPem: string;
  /** The trust bundle the node is to use (trustBundle). */
  rootCertPem: string;
}

export interface AuthorityPorts {
  state: CAStatePort;
  clock: () => Date;
  /** New node ids (swarmkit's are 25 base-36 characters). */
  newNodeId?: () => string;
  nodeValidityMs?: number;
  /** Lowest validity signed (default one hour; see README.md on the test override). */
  minValidityMs?: number;
  /** The role the store currently wants for a node (promotion/demotion); the certificate's if undefined. */
  desiredRole?: (nodeId: string) => Promise<NodeRole | undefined>;
  /** Told about each certificate issued to a joining node (the store registers the node). */
  onJoined?: (issued: IssuedCertificate, addresses: readonly string[]) => Promise<void>;
  /** Told about each renewal (the store records which trust bundle the node now has). */
  onRenewed?: (issued: IssuedCertificate) => Promise<void>;
}

export const newSwarmId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 25);

/** `swarm init`: a new root CA and both join tokens. */
export async function initCAState(now: Date, clusterId: string = newSwarmId()): Promise<CAState> {
  const root = await createRootCA(now);
  const digest = certDigest(root.certPem);
  return {
    clusterId,
    rootCertPem: root.certPem,
    rootKeyPem: root.keyPem,
    workerToken: generateToken(digest),
    managerToken: generateToken(digest),
  };
}

export class CertificateAuthority {
  private readonly newNodeId: () => string;

  constructor(private readonly ports: AuthorityPorts) {
    this.newNodeId = ports.newNodeId ?? newSwarmId;
  }

  /** What a joiner pins (its token carries this root's digest, also during a rotation). */
  async rootCertificate(): Promise<string> {
    return (await this.ports.state.read()).rootCertPem;
  }

  async tokens(): Promise<{ worker: string; manager: string }> {
    const s = await this.ports.state.read();
    return { worker: s.workerToken, manager: s.managerToken };
  }

  /** A new secret for one role's token; the previous token stops working at once. */
  async rotateToken(role: NodeRole): Promise<string> {
    const s = await this.ports.state.read();
    const token = generateToken(certDigest(s.rootCertPem));
    await this.ports.state.write(
      role === 'manager' ? { ...s, managerToken: token } : { ...s, workerToken: token },
    );
    return token;
  }

  /** Which role a presented token grants, or an error saying why it grants none. */
  async roleForToken(token: string): Promise<NodeRole> {
    const presented = parseToken(token);
    const s = await this.ports.state.read();
    if (!presented.rootDigest.equals(certDigest(s.rootCertPem)))
      throw new ShoalError(
        'invalid_argument',
        'join token: its CA digest is not this cluster root CA (a token of another cluster?)',
        { field: 'token' },
      );
    // Compare against both secrets, always, so timing does not tell which role was close.
    const isManager = secretsEqual(presented.secret, parseToken(s.managerToken).secret);
    const isWorker = secretsEqual(presented.secret, parseToken(s.workerToken).secret);
    if (isManager) return 'manager';
    if (isWorker) return 'worker';
    throw new ShoalError('unauthenticated', 'join token: the secret is not valid (wrong or rotated token)', {
      field: 'token',
    });
  }

  /** A joining node: the token decides the role, the CA names the node. */
  async issue(req: {
    csrPem: string;
    token: string;
    addresses?: readonly string[];
  }): Promise<IssuedCertificate> {
    const role = await this.roleForToken(req.token);
    const s = await this.ports.state.read();
    const nodeId = this.newNodeId();
    const issued = await this.sign(s, { csrPem: req.csrPem, nodeId, role, addresses: req.addresses });
    await this.ports.onJoined?.(issued, req.addresses ?? []);
    return issued;
  }

  /**
   * A node already holding a certificate (authenticated by mTLS) asks for a new one: same node id,
   * the role the store wants for it (its current one unless promoted or demoted).
   */
  async renew(
    caller: NodeIdentity,
    req: { csrPem: string; addresses?: readonly string[] },
  ): Promise<IssuedCertificate> {
    const s = await this.ports.state.read();
    if (caller.clusterId !== s.clusterId)
      throw new ShoalError(
        'permission_denied',
        `node ${caller.nodeId} belongs to cluster ${caller.clusterId}`,
      );
    const role = (await this.ports.desiredRole?.(caller.nodeId)) ?? caller.role;
    const issued = await this.sign(s, {
      csrPem: req.csrPem,
      nodeId: caller.nodeId,
      role,
      addresses: req.addresses,
    });
    await this.ports.onRenewed?.(issued);
    return issued;
  }

  /** Signs with the root, or during a rotation with the new root (its cross-signed certificate after). */
  private async sign(
    s: CAState,
    req: { csrPem: string; nodeId: string; role: NodeRole; addresses?: readonly string[] },
  ): Promise<IssuedCertificate> {
    const signer = s.rotation ?? { certPem: s.rootCertPem, keyPem: s.rootKeyPem };
    const leaf = await signNodeCSR(signer, {
      ...req,
      clusterId: s.clusterId,
      now: this.ports.clock(),
      validityMs: s.nodeValidityMs ?? this.ports.nodeValidityMs ?? DEFAULT_NODE_VALIDITY_MS,
      minValidityMs: this.ports.minValidityMs,
    });
    const certPem = s.rotation ? `${leaf.trimEnd()}\n${s.rotation.crossSignedPem}` : leaf;
    return { nodeId: req.nodeId, role: req.role, certPem, rootCertPem: trustBundle(s) };
  }
}
