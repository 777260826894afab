// `start -a` on an exited container: the CLIs attach before they start, so the attach has to wait
// for the next start's process (as dockerd's does) and carry all of its output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, docker, ROOTFS, shoal, startShoald } from '../daemon/harness.js';

let d: Daemon;
beforeAll(async () => {
  d = await startShoald();
});
afterAll(() => cleanup(d));

describe('start -a on an exited container', () => {
  it('prints the new run and exits with its code (shoal and docker CLIs)', async () => {
    const script = 'echo run; echo err >&2; exit 7';
    const first = await shoal(d, ['run', '--name', 'again', '--rootfs', ROOTFS, 'sh', '-c', script]);
    expect(first).toMatchObject({ code: 7, stdout: 'run\n', stderr: 'err\n' });
    expect(await shoal(d, ['start', '-a', 'again'])).toMatchObject({
      code: 7,
      stdout: 'run\n',
      stderr: 'err\n',
    });
    expect(await docker(d, ['start', '-a', 'again'])).toMatchObject({
      code: 7,
      stdout: 'run\n',
      stderr: 'err\n',
    });
    expect((await shoal(d, ['logs', 'again'])).stdout).toBe('run\nrun\nrun\n');
  });

  it('passes stdin to the new run with start -ai', async () => {
    const r = await shoal(
      d,
      ['run', '-i', '--name', 'cat', '--rootfs', ROOTFS, 'sh', '-c', 'read l; echo got $l'],
      'one\n',
    );
    expect(r).toMatchObject({ code: 0, stdout: 'got one\n' });
    expect(await shoal(d, ['start', '-ai', 'cat'], 'two\n')).toMatchObject({ code: 0, stdout: 'got two\n' });
  });

  it('still refuses to attach to a container that does not exist', async () => {
    const r = await docker(d, ['start', '-a', 'nope']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('No such container: nope');
  });
});
