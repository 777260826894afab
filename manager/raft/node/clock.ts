// Time and deferral as injected dependencies: the driver and node never read the wall clock, set timers or
// defer work directly; production passes these, the simulator and tests pass virtual ones.
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Runs work soon, after the current call stack (setImmediate in production, a queue in the simulator). */
export interface Scheduler {
  defer(fn: () => void): void;
}

export const immediateScheduler: Scheduler = { defer: (fn) => void setImmediate(fn) };
