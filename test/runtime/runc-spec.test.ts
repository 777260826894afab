// A stock `runc spec` bundle runs as under runc: its device cgroup denies everything, yet the
// default nodes (null, zero, full, random, urandom, tty, ptmx, pts) stay usable; where mknod is
// not permitted at all, the host's nodes are bind-mounted instead.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CGROUP_PARENT, ensureFixtures, leftovers, REPO, ROOTFS, run, Sandbox } from './helpers.js';

beforeAll(ensureFixtures);

let sb: Sandbox;
afterEach(async () => {
  await sb?.cleanup();
});

const SHOAL_RUNTIME = join(REPO, 'bin/shoal-runtime');
const DEVICES_WORK =
  'echo x > /dev/null && head -c 5 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c && ' +
  'ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | cut -c1';

/** `runc spec` in a fresh dir, with the busybox rootfs and `args`; the spec is otherwise stock. */
async function stockBundle(id: string, args: string[]): Promise<string> {
  const bundle = join(sb.dir, `bundle-${id}`);
  const made = await run('sh', ['-c', `mkdir -p "$1" && cd "$1" && runc spec`, 'sh', bundle]);
  expect(made.code).toBe(0);
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  expect(spec.linux.resources.devices).toEqual([{ allow: false, access: 'rwm' }]);
  spec.root = { path: ROOTFS, readonly: true };
  spec.process.terminal = false;
  spec.process.args = args;
  // Under the test parent, so the leftover check and the sandbox's cleanup see its cgroups.
  spec.linux.cgroupsPath = `/${CGROUP_PARENT}/${id}`;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  return bundle;
}

describe('a stock runc spec bundle', () => {
  it('runs /bin/true and echo, leaving nothing behind', async () => {
    sb = new Sandbox();
    const t = sb.newId('true');
    const r = await run(SHOAL_RUNTIME, [
      '--root',
      sb.root,
      'run',
      '--bundle',
      await stockBundle(t, ['/bin/true']),
      t,
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const e = sb.newId('echo');
    const echo = await run(SHOAL_RUNTIME, [
      '--root',
      sb.root,
      'run',
      '--bundle',
      await stockBundle(e, ['/bin/echo', 'hello', 'runc-spec']),
      e,
    ]);
    expect(echo).toMatchObject({ code: 0, stdout: 'hello runc-spec\n' });
    expect(leftovers(sb, t)).toEqual([]);
    expect(leftovers(sb, e)).toEqual([]);
  });

  it('keeps the default device nodes usable despite the deny-all rule', async () => {
    sb = new Sandbox();
    const id = sb.newId('dev');
    const r = await run(SHOAL_RUNTIME, [
      '--root',
      sb.root,
      'run',
      '--bundle',
      // 0 bind mounts on /dev/null: the node was made by mknod, which the device cgroup allowed.
      await stockBundle(id, [
        'sh',
        '-c',
        `${DEVICES_WORK} && { grep -c ' /dev/null ' /proc/self/mountinfo || true; }`,
      ]),
      id,
    ]);
    expect(r).toMatchObject({ code: 0, stdout: '5\n4\nc\nc\nc\nc\nc\nc\n0\n' });
  });

  it('binds the host nodes when mknod is not permitted (no CAP_MKNOD), as runc', async () => {
    sb = new Sandbox();
    const id = sb.newId('nomknod');
    const bundle = await stockBundle(id, [
      'sh',
      '-c',
      `${DEVICES_WORK} && grep -c ' /dev/null ' /proc/self/mountinfo`,
    ]);
    const r = await run('setpriv', [
      '--bounding-set',
      '-mknod',
      SHOAL_RUNTIME,
      '--root',
      sb.root,
      'run',
      '--bundle',
      bundle,
      id,
    ]);
    // The last line: /dev/null is a bind mount of the host's node, not a node made by mknod.
    expect(r).toMatchObject({ code: 0, stdout: '5\n4\nc\nc\nc\nc\nc\nc\n1\n' });
    expect(leftovers(sb, id)).toEqual([]);
  });
});
