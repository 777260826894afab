// `npm run bench -- network [--only netsetup,bridge,mesh] [--runs N] [--seconds S] [--connections C]`:
// issue 10's networking figures, JSON on the last line (see test/bench/README.md).
// - netsetup: network/netsetup.ts under `unshare --net` (BENCH_N containers), its p50/p90;
// - bridge:   network/bridge.ts — `-p` on one node with wrk, shoald beside Debian's dockerd;
// - mesh:     network/mesh.ts — the routing mesh, a task direct, a backend joining, on a local cluster.
// Every figure is the median of --runs runs (wrk runs of --seconds each); the samples are printed too.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { round } from './lib.js';
import { measureBridge } from './network/bridge.js';
import { measureMesh } from './network/mesh.js';

const PARTS = ['netsetup', 'bridge', 'mesh'] as const;
type Part = (typeof PARTS)[number];

function usage(msg: string): never {
  console.error(
    `network bench: ${msg}\nusage: npm run bench -- network [--only ${PARTS.join(',')}] [--runs N] [--seconds S] [--connections C]`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]) {
  const o = { only: new Set<Part>(PARTS), runs: 3, seconds: 10, connections: 32 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) usage(`${k} needs a value`);
    const n = Number(v);
    if (k === '--only') {
      const parts = v.split(',');
      const bad = parts.find((p) => !(PARTS as readonly string[]).includes(p));
      if (bad) usage(`--only: unknown part "${bad}"`);
      o.only = new Set(parts as Part[]);
    } else if (k === '--runs' || k === '--seconds' || k === '--connections') {
      if (!Number.isInteger(n) || n < 1) usage(`${k}: "${v}" must be a positive integer`);
      o[k.slice(2) as 'runs' | 'seconds' | 'connections'] = n;
    } else usage(`unknown option ${k}`);
  }
  return o;
}

const median = (xs: number[]): number | null => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return round(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, 1);
};

function netsetup(runs: number): Record<string, unknown> {
  const samples: Record<string, number>[] = [];
  for (let r = 0; r < runs; r++) {
    const p = spawnSync(
      'unshare',
      ['--net', '--', 'npx', 'tsx', join(import.meta.dirname, 'network/netsetup.ts')],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const last = p.stdout.trim().split('\n').pop() ?? '';
    if (p.status !== 0) throw new Error(`netsetup exited ${p.status}: ${p.stdout}`);
    samples.push(JSON.parse(last));
    process.stderr.write(`network bench: netsetup run ${r + 1}/${runs}: ${last}\n`);
  }
  const of = (k: string) => median(samples.map((s) => s[k]));
  return {
    netsetup_p50_ms: of('netsetup_p50_ms'),
    netsetup_p90_ms: of('netsetup_p90_ms'),
    netsetup_ports_p50_ms: of('netsetup_ports_p50_ms'),
    netsetup_samples: samples.map((s) => s.netsetup_p50_ms),
  };
}

const o = parseArgs(process.argv.slice(2));
const w = { seconds: o.seconds, connections: o.connections, threads: 2 };
const out: Record<string, unknown> = { bench: 'network', runs: o.runs, wrk: w, loadavg_start: loadavg()[0] };
if (o.only.has('netsetup')) Object.assign(out, netsetup(o.runs));
if (o.only.has('bridge')) {
  const b = await measureBridge(o.runs, w);
  Object.assign(out, {
    bridge_rps: median(b.bridge_rps),
    docker_bridge_rps: median(b.docker_bridge_rps),
    bridge_rps_samples: b.bridge_rps,
    docker_bridge_rps_samples: b.docker_bridge_rps,
    bridge_errors: b.errors,
    ...(b.docker_error ? { docker_error: b.docker_error } : {}),
  });
}
if (o.only.has('mesh')) {
  const m = await measureMesh(o.runs, w);
  const mesh = median(m.mesh_rps);
  const direct = median(m.direct_rps);
  Object.assign(out, {
    mesh_rps: mesh,
    direct_rps: direct,
    ratio_mesh: mesh !== null && direct ? round(mesh / direct, 2) : null,
    backend_join_ms: m.backend_join_ms,
    mesh_rps_samples: m.mesh_rps,
    direct_rps_samples: m.direct_rps,
    mesh_errors: m.errors,
    ...(m.skipped ? { skipped: m.skipped } : {}),
    ...(m.direct_skipped ? { direct_skipped: m.direct_skipped } : {}),
    ...(m.backend_join_skipped ? { backend_join_skipped: m.backend_join_skipped } : {}),
  });
}
out.loadavg_end = loadavg()[0];
out.targets = { netsetup_p50_ms: 5, bridge_rps: 'docker_bridge_rps', ratio_mesh: 0.8, backend_join_ms: 1000 };
console.log(JSON.stringify(out));
