// Swarm networks in the control API: creation with allocation, Docker's checks on bad input (each naming the
// field and changing nothing), list filters, removal refused while in use (naming the services), ingress
// rules, prune, published-port conflicts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import { Cluster } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NetworkSpec, type ServiceSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import { EndpointMode, PortProtocol, PublishMode, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { checkAddressPool } from '../allocator/index.js';
import { overlaps, parseCidr } from '../allocator/ipv4.js';
import { makeCluster, makeTask, storeOnMemoryLog } from '../store/testkit.js';
import { ControlApi } from './controlapi.js';
import { predefinedIngress } from './networks.js';

async function setup(cluster = makeCluster('c1')) {
  const { store, clock } = storeOnMemoryLog('sync');
  await store.update((tx) => {
    tx.create('cluster', cluster);
    tx.create('network', predefinedIngress('ingress0', cluster));
  });
  const control = new ControlApi(
    store,
    undefined,
    () => 0.5,
    () => clock.now,
  );
  return { store, control, clock };
}

const net = (
  name: string,
  o: Partial<NetworkSpec> & { subnet?: string; gateway?: string; range?: string } = {},
) =>
  NetworkSpec.fromPartial({
    annotations: { name, labels: o.annotations?.labels ?? {} },
    driverConfig: o.driverConfig,
    attachable: o.attachable,
    internal: o.internal,
    ingress: o.ingress,
    ipv6Enabled: o.ipv6Enabled,
    ipam:
      o.subnet !== undefined || o.gateway !== undefined || o.range !== undefined
        ? {
            configs: [
              { subnet: o.subnet ?? '', gateway: o.gateway ?? '', range: o.range ?? '', auxAddresses: {} },
            ],
          }
        : o.ipam,
  });

const svc = (
  name: string,
  o: { networks?: string[]; ports?: [number, PublishMode?][]; dnsrr?: boolean } = {},
): ServiceSpec =>
  ({
    annotations: { name, labels: {} },
    taskTemplate: {
      containerSpec: { image: 'busybox' },
      networks: (o.networks ?? []).map((target) => ({ target, aliases: [], driverOpts: {} })),
    },
    mode: { $case: 'replicated', value: { replicas: 1 } },
    endpointSpec: {
      mode: o.dnsrr ? EndpointMode.ENDPOINT_MODE_DNSRR : EndpointMode.ENDPOINT_MODE_VIP,
      ports: (o.ports ?? []).map(([p, mode]) => ({
        name: '',
        protocol: PortProtocol.PORT_PROTOCOL_TCP,
        targetPort: 80,
        publishedPort: p,
        publishMode: mode ?? PublishMode.PUBLISH_MODE_INGRESS,
      })),
    },
  }) as never;

async function rejects(p: Promise<unknown>): Promise<ShoalError> {
  try {
    await p;
  } catch (err) {
    if (isShoalError(err)) return err;
    throw err;
  }
  throw new Error('expected a ShoalError');
}

