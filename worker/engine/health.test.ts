// The engine's side of the health core on a fake clock: probing goes on after unhealthy (a standalone
// container can recover), the log keeps the newest 5 probes with 4 KiB of output each, a resumed tracker
// starts where it was, and the probe output keeps the tail of a multiplexed stream across frames.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import {
  HEALTH_LOG_ENTRIES,
  type HealthTracker,
  PROBE_OUTPUT_MAX,
  type ProbeResult,
  runHealthProbes,
} from './health.js';
import { checkHealthcheck, healthSettingsOf, ProbeOutput } from './health-monitor.js';

const settings = {
  cmd: ['c'],
  intervalMs: 100,
  timeoutMs: 50,
  startPeriodMs: 0,
  startIntervalMs: 10,
  retries: 2,
};
const ok: ProbeResult = { exitCode: 0, output: 'ok\n', timedOut: false };
const bad: ProbeResult = { exitCode: 1, output: 'bad\n', timedOut: false };

function fakeRun(
  results: ProbeResult[],
  opts: { initial?: { status: 'healthy'; failingStreak: number } } = {},
) {
  let t = 1000;
  const ac = new AbortController();
  const changes: string[] = [];
  let last: HealthTracker | undefined;
  const done = runHealthProbes({
    settings,
    clock: {
      now: () => t,
      sleep: async (ms) => {
        t += ms;
      },
    },
    exec: async () => {
      t += 5;
      const r = results.shift();
      if (!r) {
        ac.abort();
        return ok;
      }
      return r;
    },
    onChange: (s) => changes.push(s),
    onProbe: (tr) => {
      last = tr;
    },
    signal: ac.signal,
    stopWhenUnhealthy: false,
    startedAt: 1000,
    ...opts,
  });
  return done.then(() => ({ changes, tracker: last as HealthTracker }));
}

describe('runHealthProbes for standalone containers', () => {
  it('goes on probing after unhealthy, so a container can become healthy again', async () => {
    const { changes, tracker } = await fakeRun([bad, bad, bad, ok, bad]);
    expect(changes).toEqual(['unhealthy', 'healthy']);
    expect(tracker.status).toBe('healthy');
    expect(tracker.failingStreak).toBe(1);
  });

  it('keeps the newest 5 probes with start and end times', async () => {
    const { tracker } = await fakeRun([bad, bad, bad, bad, bad, bad, ok]);
    expect(tracker.log.length).toBe(HEALTH_LOG_ENTRIES);
    expect(tracker.log.at(-1)).toMatchObject({ exitCode: 0, output: 'ok\n' });
    for (const e of tracker.log) expect(e.endMs - e.startMs).toBe(5);
    const entries = tracker.logEntries((ms) => new Date(ms).toISOString());
    expect(entries[0].start).toMatch(/^1970-01-01T00:00:0/);
  });

  it('a timeout is a failure with exit code -1 and the timeout in the output', async () => {
    const { tracker } = await fakeRun([{ exitCode: 0, output: '', timedOut: true }]);
    expect(tracker.log[0]).toMatchObject({ exitCode: -1, output: 'Health check exceeded timeout (50ms)' });
    expect(tracker.failingStreak).toBe(1);
  });

  it('a resumed tracker starts from its last status (no second "healthy" event)', async () => {
    const { changes } = await fakeRun([ok, bad, bad], { initial: { status: 'healthy', failingStreak: 0 } });
    expect(changes).toEqual(['unhealthy']);
  });
});

describe('probe output', () => {
  const frame = (kind: number, text: string) => {
    const payload = Buffer.from(text);
    const h = Buffer.alloc(8);
    h[0] = kind;
    h.writeUInt32BE(payload.length, 4);
    return Buffer.concat([h, payload]);
  };

  it('joins stdout and stderr frames split anywhere, keeping the last 4 KiB', () => {
    const o = new ProbeOutput();
    const all = Buffer.concat([frame(1, 'a'.repeat(3000)), frame(2, 'b'.repeat(3000)), frame(1, 'end')]);
    for (let i = 0; i < all.length; i += 7) o.push(all.subarray(i, i + 7));
    const text = o.text();
    expect(text.length).toBe(PROBE_OUTPUT_MAX);
    expect(text.endsWith('b'.repeat(100) + 'end')).toBe(true);
  });
});

describe('healthcheck settings', () => {
  const rootfs = (Healthcheck?: object) => ({ layers: ['/l'], imageConfig: { Healthcheck } });

  it("the container's over the image's; NONE disables the image's; durations from ns", () => {
    const img = rootfs({ Test: ['CMD', 'img'], Interval: 5e9, Retries: 7 });
    expect(healthSettingsOf(undefined, img)).toMatchObject({ cmd: ['img'], intervalMs: 5000, retries: 7 });
    expect(healthSettingsOf({ test: ['CMD-SHELL', 'x'], interval: 2e8 }, img)).toMatchObject({
      cmd: ['/bin/sh', '-c', 'x'],
      intervalMs: 200,
      retries: 7,
    });
    expect(healthSettingsOf({ test: ['NONE'] }, img)).toBeUndefined();
    expect(healthSettingsOf(undefined, { dir: '/r' })).toBeUndefined();
  });

  it("dockerd's limits: durations 0 or ≥ 1 ms, retries ≥ 0, naming the field", () => {
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidArgumentError);
        return (e as InvalidArgumentError).field;
      }
      return 'accepted';
    };
    expect(field(() => checkHealthcheck({ interval: 999_999 }))).toBe('healthcheck.interval');
    expect(field(() => checkHealthcheck({ timeout: -1 }))).toBe('healthcheck.timeout');
    expect(field(() => checkHealthcheck({ startPeriod: 1.5 }))).toBe('healthcheck.startPeriod');
    expect(field(() => checkHealthcheck({ startInterval: -1e9 }))).toBe('healthcheck.startInterval');
    expect(field(() => checkHealthcheck({ retries: -1 }))).toBe('healthcheck.retries');
    expect(field(() => checkHealthcheck({ interval: 0, timeout: 1e6, retries: 0 }))).toBe('accepted');
    expect(field(() => healthSettingsOf({ test: ['CMD-SHELL', 'a', 'b'] }, { dir: '/' }))).toBe(
      'healthcheck.test',
    );
  });
});
