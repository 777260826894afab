// A subscription of the in-process broker as an async iterable (the leader's own HTTP edge reads it so).
import type { ShoalError } from '../../common/errors.js';
import type { SubscribeLogsMessage } from '../../proto/gen/shoal/logbroker/v1/logbroker.js';
import type { LogBroker, SubscribeRequest } from './broker.js';

/** Batches queued before the broker is told to pause the nodes' streams. */
const HIGH_WATER = 64;

/**
 * Subscribes at once (a refusal throws here, before anything is streamed) and returns the batches as they
 * come; `signal` cancels the subscription.
 */
export function subscribeLocal(
  broker: LogBroker,
  req: SubscribeRequest,
  signal?: AbortSignal,
): AsyncIterable<SubscribeLogsMessage> {
  const queue: SubscribeLogsMessage[] = [];
  let ended = false;
  let failure: ShoalError | undefined;
  let wake: (() => void) | undefined;
  let drained: (() => void) | undefined;
  const poke = () => {
    wake?.();
    wake = undefined;
  };
  const cancel = broker.subscribe(req, {
    send: (batch) => {
      queue.push(batch);
      poke();
      return queue.length < HIGH_WATER;
    },
    drained: () =>
      new Promise<void>((r) => {
        drained = r;
      }),
    end: (err) => {
      ended = true;
      failure = err;
      poke();
    },
  });
  const onAbort = () => {
    cancel();
    ended = true;
    poke();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  return (async function* () {
    try {
      for (;;) {
        const next = queue.shift();
        if (next) {
          if (queue.length < HIGH_WATER / 2 && drained) {
            drained();
            drained = undefined;
          }
          yield next;
          continue;
        }
        if (ended) {
          if (failure && !signal?.aborted) throw failure;
          return;
        }
        await new Promise<void>((r) => {
          wake = r;
        });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      drained?.();
      cancel();
    }
  })();
}
