// Docker's defaults for a new swarm's cluster object (what `docker info` shows after `swarm init`).
import type { ClusterSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';

const seconds = (s: number) => ({ seconds: s, nanos: 0 });

export const DEFAULT_TASK_HISTORY_RETENTION_LIMIT = 5;

export function defaultClusterSpec(name = 'default'): ClusterSpec {
  return {
    annotations: { name, labels: {} },
    orchestration: { taskHistoryRetentionLimit: DEFAULT_TASK_HISTORY_RETENTION_LIMIT },
    raft: {
      snapshotInterval: 10_000,
      keepOldSnapshots: 0,
      logEntriesForSlowFollowers: 500,
      electionTick: 10,
      heartbeatTick: 1,
    },
    dispatcher: { heartbeatPeriod: seconds(5) },
    caConfig: {
      nodeCertExpiry: seconds(90 * 24 * 3600),
      signingCaCert: Buffer.alloc(0),
      signingCaKey: Buffer.alloc(0),
      forceRotate: 0,
    },
    taskDefaults: { logDriver: undefined },
    encryptionConfig: { autoLockManagers: false },
  };
}
