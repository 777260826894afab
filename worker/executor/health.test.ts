// Health settings (task over image over docker's defaults), the pure tracker (start period,
// retries, recovery) and the probe loop on a fake clock.
import { describe, expect, it } from 'vitest';
import { HEALTH_DEFAULTS, HealthTracker, healthSettings, runHealthProbes } from './health.js';
import type { Refusal } from './spec-map.js';
import type { ExecResult } from './types.js';

const d = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
const hc = (test: string[], over: Record<string, unknown> = {}) => ({
  test,
  interval: undefined,
  timeout: undefined,
  retries: 0,
  startPeriod: undefined,
  startInterval: undefined,
  ...over,
});
const ok: ExecResult = { exitCode: 0, output: 'fine', timedOut: false };
const bad: ExecResult = { exitCode: 1, output: 'broken\n', timedOut: false };

describe('healthSettings', () => {
  it("none without a test, or with NONE (which also disables the image's)", () => {
    expect(healthSettings(undefined, undefined)).toBeUndefined();
    expect(healthSettings(hc([]), undefined)).toBeUndefined();
    expect(healthSettings(hc(['NONE']), { Test: ['CMD', 'x'] })).toBeUndefined();
  });

  it("CMD runs as is, CMD-SHELL through /bin/sh -c, with docker's defaults", () => {
    expect(healthSettings(hc(['CMD', 'check', '-q']), undefined)).toEqual({
      cmd: ['check', '-q'],
      ...HEALTH_DEFAULTS,
    });
    expect(healthSettings(hc(['CMD-SHELL', 'curl -f x || exit 1']), undefined)?.cmd).toEqual([
      '/bin/sh',
      '-c',
      'curl -f x || exit 1',
    ]);
  });

  it("the task's values win over the image's (nanoseconds there), which win over the defaults", () => {
    const img = { Test: ['CMD', 'img'], Interval: 5e9, Timeout: 2e9, Retries: 7, StartPeriod: 1e9 };
    expect(healthSettings(undefined, img)).toEqual({
      cmd: ['img'],
      intervalMs: 5000,
      timeoutMs: 2000,
      startPeriodMs: 1000,
      startIntervalMs: HEALTH_DEFAULTS.startIntervalMs,
      retries: 7,
    });
    expect(healthSettings(hc([], { interval: d(250), retries: 2 }), img)).toMatchObject({
      cmd: ['img'],
      intervalMs: 250,
      timeoutMs: 2000,
      retries: 2,
    });
  });

  it('refuses bad tests and negative values, naming the field', () => {
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as Refusal).field;
      }
      return 'accepted';
    };
    expect(field(() => healthSettings(hc(['RUN', 'x']), undefined))).toBe(
      'spec.containerSpec.healthcheck.test',
    );
    expect(field(() => healthSettings(hc(['CMD']), undefined))).toBe('spec.containerSpec.healthcheck.test');
    expect(field(() => healthSettings(hc(['CMD-SHELL', 'a', 'b']), undefined))).toBe(
      'spec.containerSpec.healthcheck.test',
    );
    expect(
      field(() => healthSettings(hc(['CMD', 'x'], { interval: { seconds: -1, nanos: 0 } }), undefined)),
    ).toBe('spec.containerSpec.healthcheck.interval');
    expect(field(() => healthSettings(hc(['CMD', 'x'], { retries: -2 }), undefined))).toBe(
      'spec.containerSpec.healthcheck.retries',
    );
  });
});

describe('HealthTracker', () => {
  const s = {
    cmd: ['x'],
    intervalMs: 1000,
    timeoutMs: 500,
    startPeriodMs: 10_000,
    startIntervalMs: 200,
    retries: 2,
  };

  it('ignores failures in the start period while starting; a success makes it healthy', () => {
    const t = new HealthTracker(s, 0);
    expect(t.record(bad, 1000)).toBe('starting');
    expect(t.record(bad, 2000)).toBe('starting');
    expect(t.failingStreak).toBe(0);
    expect(t.nextDelayMs(2000)).toBe(200);
    expect(t.record(ok, 3000)).toBe('healthy');
    expect(t.nextDelayMs(3000)).toBe(1000);
    // Once healthy, failures count even inside the start period.
    expect(t.record(bad, 4000)).toBe('healthy');
    expect(t.record(bad, 5000)).toBe('unhealthy');
    expect(t.lastOutput).toBe('broken');
  });

  it('after the start period, `retries` consecutive failures (a timeout is one) make it unhealthy', () => {
    const t = new HealthTracker(s, 0);
    expect(t.record(bad, 11_000)).toBe('starting');
    expect(t.record(ok, 12_000)).toBe('healthy');
    expect(t.record(bad, 13_000)).toBe('healthy');
    expect(t.record(ok, 14_000)).toBe('healthy');
    expect(t.failingStreak).toBe(0);
    expect(t.record({ exitCode: -1, output: '', timedOut: true }, 15_000)).toBe('healthy');
    expect(t.lastOutput).toMatch(/exceeded timeout/);
    expect(t.record(bad, 16_000)).toBe('unhealthy');
  });
});

describe('runHealthProbes', () => {
  it('probes every interval until unhealthy, reporting each change; an exec error is a failure', async () => {
    let t = 0;
    const sleeps: number[] = [];
    const results: (ExecResult | Error)[] = [ok, bad, new Error('container not running')];
    const changes: string[] = [];
    await runHealthProbes({
      settings: {
        cmd: ['c'],
        intervalMs: 300,
        timeoutMs: 100,
        startPeriodMs: 0,
        startIntervalMs: 50,
        retries: 2,
      },
      clock: {
        now: () => t,
        sleep: async (ms) => {
          sleeps.push(ms);
          t += ms;
        },
      },
      exec: async (cmd, timeoutMs) => {
        expect(cmd).toEqual(['c']);
        expect(timeoutMs).toBe(100);
        const r = results.shift();
        if (r instanceof Error) throw r;
        return r ?? bad;
      },
      onChange: (st, tr) => changes.push(`${st}:${tr.lastOutput}`),
      signal: new AbortController().signal,
    });
    expect(changes).toEqual(['healthy:fine', 'unhealthy:container not running']);
    expect(sleeps).toEqual([300, 300, 300]);
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    let probes = 0;
    const done = runHealthProbes({
      settings: {
        cmd: ['c'],
        intervalMs: 10,
        timeoutMs: 10,
        startPeriodMs: 0,
        startIntervalMs: 10,
        retries: 3,
      },
      clock: {
        now: () => 0,
        sleep: (_ms, sig) => new Promise((r) => sig.addEventListener('abort', () => r())),
      },
      exec: async () => {
        probes++;
        return ok;
      },
      onChange: () => {},
      signal: ac.signal,
    });
    ac.abort();
    await done;
    expect(probes).toBe(0);
  });
});
