// A root rotation's progress, decided from the nodes' certificate records: which nodes to ask to renew next
// (in batches, so the CA and the network see a few renewals at a time), and when every node holds a
// certificate issued with the trust bundle wanted. Pure: the leader's loop (daemon/swarm/manager.ts) reads
// the store, applies the plan, and completes the rotation when `done`.

/** A node as the plan sees it. */
export interface RotationNode {
  id: string;
  /** trustHash of the bundle its certificate was last issued with ('' when never recorded). */
  trustHash: string;
  /** Already asked to renew (certificate status ROTATE). */
  asked: boolean;
}

export interface RotationPlan {
  /** Nodes to mark ROTATE now. */
  ask: string[];
  /** Nodes holding the wanted bundle. */
  moved: number;
  total: number;
  done: boolean;
}

/** How many nodes are asked to renew at a time during a rotation. */
export const ROTATION_BATCH = 3;

export function planRotation(
  nodes: readonly RotationNode[],
  wantHash: string,
  batch = ROTATION_BATCH,
): RotationPlan {
  const waiting = nodes.filter((n) => n.trustHash !== wantHash);
  const inFlight = waiting.filter((n) => n.asked).length;
  const ask = waiting
    .filter((n) => !n.asked)
    .slice(0, Math.max(0, batch - inFlight))
    .map((n) => n.id);
  return { ask, moved: nodes.length - waiting.length, total: nodes.length, done: waiting.length === 0 };
}
