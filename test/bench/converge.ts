// Convergence benchmark (issue 9): how fast the swarm reaches the desired state on the local network-
// namespace cluster, with busybox `sleep` tasks and stop grace 0, through the Engine API only.
//
//   npm run bench -- converge [--managers 3] [--workers 2] [--runs 3] [--peer swarm] [--poll-ms 25]
//                             [--wait-max-s 300] [--settle-s 5]
//
// Figures (median and every sample over --runs): replicas3_s, replicas30_s (create → all RUNNING),
// scale30to60_s, rm60_s (remove → no container of the service on any node), worker_loss_s (SIGKILL of the
// worker daemon holding most tasks of a 6-replica service → 6 RUNNING elsewhere), update6_s (a rolling
// update of a 6-replica service, parallelism 2, delay 0, stop-first → 6 tasks of the new spec RUNNING), failover_s (SIGKILL of
// the leader's daemon → another manager accepts a `service create`; null with a reason below 3 managers),
// shoald_rss_mb / shoald_rss_mb_60tasks (the largest node daemon's VmRSS idle before each run and with 60
// tasks; shoald_rss_mb_fresh is the idle reading before anything ran; for the swarm peer these are
// dockerd + containerd of a node). With --peer swarm the same code then measures real
// Docker Swarm on the same topology, built by ../shared/anchors/swarm, and prints the ratios shoal/swarm.
// The clusters are torn down whatever happens (failure, SIGINT, SIGTERM). Progress goes to stderr; the
// last stdout line is one JSON object.
import * as os from 'node:os';
import { uniquePrefix } from '../cluster/harness.js';
import { type Bed, log, quiesce, sleep } from './converge/bed.js';
import { type Options, parseArgs, USAGE, UsageError } from './converge/options.js';
import { Converge } from './converge/scenarios.js';
import { shoalBed, shoalDown } from './converge/shoal-bed.js';
import { type Figures, ratios, summarize } from './converge/stats.js';
import { dockerdVersion, findAnchor, swarmBed } from './converge/swarm-bed.js';

const TARGETS = {
  replicas3_s: 0.1,
  replicas30_s: 0.5,
  scale30to60_s: 0.5,
  rm60_s: 0.65,
  failover_s: 1.5,
  worker_loss_s: 3,
  update6_s: 1.0,
  shoald_rss_mb: 80,
};
/** Docker Swarm on this machine, 3 managers + 2 workers, medians of 9 (the anchor's 2026-11-22 run). */
const SWARM_ANCHOR_MEDIANS = {
  replicas3_s: 0.93,
  replicas30_s: 5.08,
  scale30to60_s: 4.98,
  rm60_s: 6.5,
  failover_s: 12.69,
  worker_loss_s: 17.81,
  update6_s: 5.8,
  shoald_rss_mb: 124,
};

function usage(msg: string): never {
  console.error(`converge: ${msg}`);
  console.error(`usage: ${USAGE}`);
  process.exit(2);
}

/** Every figure of one bed over the runs; a failed step loses its sample (with the reason), not the run. */
async function measure(bed: Bed, o: Options): Promise<Figures> {
  const f: Figures = {};
  const add = (k: string, v: number) => {
    f[k] ??= { samples: [] };
    f[k].samples.push(v);
  };
  const fail = (k: string, why: string) => {
    f[k] ??= { samples: [] };
    f[k].errors = [...(f[k].errors ?? []), why];
    log(`${bed.kind}: ${k} failed: ${why}`);
  };
  const conv = new Converge(bed, { pollMs: o.pollMs, waitMaxMs: o.waitMaxS * 1000 });
  await conv.init();
  const largestRss = async () => Math.round(Math.max(...(await bed.rssMiB()).values()) * 10) / 10;
  for (let run = 1; run <= o.runs; run++) {
    const tag = `${run}-${Date.now().toString(36)}`;
    await sleep(o.settleS * 1000); // let the last step's work (and the start-up) settle before "idle"
    const idle = await largestRss();
    add('shoald_rss_mb', idle);
    // Before anything ran (as the anchor reads Swarm's idle memory); later runs' idle follows the churn.
    if (run === 1) add('shoald_rss_mb_fresh', idle);
    log(`${bed.kind}: run ${run}/${o.runs}: idle RSS ${f.shoald_rss_mb.samples.at(-1)} MiB`);
    try {
      const r = await conv.createScaleRemove(tag, async () => {
        await sleep(1000);
        add('shoald_rss_mb_60tasks', await largestRss());
      });
      for (const [k, v] of Object.entries(r)) add(k, v);
      log(
        `${bed.kind}: run ${run}: ${JSON.stringify(r)}, RSS(60) ${f.shoald_rss_mb_60tasks?.samples.at(-1)}`,
      );
    } catch (err) {
      fail('create_scale_rm', (err as Error).message);
      await conv.sweep();
    }
    try {
      const u = await conv.rollingUpdate(tag);
      add('update6_s', u);
      log(`${bed.kind}: run ${run}: update6_s ${u}`);
    } catch (err) {
      fail('update6_s', (err as Error).message);
      await conv.sweep();
    }
    if (!bed.nodes.some((n) => n.role === 'worker')) {
      f.worker_loss_s = { samples: [], reason: 'no worker nodes' };
    } else {
      try {
        const w = await conv.workerLoss(tag);
        add('worker_loss_s', w.seconds);
        if (w.downSeconds !== null) add('worker_loss_down_s', w.downSeconds);
        if (w.recoveryError) fail('worker_loss_recovery', w.recoveryError);
        log(
          `${bed.kind}: run ${run}: worker_loss_s ${w.seconds}, down at ${w.downSeconds} (${w.victim} held ${w.held})`,
        );
      } catch (err) {
        fail('worker_loss_s', (err as Error).message);
        await conv.sweep();
      }
    }
    if (bed.managerGap) {
      f.failover_s = { samples: [], reason: bed.managerGap };
    } else {
      try {
        const fo = await conv.failover(tag);
        add('failover_s', fo.seconds);
        if (fo.leaderSeconds !== null) add('failover_leader_s', fo.leaderSeconds);
        if (fo.recoveryError) fail('failover_recovery', fo.recoveryError);
        log(
          `${bed.kind}: run ${run}: failover_s ${fo.seconds}, new leader at ${fo.leaderSeconds} (killed ${fo.leader}, wrote via ${fo.via})`,
        );
      } catch (err) {
        fail('failover_s', (err as Error).message);
      }
    }
  }
  return f;
}

