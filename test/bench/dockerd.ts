// Debian's dockerd (docker.io) as a benchmark peer, on state of its own: a network namespace, its own data
// root, exec root, socket, /run/docker and /run/containerd (bind-mounted privately inside `ip netns exec`'s
// mount namespace, as ../shared/anchors/swarm does). Used by the build, images and network benchmarks.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Dockerd {
  sock: string;
  dir: string;
  ns: string;
  /** Whether startDockerd made the namespace (and stopDockerd deletes it). */
  ownsNs: boolean;
  proc: ChildProcess;
  /** `docker -H unix://SOCK args…`; throws with its stderr when it fails. */
  docker(args: string[]): string;
}

export interface DockerdOptions {
  /** dockerd's daemon.json. */
  config?: Record<string, unknown>;
  /**
   * Its default bridge's address (`--bip`), with iptables and masquerade on and `--userland-proxy=false`
   * (a published port is DNAT in the kernel, as shoal's is); the rules land in the namespace only. Without
   * it: no bridge, no iptables.
   */
  bip?: string;
  /** `ns` exists already (the caller made and wired it, and deletes it); default: made here. */
  existingNs?: boolean;
}

export function haveDockerd(): boolean {
  return spawnSync('sh', ['-c', 'command -v dockerd']).status === 0;
}

/** Starts dockerd in the network namespace `ns` (made here and deleted by stopDockerd, unless existingNs). */
export async function startDockerd(ns: string, opts: DockerdOptions = {}): Promise<Dockerd> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-dockerd-'));
  const sock = join(dir, 'docker.sock');
  if (!opts.existingNs) {
    const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr}`);
  }
  writeFileSync(join(dir, 'daemon.json'), JSON.stringify(opts.config ?? {}));
  const network = opts.bip
    ? `--bip ${opts.bip} --iptables=true --ip-masq=true`
    : '--bridge=none --iptables=false --ip-masq=false';
  // `ip netns exec` remounts /sys without the cgroup hierarchies: they are replayed from PID 1's mounts.
  const script = `set -e
ip link set lo up
if ! mountpoint -q /sys/fs/cgroup/memory 2>/dev/null && grep -q ' /sys/fs/cgroup/' /proc/1/mounts; then
  mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
  while read -r src mnt type opts _; do
    case $type in cgroup|cgroup2) ;; *) continue;; esac
    case $mnt in /sys/fs/cgroup/*) ;; *) continue;; esac
    mkdir -p "$mnt"; mount -t "$type" -o "$opts" "$src" "$mnt"
  done < /proc/1/mounts
fi
mkdir -p ${dir}/run-docker ${dir}/run-containerd /run/docker /run/containerd
mount --bind ${dir}/run-docker /run/docker
mount --bind ${dir}/run-containerd /run/containerd
exec dockerd --data-root ${dir}/root --exec-root ${dir}/exec --pidfile ${dir}/dockerd.pid -H unix://${sock} \\
  --config-file ${dir}/daemon.json ${network} --userland-proxy=false --storage-driver overlay2`;
  const proc = spawn('ip', ['netns', 'exec', ns, 'bash', '-c', script], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-4000);
  });
  const docker = (args: string[]) => {
    const r = spawnSync('docker', ['-H', `unix://${sock}`, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr || r.error}`);
    return r.stdout;
  };
  const d: Dockerd = { sock, dir, ns, ownsNs: !opts.existingNs, proc, docker };
  for (let i = 0; i < 600; i++) {
    if (existsSync(sock) && spawnSync('docker', ['-H', `unix://${sock}`, 'version']).status === 0) return d;
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopDockerd(d);
  throw new Error(`dockerd did not start:\n${err}`);
}

/** Removes its containers, stops it (by its pid file), deletes its namespace (if its own) and its files. */
export async function stopDockerd(d: Dockerd): Promise<void> {
  try {
    const ids = d.docker(['ps', '-aq']).split('\n').filter(Boolean);
    if (ids.length) d.docker(['rm', '-f', ...ids]);
  } catch {}
  try {
    const pid = Number(readFileSync(join(d.dir, 'dockerd.pid'), 'utf8'));
    if (pid > 0) process.kill(pid, 'SIGTERM');
  } catch {}
  if (d.proc.exitCode === null && d.proc.signalCode === null)
    await new Promise((r) => {
      const t = setTimeout(() => {
        d.proc.kill('SIGKILL');
        r(null);
      }, 20_000);
      d.proc.once('exit', () => {
        clearTimeout(t);
        r(null);
      });
    });
  if (d.ownsNs) spawnSync('ip', ['netns', 'delete', d.ns]);
  spawnSync('rm', ['-rf', d.dir]);
}
