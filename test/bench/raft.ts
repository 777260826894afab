// Raft benchmark: three shoal raftnode processes vs a 3-member etcd cluster, both on loopback with fsync
// on, driven by the same load generator with 128-byte values.
//
//   npm run bench -- raft [--levels=16,64,256] [--level-secs=5] [--rate=1000] [--rate-secs=10]
//                         [--fo-trials=10] [--skip-etcd]
//
// Measures, for shoal: shoal_max_ops_s (best closed-loop level), shoal_p50_ms / shoal_p99_ms at a fixed
// open-loop rate (latency from the scheduled send time: no coordinated omission), failover_ms (SIGKILL of
// the leader → first write acknowledged by the new leader, median over trials). For etcd: etcd_max_ops_s
// and etcd_p99_ms under the same load; ratio_ops = shoal/etcd. Both clients send every write to the
// current leader (etcd's followers would otherwise forward, shoal's redirect), over 8 connections.
// Progress goes to stderr; the last stdout line is one JSON object.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { KvConn } from '../../manager/raft/cmd/client.js';

const opt = {
  levels: '16,64,256',
  'level-secs': 5,
  'ramp-secs': 1,
  rate: 1000,
  'rate-secs': 10,
  'fo-trials': 10,
  conns: 8,
  'value-bytes': 128,
  'skip-etcd': false,
};
for (const a of process.argv.slice(2)) {
  const m = /^--([\w-]+)(?:=(.*))?$/.exec(a);
  if (!m || !(m[1] in opt)) {
    console.error(`unknown argument ${a}`);
    process.exit(2);
  }
  const k = m[1] as keyof typeof opt;
  const cur = opt[k];
  (opt as Record<string, unknown>)[k] =
    typeof cur === 'number' ? Number(m[2]) : typeof cur === 'boolean' ? true : m[2];
}

const log = (...a: unknown[]) => console.error(`[${new Date().toISOString().slice(11, 23)}]`, ...a);
const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const values = Array.from({ length: 256 }, () => randomBytes(opt['value-bytes']));
let vi = 0;
const nextValue = () => values[vi++ & 255];
const nextKey = () => `bench/${Math.floor(Math.random() * 2 ** 52).toString(36)}`;
const r2 = (x: number | null) => (x == null ? null : Math.round(x * 100) / 100);

