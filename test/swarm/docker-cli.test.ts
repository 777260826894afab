// The real docker CLI (28.2) against three shoalds on 127.0.0.1, as a docker user drives a swarm: init,
// join tokens, a worker and a manager joining, nodes listed, inspected and updated, services created (with
// the convergence progress display and with most of docker's flags, checked in `service inspect` and in the
// container the engine runs), listed, scaled, updated, rolled back and removed; bad input refused with the
// reason and nothing changed; flags shoal cannot honour yet refused by name. Our own CLI is compared with
// docker's output where the two print the same table.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  cleanupSwarm,
  type Daemon,
  docker,
  eventually,
  REPO,
  type Result,
  shoal,
  startShoald,
} from '../daemon/harness.js';
import { freePort } from '../images/registry-harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const nodes: Daemon[] = [];
const addrs: string[] = [];
const ids: string[] = [];

/** `docker -H unix://SOCK args…`, failing the test with docker's stderr when it exits non-zero. */
async function ok(d: Daemon, args: string[]): Promise<string> {
  const r = await docker(d, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} → ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

function refused(r: Result, re: RegExp): void {
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(re);
}

const lines = (s: string) => s.trim().split('\n').filter(Boolean);

/** The containers of a service's running tasks on one node (the engine's own view). */
async function containers(d: Daemon, service: string): Promise<string[]> {
  return lines(
    await ok(d, ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${service}`]),
  );
}

async function runningTasks(d: Daemon, service: string): Promise<number> {
  const out = await ok(d, [
    'service',
    'ps',
    service,
    '--filter',
    'desired-state=running',
    '--format',
    '{{.CurrentState}}',
  ]);
  return lines(out).filter((l) => l.startsWith('Running')).length;
}

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    addrs.push(`127.0.0.1:${await freePort()}`);
    nodes.push(await startShoald());
  }
  for (const d of nodes)
    expect(await ok(d, ['load', '-i', TARBALL])).toContain('Loaded image: busybox:latest');
}, 60_000);

afterAll(async () => {
  for (const d of [...nodes].reverse()) await cleanupSwarm(d);
}, 120_000);

describe('docker swarm and node commands', () => {
  it('swarm init, join-token (worker, manager, -q, --rotate), join as a worker and as a manager', async () => {
    const [m1, w2, m3] = nodes;
    const init = await ok(m1, ['swarm', 'init', '--listen-addr', addrs[0], '--advertise-addr', addrs[0]]);
    expect(init).toMatch(/^Swarm initialized: current node \(\w{25}\) is now a manager\./);
    expect(init).toContain(`docker swarm join --token SWMTKN-1-`);
    // Again: dockerd's 503 and message.
    refused(await docker(m1, ['swarm', 'init']), /This node is already part of a swarm/);

    const worker = await ok(m1, ['swarm', 'join-token', 'worker']);
    const wq = (await ok(m1, ['swarm', 'join-token', '-q', 'worker'])).trim();
    expect(worker).toContain(`To add a worker to this swarm, run the following command:`);
    expect(worker).toContain(`docker swarm join --token ${wq} ${addrs[0]}`);
    const rotated = await ok(m1, ['swarm', 'join-token', '--rotate', 'worker']);
    expect(rotated).toContain('Successfully rotated worker join token.');
    const wq2 = (await ok(m1, ['swarm', 'join-token', '-q', 'worker'])).trim();
    expect(wq2).not.toBe(wq);
    expect(wq2.split('-').slice(0, 3)).toEqual(wq.split('-').slice(0, 3)); // same cluster, new secret
    const mq = (await ok(m1, ['swarm', 'join-token', '-q', 'manager'])).trim();
    expect(await ok(m1, ['swarm', 'join-token', 'manager'])).toContain(
      `To add a manager to this swarm, run the following command:`,
    );
    refused(await docker(m1, ['swarm', 'join-token', 'boss']), /unknown role boss/);

    // The rotated-out token no longer admits anyone; nothing is left behind on the refused node.
    const stale = await docker(w2, ['swarm', 'join', '--token', wq, '--listen-addr', addrs[1], addrs[0]]);
    expect(stale.code).not.toBe(0);
    expect(await ok(w2, ['info', '--format', '{{.Swarm.LocalNodeState}}'])).toBe('inactive\n');

    const join = (d: Daemon, token: string, addr: string) =>
      ok(d, ['swarm', 'join', '--token', token, '--listen-addr', addr, '--advertise-addr', addr, addrs[0]]);
    expect(await join(w2, wq2, addrs[1])).toBe('This node joined a swarm as a worker.\n');
    expect(await join(m3, mq, addrs[2])).toBe('This node joined a swarm as a manager.\n');
    for (const d of nodes) ids.push((await ok(d, ['info', '--format', '{{.Swarm.NodeID}}'])).trim());

    await eventually(
      async () => {
        const rows = lines(
          await ok(m1, ['node', 'ls', '--format', '{{.ID}}|{{.Self}}|{{.Status}}|{{.ManagerStatus}}']),
        );
        return (
          rows.length === 3 &&
          rows.includes(`${ids[0]}|true|Ready|Leader`) &&
          rows.includes(`${ids[1]}|false|Ready|`) &&
          rows.includes(`${ids[2]}|false|Ready|Reachable`)
        );
      },
      'three Ready nodes: m1 Leader, m3 Reachable, w2 a worker',
      400,
    );
    // The second manager answers too, marking itself.
    expect(await ok(m3, ['node', 'ls', '--filter', 'role=manager', '--format', '{{.ID}} {{.Self}}'])).toBe(
      [`${ids[0]} false`, `${ids[2]} true`].sort().join('\n') + '\n',
    );
    // The worker cannot: dockerd's message.
    refused(await docker(w2, ['node', 'ls']), /Worker nodes can't be used to view or modify cluster state/);
    // What `docker swarm inspect` used to show (CLI 28 has no such command): /info's cluster and ours.
    const cluster = JSON.parse(await ok(m1, ['info', '--format', '{{json .Swarm.Cluster}}']));
    expect(cluster.Spec).toMatchObject({ Name: 'default', Orchestration: { TaskHistoryRetentionLimit: 5 } });
    const mine = JSON.parse((await shoal(m1, ['swarm', 'inspect'])).stdout);
    expect(mine[0]?.ID ?? mine.ID).toBe(cluster.ID);
  }, 60_000);

  it('node inspect (self, --pretty, --format), ps, update --availability and --label-add/--label-rm', async () => {
    const [m1] = nodes;
    const self = JSON.parse(await ok(m1, ['node', 'inspect', 'self']))[0];
    expect(self).toMatchObject({
      ID: ids[0],
      Spec: { Role: 'manager', Availability: 'active' },
      Status: { State: 'ready', Addr: '127.0.0.1' },
      ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: addrs[0] },
    });
    expect(self.Description.TLSInfo.TrustRoot).toContain('-----BEGIN CERTIFICATE-----');
    const pretty = await ok(m1, ['node', 'inspect', '--pretty', ids[1]]);
    expect(pretty).toMatch(new RegExp(`^ID:\\s+${ids[1]}\\n`));
    expect(pretty).toMatch(/ State:\s+Ready\n Availability:\s+Active\n Address:\s+127\.0\.0\.1\n/);
    expect(pretty).toContain('TLS Info:');
    expect(pretty).not.toContain('Manager Status:');
    expect(await ok(m1, ['node', 'inspect', '--format', '{{.Spec.Role}} {{.Status.State}}', ids[1]])).toBe(
      'worker ready\n',
    );

    const w = ids[1];
    expect(await ok(m1, ['node', 'update', '--availability', 'drain', '--label-add', 'zone=a', w])).toBe(
      `${w}\n`,
    );
    await ok(m1, ['node', 'update', '--label-add', 'disk=ssd', '--label-add', 'tier', w]);
    await ok(m1, ['node', 'update', '--label-rm', 'disk', w]);
    expect(JSON.parse(await ok(m1, ['node', 'inspect', '--format', '{{json .Spec}}', w]))).toEqual({
      Labels: { zone: 'a', tier: '' },
      Role: 'worker',
      Availability: 'drain',
    });
    expect(
      await ok(m1, ['node', 'ls', '--filter', 'node.label=zone=a', '--format', '{{.ID}} {{.Availability}}']),
    ).toBe(`${w} Drain\n`);
    refused(await docker(m1, ['node', 'update', '--label-rm', 'nope', w]), /key nope doesn't exist/);
    refused(await docker(m1, ['node', 'update', '--availability', 'sleepy', w]), /sleepy/);
    await ok(m1, ['node', 'update', '--availability', 'pause', w]);
    await ok(m1, ['node', 'update', '--availability', 'active', '--label-rm', 'tier', w]);
    expect(await ok(m1, ['node', 'inspect', '--format', '{{.Spec.Availability}} {{.Spec.Labels}}', w])).toBe(
      'active map[zone:a]\n',
    );
    // node ps on a node with nothing scheduled: the header only.
    expect(lines(await ok(m1, ['node', 'ps', 'self']))[0]).toMatch(
      /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE/,
    );
  }, 30_000);
});

describe('docker service commands', () => {
  it('service create without -d shows the progress per replica and ends converged (exit 0)', async () => {
    const [m1] = nodes;
    const r = await docker(m1, [
      'service',
      'create',
      '--no-resolve-image',
      '--name',
      'web',
      '--replicas',
      '3',
      '--stop-grace-period',
      '1s',
      '--update-monitor',
      '1s',
      'busybox',
      'sleep',
      '1000',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^\w{25}$/);
    expect(out).toContain('overall progress: 3 out of 3 tasks');
    expect(out.slice(1, 5)).toEqual([
      'overall progress: 0 out of 3 tasks',
      expect.stringMatching(/^1\/3: /),
      expect.stringMatching(/^2\/3: /),
      expect.stringMatching(/^3\/3: /),
    ]);
    expect(out.at(-1)).toBe(`verify: Service ${out[0]} converged`);
    expect(await runningTasks(m1, 'web')).toBe(3);

    // A global service: one task per node, the progress keyed by node.
    const g = await docker(m1, [
      'service',
      'create',
      '--no-resolve-image',
      '--mode',
      'global',
      '--name',
      'everywhere',
      '--stop-grace-period',
      '1s',
      '--update-monitor',
      '1s',
      'busybox',
      'sleep',
      '1000',
    ]);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toContain('overall progress: 3 out of 3 tasks');
    expect(lines(g.stdout).at(-1)).toMatch(/^verify: Service \w{25} converged$/);
    expect(
      await ok(m1, [
        'service',
        'ls',
        '--filter',
        'mode=global',
        '--format',
        '{{.Name}} {{.Mode}} {{.Replicas}}',
      ]),
    ).toBe('everywhere global 3/3\n');
    expect(await ok(m1, ['service', 'rm', 'everywhere'])).toBe('everywhere\n');
  }, 30_000);

  it('service create with docker flags: they land in service inspect and in the container', async () => {
    const [m1] = nodes;
    const hostForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const bind = join(m1.dir, 'bind-src');
    await ok(m1, [
      'run',
      '--rm',
      '-v',
      `${m1.dir}:/host`,
      'busybox',
      'sh',
      '-c',
      'mkdir -p /host/bind-src && echo hello > /host/bind-src/f',
    ]);
    const id = (
      await ok(m1, [
        'service',
        'create',
        '-d',
        '--quiet',
        '--no-resolve-image',
        '--name',
        'full',
        '--replicas',
        '1',
        '--mode',
        'replicated',
        '--env',
        'A=1',
        '--env',
        'B=two',
        '--label',
        'svc=l',
        '--container-label',
        'cl=v',
        '--mount',
        'type=tmpfs,target=/scratch,tmpfs-size=1048576',
        '--mount',
        `type=bind,source=${bind},target=/data,readonly`,
        '--limit-cpu',
        '0.5',
        '--limit-memory',
        '64M',
        '--reserve-cpu',
        '0.1',
        '--reserve-memory',
        '16M',
        '--restart-condition',
        'on-failure',
        '--restart-delay',
        '2s',
        '--restart-max-attempts',
        '3',
        '--restart-window',
        '10s',
        '--constraint',
        `node.id==${ids[0]}`,
        '--placement-pref',
        'spread=node.labels.zone',
        '--replicas-max-per-node',
        '2',
        '--update-parallelism',
        '2',
        '--update-delay',
        '1s',
        '--update-failure-action',
        'rollback',
        '--update-monitor',
        '2s',
        '--update-max-failure-ratio',
        '0.5',
        '--update-order',
        'start-first',
        '--rollback-parallelism',
        '1',
        '--rollback-delay',
        '1s',
        '--rollback-failure-action',
        'continue',
        '--rollback-monitor',
        '1s',
        '--rollback-max-failure-ratio',
        '0.2',
        '--rollback-order',
        'stop-first',
        '--health-cmd',
        'true',
        '--health-interval',
        '5s',
        '--health-timeout',
        '2s',
        '--health-retries',
        '2',
        '--health-start-period',
        '1s',
        '--stop-grace-period',
        '1s',
        '--stop-signal',
        'SIGTERM',
        '--user',
        '1000:1000',
        '--workdir',
        '/tmp',
        '--hostname',
        'myhost',
        '--cap-add',
        'NET_ADMIN',
        '--cap-drop',
        'CHOWN',
        '--ulimit',
        'nofile=1024:2048',
        '--read-only',
        '--sysctl',
        'net.ipv4.ip_forward=1',
        // No --publish: the worker refuses published ports until the node dataplane exists
        // (test/swarm/networks.test.ts covers what the managers do with them).
        '--entrypoint',
        '/bin/sh',
        'busybox',
        '-c',
        'sleep 1000',
      ])
    ).trim();
    expect(id).toMatch(/^\w{25}$/);
    const spec = JSON.parse(await ok(m1, ['service', 'inspect', '--format', '{{json .Spec}}', 'full']));
    expect(spec).toMatchObject({
      Name: 'full',
      Labels: { svc: 'l' },
      Mode: { Replicated: { Replicas: 1 } },
      TaskTemplate: {
        ContainerSpec: {
          Image: 'busybox:latest',
          Labels: { cl: 'v' },
          Command: ['/bin/sh'],
          Args: ['-c', 'sleep 1000'],
          Hostname: 'myhost',
          Env: ['A=1', 'B=two'],
          Dir: '/tmp',
          User: '1000:1000',
          ReadOnly: true,
          Mounts: [
            { Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 1048576 } },
            { Type: 'bind', Source: bind, Target: '/data', ReadOnly: true },
          ],
          StopGracePeriod: 1e9,
          StopSignal: 'SIGTERM',
          Healthcheck: {
            Test: ['CMD-SHELL', 'true'],
            Interval: 5e9,
            Timeout: 2e9,
            Retries: 2,
            StartPeriod: 1e9,
          },
          CapabilityAdd: ['CAP_NET_ADMIN'],
          CapabilityDrop: ['CAP_CHOWN'],
          Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
          Sysctls: { 'net.ipv4.ip_forward': '1' },
        },
        Resources: {
          Limits: { NanoCPUs: 5e8, MemoryBytes: 64 * 2 ** 20 },
          Reservations: { NanoCPUs: 1e8, MemoryBytes: 16 * 2 ** 20 },
        },
        RestartPolicy: { Condition: 'on-failure', Delay: 2e9, MaxAttempts: 3, Window: 10e9 },
        Placement: {
          Constraints: [`node.id==${ids[0]}`],
          Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
          MaxReplicas: 2,
        },
      },
      UpdateConfig: {
        Parallelism: 2,
        Delay: 1e9,
        FailureAction: 'rollback',
        Monitor: 2e9,
        MaxFailureRatio: 0.5,
        Order: 'start-first',
      },
      RollbackConfig: {
        Parallelism: 1,
        Delay: 1e9,
        FailureAction: 'continue',
        Monitor: 1e9,
        MaxFailureRatio: 0.2,
        Order: 'stop-first',
      },
      EndpointSpec: { Mode: 'vip' },
    });

    // The task runs on m1 (the constraint): the engine applied what it can.
    await eventually(async () => (await containers(m1, 'full')).length === 1, 'the full task running', 300);
    const [cid] = await containers(m1, 'full');
    const c = JSON.parse(await ok(m1, ['inspect', cid]))[0];
    expect(c.Config).toMatchObject({ Hostname: 'myhost', User: '1000:1000', WorkingDir: '/tmp' });
    expect(c.Config.Env).toEqual(expect.arrayContaining(['A=1', 'B=two']));
    expect(c.Config.Labels).toMatchObject({
      cl: 'v',
      'com.docker.swarm.service.name': 'full',
      'com.docker.swarm.service.id': id,
      'com.docker.swarm.node.id': ids[0],
    });
    expect(c.HostConfig).toMatchObject({
      NanoCpus: 5e8,
      Memory: 64 * 2 ** 20,
      MemoryReservation: 16 * 2 ** 20,
      ReadonlyRootfs: true,
    });
    const sh = (cmd: string) => ok(m1, ['exec', cid, 'sh', '-c', cmd]);
    expect(await sh('id -u; pwd; hostname; echo $A $B; ulimit -n; cat /data/f')).toBe(
      '1000\n/tmp\nmyhost\n1 two\n1024\nhello\n',
    );
    expect(await sh('grep " /scratch " /proc/mounts | cut -d" " -f3')).toBe('tmpfs\n');
    // The sysctl is the container's own (its network namespace); the host's is untouched.
    expect(await sh('cat /proc/sys/net/ipv4/ip_forward')).toBe('1\n');
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostForward);
    refused(await docker(m1, ['exec', cid, 'touch', '/rootfs-file']), /Read-only file system/);
    // CAP_NET_ADMIN is bit 12, CAP_CHOWN bit 0 of the effective set (granted: the user is not root, so
    // look at the bounding set).
    const bnd = BigInt(`0x${(await sh('grep CapBnd /proc/self/status | cut -f2')).trim()}`);
    expect((bnd >> 12n) & 1n).toBe(1n);
    expect(bnd & 1n).toBe(0n);
  }, 40_000);

  it('flags shoal cannot honour yet are refused by name, and nothing is created', async () => {
    const [m1] = nodes;
    const create = (...flags: string[]) =>
      docker(m1, [
        'service',
        'create',
        '-d',
        '--no-resolve-image',
        '--name',
        'nope',
        ...flags,
        'busybox',
        'sleep',
        '1',
      ]);
    refused(await create('--sysctl', 'vm.swappiness=10'), /--sysctl \(only net\.\*/);
    // docker's CLI has no --device for services (shoal's has); another client may send Devices, which
    // shoal runs (test/daemon/devices.test.ts) but checks at create.
    const spec = JSON.parse(await ok(m1, ['service', 'inspect', '--format', '{{json .Spec}}', 'web']));
    spec.Name = 'nope';
    spec.TaskTemplate.ContainerSpec.Devices = [
      { PathOnHost: '/dev/null', PathInContainer: '/dev/xnull', CgroupPermissions: 'rwx' },
    ];
    const dev = await api(m1, 'POST', '/v1.41/services/create', spec);
    expect(dev.status).toBe(400);
    expect(JSON.parse(dev.body).message).toMatch(
      /TaskTemplate\.ContainerSpec\.Devices\[0\]\.CgroupPermissions/,
    );
    refused(await create('--host', 'a:10.0.0.1', '--dns', '10.0.0.2'), /--host .*--dns/);
    refused(await create('--log-driver', 'syslog'), /--log-driver/);
    refused(await create('--generic-resource', 'gpu=1'), /GenericResources: not supported by shoal yet/);
    refused(await create('--credential-spec', 'file://spec.json'), /Privileges: not supported by shoal yet/);
    refused(await create('--isolation', 'hyperv'), /Isolation: not supported by shoal yet/);
    expect(await ok(m1, ['service', 'ls', '--format', '{{.Name}}'])).toBe('full\nweb\n');
  });

  it('bad input: a clear error and nothing changed', async () => {
    const [m1] = nodes;
    const before = await ok(m1, ['service', 'inspect', '--format', '{{.Version.Index}}', 'web']);
    // Replica counts: the CLI refuses a negative one itself; the API refuses it for other clients.
    refused(await docker(m1, ['service', 'scale', 'web=-1']), /invalid replicas value -1/);
    refused(await docker(m1, ['service', 'scale', 'web=x']), /invalid replicas value x/);
    const spec = JSON.parse(await ok(m1, ['service', 'inspect', '--format', '{{json .Spec}}', 'web']));
    const bad = await api(m1, 'POST', `/v1.41/services/web/update?version=${before.trim()}`, {
      ...spec,
      Mode: { Replicated: { Replicas: -3 } },
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).message).toMatch(/replicas: must be an integer ≥ 0, not -3/);
    refused(
      await docker(m1, [
        'service',
        'create',
        '-d',
        '--no-resolve-image',
        '--name',
        'bad',
        '--constraint',
        'node.colour==red',
        'busybox',
      ]),
      /unknown key "node.colour"/,
    );
    refused(
      await docker(m1, [
        'service',
        'create',
        '-d',
        '--no-resolve-image',
        '--name',
        'bad',
        '--constraint',
        'node.role=manager',
        'busybox',
      ]),
      /invalid constraint "node.role=manager"/,
    );
    refused(
      await docker(m1, [
        'service',
        'create',
        '-d',
        '--no-resolve-image',
        '--name',
        'bad',
        '--reserve-memory',
        '100T',
        'busybox',
      ]),
      /no node can reserve .* 102400\.00 GiB of memory/,
    );
    refused(
      await docker(m1, ['service', 'update', '-d', '--reserve-cpu', '512', 'web']),
      /no node can reserve 512 CPUs/,
    );
    refused(
      await docker(m1, ['service', 'create', '-d', '--no-resolve-image', '--name', 'web', 'busybox']),
      /service web already exists/,
    );
    // A stale version (what a concurrent writer's client holds): dockerd's message, 409... as docker says.
    const stale = await api(m1, 'POST', `/v1.41/services/web/update?version=${Number(before) - 1}`, spec);
    expect(stale.status).toBe(409);
    expect(JSON.parse(stale.body).message).toMatch(/update out of sequence/);
    expect(await ok(m1, ['service', 'inspect', '--format', '{{.Version.Index}}', 'web'])).toBe(before);
    expect(await ok(m1, ['service', 'ls', '--format', '{{.Name}}'])).toBe('full\nweb\n');
    refused(await docker(m1, ['service', 'inspect', 'nosuch']), /no such service: nosuch/);
  });

  it('service ls / ps with --format and --filter, inspect --pretty; shoal prints the same tables', async () => {
    const [m1] = nodes;
    await eventually(async () => (await runningTasks(m1, 'full')) === 1, 'full running', 200).catch(
      async (e) => {
        console.log(await ok(m1, ['service', 'ps', '--no-trunc', 'full']));
        throw e;
      },
    );
    expect(
      await ok(m1, ['service', 'ls', '--format', '{{.Name}} {{.Mode}} {{.Replicas}} {{.Image}} {{.Ports}}']),
    ).toBe('full replicated 1/1 (max 2 per node) busybox:latest \nweb replicated 3/3 busybox:latest \n');
    expect(await ok(m1, ['service', 'ls', '--filter', 'label=svc=l', '-q'])).toMatch(/^\w{12}\n$/);
    expect(await ok(m1, ['service', 'ls', '--filter', 'name=we', '--format', '{{.Name}}'])).toBe('web\n');
    const ps = lines(
      await ok(m1, [
        'service',
        'ps',
        'web',
        '--filter',
        'desired-state=running',
        '--no-trunc',
        '--format',
        '{{.ID}} {{.Name}} {{.Image}} {{.DesiredState}}',
      ]),
    );
    expect(ps.map((l) => l.split(' ').slice(1).join(' ')).sort()).toEqual([
      'web.1 busybox:latest Running',
      'web.2 busybox:latest Running',
      'web.3 busybox:latest Running',
    ]);
    expect(ps.every((l) => /^\w{25} /.test(l))).toBe(true);
    const pretty = await ok(m1, ['service', 'inspect', '--pretty', 'full']);
    for (const want of [
      /^\nID:\s+\w{25}\nName:\s+full\nLabels:\n svc=l\nService Mode:\s+Replicated\n Replicas:\s+1\n/,
      /Placement:\n\s*Constraints:\s+\[node\.id==\w+\]/,
      /UpdateConfig:\n Parallelism:\s+2\n Delay:\s+1s\n On failure:\s+rollback\n Monitoring Period: 2s\n/,
      /ContainerSpec:\n Image:\s+busybox:latest\n Args:\s+-c sleep 1000/,
      /Mounts:\n Target:\s+\/scratch/,
      /Resources:\n Reservations:\n {2}CPU:\s+0\.1\n {2}Memory:\s+16MiB\n Limits:\n {2}CPU:\s+0\.5\n {2}Memory:\s+64MiB/,
    ])
      expect(pretty).toMatch(want);
    // Our CLI prints docker's tables for the same commands.
    for (const args of [
      ['service', 'ls'],
      ['service', 'ls', '--format', '{{.ID}} {{.Name}} {{.Replicas}}'],
      ['node', 'ls'],
      ['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}'],
      ['service', 'ps', 'web', '--format', '{{.Name}} {{.Node}} {{.DesiredState}}'],
      ['node', 'inspect', '--pretty', 'self'],
      ['service', 'inspect', '--pretty', 'full'],
    ]) {
      // The cluster may change between the two calls (a manager's reachability flips under load): a
      // mismatch counts only when it stays over a few tries.
      let last = { d: '', s: '' };
      for (let i = 0; i < 5; i++) {
        last = { d: await ok(m1, args), s: (await shoal(m1, args)).stdout };
        if (last.d === last.s) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect({ args, out: last.s }).toEqual({ args, out: last.d });
    }
  });

  it('scale (with progress), update --image/--env-add/--env-rm/--force/--replicas, rollback, rm', async () => {
    const [m1] = nodes;
    const taskIds = async () =>
      lines(await ok(m1, ['service', 'ps', 'web', '--filter', 'desired-state=running', '-q', '--no-trunc']));
    const before = await taskIds();
    const scale = await docker(m1, ['service', 'scale', 'web=2']);
    expect(scale.code, scale.stderr).toBe(0);
    expect(scale.stdout).toMatch(/^web scaled to 2\n/);
    expect(lines(scale.stdout).at(-1)).toBe('verify: Service web converged');
    await eventually(async () => (await runningTasks(m1, 'web')) === 2, 'two web tasks', 200);
    // The CLI sends back the whole spec it read (with empty Placement, Resources…): a scale from 3 to 2
    // stops one task and replaces none.
    const after = await taskIds();
    expect(before).toHaveLength(3);
    expect(after).toHaveLength(2);
    expect(before).toEqual(expect.arrayContaining(after));

    const fmt =
      '{{.Spec.TaskTemplate.ContainerSpec.Image}} {{.Spec.TaskTemplate.ContainerSpec.Env}} {{.Spec.TaskTemplate.ForceUpdate}} {{.Spec.Mode.Replicated.Replicas}}';
    await ok(m1, [
      'service',
      'update',
      '-d',
      '--no-resolve-image',
      '--image',
      'busybox:latest',
      '--env-add',
      'X=1',
      '--env-add',
      'Y=2',
      'web',
    ]);
    // The docker CLI merges --env-add through a Go map: the order it sends is its own, either way round.
    expect(await ok(m1, ['service', 'inspect', '--format', fmt, 'web'])).toMatch(
      /^busybox:latest \[(X=1 Y=2|Y=2 X=1)\] 0 2\n$/,
    );
    await ok(m1, ['service', 'update', '-d', '--env-rm', 'X', '--force', '--replicas', '3', 'web']);
    expect(await ok(m1, ['service', 'inspect', '--format', fmt, 'web'])).toBe('busybox:latest [Y=2] 1 3\n');
    // The new spec's tasks replace the old ones (the hidden _up-to-date filter the progress display uses).
    await eventually(
      async () => {
        const env = await Promise.all(
          (await containers(m1, 'web')).map(async (c) =>
            (await ok(m1, ['inspect', '--format', '{{.Config.Env}}', c])).trim(),
          ),
        );
        return (
          (await runningTasks(m1, 'web')) === 3 && env.every((e) => e.includes('Y=2') && !e.includes('X=1'))
        );
      },
      'web updated: three tasks with Y=2 and without X',
      400,
    );

    // rollback swaps in the previous spec (X=1 Y=2, 2 replicas) .
    const rb = await docker(m1, ['service', 'rollback', 'web']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toMatch(/^web\nrollback: manually requested rollback\n/);
    expect(lines(rb.stdout).at(-1)).toBe('verify: Service web converged');
    // The docker CLI merges --env-add through a Go map: the order it sends is its own, either way round.
    expect(await ok(m1, ['service', 'inspect', '--format', fmt, 'web'])).toMatch(
      /^busybox:latest \[(X=1 Y=2|Y=2 X=1)\] 0 2\n$/,
    );
    // The CLI is done once the tasks converge; the rollback is completed once they have stayed up for
    // the monitor period.
    await eventually(
      async () =>
        (await ok(m1, [
          'service',
          'inspect',
          '--format',
          '{{.UpdateStatus.State}}: {{.UpdateStatus.Message}}',
          'web',
        ])) === 'rollback_completed: rollback completed\n',
      'web: rollback completed',
      400,
    );
    // No previous spec to go back to after a create.
    refused(await docker(m1, ['service', 'rollback', '-d', 'full']), /does not have a previous spec/);

    expect(await ok(m1, ['service', 'rm', 'web', 'full'])).toBe('web\nfull\n');
    refused(await docker(m1, ['service', 'rm', 'web']), /service web not found/);
    expect(await ok(m1, ['service', 'ls', '-q'])).toBe('');
    for (const d of nodes)
      await eventually(async () => (await containers(d, 'web')).length === 0, 'web gone', 300);
  }, 60_000);

  it('swarm leave: the worker leaves (its node goes down); a manager needs --force', async () => {
    const [m1, w2, m3] = nodes;
    refused(await docker(m3, ['swarm', 'leave']), /--force/);
    expect(await ok(w2, ['swarm', 'leave'])).toBe('Node left the swarm.\n');
    expect(await ok(w2, ['info', '--format', '{{.Swarm.LocalNodeState}}'])).toBe('inactive\n');
    await eventually(
      async () =>
        (await ok(m1, ['node', 'inspect', '--format', '{{.Status.State}}', ids[1]])).trim() === 'down',
      'the worker down',
      400,
    );
  }, 30_000);
});
