// Three shoalds on 127.0.0.1 form a three-manager swarm: one inits, two join with the manager token (a
// manager certificate, an empty raft member added by the leader as a learner, promoted once caught up).
// Any manager takes commands (a follower forwards writes to the leader and reads after a read barrier);
// the leader's SIGKILL leaves the others electing a new one that takes writes; the old one rejoins on
// restart; without a quorum every command says so plainly.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  cleanupSwarm,
  type Daemon,
  docker,
  eventually,
  REPO,
  shoal,
  startShoald,
  stopShoald,
} from '../daemon/harness.js';
import { freePort } from '../images/registry-harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const nodes: Daemon[] = [];
const addrs: string[] = [];

interface NodeRow {
  hostname: string;
  status: string;
  manager: string;
  id: string;
}

async function nodeRows(d: Daemon): Promise<NodeRow[]> {
  const r = await shoal(d, ['node', 'ls', '--format', '{{.ID}} {{.Status}} {{.ManagerStatus}}']);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => {
      // {{.ID}} marks this node with " *", as docker's does.
      const [id, status, manager = ''] = l.split(/\s+/).filter((f) => f !== '*');
      return { id, status, manager, hostname: '' };
    });
}

async function nodeId(d: Daemon): Promise<string> {
  return JSON.parse((await api(d, 'GET', '/info')).body).Swarm.NodeID;
}

async function leaderOf(d: Daemon): Promise<string | undefined> {
  const rows = await nodeRows(d).catch(() => []);
  return rows.find((r) => r.manager === 'Leader')?.id;
}