function pct(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
function summarize(lats: number[]) {
  const s = Float64Array.from(lats).sort();
  return {
    n: s.length,
    p50_ms: r2(pct(s, 50)),
    p99_ms: r2(pct(s, 99)),
    max_ms: r2(s.length ? s[s.length - 1] : null),
  };
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? null
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The load generator only needs a put per connection; both systems plug in here. */
type Put = (key: string, value: Buffer) => Promise<unknown>;

async function closedLoop(puts: Put[], conc: number, rampSecs: number, secs: number) {
  const mStart = now() + rampSecs * 1000;
  const end = mStart + secs * 1000;
  const lats: number[] = [];
  let errors = 0;
  let rr = 0;
  const worker = async () => {
    while (now() < end) {
      const put = puts[rr++ % puts.length];
      const s = now();
      try {
        await put(nextKey(), nextValue());
        const e = now();
        if (s >= mStart && e <= end) lats.push(e - s);
      } catch {
        if (s >= mStart) errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  return { concurrency: conc, ops_s: Math.round((lats.length / secs) * 10) / 10, errors, ...summarize(lats) };
}

/** Fixed-rate open loop: sends on schedule whatever is outstanding; latency from the scheduled time. */
function openLoop(puts: Put[], rate: number, secs: number) {
  return new Promise<{
    fromSched: ReturnType<typeof summarize>;
    fromSend: ReturnType<typeof summarize>;
    errors: number;
    achieved: number;
  }>((resolve) => {
    const total = Math.round(rate * secs);
    const sched: number[] = [];
    const send: number[] = [];
    const done: number[] = [];
    const ok: boolean[] = [];
    const t0 = now() + 5;
    let issued = 0;
    let outstanding = 0;
    let rr = 0;
    let finished = false;
    const finish = () => {
      if (finished || issued < total || outstanding > 0) return;
      finished = true;
      const a: number[] = [];
      const b: number[] = [];
      let last = 0;
      for (let i = 0; i < total; i++) {
        if (!ok[i]) continue;
        a.push(done[i] - sched[i]);
        b.push(done[i] - send[i]);
        last = Math.max(last, done[i]);
      }
      resolve({
        fromSched: summarize(a),
        fromSend: summarize(b),
        errors: total - a.length,
        achieved: Math.round((a.length / ((last - t0) / 1000)) * 10) / 10,
      });
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((now() - t0) * rate) / 1000) + 1);
      while (issued < due) {
        const i = issued++;
        sched[i] = t0 + (i * 1000) / rate;
        send[i] = now();
        outstanding++;
        puts[rr++ % puts.length](nextKey(), nextValue())
          .then(
            () => {
              done[i] = now();
              ok[i] = true;
            },
            () => {
              done[i] = now();
              ok[i] = false;
            },
          )
          .finally(() => {
            outstanding--;
            finish();
          });
      }
      if (issued < total) setTimeout(tick, 1);
      else finish();
    };
    setTimeout(tick, Math.max(0, t0 - now()));
  });
}

async function measure(name: string, puts: Put[], beforeFixed: () => Promise<void> = async () => {}) {
  log(`${name}: warm-up`);
  await closedLoop(puts, 16, 0, 2);
  const saturation = [];
  for (const c of opt.levels.split(',').map(Number)) {
    const r = await closedLoop(puts, c, opt['ramp-secs'], opt['level-secs']);
    log(`${name}: concurrency ${c}: ${JSON.stringify(r)}`);
    saturation.push(r);
  }
  const best = saturation.reduce((a, b) => (b.ops_s > a.ops_s ? b : a));
  await beforeFixed();
  log(`${name}: fixed rate ${opt.rate}/s for ${opt['rate-secs']} s`);
  const fixed = await openLoop(puts, opt.rate, opt['rate-secs']);
  log(`${name}: fixed rate: ${JSON.stringify(fixed)}`);
  return { saturation, max_ops_s: best.ops_s, best_concurrency: best.concurrency, fixed_rate: fixed };
}

/**
 * The `max…` counters (also nested ones) that grew between two status snapshots: each such value is the
 * worst case seen in between. A max that did not grow stayed below its earlier value (null).
 */
function maxesRaised(before: Record<string, unknown>, after: Record<string, unknown>) {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) {
    const b = before[k];
    if (v && typeof v === 'object') {
      out[k] = maxesRaised((b ?? {}) as Record<string, unknown>, v as Record<string, unknown>);
    } else if (k.startsWith('max') && typeof v === 'number') {
      out[k] = typeof b === 'number' && v <= b ? null : r2(v);
    }
  }
  return out;
}

// ---------------- shoal ----------------

const RAFTNODE = fileURLToPath(new URL('../../manager/raft/cmd/raftnode.ts', import.meta.url));
const SHOAL_PORT = 24001;
const shoalAddr = (id: number) => `127.0.0.${id}:${SHOAL_PORT}`;

class ShoalCluster {
  readonly procs = new Map<number, ChildProcess>();
  constructor(readonly dir: string) {}

  async start(id: number): Promise<void> {
    const boot = [1, 2, 3].map((m) => `${m}=${shoalAddr(m)}`).join(',');
    const logFd = fs.openSync(path.join(this.dir, `n${id}.log`), 'a');
    const p = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        RAFTNODE,
        '--id',
        String(id),
        '--listen',
        shoalAddr(id),
        '--data',
        path.join(this.dir, `n${id}`),
        '--bootstrap',
        boot,
        '--snapshot-every',
        '100000',
      ],
      { stdio: ['ignore', 'pipe', logFd] },
    );
    fs.closeSync(logFd);
    this.procs.set(id, p);
    await new Promise<void>((resolve, reject) => {
      p.stdout?.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
      p.on('exit', (code) => reject(new Error(`raftnode ${id} exited with ${code}`)));
    });
  }

  async kill(id: number): Promise<void> {
    const p = this.procs.get(id);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  async leader(timeoutMs = 15_000): Promise<number> {
    const end = now() + timeoutMs;
    while (now() < end) {
      for (const id of [1, 2, 3]) {
        const p = this.procs.get(id);
        if (!p || p.exitCode !== null || p.signalCode !== null) continue;
        const c = new KvConn(shoalAddr(id));
        try {
          const s = await c.status(500);
          if (s.role === 'leader') return id;
        } catch {
          // not up yet
        } finally {
          c.close();
        }
      }
      await sleep(50);
    }
    throw new Error('no shoal leader');
  }

  async status(id: number) {
    const c = new KvConn(shoalAddr(id));
    try {
      return await c.status(1000);
    } finally {
      c.close();
    }
  }

  async stop(): Promise<void> {
    for (const id of this.procs.keys()) await this.kill(id);
  }
}

async function shoalFailover(cluster: ShoalCluster, trials: number): Promise<number[]> {
  const results: number[] = [];
  for (let k = 1; k <= trials; k++) {
    const leader = await cluster.leader();
    const survivors = [1, 2, 3].filter((id) => id !== leader);
    const conns = survivors.map((id) => new KvConn(shoalAddr(id)));
    // Steady load before the kill, as in the etcd anchor (200 puts/s on the survivors' connections).
    const bg = openLoop(
      conns.map((c) => (k2, v) => c.put(k2, v, 3000)),
      200,
      2,
    );
    await sleep(1000);
    const tKill = now();
    await cluster.kill(leader);
    let acked: number | null = null;
    let i = 0;
    while (acked === null && now() - tKill < 10_000) {
      const c = conns[i++ % conns.length];
      try {
        await c.put(nextKey(), nextValue(), 300);
        acked = now() - tKill;
      } catch {
        await sleep(2);
      }
    }
    await bg;
    for (const c of conns) c.close();
    if (acked === null) throw new Error(`failover trial ${k}: no write acknowledged within 10 s`);
    results.push(Math.round(acked));
    log(`shoal failover ${k}: killed ${leader}, first commit by the new leader after ${acked.toFixed(0)} ms`);
    // Restart the killed member and let it catch up before the next trial.
    await cluster.start(leader);
    const newLeader = await cluster.leader();
    const target = (await cluster.status(newLeader)).commit as number;
    const end = now() + 20_000;
    while (now() < end) {
      try {
        if (((await cluster.status(leader)).applied as number) >= target) break;
      } catch {
        // starting
      }
      await sleep(50);
    }
    await sleep(500);
  }
  return results;
}

// ---------------- etcd ----------------

const ETCD_CLIENT = [24379, 24479, 24579];
const ETCD_PEER = [24380, 24480, 24580];

class EtcdCluster {
  readonly procs: ChildProcess[] = [];
  constructor(readonly dir: string) {}

  async start(): Promise<void> {
    const initial = ETCD_PEER.map((p, i) => `e${i + 1}=http://127.0.0.1:${p}`).join(',');
    for (let i = 0; i < 3; i++) {
      const logFd = fs.openSync(path.join(this.dir, `etcd${i + 1}.log`), 'a');
      const p = spawn(
        'etcd',
        [
          '--name',
          `e${i + 1}`,
          '--data-dir',
          path.join(this.dir, `etcd${i + 1}`),
          '--listen-client-urls',
          `http://127.0.0.1:${ETCD_CLIENT[i]}`,
          '--advertise-client-urls',
          `http://127.0.0.1:${ETCD_CLIENT[i]}`,
          '--listen-peer-urls',
          `http://127.0.0.1:${ETCD_PEER[i]}`,
          '--initial-advertise-peer-urls',
          `http://127.0.0.1:${ETCD_PEER[i]}`,
          '--initial-cluster',
          initial,
          '--initial-cluster-token',
          'shoal-bench',
          '--initial-cluster-state',
          'new',
          '--heartbeat-interval',
          '100',
          '--election-timeout',
          '1000',
          '--logger',
          'zap',
          '--log-outputs',
          'stderr',
        ],
        { stdio: ['ignore', 'ignore', logFd] },
      );
      fs.closeSync(logFd);
      this.procs.push(p);
    }
  }

  /** Client URL of the current leader, once the cluster has one. */
  async leader(): Promise<string> {
    const end = now() + 30_000;
    while (now() < end) {
      for (const port of ETCD_CLIENT) {
        const c = makeEtcd(`http://127.0.0.1:${port}`);
        try {
          const s = await c.maintenance.status();
          if (s.leader !== '0' && s.leader === s.header.member_id) return `http://127.0.0.1:${port}`;
        } catch {
          // not up yet
        } finally {
          c.close();
        }
      }
      await sleep(100);
    }
    throw new Error('etcd cluster has no leader');
  }

  async stop(): Promise<void> {
    for (const p of this.procs) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
  }
}

function makeEtcd(host: string): Etcd3 {
  return new Etcd3({
    hosts: [host],
    faultHandling: { host: () => noop, global: noop },
    grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
    defaultCallOptions: () => ({ deadline: Date.now() + 5000 }),
  });
}

// ---------------- main ----------------

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-bench-raft-'));
  const shoal = new ShoalCluster(dir);
  const etcd = new EtcdCluster(dir);
  const cleanup = async () => {
    await shoal.stop();
    await etcd.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const out: Record<string, unknown> = {
    node: process.version,
    cores: os.cpus().length,
    loadavg_start: os.loadavg().map(r2),
  };
  try {
    await Promise.all([1, 2, 3].map((id) => shoal.start(id)));
    const leader = await shoal.leader();
    const conns = Array.from({ length: opt.conns }, () => new KvConn(shoalAddr(leader)));
    let before: Record<string, unknown> = {};
    const s = await measure(
      'shoal',
      conns.map((c) => (k, v) => c.put(k, v)),
      async () => {
        before = await shoal.status(leader);
      },
    );
    for (const c of conns) c.close();
    const st = await shoal.status(leader);
    out.shoal = {
      ...s,
      leader_stats: st.stats,
      leader_process: st.process,
      // Which stalls happened while the fixed-rate latencies were measured (explains shoal_p99_ms).
      leader_max_during_fixed_rate: maxesRaised(
        { ...(before.stats as object), ...(before.process as object) },
        { ...(st.stats as object), ...(st.process as object) },
      ),
    };
    const fo = await shoalFailover(shoal, opt['fo-trials']);
    out.failover_ms_all = fo;
    await shoal.stop();

    if (!opt['skip-etcd']) {
      await etcd.start();
      const url = await etcd.leader();
      const clients = Array.from({ length: opt.conns }, () => makeEtcd(url));
      const e = await measure(
        'etcd',
        clients.map((c) => (k, v) => c.put(k).value(v).exec()),
      );
      for (const c of clients) c.close();
      out.etcd = { version: execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0], ...e };
      await etcd.stop();
    }
  } finally {
    await cleanup();
  }
  const sh = out.shoal as Awaited<ReturnType<typeof measure>>;
  const et = out.etcd as Awaited<ReturnType<typeof measure>> | undefined;
  const head = {
    shoal_max_ops_s: sh.max_ops_s,
    shoal_p50_ms: sh.fixed_rate.fromSched.p50_ms,
    shoal_p99_ms: sh.fixed_rate.fromSched.p99_ms,
    failover_ms: median(out.failover_ms_all as number[]),
    etcd_max_ops_s: et?.max_ops_s ?? null,
    etcd_p50_ms: et?.fixed_rate.fromSched.p50_ms ?? null,
    etcd_p99_ms: et?.fixed_rate.fromSched.p99_ms ?? null,
    ratio_ops: et ? r2(sh.max_ops_s / et.max_ops_s) : null,
    ratio_p99: et?.fixed_rate.fromSched.p99_ms
      ? r2((sh.fixed_rate.fromSched.p99_ms ?? 0) / et.fixed_rate.fromSched.p99_ms)
      : null,
    client_target: 'leader',
    fsync: true,
  };
  process.stdout.write(
    `${JSON.stringify({ ...head, ...out, loadavg_end: os.loadavg().map(r2), options: opt })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
