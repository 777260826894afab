// The real docker CLI (28.2) against the swarm routes, with every layer real: daemon/http's router and
// server, the swarm routes and translation, the control API and the store (over the in-memory log). Nothing
// schedules tasks here, so tasks stay new; the test is about the API's shapes, checks and messages.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClusterBackend,
  type InitRequest,
  type JoinRequest,
  NOT_IN_SWARM_MESSAGE,
  NOT_MANAGER_MESSAGE,
  notManager,
} from '../../daemon/api/swarm/backend.js';
import { swarmInfoJson } from '../../daemon/api/swarm/info.js';
import { InactiveClusterBackend, ManagerClusterBackend } from '../../daemon/api/swarm/manager-backend.js';
import { registerSwarm } from '../../daemon/api/swarm/routes.js';
import { versionBody } from '../../daemon/api/system.js';
import { Router } from '../../daemon/http/router.js';
import { createApiServer } from '../../daemon/http/server.js';
import { ControlApi } from '../../manager/controlapi/index.js';
import { makeCluster, storeOnMemoryLog } from '../../manager/store/testkit.js';
import { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import {
  NodeAvailability,
  NodeRole,
  NodeState,
  Reachability,
  TaskState,
} from '../../proto/gen/shoal/swarm/v1/types.js';

let dir: string;
let sock: string;
let close: () => Promise<void>;
const { store } = storeOnMemoryLog('sync');
let rotations = 0;
const control = new ControlApi(store, {
  newJoinToken: (role) => `SWMTKN-1-${'d'.repeat(50)}-${role}${++rotations}`.padEnd(86, '0'),
});
const NODE_ID = 'node0000000000000000000001';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoal-swarm-cli-'));
  sock = join(dir, 'api.sock');
  await store.update((tx) => {
    tx.create('cluster', {
      ...makeCluster('cluster00000000000000000001'),
      rootCa: {
        caKey: Buffer.alloc(0),
        caCert: Buffer.from('-----BEGIN CERTIFICATE-----\n'),
        caCertHash: '',
        joinTokens: { worker: 'SWMTKN-1-w', manager: 'SWMTKN-1-m' },
        rootRotation: undefined,
        lastForcedRotation: 0,
      },
    });
    tx.create(
      'node',
      Node.fromPartial({
        id: NODE_ID,
        spec: {
          annotations: { labels: {} },
          desiredRole: NodeRole.NODE_ROLE_MANAGER,
          availability: NodeAvailability.NODE_AVAILABILITY_ACTIVE,
        },
        role: NodeRole.NODE_ROLE_MANAGER,
        description: {
          hostname: 'vm1',
          platform: { os: 'linux', architecture: 'x86_64' },
          resources: { nanoCpus: 2e9, memoryBytes: 2 ** 31 },
          engine: { engineVersion: '0.1.0' },
        },
        status: { state: NodeState.NODE_STATE_READY, addr: '127.0.0.1' },
        managerStatus: {
          leader: true,
          reachability: Reachability.REACHABILITY_REACHABLE,
          addr: '127.0.0.1:2377',
        },
      }),
    );
  });
  const backend = new ManagerClusterBackend({ store, control, nodeId: NODE_ID, nodeAddr: '127.0.0.1' });
  const router = new Router();
  router.head('/_ping', (ctx) => ctx.reply.text(200, ''));
  router.get('/_ping', (ctx) => ctx.reply.text(200, 'OK'));
  router.get('/version', (ctx) => ctx.reply.json(200, versionBody()));
  router.get('/info', async (ctx) =>
    ctx.reply.json(200, { ID: 'test', Swarm: await swarmInfoJson(backend) }),
  );
  registerSwarm(router, backend);
  const { server, destroyConnections } = createApiServer(router);
  await new Promise<void>((res) => server.listen(sock, res));
  close = () =>
    new Promise<void>((res) => {
      destroyConnections();
      server.close(() => res());
    });
});

