// A one-manager swarm in a real shoald: swarm init over the Engine API, services running as real containers
// through agent → executor → engine, scale, rm, a shoald restart that resumes the manager and its tasks,
// and leave. Bad input: init twice, service commands before init.

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
let d: Daemon;
let port: number;

/** Names of the containers of service `name` and their state, from the engine's own list. */
async function serviceContainers(name: string): Promise<{ name: string; state: string }[]> {
  const r = await api(
    d,
    'GET',
    `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${name}`] }))}`,
  );
  expect(r.status).toBe(200);
  return (JSON.parse(r.body) as { Names: string[]; State: string }[]).map((c) => ({
    name: c.Names[0] ?? '',
    state: c.State,
  }));
}

const running = async (name: string) => (await serviceContainers(name)).filter((c) => c.state === 'running');

/** `service ps` rows (desired and current state) of the tasks meant to run. */
async function psRunning(name: string): Promise<string[]> {
  const r = await shoal(d, [
    'service',
    'ps',
    name,
    '--filter',
    'desired-state=running',
    '--format',
    '{{.Name}} {{.CurrentState}}',
  ]);
  if (r.code !== 0) throw new Error(`service ps ${name}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

beforeAll(async () => {
  port = await freePort();
  d = await startShoald();
  expect((await docker(d, ['load', '-i', TARBALL])).stdout).toContain('Loaded image: busybox:latest');
}, 120_000);

afterAll(() => cleanupSwarm(d), 120_000);

