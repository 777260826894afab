// What the node drives: the replicated state machine (the state store in shoald, a KV map in raftnode).
export interface StateMachine<R = unknown> {
  /** Applies one committed entry. Must be deterministic; the return value resolves the local proposal. */
  apply(data: Uint8Array, index: number): R;
  /** Serializes the whole state as of the last applied entry. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void;
}
