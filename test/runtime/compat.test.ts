// The same bundle run by runc and by shoal-runtime must look the same from inside.
import { execFileSync } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, leftovers, run, Sandbox } from './helpers.js';

let sb: Sandbox;
const hasRunc = (() => {
  try {
    execFileSync('runc', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
});

// What is compared: identity, capabilities, seccomp/nnp state, hostname, mount points and
// options as seen in /proc/self/mountinfo, masked paths, limits, cwd and env.
const PROBE = [
  'id',
  'hostname',
  'pwd',
  'env | sort',
  'grep -E "^(Cap|NoNewPrivs|Seccomp:)" /proc/self/status',
  "awk '{print $5, $6, $9}' /proc/self/mountinfo",
  'ls /dev | sort',
  'wc -c < /proc/keys',
  'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max',
  'ulimit -n',
  '(echo x > /proc/sys/kernel/hostname) 2>/dev/null || echo denied',
].join('; echo ---; ');

describe.skipIf(!hasRunc)('runc compatibility', () => {
  it('runc and shoal-runtime give the same view of the same bundle', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sh', '-c', PROBE], (s) => {
      s.process.cwd = '/home/app';
      s.process.env!.push('GREETING=hello world');
      s.process.user = { uid: 1000, gid: 1000, additionalGids: [10] };
      s.process.noNewPrivileges = true;
      // runc fails rather than clamp an rlimit it cannot raise; keep one both can set
      s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1000, hard: 1000 }];
      s.linux!.resources!.memory = { limit: 64 << 20 };
      s.linux!.resources!.pids = { limit: 50 };
    });
    const ours = await sb.rt(['run', '--bundle', bundle, id]);
    const runcRoot = `${sb.dir}/runc-root`;
    const theirs = await run('runc', ['--root', runcRoot, 'run', '--bundle', bundle, `${id}-runc`]);
    await run('runc', ['--root', runcRoot, 'delete', '--force', `${id}-runc`]);
    expect(theirs.stderr).toBe('');
    expect(ours.stderr).toBe('');
    expect(ours.code).toBe(theirs.code);
    const a = ours.stdout.split('---\n');
    const b = theirs.stdout.split('---\n');
    expect(a.length).toBe(b.length);
    // identical sections
    for (const i of [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]) expect({ i, v: a[i] }).toEqual({ i, v: b[i] });
    // the mount table: same mount points with the same options and fs types (runc adds nothing
    // we lack and the reverse)
    const points = (s: string) =>
      s
        .trim()
        .split('\n')
        .map((l) => l.split(' ').slice(0, 3).join(' '))
        .sort();
    expect(points(a[5])).toEqual(points(b[5]));
    expect(leftovers(sb, id)).toEqual([]);
  });

  it('both refuse a command missing from the rootfs at create', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['nope'], (s) => {
      s.process.rlimits = [];
    });
    const ours = await sb.rt(['create', '--bundle', bundle, id]);
    const runcRoot = `${sb.dir}/runc-root`;
    const theirs = await run('runc', ['--root', runcRoot, 'create', '--bundle', bundle, `${id}-runc`]);
    await run('runc', ['--root', runcRoot, 'delete', '--force', `${id}-runc`]);
    expect(ours.code).not.toBe(0);
    expect(theirs.code).not.toBe(0);
    expect(theirs.stderr).toMatch(/exec: \\?"nope\\?": executable file not found in \$PATH/);
    expect(ours.stderr).toContain('exec "nope": executable file not found in $PATH');
  });
});
