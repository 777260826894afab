// Health checks as dockerd runs them, pure: the effective settings (the container's healthcheck over
// the image's HEALTHCHECK over docker's defaults), a tracker of probe results (status, failing streak,
// the last 5 probes), and the probe loop on an injected clock. The engine (health-monitor.ts) and the
// swarm executor both run their probes through these.
import type { HealthLogEntry, HealthStatus } from './types.js';

export interface HealthSettings {
  /** The command exec'd in the container. */
  cmd: string[];
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  startIntervalMs: number;
  retries: number;
}

/** Docker's defaults (container.DefaultHealthInterval etc.). */
export const HEALTH_DEFAULTS = {
  intervalMs: 30_000,
  timeoutMs: 30_000,
  startPeriodMs: 0,
  startIntervalMs: 5_000,
  retries: 3,
} as const;

/** Docker keeps the newest 5 probes, and at most 4 KiB of each one's output. */
export const HEALTH_LOG_ENTRIES = 5;
export const PROBE_OUTPUT_MAX = 4096;

/** One probe's result. */
export interface ProbeResult {
  exitCode: number;
  /** The tail of the probe's output. */
  output: string;
  timedOut: boolean;
}

/** Injected time: now in ms, and a sleep that ends early when the signal aborts. */
export interface HealthClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The image config's Healthcheck (nanosecond durations, PascalCase), as the image JSON has it. */
interface ImageHealthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

function imageHealth(v: unknown): ImageHealthcheck {
  if (!v || typeof v !== 'object') return {};
  const h = v as Record<string, unknown>;
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : undefined);
  const test = Array.isArray(h.Test) && h.Test.every((x) => typeof x === 'string') ? h.Test : undefined;
  return {
    Test: test as string[] | undefined,
    Interval: num(h.Interval),
    Timeout: num(h.Timeout),
    StartPeriod: num(h.StartPeriod),
    StartInterval: num(h.StartInterval),
    Retries: num(h.Retries),
  };
}

/** A container's own healthcheck in milliseconds; 0 (or absent) means "not set here". */
export interface GivenHealth {
  test?: readonly string[];
  intervalMs?: number;
  timeoutMs?: number;
  startPeriodMs?: number;
  startIntervalMs?: number;
  retries?: number;
}

/** Field names of GivenHealth as the caller's error messages should say them. */
export type HealthField = 'test' | 'interval' | 'timeout' | 'start_period' | 'start_interval' | 'retries';

/**
 * The effective health check, or undefined when there is none (or it is "NONE"). Unset fields of the
 * given healthcheck fall back to the image's, then to docker's defaults. Bad values go to `fail`,
 * which throws the caller's error kind.
 */
export function resolveHealth(
  given: GivenHealth | undefined,
  imageHealthcheck: unknown,
  fail: (field: HealthField, problem: string) => never,
): HealthSettings | undefined {
  const img = imageHealth(imageHealthcheck);
  const test = given?.test?.length ? given.test : (img.Test ?? []);
  if (test.length === 0 || test[0] === 'NONE') return undefined;
  let cmd: string[];
  if (test[0] === 'CMD') cmd = test.slice(1);
  else if (test[0] === 'CMD-SHELL') {
    if (test.length !== 2) fail('test', 'CMD-SHELL takes exactly one command string');
    cmd = ['/bin/sh', '-c', test[1]];
  } else fail('test', `must start with NONE, CMD or CMD-SHELL, got "${test[0]}"`);
  if (cmd.length === 0 || cmd[0] === '') fail('test', 'no command given');

  const pick = (name: HealthField, ms: number | undefined, fromImageNs: number | undefined, dflt: number) => {
    if ((ms ?? 0) < 0) fail(name, 'must not be negative');
    if (ms && ms > 0) return ms;
    return fromImageNs !== undefined ? Math.round(fromImageNs / 1e6) : dflt;
  };
  const retries = given?.retries ?? 0;
  if (retries < 0) fail('retries', 'must not be negative');
  return {
    cmd,
    intervalMs: pick('interval', given?.intervalMs, img.Interval, HEALTH_DEFAULTS.intervalMs),
    timeoutMs: pick('timeout', given?.timeoutMs, img.Timeout, HEALTH_DEFAULTS.timeoutMs),
    startPeriodMs: pick('start_period', given?.startPeriodMs, img.StartPeriod, HEALTH_DEFAULTS.startPeriodMs),
    startIntervalMs: pick(
      'start_interval',
      given?.startIntervalMs,
      img.StartInterval,
      HEALTH_DEFAULTS.startIntervalMs,
    ),
    retries: retries > 0 ? retries : (img.Retries ?? HEALTH_DEFAULTS.retries),
  };
}

