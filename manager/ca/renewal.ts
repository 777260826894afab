// When a node renews its certificate: at a random point 50–80 % into its validity (renewalTime), so nodes
// issued together do not all come back together; at once when the managers ask (a root rotation marks the
// node ROTATE); again a little later when a renewal fails. The renewal itself (a CSR to a manager, then the
// TLS contexts swapped) is the caller's `renew`; this only decides when, on an injected clock and random.
import type { Clock } from '../../common/clock.js';
import { renewalTime } from './certs.js';

/** The longest delay a Node.js timer takes as it is. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

export interface RenewalOptions {
  clock: Clock;
  random: () => number;
  /** Renews and answers the new certificate's validity. */
  renew: (why: string) => Promise<Validity>;
  /** Wait after a failed renewal (default 5 s), never past a tenth of what remains of the validity. */
  retryMs?: number;
  log?: (msg: string) => void;
}

export class RenewalScheduler {
  private timer: unknown;
  private running: Promise<void> | undefined;
  private again: string | undefined;
  private stopped = false;
  private current: Validity | undefined;

  constructor(private readonly o: RenewalOptions) {}

  /** The moment the next renewal is planned (undefined before start or after stop). */
  nextAt: number | undefined;

  /** Plans the renewal of the certificate the node holds now. */
  start(current: Validity): void {
    this.current = current;
    this.plan(renewalTime(current, this.o.random).getTime());
  }

  /** Renews as soon as possible (one renewal at a time: asked during one, another follows it). */
  renewNow(why: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = why;
      return;
    }
    this.o.clock.clearTimeout(this.timer);
    this.nextAt = undefined;
    this.running = this.o
      .renew(why)
      .then(
        (next) => {
          this.current = next;
          if (!this.stopped) this.plan(renewalTime(next, this.o.random).getTime());
        },
        (err) => {
          this.o.log?.(
            `certificate renewal (${why}) failed: ${(err as Error)?.message ?? err}; trying again`,
          );
          const left = this.current ? this.current.notAfter.getTime() - this.o.clock.now() : Infinity;
          const wait = Math.max(1000, Math.min(this.o.retryMs ?? 5000, left / 10));
          if (!this.stopped) this.plan(this.o.clock.now() + wait, why);
        },
      )
      .finally(() => {
        this.running = undefined;
        const next = this.again;
        this.again = undefined;
        if (next !== undefined) this.renewNow(next);
      });
  }

  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.timer);
    this.nextAt = undefined;
  }

  private plan(at: number, why = 'scheduled renewal'): void {
    this.o.clock.clearTimeout(this.timer);
    this.nextAt = at;
    // Timers hold at most 2^31-1 ms (~24.8 days; a longer one fires at once): a far renewal is reached in
    // steps, each re-planned when it fires.
    const wait = Math.max(0, at - this.o.clock.now());
    this.timer = this.o.clock.setTimeout(
      () => (this.o.clock.now() < at ? this.plan(at, why) : this.renewNow(why)),
      Math.min(wait, MAX_TIMER_MS),
    );
  }
}
