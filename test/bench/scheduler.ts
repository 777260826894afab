// Scale benchmark (issue 12): 3 managers (real shoald, one per network namespace of the local cluster, with
// the simulated executor) and 1,000 simulated worker nodes in a few shoald-sim processes (each node its own
// certificate and dispatcher session), a service of 100,000 replicas created and scaled to 0.
//
//   npm run bench -- scheduler [--nodes 1000] [--replicas 100000] [--managers 3] [--procs 4] [--poll-ms 250]
//                              [--wait-max-s 1800]
//
// Figures: tasks_per_s (POST /services/create → every task RUNNING in the store, by ServiceStatus), create_s,
// leader_rss_mb (the leader shoald's largest VmRSS sampled during the run), scale_down_s (replicas 0 → no
// task RUNNING), nodes_falsely_down (nodes seen DOWN at any poll of GET /nodes during the run: every node
// stays up, so any is a failure of heartbeats, assignments or status batching at that size), leader_changes
// (elections seen during the run: the API then answers 503 for a moment, which the polls ride out).
// SHOAL_BED_LOGS=DIR keeps the logs of the managers and of the shoald-sim processes.
// Everything is torn down whatever happens (failure, SIGINT, SIGTERM). Progress goes to stderr; the last
// stdout line is one JSON object.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import * as os from 'node:os';
import { join } from 'node:path';
import { DATA_BASE, LocalCluster, REPO, RUN_BASE, script, uniquePrefix } from '../cluster/harness.js';
import { alive, sleep, vmRssMiB } from './converge/bed.js';
import { ApiClient, round } from './lib.js';
import { type Options, parseArgs, USAGE, UsageError } from './scheduler/options.js';

const TARGETS = { tasks_per_s: 5000, leader_rss_mb: 1536, nodes_falsely_down: 0 };

const log = (...a: unknown[]) =>
  console.error(`[${new Date().toISOString().slice(11, 23)}] scheduler:`, ...a);

interface NodeJson {
  ID: string;
  Description?: { Hostname?: string };
  Status?: { State?: string; Message?: string };
  ManagerStatus?: { Leader?: boolean };
}

