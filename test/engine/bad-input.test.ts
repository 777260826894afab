// Bad inputs give a clear, typed error naming the problem and leave nothing behind.
import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ConflictError,
  type CreateOptions,
  EngineError,
  InvalidArgumentError,
} from '../../worker/engine/index.js';
import { allTraces, type Env, ensureFixture, makeEnv, ROOTFS, traces } from './helpers.js';

beforeAll(ensureFixture);

let env: Env;
afterEach(async () => {
  await env?.cleanup();
});

const FIXED_ID = 'e1'.repeat(32);

async function expectRejected(
  opts: Partial<CreateOptions>,
  kind: abstract new (...args: never[]) => EngineError,
  message: RegExp,
) {
  const m = await env.open({ randomId: () => FIXED_ID });
  const err = await m.create({ rootfs: { dir: ROOTFS }, cmd: ['true'], ...opts } as CreateOptions).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(kind);
  expect((err as Error).message).toMatch(message);
  expect(traces(env, FIXED_ID)).toEqual([]);
  expect(allTraces(env)).toEqual([]);
  expect(m.list({ all: true })).toEqual([]);
  return err as EngineError;
}

describe('bad input', () => {
  it('missing rootfs', async () => {
    env = makeEnv();
    const e = await expectRejected(
      { rootfs: { dir: '/nonexistent/rootfs' } },
      InvalidArgumentError,
      /rootfs directory \/nonexistent\/rootfs does not exist/,
    );
    expect(e.kind).toBe('invalid_argument');
    await expectRejected(
      { rootfs: { layers: ['/nonexistent/layer'] } },
      InvalidArgumentError,
      /layer \/nonexistent\/layer does not exist/,
    );
  });

  it('a command that is not in the rootfs', async () => {
    env = makeEnv();
    await expectRejected({ cmd: ['/bin/nope'] }, EngineError, /nope/);
    await expectRejected({ cmd: ['no-such-command'] }, EngineError, /executable file not found/);
  });

  it('negative or unparsable memory', async () => {
    env = makeEnv();
    const e = (await expectRejected(
      { memory: '-512m' },
      InvalidArgumentError,
      /memory/,
    )) as InvalidArgumentError;
    expect(e.field).toBe('memory');
    await expectRejected({ memory: 'lots' }, InvalidArgumentError, /"lots" is not a size/);
  });

  it('unknown capability', async () => {
    env = makeEnv();
    await expectRejected({ capAdd: ['CAP_FOO'] }, InvalidArgumentError, /unknown capability "CAP_FOO"/);
    await expectRejected({ capDrop: ['wat'] }, InvalidArgumentError, /unknown capability "wat"/);
  });

  it('bind source that does not exist (a mount; -v binds create it, as docker)', async () => {
    env = makeEnv();
    const err = await expectRejected(
      { mounts: [{ type: 'bind', source: '/no/such/dir', target: '/data' }] },
      EngineError,
      /bind source path does not exist: \/no\/such\/dir/,
    );
    expect(err.field).toBe('mounts[0]');
    expect(existsSync('/no/such/dir')).toBe(false);
  });

  it('a volume over a file of the rootfs, and a bad volume name', async () => {
    env = makeEnv();
    await expectRejected(
      { binds: ['vol1:/etc/passwd'] },
      EngineError,
      /cannot mount volume over existing file/,
    );
    await expectRejected({ binds: ['b@d:/x'] }, EngineError, /invalid characters for a local volume name/);
  });

  it('duplicate name', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({ rootfs: { dir: ROOTFS }, name: 'taken', cmd: ['true'] });
    const err = await m.create({ rootfs: { dir: ROOTFS }, name: 'taken', cmd: ['true'] }).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.kind).toBe('conflict');
    expect(err.message).toMatch(/"\/taken" is already in use/);
    expect(m.list({ all: true }).map((c) => c.id)).toEqual([id]);
    expect(allTraces(env).filter((t) => !t.includes(id))).toEqual([]);
    await expect(m.create({ rootfs: { dir: ROOTFS }, name: 'bad name', cmd: ['true'] })).rejects.toThrow(
      /name/,
    );
  });

  it('unknown container ids and names are NotFound', async () => {
    env = makeEnv();
    const m = await env.open();
    for (const op of [
      () => m.start('ghost'),
      () => m.stop('ghost'),
      () => m.kill('ghost'),
      () => m.remove('ghost'),
      () => m.wait('ghost'),
      () => m.stats('ghost'),
    ])
      await expect(op()).rejects.toMatchObject({ kind: 'not_found', message: 'No such container: ghost' });
    expect(() => m.inspect('ghost')).toThrow(/No such container/);
  });
});
