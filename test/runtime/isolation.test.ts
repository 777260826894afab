// What a process sees from inside a container made by shoal-runtime with Docker's defaults.
import { existsSync, statSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS } from '../../worker/engine/spec/defaults.js';
import { defaultSeccompProfile } from '../../worker/engine/spec/seccomp.js';
import { ensureFixtures, leftovers, Sandbox } from './helpers.js';

const CAP_BITS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_RAW: 13,
  CAP_SYS_CHROOT: 18,
  CAP_MKNOD: 27,
  CAP_AUDIT_WRITE: 29,
  CAP_SETFCAP: 31,
};

let sb: Sandbox | undefined;
beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
  sb = undefined;
});

/** Runs `sh -c script` in a fresh container and returns what it printed. */
async function inside(script: string, edit?: Parameters<Sandbox['bundle']>[1]) {
  sb ??= new Sandbox(); // one per test, however many containers it runs
  const { id, bundle } = sb.bundle(['sh', '-c', script], edit);
  const r = await sb.rt(['run', '--bundle', bundle, id]);
  expect(leftovers(sb, id)).toEqual([]);
  return r;
}

describe('isolation', () => {
  it('gives the container its own pid 1, hostname and mount table', async () => {
    const r = await inside('echo pid=$$; hostname; cat /proc/self/mountinfo; echo PS; ps -o pid,comm; true');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('pid=1\n');
    expect(r.stdout.split('\n')[1]).toBe('box');
    const mounts = r.stdout.split('\n').filter((l) => / - /.test(l));
    const points = mounts.map((l) => l.split(' ')[4]);
    expect(points[0]).toBe('/');
    for (const p of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']) {
      expect(points).toContain(p);
    }
    // nothing of the host's tree (e.g. the repository or /tmp mounts) is visible
    expect(
      points.filter((p) => p.startsWith('/work') || p.startsWith('/tmp') || p.startsWith('/run')),
    ).toEqual([]);
    // only the shell and ps run in the container
    const procs = r.stdout
      .split('PS\n')[1]
      .split('\n')
      .filter((l) => /^\s*\d+ /.test(l));
    expect(procs.map((l) => l.trim().split(/\s+/)[1])).toEqual(['sh', 'ps']);
  });

  it('keeps /proc/sys read-only and masks the sensitive proc and sys files', async () => {
    // Only the masked paths this kernel has can be checked; the host must see them non-empty.
    const present = DEFAULT_MASKED_PATHS.filter((p) => existsSync(p));
    expect(present.length).toBeGreaterThan(2);
    const probes = present
      .map((p) =>
        statSync(p).isDirectory() ? `echo "${p}=$(ls -A ${p} | wc -l)"` : `echo "${p}=$(cat ${p} | wc -c)"`,
      )
      .join('; ');
    const r = await inside(
      `echo 1 > /proc/sys/kernel/domainname && echo WROTE; ${probes}; ` +
        'echo x > /proc/sysrq-trigger 2>/dev/null; echo sysrq=$?',
    );
    expect(r.stdout).not.toContain('WROTE');
    expect(r.stderr).toMatch(/Read-only file system/);
    for (const p of present) expect(r.stdout).toContain(`${p}=0\n`);
    expect(r.stdout).not.toContain('sysrq=0');
  });

  it("limits capabilities to Docker's default set", async () => {
    const r = await inside('grep -E "^Cap(Eff|Bnd|Prm)" /proc/self/status');
    let want = 0n;
    for (const c of DEFAULT_CAPABILITIES) want |= 1n << BigInt(CAP_BITS[c]);
    const hex = want.toString(16).padStart(16, '0');
    expect(r.stdout).toContain(`CapEff:\t${hex}`);
    expect(r.stdout).toContain(`CapBnd:\t${hex}`);
    expect(r.stdout).toContain(`CapPrm:\t${hex}`);
  });

  it('keeps ambient capabilities for a non-root user', async () => {
    const r = await inside('grep -E "^Cap(Eff|Amb)" /proc/self/status; id -u', (s) => {
      const caps = ['CAP_NET_BIND_SERVICE'];
      s.process.user = { uid: 1000, gid: 1000 };
      s.process.capabilities = {
        bounding: caps,
        effective: caps,
        permitted: caps,
        inheritable: caps,
        ambient: caps,
      };
    });
    expect(r.stdout).toBe('CapEff:\t0000000000000400\nCapAmb:\t0000000000000400\n1000\n');
  });

  it('applies sysctls and rlimits from the spec', async () => {
    const r = await inside('cat /proc/sys/net/ipv4/ip_forward; ulimit -n; ulimit -Hn', (s) => {
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
      s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 321, hard: 654 }];
    });
    expect(r.stdout).toBe('1\n321\n654\n');
  });

  it('blocks mount and unshare (seccomp and missing CAP_SYS_ADMIN)', async () => {
    const r = await inside(
      'grep Seccomp: /proc/self/status; mkdir -p /mnt/x; mount -t tmpfs none /mnt/x && echo MOUNTED; ' +
        'unshare -m true && echo UNSHARED; unshare -n true && echo NETNS; echo done',
    );
    expect(r.stdout).toContain('Seccomp:\t2');
    expect(r.stdout).not.toContain('MOUNTED');
    expect(r.stdout).not.toContain('UNSHARED');
    expect(r.stdout).not.toContain('NETNS');
    expect(r.stdout).toContain('done');
    expect(r.stderr).toMatch(/Operation not permitted|Permission denied/);
  });

  it('sets no_new_privs only when asked', async () => {
    const off = await inside('grep NoNewPrivs /proc/self/status');
    expect(off.stdout).toContain('NoNewPrivs:\t0');
    const on = await inside('grep NoNewPrivs /proc/self/status', (s) => {
      s.process.noNewPrivileges = true;
    });
    expect(on.stdout).toContain('NoNewPrivs:\t1');
  });

  it('--privileged-like spec (all caps, no seccomp) may mount', async () => {
    const r = await inside('mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo MOUNTED', (s) => {
      const all = ['CAP_SYS_ADMIN', ...DEFAULT_CAPABILITIES];
      s.process.capabilities = { bounding: all, effective: all, permitted: all };
      delete s.linux!.seccomp;
    });
    expect(r.stdout).toContain('MOUNTED');
  });

  it('allows the caps-gated syscalls of the default profile when the cap is added', async () => {
    const caps = [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'];
    const r = await inside('unshare -m true && echo UNSHARED', (s) => {
      s.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
      s.linux!.seccomp = defaultSeccompProfile(caps);
    });
    expect(r.stdout).toContain('UNSHARED');
  });

  it('brings up loopback in a new network namespace and has no other interface', async () => {
    const r = await inside('cat /proc/net/dev | tail -n +3 | cut -d: -f1; ip link show lo');
    const ifaces = r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.includes('<'));
    expect(ifaces[0]).toBe('lo');
    expect(r.stdout).toMatch(/lo: <LOOPBACK,UP/);
  });
});
