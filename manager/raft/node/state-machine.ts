// What the node drives: the replicated state machine (the state store in shoald, a KV map in raftnode).
// Defined with the seam in ../replicated.ts.
export type { StateMachine } from '../replicated.js';
