// Changing the set of managers on a real swarm (issue 12, "membership"): one manager and three workers, each a
// shoald in its own network namespace. Bad input first (demote the last manager, remove a node that runs
// tasks, promote a node that does not exist: clear errors, nothing changed); then two workers promoted and
// the first manager (the leader) demoted while service writes go on; then a dead manager removed and another
// node promoted in its place. Every role change is checked where it lands: the store (node ls), the raft
// group (reachable managers), the node's own state file, and the containers it keeps running.
//
// Every wait is a poll with a generous deadline: a deadline passed is a failure, never a measurement.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  apiJson,
  DATA_BASE,
  type LocalCluster,
  poll,
  run,
  uniquePrefix,
  useLocalCluster,
} from './harness.js';

const IMAGE = resolve('test/fixtures/out/images/busybox.docker.tar');

interface ApiNode {
  ID: string;
  Version: { Index: number };
  Spec: { Role: string; Availability: string };
  Status: { State: string; Addr: string };
  ManagerStatus?: { Leader?: boolean; Reachability: string; Addr: string };
}

const json = apiJson;

const nodes = (c: LocalCluster, on: string) => json<ApiNode[]>(c, on, 'GET', '/nodes');

/** The swarm node of a bed node (matched by address). */
async function swarmNode(c: LocalCluster, name: string, on: string): Promise<ApiNode | undefined> {
  return (await nodes(c, on)).find((x) => x.Status.Addr === c.node(name).address);
}

const bedName = (c: LocalCluster, n: ApiNode) => c.nodes.find((x) => x.address === n.Status.Addr)?.name;

/** Bed name → "leader" | "reachable" | "unreachable" | "worker", as manager `on` sees the swarm. */
async function roles(c: LocalCluster, on: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of await nodes(c, on)) {
    const name = bedName(c, n) ?? n.ID;
    out[name] = !n.ManagerStatus
      ? n.Spec.Role
      : n.ManagerStatus.Leader
        ? 'leader'
        : n.ManagerStatus.Reachability;
  }
  return out;
}

/** The role recorded in a node's <data-root>/swarm/state.json (what a restart resumes). */
async function stateRole(c: LocalCluster, name: string): Promise<string> {
  const s = JSON.parse(
    await readFile(join(DATA_BASE, c.prefix, name, 'data', 'swarm', 'state.json'), 'utf8'),
  );
  return s.role;
}

