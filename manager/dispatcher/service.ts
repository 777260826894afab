// The dispatcher's gRPC face (proto/shoal/dispatcher/v1): the caller's node id from its certificate, wire
// messages to the core and back, ShoalError kinds to gRPC codes. Who may call is DISPATCHER_POLICY, enforced
// by the authorisation interceptor.
import * as grpc from '@grpc/grpc-js';
import { ShoalError } from '../../common/errors.js';
import { LEADER_HINT_KEY } from '../../common/leader-hint.js';
import {
  type DispatcherServer,
  DispatcherService,
  type IgnoredUpdate,
  type SessionMessage,
  type SessionRequest,
  type TaskStatusAck,
  type UpdateTaskStatusRequest,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import type { MethodPolicy } from '../ca/authz.js';
import { toServiceError } from '../ca/service.js';
import { peerIdentity } from '../ca/tls.js';
import { durationOf } from './config.js';
import type { Dispatcher } from './dispatcher.js';

/** Every node runs a worker, managers included. */
export const DISPATCHER_POLICY: MethodPolicy = {
  [DispatcherService.session.path]: ['manager', 'worker'],
  [DispatcherService.heartbeat.path]: ['manager', 'worker'],
  [DispatcherService.reportTaskStatus.path]: ['manager', 'worker'],
  [DispatcherService.attachNetwork.path]: ['manager', 'worker'],
  [DispatcherService.detachNetwork.path]: ['manager', 'worker'],
};

type CallerOf = (call: { getAuthContext(): unknown }) => string | undefined;

const fromCertificate: CallerOf = (call) => peerIdentity(call as Parameters<typeof peerIdentity>[0])?.nodeId;

function callerOf(call: { getAuthContext(): unknown }, caller: CallerOf): string {
  const id = caller(call);
  if (!id) throw new ShoalError('unauthenticated', "the dispatcher needs the caller's node certificate");
  return id;
}

/** The host part of a grpc peer string ("ipv4:127.0.0.1:5000", "[::1]:5000", "127.0.0.1:5000"). */
export function peerHost(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, '');
  const v6 = /^\[([^\]]+)\]/.exec(p);
  if (v6) return v6[1] ?? '';
  const i = p.lastIndexOf(':');
  return i > 0 ? p.slice(0, i) : p;
}

export function dispatcherService(
  dispatcher: Dispatcher,
  options: {
    caller?: CallerOf;
    /** The leader's gRPC address, told to agents that reach this manager while it does not lead. */
    leaderAddr?: () => string | undefined;
  } = {},
): { definition: typeof DispatcherService; implementation: DispatcherServer } {
  const caller = options.caller ?? fromCertificate;
  const toError = (err: unknown): Partial<grpc.ServiceError> => {
    const e = toServiceError(err);
    const hint = dispatcher.isRunning ? undefined : options.leaderAddr?.();
    if (hint) {
      const md = new grpc.Metadata();
      md.set(LEADER_HINT_KEY, hint);
      e.metadata = md;
    }
    return e;
  };
  const implementation: DispatcherServer = {
    session: (call: grpc.ServerWritableStream<SessionRequest, SessionMessage>) => {
      let open = true;
      let ids: { nodeId: string; sessionId: string } | undefined;
      const fail = (err: unknown) => {
        if (!open) return;
        open = false;
        call.emit('error', toError(err));
      };
      call.on('cancelled', () => {
        open = false;
        if (ids) dispatcher.sessionClosed(ids.nodeId, ids.sessionId);
      });
      const sink = {
        send: (m: SessionMessage) => {
          if (open) call.write(m);
        },
        close: fail,
      };
      let nodeId: string;
      try {
        nodeId = callerOf(call, caller);
      } catch (err) {
        fail(err);
        return;
      }
      dispatcher
        .register(
          {
            nodeId,
            description: call.request.description,
            addr: call.request.advertiseAddr || peerHost(call.getPeer()),
          },
          sink,
        )
        .then((sessionId) => {
          ids = { nodeId, sessionId };
          if (!open) dispatcher.sessionClosed(nodeId, sessionId);
        }, fail);
    },
    heartbeat: (call, callback) => {
      try {
        const period = dispatcher.heartbeat(
          callerOf(call, caller),
          call.request.sessionId,
          call.request.stopping,
        );
        callback(null, { period: durationOf(period) });
      } catch (err) {
        callback(toError(err));
      }
    },
    reportTaskStatus: (call: grpc.ServerDuplexStream<UpdateTaskStatusRequest, TaskStatusAck>) => {
      // Headers at once: until a client stream hears them, grpc-js keeps a copy of every message it sent.
      call.sendMetadata(new grpc.Metadata());
      let nodeId: string;
      try {
        nodeId = callerOf(call, caller);
      } catch (err) {
        call.emit('error', toError(err));
        return;
      }
      let open = true;
      // The client closing its side still gets the answers to what it sent: the stream ends after them.
      let halfClosed = false;
      let unanswered = 0;
      const ack = (m: TaskStatusAck) => {
        unanswered--;
        if (!open) return;
        call.write(m);
        if (halfClosed && unanswered === 0) call.end();
      };
      call.on('data', (req: UpdateTaskStatusRequest) => {
        unanswered++;
        const { batch } = req;
        let written: Promise<IgnoredUpdate[]>;
        try {
          written = dispatcher.updateTaskStatus(nodeId, req.sessionId, req.updates);
        } catch (err) {
          written = Promise.reject(err);
        }
        // Answered in the order written, not received: the agent matches acknowledgements by number.
        written.then(
          (ignored) => ack({ batch, ignored, code: 0, message: '' }),
          (err) => {
            const e = toError(err);
            ack({ batch, ignored: [], code: e.code ?? grpc.status.INTERNAL, message: e.details ?? '' });
          },
        );
      });
      call.on('end', () => {
        halfClosed = true;
        if (unanswered === 0) call.end();
      });
      call.on('cancelled', () => {
        open = false;
      });
      call.on('error', () => {
        open = false;
      });
    },
    attachNetwork: (call, callback) => {
      answer(callback, () => dispatcher.attachNetwork(callerOf(call, caller), call.request));
    },
    detachNetwork: (call, callback) => {
      answer(callback, () =>
        dispatcher.detachNetwork(callerOf(call, caller), call.request.attachmentId).then(() => ({})),
      );
    },
  };
  /** Runs a unary call's work, its result or error (a ShoalError kind as a gRPC code) to the callback. */
  function answer<T>(callback: grpc.sendUnaryData<T>, work: () => Promise<T>): void {
    let p: Promise<T>;
    try {
      p = work();
    } catch (err) {
      callback(toError(err));
      return;
    }
    p.then(
      (v) => callback(null, v),
      (err) => callback(toError(err)),
    );
  }
  return { definition: DispatcherService, implementation };
}