afterAll(async () => {
  await close?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function docker(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const p = spawn('docker', ['-H', `unix://${sock}`, ...args], {
      env: {
        ...process.env,
        DOCKER_CONFIG: join(dir, 'docker-config'),
        DOCKER_HOST: '',
        DOCKER_CLI_HINTS: 'false',
      },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b) => (stdout += b));
    p.stderr.on('data', (b) => (stderr += b));
    p.on('error', rej);
    p.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
    p.stdin.end();
  });
}

const ok = async (...args: string[]) => {
  const r = await docker(...args);
  expect(r.stderr, `docker ${args.join(' ')}`).toBe('');
  expect(r.code, `docker ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

describe('docker service … against the swarm routes', () => {
  let id = '';

  it('creates a service and lists it with its replica counts', async () => {
    id = (
      await ok(
        'service',
        'create',
        '-d',
        '--no-resolve-image',
        '--name',
        'web',
        '--replicas',
        '3',
        'busybox',
        'sleep',
        '1000',
      )
    ).trim();
    const s = control.getService('web');
    expect(s.id).toBe(id);
    expect(s.spec?.mode).toEqual({ $case: 'replicated', value: { replicas: 3 } });
    expect(s.spec?.taskTemplate?.containerSpec?.args).toEqual(['sleep', '1000']);
    const ls = await ok('service', 'ls');
    expect(ls).toMatch(new RegExp(`${id.slice(0, 12)}\\s+web\\s+replicated\\s+0/3\\s+busybox`));
  });

  it("inspects it with Docker's defaults", async () => {
    const [j] = JSON.parse(await ok('service', 'inspect', 'web'));
    expect(j.ID).toBe(id);
    expect(j.Spec.Name).toBe('web');
    expect(j.Spec.TaskTemplate.ContainerSpec.StopGracePeriod).toBe(10e9);
    expect(j.Spec.TaskTemplate.RestartPolicy.Condition).toBe('any');
    expect(j.Spec.UpdateConfig).toMatchObject({
      Parallelism: 1,
      FailureAction: 'pause',
      Order: 'stop-first',
    });
    expect(typeof j.Version.Index).toBe('number');
    expect(j.CreatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const pretty = await ok('service', 'inspect', '--pretty', 'web');
    expect(pretty).toMatch(/Replicas:\s+3/);
  });

  it('shows its tasks (new: nothing schedules them here)', async () => {
    // Tasks are the orchestrator's; create three as it would, so `service ps` has something to show.
    const s = control.getService('web');
    await store.update((tx) => {
      for (let slot = 1; slot <= 3; slot++) {
        tx.create('task', {
          id: `task${slot}`.padEnd(25, '0'),
          meta: undefined,
          annotations: { name: '', labels: {} },
          serviceId: s.id,
          slot,
          nodeId: '',
          spec: s.spec?.taskTemplate,
          serviceVersion: s.meta?.version ?? 0,
          serviceAnnotations: s.spec?.annotations,
          status: {
            state: TaskState.TASK_STATE_NEW,
            timestamp: 1_700_000_000_000,
            message: 'created',
            err: '',
            containerStatus: undefined,
            portStatus: undefined,
          },
          desiredState: TaskState.TASK_STATE_RUNNING,
          networks: [],
          endpoint: undefined,
          logDriver: undefined,
          runningSince: 0,
        });
      }
    });
    const ps = await ok('service', 'ps', 'web');
    const lines = ps.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/web\.1\s+busybox:latest\s+Running\s+New/);
    const filtered = await ok('service', 'ps', '-q', '-f', 'desired-state=shutdown', 'web');
    expect(filtered.trim()).toBe('');
  });

  it('scales and updates it (the version goes round trip)', async () => {
    await ok('service', 'scale', '-d', 'web=5');
    expect(control.getService('web').spec?.mode?.value).toEqual({ replicas: 5 });
    await ok('service', 'update', '-d', '--no-resolve-image', '--env-add', 'A=1', 'web');
    const s = control.getService('web');
    expect(s.spec?.taskTemplate?.containerSpec?.env).toEqual(['A=1']);
    expect(s.previousSpec?.taskTemplate?.containerSpec?.env).toEqual([]);
    const [j] = JSON.parse(await ok('service', 'inspect', 'web'));
    expect(j.PreviousSpec.Mode.Replicated.Replicas).toBe(5);
    await ok('service', 'rollback', '-d', 'web');
    const back = control.getService('web');
    expect(back.spec?.taskTemplate?.containerSpec?.env).toEqual([]);
    const [r] = JSON.parse(await ok('service', 'inspect', 'web'));
    expect(r.UpdateStatus).toMatchObject({
      State: 'rollback_started',
      Message: 'manually requested rollback',
    });
    await ok('service', 'update', '-d', '--no-resolve-image', '--env-add', 'A=1', 'web');
  });

  it('refuses bad input with the field named, changing nothing', async () => {
    const before = store.appliedIndex;
    const badConstraint = await docker(
      'service',
      'create',
      '-d',
      '--no-resolve-image',
      '--name',
      'bad',
      '--constraint',
      'node.role~manager',
      'busybox',
    );
    expect(badConstraint.code).not.toBe(0);
    expect(badConstraint.stderr).toMatch(
      /Error response from daemon: .*constraints\[0\].*invalid constraint "node.role~manager"/,
    );
    const badName = await docker(
      'service',
      'create',
      '-d',
      '--no-resolve-image',
      '--name',
      'trailing_',
      'busybox',
    );
    expect(badName.stderr).toMatch(/invalid name "trailing_"/);
    const negative = await docker(
      'service',
      'create',
      '-d',
      '--no-resolve-image',
      '--replicas',
      '-1',
      'busybox',
    );
    expect(negative.code).not.toBe(0);
    expect(negative.stderr).toMatch(/replicas/);
    const dup = await docker('service', 'create', '-d', '--no-resolve-image', '--name', 'web', 'busybox');
    expect(dup.stderr).toMatch(
      /Error response from daemon: name conflicts with an existing object: service web already exists/,
    );
    const raw = await rawApi('POST', '/v1.41/services/create', {
      Name: 'neg',
      TaskTemplate: { ContainerSpec: { Image: 'busybox' } },
      Mode: { Replicated: { Replicas: -1 } },
    });
    expect(raw.status).toBe(400);
    expect(JSON.parse(raw.body).message).toBe(
      'spec.mode.replicated.replicas: must be an integer ≥ 0, not -1',
    );
    expect(store.appliedIndex).toBe(before);
    expect(control.listServices().map((s) => s.spec?.annotations?.name)).toEqual(['web']);
  });

  it("refuses a stale version with Docker's message", async () => {
    const s = control.getService('web');
    const res = await rawApi('POST', `/v1.41/services/${s.id}/update?version=${(s.meta?.version ?? 0) - 1}`, {
      Name: 'web',
      TaskTemplate: { ContainerSpec: { Image: 'busybox' } },
      Mode: { Replicated: { Replicas: 1 } },
    });
    expect(res.status).toBe(409);
    expect(JSON.parse(res.body).message).toBe('update out of sequence');
    expect(control.getService('web').spec?.mode?.value).toEqual({ replicas: 5 });
  });

  it('lists the node and marks this one', async () => {
    const ls = await ok('node', 'ls');
    expect(ls).toMatch(new RegExp(`${NODE_ID} \\*\\s+vm1\\s+Ready\\s+Active\\s+Leader`));
    await ok('node', 'update', '--label-add', 'zone=a', NODE_ID);
    expect(control.getNode(NODE_ID).spec?.annotations?.labels).toEqual({ zone: 'a' });
    const rm = await docker('node', 'rm', NODE_ID);
    expect(rm.stderr).toMatch(/is a cluster manager/);
  });

  it('removes the service', async () => {
    await ok('service', 'rm', 'web');
    expect(control.listServices()).toEqual([]);
    const gone = await docker('service', 'inspect', 'web');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no such service: web/);
  });

  it('shows ServiceStatus with ?status=true', async () => {
    await ok('service', 'create', '-d', '--no-resolve-image', '--name', 'g', '--mode', 'global', 'busybox');
    const res = await rawApi('GET', '/v1.41/services?status=true');
    const [g] = JSON.parse(res.body);
    expect(g.Spec.Mode).toEqual({ Global: {} });
    expect(g.ServiceStatus).toEqual({ RunningTasks: 0, DesiredTasks: 0, CompletedTasks: 0 });
    const plain = JSON.parse((await rawApi('GET', '/v1.41/services')).body);
    expect(plain[0].ServiceStatus).toBeUndefined();
    await ok('service', 'rm', 'g');
  });

  it('swarm: info, join tokens, update and rotation', async () => {
    const info = JSON.parse(await ok('info', '--format', '{{json .Swarm}}'));
    expect(info).toMatchObject({
      NodeID: NODE_ID,
      LocalNodeState: 'active',
      ControlAvailable: true,
      Nodes: 1,
      Managers: 1,
    });
    expect(info.Cluster.ID).toBe('cluster00000000000000000001');
    expect((await ok('swarm', 'join-token', '-q', 'worker')).trim()).toBe('SWMTKN-1-w');
    await ok('swarm', 'update', '--task-history-limit', '3', '--dispatcher-heartbeat', '7s');
    const spec = control.getCluster().spec!;
    expect(spec.orchestration!.taskHistoryRetentionLimit).toBe(3);
    expect(spec.dispatcher!.heartbeatPeriod).toEqual({ seconds: 7, nanos: 0 });
    const rotated = await ok('swarm', 'join-token', '--rotate', '-q', 'manager');
    expect(rotated.trim()).toMatch(/^SWMTKN-1-d+-manager1/);
    expect(control.getCluster().rootCa!.joinTokens!.worker).toBe('SWMTKN-1-w');
  });

  it("swarm init on a node already in a swarm is dockerd's 503", async () => {
    const r = await docker('swarm', 'init');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'Error response from daemon: This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.',
    );
  });

  it('swarm unlock-key says autolock is not supported', async () => {
    const r = await docker('swarm', 'unlock-key');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/autolock is not supported/);
  });
});

function rawApi(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath: sock,
        method,
        path,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {},
      },
      (r) => {
        let b = '';
        r.on('data', (c) => (b += c));
        r.on('end', () => res({ status: r.statusCode ?? 0, body: b }));
      },
    );
    req.on('error', rej);
    req.end(data);
  });
}

describe('a node that is not a manager', () => {
  it.each([
    ['not in a swarm', new InactiveClusterBackend(), NOT_IN_SWARM_MESSAGE, 'inactive'],
    [
      'a worker',
      {
        localState: () => ({
          nodeId: 'w',
          nodeAddr: '127.0.0.2',
          localNodeState: 'active' as const,
          controlAvailable: false,
          error: '',
          remoteManagers: [{ nodeId: NODE_ID, addr: '127.0.0.1:2377' }],
        }),
        init: () => Promise.reject(new Error('unused')),
        join: () => Promise.reject(new Error('unused')),
        leave: () => Promise.resolve(),
        control: () => {
          throw notManager();
        },
      } satisfies ClusterBackend,
      NOT_MANAGER_MESSAGE,
      'active',
    ],
  ])("%s: the docker CLI gets dockerd's 503 and message", async (_, backend, message, state) => {
    const d = mkdtempSync(join(tmpdir(), 'shoal-swarm-cli-'));
    const s = join(d, 'api.sock');
    const router = new Router();
    router.head('/_ping', (ctx) => ctx.reply.text(200, ''));
    router.get('/info', async (ctx) => ctx.reply.json(200, { ID: 'x', Swarm: await swarmInfoJson(backend) }));
    registerSwarm(router, backend);
    const { server, destroyConnections } = createApiServer(router);
    await new Promise<void>((res) => server.listen(s, res));
    try {
      const run = (...args: string[]) =>
        new Promise<{ code: number; stderr: string; stdout: string }>((res) => {
          const p = spawn('docker', ['-H', `unix://${s}`, ...args], {
            env: { ...process.env, DOCKER_CONFIG: join(d, 'cfg'), DOCKER_HOST: '' },
          });
          let stderr = '';
          let stdout = '';
          p.stderr.on('data', (b) => (stderr += b));
          p.stdout.on('data', (b) => (stdout += b));
          p.on('close', (code) => res({ code: code ?? -1, stderr, stdout }));
          p.stdin.end();
        });
      for (const args of [
        ['service', 'ls'],
        ['node', 'ls'],
        ['service', 'create', '-d', '--no-resolve-image', 'busybox'],
      ]) {
        const r = await run(...args);
        expect(r.code, args.join(' ')).not.toBe(0);
        expect(r.stderr).toContain(message);
      }
      const info = JSON.parse((await run('info', '--format', '{{json .Swarm}}')).stdout);
      expect(info.LocalNodeState).toBe(state);
      expect(info.ControlAvailable).toBe(false);
    } finally {
      destroyConnections();
      await new Promise<void>((res) => server.close(() => res()));
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('swarm init and join reach the lifecycle the composition root gives', () => {
  it("hands over the CLI's addresses, token and spec", async () => {
    const seen: { init?: InitRequest; join?: JoinRequest } = {};
    const backend = new InactiveClusterBackend({
      init: async (req) => {
        seen.init = req;
        return 'newnode000000000000000001';
      },
      join: async (req) => {
        seen.join = req;
      },
    });
    const d = mkdtempSync(join(tmpdir(), 'shoal-swarm-cli-'));
    const s = join(d, 'api.sock');
    const router = new Router();
    router.head('/_ping', (ctx) => ctx.reply.text(200, ''));
    router.get('/info', async (ctx) => ctx.reply.json(200, { ID: 'x', Swarm: await swarmInfoJson(backend) }));
    registerSwarm(router, backend);
    const { server, destroyConnections } = createApiServer(router);
    await new Promise<void>((res) => server.listen(s, res));
    const run = (...args: string[]) =>
      new Promise<{ code: number; stderr: string; stdout: string }>((res) => {
        const p = spawn('docker', ['-H', `unix://${s}`, ...args], {
          env: { ...process.env, DOCKER_CONFIG: join(d, 'cfg'), DOCKER_HOST: '' },
        });
        let stderr = '';
        let stdout = '';
        p.stderr.on('data', (b) => (stderr += b));
        p.stdout.on('data', (b) => (stdout += b));
        p.on('close', (code) => res({ code: code ?? -1, stderr, stdout }));
        p.stdin.end();
      });
    try {
      const init = await run('swarm', 'init', '--advertise-addr', '127.0.0.9', '--task-history-limit', '2');
      expect(seen.init).toMatchObject({
        listenAddr: '0.0.0.0:2377',
        advertiseAddr: '127.0.0.9',
        forceNewCluster: false,
      });
      expect(seen.init!.spec.orchestration!.taskHistoryRetentionLimit).toBe(2);
      expect(seen.init!.spec.raft!.electionTick).toBe(10);
      // After init the CLI asks for the join token; this backend stays inactive, so that part fails.
      expect(init.stdout + init.stderr).toContain('newnode000000000000000001');
      await run('swarm', 'join', '--token', 'SWMTKN-1-abc-def', '127.0.0.1:2377');
      expect(seen.join).toMatchObject({ remoteAddrs: ['127.0.0.1:2377'], joinToken: 'SWMTKN-1-abc-def' });
      const leave = await run('swarm', 'leave');
      expect(leave.stderr).toContain('This node is not part of a swarm');
    } finally {
      destroyConnections();
      await new Promise<void>((res) => server.close(() => res()));
      rmSync(d, { recursive: true, force: true });
    }
  });
});
