// `npm run bench -- engine`: container start-up cost, side by side with runc on the same OCI bundle.
//   shoal_p50_ms / shoal_p95_ms  create → exit observed through shoald's HTTP API (one keep-alive client)
//   runtime_p50_ms               `shoal-runtime run` on the bundle;  runc_p50_ms: `runc run` on the same bundle
//   concurrent100_s              100 sleeping containers started concurrently through shoald, until all run
//   monitor_rss_kib              resident memory of one container monitor
//   cli_ps_p50_ms                a whole `shoal ps` process;  docker_cli_ps_p50_ms: `docker ps` against the same shoald
//   node_floor_ms                `node -e 0` (Node's own start), interleaved with both; target: cli_ps_over_floor_ms <= 15
// Every container runs /bin/true (or sleep) with all namespaces including net, a memory and a pids limit.
// Prints one JSON object on its last line. Cleans up its containers, daemon and directories.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, type Daemon, REPO, ROOTFS, startShoald } from '../daemon/harness.js';
import { ApiClient, percentile, round } from './lib.js';

const N = Number(process.env.BENCH_N ?? 200);
const CONCURRENT = 100;
const CLI_RUNS = 20;
const MEMORY = 64 * 1024 * 1024;
const PIDS = 64;

const createBody = (cmd: string[]) => ({
  Rootfs: ROOTFS,
  Cmd: cmd,
  HostConfig: { NetworkMode: 'none', Memory: MEMORY, PidsLimit: PIDS },
});

/** One create → start → exit observed, timed. The container is removed afterwards (not timed). */
async function oneRun(c: ApiClient): Promise<number> {
  const t0 = performance.now();
  const { Id } = JSON.parse(await c.ok('POST', '/containers/create', createBody(['/bin/true']))) as {
    Id: string;
  };
  let headers!: () => void;
  const headersIn = new Promise<void>((r) => {
    headers = r;
  });
  const waited = c.call('POST', `/containers/${Id}/wait?condition=next-exit`, undefined, () => headers());
  await headersIn;
  await c.ok('POST', `/containers/${Id}/start`);
  const w = await waited;
  const elapsed = performance.now() - t0;
  const code = (JSON.parse(w.body) as { StatusCode: number }).StatusCode;
  if (code !== 0) throw new Error(`/bin/true exited ${code}`);
  await c.ok('DELETE', `/containers/${Id}?force=1`);
  return elapsed;
}

/**
 * The OCI bundle both runtimes run: the config.json shoald itself builds for /bin/true with every
 * namespace (net included) and the memory+pids limits (created through the API, then removed).
 */
