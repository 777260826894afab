// The peer: real Docker Swarm (Debian's dockerd 20.10) on the same topology, built by the swarm anchor's
// own scripts (../shared/anchors/swarm/scripts: up.sh, down.sh, and common.sh's sa_start_node to restart
// a killed node the way its bench does). Each node is a network namespace with its own dockerd, socket
// and data root under /tmp/swarm-anchor; the host network namespace is not touched.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO, run } from '../../cluster/harness.js';
import { alive, type Bed, bedNode, guarded, log, type Role, sleep, vmRssMiB } from './bed.js';

/** The anchor's fixed names (common.sh defaults): one anchor cluster per machine at a time. */
const BASE = '/tmp/swarm-anchor';
const IMAGE = 'bb:latest';

/** `shared/anchors/swarm` in the nearest ancestor of the repository that has it (../shared from a checkout). */
export function findAnchor(from = REPO): string | null {
  for (let d = from; ; d = dirname(d)) {
    const a = join(d, 'shared/anchors/swarm');
    if (existsSync(join(a, 'scripts/up.sh'))) return a;
    if (dirname(d) === d) return null;
  }
}

/** Debian's docker.io (dockerd, containerd, runc, the 20.10 CLI the anchor calls) when dockerd is missing. */
export async function ensureDockerd(): Promise<void> {
  const have = await run('sh', ['-c', 'command -v dockerd && test -x /usr/bin/docker']);
  if (have.code === 0) return;
  log('swarm: dockerd is missing; installing Debian docker.io (apt-get)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', 'docker.io', 'iptables', 'busybox-static', 'file']]) {
    const r = await run('apt-get', args, { env });
    if (r.code !== 0) throw new Error(`apt-get ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  }
}

/** Anything of an anchor cluster already on the machine (someone else's run): never torn down by us. */
async function anchorInUse(): Promise<string | null> {
  if (existsSync(BASE)) return `${BASE} exists`;
  const ns = await run('ip', ['netns', 'list']);
  const taken = ns.stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => /^sw-([mw]\d+|hub)$/.test(n));
  return taken.length ? `network namespaces ${taken.join(' ')} exist` : null;
}

export interface SwarmBedHandle {
  /** Brings the cluster up; `down` is safe to call whether or not this finished. */
  up(): Promise<Bed>;
  down(): Promise<void>;
}

export function swarmBed(anchor: string, managers: number, workers: number): SwarmBedHandle {
  const scripts = join(anchor, 'scripts');
  let ours = false; // set once we started up.sh: only then is the anchor cluster ours to take down
  const down = async () => {
    if (!ours) return;
    const r = await run('bash', [join(scripts, 'down.sh')]);
    if (r.code !== 0) log(`swarm: down.sh exited ${r.code}: ${r.stderr.trim()}`);
    else ours = false;
  };
  // A pid from the anchor's pid file, when that process is alive and is the program named (as sa_alive
  // checks): a recycled pid is never signalled.
  const pidOf = (file: string, program: string): number | null => {
    try {
      const pid = Number(readFileSync(file, 'utf8').trim());
      const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
      return pid > 0 && alive(pid) && argv0.includes(program) ? pid : null;
    } catch {
      return null;
    }
  };
  const dockerdPid = (n: string) => pidOf(join(BASE, n, 'dockerd.pid'), 'dockerd');
  const containerdPid = (n: string) => pidOf(join(BASE, n, 'exec/containerd/containerd.pid'), 'containerd');

  return {
    down,
    async up() {
      const busy = await anchorInUse();
      if (busy) throw new Error(`an anchor swarm seems to be up already (${busy}); not touching it`);
      await ensureDockerd();
      ours = true;
      log(`swarm: ${scripts}/up.sh ${managers} ${workers}`);
      const r = await guarded('up.sh', () =>
        run('bash', [join(scripts, 'up.sh'), String(managers), String(workers)]),
      );
      if (r.code !== 0) throw new Error(`up.sh exited ${r.code}: ${r.stderr.slice(-3000)}`);
      log(`swarm: ${r.stdout.trim()}`);
      const names = readFileSync(join(BASE, 'nodes'), 'utf8').split('\n').filter(Boolean);
      const nodes = await Promise.all(
        names.map(async (n) => {
          const node = bedNode(n, 'worker', join(BASE, n, 'docker.sock'));
          const info = JSON.parse(await node.api.ok('GET', '/info')) as {
            Swarm?: { ControlAvailable?: boolean };
          };
          node.role = (info.Swarm?.ControlAvailable ? 'manager' : 'worker') as Role;
          return node;
        }),
      );
      const mgrs = nodes.filter((n) => n.role === 'manager').length;
      return {
        kind: 'swarm',
        nodes,
        image: IMAGE,
        managerGap:
          mgrs >= 3 ? null : `${mgrs} manager(s): failover needs 3 (a quorum left after one is lost)`,
        kill: (n) =>
          guarded(`kill ${n}`, async () => {
            const pid = dockerdPid(n);
            if (pid === null) throw new Error(`swarm: dockerd of ${n} is not running`);
            process.kill(pid, 'SIGKILL');
            for (let i = 0; i < 200 && alive(pid); i++) await sleep(25);
          }),
        start: (n) =>
          guarded(`start ${n}`, async () => {
            const s = await run('bash', ['-c', `. "${scripts}/common.sh" && sa_start_node "$1"`, 'start', n]);
            if (s.code !== 0) throw new Error(`sa_start_node ${n} exited ${s.code}: ${s.stderr}`);
          }),
        async rssMiB() {
          // dockerd and its containerd: the per-node daemons (shims are per container, as shoal's monitors)
          const out = new Map<string, number>();
          for (const n of names) {
            const d = dockerdPid(n);
            if (d === null) continue;
            const c = containerdPid(n);
            out.set(n, (vmRssMiB(d) ?? 0) + (c === null ? 0 : (vmRssMiB(c) ?? 0)));
          }
          return out;
        },
        async down() {
          for (const n of nodes) n.api.close();
          await down();
        },
      };
    },
  };
}

/** dockerd's version line, for the JSON. */
export async function dockerdVersion(): Promise<string | null> {
  const r = await run('sh', ['-c', 'dockerd --version']);
  return r.code === 0 ? r.stdout.trim() : null;
}
