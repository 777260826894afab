// The Engine API edge of the error model: every error a route throws is a ShoalError whose kind
// becomes the reply's HTTP status here, and nowhere else. Replies are `{"message": "..."}`.
import { type ErrorKind, ShoalError } from '../../common/errors.js';

/** Docker's status for each kind. dockerd answers 400 for its "invalid parameter" and most precondition errors. */
export const HTTP_STATUS: Record<ErrorKind, number> = {
  not_found: 404,
  conflict: 409,
  invalid_argument: 400,
  failed_precondition: 400,
  unavailable: 503,
  permission_denied: 403,
  unauthenticated: 401,
  internal: 500,
};

/**
 * A failure of the HTTP exchange itself, whose status no kind gives (413 body too large), or a
 * route-level error that must keep a specific status docker's clients rely on. It is still a ShoalError:
 * `kind` classifies it for everything but the status.
 */
export class ApiError extends ShoalError {
  readonly status: number;
  constructor(status: number, message: string, kind: ErrorKind = kindOfStatus(status)) {
    super(kind, message);
    this.name = 'ApiError';
    this.status = status;
  }
}

function kindOfStatus(status: number): ErrorKind {
  const hit = (Object.keys(HTTP_STATUS) as ErrorKind[]).find((k) => HTTP_STATUS[k] === status);
  return hit ?? (status >= 500 ? 'internal' : 'invalid_argument');
}

export const badRequest = (message: string) => new ShoalError('invalid_argument', message);
export const notFound = (message: string) => new ShoalError('not_found', message);
export const conflict = (message: string) => new ShoalError('conflict', message);

/** Status and message for any thrown value: a ShoalError by its kind, anything else is a 500. */
export function toErrorReply(err: unknown): { status: number; message: string } {
  if (err instanceof ApiError) return { status: err.status, message: err.message };
  if (err instanceof ShoalError) return { status: HTTP_STATUS[err.kind], message: err.message };
  if (err instanceof Error) return { status: 500, message: err.message };
  return { status: 500, message: String(err) };
}
