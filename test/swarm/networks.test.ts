// Swarm networks through the real docker CLI (28.2) against a one-manager shoald: the predefined ingress
// network, overlay create with and without --subnet, bad input refused with nothing made, inspect, services
// with --network (aliases), --endpoint-mode and --publish showing their VIPs and published ports, tasks
// carrying their addresses, rm refused while in use (naming the services), prune.
//
// The manager's side only: what the allocator decided and stored. (The node dataplane that attaches the
// tasks is tested on the local netns cluster, test/cluster/overlay.test.ts.)
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
} from '../daemon/harness.js';
import { freePort } from '../images/registry-harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
let d: Daemon;

async function ok(args: string[]): Promise<string> {
  const r = await docker(d, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function fails(args: string[], input?: string): Promise<string> {
  const r = await docker(d, args, input);
  expect(r.code, `docker ${args.join(' ')} should fail`).not.toBe(0);
  return r.stderr;
}

const json = async (args: string[]) => JSON.parse(await ok(args));
// The swarm's networks (the node's local ones, host and none here, are listed beside them as dockerd does).
const names = async () =>
  (await ok(['network', 'ls', '-f', 'scope=swarm', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']))
    .split('\n')
    .filter(Boolean)
    .sort();

beforeAll(async () => {
  const port = await freePort();
  d = await startShoald(undefined, { ownNetns: true }); // its overlays stay out of the host's namespace
  expect((await docker(d, ['load', '-i', TARBALL])).stdout).toContain('Loaded image: busybox:latest');
  // Before init: no swarm networks, and an overlay is refused with docker's message.
  expect(await fails(['network', 'create', '-d', 'overlay', 'early'])).toContain(
    'This node is not a swarm manager',
  );
  const addr = `127.0.0.1:${port}`;
  await ok(['swarm', 'init', '--advertise-addr', addr, '--listen-addr', addr]);
}, 120_000);

afterAll(() => cleanupSwarm(d), 120_000);

describe('swarm networks through the docker CLI', () => {
  it('ingress exists; overlay create, inspect, ls filters; bad input refused naming the field, nothing made', async () => {
    expect(await names()).toEqual(['ingress overlay swarm']);
    const ingress = (await json(['network', 'inspect', 'ingress']))[0];
    expect(ingress).toMatchObject({
      Name: 'ingress',
      Scope: 'swarm',
      Driver: 'overlay',
      Ingress: true,
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }] },
      Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4096' },
    });
    const id = (await ok(['network', 'create', '-d', 'overlay', 'appnet'])).trim();
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    await ok([
      'network',
      'create',
      '-d',
      'overlay',
      '--subnet',
      '10.77.0.0/24',
      '--gateway',
      '10.77.0.254',
      '--ip-range',
      '10.77.0.128/25',
      '--attachable',
      '--label',
      'team=a',
      '--opt',
      'encrypted=',
      'appnet2',
    ]);
    const a = (await json(['network', 'inspect', id.slice(0, 8)]))[0];
    expect(a).toMatchObject({
      Name: 'appnet',
      Id: id,
      Scope: 'swarm',
      Driver: 'overlay',
      Attachable: false,
      IPAM: { Config: [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }] },
      Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' },
      Labels: null,
    });
    const b = (await json(['network', 'inspect', 'appnet2']))[0];
    expect(b).toMatchObject({
      Attachable: true,
      Labels: { team: 'a' },
      IPAM: { Config: [{ Subnet: '10.77.0.0/24', IPRange: '10.77.0.128/25', Gateway: '10.77.0.254' }] },
    });
    expect(await ok(['network', 'ls', '-f', 'label=team=a', '--format', '{{.Name}}'])).toBe('appnet2\n');
    expect(await ok(['network', 'ls', '-f', 'driver=overlay', '-q'])).toContain(id.slice(0, 12));

    for (const [args, msg] of [
      [
        ['--subnet', '10.77.0.0/25', 'x'],
        'spec.ipam.configs[0].subnet: subnet 10.77.0.0/25 overlaps 10.77.0.0/24 of network appnet2',
      ],
      [['--subnet', '10.0.0.0/8', 'x'], 'overlaps 10.0.0.0/24 of network ingress'],
      [
        ['--subnet', '10.90.0.0/24', '--gateway', '10.90.0.255', 'x'],
        'spec.ipam.configs[0].gateway: gateway 10.90.0.255 is not a usable address of subnet 10.90.0.0/24',
      ],
      [['appnet'], 'network with name appnet already exists'],
      [['--ingress', 'x'], 'ingress network already exists: ingress'],
    ] as [string[], string][])
      expect(await fails(['network', 'create', '-d', 'overlay', ...args])).toContain(msg);
    // The CLI checks some mistakes itself (a gateway outside the subnet); the API refuses them too.
    const r = await api(d, 'POST', '/networks/create', {
      Name: 'x',
      Driver: 'overlay',
      IPAM: { Config: [{ Subnet: '10.90.0.0/24', Gateway: '10.91.0.1' }, { Subnet: '10.93.0.1/24' }] },
    });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toBe(
      'spec.ipam.configs[1].subnet: invalid subnet "10.93.0.1/24": not an IPv4 CIDR such as 10.10.0.0/24',
    );
    const g = await api(d, 'POST', '/networks/create', {
      Name: 'x',
      Driver: 'overlay',
      IPAM: { Config: [{ Subnet: '10.90.0.0/24', Gateway: '10.91.0.1' }] },
    });
    expect(JSON.parse(g.body).message).toBe(
      'spec.ipam.configs[0].gateway: gateway 10.91.0.1 is not a usable address of subnet 10.90.0.0/24',
    );
    // Bodies beyond the schema (a count limit, a wrong type) are refused before anything reads them.
    const many = await api(d, 'POST', '/networks/create', {
      Name: 'x',
      Driver: 'overlay',
      IPAM: { Config: Array.from({ length: 300 }, () => ({ Subnet: '10.95.0.0/24' })) },
    });
    expect(many.status).toBe(400);
    const typed = await api(d, 'POST', '/networks/create', {
      Name: 'x',
      Driver: 'overlay',
      Labels: { a: 1 },
    });
    expect(typed.status).toBe(400);
    expect(JSON.parse(typed.body).message).toContain('Labels');
    const rg = await api(d, 'POST', '/networks/create', {
      Name: 'x',
      Driver: 'overlay',
      IPAM: { Config: [{ Subnet: '10.90.0.0/24', IPRange: '10.92.0.0/25' }] },
    });
    expect(JSON.parse(rg.body).message).toBe(
      'spec.ipam.configs[0].range: IP range 10.92.0.0/25 is not inside subnet 10.90.0.0/24',
    );
    expect(await names()).toEqual(['appnet overlay swarm', 'appnet2 overlay swarm', 'ingress overlay swarm']);
  }, 60_000);

  it('service create --network (with an alias), --publish, --endpoint-mode: VIPs, ports and task addresses', async () => {
    await ok([
      'service',
      'create',
      '-d',
      '--name',
      'web',
      '--replicas',
      '2',
      '--network',
      'appnet',
      '--network',
      'name=appnet2,alias=www',
      '--publish',
      '8080:80',
      '--publish',
      'target=81',
      'busybox',
      'sleep',
      '1000',
    ]);
    await ok([
      'service',
      'create',
      '-d',
      '--name',
      'db',
      '--network',
      'appnet',
      '--endpoint-mode',
      'dnsrr',
      'busybox',
      'sleep',
      '1000',
    ]);
    const [appnet, appnet2, ingress] = await Promise.all(
      ['appnet', 'appnet2', 'ingress'].map(
        async (n) => (await json(['network', 'inspect', n]))[0].Id as string,
      ),
    );
    let web:
      | {
          Spec: { TaskTemplate: { Networks: unknown } };
          Endpoint: {
            VirtualIPs?: { NetworkID: string; Addr: string }[];
            Ports?: { PublishedPort: number; TargetPort: number }[];
          };
        }
      | undefined;
    await eventually(async () => {
      web = (await json(['service', 'inspect', 'web']))[0];
      return (web?.Endpoint.VirtualIPs?.length ?? 0) === 3;
    }, 'web to get its VIPs');
    // The CLI sends the networks in its own order (by ID); VIPs follow the spec's, after ingress.
    const byTarget = (xs: { Target: string }[]) => [...xs].sort((a, b) => (a.Target < b.Target ? -1 : 1));
    expect(byTarget(web!.Spec.TaskTemplate.Networks as { Target: string }[])).toEqual(
      byTarget([{ Target: appnet! }, { Target: appnet2!, Aliases: ['www'] } as { Target: string }]),
    );
    const vips = web!.Endpoint.VirtualIPs!;
    expect(vips[0]).toEqual({ NetworkID: ingress, Addr: expect.stringMatching(/^10\.0\.0\.\d+\/24$/) });
    expect(Object.fromEntries(vips.slice(1).map((v) => [v.NetworkID, v.Addr]))).toEqual({
      [appnet!]: expect.stringMatching(/^10\.0\.1\.\d+\/24$/),
      [appnet2!]: expect.stringMatching(/^10\.77\.0\.(12[89]|1[3-9]\d|2[0-5]\d)\/24$/),
    });
    expect(web!.Endpoint.Ports).toEqual([
      { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
      { Protocol: 'tcp', TargetPort: 81, PublishedPort: 30000, PublishMode: 'ingress' },
    ]);
    expect((await ok(['service', 'ls', '--filter', 'name=web', '--format', '{{.Ports}}'])).trim()).toBe(
      '*:8080->80/tcp, *:30000->81/tcp',
    );
    const db = (await json(['service', 'inspect', 'db']))[0];
    expect(db.Spec.EndpointSpec).toEqual({ Mode: 'dnsrr' });
    expect(db.Endpoint.VirtualIPs).toBeUndefined();

    // Each task carries its address on every network (ingress first), all distinct and none a VIP.
    // The live ones (tasks may be replaced meanwhile).
    type TaskJson = {
      DesiredState: string;
      Status: { State: string };
      NetworksAttachments: { Network: { ID: string; Spec: { Name: string } }; Addresses: string[] }[];
    };
    let tasks: TaskJson[] = [];
    await eventually(async () => {
      // One read of the service's tasks (they come and go faster than `ps` then `inspect` could follow):
      // the current task of each slot, desired ready or running, maybe rejected already and not yet replaced.
      const r = await api(d, 'GET', `/tasks?filters=${encodeURIComponent('{"service":{"web":true}}')}`);
      tasks = (JSON.parse(r.body) as TaskJson[]).filter((t) => t.DesiredState !== 'shutdown');
      return tasks.length === 2;
    }, 'two live tasks of web');
    const seen = new Set(web!.Endpoint.VirtualIPs!.map((v) => v.Addr));
    for (const t of tasks) {
      const netNames = t.NetworksAttachments.map((a) => a.Network.Spec.Name);
      expect(netNames[0]).toBe('ingress');
      expect(netNames.slice(1).sort()).toEqual(['appnet', 'appnet2']);
      expect(t.NetworksAttachments.find((a) => a.Network.Spec.Name === 'appnet')!.Network).toMatchObject({
        ID: appnet,
        Spec: { Name: 'appnet', Scope: 'swarm' },
        DriverState: { Name: 'overlay' },
        IPAMOptions: { Configs: [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }] },
      });
      for (const a of t.NetworksAttachments as { Addresses: string[] }[]) {
        expect(a.Addresses).toHaveLength(1);
        expect(seen.has(a.Addresses[0]!)).toBe(false);
        seen.add(a.Addresses[0]!);
      }
    }

    // Port conflicts and ingress attachment refused with docker's messages; nothing is made.
    expect(
      await fails(['service', 'create', '-d', '--name', 'clash', '--publish', '8080:80', 'busybox']),
    ).toMatch(/port '8080' is already in use by service 'web' \(\w{25}\) as an ingress port/);
    expect(
      await fails(['service', 'create', '-d', '--name', 'x', '--network', 'nosuch', 'busybox']),
    ).toContain('network nosuch not found');
    expect(
      await fails([
        'service',
        'create',
        '-d',
        '--name',
        'x',
        '--endpoint-mode',
        'dnsrr',
        '--publish',
        '9000:80',
        'busybox',
      ]),
    ).toContain("port published with ingress mode can't be used with dnsrr mode");
    expect((await ok(['service', 'ls', '--format', '{{.Name}}'])).split('\n').filter(Boolean).sort()).toEqual(
      ['db', 'web'],
    );
  }, 60_000);

  it('network rm is refused while services use it (naming them) and for ingress while ports are published; prune', async () => {
    expect(await fails(['network', 'rm', 'appnet'])).toContain(
      'network appnet is in use by services db, web',
    );
    // The CLI asks before removing the routing mesh's network: say yes.
    expect(await fails(['network', 'rm', 'ingress'], 'y\n')).toContain(
      'ingress network cannot be removed because service web depends on it',
    );
    await ok(['network', 'create', '-d', 'overlay', 'spare']);
    await ok(['service', 'update', '-d', '--network-rm', 'appnet2', 'web']);
    await eventually(
      async () => ((await json(['service', 'inspect', 'web']))[0].Endpoint.VirtualIPs?.length ?? 0) === 2,
      'web to drop its VIP on appnet2',
    );
    // appnet2's old tasks hold it until the rolling update (one task at a time, each stopped with its grace
    // period) has told each to shut down.
    await eventually(
      async () => {
        const r = await docker(d, ['network', 'rm', 'appnet2']);
        if (r.code !== 0) throw new Error(r.stderr.trim());
        return true;
      },
      'appnet2 to be removable',
      1800,
    );
    expect(await ok(['network', 'prune', '-f'])).toContain('spare');
    expect(await names()).toEqual(['appnet overlay swarm', 'ingress overlay swarm']);
    await ok(['service', 'rm', 'web', 'db']);
    await eventually(
      async () => (await docker(d, ['network', 'rm', 'appnet'])).code === 0,
      'appnet to be removable',
      100,
    );
    expect(await names()).toEqual(['ingress overlay swarm']);
  }, 240_000);

  it('docker run --network on an --attachable overlay: the managers give the address; refusals; rm releases it', async () => {
    await ok(['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.79.0.0/24', 'attnet']);
    await ok(['network', 'create', '-d', 'overlay', 'closednet']);
    const id = (
      await ok([
        'run',
        '-d',
        '--name',
        'a1',
        '--network',
        'attnet',
        '--network-alias',
        'one',
        'busybox',
        'sleep',
        '1000',
      ])
    ).trim();
    const ep = (await json(['inspect', 'a1']))[0].NetworkSettings.Networks.attnet;
    expect(ep.IPAddress).toMatch(/^10\.79\.0\.\d+$/);
    expect(ep.Aliases).toContain('one');
    // The address is in the container, and it is the one the managers hold for it.
    expect(await ok(['exec', 'a1', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toContain(
      `${ep.IPAddress}/24`,
    );
    expect(await fails(['network', 'rm', 'attnet'])).toContain('network attnet is in use by container a1');
    expect(
      await fails(['run', '-d', '--name', 'a2', '--network', 'closednet', 'busybox', 'sleep', '1000']),
    ).toContain('network closednet not manually attachable');
    expect(
      await fails([
        'run',
        '-d',
        '--name',
        'a3',
        '--network',
        'attnet',
        '--ip',
        '10.79.0.99',
        'busybox',
        'true',
      ]),
    ).toContain('a user specified IP address on a swarm overlay is not supported');
    await docker(d, ['rm', '-f', 'a2', 'a3']);
    await ok(['rm', '-f', id]);
    await eventually(
      async () => (await docker(d, ['network', 'rm', 'attnet'])).code === 0,
      'attnet to go',
      100,
    );
    await ok(['network', 'rm', 'closednet']);
  }, 120_000);

  it('shoal network create|ls|inspect|rm|prune do the same (driver-agnostic CLI)', async () => {
    const sh = async (args: string[]) => {
      const r = await shoal(d, args);
      return r;
    };
    const c = await sh([
      'network',
      'create',
      '-d',
      'overlay',
      '--subnet',
      '10.88.0.0/24',
      '--gateway',
      '10.88.0.9',
      '--label',
      'k=v',
      'shnet',
    ]);
    expect(c.stderr).toBe('');
    const id = c.stdout.trim();
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    const ls = await sh(['network', 'ls']);
    expect(ls.stdout).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n/);
    expect(ls.stdout).toMatch(new RegExp(`${id.slice(0, 12)}\\s+shnet\\s+overlay\\s+swarm`));
    expect((await sh(['network', 'ls', '-f', 'label=k=v', '--format', '{{.Name}} {{.Driver}}'])).stdout).toBe(
      'shnet overlay\n',
    );
    expect((await sh(['network', 'inspect', '--format', '{{json .IPAM.Config}}', 'shnet'])).stdout).toBe(
      '[{"Subnet":"10.88.0.0/24","Gateway":"10.88.0.9"}]\n',
    );
    const bad = await sh(['network', 'create', '-d', 'overlay', '--subnet', '10.88.0.128/25', 'other']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'Error response from daemon: spec.ipam.configs[0].subnet: subnet 10.88.0.128/25 overlaps 10.88.0.0/24 of network shnet\n',
    );
    await sh(['network', 'create', '-d', 'overlay', 'unused']);
    expect((await sh(['network', 'prune', '-f', '--filter', 'label=k=v'])).stdout).toBe(
      'Deleted Networks:\nshnet\n',
    );
    expect((await sh(['network', 'rm', 'unused'])).stdout).toBe('unused\n');
    const gone = await sh(['network', 'inspect', 'unused']);
    expect(gone.stderr).toBe('Error response from daemon: network unused not found\n');
    expect((await sh(['network', 'ls', '-f', 'scope=swarm', '--format', '{{.Name}}'])).stdout).toBe(
      'ingress\n',
    );
  }, 60_000);
});
