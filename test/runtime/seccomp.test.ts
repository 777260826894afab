// Docker's default seccomp profile, compiled by shoal-runtime: a small static probe (built here
// with the system's C compiler) calls the syscalls Docker blocks, inside a container whose
// rootfs is the busybox fixture plus an overlay layer holding the probe.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES } from '../../worker/engine/spec/defaults.js';
import { defaultSeccompProfile } from '../../worker/engine/spec/seccomp.js';
import { ensureFixtures, ROOTFS, Sandbox } from './helpers.js';

const PROBE_C = `
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
static void report(const char* name, long rc) {
  printf("%s=%s\\n", name, rc < 0 ? strerror(errno) : "allowed");
}
int main(void) {
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
  report("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -3));
  report("bpf", syscall(SYS_bpf, 0, NULL, 0));
  report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  report("init_module", syscall(SYS_init_module, NULL, 0, ""));
  report("ptrace", syscall(SYS_ptrace, PTRACE_PEEKDATA, 1, NULL, NULL));
  report("unshare_net", syscall(SYS_unshare, CLONE_NEWNET));
  report("clone_newns", syscall(SYS_clone, CLONE_NEWNS, NULL, NULL, NULL, 0));
  report("personality_ok", syscall(SYS_personality, 0xffffffff));
  report("personality_bad", syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */));
  report("socket_vsock", syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0));
  report("socket_unix", syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
  report("getpid", syscall(SYS_getpid));
  return 0;
}
`;

let sb: Sandbox;
let hasCc = true;
beforeAll(() => {
  ensureFixtures();
  try {
    execFileSync('cc', ['--version']);
  } catch {
    hasCc = false;
  }
});
afterEach(async () => {
  await sb?.cleanup();
});

function probeBundle(caps: string[]) {
  const layer = join(sb.dir, 'layer');
  mkdirSync(layer, { recursive: true });
  writeFileSync(join(sb.dir, 'probe.c'), PROBE_C);
  execFileSync('cc', ['-static', '-O1', '-o', join(layer, 'probe'), join(sb.dir, 'probe.c')]);
  const upper = join(sb.dir, 'upper');
  const work = join(sb.dir, 'work');
  const merged = join(sb.dir, 'merged');
  for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true });
  return sb.bundle(['/probe'], (s) => {
    s.root.path = merged;
    s.annotations = {
      'org.shoal.rootfs.lowerdirs': `${layer}:${ROOTFS}`,
      'org.shoal.rootfs.upperdir': upper,
      'org.shoal.rootfs.workdir': work,
    };
    s.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
    s.linux!.seccomp = defaultSeccompProfile(caps);
  });
}

function parse(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  );
}

describe('default seccomp profile', () => {
  it('blocks what Docker blocks for a default container', async (ctx) => {
    if (!hasCc) ctx.skip();
    sb = new Sandbox();
    const { id, bundle } = probeBundle([...DEFAULT_CAPABILITIES]);
    const r = await sb.rt(['run', '--bundle', bundle, id]);
    expect(r.stderr).toBe('');
    const got = parse(r.stdout);
    for (const name of [
      'keyctl',
      'add_key',
      'bpf',
      'kexec_load',
      'init_module',
      'ptrace',
      'unshare_net',
      'clone_newns',
    ]) {
      expect({ name, result: got[name] }).toEqual({ name, result: 'Operation not permitted' });
    }
    expect(got.personality_ok).toBe('allowed');
    expect(got.personality_bad).toBe('Operation not permitted');
    expect(got.socket_vsock).toBe('Operation not permitted');
    expect(got.socket_unix).toBe('allowed');
    expect(got.getpid).toBe('allowed');
  });

  it('opens the gated syscalls with their capability (CAP_SYS_PTRACE, CAP_SYS_ADMIN)', async (ctx) => {
    if (!hasCc) ctx.skip();
    sb = new Sandbox();
    const { id, bundle } = probeBundle([...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE', 'CAP_SYS_ADMIN']);
    const got = parse((await sb.rt(['run', '--bundle', bundle, id])).stdout);
    // now the kernel decides: ptrace of pid 1 (not traced) fails with ESRCH, not EPERM
    expect(got.ptrace).toBe('No such process');
    expect(got.unshare_net).toBe('allowed');
    // still blocked: not tied to these capabilities
    expect(got.kexec_load).toBe('Operation not permitted');
    expect(got.keyctl).toBe('Operation not permitted');
  });
});
