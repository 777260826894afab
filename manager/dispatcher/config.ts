// The dispatcher's timing. The heartbeat period is the cluster's setting (ClusterSpec.dispatcher); shoal's
// default is far shorter than Swarm's 5 s × 3 so a dead node is noticed in about 3 s — in about one period
// when its connection closes (a process that dies closes its sockets).
import { SESSION_RETRY_MAX_MS } from '../../common/session-timing.js';
import type { Cluster } from '../../proto/gen/shoal/swarm/v1/objects.js';

export interface DispatcherTiming {
  /** How often workers heartbeat (ms) when the cluster does not say. */
  heartbeatPeriodMs: number;
  /** A node is marked down after period × this without a heartbeat. */
  graceMultiplier: number;
  /**
   * A node whose session stream ended on its side is marked down after period × this unless it opens a new
   * session (a live worker does within one pass over its managers).
   */
  lostSessionGraceMultiplier: number;
  /**
   * After the dispatcher starts (a new leader), nodes get period × this to open a session again — and never
   * less than `sessionRetryMaxMs` plus a heartbeat deadline.
   */
  leaderChangeGraceMultiplier: number;
  /** The longest a worker waits between session attempts (its backoff ceiling). */
  sessionRetryMaxMs: number;
  /** Spread of the periods handed out (±fraction), so heartbeats of many nodes do not line up. */
  jitter: number;
  /**
   * The most heartbeats a second the leader asks for: with more nodes than this × the period, the period
   * handed out grows with the number of sessions (1,000 nodes at 200/s: 5 s, Swarm's default), so the
   * leader's work for heartbeats stays bounded however large the cluster.
   */
  maxHeartbeatsPerSecond: number;
  /**
   * Task status reports arriving within this window (ms) are written in one store transaction; reports that
   * arrive while a transaction is in flight go out together once it ends (group commit).
   */
  statusBatchMs: number;
  /** At most this many status updates per store transaction. */
  statusBatchMax: number;
  /** Assignment changes arriving within this window (ms) go out in one message. */
  assignmentBatchMs: number;
  /**
   * The most assignment messages a second the leader sends, over all sessions: with more nodes, a session's
   * messages go out at least sessions ÷ this apart and carry what came meanwhile. At 1,000 nodes a scale-up
   * otherwise sent one message per task (and got one status batch back per task); a small cluster never
   * reaches the limit and keeps assignmentBatchMs.
   */
  maxAssignmentMessagesPerSecond: number;
}

export const DEFAULT_TIMING: DispatcherTiming = {
  heartbeatPeriodMs: 1000,
  graceMultiplier: 3,
  lostSessionGraceMultiplier: 1,
  leaderChangeGraceMultiplier: 6,
  sessionRetryMaxMs: SESSION_RETRY_MAX_MS,
  jitter: 0.1,
  maxHeartbeatsPerSecond: 200,
  statusBatchMs: 2,
  statusBatchMax: 200,
  assignmentBatchMs: 2,
  maxAssignmentMessagesPerSecond: 1000,
};

const MIN_PERIOD_MS = 50;

/** The heartbeat period in force: the cluster's (if it sets one), else the default. */
export function heartbeatPeriodOf(cluster: Cluster | undefined, fallbackMs: number): number {
  const d = cluster?.spec?.dispatcher?.heartbeatPeriod;
  if (!d) return fallbackMs;
  const ms = d.seconds * 1000 + Math.floor(d.nanos / 1e6);
  return ms >= MIN_PERIOD_MS ? ms : fallbackMs;
}

export const durationOf = (ms: number) => ({
  seconds: Math.floor(ms / 1000),
  nanos: Math.round((ms % 1000) * 1e6),
});
