// Typed engine errors. The daemon maps `httpStatus` straight onto its reply, so every
// failure a user can cause is one of these and names what was wrong.

export type EngineErrorCode = 'not_found' | 'conflict' | 'invalid_argument' | 'not_running' | 'internal';

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly httpStatus: number;
  constructor(code: EngineErrorCode, httpStatus: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

/** No such container / exec instance (HTTP 404). */
export class NotFoundError extends EngineError {
  constructor(message: string) {
    super('not_found', 404, message);
  }
}

/** The request clashes with the current state: duplicate name, container running, … (HTTP 409). */
export class ConflictError extends EngineError {
  constructor(message: string) {
    super('conflict', 409, message);
  }
}

/** A bad option value; `field` names the option (e.g. "memory", "capAdd", "binds"). HTTP 400. */
export class InvalidArgumentError extends EngineError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('invalid_argument', 400, `invalid ${field}: ${message}`);
    this.field = field;
  }
}

/** The operation needs a running container (exec, pause, attach to a stopped one …). HTTP 409 as dockerd. */
export class NotRunningError extends EngineError {
  constructor(message: string) {
    super('not_running', 409, message);
  }
}

/** The runtime failed for a reason the user did not cause (HTTP 500). */
export class InternalError extends EngineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('internal', 500, message, options);
  }
}
