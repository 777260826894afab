import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import type { ClusterSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import { defaultClusterSpec } from '../store/defaults.js';
import { checkClusterSpecUpdate } from './cluster-spec.js';

function refusal(fn: () => void): ShoalError {
  try {
    fn();
  } catch (e) {
    expect(isShoalError(e)).toBe(true);
    return e as ShoalError;
  }
  throw new Error('accepted');
}

const cur = defaultClusterSpec();
const with_ = (f: (s: ClusterSpec) => void): ClusterSpec => {
  const s = structuredClone(cur);
  f(s);
  return s;
};

describe('checkClusterSpecUpdate', () => {
  it('accepts the honoured settings and an unchanged spec', () => {
    checkClusterSpecUpdate(cur, cur);
    checkClusterSpecUpdate(
      cur,
      with_((s) => {
        s.orchestration!.taskHistoryRetentionLimit = 1;
        s.dispatcher!.heartbeatPeriod = { seconds: 2, nanos: 0 };
        s.caConfig!.nodeCertExpiry = { seconds: 7200, nanos: 0 };
        s.raft!.snapshotInterval = 50;
        s.raft!.logEntriesForSlowFollowers = 20;
      }),
    );
  });

  it('refuses, naming the field, what is out of range or not honoured', () => {
    const cases: [(s: ClusterSpec) => void, string, RegExp][] = [
      [
        (s) => (s.caConfig!.nodeCertExpiry = { seconds: 60, nanos: 0 }),
        'spec.ca_config.node_cert_expiry',
        /minimum certificate expiry of 1h/,
      ],
      [
        (s) => (s.dispatcher!.heartbeatPeriod = { seconds: 0, nanos: 0 }),
        'spec.dispatcher.heartbeat_period',
        /positive/,
      ],
      [
        (s) => (s.dispatcher!.heartbeatPeriod = { seconds: 0, nanos: 50_000_000 }),
        'spec.dispatcher.heartbeat_period',
        /minimum/,
      ],
      [(s) => (s.raft!.snapshotInterval = 0), 'spec.raft.snapshot_interval', /at least 1/],
      [(s) => (s.raft!.electionTick = 20), 'spec.raft.election_tick', /fixed/],
      [(s) => (s.raft!.heartbeatTick = 2), 'spec.raft.heartbeat_tick', /fixed/],
      [(s) => (s.raft!.keepOldSnapshots = 3), 'spec.raft.keep_old_snapshots', /only the latest/],
      [
        (s) => (s.taskDefaults!.logDriver = { name: 'syslog', options: {} }),
        'spec.task_defaults.log_driver',
        /json-file/,
      ],
      [
        (s) => (s.encryptionConfig!.autoLockManagers = true),
        'spec.encryption_config.auto_lock_managers',
        /autolock/,
      ],
    ];
    for (const [f, field, re] of cases) {
      const e = refusal(() => checkClusterSpecUpdate(cur, with_(f)));
      expect(e.kind).toBe('invalid_argument');
      expect(e.field).toBe(field);
      expect(e.message).toMatch(re);
    }
  });

  it('a lowered floor (tests) lets a short expiry through, not a shorter one', () => {
    const short = with_((s) => (s.caConfig!.nodeCertExpiry = { seconds: 30, nanos: 0 }));
    checkClusterSpecUpdate(cur, short, { minNodeCertExpiryMs: 20_000 });
    expect(refusal(() => checkClusterSpecUpdate(cur, short, { minNodeCertExpiryMs: 60_000 })).field).toBe(
      'spec.ca_config.node_cert_expiry',
    );
  });
});