/** Ids of the running containers of a service on a node's engine. */
async function running(c: LocalCluster, node: string, service: string): Promise<string[]> {
  const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${service}`] }));
  const list = await json<{ Id: string; State: string }[]>(
    c,
    node,
    'GET',
    `/containers/json?all=1&filters=${f}`,
  );
  return list
    .filter((x) => x.State === 'running')
    .map((x) => x.Id)
    .sort();
}

/** Scales `svc` up and down through `on()` until stopped; counts the writes acknowledged and refused. */
function writer(c: LocalCluster, svc: string, on: () => string) {
  let stop = false;
  const result = { ok: 0, failed: [] as string[] };
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const r = await c.shoal(on(), ['service', 'scale', '-d', `${svc}=${i % 3}`]);
      if (r.code === 0) result.ok++;
      else result.failed.push(r.stderr.trim());
      await new Promise((res) => setTimeout(res, 200));
    }
  })();
  return {
    result,
    async end() {
      stop = true;
      await done;
      return result;
    },
  };
}

const cluster = useLocalCluster({ managers: 1, workers: 3, swarm: 'yes', prefix: uniquePrefix('mb') });

describe('manager membership on a 1-manager, 3-worker bed', () => {
  beforeAll(async () => {
    const c = cluster();
    expect(c.swarm).toBe(true);
    await Promise.all(
      c.nodes.map(async (n) => expect((await c.shoal(n.name, ['load', '-q', '-i', IMAGE])).code).toBe(0)),
    );
    const r = await c.shoal('m1', [
      'service',
      'create',
      '-d',
      '-q',
      '--name',
      'web',
      '--replicas',
      '8',
      '--stop-grace-period',
      '0s',
      'busybox',
      'sleep',
      '100000',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const wr = await c.shoal('m1', [
      'service',
      'create',
      '-d',
      '-q',
      '--name',
      'writes',
      '--replicas',
      '0',
      'busybox',
      'sleep',
      '100000',
    ]);
    expect(wr.code, wr.stderr).toBe(0);
    await poll('8 running tasks on 4 nodes', async () => {
      const per = await Promise.all(c.nodes.map((n) => running(c, n.name, 'web')));
      return per.every((x) => x.length === 2);
    });
  }, 180_000);

  it('refuses bad input plainly and changes nothing', async () => {
    const c = cluster();
    const before = await nodes(c, 'm1');
    const w1 = (await swarmNode(c, 'w1', 'm1'))!;
    const m1 = (await swarmNode(c, 'm1', 'm1'))!;

    const last = await c.shoal('m1', ['node', 'demote', m1.ID]);
    expect(last.code).not.toBe(0);
    expect(last.stderr).toMatch(/attempting to demote the last manager of the swarm/);

    const ready = await c.shoal('m1', ['node', 'rm', w1.ID]);
    expect(ready.code).toBe(1);
    expect(ready.stderr).toBe(
      `Error response from daemon: node ${w1.ID} is not down and can't be removed (use --force to remove it anyway)\n`,
    );

    const active = await c.shoal('m1', ['node', 'rm', '--force', m1.ID]);
    expect(active.stderr).toMatch(
      /is a cluster manager and is a member of the raft cluster. It must be demoted/,
    );

    const unknown = await c.shoal('m1', ['node', 'promote', 'nosuchnode']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/node nosuchnode not found/);

    const role = await c.shoal('m1', ['node', 'update', '--role', 'boss', w1.ID]);
    expect(role.code).not.toBe(0);
    expect(role.stderr).toMatch(/invalid role: must be one of worker, manager/);

    // Also through the real docker CLI: the same refusals.
    const docker = await run('/usr/local/bin/docker', ['-H', c.node('m1').host, 'node', 'demote', m1.ID]);
    expect(docker.stderr).toMatch(/attempting to demote the last manager of the swarm/);

    const after = await nodes(c, 'm1');
    expect(after.map((n) => [n.ID, n.Version.Index, n.Spec.Role]).sort()).toEqual(
      before.map((n) => [n.ID, n.Version.Index, n.Spec.Role]).sort(),
    );
    expect(await running(c, 'w1', 'web')).toHaveLength(2);
  }, 60_000);

  it('promotes two workers and demotes the leader while writes continue; tasks keep running', async () => {
    const c = cluster();
    const kept = {
      w1: await running(c, 'w1', 'web'),
      w2: await running(c, 'w2', 'web'),
      m1: await running(c, 'm1', 'web'),
    };
    let via = 'm1';
    const w = writer(c, 'writes', () => via);
    await poll('writes going', async () => w.result.ok >= 2);

    const w1 = (await swarmNode(c, 'w1', 'm1'))!;
    const w2 = (await swarmNode(c, 'w2', 'm1'))!;
    const p = await c.shoal('m1', ['node', 'promote', w1.ID, w2.ID]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toBe(
      `Node ${w1.ID} promoted to a manager in the swarm.\nNode ${w2.ID} promoted to a manager in the swarm.\n`,
    );
    await poll('three reachable managers', async () => {
      const r = await roles(c, 'm1');
      return r.m1 === 'leader' && r.w1 === 'reachable' && r.w2 === 'reachable' && r.w3 === 'worker';
    });
    expect(await stateRole(c, 'w1')).toBe('manager');
    // A promoted node answers the control API itself.
    const ls = await c.shoal('w2', ['node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.split('\n').filter((l) => /Leader|Reachable/.test(l))).toHaveLength(3);

    // The leader demoted: leadership moves first, then it leaves raft and becomes a worker.
    via = 'w1';
    const m1 = (await swarmNode(c, 'm1', 'w1'))!;
    const d = await c.shoal('w1', ['node', 'demote', m1.ID]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe(`Manager ${m1.ID} demoted in the swarm.\n`);
    await poll('m1 a worker, w1 or w2 leading', async () => {
      const r = await roles(c, 'w1');
      return (
        r.m1 === 'worker' &&
        [r.w1, r.w2].sort().join() === 'leader,reachable' &&
        (await stateRole(c, 'm1')) === 'worker'
      );
    });
    const onM1 = await c.shoal('m1', ['service', 'ls']);
    expect(onM1.stderr).toMatch(/This node is not a swarm manager. Worker nodes can't be used/);

    const result = await w.end();
    expect(result.ok).toBeGreaterThan(4);
    // Writes during a role change may be refused while leadership moves (a read barrier the old leader can no
    // longer confirm included); never for another reason.
    for (const f of result.failed)
      expect(f).toMatch(
        /leader|may or may not have|not a swarm manager|out of sequence|cannot confirm the latest state/,
      );

    // The nodes whose role changed kept the containers they ran: no task restarted for a role change.
    for (const [name, ids] of Object.entries(kept)) expect(await running(c, name, 'web'), name).toEqual(ids);
    // A restart keeps the role (state.json).
    await c.restart('w2');
    await poll('w2 a reachable manager again after a restart', async () => {
      const r = await roles(c, 'w1');
      return [r.w1, r.w2].sort().join() === 'leader,reachable';
    });
  }, 120_000);

  it('removes a dead manager and promotes another node in its place; the removed one cannot come back', async () => {
    const c = cluster();
    const leaderOf = async (on: string) => {
      const r = await roles(c, on);
      return Object.keys(r).find((k) => r[k] === 'leader');
    };
    let leaderNow = (await leaderOf('w1')) as string;
    // Three voters first (w1, w2 and now w3), so one can die without losing quorum.
    const w3 = (await swarmNode(c, 'w3', leaderNow))!;
    expect((await c.shoal(leaderNow, ['node', 'promote', w3.ID])).code).toBe(0);
    await poll('w3 a reachable manager', async () => (await roles(c, leaderNow)).w3 === 'reachable');

    const dead = ['w1', 'w2', 'w3'].find((n) => n !== leaderNow) as string;
    const deadId = (await swarmNode(c, dead, leaderNow))!.ID;
    await c.kill(dead);
    await poll(`${dead} unreachable`, async () => (await roles(c, leaderNow))[dead] === 'unreachable');
    // The third manager must be seen reachable for the removal to keep a quorum (under load the leader may
    // briefly mark it unreachable, and then refuses, rightly).
    const other = ['w1', 'w2', 'w3'].find((n) => n !== leaderNow && n !== dead) as string;
    await poll(`${other} reachable`, async () => (await roles(c, leaderNow))[other] === 'reachable');

    const plain = await c.shoal(leaderNow, ['node', 'rm', deadId]);
    expect(plain.stderr).toMatch(/must be demoted to worker before removal/);
    const rm = await c.shoal(leaderNow, ['node', 'rm', '--force', deadId]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toBe(`${deadId}\n`);
    expect((await nodes(c, leaderNow)).some((n) => n.ID === deadId)).toBe(false);

    // A new manager in its place: m1 (demoted earlier) promoted again, under a fresh raft identity.
    const m1 = (await swarmNode(c, 'm1', leaderNow))!;
    expect((await c.shoal(leaderNow, ['node', 'promote', m1.ID])).code).toBe(0);
    await poll('m1 a reachable manager again', async () => (await roles(c, leaderNow)).m1 === 'reachable');
    expect(await stateRole(c, 'm1')).toBe('manager');
    leaderNow = (await leaderOf('m1')) as string;
    const svc = await c.shoal('m1', ['service', 'scale', '-d', 'writes=1']);
    expect(svc.code, svc.stderr).toBe(0);

    // The removed manager restarted with its old identity: refused, never back in the swarm.
    await c.start(dead);
    await new Promise((r) => setTimeout(r, 5000));
    expect((await nodes(c, leaderNow)).some((n) => n.ID === deadId)).toBe(false);
    const managers = Object.values(await roles(c, leaderNow)).filter(
      (r) => r === 'leader' || r === 'reachable',
    );
    expect(managers).toHaveLength(3);
    const log = await readFile(join(DATA_BASE, c.prefix, dead, 'shoald.log'), 'utf8');
    expect(log).toMatch(/was removed from the (cluster|swarm)/);
  }, 150_000);
});
