// Errors that become Engine-API error replies: `{"message": "..."}` with Docker's status codes.
import { type ErrorKind, ShoalError } from '../../common/errors.js';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export const badRequest = (message: string) => new ApiError(400, message);
export const notFound = (message: string) => new ApiError(404, message);
export const conflict = (message: string) => new ApiError(409, message);

/** The HTTP status of each ShoalError kind (dockerd answers "not a swarm manager" with 503: unavailable). */
export const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  not_found: 404,
  conflict: 409,
  invalid_argument: 400,
  failed_precondition: 400,
  unavailable: 503,
  permission_denied: 403,
  unauthenticated: 401,
  internal: 500,
};

/** Status and message for any thrown value: ApiError, ShoalError (by kind), engine errors (they carry `httpStatus`), or a bug (500). */
export function toErrorReply(err: unknown): { status: number; message: string } {
  if (err instanceof ApiError) return { status: err.status, message: err.message };
  if (err instanceof ShoalError) return { status: STATUS_OF_KIND[err.kind], message: err.message };
  if (err && typeof err === 'object') {
    const e = err as { httpStatus?: unknown; message?: unknown };
    if (typeof e.httpStatus === 'number' && typeof e.message === 'string') {
      return { status: e.httpStatus, message: e.message };
    }
    if (typeof e.message === 'string') return { status: 500, message: e.message };
  }
  return { status: 500, message: String(err) };
}
