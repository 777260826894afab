// What an operator (or a benchmark) needs to see why a daemon is slow: a warning whenever the event loop
// was blocked long enough to matter — raft's election timeout is 400 ms, a worker's heartbeat period
// 1 s — and, on request (SHOAL_CPU_PROFILE_DIR), a CPU profile of the whole run written at shutdown.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const CHECK_MS = 100;

/** Logs each stall of the event loop longer than `thresholdMs`; returns a stop function. */
export function watchEventLoop(log: (msg: string) => void, thresholdMs = 300): () => void {
  let last = performance.now();
  const t = setInterval(() => {
    const now = performance.now();
    const stalled = now - last - CHECK_MS;
    last = now;
    if (stalled > thresholdMs) log(`the event loop was blocked for ${Math.round(stalled)} ms`);
  }, CHECK_MS);
  t.unref();
  return () => clearInterval(t);
}

/**
 * Starts the V8 profiler when `dir` is set; the returned function writes `shoald-<pid>.cpuprofile`
 * there (open it in Chrome's DevTools or speedscope). Without `dir`, nothing runs and it does nothing.
 */
export function startCpuProfile(dir: string | undefined, log: (msg: string) => void): () => Promise<void> {
  if (!dir) return async () => {};
  const session = new Session();
  session.connect();
  const post = (method: string) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, (err, res) => (err ? reject(err) : resolve(res))),
    );
  const started = post('Profiler.enable').then(() => post('Profiler.start'));
  return async () => {
    try {
      await started;
      const r = (await post('Profiler.stop')) as { profile: unknown };
      const file = join(dir, `shoald-${process.pid}.cpuprofile`);
      writeFileSync(file, JSON.stringify(r.profile));
      log(`CPU profile written to ${file}`);
    } catch (e) {
      log(`CPU profile not written: ${(e as Error).message}`);
    } finally {
      session.disconnect();
    }
  };
}
