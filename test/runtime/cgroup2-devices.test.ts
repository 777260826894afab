// Device rules on cgroup v2: an eBPF program on the container's cgroup decides every open and mknod.
// This machine is hybrid, so the runtime runs in a private mount namespace whose /sys/fs/cgroup is the
// (controller-less) cgroup2 hierarchy; device programs need no controller, so the rules are enforced
// here exactly as on a v2-only host (test/cgroup2/ checks the same on one, under qemu).
import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OciDeviceCgroup } from '../../worker/engine/spec/defaults.js';
import { CGROUP_PARENT, ensureFixtures, RUNTIME, run, Sandbox } from './helpers.js';

let sb: Sandbox;
beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
});

const hybrid = existsSync('/sys/fs/cgroup/unified/cgroup.procs');

/** Runs `cmds` in a container with Docker's device rules plus `extra`, on cgroup v2; its output. */
async function inV2(
  cmds: string,
  extra: OciDeviceCgroup[] = [],
): Promise<{ stdout: string; stderr: string }> {
  sb = new Sandbox();
  const { id, bundle } = sb.bundle(['sh', '-c', cmds], (s) => {
    s.linux!.resources = { devices: [...(s.linux!.resources?.devices ?? []), ...extra] };
  });
  const script = [
    'mount -t cgroup2 none /sys/fs/cgroup',
    `${RUNTIME} --root ${sb.root} run --bundle ${bundle} ${id}`,
    `test -e /sys/fs/cgroup/${CGROUP_PARENT}/${id} && echo LEFT || echo removed`,
  ].join('\n');
  const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script]);
  return { stdout: r.stdout, stderr: r.stderr };
}

// `opened NAME CMD`: "NAME ok", or NAME and the error. An open the cgroup lets through reaches the driver, so
// a number no driver serves (240, the local/experimental major) fails with ENXIO there and with EPERM
// when the program denies it: that tells the program's answer apart from the driver's.
const OPENED =
  'opened() { if sh -c "$2" 2>/dev/t-err; then echo "$1 ok"; else echo "$1 $(sed "s/.*: //" /dev/t-err)"; fi; }';

describe.skipIf(!hybrid)('cgroup v2 device rules', () => {
  it('denies a node the rules do not allow and allows those they do', async () => {
    const r = await inV2(
      [
        OPENED,
        'mknod /dev/t-240 c 240 0 && echo made', // Docker's rules allow mknod of any char device
        'opened unlisted "cat /dev/t-240"',
        'mknod /dev/t-blk b 240 0 && opened block "cat /dev/t-blk"',
        'opened null "echo x > /dev/null"',
        'opened urandom "head -c4 /dev/urandom >/dev/null"',
      ].join('\n'),
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('made\n');
    expect(r.stdout).toContain('unlisted Operation not permitted\n');
    expect(r.stdout).toContain('block Operation not permitted\n');
    expect(r.stdout).toContain('null ok\n');
    expect(r.stdout).toContain('urandom ok\n');
    expect(r.stdout).toContain('removed\n');
  });

  it('grants an allowed node only the access its rules leave it', async () => {
    const r = await inV2(
      [
        OPENED,
        'mknod /dev/t-kmsg c 1 11 && mknod /dev/t-a c 240 0 && mknod /dev/t-b c 240 1',
        'opened kmsg-write "echo shoal-cgroup2-test > /dev/t-kmsg"', // writing /dev/kmsg needs no capability
        'opened kmsg-read "head -c0 /dev/t-kmsg"',
        'opened a-read "cat /dev/t-a"',
        'opened b-read "cat /dev/t-b"',
        'opened b-write "echo x > /dev/t-b"',
      ].join('\n'),
      [
        { allow: true, type: 'c', major: 1, minor: 11, access: 'w' },
        { allow: true, type: 'c', major: 240, access: 'rw' },
        // a later deny takes one bit back from an earlier allow, as a write to v1's devices.deny
        { allow: false, type: 'c', major: 240, access: 'w' },
      ],
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('kmsg-write ok\n');
    expect(r.stdout).toContain('kmsg-read Operation not permitted\n');
    expect(r.stdout).toContain('a-read No such device or address\n'); // let through to the (absent) driver
    expect(r.stdout).toContain('b-read No such device or address\n');
    expect(r.stdout).toContain('b-write Operation not permitted\n');
  });
  it('on an allow-all list denies only what a deny rule names', async () => {
    const r = await inV2(
      [
        OPENED,
        'mknod /dev/t-a c 240 0 && mknod /dev/t-b c 240 1',
        'opened a-read "cat /dev/t-a"',
        'opened b-read "cat /dev/t-b"',
        'opened b-write "echo x > /dev/t-b"',
      ].join('\n'),
      [
        { allow: true, access: 'rwm' }, // "a": everything allowed from here on
        { allow: false, type: 'c', major: 240, minor: 1, access: 'r' },
      ],
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('a-read No such device or address\n');
    expect(r.stdout).toContain('b-read Operation not permitted\n');
    expect(r.stdout).toContain('b-write No such device or address\n');
  });
});
