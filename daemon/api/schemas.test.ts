import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import bodies from '../../test/daemon/docker-cli-bodies.json' with { type: 'json' };
import { toErrorReply } from '../http/errors.js';
import { BODY_SCHEMAS } from './body-schemas.js';
import { schemasDigest } from './gen/validators.js';
import {
  authSchema,
  containerCreateSchema,
  execCreateSchema,
  execStartSchema,
  fieldName,
  LIMITS,
  validateBody,
} from './schemas.js';

const refused = (schema: Record<string, unknown>, body: unknown): string => {
  try {
    validateBody(schema, body);
  } catch (e) {
    expect(toErrorReply(e).status).toBe(400);
    return (e as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(body).slice(0, 100)}`);
};

describe('request body schemas', () => {
  it('are checked by validators compiled from these very schemas (the build regenerates them)', () => {
    const digest = createHash('sha256').update(JSON.stringify(BODY_SCHEMAS)).digest('hex');
    expect(schemasDigest, 'daemon/api/gen is stale: npm run build:js').toBe(digest);
  });

  it('accept every body the docker CLI 28.2 sent in the recorded traces, unknown fields included', () => {
    for (const b of bodies.create) expect(validateBody(containerCreateSchema, b)).toBe(b);
    for (const b of bodies.execCreate) expect(validateBody(execCreateSchema, b)).toBe(b);
    for (const b of bodies.execStart) expect(validateBody(execStartSchema, b)).toBe(b);
    expect(validateBody(containerCreateSchema, { Image: 'x', Frobnicate: { deep: [1] } })).toBeDefined();
    expect(validateBody(containerCreateSchema, undefined)).toEqual({});
    expect(
      validateBody(containerCreateSchema, { Cmd: 'echo hi', Entrypoint: null, Env: null }),
    ).toBeDefined();
  });

  it.each<[string, unknown, string]>([
    [
      'Privileged as a string',
      { HostConfig: { Privileged: 'false' } },
      'invalid HostConfig.Privileged: must be a boolean (true or false), not the string "false"',
    ],
    [
      'HostConfig as a string',
      { HostConfig: 'x' },
      'invalid HostConfig: must be an object or null, not the string "x"',
    ],
    ['Labels as a string', { Labels: 'x' }, 'invalid Labels: must be an object or null'],
    [
      'a label value as a number',
      { Labels: { a: 1 } },
      'invalid Labels.a: must be a string, not the number 1',
    ],
    [
      'Image as a number (was: ref.startsWith is not a function)',
      { Image: 5 },
      'invalid Image: must be a string',
    ],
    [
      'CapAdd as a string (was: capAdd.map is not a function)',
      { HostConfig: { CapAdd: 'ALL' } },
      'invalid HostConfig.CapAdd: must be a list or null',
    ],
    ['Env with a number', { Env: ['A=1', 2] }, 'invalid Env[1]: must be a string'],
    [
      'Memory as a fraction',
      { HostConfig: { Memory: 1.5 } },
      'invalid HostConfig.Memory: must be an integer',
    ],
    [
      'Memory as a string',
      { HostConfig: { Memory: '1g' } },
      'invalid HostConfig.Memory: must be an integer, not the string "1g"',
    ],
    [
      'a mount with a numeric type',
      { HostConfig: { Mounts: [{ Type: 1 }] } },
      'invalid HostConfig.Mounts[0].Type: must be a string',
    ],
    ['a NUL in Cmd', { Cmd: ['tr\u0000ue'] }, 'invalid Cmd[0]: contains a NUL byte'],
    ['a NUL in Entrypoint', { Entrypoint: 'sh\u0000' }, 'invalid Entrypoint: contains a NUL byte'],
    ['a NUL in WorkingDir', { WorkingDir: '/a\u0000' }, 'invalid WorkingDir: contains a NUL byte'],
    [
      'a NUL in a label key',
      { Labels: { 'a\u0000b': 'v' } },
      'invalid Labels key "a\\u0000b": contains a NUL byte',
    ],
    [
      'too many Env entries',
      { Env: Array(LIMITS.list + 1).fill('A=1') },
      `invalid Env: has more than ${LIMITS.list} entries`,
    ],
    [
      'too many Labels',
      { Labels: Object.fromEntries(Array.from({ length: LIMITS.labels + 1 }, (_, i) => [`l${i}`, ''])) },
      `invalid Labels: has more than ${LIMITS.labels} entries`,
    ],
    [
      'too many Mounts',
      { HostConfig: { Mounts: Array(LIMITS.mounts + 1).fill({ Target: '/x' }) } },
      'invalid HostConfig.Mounts: has more than',
    ],
    ['a body that is a list', [], 'invalid request body: must be an object, not array'],
    [
      'ConsoleSize with one number',
      { HostConfig: { ConsoleSize: [1] } },
      'invalid HostConfig.ConsoleSize: must have 2 entries',
    ],
  ])('container create refuses %s', (_what, body, message) => {
    expect(refused(containerCreateSchema, body)).toContain(message);
  });

  it('exec create/start and auth refuse wrong types, naming the field', () => {
    expect(refused(execCreateSchema, { Cmd: 'ls' })).toBe(
      'invalid Cmd: must be a list or null, not the string "ls"',
    );
    expect(refused(execCreateSchema, { Cmd: ['ls'], Privileged: 'false' })).toContain('invalid Privileged');
    expect(refused(execCreateSchema, { Cmd: ['ls'], Env: ['A=\u0000'] })).toBe(
      'invalid Env[0]: contains a NUL byte',
    );
    expect(refused(execStartSchema, { Detach: 'yes' })).toContain('invalid Detach: must be a boolean');
    expect(refused(authSchema, { username: ['a'] })).toContain('invalid username: must be a string');
  });

  it('names fields as paths', () => {
    expect(fieldName('/HostConfig/Mounts/3/TmpfsOptions/Mode')).toBe(
      'HostConfig.Mounts[3].TmpfsOptions.Mode',
    );
    expect(fieldName('/Labels/a~1b')).toBe('Labels.a/b');
    expect(fieldName('')).toBe('');
  });
});