async function main() {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) usage(err.message);
    throw err;
  }
  const anchor = o.peer ? findAnchor() : null;
  if (o.peer && !anchor) usage('--peer swarm: no shared/anchors/swarm next to the repository or above it');

  // Teardown is registered before anything is made, and runs once: at the end, on failure, or on a signal.
  const teardown: (() => Promise<void>)[] = [];
  let tornDown: Promise<void> | null = null;
  const cleanup = () => {
    tornDown ??= (async () => {
      await quiesce();
      for (const t of teardown.reverse()) await t().catch((e) => log(`teardown: ${(e as Error).message}`));
    })();
    return tornDown;
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      if (!tornDown) log(`${sig}: tearing the clusters down`);
      void cleanup().then(() => process.exit(130));
    });

  const out: Record<string, unknown> = {
    bench: 'converge',
    topology: { managers: o.managers, workers: o.workers },
    runs: o.runs,
  };
  const loadStart = os.loadavg();
  let shoal: Figures;
  let swarm: Figures | undefined;
  try {
    const prefix = uniquePrefix('cv');
    teardown.push(() => shoalDown(prefix));
    log(`shoal: up ${o.managers} managers + ${o.workers} workers (prefix ${prefix})`);
    const sbed = await shoalBed({ managers: o.managers, workers: o.workers, prefix });
    shoal = await measure(sbed, o);
    out.shoal_managers_joined = sbed.nodes.filter((n) => n.role === 'manager').length;
    await sbed.down();

    if (anchor) {
      // The peer failing to come up (dockerd missing and not installable, an anchor cluster of someone
      // else's) costs its figures, not shoal's.
      const handle = swarmBed(anchor, o.managers, o.workers);
      teardown.push(handle.down);
      try {
        const wbed = await handle.up();
        swarm = await measure(wbed, o);
        await wbed.down();
        out.swarm_version = await dockerdVersion();
      } catch (err) {
        log(`swarm: ${(err as Error).message}`);
        out.swarm_error = (err as Error).message;
      }
    }
  } finally {
    await cleanup();
  }
  const s = summarize(shoal);
  const w = swarm && summarize(swarm);
  const meets: Record<string, boolean | null> = {};
  for (const [k, t] of Object.entries(TARGETS)) {
    const m = (s[k] as { median: number | null } | undefined)?.median ?? null;
    meets[k] = m === null ? null : m <= t;
  }
  process.stdout.write(
    `${JSON.stringify({
      ...out,
      shoal: s,
      ...(w ? { swarm: w, ratio: ratios(s, w) } : {}),
      targets: TARGETS,
      meets_targets: meets,
      swarm_anchor_medians: SWARM_ANCHOR_MEDIANS,
      rss_of: { shoal: 'shoald VmRSS, largest node', swarm: 'dockerd + containerd VmRSS, largest node' },
      options: { poll_ms: o.pollMs, wait_max_s: o.waitMaxS, settle_s: o.settleS },
      host: { cores: os.cpus().length, loadavg_start: loadStart, loadavg_end: os.loadavg() },
    })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
