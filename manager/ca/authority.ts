// The certificate authority's decisions, without gRPC: make the cluster's root and tokens at init,
// issue a node certificate for a join token (the token decides the role), renew a node's certificate
// keeping its identity, and rotate tokens. Where the root key and tokens live, the clock and the id
// generator are injected: the replicated store backs CAStatePort in shoald; tests use the in-memory one.
import { customAlphabet } from 'nanoid';
import { ShoalError } from '../../common/errors.js';
import {
  certDigest,
  createRootCA,
  DEFAULT_NODE_VALIDITY_MS,
  type NodeIdentity,
  type NodeRole,
  signNodeCSR,
} from './certs.js';
import { generateToken, parseToken, secretsEqual } from './tokens.js';

/** What the cluster keeps about its CA (a field of the Cluster object in the store). */
export interface CAState {
  clusterId: string;
  rootCertPem: string;
  /** PKCS#8 PEM of the root key. */
  rootKeyPem: string;
  workerToken: string;
  managerToken: string;
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
  certPem: string;
  rootCertPem: string;
}

export interface AuthorityPorts {
  state: CAStatePort;
  clock: () => Date;
  /** New node ids (swarmkit's are 25 base-36 characters). */
  newNodeId?: () => string;
  nodeValidityMs?: number;
  /** The role the store currently wants for a node (promotion/demotion); the certificate's if undefined. */
  desiredRole?: (nodeId: string) => Promise<NodeRole | undefined>;
  /** Told about each certificate issued to a joining node (the store registers the node). */
  onJoined?: (issued: IssuedCertificate, addresses: readonly string[]) => Promise<void>;
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
    const certPem = await signNodeCSR(
      { certPem: s.rootCertPem, keyPem: s.rootKeyPem },
      {
        csrPem: req.csrPem,
        nodeId,
        role,
        clusterId: s.clusterId,
        addresses: req.addresses,
        now: this.ports.clock(),
        validityMs: this.ports.nodeValidityMs ?? DEFAULT_NODE_VALIDITY_MS,
      },
    );
    const issued = { nodeId, role, certPem, rootCertPem: s.rootCertPem };
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
    const certPem = await signNodeCSR(
      { certPem: s.rootCertPem, keyPem: s.rootKeyPem },
      {
        csrPem: req.csrPem,
        nodeId: caller.nodeId,
        role,
        clusterId: s.clusterId,
        addresses: req.addresses,
        now: this.ports.clock(),
        validityMs: this.ports.nodeValidityMs ?? DEFAULT_NODE_VALIDITY_MS,
      },
    );
    return { nodeId: caller.nodeId, role, certPem, rootCertPem: s.rootCertPem };
  }
}
