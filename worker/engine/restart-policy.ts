// Restart policies as dockerd applies them, as pure functions: validation of a policy, the decision after
// an exit (restart now, after a back-off, or not), and the decision at daemon start. The engine applies
// the decisions (restarts.ts); nothing here reads a clock or touches a container.
import { InvalidArgumentError } from './errors.js';
import type { RestartPolicy, RestartPolicyName } from './types.js';

/** dockerd's restart manager: the first delay, its growth, its cap, and the run that resets it. */
export const BACKOFF = {
  initialMs: 100,
  multiplier: 2,
  maxMs: 60_000,
  /** A run at least this long starts the back-off over. */
  resetAfterRunMs: 10_000,
} as const;

const NAMES: readonly RestartPolicyName[] = ['no', 'always', 'on-failure', 'unless-stopped'];

export const NO_RESTART: RestartPolicy = { name: 'no', maximumRetryCount: 0 };

/**
 * A policy as given (Docker's {Name, MaximumRetryCount}; an empty name is "no", as dockerd accepts
 * from older clients) checked with dockerd's rules and messages. Throws InvalidArgumentError.
 */
export function parseRestartPolicy(
  p: { name?: string; maximumRetryCount?: number } | undefined,
): RestartPolicy {
  const name = p?.name ?? '';
  const count = p?.maximumRetryCount ?? 0;
  if (!Number.isInteger(count))
    throw new InvalidArgumentError('restartPolicy', `maximum retry count ${count} is not an integer`);
  if (name === '') return { ...NO_RESTART };
  if (!(NAMES as readonly string[]).includes(name))
    throw new InvalidArgumentError(
      'restartPolicy',
      `unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
    );
  if (name === 'on-failure') {
    if (count < 0) throw new InvalidArgumentError('restartPolicy', 'maximum retry count cannot be negative');
  } else if (count !== 0) {
    throw new InvalidArgumentError(
      'restartPolicy',
      `maximum retry count can only be used with 'on-failure'${count < 0 ? ' and cannot be negative' : ''}`,
    );
  }
  return { name: name as RestartPolicyName, maximumRetryCount: count };
}

export const isNoRestart = (p: RestartPolicy | undefined): boolean => !p || p.name === 'no';

/** Everything the decision after an exit depends on. */
export interface ExitFacts {
  policy: RestartPolicy;
  exitCode: number;
  /** Restarts made so far (the container's RestartCount). */
  restartCount: number;
  /** How long the process ran (ms). */
  ranMs: number;
  /** The user stopped it (docker stop, or kill with SIGKILL or the stop signal): no restart at all. */
  stoppedByUser: boolean;
  /** The user signalled it at some point since its last start (unless-stopped then does not restart). */
  manuallyStopped: boolean;
  /** The delay of the previous restart (0: none yet). */
  lastDelayMs: number;
}

export type RestartDecision =
  | { restart: false; lastDelayMs: number }
  /** Restart after `delayMs`; `restartCount` is the new count (counted when decided, as dockerd). */
  | { restart: true; delayMs: number; restartCount: number; lastDelayMs: number };

/** The back-off for the next restart: 100 ms, doubling, capped at 1 min, reset after a 10 s run. */
export function nextDelay(lastDelayMs: number, ranMs: number): number {
  const last = ranMs >= BACKOFF.resetAfterRunMs ? 0 : lastDelayMs;
  if (last <= 0) return BACKOFF.initialMs;
  return Math.min(last * BACKOFF.multiplier, BACKOFF.maxMs);
}

/** dockerd's ShouldRestart: whether and when an exited container starts again. */
export function decideRestart(f: ExitFacts): RestartDecision {
  if (f.policy.name === 'no' || f.stoppedByUser) return { restart: false, lastDelayMs: f.lastDelayMs };
  const delayMs = nextDelay(f.lastDelayMs, f.ranMs);
  let restart = false;
  switch (f.policy.name) {
    case 'always':
      restart = true;
      break;
    case 'unless-stopped':
      restart = !f.manuallyStopped;
      break;
    case 'on-failure': {
      const max = f.policy.maximumRetryCount;
      restart = f.exitCode !== 0 && (max === 0 || f.restartCount < max);
      break;
    }
  }
  if (!restart) return { restart: false, lastDelayMs: delayMs };
  return { restart: true, delayMs, restartCount: f.restartCount + 1, lastDelayMs: delayMs };
}

/**
 * At daemon start, for a container that is not running and ran before: `always` starts again (even
 * after a user stop: "until the daemon restarts"), `unless-stopped` unless the user stopped it,
 * `on-failure` after a failure with retries left; one caught mid back-off starts too.
 */
export function startsAtBoot(f: {
  policy: RestartPolicy;
  exitCode: number;
  restartCount: number;
  manuallyStopped: boolean;
  wasRestarting: boolean;
}): boolean {
  switch (f.policy.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !f.manuallyStopped;
    case 'on-failure': {
      if (f.wasRestarting) return true;
      const max = f.policy.maximumRetryCount;
      return f.exitCode !== 0 && (max === 0 || f.restartCount < max);
    }
    default:
      return false;
  }
}
