// The log broker's gRPC face (proto/shoal/logbroker/v1): the caller's node id from its certificate, wire
// messages to the core and back, ShoalError kinds to gRPC codes. Also the client a follower uses to hand its
// clients' requests to the leader (`subscribeThroughLeader`).
import * as grpc from '@grpc/grpc-js';
import { ShoalError } from '../../common/errors.js';
import {
  LogBrokerClient,
  type LogBrokerServer,
  LogBrokerService,
  type PublishLogsMessage,
  type SubscribeLogsMessage,
} from '../../proto/gen/shoal/logbroker/v1/logbroker.js';
import type { MethodPolicy } from '../ca/authz.js';
import { kindOfCode, toServiceError } from '../ca/service.js';
import { peerIdentity } from '../ca/tls.js';
import type { LogBroker, Publication, SubscribeRequest } from './broker.js';

/** Subscribing is a manager's (its HTTP edge); publishing every node's (managers run tasks too). */
export const LOGBROKER_POLICY: MethodPolicy = {
  [LogBrokerService.subscribeLogs.path]: ['manager'],
  [LogBrokerService.publishLogs.path]: ['manager', 'worker'],
};

type CallerOf = (call: { getAuthContext(): unknown }) => string | undefined;

const fromCertificate: CallerOf = (call) => peerIdentity(call as Parameters<typeof peerIdentity>[0])?.nodeId;

export function logBrokerService(
  broker: LogBroker,
  options: { caller?: CallerOf } = {},
): { definition: typeof LogBrokerService; implementation: LogBrokerServer } {
  const caller = options.caller ?? fromCertificate;
  const implementation: LogBrokerServer = {
    subscribeLogs: (call) => {
      let open = true;
      let cancel: (() => void) | undefined;
      call.on('cancelled', () => {
        open = false;
        cancel?.();
      });
      try {
        cancel = broker.subscribe(requestOf(call.request), {
          send: (batch) => (open ? call.write(batch) : true),
          drained: () => new Promise<void>((r) => call.once('drain', () => r())),
          end: (err) => {
            if (!open) return;
            open = false;
            if (err) call.emit('error', toServiceError(err));
            else call.end();
          },
        });
      } catch (err) {
        open = false;
        call.emit('error', toServiceError(err));
      }
      if (!open) cancel?.();
    },
    publishLogs: (call, callback) => {
      // Headers at once: until a client stream hears them, grpc-js keeps a copy of every message it sent.
      call.sendMetadata(new grpc.Metadata());
      const nodeId = caller(call);
      let pub: Publication | undefined;
      let done = false;
      const fail = (err: unknown) => {
        if (done) return;
        done = true;
        pub?.end(err);
        callback(toServiceError(err));
      };
      if (!nodeId) {
        fail(new ShoalError('unauthenticated', "publishing logs needs the caller's node certificate"));
        return;
      }
      call.on('data', (m: PublishLogsMessage) => {
        if (done) return;
        try {
          pub ??= broker.publish(nodeId, m.subscriptionId, {
            pause: () => call.pause(),
            resume: () => call.resume(),
          });
          pub.push(m);
        } catch (err) {
          fail(err);
        }
      });
      call.on('end', () => {
        if (done) return;
        done = true;
        pub?.end();
        callback(null, {});
      });
      call.on('error', (err) => fail(err));
      call.on('cancelled', () => {
        if (done) return;
        done = true;
        pub?.end(new Error('the node cancelled the stream'));
      });
    },
  };
  return { definition: LogBrokerService, implementation };
}

function requestOf(r: {
  selector?: SubscribeRequest['selector'];
  options?: SubscribeRequest['options'];
}): SubscribeRequest {
  return {
    selector: r.selector ?? { serviceIds: [], taskIds: [] },
    options: r.options ?? { follow: false, tail: -1, since: 0, stdout: true, stderr: true },
  };
}

/**
 * A follower's way to the leader's broker: the leader holds every worker's session, so only it can ask the
 * nodes. Yields the batches; ends when the leader ends the stream; `signal` cancels it.
 */
export async function* subscribeThroughLeader(
  leaderAddr: string,
  credentials: grpc.ChannelCredentials,
  channelOptions: grpc.ChannelOptions,
  req: SubscribeRequest,
  signal?: AbortSignal,
): AsyncGenerator<SubscribeLogsMessage> {
  const client = new LogBrokerClient(leaderAddr, credentials, channelOptions);
  const stream = client.subscribeLogs(req);
  const onAbort = () => stream.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const m of stream as AsyncIterable<SubscribeLogsMessage>) yield m;
  } catch (err) {
    if (signal?.aborted) return;
    const e = err as grpc.ServiceError;
    throw new ShoalError(
      kindOfCode(e.code ?? grpc.status.UNAVAILABLE),
      `logs through the leader at ${leaderAddr}: ${e.details || e.message}`,
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stream.cancel();
    client.close();
  }
}
