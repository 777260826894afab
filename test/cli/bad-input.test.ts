// Bad input through the CLI: a clear message naming the problem, a non-zero exit, and nothing left
// behind (no container record, runtime state, monitor process or mount).
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  type Daemon,
  processesUnder,
  ROOTFS,
  shoal,
  startShoald,
  stateEntries,
} from '../daemon/harness.js';

let d: Daemon;
beforeAll(async () => {
  d = await startShoald();
  expect((await shoal(d, ['run', '-d', '--name', 'taken', '--rootfs', ROOTFS, 'sleep', '60'])).code).toBe(0);
});
afterAll(() => cleanup(d));

const monitors = () => processesUnder(d.execRoot);

const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir)).length;

describe('bad input leaves nothing behind', () => {
  it.each([
    ['a missing rootfs', ['--rootfs', '/nonexistent/rootfs', 'true'], /nonexistent\/rootfs/, 125],
    [
      'a command that does not exist',
      ['--rootfs', ROOTFS, 'frobnicate'],
      /frobnicate.*(not found|no such file)/i,
      127,
    ],
    [
      'a negative memory value',
      ['-m', '-1g', '--rootfs', ROOTFS, 'true'],
      /invalid argument "-1g" for "-m, --memory"/,
      125,
    ],
    [
      'an unparsable memory value',
      ['--memory', 'plenty', '--rootfs', ROOTFS, 'true'],
      /invalid size: 'plenty'/,
      125,
    ],
    ['an unknown capability', ['--cap-add', 'CAP_FLY', '--rootfs', ROOTFS, 'true'], /CAP_FLY/, 125],
    [
      'a duplicate name',
      ['--name', 'taken', '--rootfs', ROOTFS, 'true'],
      /name "\/taken" is already in use/,
      125,
    ],
    [
      'a bind source that does not exist',
      ['--mount', 'type=bind,src=/nonexistent/src,dst=/x', '--rootfs', ROOTFS, 'true'],
      /bind source path does not exist: \/nonexistent\/src/,
      125,
    ],
  ])('%s', async (_what, args, message, status) => {
    const before = {
      ps: (await shoal(d, ['ps', '-aq'])).stdout,
      state: stateEntries(d),
      monitors: monitors(),
    };
    const r = await shoal(d, ['run', '--rm', ...(args as string[])]);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.code).toBe(status);
    expect((await shoal(d, ['ps', '-aq'])).stdout).toBe(before.ps);
    expect(stateEntries(d)).toEqual(before.state);
    expect(monitors()).toEqual(before.monitors);
    expect(mountsUnder(d.dataRoot)).toBe(0);
  });

  it('names the container when it does not exist', async () => {
    for (const cmd of [
      ['stop', 'ghost'],
      ['kill', 'ghost'],
      ['logs', 'ghost'],
      ['exec', 'ghost', 'true'],
      ['rm', 'ghost'],
      ['wait', 'ghost'],
    ]) {
      const r = await shoal(d, cmd);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/No such container: ghost/);
    }
  });

  it('rejects unknown flags and commands with usage hints', async () => {
    const f = await shoal(d, ['run', '--frob', '--rootfs', ROOTFS, 'true']);
    expect(f.code).toBe(125);
    expect(f.stderr).toContain('unknown flag: --frob');
    const c = await shoal(d, ['frobnicate']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain("'frobnicate' is not a shoal command");
    expect(existsSync(d.sock)).toBe(true);
  });
});
