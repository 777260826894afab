// consoleSize: a container's (or exec's) terminal has the requested size before its process runs.
import type { Duplex } from 'node:stream';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../worker/engine/index.js';
import { collectLogs, type Env, ensureFixture, makeEnv, ROOTFS } from './helpers.js';

beforeAll(ensureFixture);

let env: Env;
afterEach(async () => {
  await env?.cleanup();
});

function readAll(s: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    s.on('data', (c: Buffer) => {
      out += c.toString();
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('consoleSize', () => {
  it("sizes the container's terminal before init runs", async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['stty', 'size'],
      tty: true,
      consoleSize: { height: 33, width: 101 },
    });
    expect(m.inspect(id).hostConfig.consoleSize).toEqual({ height: 33, width: 101 });
    const exited = m.wait(id, 'next-exit');
    await m.start(id);
    expect((await exited).exitCode).toBe(0);
    expect((await collectLogs(m.logs(id))).stdout).toBe('33 101\r\n');
  });

  it("sizes an exec's terminal", async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '30'] });
    await m.start(id);
    const ex = m.execCreate(id, { cmd: ['stty', 'size'], tty: true, consoleSize: { height: 12, width: 34 } });
    const stream = await m.execStart(ex);
    expect(await readAll(stream!)).toBe('12 34\r\n');
  });

  it('rejects a bad size naming the field, and creates nothing', async () => {
    env = makeEnv();
    const m = await env.open();
    const bad = m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['true'],
      tty: true,
      consoleSize: { height: -1, width: 80 },
    });
    await expect(bad).rejects.toThrow(InvalidArgumentError);
    await expect(bad).rejects.toMatchObject({ field: 'consoleSize.height' });
    expect(m.list({ all: true })).toEqual([]);
    const { id } = await m.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '30'] });
    await m.start(id);
    expect(() =>
      m.execCreate(id, { cmd: ['true'], tty: true, consoleSize: { height: 1, width: 70000 } }),
    ).toThrow(/consoleSize\.width/);
  });
});
