// `service logs` across a real cluster (issue 12): two managers and a worker, each a shoald in its own network
// namespace. A service's tasks run on all three nodes; `shoal service logs` and the real docker CLI gather
// every task's lines from the node that ran it (through the leader's log broker, reached from the follower
// too), with the `name.slot.task@node    | ` prefix; --tail, --since, a task id, and an unknown name. Then
// `-f` while the worker's shoald is SIGKILLed: the dead node's task is reported missing, the others keep
// streaming, and the task that replaces it joins the stream; a request without -f ends (incomplete) instead of
// hanging.
//
// Every wait is a poll with a generous deadline: a deadline passed is a failure, never a measurement.
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type LocalCluster, poll, REPO, uniquePrefix, useLocalCluster } from './harness.js';

const IMAGE = resolve('test/fixtures/out/images/busybox.docker.tar');
const MISSING = 'shoal: logs missing: ';

interface ApiTask {
  ID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState: string;
  Status: { State: string };
}

async function json<T>(c: LocalCluster, node: string, path: string): Promise<T> {
  const r = await c.api(node, 'GET', path);
  if (r.status !== 200) throw new Error(`GET ${path} on ${node}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

/** Running tasks of a service → the prefix docker prints for each (name.slot.id12@hostname). */
async function prefixes(c: LocalCluster, service: string): Promise<Map<string, string>> {
  const f = encodeURIComponent(JSON.stringify({ service: { [service]: true } }));
  const tasks = await json<ApiTask[]>(c, 'm1', `/tasks?filters=${f}`);
  const nodes = await json<{ ID: string; Description: { Hostname: string } }[]>(c, 'm1', '/nodes');
  const host = new Map(nodes.map((n) => [n.ID, n.Description.Hostname]));
  const out = new Map<string, string>();
  for (const t of tasks)
    if (t.DesiredState === 'running' && t.Status.State === 'running')
      out.set(t.ID, `${service}.${t.Slot}.${t.ID.slice(0, 12)}@${host.get(t.NodeID ?? '')}`);
  return out;
}

/** Lines by their prefix (the part before "    | "). */
function byPrefix(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const l of text.split('\n').filter(Boolean)) {
    const i = l.indexOf('    | ');
    const key = i < 0 ? '' : l.slice(0, i).trimEnd();
    const xs = out.get(key) ?? [];
    xs.push(i < 0 ? l : l.slice(i + 6));
    out.set(key, xs);
  }
  return out;
}

/** A long-running CLI, its output collected; stopped by its pid. */
class Follower {
  out = '';
  err = '';
  exited: number | null | undefined;
  private readonly p: ChildProcess;
  constructor(cmd: string, args: string[]) {
    this.p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHOAL_HOST: '' } });
    this.p.stdout?.on('data', (b: Buffer) => {
      this.out += b.toString();
    });
    this.p.stderr?.on('data', (b: Buffer) => {
      this.err += b.toString();
    });
    this.p.on('exit', (code) => {
      this.exited = code;
    });
  }
  stop() {
    if (this.exited === undefined && this.p.pid) process.kill(this.p.pid, 'SIGTERM');
  }
}

const docker = (c: LocalCluster, node: string, args: string[]) =>
  c.inNetns(node, 'docker', ['-H', c.node(node).host, ...args]);

const cluster = useLocalCluster({ managers: 2, workers: 1, swarm: 'yes', prefix: uniquePrefix('sl') });

describe('service logs across the cluster', () => {
  let fixed: Map<string, string>;

  beforeAll(async () => {
    const c = cluster();
    expect(c.swarm).toBe(true);
    await Promise.all(
      c.nodes.map(async (n) => expect((await c.shoal(n.name, ['load', '-q', '-i', IMAGE])).code).toBe(0)),
    );
    // A service that writes three known lines to each stream (paced, so their order in the log is known), and
    // one that never stops writing.
    const make = async (name: string, script: string) => {
      const r = await c.shoal('m1', [
        'service',
        'create',
        '-d',
        '--name',
        name,
        '--replicas',
        '3',
        'busybox:latest',
        'sh',
        '-c',
        script,
      ]);
      expect(r.code, r.stderr).toBe(0);
    };
    await make(
      'fixed',
      'for i in 1 2 3; do echo "out $i"; sleep 0.1; echo "err $i" >&2; sleep 0.1; done; exec sleep 100000',
    );
    await make(
      'ticker',
      'i=0; while true; do i=$((i+1)); echo "tick $i"; echo "tock $i" >&2; sleep 0.3; done',
    );
    fixed = await poll('three fixed tasks running on three nodes', async () => {
      const p = await prefixes(c, 'fixed');
      const nodesUsed = new Set([...p.values()].map((x) => x.split('@')[1]));
      return p.size === 3 && nodesUsed.size === 3 && p;
    });
    await poll('three ticker tasks running', async () => (await prefixes(c, 'ticker')).size === 3);
  }, 180_000);

  it('gathers every task’s lines from its node, with docker’s prefix, through the leader and a follower', async () => {
    const c = cluster();
    for (const via of ['m1', 'm2']) {
      const r = await poll(`every task's lines through ${via}`, async () => {
        const x = await c.shoal(via, ['service', 'logs', 'fixed']);
        // Every task has written all its lines (a task still starting has written only some).
        const whole = (m: Map<string, string[]>) =>
          m.size === 3 && [...m.values()].every((l) => l.length === 3);
        return x.code === 0 && whole(byPrefix(x.stdout)) && whole(byPrefix(x.stderr)) && x;
      });
      const out = byPrefix(r.stdout);
      const err = byPrefix(r.stderr);
      expect(new Set(out.keys())).toEqual(new Set(fixed.values()));
      for (const p of fixed.values()) {
        expect(out.get(p)).toEqual(['out 1', 'out 2', 'out 3']);
        expect(err.get(p)).toEqual(['err 1', 'err 2', 'err 3']);
      }
    }
    // The real docker CLI prints the same lines.
    const d = await docker(c, 'm2', ['service', 'logs', 'fixed']);
    expect(d.code, d.stderr).toBe(0);
    const s = await c.shoal('m2', ['service', 'logs', 'fixed']);
    expect(d.stdout.split('\n').sort()).toEqual(s.stdout.split('\n').sort());
    expect(d.stderr.split('\n').sort()).toEqual(s.stderr.split('\n').sort());
  }, 120_000);

  it('--tail, --since, --timestamps, --no-task-ids, --raw, a task id, and an unknown name', async () => {
    const c = cluster();
    // The last two lines of each task, over both streams (err 3 is written after out 3).
    const tail = await c.shoal('m1', ['service', 'logs', '--tail', '2', 'fixed']);
    expect(tail.code, tail.stderr).toBe(0);
    for (const p of fixed.values()) {
      expect(byPrefix(tail.stdout).get(p)).toEqual(['out 3']);
      expect(byPrefix(tail.stderr).get(p)).toEqual(['err 3']);
    }
    const dtail = await docker(c, 'm1', ['service', 'logs', '--tail', '2', 'fixed']);
    expect(dtail.stdout.split('\n').sort()).toEqual(tail.stdout.split('\n').sort());

    // --since: only lines written after the moment given (checked on their own timestamps).
    const cut = new Date();
    await new Promise((r) => setTimeout(r, 1500));
    const since = await c.shoal('m2', ['service', 'logs', '-t', '--since', cut.toISOString(), 'ticker']);
    expect(since.code, since.stderr).toBe(0);
    const stamped = since.stdout.split('\n').filter(Boolean);
    expect(stamped.length).toBeGreaterThan(3);
    for (const l of stamped)
      expect(Date.parse(l.split(' ')[0] ?? '')).toBeGreaterThanOrEqual(cut.getTime() - 1);
    const all = await c.shoal('m2', ['service', 'logs', 'ticker']);
    expect(all.stdout.split('\n').length).toBeGreaterThan(stamped.length);
    const relative = await c.shoal('m2', ['service', 'logs', '--since', '1s', 'ticker']);
    expect(relative.code, relative.stderr).toBe(0);
    expect(relative.stdout.split('\n').length).toBeLessThan(all.stdout.split('\n').length);

    const noIds = await c.shoal('m1', ['service', 'logs', '--no-task-ids', '--tail', '1', 'fixed']);
    expect(new Set(byPrefix(noIds.stderr).keys())).toEqual(
      new Set([...fixed.values()].map((p) => p.replace(/\.[a-z0-9]{12}@/, '@'))),
    );
    const raw = await c.shoal('m1', ['service', 'logs', '--raw', '--tail', '2', 'fixed']);
    expect(raw.stdout).toBe('out 3\nout 3\nout 3\n');
    // --details shows the extra details a log driver adds (shoald's json-file adds none): as docker prints it.
    const det = await c.shoal('m1', ['service', 'logs', '--details', '--tail', '2', 'fixed']);
    const ddet = await docker(c, 'm1', ['service', 'logs', '--details', '--tail', '2', 'fixed']);
    expect(det.stdout.split('\n').sort()).toEqual(ddet.stdout.split('\n').sort());
    expect(det.stdout).toContain('    |  out 3\n');

    const [taskId, prefix] = [...fixed][0] as [string, string];
    const one = await c.shoal('m2', ['service', 'logs', taskId]);
    expect(one.code, one.stderr).toBe(0);
    expect([...byPrefix(one.stdout)]).toEqual([[prefix, ['out 1', 'out 2', 'out 3']]]);

    const unknown = await c.shoal('m1', ['service', 'logs', 'nosuch']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('no such task or service: nosuch\n');
    const dunknown = await docker(c, 'm1', ['service', 'logs', 'nosuch']);
    expect(dunknown.code).toBe(1);
    expect(dunknown.stderr).toContain('no such task or service: nosuch');
    const api = await c.api('m1', 'GET', '/services/nosuch/logs?stdout=1');
    expect([api.status, JSON.parse(api.body).message]).toEqual([404, 'service nosuch not found']);
    const bad = await c.shoal('m1', ['service', 'logs', '--since', 'yesterday', 'fixed']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--since');
  }, 120_000);

  it('-f across three nodes while the worker’s shoald is killed: it is reported missing, the others stream on', async () => {
    const c = cluster();
    const tickers = await prefixes(c, 'ticker');
    const onW1 = [...tickers.values()].find((p) => p.endsWith('-w1'));
    expect(onW1).toBeDefined();
    const others = [...tickers.values()].filter((p) => p !== onW1);
    // shoal through the follower (forwarded to the leader's broker), docker through the leader.
    const s = new Follower(process.execPath, [
      join(REPO, 'bin/shoal'),
      '-H',
      c.node('m2').host,
      'service',
      'logs',
      '-f',
      '--tail',
      '0',
      'ticker',
    ]);
    const d = new Follower('nsenter', [
      `--net=/run/netns/${c.node('m1').netns}`,
      '--',
      'docker',
      '-H',
      c.node('m1').host,
      'service',
      'logs',
      '-f',
      '--tail',
      '0',
      'ticker',
    ]);
    try {
      for (const f of [s, d])
        await poll('lines of all three tasks', () => {
          const seen = byPrefix(f.out);
          return [...tickers.values()].every((p) => seen.has(p));
        });
      await c.kill('w1');
      for (const f of [s, d]) {
        const missing = await poll('the killed node reported missing', () =>
          f.err.split('\n').find((l) => l.startsWith(`${onW1}    | ${MISSING}`)),
        );
        expect(missing).toMatch(/node \S+-w1 lost its session with the managers|stopped sending logs/);
        // The others keep streaming after the loss was reported.
        const counts = () => others.map((p) => byPrefix(f.out).get(p)?.length ?? 0);
        const before = counts();
        await poll('the other nodes still streaming', () =>
          counts().every((n, i) => n > (before[i] ?? 0) + 2),
        );
        expect(f.exited).toBeUndefined();
      }
      // The task that replaces the lost one (on a live node) joins both streams as it starts.
      const replacement = await poll('the replacement task running', async () =>
        [...(await prefixes(c, 'ticker')).values()].find((p) => ![...tickers.values()].includes(p)),
      );
      for (const f of [s, d])
        await poll('the replacement task’s lines', () => (byPrefix(f.out).get(replacement)?.length ?? 0) > 0);
      // Without -f the request ends, naming what is missing, instead of hanging.
      const once = await c.shoal('m1', ['service', 'logs', '--tail', '2', 'ticker']);
      expect(once.code).toBe(1);
      expect(once.stderr).toContain(`${onW1}    | ${MISSING}`);
      expect(once.stderr).toMatch(
        /error from daemon in stream: incomplete log stream: the logs of \d+ tasks? could not be retrieved/,
      );
      for (const p of others)
        expect(
          (byPrefix(once.stdout).get(p)?.length ?? 0) + (byPrefix(once.stderr).get(p)?.length ?? 0),
        ).toBe(2);
      const donce = await docker(c, 'm2', ['service', 'logs', '--tail', '2', 'ticker']);
      expect(donce.code).toBe(1);
      expect(donce.stderr).toContain(`${onW1}    | ${MISSING}`);
      expect(donce.stderr).toContain('incomplete log stream');
      expect(new Set(byPrefix(donce.stdout).keys())).toEqual(new Set(byPrefix(once.stdout).keys()));
    } finally {
      s.stop();
      d.stop();
      await c.start('w1').catch(() => {});
    }
  }, 150_000);
});
