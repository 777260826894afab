import { describe, expect, it } from 'vitest';
import { ERROR_KINDS, ShoalError } from '../../common/errors.js';
import { InvalidReferenceError } from '../../common/reference.js';
import {
  ConflictError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  NotRunningError,
} from '../../worker/engine/errors.js';
import { classifyRuntimeFailure } from '../../worker/engine/native.js';
import { AuthError } from '../../worker/images/registry/auth.js';
import { RegistryError } from '../../worker/images/registry/client.js';
import { ImageConflictError, ImageNotFoundError } from '../../worker/images/store.js';
import { ApiError, badRequest, conflict, HTTP_STATUS, notFound, toErrorReply } from './errors.js';

describe('kind → HTTP status (the one mapping of the Engine API edge)', () => {
  it('maps every kind to docker’s status', () => {
    expect(HTTP_STATUS).toEqual({
      not_found: 404,
      conflict: 409,
      invalid_argument: 400,
      failed_precondition: 400,
      unavailable: 503,
      permission_denied: 403,
      unauthenticated: 401,
      internal: 500,
    });
    for (const kind of ERROR_KINDS) {
      expect(toErrorReply(new ShoalError(kind, `a ${kind} error`))).toEqual({
        status: HTTP_STATUS[kind],
        message: `a ${kind} error`,
      });
    }
  });

  it('gives the errors of the engine, the image store and the registry client their docker status', () => {
    const cases: [unknown, number][] = [
      [new NotFoundError('No such container: x'), 404],
      [new ConflictError('name in use'), 409],
      [new NotRunningError('Container x is not running'), 409], // dockerd: errNotRunning is a conflict
      [new InvalidArgumentError('memory', 'must be positive'), 400],
      [new InternalError('boom'), 500],
      [classifyRuntimeFailure('shoal-runtime: exec "nope": executable file not found in $PATH', 1), 400],
      [classifyRuntimeFailure('shoal-runtime: container "x" does not exist', 1), 404],
      [classifyRuntimeFailure('shoal-runtime: container is not running', 1), 409],
      [new ImageNotFoundError('busybox:latest'), 404],
      [new ImageConflictError('short id ab is ambiguous'), 409],
      [new InvalidReferenceError('A:B:C', 'bad'), 400],
      [new AuthError('registry: unauthorized'), 401],
      [new RegistryError('manifest unknown', 'not_found', 'MANIFEST_UNKNOWN'), 404],
      [new RegistryError('registry answered 503', 'unavailable'), 503],
      [badRequest('bad'), 400],
      [notFound('gone'), 404],
      [conflict('taken'), 409],
    ];
    for (const [err, status] of cases) {
      expect(toErrorReply(err)).toEqual({ status, message: (err as Error).message });
    }
  });

  it('keeps an ApiError’s own status (e.g. 413) while classifying it by kind', () => {
    const e = new ApiError(413, 'request body too large');
    expect(e).toBeInstanceOf(ShoalError);
    expect(e.kind).toBe('invalid_argument');
    expect(toErrorReply(e)).toEqual({ status: 413, message: 'request body too large' });
    expect(new ApiError(404, 'x').kind).toBe('not_found');
    expect(new ApiError(502, 'x').kind).toBe('internal');
  });

  it('answers 500 for anything that is not a ShoalError', () => {
    expect(toErrorReply(new TypeError('x is undefined'))).toEqual({ status: 500, message: 'x is undefined' });
    expect(toErrorReply(new Error('plain'))).toEqual({ status: 500, message: 'plain' });
    expect(toErrorReply('a string')).toEqual({ status: 500, message: 'a string' });
    expect(toErrorReply(undefined)).toEqual({ status: 500, message: 'undefined' });
    // Duck-typed status fields are not trusted any more: only the kind decides.
    expect(toErrorReply(Object.assign(new Error('old style'), { httpStatus: 404, statusCode: 404 }))).toEqual(
      {
        status: 500,
        message: 'old style',
      },
    );
  });
});
