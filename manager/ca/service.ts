// The CA's gRPC face (proto/shoal/ca/v1/ca.proto): translation between wire messages and the
// CertificateAuthority, and typed errors to gRPC codes. Who may call what is stated in CA_POLICY and
// enforced by the authorisation interceptor, not here; Renew reads the caller from its certificate.
import type * as grpc from '@grpc/grpc-js';
import { ShoalError } from '../../common/errors.js';
import { toServiceError } from '../../common/grpc-status.js';
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

export { kindOfCode, toServiceError } from '../../common/grpc-status.js';

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
