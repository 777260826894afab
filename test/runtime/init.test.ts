// The runtime's org.shoal.init annotation (--init): process.args[0] is only argv[0]; the init runs from a
// sealed copy of the named host file, the command after "--" is what create checks. Bad input: a relative
// path, a missing file, no command after "--", a command that does not exist; each fails create with one
// line and leaves nothing behind.
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OciSpec } from '../../worker/engine/spec/defaults.js';
import { ensureFixtures, leftovers, REPO, Sandbox } from './helpers.js';

const INIT = join(REPO, 'native/build/Release/shoal-init');
let sb: Sandbox;
beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
});

const withInit =
  (path = INIT) =>
  (s: OciSpec) => {
    s.annotations = { ...(s.annotations ?? {}), 'org.shoal.init': path };
  };

describe('org.shoal.init', () => {
  it('runs the init from a sealed copy as PID 1, the command as its child, and passes the exit code on', async () => {
    sb = new Sandbox();
    const script = 'cat /proc/1/comm; readlink /proc/1/exe; echo x >> /proc/1/exe || echo refused; exit 7';
    const { id, bundle } = sb.bundle(['/sbin/docker-init', '--', 'sh', '-c', script], withInit());
    const r = await sb.rt(['run', '--bundle', bundle, id]);
    expect(r.stdout).toBe('docker-init\n/memfd:docker-init (deleted)\nrefused\n');
    expect(r.code).toBe(7);
  });

  it.each([
    [
      'a relative path',
      withInit('shoal-init'),
      ['/sbin/docker-init', '--', 'true'],
      /must be an absolute host path/,
    ],
    [
      'a missing init',
      withInit('/nonexistent/init'),
      ['/sbin/docker-init', '--', 'true'],
      /make a sealed copy of \/nonexistent\/init: no such file or directory/,
    ],
    ['no command after --', withInit(), ['/sbin/docker-init', '--'], /--init needs a command/],
    [
      'a command that does not exist',
      withInit(),
      ['/sbin/docker-init', '--', 'nope'],
      /exec "nope": executable file not found in \$PATH/,
    ],
  ] as const)('refuses %s at create, leaving nothing', async (_name, edit, args, message) => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle([...args], edit);
    const r = await sb.rt(['create', '--bundle', bundle, id]);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(leftovers(sb, id)).toEqual([]);
  });
});
