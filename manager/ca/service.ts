// The CA's gRPC face (proto/shoal/ca/v1/ca.proto): translation between wire messages and the
// CertificateAuthority, and typed errors to gRPC codes. Who may call what is stated in CA_POLICY and
// enforced by the authorisation interceptor, not here; Renew reads the caller from its certificate.
import * as grpc from '@grpc/grpc-js';
import { type ErrorKind, isShoalError, ShoalError } from '../../common/errors.js';
import {
  type CAServiceServer,
  CAServiceService,
  NodeRole as WireRole,
} from '../../proto/gen/shoal/ca/v1/ca.js';
import type { CertificateAuthority, IssuedCertificate } from './authority.js';
import type { MethodPolicy } from './authz.js';
import type { NodeRole } from './certs.js';
import { peerIdentity } from './tls.js';

export const CA_POLICY: MethodPolicy = {
  [CAServiceService.getRootCaCertificate.path]: 'anyone',
  [CAServiceService.issueNodeCertificate.path]: 'anyone',
  [CAServiceService.renewNodeCertificate.path]: ['manager', 'worker'],
};

const CODE_OF: Record<ErrorKind, grpc.status> = {
  not_found: grpc.status.NOT_FOUND,
  conflict: grpc.status.ABORTED,
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  unavailable: grpc.status.UNAVAILABLE,
  permission_denied: grpc.status.PERMISSION_DENIED,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  failed_precondition: grpc.status.FAILED_PRECONDITION,
  internal: grpc.status.INTERNAL,
};

/** The kind of a gRPC failure seen by a client (UNAVAILABLE, DEADLINE_EXCEEDED… become unavailable). */
export function kindOfCode(code: grpc.status): ErrorKind {
  for (const [kind, c] of Object.entries(CODE_OF)) if (c === code) return kind as ErrorKind;
  if (code === grpc.status.ALREADY_EXISTS) return 'conflict';
  if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) return 'internal';
  return 'unavailable';
}

export function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  if (isShoalError(err)) return { code: CODE_OF[err.kind], details: err.message, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.INTERNAL, details: message, message };
}

export function roleToWire(role: NodeRole): WireRole {
  return role === 'manager' ? WireRole.NODE_ROLE_MANAGER : WireRole.NODE_ROLE_WORKER;
}

export function roleFromWire(role: WireRole): NodeRole | undefined {
  if (role === WireRole.NODE_ROLE_MANAGER) return 'manager';
  if (role === WireRole.NODE_ROLE_WORKER) return 'worker';
  return undefined;
}

function toWire(i: IssuedCertificate) {
  return {
    nodeId: i.nodeId,
    role: roleToWire(i.role),
    certificate: i.certPem,
    rootCaCertificate: i.rootCertPem,
  };
}

/** Runs an async handler and answers the unary callback with its result or its typed error. */
function unary<Req, Res>(
  fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call).then(
      (res) => callback(null, res),
      (err) => callback(toServiceError(err)),
    );
  };
}

export function caService(ca: CertificateAuthority): {
  definition: typeof CAServiceService;
  implementation: CAServiceServer;
} {
  const implementation: CAServiceServer = {
    getRootCaCertificate: unary(async () => ({ certificate: await ca.rootCertificate() })),
    issueNodeCertificate: unary(async (call) =>
      toWire(
        await ca.issue({
          csrPem: call.request.csr,
          token: call.request.token,
          addresses: call.request.addresses,
        }),
      ),
    ),
    renewNodeCertificate: unary(async (call) => {
      const caller = peerIdentity(call);
      if (!caller) throw new ShoalError('unauthenticated', "renewal needs the caller's node certificate");
      return toWire(await ca.renew(caller, { csrPem: call.request.csr, addresses: call.request.addresses }));
    }),
  };
  return { definition: CAServiceService, implementation };
}
