// A container's State (docker's shape) and its transitions, as pure functions.
import { parseSignal } from './spec/parse.js';
import type { ContainerState, WaitResult } from './types.js';

/** Docker's "never" time. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** RFC3339 with nanoseconds (from a millisecond clock), the format docker clients parse. */
export function rfc3339Nano(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export function createdState(): ContainerState {
  return {
    status: 'created',
    running: false,
    paused: false,
    restarting: false,
    oomKilled: false,
    dead: false,
    pid: 0,
    exitCode: 0,
    signal: null,
    error: '',
    startedAt: ZERO_TIME,
    finishedAt: ZERO_TIME,
  };
}

/** After a start; pid 0 when the process already exited (its exit follows). */
export function runningState(pid: number, startedAt: string): ContainerState {
  return { ...createdState(), status: 'running', running: true, pid, startedAt };
}

export interface ExitReport {
  exitCode: number;
  signal: string | null;
  oomKilled: boolean;
  finishedAt: string;
  error?: string;
}

/** After init exited. A signal death is reported as 128+N, as docker does. */
export function exitedState(before: ContainerState, exit: ExitReport, now: Date): ContainerState {
  let exitCode = exit.exitCode;
  if (exit.signal && exitCode < 128) {
    try {
      exitCode = 128 + parseSignal('signal', exit.signal).number;
    } catch {
      // an unknown signal name: keep the monitor's code
    }
  }
  return {
    ...before,
    status: 'exited',
    running: false,
    paused: false,
    restarting: false,
    pid: 0,
    exitCode,
    signal: exit.signal,
    oomKilled: exit.oomKilled,
    error: exit.error ?? '',
    finishedAt: exit.finishedAt || rfc3339Nano(now),
  };
}

export function waitResult(s: ContainerState): WaitResult {
  return {
    exitCode: s.exitCode,
    signal: s.signal,
    oomKilled: s.oomKilled,
    ...(s.error ? { error: s.error } : {}),
  };
}

/** Running or paused: init is alive. */
export function isAlive(s: ContainerState): boolean {
  return s.status === 'running' || s.status === 'paused';
}
