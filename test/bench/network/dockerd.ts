// Debian's dockerd as the benchmark's peer, in a network namespace the caller made: its own data root,
// exec root, socket, /run/docker and /run/containerd (bind-mounted privately inside `ip netns exec`'s
// mount namespace), its default bridge on `bip`, iptables on (its NAT rules land in that namespace
// only) and `--userland-proxy=false`, so a published port is DNAT in the kernel as shoal's is.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Dockerd {
  sock: string;
  dir: string;
  proc: ChildProcess;
  /** `docker -H unix://SOCK args…`; throws with its stderr when it fails. */
  docker(args: string[]): string;
}

export async function startDockerd(netns: string, bip: string): Promise<Dockerd> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-dockerd-'));
  const sock = join(dir, 'docker.sock');
  // `ip netns exec` remounts /sys without the cgroup hierarchies: they are replayed from PID 1's mounts.
  const script = `set -e
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
echo '{}' > ${dir}/daemon.json
exec dockerd --data-root ${dir}/root --exec-root ${dir}/exec --pidfile ${dir}/dockerd.pid -H unix://${sock} \
  --config-file ${dir}/daemon.json --bip ${bip} --iptables=true --ip-masq=true --userland-proxy=false \
  --storage-driver overlay2`;
  const proc = spawn('ip', ['netns', 'exec', netns, 'bash', '-c', script], {
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
  const d: Dockerd = { sock, dir, proc, docker };
  for (let i = 0; i < 600; i++) {
    if (existsSync(sock) && spawnSync('docker', ['-H', `unix://${sock}`, 'version']).status === 0) return d;
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopDockerd(d);
  throw new Error(`dockerd did not start:\n${err}`);
}

/** Removes its containers, stops it (by its pid file, then the `ip netns exec` process) and its files. */
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
  spawnSync('rm', ['-rf', d.dir]);
}
