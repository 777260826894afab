// The seam between the replicated state store and the consensus library. The store (and everything above
// it: orchestrator, scheduler, dispatcher) depends only on these two interfaces, so it can be tested over
// an in-memory implementation, and the raft node can change without touching it.
//
// Direction of calls:
//   store ──propose/readBarrier──► ReplicatedLog        (the raft node, or an in-memory log in tests)
//   ReplicatedLog ──apply/snapshot/restore──► StateMachine  (the store)

/** What the replicated log drives: deterministic application of committed entries, and whole-state snapshots. */
export interface StateMachine<R = unknown> {
  /** Applies one committed entry. Must be deterministic; the return value resolves the local proposal. */
  apply(data: Uint8Array, index: number): R;
  /** Serializes the whole state as of the last applied entry. */
  snapshot(): Uint8Array;
  /** Optional: the same, captured now and serialized in slices (the event loop runs between them). */
  snapshotLater?(): Promise<Uint8Array>;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void;
}

export interface Applied<R> {
  /** The log index the entry was applied at (the store uses it as the written objects' version). */
  index: number;
  /** What StateMachine.apply returned for it on this member. */
  result: R;
}

export interface LeadershipEvent {
  /** True while this member is the leader of `term`. */
  isLeader: boolean;
  term: number;
  /** The known leader's member id, 0 when none is known. */
  leaderId: number;
}

/** What the store needs from consensus. */
export interface ReplicatedLog<R = unknown> {
  /**
   * Proposes one entry (a store transaction: a batch of actions). Resolves once it is committed and applied
   * on this member. Rejects with a typed error (not leader, dropped, outcome unknown, storage, stopped);
   * a proposal is never silently lost.
   */
  propose(data: Uint8Array): Promise<Applied<R>>;
  /**
   * Linearizable read barrier: resolves once this member has applied everything committed before the call,
   * as confirmed by a quorum (ReadIndex). Local reads after it see every write acknowledged before the call.
   */
  readBarrier(): Promise<number>;
  /** This member's current view of leadership. */
  leadership(): LeadershipEvent;
  /** Calls `fn` on every leadership change of this member (gained, lost, new leader known). Returns unsubscribe. */
  onLeadershipChange(fn: (e: LeadershipEvent) => void): () => void;
}

/** How long a leader waits before asking again for a read barrier that failed (ms). */
const BARRIER_RETRY_MS = 100;

/**
 * Waits until this member, still leading `term`, has passed a read barrier: then the leader-only components
 * may start (its store has applied everything committed before). A barrier that fails (it times out when the
 * quorum's answers are slow, as on a loaded machine) is asked again for as long as the member leads that
 * term: a leader must never stay without its orchestrator, scheduler and dispatcher for the rest of its term.
 * True once a barrier passed while leading `term`; false once the member no longer leads it or the caller
 * cancelled.
 */
export async function barrierWhileLeading(
  log: Pick<ReplicatedLog, 'leadership' | 'readBarrier'>,
  term: number,
  o: {
    onError?: (err: unknown) => void;
    /** True once the caller no longer wants the components started (it stopped, or moved to another term). */
    cancelled?: () => boolean;
    wait?: (ms: number) => Promise<void>;
  } = {},
): Promise<boolean> {
  const wait = o.wait ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const leads = () => {
    if (o.cancelled?.()) return false;
    const l = log.leadership();
    return l.isLeader && l.term === term;
  };
  while (leads()) {
    try {
      await log.readBarrier();
      return leads();
    } catch (err) {
      if (!leads()) return false;
      o.onError?.(err);
      await wait(BARRIER_RETRY_MS);
    }
  }
  return false;
}

/** What runWhileLeader starts and stops: the leader's loops, dispatcher, log broker… */
export interface LeaderComponent {
  start(): void;
  stop(): void | Promise<void>;
}

/**
 * Runs `component` while `log` says this member leads: started once it leads and has applied everything
 * committed before (barrierWhileLeading: the new leader's store is caught up, as swarmkit waits for before
 * becoming leader), stopped the moment it does not, or when its term changes. The returned function
 * unsubscribes and stops it (resolving once the component's stop has).
 */
export function runWhileLeader(
  log: Pick<ReplicatedLog, 'leadership' | 'onLeadershipChange' | 'readBarrier'>,
  component: LeaderComponent,
  onError: (err: unknown) => void = () => {},
): () => Promise<void> {
  let term: number | undefined; // the term the component was (or is being) started for
  const follow = (e: { isLeader: boolean; term: number }) => {
    if (!e.isLeader || (term !== undefined && term !== e.term)) {
      term = undefined;
      void component.stop();
    }
    if (!e.isLeader || term === e.term) return;
    const t = e.term;
    term = t;
    void barrierWhileLeading(log, t, { onError, cancelled: () => term !== t }).then((leads) => {
      if (leads && term === t) component.start();
    });
  };
  const off = log.onLeadershipChange(follow);
  follow(log.leadership());
  return async () => {
    off();
    term = undefined;
    await component.stop();
  };
}
