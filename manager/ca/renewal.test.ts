import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../common/fake-clock.js';
import { BACKDATE_MS } from './certs.js';
import { MAX_TIMER_MS, RenewalScheduler, type Validity } from './renewal.js';

const HOUR = 3600_000;
/** A certificate issued at `t` for `ms`, backdated as the CA does. */
const cert = (t: number, ms: number): Validity => ({
  notBefore: new Date(t - BACKDATE_MS),
  notAfter: new Date(t + ms),
});

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('RenewalScheduler', () => {
  it('renews between 50 % and 80 % of the validity, as the random source says, then plans the next', async () => {
    for (const [random, at] of [
      [0, 0.5],
      [1, 0.8],
      [0.5, 0.65],
    ] as const) {
      const clock = new FakeClock();
      const renewals: number[] = [];
      const s = new RenewalScheduler({
        clock,
        random: () => random,
        renew: async () => {
          renewals.push(clock.now());
          return cert(clock.now(), 10 * HOUR);
        },
      });
      s.start(cert(0, 10 * HOUR));
      expect(s.nextAt).toBe(at * 10 * HOUR);
      clock.advance(at * 10 * HOUR - 1);
      expect(renewals).toEqual([]);
      clock.advance(1);
      await settle();
      expect(renewals).toEqual([at * 10 * HOUR]);
      expect(s.nextAt).toBe(renewals[0]! + at * 10 * HOUR);
      s.stop();
    }
  });

  it('a 90-day certificate waits its 45 days in timer-sized steps (a longer timer would fire at once)', async () => {
    const clock = new FakeClock();
    const delays: number[] = [];
    const timed = {
      now: () => clock.now(),
      setTimeout: (fn: () => void, ms: number) => {
        delays.push(ms);
        return clock.setTimeout(fn, ms);
      },
      clearTimeout: (h: unknown) => clock.clearTimeout(h),
    };
    let calls = 0;
    const s = new RenewalScheduler({
      clock: timed,
      random: () => 0,
      renew: async () => {
        calls++;
        return cert(clock.now(), 90 * 24 * HOUR);
      },
    });
    s.start(cert(0, 90 * 24 * HOUR));
    expect(delays.every((d) => d <= MAX_TIMER_MS)).toBe(true);
    clock.advance(45 * 24 * HOUR - 1);
    await settle();
    expect(calls).toBe(0);
    clock.advance(1);
    await settle();
    expect(calls).toBe(1);
    expect(delays.every((d) => d <= MAX_TIMER_MS)).toBe(true);
    s.stop();
  });

  it('retries a failed renewal, renews at once when asked, one at a time, and stops', async () => {
    const clock = new FakeClock();
    let fail = true;
    let calls = 0;
    let release: (() => void) | undefined;
    const s = new RenewalScheduler({
      clock,
      random: () => 0,
      retryMs: 5000,
      renew: async () => {
        calls++;
        if (fail) throw new Error('manager away');
        await new Promise<void>((r) => {
          release = r;
        });
        return cert(clock.now(), 10 * HOUR);
      },
    });
    s.start(cert(0, 10 * HOUR));
    clock.advance(5 * HOUR);
    await settle();
    expect(calls).toBe(1);
    expect(s.nextAt).toBe(5 * HOUR + 5000);
    fail = false;
    s.renewNow('rotation');
    s.renewNow('rotation again'); // during the first: one more after it, not two at once
    await settle();
    expect(calls).toBe(2);
    release?.();
    await settle();
    expect(calls).toBe(3);
    release?.();
    await settle();
    s.stop();
    expect(s.nextAt).toBeUndefined();
    clock.advance(100 * HOUR);
    s.renewNow('after stop');
    await settle();
    expect(calls).toBe(3);
  });
});
