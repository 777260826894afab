// Health checks as docker runs them, for an engine that has none: the settings (the task's
// healthcheck merged over the image's, docker's defaults), a pure tracker of probe results, and the
// probe loop that execs the test in the container on the injected clock.
import type { HealthConfig } from '../../proto/gen/shoal/swarm/v1/types.js';
import { durationMs, Refusal } from './spec-map.js';
import type { Clock, ExecResult } from './types.js';

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

/**
 * The effective health check, or undefined when there is none (or it is "NONE"). Unset fields of the
 * task's healthcheck fall back to the image's, then to docker's defaults. Bad values are a Refusal.
 */
export function healthSettings(
  spec: HealthConfig | undefined,
  imageHealthcheck: unknown,
): HealthSettings | undefined {
  const img = imageHealth(imageHealthcheck);
  const f = (n: string) => `spec.containerSpec.healthcheck.${n}`;
  const test = spec?.test.length ? spec.test : (img.Test ?? []);
  if (test.length === 0 || test[0] === 'NONE') return undefined;
  let cmd: string[];
  if (test[0] === 'CMD') cmd = test.slice(1);
  else if (test[0] === 'CMD-SHELL') {
    if (test.length !== 2) throw new Refusal(f('test'), 'CMD-SHELL takes exactly one command string');
    cmd = ['/bin/sh', '-c', test[1]];
  } else throw new Refusal(f('test'), `must start with NONE, CMD or CMD-SHELL, got "${test[0]}"`);
  if (cmd.length === 0 || cmd[0] === '') throw new Refusal(f('test'), 'no command given');

  const pick = (name: string, fromSpec: number, fromImageNs: number | undefined, dflt: number) => {
    if (fromSpec < 0) throw new Refusal(f(name), 'must not be negative');
    if (fromSpec > 0) return fromSpec;
    return fromImageNs !== undefined ? Math.round(fromImageNs / 1e6) : dflt;
  };
  const retriesSpec = spec?.retries ?? 0;
  if (retriesSpec < 0) throw new Refusal(f('retries'), 'must not be negative');
  return {
    cmd,
    intervalMs: pick('interval', durationMs(spec?.interval), img.Interval, HEALTH_DEFAULTS.intervalMs),
    timeoutMs: pick('timeout', durationMs(spec?.timeout), img.Timeout, HEALTH_DEFAULTS.timeoutMs),
    startPeriodMs: pick(
      'start_period',
      durationMs(spec?.startPeriod),
      img.StartPeriod,
      HEALTH_DEFAULTS.startPeriodMs,
    ),
    startIntervalMs: pick(
      'start_interval',
      durationMs(spec?.startInterval),
      img.StartInterval,
      HEALTH_DEFAULTS.startIntervalMs,
    ),
    retries: retriesSpec > 0 ? retriesSpec : (img.Retries ?? HEALTH_DEFAULTS.retries),
  };
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** Pure: docker's health state machine over probe results. */
export class HealthTracker {
  status: HealthStatus = 'starting';
  failingStreak = 0;
  /** The last probe's output (for the FAILED message). */
  lastOutput = '';

  constructor(
    private readonly s: HealthSettings,
    private readonly startedAt: number,
  ) {}

  private inStartPeriod(at: number): boolean {
    return at < this.startedAt + this.s.startPeriodMs;
  }

  /** Records one probe; returns the (possibly new) status. */
  record(r: ExecResult, at: number): HealthStatus {
    this.lastOutput = r.timedOut ? `health check exceeded timeout (${this.s.timeoutMs}ms)` : r.output.trim();
    if (!r.timedOut && r.exitCode === 0) {
      this.failingStreak = 0;
      this.status = 'healthy';
      return this.status;
    }
    // Failures while still starting inside the start period do not count (docker's start period).
    if (this.status === 'starting' && this.inStartPeriod(at)) return this.status;
    this.failingStreak++;
    if (this.failingStreak >= this.s.retries) this.status = 'unhealthy';
    return this.status;
  }

  /** Delay before the next probe: the start interval while starting in the start period. */
  nextDelayMs(at: number): number {
    return this.status === 'starting' && this.inStartPeriod(at) ? this.s.startIntervalMs : this.s.intervalMs;
  }
}

/**
 * Probes until aborted or unhealthy; calls onChange on every status change. The first probe runs one
 * interval after the start, as docker's.
 */
export async function runHealthProbes(opts: {
  settings: HealthSettings;
  clock: Clock;
  exec: (cmd: string[], timeoutMs: number) => Promise<ExecResult>;
  onChange: (status: HealthStatus, tracker: HealthTracker) => void;
  signal: AbortSignal;
}): Promise<void> {
  const { settings, clock, signal } = opts;
  const tracker = new HealthTracker(settings, clock.now());
  let delay = tracker.nextDelayMs(clock.now());
  while (!signal.aborted) {
    await clock.sleep(delay, signal);
    if (signal.aborted) return;
    let r: ExecResult;
    try {
      r = await opts.exec(settings.cmd, settings.timeoutMs);
    } catch (e) {
      // The container went away or exec failed to start: a failed probe (docker counts it too).
      r = { exitCode: -1, output: (e as Error).message, timedOut: false };
    }
    if (signal.aborted) return;
    const before = tracker.status;
    const now = tracker.record(r, clock.now());
    if (now !== before) opts.onChange(now, tracker);
    if (now === 'unhealthy') return;
    delay = tracker.nextDelayMs(clock.now());
  }
}