class Run {
  private cluster: LocalCluster | undefined;
  private readonly sims: ChildProcess[] = [];
  private api!: ApiClient;
  private leaderPid = 0;
  private rssMax = 0;
  private readonly down = new Map<string, string>();
  private monitoring = false;
  /** The simulated nodes' state directory while its tmpfs is mounted. */
  private simState: string | undefined;
  private leaderId = '';
  private leaderChanges = 0;
  private monitor: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: Options,
    readonly prefix: string,
  ) {}

  async measure(): Promise<Record<string, unknown>> {
    const o = this.o;
    log(`up: ${o.managers} managers (simulated executor), prefix ${this.prefix}`);
    this.cluster = await LocalCluster.up({
      managers: o.managers,
      prefix: this.prefix,
      swarm: 'yes',
      executor: 'sim',
    });
    const m1 = this.cluster.node('m1');
    this.api = new ApiClient(m1.socket, 120_000);
    const swarm = JSON.parse(await this.api.ok('GET', '/swarm')) as { JoinTokens: { Worker: string } };
    const managers = this.cluster.managers.map((m) => `${m.address}:2377`);
    const t0 = Date.now();
    this.startSims(swarm.JoinTokens.Worker, managers);
    const total = o.nodes + o.managers;
    await this.until(
      `${total} nodes ready`,
      async () => {
        const nodes = await this.nodes();
        const ready = nodes.filter((n) => n.Status?.State === 'ready').length;
        return { done: ready >= total, note: `${ready}/${total} ready` };
      },
      2000,
    ); // (the node list is large: not polled as often as the service's status)
    const join_s = (Date.now() - t0) / 1000;
    log(`${total} nodes ready in ${join_s.toFixed(1)} s`);
    await this.findLeader();
    await sleep(3000);
    const idleRss = vmRssMiB(this.leaderPid) ?? 0;
    log(`leader idle RSS ${idleRss.toFixed(0)} MiB`);
    this.startMonitor();

    const name = `${this.prefix}-svc`;
    const created = Date.now();
    const r = JSON.parse(
      await this.api.ok('POST', '/services/create', {
        Name: name,
        TaskTemplate: {
          ContainerSpec: { Image: 'busybox:latest', Command: ['sleep', '1000000'] },
          RestartPolicy: { Condition: 'none' },
        },
        Mode: { Replicated: { Replicas: o.replicas } },
      }),
    ) as { ID: string };
    await this.until(`${o.replicas} running`, async () => {
      const s = await this.status(r.ID);
      return { done: s.RunningTasks >= o.replicas, note: `${s.RunningTasks}/${o.replicas} running` };
    });
    const create_s = (Date.now() - created) / 1000;
    log(`${o.replicas} running in ${create_s.toFixed(2)} s (${(o.replicas / create_s).toFixed(0)} tasks/s)`);
    const rssRunning = vmRssMiB(this.leaderPid) ?? 0;

    const svc = JSON.parse(await this.api.ok('GET', `/services/${r.ID}`)) as {
      Version: { Index: number };
      Spec: { Mode: { Replicated: { Replicas: number } } };
    };
    svc.Spec.Mode.Replicated.Replicas = 0;
    const scaled = Date.now();
    await this.api.ok('POST', `/services/${r.ID}/update?version=${svc.Version.Index}`, svc.Spec);
    await this.until('0 running', async () => {
      const s = await this.status(r.ID);
      return { done: s.RunningTasks === 0, note: `${s.RunningTasks} running` };
    });
    const scale_down_s = (Date.now() - scaled) / 1000;
    log(`scaled to 0 in ${scale_down_s.toFixed(2)} s`);
    await this.stopMonitor();
    const figures = {
      tasks_per_s: round(o.replicas / create_s, 0),
      create_s: round(create_s, 2),
      leader_rss_mb: round(this.rssMax, 0),
      leader_rss_mb_idle: round(idleRss, 0),
      leader_rss_mb_running: round(rssRunning, 0),
      scale_down_s: round(scale_down_s, 2),
      nodes_falsely_down: this.down.size,
      leader_changes: this.leaderChanges,
      join_s: round(join_s, 1),
    };
    if (this.down.size > 0) log('nodes seen down:', [...this.down].slice(0, 10));
    return figures;
  }

  /** Tears everything down: the sim processes (by pid), then the cluster. Idempotent, never throws. */
  async teardown(): Promise<void> {
    this.monitoring = false;
    for (const p of this.sims) if (p.pid && alive(p.pid)) p.kill('SIGTERM');
    for (let i = 0; i < 100 && this.sims.some((p) => p.pid && alive(p.pid)); i++) await sleep(100);
    for (const p of this.sims) if (p.pid && alive(p.pid)) p.kill('SIGKILL');
    this.api?.close();
    // SHOAL_BED_LOGS=DIR keeps the managers' and the sim hosts' logs (DIR/PREFIX-NAME.log).
    const keep = process.env.SHOAL_BED_LOGS;
    if (keep) {
      await mkdir(keep, { recursive: true });
      const dir = join(DATA_BASE, this.prefix);
      const names = [
        ...(this.cluster?.nodes ?? []).map((n) => [join(dir, n.name, 'shoald.log'), n.name]),
        ...this.sims.map((_, i) => [join(dir, `sim-${i + 1}.log`), `sim-${i + 1}`]),
      ];
      for (const [from, name] of names)
        await copyFile(from, join(keep, `${this.prefix}-${name}.log`)).catch(() => {});
    }
    if (this.simState) {
      const u = spawnSync('umount', [this.simState], { encoding: 'utf8' });
      if (u.status !== 0) log(`umount ${this.simState}: ${u.stderr.trim()}`);
      else this.simState = undefined;
    }
    const r = await script(['down', '--prefix', this.prefix]);
    if (r.code !== 0) log(`local-cluster.sh down exited ${r.code}: ${r.stderr.trim()}`);
  }

  private startSims(token: string, managers: string[]): void {
    const o = this.o;
    // On a tmpfs of the bench's own (under the cluster's run directory, which `down` removes; /run itself is
    // not a tmpfs on every machine): each node's agent syncs its task file up to twice a second, as a real
    // worker does on its own disk, but here a thousand of them would share one (~300 MB/s of synced writes),
    // which measured the disk rather than the managers. Logs beside the managers'.
    const state = join(RUN_BASE, this.prefix, 'sim');
    const logs = join(DATA_BASE, this.prefix);
    mkdirSync(state, { recursive: true });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=4g', 'shoal-bench-sim', state], {
      encoding: 'utf8',
    });
    if (mounted.status !== 0) throw new Error(`mount tmpfs on ${state}: ${mounted.stderr.trim()}`);
    this.simState = state;
    let first = 1;
    for (let i = 0; i < o.procs; i++) {
      const n = Math.floor(o.nodes / o.procs) + (i < o.nodes % o.procs ? 1 : 0);
      const args = [
        ...['--join-token', token, '--nodes', String(n), '--first-index', String(first)],
        ...managers.flatMap((m) => ['--manager', m]),
        ...['--state-dir', state, '--hostname-prefix', `${this.prefix}-s`],
      ];
      first += n;
      const out = createWriteStream(join(logs, `sim-${i + 1}.log`));
      const p = spawn(join(REPO, 'bin/shoald-sim'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout?.pipe(out);
      p.stderr?.pipe(out);
      this.sims.push(p);
    }
  }

  private async nodes(): Promise<NodeJson[]> {
    return JSON.parse(await this.api.ok('GET', '/nodes')) as NodeJson[];
  }

  private async status(id: string): Promise<{ RunningTasks: number }> {
    const xs = JSON.parse(await this.api.ok('GET', '/services?status=true')) as {
      ID: string;
      ServiceStatus?: { RunningTasks: number };
    }[];
    return xs.find((s) => s.ID === id)?.ServiceStatus ?? { RunningTasks: 0 };
  }

  private managerOf(n: NodeJson | undefined) {
    const name = n?.Description?.Hostname?.slice(this.prefix.length + 1) ?? '';
    return this.cluster?.managers.find((x) => x.name === name);
  }

  private pidOf(name: string): number {
    return Number(readFileSync(join(DATA_BASE, this.prefix, name, 'shoald.pid'), 'utf8').trim());
  }

  private async findLeader(): Promise<void> {
    const leader = (await this.nodes()).find((n) => n.ManagerStatus?.Leader);
    const m = this.managerOf(leader);
    if (!m || !leader)
      throw new Error(`no leader among the managers (${leader?.Description?.Hostname ?? 'none'})`);
    this.leaderId = leader.ID;
    this.leaderPid = this.pidOf(m.name);
    // The API answers on the leader from now on (no forwarding in the way of the figures).
    this.api.close();
    this.api = new ApiClient(m.socket, 120_000);
    log(`leader ${m.name} (pid ${this.leaderPid})`);
  }

  /** Every 2 s: the leader's RSS, and any node the managers mark down. */
  private startMonitor(): void {
    this.monitoring = true;
    this.monitor = (async () => {
      while (this.monitoring) {
        this.rssMax = Math.max(this.rssMax, vmRssMiB(this.leaderPid) ?? 0);
        try {
          const nodes = await this.nodes();
          for (const n of nodes)
            if (n.Status?.State === 'down' && !this.down.has(n.ID))
              this.down.set(n.ID, `${n.Description?.Hostname}: ${n.Status?.Message ?? ''}`);
          const leader = nodes.find((n) => n.ManagerStatus?.Leader);
          if (leader && leader.ID !== this.leaderId) {
            if (this.leaderId) {
              this.leaderChanges++;
              log(`leader changed to ${leader.Description?.Hostname}`);
              const m = this.managerOf(leader);
              if (m) this.leaderPid = this.pidOf(m.name);
            }
            this.leaderId = leader.ID;
          }
        } catch (err) {
          log(`monitor: ${(err as Error).message}`);
        }
        await sleep(2000);
      }
    })();
  }

  private async stopMonitor(): Promise<void> {
    this.monitoring = false;
    await this.monitor;
    this.rssMax = Math.max(this.rssMax, vmRssMiB(this.leaderPid) ?? 0);
  }

  /** Polls `check` every `everyMs` (default --poll-ms) until done; past --wait-max-s it fails. */
  private async until(
    what: string,
    check: () => Promise<{ done: boolean; note: string }>,
    everyMs = this.o.pollMs,
  ): Promise<void> {
    const deadline = Date.now() + this.o.waitMaxS * 1000;
    let lastLog = 0;
    let note = 'no answer yet';
    for (;;) {
      try {
        const r = await check();
        if (r.done) return;
        note = r.note;
      } catch (err) {
        // An election under load answers 503 for a moment: counted (leader_changes), not fatal.
        note = `last poll failed: ${(err as Error).message.trim()}`;
      }
      if (Date.now() - lastLog > 5000) {
        log(`waiting for ${what}: ${note}`);
        lastLog = Date.now();
      }
      if (Date.now() > deadline) throw new Error(`${what}: not reached in ${this.o.waitMaxS} s (${note})`);
      await sleep(everyMs);
    }
  }
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`scheduler: ${err.message}\nusage: ${USAGE}`);
    process.exit(2);
  }
  const loadStart = os.loadavg().map((x) => round(x));
  const run = new Run(o, uniquePrefix('sc'));
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: tearing down`);
    await run.teardown();
    process.exit(130);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  let figures: Record<string, unknown> = {};
  let error: string | undefined;
  try {
    figures = await run.measure();
  } catch (err) {
    error = (err as Error).message;
    log(`failed: ${error}`);
  } finally {
    await run.teardown();
  }
  const meets =
    error === undefined &&
    (figures.tasks_per_s as number) >= TARGETS.tasks_per_s &&
    (figures.leader_rss_mb as number) <= TARGETS.leader_rss_mb &&
    figures.nodes_falsely_down === TARGETS.nodes_falsely_down;
  console.log(
    JSON.stringify({
      bench: 'scheduler',
      topology: { managers: o.managers, sim_nodes: o.nodes, sim_processes: o.procs },
      replicas: o.replicas,
      ...figures,
      ...(error ? { error } : {}),
      targets: TARGETS,
      meets_targets: meets,
      host: {
        cores: os.availableParallelism(),
        loadavg_start: loadStart,
        loadavg_end: os.loadavg().map((x) => round(x)),
      },
    }),
  );
  process.exit(error ? 1 : 0);
}

void main();
