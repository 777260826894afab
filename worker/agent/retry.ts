// When the agent tries the next manager after a session attempt failed. A failed attempt moves on to the next
// manager of the list after a short wait; the wait grows (doubling to SESSION_RETRY_MAX_MS) only with each
// pass over the whole list that failed, not with each attempt. A dead manager, or one that answers "not the
// leader" without naming one, then never costs a backoff of its own: from any moment, the agent tries every
// manager of its list within one ceiling wait plus one pass — what the dispatcher's grace after a leader
// change counts on. (With a wait per attempt, a worker at the ceiling that met a dead manager first reached
// the new leader only after two ceiling waits, and was marked down although it was up.)
import { SESSION_RETRY_MAX_MS } from '../../common/session-timing.js';

export interface Backoff {
  initialMs?: number;
  maxMs?: number;
}

export class RetrySchedule {
  /** Passes over the list that failed in a row. */
  private rounds = 0;
  /** Attempts since the last pass ended. */
  private tried = 0;

  constructor(private readonly backoff?: Backoff) {}

  /**
   * The wait before the next attempt, after one that failed. `started`: that session had started (then the
   * count begins afresh); `listLength`: how many managers the list has now.
   */
  next(listLength: number, started: boolean, random: number): number {
    if (started) {
      this.rounds = 0;
      this.tried = 0;
    }
    this.tried++;
    if (this.tried < listLength) return retryDelayMs(1, this.backoff, random);
    this.tried = 0;
    this.rounds++;
    return retryDelayMs(this.rounds, this.backoff, random);
  }
}

/**
 * The wait after `failures` failed passes in a row: 100 ms doubling per failure, randomised to [½, 1] of
 * that, and never above SESSION_RETRY_MAX_MS whatever the options say — the dispatcher's grace for a
 * reconnecting node counts on that ceiling.
 */
export function retryDelayMs(failures: number, backoff: Backoff | undefined, random: number): number {
  const initial = backoff?.initialMs ?? 100;
  const max = Math.min(backoff?.maxMs ?? SESSION_RETRY_MAX_MS, SESSION_RETRY_MAX_MS);
  return Math.min(max, initial * 2 ** Math.max(0, failures - 1)) * (0.5 + random / 2);
}
