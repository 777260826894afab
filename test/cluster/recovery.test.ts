// Recovery after losing quorum (issue 12): three managers and a worker, each a shoald in its own network
// namespace. Two managers are SIGKILLed: every command on the survivor says plainly that the swarm has no
// leader. `swarm init --force-new-cluster` (the real docker CLI) on the survivor brings the swarm back with its
// services and running tasks; the dead managers show as unreachable managers that `node demote` + `node rm`
// and `node rm --force` clear; one of them, wiped and joined again with the manager token, is a manager again
// under a fresh identity.
//
// Every wait is a poll with a generous deadline: a deadline passed is a failure, never a measurement.
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiJson, type LocalCluster, poll, run, uniquePrefix, useLocalCluster } from './harness.js';

const IMAGE = resolve('test/fixtures/out/images/busybox.docker.tar');
const NO_LEADER =
  "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.";

interface ApiNode {
  ID: string;
  Spec: { Role: string };
  Status: { State: string; Addr: string };
  ManagerStatus?: { Leader?: boolean; Reachability: string; Addr: string };
}

const json = apiJson;

const nodes = (c: LocalCluster) => json<ApiNode[]>(c, 'm1', 'GET', '/nodes');
const bedName = (c: LocalCluster, n: ApiNode) => c.nodes.find((x) => x.address === n.Status.Addr)?.name;

/** Ids of the running containers of a service, over every node whose shoald is up. */
async function running(c: LocalCluster, on: string[], service: string): Promise<string[]> {
  const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${service}`] }));
  const all = await Promise.all(
    on.map((n) => json<{ Id: string; State: string }[]>(c, n, 'GET', `/containers/json?all=1&filters=${f}`)),
  );
  return all
    .flat()
    .filter((x) => x.State === 'running')
    .map((x) => x.Id)
    .sort();
}

const docker = (c: LocalCluster, node: string, args: string[]) =>
  run('/usr/local/bin/docker', ['-H', c.node(node).host, ...args]);

const cluster = useLocalCluster({ managers: 3, workers: 1, swarm: 'yes', prefix: uniquePrefix('rc') });

describe('force-new-cluster after losing two of three managers', () => {
  beforeAll(async () => {
    const c = cluster();
    expect(c.swarm).toBe(true);
    await Promise.all(
      c.nodes.map(async (n) => expect((await c.shoal(n.name, ['load', '-q', '-i', IMAGE])).code).toBe(0)),
    );
  }, 120_000);

  it('reports the lost quorum plainly, recovers with the services, and takes a manager back', async () => {
    const c = cluster();
    const create = await c.shoal('m1', [
      'service',
      'create',
      '-d',
      '-q',
      '--name',
      'app',
      '--replicas',
      '4',
      '--constraint',
      'node.role==worker',
      '--stop-grace-period',
      '0s',
      'busybox',
      'sleep',
      '100000',
    ]);
    expect(create.code, create.stderr).toBe(0);
    const before = await poll('4 running tasks on w1', async () => {
      const ids = await running(c, ['w1'], 'app');
      return ids.length === 4 && ids;
    });
    const old = await nodes(c);
    const idOf = (name: string) => old.find((n) => bedName(c, n) === name)?.ID as string;

    await c.kill('m2');
    await c.kill('m3');
    // Every command says so, on the survivor.
    for (const args of [
      ['service', 'ls'],
      ['node', 'ls'],
      ['service', 'ps', 'app'],
      ['service', 'scale', '-d', 'app=5'],
      ['node', 'promote', idOf('w1')],
    ]) {
      const r = await poll(`no-leader answer to ${args.join(' ')}`, async () => {
        const x = await c.shoal('m1', args);
        return x.stderr.includes('does not have a leader') && x;
      });
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toContain(NO_LEADER);
    }
    expect((await docker(c, 'm1', ['service', 'ls'])).stderr).toContain(NO_LEADER);

    // The survivor forces a new cluster of itself (the real docker CLI).
    const init = await docker(c, 'm1', ['swarm', 'init', '--force-new-cluster']);
    expect(init.code, init.stderr).toBe(0);
    const ls = await poll('service ls answered', async () => {
      const r = await c.shoal('m1', ['service', 'ls', '--format', '{{.Name}} {{.Replicas}}']);
      return r.code === 0 && r.stdout;
    });
    expect(ls).toBe('app 4/4\n');
    // The tasks were not restarted: the same containers run.
    expect(await running(c, ['w1'], 'app')).toEqual(before);
    const roles = Object.fromEntries(
      (await nodes(c)).map((n) => [
        bedName(c, n),
        n.ManagerStatus?.Leader ? 'leader' : n.ManagerStatus?.Reachability,
      ]),
    );
    expect(roles).toEqual({ m1: 'leader', m2: 'unreachable', m3: 'unreachable', w1: undefined });
    // Writes work again.
    const scale = await c.shoal('m1', ['service', 'scale', '-d', 'app=5']);
    expect(scale.code, scale.stderr).toBe(0);
    await poll('5 running tasks', async () => (await running(c, ['w1'], 'app')).length === 5);

    // The dead managers are cleared: one demoted then removed, the other removed with --force.
    const demote = await c.shoal('m1', ['node', 'demote', idOf('m2')]);
    expect(demote.code, demote.stderr).toBe(0);
    await poll('m2 a worker', async () => !(await nodes(c)).find((n) => n.ID === idOf('m2'))?.ManagerStatus);
    const rm2 = await poll('m2 removed (down)', async () => {
      const r = await c.shoal('m1', ['node', 'rm', idOf('m2')]);
      return r.code === 0 && r;
    });
    expect(rm2.stdout).toBe(`${idOf('m2')}\n`);
    const rm3 = await c.shoal('m1', ['node', 'rm', '--force', idOf('m3')]);
    expect(rm3.code, rm3.stderr).toBe(0);
    expect((await nodes(c)).map((n) => bedName(c, n)).sort()).toEqual(['m1', 'w1']);

    // m3 comes back with its old state, leaves, and joins again with the manager token: a manager again.
    await c.start('m3');
    const leave = await c.shoal('m3', ['swarm', 'leave', '--force']);
    expect(leave.code, leave.stderr).toBe(0);
    const token = (await c.shoal('m1', ['swarm', 'join-token', '-q', 'manager'])).stdout.trim();
    const join = await c.shoal('m3', [
      'swarm',
      'join',
      '--token',
      token,
      '--advertise-addr',
      c.node('m3').address,
      `${c.node('m1').address}:2377`,
    ]);
    expect(join.code, join.stderr).toBe(0);
    await poll('m3 a reachable manager', async () => {
      const n = (await nodes(c)).find((x) => bedName(c, x) === 'm3');
      return n?.ManagerStatus?.Reachability === 'reachable' && n.ID !== idOf('m3');
    });
    const fromM3 = await c.shoal('m3', ['service', 'ls', '--format', '{{.Name}}']);
    expect(fromM3.stdout).toBe('app\n');
  }, 180_000);
});
