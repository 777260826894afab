// What `swarm update` may change in the cluster spec, checked before anything is written. Each setting is
// either honoured (the orchestrator's history limit, the dispatcher's heartbeat period, the CA's certificate
// expiry, raft's snapshot interval and entries kept for slow followers) or refused by name when it differs
// from the current value (the docker CLI sends the whole spec back, so an unchanged value is not a request).
import { invalidArgument } from '../../common/errors.js';
import type { Duration } from '../../proto/gen/google/protobuf/duration.js';
import type { ClusterSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';

/** Docker's (swarmkit's) floor for node certificate validity. */
export const MIN_NODE_CERT_EXPIRY_MS = 3600_000;
/** Below this a heartbeat would be mostly overhead; swarmkit has no floor, but 1 ns is never meant. */
export const MIN_HEARTBEAT_PERIOD_MS = 100;

export interface ClusterSpecLimits {
  /** Lowest node certificate expiry accepted (default one hour; tests lower it, see manager/ca/README.md). */
  minNodeCertExpiryMs?: number;
}

export const durationMs = (d: Duration | undefined): number | undefined =>
  d === undefined ? undefined : Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);

const showMs = (ms: number): string =>
  ms % 3600_000 === 0 ? `${ms / 3600_000}h` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;

/** Refuses `next` (naming the field) unless every change from `current` is one shoal honours. */
export function checkClusterSpecUpdate(
  current: ClusterSpec | undefined,
  next: ClusterSpec,
  limits: ClusterSpecLimits = {},
): void {
  const limit = next.orchestration?.taskHistoryRetentionLimit ?? 0;
  if (!Number.isSafeInteger(limit))
    throw invalidArgument('spec.orchestration.task_history_retention_limit', 'must be an integer');

  const hb = next.dispatcher?.heartbeatPeriod;
  const hbMs = durationMs(hb);
  if (hb && (hb.seconds < 0 || hb.nanos < 0 || hbMs === 0))
    throw invalidArgument('spec.dispatcher.heartbeat_period', 'must be positive');
  if (hbMs !== undefined && hbMs < MIN_HEARTBEAT_PERIOD_MS)
    throw invalidArgument(
      'spec.dispatcher.heartbeat_period',
      `${showMs(hbMs)} is below the minimum of ${MIN_HEARTBEAT_PERIOD_MS}ms`,
    );

  const expiry = next.caConfig?.nodeCertExpiry;
  const expiryMs = durationMs(expiry);
  const minExpiry = limits.minNodeCertExpiryMs ?? MIN_NODE_CERT_EXPIRY_MS;
  if (expiry && (expiry.seconds < 0 || expiry.nanos < 0))
    throw invalidArgument('spec.ca_config.node_cert_expiry', 'must be positive');
  if (expiryMs !== undefined && expiryMs < minExpiry)
    throw invalidArgument(
      'spec.ca_config.node_cert_expiry',
      `${showMs(expiryMs)} is below the minimum certificate expiry of ${showMs(minExpiry)}`,
    );

  const raft = next.raft;
  const was = current?.raft;
  if (raft && raft.snapshotInterval < 1)
    throw invalidArgument('spec.raft.snapshot_interval', 'must be at least 1 entry');
  if (raft && raft.logEntriesForSlowFollowers < 1)
    throw invalidArgument('spec.raft.log_entries_for_slow_followers', 'must be at least 1 entry');
  // Raft's timing is fixed when the managers start; shoal keeps one snapshot (no older ones to retain).
  const fixed: [keyof NonNullable<ClusterSpec['raft']>, string, string][] = [
    ['electionTick', 'spec.raft.election_tick', 'raft timing is fixed when the managers start'],
    ['heartbeatTick', 'spec.raft.heartbeat_tick', 'raft timing is fixed when the managers start'],
    ['keepOldSnapshots', 'spec.raft.keep_old_snapshots', 'shoal keeps only the latest raft snapshot'],
  ];
  for (const [k, field, why] of fixed)
    if (raft && was && raft[k] !== was[k]) throw invalidArgument(field, `cannot be changed: ${why}`);

  const driver = JSON.stringify(next.taskDefaults?.logDriver ?? null);
  if (driver !== JSON.stringify(current?.taskDefaults?.logDriver ?? null))
    throw invalidArgument(
      'spec.task_defaults.log_driver',
      'cannot be changed: tasks always log with the json-file driver',
    );
  if (next.encryptionConfig?.autoLockManagers)
    throw invalidArgument('spec.encryption_config.auto_lock_managers', 'autolock is not supported by shoal');
}
