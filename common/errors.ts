// One error model for the whole project: a kind (mapped to an HTTP status at the Engine API edge and to
// a gRPC code at the gRPC edge) and, for bad input, the field at fault. Nothing classifies errors by text.

export type ErrorKind =
  | 'not_found'
  | 'conflict'
  | 'invalid_argument'
  | 'unavailable'
  | 'permission_denied'
  | 'unauthenticated'
  | 'failed_precondition'
  | 'internal';

export class ShoalError extends Error {
  override readonly name = 'ShoalError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function isShoalError(err: unknown, kind?: ErrorKind): err is ShoalError {
  return err instanceof ShoalError && (kind === undefined || err.kind === kind);
}
