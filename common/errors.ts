// The one error model of shoal: every layer throws a ShoalError with a kind, and the edges map kinds to
// their codes (the Engine API to HTTP status, gRPC to status codes). Nothing classifies an error by its text.

export const ERROR_KINDS = [
  /** The named object does not exist (HTTP 404, gRPC NOT_FOUND). */
  'not_found',
  /** The write lost a race or collides with existing state: stale version, name taken (409, ABORTED/ALREADY_EXISTS). */
  'conflict',
  /** The request itself is wrong; `field` names the part (400, INVALID_ARGUMENT). */
  'invalid_argument',
  /** The system is in no state to do it now (e.g. removing a network in use) (400/409, FAILED_PRECONDITION). */
  'failed_precondition',
  /** Try again later or elsewhere: no leader, lost leadership, proposal dropped (503, UNAVAILABLE). */
  'unavailable',
  /** The caller's identity may not do this (403, PERMISSION_DENIED). */
  'permission_denied',
  /** The caller has no (valid) identity at all (401, UNAUTHENTICATED). */
  'unauthenticated',
  /** A bug or a broken invariant (500, INTERNAL). */
  'internal',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

export class ShoalError extends Error {
  override name = 'ShoalError';
  readonly kind: ErrorKind;
  /** The input field the error is about (dotted path, e.g. "spec.annotations.name"), when there is one. */
  readonly field: string | undefined;

  constructor(kind: ErrorKind, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.field = options?.field;
  }
}

export const isShoalError = (err: unknown, kind?: ErrorKind): err is ShoalError =>
  err instanceof ShoalError && (kind === undefined || err.kind === kind);

export const notFound = (message: string, field?: string) => new ShoalError('not_found', message, { field });
export const conflict = (message: string, field?: string) => new ShoalError('conflict', message, { field });
export const invalidArgument = (field: string, problem: string) =>
  new ShoalError('invalid_argument', `${field}: ${problem}`, { field });
export const unavailable = (message: string, cause?: unknown) =>
  new ShoalError('unavailable', message, { cause });
