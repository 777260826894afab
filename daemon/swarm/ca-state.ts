// The CA's state as the replicated store keeps it (the Cluster object's RootCa and CAConfig), the node
// certificate records a root rotation is decided from, and the leader's rotation loop. manager/ca decides
// (trust bundles, cross-signing, the batch plan); this file only moves its decisions in and out of the store.
import {
  type CAState,
  type CAStatePort,
  certDigest,
  completeRootRotation,
  type IssuedCertificate,
  planRotation,
  trustBundle,
  trustHash,
} from '../../manager/ca/index.js';
import { durationMs } from '../../manager/controlapi/index.js';
import type { Store } from '../../manager/store/index.js';
import { clone } from '../../manager/store/tables.js';
import {
  type Cluster,
  IssuanceState,
  type Node,
  type RootCa,
} from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeRole } from '../../proto/gen/shoal/swarm/v1/types.js';
import { tlsInfoOf } from '../api/swarm/tls-info.js';

const pem = (b: Uint8Array | undefined) => Buffer.from(b ?? Buffer.alloc(0)).toString();

export function caStateOf(c: Cluster): CAState {
  const ca = c.rootCa as RootCa;
  const r = ca.rootRotation;
  return {
    clusterId: c.id,
    rootCertPem: pem(ca.caCert),
    rootKeyPem: pem(ca.caKey),
    workerToken: ca.joinTokens?.worker ?? '',
    managerToken: ca.joinTokens?.manager ?? '',
    rotation: r
      ? { certPem: pem(r.caCert), keyPem: pem(r.caKey), crossSignedPem: pem(r.crossSignedCaCert) }
      : undefined,
    nodeValidityMs: durationMs(c.spec?.caConfig?.nodeCertExpiry) || undefined,
  };
}

/** The RootCa of a CAState (the tokens, the rotation, the last forced rotation answered). */
export function rootCaOf(s: CAState, lastForcedRotation: number): RootCa {
  return {
    caCert: Buffer.from(s.rootCertPem),
    caKey: Buffer.from(s.rootKeyPem),
    caCertHash: certDigest(s.rootCertPem).toString('hex'),
    joinTokens: { worker: s.workerToken, manager: s.managerToken },
    rootRotation: s.rotation && {
      caCert: Buffer.from(s.rotation.certPem),
      caKey: Buffer.from(s.rotation.keyPem),
      crossSignedCaCert: Buffer.from(s.rotation.crossSignedPem),
    },
    lastForcedRotation,
  };
}

/** The CA's root key and tokens live in the store's Cluster object (RootCa). */
export class StoreCAState implements CAStatePort {
  constructor(private readonly store: Store) {}
  private cluster(): Cluster {
    const c = this.store.view((tx) => tx.list('cluster')[0]);
    if (!c?.rootCa) throw new Error('the cluster object has no root CA yet');
    return c;
  }
  async read(): Promise<CAState> {
    return caStateOf(this.cluster());
  }
  async write(next: CAState): Promise<void> {
    await this.store.update((tx) => {
      const c = clone('cluster', tx.get('cluster', next.clusterId) as Cluster);
      c.rootCa = rootCaOf(next, c.rootCa?.lastForcedRotation ?? 0);
      tx.update('cluster', c);
    });
  }
}

/**
 * Records a certificate issued to a node: its role, the bundle it trusts now (the rotation's progress), and
 * the TLS info `node inspect` and the docker CLI's rotation progress read.
 */
export function recordIssued(node: Node, issued: IssuedCertificate): Node {
  const next = clone('node', node);
  next.certificate = {
    role: issued.role === 'manager' ? NodeRole.NODE_ROLE_MANAGER : NodeRole.NODE_ROLE_WORKER,
    csr: Buffer.alloc(0),
    status: { state: IssuanceState.ISSUANCE_STATE_ISSUED, err: '' },
    certificate: Buffer.from(issued.certPem),
    cn: issued.nodeId,
    trustHash: trustHash(issued.rootCertPem),
  };
  const tls = tlsInfoOf(issued.certPem, issued.rootCertPem);
  if (tls && next.description) next.description = { ...next.description, tlsInfo: tls };
  return next;
}

/** True while nodes still have to move (a rotation, or nodes left with the two-root bundle after one). */
export function rotationInProgress(c: Cluster, nodes: readonly Node[]): boolean {
  if (c.rootCa?.rootRotation) return true;
  const want = trustHash(trustBundle(caStateOf(c)));
  return nodes.some((n) => n.certificate?.trustHash && n.certificate.trustHash !== want);
}

/**
 * One step of the leader's rotation loop: asks the next batch of nodes to renew (ROTATE), and completes the
 * rotation once every node trusts both roots with a certificate of the new one. After completion the nodes
 * holding the two-root bundle are asked again, so that the old root is trusted nowhere.
 */
export async function rotationStep(store: Store, log: (m: string) => void): Promise<void> {
  const cluster = store.view((tx) => tx.list('cluster')[0]);
  if (!cluster?.rootCa) return;
  const nodes = store.view((tx) => tx.list('node'));
  const rotating = !!cluster.rootCa.rootRotation;
  if (!rotationInProgress(cluster, nodes)) return;
  const want = trustHash(trustBundle(caStateOf(cluster)));
  const plan = planRotation(
    nodes.map((n) => ({
      id: n.id,
      // Outside a rotation a node never recorded (the first manager before any renewal) is not waited for.
      trustHash: n.certificate?.trustHash || (rotating ? '' : want),
      asked: n.certificate?.status?.state === IssuanceState.ISSUANCE_STATE_ROTATE,
    })),
    want,
  );
  if (plan.done && rotating) {
    await store.update((tx) => {
      const c = clone('cluster', tx.get('cluster', cluster.id) as Cluster);
      if (!c.rootCa?.rootRotation) return;
      c.rootCa = rootCaOf(completeRootRotation(caStateOf(c)), c.rootCa.lastForcedRotation);
      tx.update('cluster', c);
    });
    log('root CA rotation: every node holds a certificate of the new root; the old root is dropped');
    return;
  }
  if (plan.ask.length === 0) return;
  await store.update((tx) => {
    for (const id of plan.ask) {
      const n = tx.get('node', id);
      if (!n) continue;
      const next = clone('node', n);
      next.certificate = {
        role: n.role,
        csr: Buffer.alloc(0),
        certificate: Buffer.alloc(0),
        cn: id,
        trustHash: '',
        ...n.certificate,
        status: { state: IssuanceState.ISSUANCE_STATE_ROTATE, err: '' },
      };
      tx.update('node', next);
    }
  });
  log(`root CA rotation: ${plan.moved}/${plan.total} nodes moved; asked ${plan.ask.join(', ')} to renew`);
}