describe('control API: networks', () => {
  it('ingress from swarm init is 10.0.0.0/24 (VNI 4096); an overlay gets the next /24 and VNI; explicit subnets kept', async () => {
    const { control } = await setup();
    const ingress = control.getNetwork('ingress');
    expect(ingress.ipam?.configs).toEqual([
      { subnet: '10.0.0.0/24', range: '', gateway: '10.0.0.1', auxAddresses: {} },
    ]);
    expect(ingress.driverState?.options).toEqual({
      'com.docker.network.driver.overlay.vxlanid_list': '4096',
    });
    const a = await control.createNetwork(
      net('appnet', { attachable: true, annotations: { name: 'x', labels: { team: 'a' } } }),
    );
    expect(a.spec).toMatchObject({
      attachable: true,
      driverConfig: { name: 'overlay' },
      annotations: { name: 'appnet', labels: { team: 'a' } },
    });
    expect(a.ipam?.configs[0]).toMatchObject({ subnet: '10.0.1.0/24', gateway: '10.0.1.1' });
    expect(a.driverState?.options['com.docker.network.driver.overlay.vxlanid_list']).toBe('4097');
    const b = await control.createNetwork(
      net('b', { subnet: '10.0.2.0/24', gateway: '10.0.2.254', range: '10.0.2.128/25' }),
    );
    expect(b.ipam?.configs[0]).toMatchObject({
      subnet: '10.0.2.0/24',
      gateway: '10.0.2.254',
      range: '10.0.2.128/25',
    });
    // The next automatic subnet skips the explicit one.
    expect((await control.createNetwork(net('c'))).ipam?.configs[0]?.subnet).toBe('10.0.3.0/24');
    // Inspect by id, name and id prefix.
    expect(control.getNetwork(a.id).id).toBe(a.id);
    expect(control.getNetwork(a.id.slice(0, 4)).id).toBe(a.id);
  });

  it('a custom default address pool (swarm init --default-addr-pool 172.30.0.0/16 --default-addr-pool-mask-length 26)', async () => {
    const { control } = await setup(
      Cluster.fromPartial({ ...makeCluster('c1'), defaultAddressPool: ['172.30.0.0/16'], subnetSize: 26 }),
    );
    expect(control.getNetwork('ingress').ipam?.configs[0]?.subnet).toBe('172.30.0.0/26');
    expect((await control.createNetwork(net('a'))).ipam?.configs[0]?.subnet).toBe('172.30.0.64/26');
    // swarm init's checks of the pair (nothing is made when they fail).
    expect(() => checkAddressPool(['10.0.0.0/33'], 24)).toThrow(
      /^DefaultAddrPool\[0\]: invalid address pool/,
    );
    expect(() => checkAddressPool(['10.0.0.0/8', '10.1.0.0/16'], 24)).toThrow(
      /^DefaultAddrPool\[1\]: .*overlaps/,
    );
    expect(() => checkAddressPool(['10.0.0.0/16'], 8)).toThrow(/^SubnetSize: subnet size \/8 is larger/);
    expect(() => checkAddressPool([], 31)).toThrow(/^SubnetSize: invalid subnet size 31/);
    expect(() => checkAddressPool(['172.30.0.0/16'], 26)).not.toThrow();
  });

  it('bad input is refused naming the field, and nothing is written', async () => {
    const { store, control } = await setup();
    await control.createNetwork(net('appnet', { subnet: '10.50.0.0/16' }));
    const before = store.appliedIndex;
    const cases: [NetworkSpec, string | RegExp, string][] = [
      [net('x', { subnet: '10.60.0.0/33' }), 'spec.ipam.configs[0].subnet', 'invalid subnet'],
      [net('x', { subnet: 'banana' }), 'spec.ipam.configs[0].subnet', 'not an IPv4 CIDR'],
      [net('x', { subnet: '10.60.0.5/24' }), 'spec.ipam.configs[0].subnet', 'invalid subnet'],
      [net('x', { subnet: 'fd00::/64' }), 'spec.ipam.configs[0].subnet', 'IPv6'],
      [
        net('x', { subnet: '10.50.3.0/24' }),
        'spec.ipam.configs[0].subnet',
        'overlaps 10.50.0.0/16 of network appnet',
      ],
      [
        net('x', { subnet: '10.0.0.0/16' }),
        'spec.ipam.configs[0].subnet',
        'overlaps 10.0.0.0/24 of network ingress',
      ],
      [
        net('x', { subnet: '10.60.0.0/24', gateway: '10.61.0.1' }),
        'spec.ipam.configs[0].gateway',
        'not a usable address of subnet 10.60.0.0/24',
      ],
      [
        net('x', { subnet: '10.60.0.0/24', gateway: '10.60.0.255' }),
        'spec.ipam.configs[0].gateway',
        'not a usable address',
      ],
      [
        net('x', { subnet: '10.60.0.0/24', gateway: 'nope' }),
        'spec.ipam.configs[0].gateway',
        'not an IPv4 address',
      ],
      [
        net('x', { subnet: '10.60.0.0/24', range: '10.61.0.0/25' }),
        'spec.ipam.configs[0].range',
        'not inside subnet',
      ],
      [net('x', { gateway: '10.60.0.1' }), 'spec.ipam.configs[0].subnet', 'needs a subnet'],
      [
        net('x', {
          ipam: {
            driver: undefined,
            configs: [
              { subnet: '10.70.0.0/24', range: '', gateway: '', auxAddresses: {} },
              { subnet: '10.70.0.128/25', range: '', gateway: '', auxAddresses: {} },
            ],
          },
        }),
        'spec.ipam.configs[1].subnet',
        'overlaps 10.70.0.0/24 of configs[0]',
      ],
      [net('appnet'), 'spec.annotations.name', 'network with name appnet already exists'],
      [net(''), 'spec.annotations.name', 'needs a name'],
      [net('bad name'), 'spec.annotations.name', 'invalid network name'],
      [
        net('x', { driverConfig: { name: 'bridge', options: {} } }),
        'spec.driver_config.name',
        'only overlay',
      ],
      [net('x', { ipv6Enabled: true }), 'spec.ipv6_enabled', 'IPv6'],
      [net('x', { ingress: true }), 'spec.ingress', 'ingress network already exists: ingress'],
      [net('x', { ingress: true, attachable: true }), 'spec.attachable', 'cannot be attachable'],
      [
        net('x', {
          driverConfig: {
            name: 'overlay',
            options: { 'com.docker.network.driver.overlay.vxlanid_list': '5000' },
          },
        }),
        'spec.driver_config.options',
        'chosen by the swarm',
      ],
    ];
    for (const [spec, field, msg] of cases) {
      const e = await rejects(control.createNetwork(spec));
      expect({ field: e.field, msg: e.message }).toMatchObject({
        field,
        msg: expect.stringContaining(msg as string),
      });
    }
    expect(store.appliedIndex).toBe(before);
    expect(
      control
        .listNetworks()
        .map((n) => n.spec?.annotations?.name)
        .sort(),
    ).toEqual(['appnet', 'ingress']);
  });

  it('rm is refused while services use the network (all named) and for ingress while ports are published', async () => {
    const { store, control } = await setup();
    const appnet = await control.createNetwork(net('appnet'));
    await control.createService(svc('web', { networks: [appnet.id] }));
    await control.createService(svc('api', { networks: ['appnet'] }));
    await control.createService(svc('edge', { ports: [[8080]] }));
    const before = store.appliedIndex;
    const e = await rejects(control.removeNetwork('appnet'));
    expect(e.kind).toBe('failed_precondition');
    expect(e.message).toBe('network appnet is in use by services api, web');
    const i = await rejects(control.removeNetwork('ingress'));
    expect(i.message).toBe('ingress network cannot be removed because service edge depends on it');
    expect(store.appliedIndex).toBe(before);
    // A task meant to run there keeps it while its service exists (swarmkit's rule); once the service is
    // removed its tasks are on their way out and no longer do (docker stack rm removes networks right after).
    await control.removeService('api');
    await store.update((tx) =>
      tx.create('task', {
        ...makeTask('t1', control.getService('web').id, 1),
        networks: [{ network: appnet, addresses: ['10.0.1.5/24'], aliases: [], driverAttachmentOpts: {} }],
        status: {
          state: TaskState.TASK_STATE_RUNNING,
          timestamp: 0,
          message: '',
          err: '',
          containerStatus: undefined,
          portStatus: undefined,
        },
      }),
    );
    expect((await rejects(control.removeNetwork(appnet.id))).message).toBe(
      'network appnet is in use by service web',
    );
    await control.removeService('web'); // t1 still running: it no longer holds the network
    await control.removeNetwork(appnet.id.slice(0, 5));
    expect((await rejects(Promise.resolve().then(() => control.getNetwork('appnet')))).kind).toBe(
      'not_found',
    );
    // Without publishing services, ingress can go; then publishing is refused until one exists again.
    await control.removeService('edge');
    await control.removeNetwork('ingress');
    const p = await rejects(control.createService(svc('edge2', { ports: [[8081]] })));
    expect(p.message).toBe('service needs ingress network, but no ingress network is present');
    await control.createNetwork(net('ingress2', { ingress: true }));
    await control.createService(svc('edge2', { ports: [[8081]] }));
  });

  it("services: unknown network, ingress named explicitly, port conflicts with docker's messages, dnsrr with ingress ports", async () => {
    const { store, control } = await setup();
    await control.createNetwork(net('appnet'));
    const web = await control.createService(svc('web', { ports: [[8080]] }));
    await control.createService(svc('hosty', { ports: [[9090, PublishMode.PUBLISH_MODE_HOST]] }));
    const before = store.appliedIndex;
    const cases: [ServiceSpec, string, string][] = [
      [svc('a', { networks: ['nope'] }), 'spec.task_template.networks[0]', 'network nope not found'],
      [
        svc('a', { networks: ['ingress'] }),
        'spec.task_template.networks[0]',
        'cannot be explicitly attached to the ingress network',
      ],
      [svc('a', { networks: ['appnet', 'appnet'] }), 'spec.task_template.networks[1]', 'named twice'],
      [
        svc('a', { ports: [[8080]] }),
        'spec.endpoint_spec.ports[0].published_port',
        `port '8080' is already in use by service 'web' (${web.id}) as an ingress port`,
      ],
      [
        svc('a', { ports: [[8080, PublishMode.PUBLISH_MODE_HOST]] }),
        'spec.endpoint_spec.ports[0].published_port',
        `port '8080' is already in use by service 'web' (${web.id}) as an ingress port`,
      ],
      [
        svc('a', { ports: [[9090]] }),
        'spec.endpoint_spec.ports[0].published_port',
        'as a host-published port',
      ],
      [svc('a', { ports: [[7000], [7000]] }), 'spec.endpoint_spec.ports[1]', 'duplicate published port 7000'],
      [
        svc('a', { ports: [[7000]], dnsrr: true }),
        'spec.endpoint_spec.mode',
        "port published with ingress mode can't be used with dnsrr mode",
      ],
    ];
    for (const [spec, field, msg] of cases) {
      const e = await rejects(control.createService(spec));
      expect({ field: e.field, msg: e.message }).toMatchObject({ field, msg: expect.stringContaining(msg) });
    }
    expect(store.appliedIndex).toBe(before);
    // Host-mode ports may repeat (the scheduler keeps them apart); an update keeping its own port is fine.
    await control.createService(svc('hosty2', { ports: [[9090, PublishMode.PUBLISH_MODE_HOST]] }));
    const cur = control.getService('web');
    await control.updateService('web', cur.meta!.version, {
      ...cur.spec!,
      annotations: cur.spec!.annotations,
    });
  });

  it('list filters (name, id, label, driver, scope, type, dangling) and prune (not ingress, not in use)', async () => {
    const { control } = await setup();
    const a = await control.createNetwork(
      net('front', { annotations: { name: 'front', labels: { team: 'a' } } }),
    );
    await control.createNetwork(net('back', { annotations: { name: 'back', labels: { team: 'b' } } }));
    await control.createService(svc('web', { networks: ['back'] }));
    const names = (f: Record<string, string[]>) =>
      control
        .listNetworks(f)
        .map((n) => n.spec?.annotations?.name)
        .sort();
    expect(names({})).toEqual(['back', 'front', 'ingress']);
    expect(names({ name: ['ron'] })).toEqual(['front']);
    expect(names({ id: [a.id.slice(0, 6)] })).toEqual(['front']);
    expect(names({ label: ['team=b'] })).toEqual(['back']);
    expect(names({ label: ['team'] })).toEqual(['back', 'front']);
    expect(names({ driver: ['overlay'] })).toEqual(['back', 'front', 'ingress']);
    expect(names({ driver: ['bridge'] })).toEqual([]);
    expect(names({ scope: ['local'] })).toEqual([]);
    expect(names({ type: ['custom'] })).toEqual(['back', 'front', 'ingress']);
    expect(names({ dangling: ['true'] })).toEqual(['front']);
    expect(() => control.listNetworks({ colour: ['x'] })).toThrow("invalid filter 'colour'");
    expect(() => control.listNetworks({ type: ['odd'] })).toThrow("'type'='odd'");
    expect(await control.pruneNetworks({ label: ['team=x'] })).toEqual([]);
    expect(await control.pruneNetworks()).toEqual(['front']);
    expect(names({})).toEqual(['back', 'ingress']);
  });

  it("a removed network's subnet and VXLAN id are not reused while its tasks still run (their nodes hold the overlay)", async () => {
    const { store, control } = await setup();
    const vni = (n: { driverState?: { options: Record<string, string> } }) =>
      n.driverState?.options['com.docker.network.driver.overlay.vxlanid_list'];
    const a = await control.createNetwork(net('old'));
    // A task of a removed service, stopping with its copy of the network (network rm does not wait for it).
    const t = makeTask('t1', 'gone', 1, 'n1');
    await store.update((tx) => {
      tx.create('task', {
        ...t,
        desiredState: TaskState.TASK_STATE_SHUTDOWN,
        status: { ...t.status!, state: TaskState.TASK_STATE_RUNNING },
        networks: [{ network: a, addresses: ['10.0.1.2/24'], aliases: [], driverAttachmentOpts: {} }],
      });
    });
    await control.removeNetwork('old');
    const b = await control.createNetwork(net('new'));
    expect(vni(b)).not.toBe(vni(a));
    expect(b.ipam?.configs[0]?.subnet).not.toBe(a.ipam?.configs[0]?.subnet);
    expect(
      (await rejects(control.createNetwork(net('mine', { subnet: a.ipam!.configs[0]!.subnet })))).message,
    ).toMatch(/overlaps .* of network old \(removed; its tasks are still stopping\)/);
    // Once it stopped, both are free again.
    await store.update((tx) => {
      const x = tx.get('task', 't1')!;
      tx.update('task', { ...x, status: { ...x.status!, state: TaskState.TASK_STATE_SHUTDOWN } });
    });
    const c = await control.createNetwork(net('later'));
    expect(vni(c)).toBe(vni(a));
    expect(c.ipam?.configs[0]?.subnet).toBe(a.ipam?.configs[0]?.subnet);
  });

  it('property: whatever is asked, no two networks ever hold overlapping subnets or the same VXLAN id', async () => {
    const subnet = fc.oneof(
      fc.constant(''),
      fc
        .tuple(
          fc.integer({ min: 0, max: 3 }),
          fc.integer({ min: 0, max: 3 }),
          fc.integer({ min: 22, max: 26 }),
        )
        .map(([a, b, p]) => {
          const base = ((10 << 24) | (a << 16) | (b << 8)) >>> 0;
          const size = 2 ** (32 - p);
          const aligned = Math.floor(base / size) * size;
          return `${[aligned >>> 24, (aligned >>> 16) & 255, (aligned >>> 8) & 255, aligned & 255].join('.')}/${p}`;
        }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(subnet, fc.boolean()), { maxLength: 10 }), async (asks) => {
        const { control } = await setup();
        let i = 0;
        for (const [s, rm] of asks) {
          try {
            await control.createNetwork(net(`n${++i}`, s ? { subnet: s } : {}));
          } catch (err) {
            if (!isShoalError(err, 'invalid_argument')) throw err;
          }
          const all = control.listNetworks();
          if (rm && all.length > 1) await control.removeNetwork(all.find((n) => !n.spec?.ingress)!.id);
        }
        const all = control.listNetworks();
        const subs = all.map((n) => parseCidr(n.ipam!.configs[0]!.subnet)!);
        for (let x = 0; x < subs.length; x++)
          for (let y = x + 1; y < subs.length; y++) expect(overlaps(subs[x]!, subs[y]!)).toBe(false);
        const vnis = all.map((n) => n.driverState!.options['com.docker.network.driver.overlay.vxlanid_list']);
        expect(new Set(vnis).size).toBe(vnis.length);
      }),
      { numRuns: 60 },
    );
  });
});
