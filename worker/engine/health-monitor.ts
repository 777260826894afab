// A container's health checks applied: the settings from its healthcheck and its image's HEALTHCHECK
// (checked at create with dockerd's rules), probes run as execs in the container while it runs, the
// result in State.Health, and a "health_status: …" event on every change. An unhealthy container is
// only reported, never restarted (as dockerd).
import type { EngineContext, Live } from './context.js';
import { persist } from './context.js';
import { InvalidArgumentError } from './errors.js';
import { createExec, inspectExec, startExec } from './exec-run.js';
import {
  type HealthSettings,
  PROBE_OUTPUT_MAX,
  type ProbeResult,
  resolveHealth,
  runHealthProbes,
} from './health.js';
import { rfc3339Nano } from './state.js';
import type { HealthcheckConfig, ImageConfig, RootfsSource } from './types.js';

const NS_PER_MS = 1e6;

/** dockerd's check of Config.Healthcheck: durations 0 (unset) or at least 1 ms, retries not negative. */
export function checkHealthcheck(h: HealthcheckConfig | undefined): void {
  if (!h) return;
  const durations = [
    ['interval', h.interval],
    ['timeout', h.timeout],
    ['startPeriod', h.startPeriod],
    ['startInterval', h.startInterval],
  ] as const;
  for (const [name, v] of durations) {
    if (v === undefined || v === 0) continue;
    if (!Number.isInteger(v))
      throw new InvalidArgumentError(`healthcheck.${name}`, `${v} is not a whole number of nanoseconds`);
    if (v < NS_PER_MS)
      throw new InvalidArgumentError(
        `healthcheck.${name}`,
        `${v}ns: cannot be less than 1ms (0 = the default)`,
      );
  }
  if (h.retries !== undefined && (!Number.isInteger(h.retries) || h.retries < 0))
    throw new InvalidArgumentError('healthcheck.retries', `${h.retries}: cannot be negative`);
}

const imageConfigOf = (rootfs: RootfsSource): ImageConfig | undefined =>
  'layers' in rootfs ? rootfs.imageConfig : undefined;

/** The effective settings of a container's health check, or undefined without one. */
export function healthSettingsOf(
  h: HealthcheckConfig | undefined,
  rootfs: RootfsSource,
): HealthSettings | undefined {
  const ms = (ns: number | undefined) => (ns ? Math.max(1, Math.round(ns / NS_PER_MS)) : 0);
  return resolveHealth(
    h && {
      test: h.test,
      intervalMs: ms(h.interval),
      timeoutMs: ms(h.timeout),
      startPeriodMs: ms(h.startPeriod),
      startIntervalMs: ms(h.startInterval),
      retries: h.retries,
    },
    imageConfigOf(rootfs)?.Healthcheck,
    (field, problem) => {
      throw new InvalidArgumentError(`healthcheck.${field}`, problem);
    },
  );
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    t.unref();
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Starts probing a container that just started (`resume`: one found running by live restore, whose
 * last known health is kept). Does nothing without a health check.
 */
export function startHealth(ctx: EngineContext, live: Live, resume = false): void {
  stopHealth(live);
  const rec = live.rec;
  let settings: HealthSettings | undefined;
  try {
    settings = healthSettingsOf(rec.hostConfig.healthcheck, rec.rootfs);
  } catch {
    settings = undefined; // checked at create; an older record is simply not probed
  }
  if (!settings) return;
  const previous = resume ? rec.state.health : undefined;
  rec.state.health = previous ?? { status: 'starting', failingStreak: 0, log: [] };
  const ac = new AbortController();
  live.health = ac;
  const now = () => ctx.now().getTime();
  const startedAt = Date.parse(rec.state.startedAt);
  void runHealthProbes({
    settings,
    clock: { now, sleep },
    exec: (cmd, timeoutMs) => probe(ctx, live, cmd, timeoutMs),
    signal: ac.signal,
    stopWhenUnhealthy: false,
    startedAt: Number.isFinite(startedAt) ? startedAt : now(),
    ...(previous ? { initial: { status: previous.status, failingStreak: previous.failingStreak } } : {}),
    onProbe: (t) => {
      if (ac.signal.aborted) return;
      rec.state.health = {
        status: t.status,
        failingStreak: t.failingStreak,
        log: [...(previous?.log ?? []), ...t.logEntries((ms) => rfc3339Nano(new Date(ms)))].slice(-5),
      };
    },
    onChange: (status) => {
      if (ac.signal.aborted) return;
      persist(ctx, live).catch(() => {});
      ctx.emitEvent(`health_status: ${status}`, rec);
    },
  }).catch(() => {});
}

export function stopHealth(live: Live): void {
  live.health?.abort();
  live.health = undefined;
}

/** Runs one probe through the container's exec; on timeout its process is killed (exec pids are host pids). */
export async function probe(
  ctx: EngineContext,
  live: Live,
  cmd: string[],
  timeoutMs: number,
): Promise<ProbeResult> {
  const execId = createExec(ctx, live, { cmd, attachStdout: true, attachStderr: true });
  try {
    return await runProbe(ctx, execId, timeoutMs);
  } finally {
    ctx.execs.forget(execId);
  }
}

async function runProbe(ctx: EngineContext, execId: string, timeoutMs: number): Promise<ProbeResult> {
  const stream = await startExec(ctx, execId, {});
  const out = new ProbeOutput();
  let timedOut = false;
  if (stream) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timedOut = true;
        void inspectExec(ctx, execId)
          .then((x) => {
            if (x.running && x.pid > 0) process.kill(x.pid, 'SIGKILL');
          })
          .catch(() => {});
        stream.destroy();
        resolve();
      }, timeoutMs);
      stream.on('data', (chunk: Buffer) => out.push(chunk));
      const end = () => {
        clearTimeout(timer);
        resolve();
      };
      stream.once('close', end);
      stream.once('end', end);
      stream.once('error', end);
    });
  }
  if (timedOut) return { exitCode: -1, output: '', timedOut };
  const x = await inspectExec(ctx, execId);
  return { exitCode: x.exitCode ?? -1, output: out.text(), timedOut };
}

/** The payloads of a docker multiplexed stream ([kind,0,0,0,len] frames), keeping only the last 4 KiB. */
export class ProbeOutput {
  private pending: Buffer = Buffer.alloc(0);
  private tail: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 8) {
      const len = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + len) break;
      this.tail = Buffer.concat([this.tail, this.pending.subarray(8, 8 + len)]);
      if (this.tail.length > PROBE_OUTPUT_MAX)
        this.tail = this.tail.subarray(this.tail.length - PROBE_OUTPUT_MAX);
      this.pending = this.pending.subarray(8 + len);
    }
  }

  text(): string {
    return this.tail.toString();
  }
}