async function makeBundle(c: ApiClient, d: Daemon, dir: string): Promise<string> {
  const { Id } = JSON.parse(await c.ok('POST', '/containers/create', createBody(['/bin/true']))) as {
    Id: string;
  };
  const spec = JSON.parse(readFileSync(join(d.dataRoot, 'containers', Id, 'config.json'), 'utf8'));
  await c.ok('DELETE', `/containers/${Id}?force=1`);
  spec.root = { path: ROOTFS, readonly: true };
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  // This machine's root lacks CAP_SYS_RESOURCE (hard nofile 20000): runc refuses Docker's 1048576.
  spec.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }];
  // Each runtime names the cgroup after its own container id.
  delete spec.linux.cgroupsPath;
  // The container's network namespace file and its /etc/hosts, hostname and resolv.conf went with it: a
  // fresh network namespace each run, the image's own files.
  const gone = join(d.dataRoot, 'network');
  spec.mounts = (spec.mounts as { source?: string }[]).filter((m) => !m.source?.startsWith(gone));
  for (const ns of spec.linux.namespaces as { type: string; path?: string }[])
    if (ns.type === 'network') delete ns.path;
  const types = (spec.linux.namespaces as { type: string }[]).map((n) => n.type).sort();
  if (types.join(',') !== 'cgroup,ipc,mount,network,pid,uts')
    throw new Error(`unexpected namespaces ${types}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

/** Median wall time of `cmd … run <id>` on the bundle. */
function runtimeRuns(cmd: string, rootArgs: string[], bundle: string, n: number): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = `bench-${process.pid}-${i}`;
    const t0 = performance.now();
    const r = spawnSync(cmd, [...rootArgs, 'run', '--bundle', bundle, id], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    times.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`${cmd} run: exit ${r.status}: ${r.stderr}`);
  }
  return percentile(times, 50);
}

/**
 * p50 wall time (ms) of each whole process, run in interleaved rounds so a change of load hits every
 * command alike: Node's own start (`node -e 0`), `shoal ps` and `docker ps`.
 */
function cliRounds(cmds: [string, string[]][], env: NodeJS.ProcessEnv): number[] {
  const times: number[][] = cmds.map(() => []);
  for (let i = 0; i < CLI_RUNS; i++) {
    cmds.forEach(([cmd, args], k) => {
      const t0 = performance.now();
      const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      times[k]?.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    });
  }
  return times.map((t) => percentile(t, 50));
}

function monitorRssKib(d: Daemon): number {
  const runtime = join(d.execRoot, 'runtime');
  for (const id of readdirSync(runtime)) {
    try {
      const state = JSON.parse(readFileSync(join(runtime, id, 'state.json'), 'utf8')) as {
        monitorPid?: number;
      };
      if (!state.monitorPid) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${state.monitorPid}/status`, 'utf8'));
      if (m) return Number(m[1]);
    } catch {}
  }
  throw new Error('no monitor found');
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'shoal-bench-'));
  let d: Daemon | undefined;
  const client = () => new ApiClient((d as Daemon).sock);
  try {
    d = await startShoald();
    const c = client();
    // Warm-up, then the measured sequential runs.
    for (let i = 0; i < 5; i++) await oneRun(c);
    const times: number[] = [];
    for (let i = 0; i < N; i++) times.push(await oneRun(c));

    const bundle = await makeBundle(c, d, join(work, 'bundle'));
    const runtimeRoot = join(work, 'runtime-root');
    const runcRoot = join(work, 'runc-root');
    const runtimeBin = join(REPO, 'bin/shoal-runtime');
    const runtimeP50 = runtimeRuns(runtimeBin, ['--root', runtimeRoot], bundle, N);
    const runcP50 = runtimeRuns('runc', ['--root', runcRoot], bundle, N);

    // 100 concurrent sleeping containers.
    const t0 = performance.now();
    const ids = await Promise.all(
      Array.from({ length: CONCURRENT }, async () => {
        const { Id } = JSON.parse(await c.ok('POST', '/containers/create', createBody(['sleep', '600']))) as {
          Id: string;
        };
        await c.ok('POST', `/containers/${Id}/start`);
        return Id;
      }),
    );
    const concurrentS = (performance.now() - t0) / 1000;
    const rss = monitorRssKib(d);

    const env = {
      ...process.env,
      DOCKER_CONFIG: join(work, 'docker-config'),
      DOCKER_HOST: '',
      SHOAL_HOST: '',
    };
    const [nodeFloor = 0, cliPs = 0, dockerPs = 0] = cliRounds(
      [
        [process.execPath, ['-e', '0']],
        [process.execPath, [join(REPO, 'bin/shoal'), '-H', `unix://${d.sock}`, 'ps']],
        ['docker', ['-H', `unix://${d.sock}`, 'ps']],
      ],
      env,
    );

    await Promise.all(ids.map((id) => c.ok('DELETE', `/containers/${id}?force=1`)));
    c.close();

    const shoalP50 = percentile(times, 50);
    console.log(
      JSON.stringify({
        n: N,
        shoal_p50_ms: round(shoalP50),
        shoal_p95_ms: round(percentile(times, 95)),
        runtime_p50_ms: round(runtimeP50),
        runc_p50_ms: round(runcP50),
        ratio_p50: round(shoalP50 / runcP50, 3),
        concurrent100_s: round(concurrentS, 3),
        monitor_rss_kib: rss,
        node_floor_ms: round(nodeFloor),
        cli_ps_p50_ms: round(cliPs),
        cli_ps_over_floor_ms: round(cliPs - nodeFloor),
        docker_cli_ps_p50_ms: round(dockerPs),
      }),
    );
  } finally {
    await cleanup(d);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