describe('a one-manager swarm in shoald', () => {
  it('service commands before init answer docker\'s "not a swarm manager" 503', async () => {
    const r = await api(d, 'POST', '/services/create', {
      Name: 'early',
      TaskTemplate: { ContainerSpec: { Image: 'busybox' } },
    });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).message).toMatch(/^This node is not a swarm manager\. Use "docker swarm init"/);
    const c = await docker(d, ['service', 'create', '--name', 'early', 'busybox', 'true']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain('This node is not a swarm manager.');
    // A malformed token is refused before anything is dialled, and the node stays out of any swarm.
    const j = await api(d, 'POST', '/swarm/join', { RemoteAddrs: ['127.0.0.1:1'], JoinToken: 'x' });
    expect(j.status).toBe(400);
    expect(JSON.parse(j.body).message).toMatch(/token/i);
    expect(JSON.parse((await api(d, 'GET', '/info')).body).Swarm.LocalNodeState).toBe('inactive');
  });

  it('swarm init makes this node a ready manager; init again is "already part of a swarm" 503', async () => {
    const addr = `127.0.0.1:${port}`;
    // Bad addresses are refused naming the field, and nothing is half made.
    const bad = await api(d, 'POST', '/swarm/init', { ListenAddr: addr, AdvertiseAddr: '127.0.0.1:abc' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).message).toContain('AdvertiseAddr: invalid address "127.0.0.1:abc"');
    const none = await api(d, 'POST', '/swarm/init', { ListenAddr: '0.0.0.0:2377' });
    expect(none.status).toBe(400);
    expect(JSON.parse(none.body).message).toContain('AdvertiseAddr: an advertise address is needed');
    expect(JSON.parse((await api(d, 'GET', '/info')).body).Swarm.LocalNodeState).toBe('inactive');
    const r = await shoal(d, ['swarm', 'init', '--advertise-addr', addr, '--listen-addr', addr]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('Swarm initialized: current node (');
    expect(r.stdout).toMatch(/swarm join --token SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25} 127\.0\.0\.1:\d+/);
    // READY: the node's own agent registered with the local dispatcher over mTLS.
    await eventually(
      async () =>
        (await shoal(d, ['node', 'ls', '--format', '{{.Status}} {{.ManagerStatus}}'])).stdout ===
        'Ready Leader\n',
      'the node to be Ready and Leader',
    );
    const info = JSON.parse((await api(d, 'GET', '/info')).body).Swarm;
    expect(info).toMatchObject({
      LocalNodeState: 'active',
      ControlAvailable: true,
      NodeAddr: '127.0.0.1',
      Nodes: 1,
      Managers: 1,
    });
    expect(info.Cluster.Spec.Dispatcher.HeartbeatPeriod).toBe(1_000_000_000);
    expect(info.RemoteManagers).toEqual([{ NodeID: info.NodeID, Addr: addr }]);

    const again = await api(d, 'POST', '/swarm/init', { ListenAddr: addr, AdvertiseAddr: addr });
    expect(again.status).toBe(503);
    expect(JSON.parse(again.body).message).toBe(
      'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.',
    );
    const dk = await docker(d, ['swarm', 'init', '--advertise-addr', addr]);
    expect(dk.code).not.toBe(0);
    expect(dk.stderr).toContain('This node is already part of a swarm.');
  }, 60_000);

  it('service create --replicas 3 runs 3 real containers, service ps shows them Running', async () => {
    const r = await shoal(d, [
      'service',
      'create',
      '--detach',
      '--name',
      'web',
      '--replicas',
      '3',
      '--stop-grace-period',
      '0s',
      'busybox',
      'sleep',
      '1000',
    ]);
    expect(r.stderr).toBe('');
    await eventually(async () => (await running('web')).length === 3, '3 running containers of web', 600);
    const names = (await running('web')).map((c) => c.name).sort();
    expect(names.map((n) => n.replace(/\.[0-9a-z]{25}$/, ''))).toEqual(['/web.1', '/web.2', '/web.3']);
    await eventually(
      async () => (await psRunning('web')).filter((l) => / Running /.test(l)).length === 3,
      'service ps to show 3 Running tasks',
      400,
    );
    expect((await shoal(d, ['service', 'ls', '--format', '{{.Name}} {{.Replicas}}'])).stdout).toBe(
      'web 3/3\n',
    );
  }, 120_000);

  it('after a shoald restart (SIGTERM, same dirs) the manager resumes and the same 3 tasks still run', async () => {
    const before = (await running('web')).map((c) => c.name).sort();
    expect(await stopShoald(d)).toBe(0);
    d = await startShoald(d.dir);
    expect(d.log()).toContain('swarm resumed');
    await eventually(
      async () => (await psRunning('web')).filter((l) => / Running /.test(l)).length === 3,
      'Running after restart',
      400,
    );
    // Same containers, no duplicates: the agent adopted them; nothing new was started.
    await new Promise((r) => setTimeout(r, 2000));
    expect((await running('web')).map((c) => c.name).sort()).toEqual(before);
    expect(await serviceContainers('web')).toHaveLength(3);
    expect(await psRunning('web')).toHaveLength(3);
    const info = JSON.parse((await api(d, 'GET', '/info')).body).Swarm;
    expect(info).toMatchObject({ LocalNodeState: 'active', ControlAvailable: true });
  }, 120_000);

  it('service scale web=1 stops two; the real docker CLI creates a service too; service rm removes all', async () => {
    const three = (await running('web')).map((c) => c.name);
    expect((await shoal(d, ['service', 'scale', '--detach', 'web=1'])).code).toBe(0);
    await eventually(async () => (await running('web')).length === 1, 'one running container of web', 600);
    // Scaling down keeps a task that was running; it does not replace it.
    expect(three).toContain((await running('web'))[0]?.name);
    const dk = await docker(d, [
      'service',
      'create',
      '--detach',
      '--name',
      'dk',
      '--replicas',
      '2',
      '--stop-grace-period',
      '0s',
      'busybox',
      'sleep',
      '1000',
    ]);
    // docker warns that it could not reach a registry for the image's digest (no registry here).
    expect(dk).toMatchObject({ code: 0, stdout: expect.stringMatching(/^[0-9a-z]{25}\n$/) });
    await eventually(async () => (await running('dk')).length === 2, '2 running containers of dk', 600);

    expect((await shoal(d, ['service', 'rm', 'web'])).stdout).toBe('web\n');
    expect((await docker(d, ['service', 'rm', 'dk'])).stdout).toBe('dk\n');
    await eventually(
      async () =>
        (await serviceContainers('web')).length === 0 && (await serviceContainers('dk')).length === 0,
      'every container of web and dk removed',
      600,
    );
    expect((await shoal(d, ['service', 'ls', '-q'])).stdout).toBe('');
  }, 180_000);

  it('swarm leave: refused without --force on the last manager; --force removes the swarm state and its containers', async () => {
    expect(
      (
        await shoal(d, [
          'service',
          'create',
          '--detach',
          '--name',
          'gone',
          '--stop-grace-period',
          '0s',
          'busybox',
          'sleep',
          '1000',
        ])
      ).code,
    ).toBe(0);
    await eventually(async () => (await running('gone')).length === 1, 'gone running', 600);
    const no = await api(d, 'POST', '/swarm/leave');
    expect(no.status).toBe(503);
    expect(JSON.parse(no.body).message).toContain('Use `--force` to ignore this message.');
    const r = await shoal(d, ['swarm', 'leave', '--force']);
    expect(r.stderr).toBe('');
    expect(await serviceContainers('gone')).toEqual([]);
    const info = JSON.parse((await api(d, 'GET', '/info')).body).Swarm;
    expect(info).toMatchObject({ LocalNodeState: 'inactive', ControlAvailable: false, NodeID: '' });
    expect((await api(d, 'GET', '/services')).status).toBe(503);
    // The port is free again and a new swarm can be made.
    const addr = `127.0.0.1:${port}`;
    expect((await shoal(d, ['swarm', 'init', '--advertise-addr', addr, '--listen-addr', addr])).code).toBe(0);
    expect((await shoal(d, ['swarm', 'leave', '--force'])).code).toBe(0);
  }, 120_000);
});
