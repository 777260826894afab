// Mutation checks: the simulator runs the production driver, so breaking the driver must be caught. Each
// mutation is a test-only switch of RaftDriver (DriverOptions.unsafe), passed through runSeed.
import { describe, expect, it } from 'vitest';
import { runSeed } from '../../manager/raft/sim/run.js';

function violations(unsafe: Parameters<typeof runSeed>[0]['unsafe'], nodes: number, seeds: number) {
  const kinds = new Map<string, number>();
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSeed({ seed, nodes, steps: 400, unsafe });
    if (r.violation) kinds.set(r.violation.kind, (kinds.get(r.violation.kind) ?? 0) + 1);
  }
  return kinds;
}

describe('the simulator catches a broken driver', () => {
  it('control: the unmutated driver passes the same seeds', () => {
    expect([...violations(undefined, 3, 20)]).toEqual([]);
  }, 60_000);

  it('sending acknowledgements before the fsync is reported as a durability violation', () => {
    const kinds = violations({ ackBeforeFsync: true }, 3, 20);
    expect(kinds.get('durability') ?? 0).toBeGreaterThanOrEqual(15);
  }, 60_000);

  it('applying entries before they are committed is reported', () => {
    const kinds = violations({ applyBeforeCommit: true }, 3, 20);
    expect(kinds.get('early-apply') ?? 0).toBeGreaterThanOrEqual(15);
  }, 60_000);

  it('without the durability check, early acknowledgements still break an end-to-end property', () => {
    const e2e = [
      'election-safety',
      'log-matching',
      'leader-completeness',
      'state-machine-safety',
      'lost-ack',
    ];
    const acks = new Set<string>();
    for (let seed = 1; seed <= 60 && acks.size === 0; seed++) {
      const r = runSeed({
        seed,
        nodes: 3,
        steps: 600,
        unsafe: { ackBeforeFsync: true },
        checkDurability: false,
      });
      if (r.violation && e2e.includes(r.violation.kind)) acks.add(r.violation.kind);
    }
    expect(acks.size).toBeGreaterThan(0);
  }, 120_000);
});
