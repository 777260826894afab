// Every gRPC call authorised by role: a server interceptor that reads the caller's verified certificate
// and checks its role (OU) and cluster (O) against what the method allows. A method missing from the
// policy is refused, so a service added later is closed until someone states who may call it.
import * as grpc from '@grpc/grpc-js';
import type { NodeRole } from './certs.js';
import { peerIdentity } from './tls.js';

/** 'anyone': callable without a certificate (joining); otherwise the roles allowed. */
export type Access = 'anyone' | readonly NodeRole[];

/** Access by full method path, e.g. '/shoal.ca.v1.CAService/RenewNodeCertificate'. */
export type MethodPolicy = Readonly<Record<string, Access>>;

export type Decision = { ok: true } | { ok: false; code: grpc.status; details: string };

/** The pure decision, for one call: what the method allows against who the peer is. */
export function decide(
  policy: MethodPolicy,
  clusterId: string,
  path: string,
  peer: { nodeId: string; role: NodeRole; clusterId: string } | undefined,
  isRemoved: (nodeId: string) => boolean = () => false,
): Decision {
  const access = policy[path];
  if (access === undefined)
    return {
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: `${path}: no access rule for this method`,
    };
  if (access === 'anyone') return { ok: true };
  if (!peer)
    return {
      ok: false,
      code: grpc.status.UNAUTHENTICATED,
      details: `${path}: needs a node certificate of this cluster (${access.join(' or ')})`,
    };
  if (peer.clusterId !== clusterId)
    return {
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: `${path}: caller ${peer.nodeId} belongs to cluster ${peer.clusterId}, not ${clusterId}`,
    };
  if (isRemoved(peer.nodeId))
    return {
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: `${path}: node ${peer.nodeId} was removed from the cluster`,
    };
  if (!access.includes(peer.role))
    return {
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: `${path}: caller ${peer.nodeId} is a ${peer.role}; allowed: ${access.join(', ')}`,
    };
  return { ok: true };
}

/**
 * The interceptor to pass in `new grpc.Server({ interceptors: [...] })`. `isRemoved` (a store read)
 * refuses nodes removed from the cluster whose certificates have not expired yet.
 */
export function authorizationInterceptor(
  policy: MethodPolicy,
  clusterId: () => string,
  isRemoved?: (nodeId: string) => boolean,
): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            let decision: Decision;
            try {
              decision = decide(policy, clusterId(), method.path, peerIdentity(call), isRemoved);
            } catch (err) {
              decision = {
                ok: false,
                code: grpc.status.UNAUTHENTICATED,
                details: `${method.path}: ${(err as Error).message}`,
              };
            }
            if (decision.ok) mdNext(metadata);
            else call.sendStatus({ code: decision.code, details: decision.details });
          },
        });
      },
    });
}
