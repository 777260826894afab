// Issue 9, one error model: worker/ errors carry a kind, never an HTTP status (the daemon maps kinds).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_KINDS, ShoalError } from '../common/errors.js';
import * as engineErrors from './engine/errors.js';
import { RuntimeError } from './engine/native.js';
import { AuthError } from './images/registry/auth.js';
import { kindOfRegistryStatus, RegistryError } from './images/registry/client.js';
import { ImageConflictError, ImageNotFoundError } from './images/store.js';

const here = fileURLToPath(new URL('.', import.meta.url));

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sourcesUnder(p);
    return d.name.endsWith('.ts') && !d.name.endsWith('.test.ts') ? [p] : [];
  });
}

describe('worker error classes', () => {
  const instances: [string, Error, string][] = [
    ['EngineError', new engineErrors.EngineError('not_running', 'm'), 'conflict'],
    ['NotFoundError', new engineErrors.NotFoundError('m'), 'not_found'],
    ['ConflictError', new engineErrors.ConflictError('m'), 'conflict'],
    ['InvalidArgumentError', new engineErrors.InvalidArgumentError('memory', 'm'), 'invalid_argument'],
    ['NotRunningError', new engineErrors.NotRunningError('m'), 'conflict'],
    ['InternalError', new engineErrors.InternalError('m'), 'internal'],
    ['RuntimeError', new RuntimeError('not-found', 'm', 1), 'not_found'],
    ['ImageNotFoundError', new ImageNotFoundError('busybox'), 'not_found'],
    ['ImageConflictError', new ImageConflictError('m'), 'conflict'],
    ['AuthError', new AuthError('m'), 'unauthenticated'],
    ['RegistryError', new RegistryError('m', 'not_found', 'BLOB_UNKNOWN'), 'not_found'],
  ];

  it('every exported engine error class is covered', () => {
    const exported = Object.entries(engineErrors)
      .filter(([, v]) => typeof v === 'function' && v.prototype instanceof Error)
      .map(([k]) => k);
    expect(exported.sort()).toEqual(
      instances
        .map(([n]) => n)
        .filter((n) => n in engineErrors)
        .sort(),
    );
  });

  it.each(instances)('%s is a ShoalError with a kind and no status number', (name, err, kind) => {
    expect(err).toBeInstanceOf(ShoalError);
    expect(err.name).toBe(name);
    expect((err as ShoalError).kind).toBe(kind);
    expect(ERROR_KINDS).toContain((err as ShoalError).kind);
    expect(err).not.toHaveProperty('httpStatus');
    expect(err).not.toHaveProperty('statusCode');
    expect(err).not.toHaveProperty('status');
  });

  it('keeps the fields callers use', () => {
    const bad = new engineErrors.InvalidArgumentError('memory', 'must be positive');
    expect(bad).toMatchObject({
      field: 'memory',
      code: 'invalid_argument',
      message: 'invalid memory: must be positive',
    });
    expect(new engineErrors.NotRunningError('m').code).toBe('not_running');
    expect(new RuntimeError('exec-not-found', 'm', 1)).toMatchObject({
      runtimeKind: 'exec-not-found',
      exitCode: 1,
    });
    expect(new ImageNotFoundError('busybox')).toMatchObject({
      ref: 'busybox',
      message: 'No such image: busybox',
    });
    expect(new RegistryError('m', 'not_found', 'BLOB_UNKNOWN').code).toBe('BLOB_UNKNOWN');
  });

  it('kinds a registry’s answer by its status', () => {
    expect([401, 403, 404, 429, 500, 503, 400, 418].map(kindOfRegistryStatus)).toEqual([
      'unauthenticated',
      'permission_denied',
      'not_found',
      'unavailable',
      'unavailable',
      'unavailable',
      'internal',
      'internal',
    ]);
  });

  it('no source file under worker/ gives an error an HTTP status', () => {
    // Reading the status of an HTTP response (res.statusCode, res.status) is fine; declaring one is not.
    const declares =
      /\b(?:readonly\s+|this\.)(?:httpStatus|statusCode)\b|\b(?:httpStatus|statusCode)\s*[:=][^=]/;
    const offenders = sourcesUnder(here).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => [line, i] as const)
        .filter(([line]) => declares.test(line) && !/\bres\.statusCode\b/.test(line))
        .map(([line, i]) => `${file}:${i + 1}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });
});
