// The one mapping between shoal's error kinds and gRPC status codes, used at every gRPC edge: a server
// answers a ShoalError with its code, a client turns a failed call back into a ShoalError of that kind.
import * as grpc from '@grpc/grpc-js';
import { type ErrorKind, isShoalError, ShoalError } from './errors.js';

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

/** A failed call as a ShoalError of its code's kind, with the server's words. */
export function fromServiceError(err: unknown): ShoalError {
  if (isShoalError(err)) return err;
  const e = err as Partial<grpc.ServiceError>;
  const code = typeof e?.code === 'number' ? e.code : grpc.status.UNKNOWN;
  return new ShoalError(kindOfCode(code), e?.details || e?.message || String(err), { cause: err });
}
