// Typed engine errors. Each is a ShoalError whose kind the daemon maps to its reply status
// (daemon/http/errors.ts); `code` keeps the engine's finer distinction (e.g. not_running) for callers.
import { type ErrorKind, ShoalError } from '../../common/errors.js';

export type EngineErrorCode = 'not_found' | 'conflict' | 'invalid_argument' | 'not_running' | 'internal';

/** The error kind of each engine code: a stopped container is a conflict with the request, as in dockerd. */
const CODE_KIND: Record<EngineErrorCode, ErrorKind> = {
  not_found: 'not_found',
  conflict: 'conflict',
  invalid_argument: 'invalid_argument',
  not_running: 'conflict',
  internal: 'internal',
};

export class EngineError extends ShoalError {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(CODE_KIND[code], message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** No such container / exec instance. */
export class NotFoundError extends EngineError {
  constructor(message: string) {
    super('not_found', message);
  }
}

/** The request clashes with the current state: duplicate name, container running, … */
export class ConflictError extends EngineError {
  constructor(message: string) {
    super('conflict', message);
  }
}

/** A bad option value; `field` names the option (e.g. "memory", "capAdd", "binds"). */
export class InvalidArgumentError extends EngineError {
  declare readonly field: string;
  constructor(field: string, message: string) {
    super('invalid_argument', `invalid ${field}: ${message}`, { field });
  }
}

/** The operation needs a running container (exec, pause, attach to a stopped one …); a conflict as in dockerd. */
export class NotRunningError extends EngineError {
  constructor(message: string) {
    super('not_running', message);
  }
}

/** The runtime failed for a reason the user did not cause. */
export class InternalError extends EngineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('internal', message, options);
  }
}
