// Errors that become Engine-API error replies: `{"message": "..."}` with Docker's status codes.

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

/** Status and message for any thrown value: ApiError, engine errors (they carry `httpStatus`), or a bug (500). */
export function toErrorReply(err: unknown): { status: number; message: string } {
  if (err instanceof ApiError) return { status: err.status, message: err.message };
  if (err && typeof err === 'object') {
    const e = err as { httpStatus?: unknown; message?: unknown };
    if (typeof e.httpStatus === 'number' && typeof e.message === 'string') {
      return { status: e.httpStatus, message: e.message };
    }
    if (typeof e.message === 'string') return { status: 500, message: e.message };
  }
  return { status: 500, message: String(err) };
}