async function running(d: Daemon, service: string): Promise<number> {
  const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${service}`] }));
  const r = await api(d, 'GET', `/containers/json?filters=${f}`);
  return (JSON.parse(r.body) as unknown[]).length;
}

const create = (d: Daemon, name: string, replicas: number) =>
  shoal(d, [
    'service',
    'create',
    '-d',
    '--name',
    name,
    '--replicas',
    String(replicas),
    '--stop-grace-period',
    '0s',
    'busybox',
    'sleep',
    '1000',
  ]);

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    addrs.push(`127.0.0.1:${await freePort()}`);
    nodes.push(await startShoald());
  }
  for (const d of nodes)
    expect((await docker(d, ['load', '-i', TARBALL])).stdout).toContain('Loaded image: busybox:latest');
}, 120_000);

afterAll(async () => {
  for (const d of [...nodes].reverse()) await cleanupSwarm(d);
}, 180_000);

describe('three managers', () => {
  it('two nodes join with the manager token and become voting managers; any manager takes commands', async () => {
    const [m1, m2, m3] = nodes;
    expect(
      (await shoal(m1, ['swarm', 'init', '--advertise-addr', addrs[0], '--listen-addr', addrs[0]])).code,
    ).toBe(0);
    const token = (await shoal(m1, ['swarm', 'join-token', '-q', 'manager'])).stdout.trim();
    for (const [i, d] of [m2, m3].entries()) {
      const a = addrs[i + 1];
      const r = await shoal(d, [
        'swarm',
        'join',
        '--token',
        token,
        '--listen-addr',
        a,
        '--advertise-addr',
        a,
        addrs[0],
      ]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('This node joined a swarm as a manager.');
    }
    const ids = await Promise.all(nodes.map(nodeId));
    // Every manager answers node ls the same: one Leader (m1), two Reachable, all Ready.
    for (const d of nodes)
      await eventually(
        async () => {
          const rows = await nodeRows(d);
          return (
            rows.length === 3 &&
            rows.every((r) => r.status === 'Ready') &&
            rows.find((r) => r.id === ids[0])?.manager === 'Leader' &&
            rows.filter((r) => r.manager === 'Reachable').length === 2
          );
        },
        'three Ready managers, m1 Leader',
        400,
      );
    const info = JSON.parse((await api(m3, 'GET', '/info')).body).Swarm;
    expect(info).toMatchObject({ LocalNodeState: 'active', ControlAvailable: true, Managers: 3, Nodes: 3 });

    // A follower creates (forwarded to the leader); another follower lists it at once (read barrier).
    expect((await create(m3, 'web', 3)).code).toBe(0);
    expect((await shoal(m2, ['service', 'ls', '--format', '{{.Name}}'])).stdout).toBe('web\n');
    await eventually(
      async () => (await Promise.all(nodes.map((d) => running(d, 'web')))).every((n) => n === 1),
      'one web task on each manager',
      600,
    );
    // Bad input through a follower: the store is unchanged.
    const dup = await create(m2, 'web', 1);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/web/);
    expect((await shoal(m1, ['service', 'ls', '-q'])).stdout.trim().split('\n')).toHaveLength(1);

    // Every manager holds the cluster's data key (0600, under the swarm directory), the joiners got it over
    // mTLS: a secret created through a follower is sealed there and readable by a task on any node.
    const keys = nodes.map((d) => join(d.dataRoot, 'swarm', 'data-key.json'));
    for (const k of keys) expect(statSync(k).mode & 0o777).toBe(0o600);
    expect(new Set(keys.map((k) => readFileSync(k, 'utf8'))).size).toBe(1);
    expect((await shoal(m2, ['secret', 'create', 'pw', '-'], 'joined-secret')).code).toBe(0);
    expect(
      (
        await shoal(m3, [
          'service',
          'create',
          '-d',
          '--name',
          'reader',
          '--mode',
          'global',
          '--secret',
          'pw',
          'busybox',
          'sh',
          '-c',
          'cat /run/secrets/pw; echo; sleep 1000',
        ])
      ).code,
    ).toBe(0);
    await eventually(
      async () => (await Promise.all(nodes.map((d) => running(d, 'reader')))).every((n) => n === 1),
      'one reader task on each manager',
      600,
    );
    for (const d of nodes) {
      const id = (
        await shoal(d, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=reader'])
      ).stdout.trim();
      await eventually(
        async () => (await shoal(d, ['logs', id])).stdout === 'joined-secret\n',
        'the secret read',
      );
    }
    expect((await shoal(m1, ['service', 'rm', 'reader'])).code).toBe(0);
  }, 180_000);

  it('SIGKILL of the leader: the others elect a new one that takes writes; tasks run on; the old one rejoins', async () => {
    const [m1, m2, m3] = nodes;
    const before = await leaderOf(m2);
    expect(before).toBe(await nodeId(m1));
    expect(await stopShoald(m1, 'SIGKILL')).toBeNull();
    // A write on a survivor is accepted once the new leader is elected.
    await eventually(
      async () => (await create(m2, 'after', 2)).code === 0,
      'a write accepted after failover',
      300,
    );
    const leader = await leaderOf(m3);
    expect(leader).toBeDefined();
    expect(leader).not.toBe(before);
    // The survivors' tasks were never stopped.
    expect(await running(m2, 'web')).toBe(1);
    expect(await running(m3, 'web')).toBe(1);
    nodes[0] = await startShoald(m1.dir);
    expect(nodes[0].log()).toContain('swarm resumed');
    await eventually(
      async () => {
        const rows = await nodeRows(m2);
        return (
          rows.filter((r) => r.status === 'Ready').length === 3 &&
          rows.filter((r) => r.manager === 'Reachable').length === 2
        );
      },
      'the old leader Ready and Reachable again',
      400,
    );
    // The restarted member is a follower that answers with the cluster's state.
    expect((await shoal(nodes[0], ['service', 'ls', '--format', '{{.Name}}'])).stdout).toBe('after\nweb\n');
  }, 180_000);

  it('without a quorum every command says the swarm has no leader; it recovers when the managers return', async () => {
    const [m1, m2, m3] = nodes;
    expect(await stopShoald(m2, 'SIGKILL')).toBeNull();
    expect(await stopShoald(m3, 'SIGKILL')).toBeNull();
    await eventually(
      async () => (await shoal(m1, ['service', 'ls'])).stderr.includes('The swarm does not have a leader'),
      'service ls reports no leader',
      300,
    );
    const w = await create(m1, 'nope', 1);
    expect(w.code).not.toBe(0);
    expect(w.stderr).toMatch(/does not have a leader|may or may not have committed/);
    nodes[1] = await startShoald(m2.dir);
    nodes[2] = await startShoald(m3.dir);
    await eventually(async () => (await shoal(m1, ['service', 'ls', '-q'])).code === 0, 'quorum back', 300);
    const names = (await shoal(m1, ['service', 'ls', '--format', '{{.Name}}'])).stdout;
    expect(names === 'after\nweb\n' || names === 'after\nnope\nweb\n').toBe(true);
  }, 180_000);

  it('a manager leaves: refused without --force; with it, out of raft first, so the other two keep a quorum', async () => {
    const [m1, , m3] = nodes;
    const id3 = await nodeId(m3);
    // Reachability is written by the leader and read here from m3's own replica of the store: wait on both.
    for (const m of [m1, m3])
      await eventually(
        async () => (await nodeRows(m)).filter((r) => r.manager === 'Reachable').length === 2,
        'all three managers reachable again',
        300,
      );
    const refused = await shoal(m3, ['swarm', 'leave']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('Removing this node leaves 2 managers out of 3.');
    const left = await shoal(m3, ['swarm', 'leave', '--force']);
    expect(left.code, left.stderr).toBe(0);
    await eventually(
      async () => {
        const row = (await nodeRows(m1)).find((r) => r.id === id3);
        return row?.status === 'Down' && row.manager === '';
      },
      'the leaver Down and no longer a manager',
      300,
    );
    expect(JSON.parse((await api(m1, 'GET', '/info')).body).Swarm.Managers).toBe(2);
    // Two voters remain, both up: writes go on.
    expect((await create(m1, 'two-left', 1)).code).toBe(0);
    expect((await shoal(m1, ['node', 'rm', id3])).code).toBe(0);
    expect((await nodeRows(m1)).map((r) => r.id)).not.toContain(id3);
  }, 120_000);
});
