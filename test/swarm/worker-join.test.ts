// Two shoalds on 127.0.0.1: one inits a swarm, the other joins it as a worker with the worker token (the
// manager's root pinned by the token's digest, a certificate from its CA, the agent to its address). A
// service's tasks then run on both nodes as real containers. Bad input: a token of another cluster is refused
// before it is sent. (Managers joining: manager-join.test.ts.)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
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
let manager: Daemon;
let worker: Daemon;
let addr: string;

async function running(d: Daemon, service: string): Promise<number> {
  const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${service}`] }));
  const r = await api(d, 'GET', `/containers/json?filters=${f}`);
  return (JSON.parse(r.body) as unknown[]).length;
}

beforeAll(async () => {
  addr = `127.0.0.1:${await freePort()}`;
  manager = await startShoald();
  worker = await startShoald();
  for (const d of [manager, worker])
    expect((await docker(d, ['load', '-i', TARBALL])).stdout).toContain('Loaded image: busybox:latest');
  const r = await shoal(manager, ['swarm', 'init', '--advertise-addr', addr, '--listen-addr', addr]);
  expect(r.code).toBe(0);
}, 120_000);

afterAll(async () => {
  await cleanupSwarm(worker);
  await cleanupSwarm(manager);
}, 120_000);

describe('a worker joins a one-manager swarm', () => {
  it('a token of another cluster is refused before its secret is sent; nothing is left behind', async () => {
    const token = (await shoal(manager, ['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
    // A token whose CA digest is not the manager's root.
    const other = token.replace(/^SWMTKN-1-[0-9a-z]{50}/, `SWMTKN-1-${'1'.repeat(50)}`);
    const o = await api(worker, 'POST', '/swarm/join', { RemoteAddrs: [addr], JoinToken: other });
    expect(o.status).toBeGreaterThanOrEqual(400);
    expect(JSON.parse(o.body).message).toMatch(/digest|root CA/i);
    expect(JSON.parse((await api(worker, 'GET', '/info')).body).Swarm.LocalNodeState).toBe('inactive');
    expect((await shoal(manager, ['node', 'ls', '-q'])).stdout.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('swarm join with the worker token: the worker is Ready in node ls and runs tasks', async () => {
    const token = (await shoal(manager, ['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
    const r = await shoal(worker, ['swarm', 'join', '--token', token, addr]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('This node joined a swarm as a worker.');
    await eventually(
      async () =>
        (await shoal(manager, ['node', 'ls', '--format', '{{.Status}}'])).stdout === 'Ready\nReady\n',
      'both nodes Ready',
      400,
    );
    const info = JSON.parse((await api(worker, 'GET', '/info')).body).Swarm;
    expect(info).toMatchObject({ LocalNodeState: 'active', ControlAvailable: false });
    const denied = await api(worker, 'GET', '/services');
    expect(denied.status).toBe(503);
    expect(JSON.parse(denied.body).message).toContain(
      "Worker nodes can't be used to view or modify cluster state.",
    );

    expect(
      (
        await shoal(manager, [
          'service',
          'create',
          '-d',
          '--name',
          'spread',
          '--replicas',
          '4',
          '--stop-grace-period',
          '0s',
          'busybox',
          'sleep',
          '1000',
        ])
      ).code,
    ).toBe(0);
    await eventually(
      async () => (await running(manager, 'spread')) === 2 && (await running(worker, 'spread')) === 2,
      '2 tasks on each node',
      600,
    );
    await eventually(
      async () => (await shoal(manager, ['service', 'ls', '--format', '{{.Replicas}}'])).stdout === '4/4\n',
      'service ls 4/4',
      400,
    );
    // The worker's shoald restarts: it resumes its membership from disk and adopts its tasks (no duplicates).
    // A restart within the heartbeat grace (period × 3) keeps the node's tasks; a slower one would see them
    // moved elsewhere, rightly. A 5 s period (Docker's) leaves a loaded test machine 15 s for the restart.
    expect((await shoal(manager, ['swarm', 'update', '--dispatcher-heartbeat', '5s'])).code).toBe(0);
    const ids = async () =>
      (await shoal(worker, ['ps', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean).sort();
    const before = await ids();
    expect(await stopShoald(worker)).toBe(0);
    worker = await startShoald(worker.dir);
    expect(worker.log()).toContain('swarm resumed');
    await eventually(
      async () =>
        (await shoal(manager, ['node', 'ls', '--format', '{{.Status}}'])).stdout === 'Ready\nReady\n',
      'the worker Ready again',
      400,
    );
    await new Promise((r) => setTimeout(r, 2000));
    expect(await ids()).toEqual(before);
    expect((await shoal(manager, ['service', 'ls', '--format', '{{.Replicas}}'])).stdout).toBe('4/4\n');
    expect((await shoal(manager, ['service', 'rm', 'spread'])).code).toBe(0);
    await eventually(
      async () => (await running(manager, 'spread')) === 0 && (await running(worker, 'spread')) === 0,
      'every task removed on both nodes',
      600,
    );

    // A secret goes only to the node whose task needs it: the worker reads it from memory (its data root
    // holds no copy, nor the data key, which only managers keep).
    const plain = `worker-secret-${Date.now()}`;
    expect((await shoal(manager, ['secret', 'create', 'wpw', '-'], plain)).code).toBe(0);
    const svc = await shoal(manager, [
      'service',
      'create',
      '-d',
      '--name',
      'onworker',
      '--constraint',
      'node.role==worker',
      '--secret',
      'source=wpw,target=/etc/pw,mode=0400',
      'busybox',
      'sh',
      '-c',
      'sha256sum /etc/pw; sleep 1000',
    ]);
    expect(svc.code).toBe(0);
    await eventually(async () => (await running(worker, 'onworker')) === 1, 'the task on the worker', 600);
    expect(await running(manager, 'onworker')).toBe(0);
    const cid = (
      await shoal(worker, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=onworker'])
    ).stdout.trim();
    // Its hash only: the container's log is on disk.
    const hash = createHash('sha256').update(plain).digest('hex');
    await eventually(
      async () => (await shoal(worker, ['logs', cid])).stdout === `${hash}  /etc/pw\n`,
      'the secret read',
    );
    // grep finds it on the worker's tmpfs (under its exec root), and nowhere under either data root.
    expect(spawnSync('grep', ['-rlF', plain, join(worker.execRoot, 'files')]).status).toBe(0);
    const g = spawnSync('grep', ['-rlF', plain, worker.dataRoot, manager.dataRoot], { encoding: 'utf8' });
    expect([g.status, g.stdout]).toEqual([1, '']);
    expect(existsSync(join(worker.dataRoot, 'swarm', 'data-key.json'))).toBe(false);
    expect(existsSync(join(manager.dataRoot, 'swarm', 'data-key.json'))).toBe(true);
    expect((await shoal(manager, ['service', 'rm', 'onworker'])).code).toBe(0);
    await eventually(async () => (await running(worker, 'onworker')) === 0, 'the task removed', 600);
    expect((await shoal(manager, ['secret', 'rm', 'wpw'])).code).toBe(0);

    expect((await shoal(worker, ['swarm', 'leave'])).code).toBe(0);
    expect(JSON.parse((await api(worker, 'GET', '/info')).body).Swarm.LocalNodeState).toBe('inactive');
  }, 180_000);
});
