// bridge_rps: `-p` on one node, shoald beside Debian's dockerd. Each daemon runs in a network namespace
// of the bench's; a third, the client's, is joined to both by veths, and wrk runs there against a
// busybox httpd published with `-p 8080:80` (host port → container through the daemon's NAT, as an
// outside client reaches it). Nothing touches the host's namespace.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cleanup, type Daemon, REPO, shoal, startShoald } from '../../daemon/harness.js';
import { ensureDockerd } from '../converge/swarm-bed.js';
import { type Dockerd, startDockerd, stopDockerd } from '../dockerd.js';
import { type WrkOptions, type WrkResult, wrk } from './wrk.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const HTTPD = ['httpd', '-f', '-p', '80', '-h', '/etc'];

export interface BridgeFigures {
  bridge_rps: number[];
  docker_bridge_rps: number[];
  errors: { shoal: number; docker: number };
  docker_error?: string;
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const log = (m: string) => process.stderr.write(`network bench: ${m}\n`);

/** The three namespaces and their links; `down` removes them (idempotent). */
function namespaces(tag: string, net: string) {
  const ns = { shoal: `${tag}s`, docker: `${tag}d`, client: `${tag}c` };
  const path = (n: string) => `/run/netns/${n}`;
  const down = () => {
    for (const n of Object.values(ns)) spawnSync('ip', ['netns', 'delete', n], { stdio: 'ignore' });
  };
  down();
  for (const n of Object.values(ns)) {
    sh('ip', ['netns', 'add', n]);
    sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
  }
  // client cl0 ↔ shoal's up0 on NET.1.0/24; client cl1 ↔ docker's up0 on NET.2.0/24
  for (const [i, daemon] of [ns.shoal, ns.docker].entries()) {
    sh('ip', [
      '-n',
      ns.client,
      'link',
      'add',
      `cl${i}`,
      'type',
      'veth',
      'peer',
      'name',
      'up0',
      'netns',
      daemon,
    ]);
    sh('ip', ['-n', ns.client, 'addr', 'add', `${net}.${i + 1}.2/24`, 'dev', `cl${i}`]);
    sh('ip', ['-n', daemon, 'addr', 'add', `${net}.${i + 1}.1/24`, 'dev', 'up0']);
    sh('ip', ['-n', ns.client, 'link', 'set', `cl${i}`, 'up']);
    sh('ip', ['-n', daemon, 'link', 'set', 'up0', 'up']);
  }
  return { ns, path, down };
}

/** Polls until `url` answers from the client's namespace (the published port is live). */
async function reachable(clientNs: string, url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const r = spawnSync('nsenter', [`--net=${clientNs}`, '--', 'curl', '-sf', '-m', '2', url]);
    if (r.status === 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${url} never answered from the client namespace`);
}

export async function measureBridge(runs: number, w: Omit<WrkOptions, 'netns'>): Promise<BridgeFigures> {
  const tag = `nb${process.pid % 100000}`;
  const net = `10.${150 + (process.pid % 30)}`;
  const { ns, path, down } = namespaces(tag, net);
  let d: Daemon | undefined;
  let dd: Dockerd | undefined;
  const out: BridgeFigures = { bridge_rps: [], docker_bridge_rps: [], errors: { shoal: 0, docker: 0 } };
  try {
    log('starting shoald and dockerd in their namespaces');
    d = await startShoald(undefined, { netns: path(ns.shoal), args: ['--bip', `${net}.10.1/24`] });
    const must = async (args: string[]) => {
      const r = await shoal(d!, args);
      if (r.code !== 0) throw new Error(`shoal ${args.join(' ')}: ${r.stderr}`);
    };
    await must(['load', '-q', '-i', TARBALL]);
    await must(['run', '-d', '--name', 'web', '-p', '8080:80', 'busybox', ...HTTPD]);
    const shoalUrl = `http://${net}.1.1:8080/hostname`;
    await reachable(path(ns.client), shoalUrl);
    let dockerUrl: string | undefined;
    try {
      await ensureDockerd();
      dd = await startDockerd(ns.docker, { bip: `${net}.20.1/24`, existingNs: true });
      dd.docker(['load', '-q', '-i', TARBALL]);
      dd.docker(['run', '-d', '--name', 'web', '-p', '8080:80', 'busybox', ...HTTPD]);
      dockerUrl = `http://${net}.2.1:8080/hostname`;
      await reachable(path(ns.client), dockerUrl);
    } catch (e) {
      out.docker_error = (e as Error).message.split('\n').slice(0, 3).join(' ');
      log(`dockerd: ${out.docker_error}`);
    }
    const once = async (url: string): Promise<WrkResult> => wrk(url, { ...w, netns: path(ns.client) });
    // Interleaved, so that a change in the machine's load hits both alike.
    for (let r = 0; r < runs; r++) {
      const s = await once(shoalUrl);
      out.bridge_rps.push(s.rps);
      out.errors.shoal += s.errors;
      log(`run ${r + 1}/${runs}: shoal ${s.rps} req/s`);
      if (dockerUrl) {
        const k = await once(dockerUrl);
        out.docker_bridge_rps.push(k.rps);
        out.errors.docker += k.errors;
        log(`run ${r + 1}/${runs}: docker ${k.rps} req/s`);
      }
    }
    return out;
  } finally {
    if (dd) await stopDockerd(dd);
    await cleanup(d);
    down();
  }
}