/** Pure: docker's health state machine over probe results. */
export class HealthTracker {
  status: HealthStatus = 'starting';
  failingStreak = 0;
  /** The last probe's output (for the FAILED message). */
  lastOutput = '';
  /** The newest probes, oldest first (times in ms). */
  log: { startMs: number; endMs: number; exitCode: number; output: string }[] = [];

  constructor(
    private readonly s: HealthSettings,
    private readonly startedAt: number,
  ) {}

  private inStartPeriod(at: number): boolean {
    return at < this.startedAt + this.s.startPeriodMs;
  }

  /** Records one probe that ended at `at` (and began at `startAt`); returns the (possibly new) status. */
  record(r: ProbeResult, at: number, startAt = at): HealthStatus {
    const output = r.timedOut
      ? `Health check exceeded timeout (${this.s.timeoutMs}ms)`
      : r.output.slice(-PROBE_OUTPUT_MAX);
    this.lastOutput = r.timedOut ? `health check exceeded timeout (${this.s.timeoutMs}ms)` : output.trim();
    this.log.push({ startMs: startAt, endMs: at, exitCode: r.timedOut ? -1 : r.exitCode, output });
    if (this.log.length > HEALTH_LOG_ENTRIES) this.log.splice(0, this.log.length - HEALTH_LOG_ENTRIES);
    if (!r.timedOut && r.exitCode === 0) {
      this.failingStreak = 0;
      this.status = 'healthy';
      return this.status;
    }
    // Failures while still starting inside the start period do not count (docker's start period).
    if (this.status === 'starting' && this.inStartPeriod(startAt)) return this.status;
    this.failingStreak++;
    if (this.failingStreak >= this.s.retries) this.status = 'unhealthy';
    return this.status;
  }

  /** Delay before the next probe: the start interval while starting in the start period. */
  nextDelayMs(at: number): number {
    return this.status === 'starting' && this.inStartPeriod(at) ? this.s.startIntervalMs : this.s.intervalMs;
  }

  /** The log with RFC3339 times, as State.Health.Log. */
  logEntries(toTime: (ms: number) => string): HealthLogEntry[] {
    return this.log.map((e) => ({
      start: toTime(e.startMs),
      end: toTime(e.endMs),
      exitCode: e.exitCode,
      output: e.output,
    }));
  }
}

/**
 * Probes until aborted (or, with `stopWhenUnhealthy`, the swarm's default, until unhealthy); calls
 * onChange on every status change and onProbe after every probe. The first probe runs one interval
 * after the start, as docker's.
 */
export async function runHealthProbes(opts: {
  settings: HealthSettings;
  clock: HealthClock;
  exec: (cmd: string[], timeoutMs: number) => Promise<ProbeResult>;
  onChange: (status: HealthStatus, tracker: HealthTracker) => void;
  onProbe?: (tracker: HealthTracker) => void;
  signal: AbortSignal;
  stopWhenUnhealthy?: boolean;
  /** When the container started (ms); default: now. */
  startedAt?: number;
  /** Where a resumed tracker starts (a container found running after a daemon restart). */
  initial?: { status: HealthStatus; failingStreak: number };
}): Promise<void> {
  const { settings, clock, signal } = opts;
  const stopWhenUnhealthy = opts.stopWhenUnhealthy ?? true;
  const tracker = new HealthTracker(settings, opts.startedAt ?? clock.now());
  if (opts.initial) {
    tracker.status = opts.initial.status;
    tracker.failingStreak = opts.initial.failingStreak;
  }
  let delay = tracker.nextDelayMs(clock.now());
  while (!signal.aborted) {
    await clock.sleep(delay, signal);
    if (signal.aborted) return;
    const startAt = clock.now();
    let r: ProbeResult;
    try {
      r = await opts.exec(settings.cmd, settings.timeoutMs);
    } catch (e) {
      // The container went away or exec failed to start: a failed probe (docker counts it too).
      r = { exitCode: -1, output: (e as Error).message, timedOut: false };
    }
    if (signal.aborted) return;
    const before = tracker.status;
    const now = tracker.record(r, clock.now(), startAt);
    opts.onProbe?.(tracker);
    if (now !== before) opts.onChange(now, tracker);
    if (now === 'unhealthy' && stopWhenUnhealthy) return;
    delay = tracker.nextDelayMs(clock.now());
  }
}
