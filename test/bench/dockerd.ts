// Debian's dockerd (docker.io) as a benchmark peer, on state of its own: a network namespace the bench
// creates (loopback up, nothing else), its own data root, exec root, socket, /run/docker and
// /run/containerd (as ../shared/anchors/swarm does). Used by the build and images benchmarks.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Dockerd {
  sock: string;
  dir: string;
  ns: string;
  proc: ChildProcess;
}

export function haveDockerd(): boolean {
  return spawnSync('sh', ['-c', 'command -v dockerd']).status === 0;
}

/**
 * Starts dockerd in a new network namespace `ns` (deleted again by stopDockerd).
 * `config` is dockerd's daemon.json.
 */
export async function startDockerd(
  ns: string,
  opts: { config?: Record<string, unknown> } = {},
): Promise<Dockerd> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-dockerd-'));
  const sock = join(dir, 'docker.sock');
  const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr}`);
  // `ip netns exec` gives a private mount namespace with a fresh /sys: the cgroup mounts are replayed,
  // /run/docker and /run/containerd made private, then dockerd runs with no bridge and no iptables
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
exec dockerd --data-root ${dir}/root --exec-root ${dir}/exec --pidfile ${dir}/dockerd.pid -H unix://${sock} \
  --config-file ${dir}/daemon.json --bridge=none --iptables=false --ip-masq=false --userland-proxy=false \
  --storage-driver overlay2`;
  spawnSync('sh', ['-c', 'cat > "$1"', 'sh', join(dir, 'daemon.json')], {
    input: JSON.stringify(opts.config ?? {}),
  });
  const proc = spawn('ip', ['netns', 'exec', ns, 'bash', '-c', script], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-4000);
  });
  for (let i = 0; i < 300; i++) {
    if (
      existsSync(sock) &&
      spawnSync('docker', ['-H', `unix://${sock}`, 'version'], { encoding: 'utf8' }).status === 0
    )
      return { sock, dir, ns, proc };
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopDockerd({ sock, dir, ns, proc });
  throw new Error(`dockerd did not start:\n${err}`);
}

/** Stops dockerd (by its pid file), deletes the namespace and the state directory. */
export async function stopDockerd(d: Dockerd): Promise<void> {
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
  spawnSync('ip', ['netns', 'delete', d.ns]);
  spawnSync('rm', ['-rf', d.dir]);
}
