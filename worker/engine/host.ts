// Host facts the engine needs: cpu time for docker's cpu % formula, online cpus, and the
// device nodes a --privileged container gets.
import { type Dirent, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ALL_CAPABILITIES, type OciDevice } from './spec/defaults.js';

const NS_PER_TICK = 1e9 / 100; // USER_HZ is 100 on Linux

/** Total host cpu time in ns from /proc/stat's first line (docker's system_cpu_usage). */
export function systemCpuNs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8) // user nice system idle iowait irq softirq (as docker)
    .reduce((sum, v) => sum + Number(v), 0);
  return ticks * NS_PER_TICK;
}

export function onlineCpus(): number {
  return availableParallelism();
}

/** Directories runc's HostDevices skips (mounted anew in a container, or no devices), and the hugetlbfs mount. */
const SKIP_DIRS = new Set(['pts', 'shm', 'mqueue', 'fd', '.lxc', '.lxd-mounts', '.udev', 'hugepages']);
/** The console is the container's own; /dev/ptmx is the runtime's link to pts/ptmx. */
const SKIP_FILES = new Set(['console', 'ptmx']);

/**
 * The host's character and block device nodes under /dev, as docker's privileged mode gives them.
 * Symbolic links are not followed (lstat): /dev/stdin → /proc/self/fd/0 is the daemon's own stdio
 * (often /dev/null or a tty), not a device of the host, and /dev/fd is such a link too.
 */
export function hostDevices(root = '/dev'): OciDevice[] {
  const out: OciDevice[] = [];
  const scan = (dir: string, depth: number) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name) && depth < 8) scan(p, depth + 1);
        continue;
      }
      if (!entry.isCharacterDevice() && !entry.isBlockDevice()) continue; // symlinks included
      if (SKIP_FILES.has(entry.name)) continue;
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st || !(st.isCharacterDevice() || st.isBlockDevice())) continue;
      const rdev = Number(st.rdev);
      // glibc's gnu_dev_major/minor for the 32-bit dev_t values Node hands us.
      const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
      const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
      out.push({
        type: st.isCharacterDevice() ? 'c' : 'b',
        path: p,
        major,
        minor,
        fileMode: Number(st.mode) & 0o7777,
        uid: Number(st.uid),
        gid: Number(st.gid),
      });
    }
  };
  scan(root, 0);
  return out;
}

/**
 * Capabilities in this process's bounding set: the most any container can be given (a
 * sandboxed daemon may lack some, and asking the kernel for them fails at exec).
 * ALL_CAPABILITIES is in kernel number order, so bit i names ALL_CAPABILITIES[i].
 */
export function boundingCapabilities(statusText = readFileSync('/proc/self/status', 'utf8')): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(statusText);
  if (!m) return [...ALL_CAPABILITIES];
  const mask = BigInt(`0x${m[1]}`);
  return ALL_CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}
