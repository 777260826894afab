// The restart core: dockerd's validation messages, the decision after an exit over a sequence of exits on
// a fake clock (back-off 100 ms doubling to 1 min, reset after a 10 s run), and the decision at daemon start.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import {
  decideRestart,
  type ExitFacts,
  nextDelay,
  parseRestartPolicy,
  startsAtBoot,
} from './restart-policy.js';
import type { RestartPolicy } from './types.js';

const refusal = (p: { name?: string; maximumRetryCount?: number }) => {
  try {
    parseRestartPolicy(p);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error(`accepted ${JSON.stringify(p)}`);
};

describe('parseRestartPolicy', () => {
  it('accepts the four policies; an empty or absent one is "no"', () => {
    expect(parseRestartPolicy({ name: 'always' })).toEqual({ name: 'always', maximumRetryCount: 0 });
    expect(parseRestartPolicy({ name: 'on-failure', maximumRetryCount: 3 })).toEqual({
      name: 'on-failure',
      maximumRetryCount: 3,
    });
    expect(parseRestartPolicy({ name: 'unless-stopped' }).name).toBe('unless-stopped');
    expect(parseRestartPolicy({ name: '' })).toEqual({ name: 'no', maximumRetryCount: 0 });
    expect(parseRestartPolicy(undefined)).toEqual({ name: 'no', maximumRetryCount: 0 });
  });

  it('refuses unknown names, negative counts, and counts on other policies, naming the field', () => {
    const bogus = refusal({ name: 'bogus' });
    expect(bogus.field).toBe('restartPolicy');
    expect(bogus.message).toBe(
      "invalid restartPolicy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
    );
    expect(refusal({ name: 'on-failure', maximumRetryCount: -1 }).message).toMatch(/cannot be negative/);
    expect(refusal({ name: 'always', maximumRetryCount: 3 }).message).toMatch(
      /maximum retry count can only be used with 'on-failure'$/,
    );
    expect(refusal({ name: 'no', maximumRetryCount: -2 }).message).toMatch(/and cannot be negative$/);
    expect(refusal({ name: 'on-failure', maximumRetryCount: 1.5 }).field).toBe('restartPolicy');
  });
});

/** Runs a container "forever" on a fake clock: each run lasts runMs[i], exits with codes[i]. */
function simulate(policy: RestartPolicy, runs: { ms: number; code: number }[]) {
  let clock = 0;
  let count = 0;
  let lastDelayMs = 0;
  const restartsAt: number[] = [];
  for (const run of runs) {
    clock += run.ms;
    const facts: ExitFacts = {
      policy,
      exitCode: run.code,
      restartCount: count,
      ranMs: run.ms,
      stoppedByUser: false,
      manuallyStopped: false,
      lastDelayMs,
    };
    const d = decideRestart(facts);
    lastDelayMs = d.lastDelayMs;
    if (!d.restart) break;
    count = d.restartCount;
    clock += d.delayMs;
    restartsAt.push(clock);
  }
  return { count, restartsAt, clock };
}

describe('decideRestart', () => {
  const fail = (n: number, ms = 5) => Array.from({ length: n }, () => ({ ms, code: 1 }));

  it('backs off 100 ms, doubling, capped at a minute', () => {
    const { restartsAt } = simulate({ name: 'always', maximumRetryCount: 0 }, fail(12, 0));
    const delays = restartsAt.map((t, i) => t - (restartsAt[i - 1] ?? 0));
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
  });

  it('starts the back-off over after a run of 10 s or more', () => {
    expect(nextDelay(0, 0)).toBe(100);
    expect(nextDelay(3200, 9_999)).toBe(6400);
    expect(nextDelay(3200, 10_000)).toBe(100);
    expect(nextDelay(60_000, 1)).toBe(60_000);
  });

  it('on-failure: only non-zero exits, at most N restarts (0 = no limit)', () => {
    expect(simulate({ name: 'on-failure', maximumRetryCount: 2 }, fail(10)).count).toBe(2);
    expect(simulate({ name: 'on-failure', maximumRetryCount: 0 }, fail(10)).count).toBe(10);
    expect(
      simulate({ name: 'on-failure', maximumRetryCount: 5 }, [
        { ms: 1, code: 3 },
        { ms: 1, code: 0 },
        { ms: 1, code: 3 },
      ]).count,
    ).toBe(1);
  });

  it('always and unless-stopped restart whatever the exit code; no never does', () => {
    const clean = [{ ms: 1, code: 0 }];
    expect(simulate({ name: 'always', maximumRetryCount: 0 }, clean).count).toBe(1);
    expect(simulate({ name: 'unless-stopped', maximumRetryCount: 0 }, clean).count).toBe(1);
    expect(simulate({ name: 'no', maximumRetryCount: 0 }, fail(3)).count).toBe(0);
  });

  it("a user's stop stops every policy; a user's other signal stops only unless-stopped", () => {
    const base: ExitFacts = {
      policy: { name: 'always', maximumRetryCount: 0 },
      exitCode: 137,
      restartCount: 4,
      ranMs: 50,
      stoppedByUser: true,
      manuallyStopped: true,
      lastDelayMs: 400,
    };
    expect(decideRestart(base).restart).toBe(false);
    expect(decideRestart({ ...base, policy: { name: 'on-failure', maximumRetryCount: 0 } }).restart).toBe(
      false,
    );
    const signalled = { ...base, stoppedByUser: false };
    expect(decideRestart(signalled)).toEqual({
      restart: true,
      delayMs: 800,
      restartCount: 5,
      lastDelayMs: 800,
    });
    expect(
      decideRestart({ ...signalled, policy: { name: 'unless-stopped', maximumRetryCount: 0 } }).restart,
    ).toBe(false);
  });
});

describe('startsAtBoot', () => {
  const f = (name: RestartPolicy['name'], over: Partial<Parameters<typeof startsAtBoot>[0]> = {}) =>
    startsAtBoot({
      policy: { name, maximumRetryCount: name === 'on-failure' ? 2 : 0 },
      exitCode: 0,
      restartCount: 0,
      manuallyStopped: false,
      wasRestarting: false,
      ...over,
    });

  it('always even after a user stop; unless-stopped only if not stopped by the user', () => {
    expect(f('always', { manuallyStopped: true })).toBe(true);
    expect(f('unless-stopped')).toBe(true);
    expect(f('unless-stopped', { manuallyStopped: true })).toBe(false);
    expect(f('no', { exitCode: 1 })).toBe(false);
  });

  it('on-failure after a failure with retries left, or caught mid back-off', () => {
    expect(f('on-failure', { exitCode: 0 })).toBe(false);
    expect(f('on-failure', { exitCode: 1, restartCount: 1 })).toBe(true);
    expect(f('on-failure', { exitCode: 1, restartCount: 2 })).toBe(false);
    expect(f('on-failure', { exitCode: 1, restartCount: 2, wasRestarting: true })).toBe(true);
  });
});
