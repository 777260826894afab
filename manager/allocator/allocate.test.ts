// The allocator's pure core over a real store (in-memory log): ports, VIPs, task and node addresses, release
// and reuse, a leader change (a fresh pass over the same store decides nothing), and property tests that no
// live address is ever held twice.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { EndpointMode, PortProtocol, PublishMode, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { ControlApi, predefinedIngress } from '../controlapi/index.js';
import { applyDecisions, isEmpty } from '../orchestrator/decisions.js';
import { orchestrate } from '../orchestrator/orchestrate.js';
import { harness, service } from '../orchestrator/testkit.js';
import { node } from '../scheduler/testkit.js';
import { makeCluster } from '../store/testkit.js';
import { NetworkAddresses, taskDead } from './addresses.js';
import { allocate, DYNAMIC_PORT_FIRST } from './allocate.js';
import { parseAddrPrefix, parseCidr } from './ipv4.js';

const S = TaskState;

async function setup() {
  const h = harness();
  const cluster = makeCluster('c1');
  await h.put('cluster', cluster);
  await h.put('network', predefinedIngress('ingress0', cluster));
  const control = new ControlApi(
    h.store,
    undefined,
    () => 0.5,
    () => h.clock.now,
  );
  const appnet = await control.createNetwork({ annotations: { name: 'appnet', labels: {} } } as never);
  let passes = 0;
  const settle = async () => {
    for (let i = 0; i < 30; i++) {
      const d = h.store.view((tx) =>
        allocate(
          tx,
          orchestrate(tx, h.clock.now, () => `t${++passes}`),
          h.clock.now,
        ),
      );
      if (isEmpty(d)) return;
      await h.store.update((tx) => applyDecisions(tx, d));
    }
    throw new Error('did not settle');
  };
  /** What the scheduler would do: bind pending tasks to nodes round-robin. */
  const assign = async (nodes: string[]) => {
    const pending = h.tasks().filter((t) => t.status?.state === S.TASK_STATE_PENDING && !t.nodeId);
    await h.store.update((tx) => {
      pending.forEach((t, i) => {
        tx.update('task', {
          ...t,
          nodeId: nodes[i % nodes.length]!,
          status: { ...t.status!, state: S.TASK_STATE_ASSIGNED },
        });
      });
    });
  };
  return { h, control, appnet, settle, assign };
}

function withNetworks(
  s: Service,
  targets: string[],
  opts: { dnsrr?: boolean; ports?: number[] } = {},
): Service {
  s.spec!.taskTemplate!.networks = targets.map((target) => ({ target, aliases: [], driverOpts: {} }));
  s.spec!.endpointSpec = {
    mode: opts.dnsrr ? EndpointMode.ENDPOINT_MODE_DNSRR : EndpointMode.ENDPOINT_MODE_VIP,
    ports: (opts.ports ?? []).map((p) => ({
      name: '',
      protocol: PortProtocol.PORT_PROTOCOL_TCP,
      targetPort: 80,
      publishedPort: p,
      publishMode: PublishMode.PUBLISH_MODE_INGRESS,
    })),
  };
  s.endpoint = { spec: s.spec!.endpointSpec, ports: [], virtualIps: [] };
  return s;
}

const addrsOn = (tasks: Task[], networkId: string) =>
  tasks.flatMap((t) => t.networks.filter((a) => a.network?.id === networkId).flatMap((a) => a.addresses));

/** Every live holder of an address, per network: no address twice, all inside the range, none the gateway. */
function checkUnique(h: ReturnType<typeof harness>) {
  const seen = new Map<string, string>();
  const hold = (net: string, addr: string, who: string) => {
    const k = `${net} ${parseAddrPrefix(addr)?.addr}`;
    expect(seen.get(k), `${addr} on ${net} held by ${seen.get(k)} and ${who}`).toBeUndefined();
    seen.set(k, who);
    const n = h.store.view((tx) => tx.get('network', net))!;
    const cfg = n.ipam!.configs[0]!;
    const sub = parseCidr(cfg.subnet)!;
    const ip = parseAddrPrefix(addr)!.addr;
    expect(ip).toBeGreaterThan(sub.base);
    expect(addr.startsWith(`${cfg.gateway}/`)).toBe(false);
  };
  h.store.view((tx) => {
    for (const t of tx.list('task'))
      if (!taskDead(t))
        for (const a of t.networks) for (const x of a.addresses) hold(a.network!.id, x, `task ${t.id}`);
    for (const s of tx.list('service'))
      for (const v of s.endpoint?.virtualIps ?? []) hold(v.networkId, v.addr, `service ${s.id}`);
    for (const n of tx.list('node'))
      for (const a of n.attachments) for (const x of a.addresses) hold(a.network!.id, x, `node ${n.id}`);
  });
}

describe('allocate', () => {
  it('a vip service on a network publishing a dynamic port: ports, VIPs, task addresses, node attachments', async () => {
    const { h, appnet, settle, assign } = await setup();
    await h.put('node', node('n1'), node('n2'));
    await h.put('service', withNetworks(service('s1', 'web', { replicas: 3 }), [appnet.id], { ports: [0] }));
    await settle();
    const s = h.store.view((tx) => tx.get('service', 's1'))!;
    expect(s.endpoint!.ports.map((p) => p.publishedPort)).toEqual([DYNAMIC_PORT_FIRST]);
    expect(s.endpoint!.virtualIps).toEqual([
      { networkId: 'ingress0', addr: expect.stringMatching(/^10\.0\.0\.\d+\/24$/) },
      { networkId: appnet.id, addr: expect.stringMatching(/^10\.0\.1\.\d+\/24$/) },
    ]);
    const tasks = h.live('s1');
    expect(tasks.map((t) => t.status?.state)).toEqual([
      S.TASK_STATE_PENDING,
      S.TASK_STATE_PENDING,
      S.TASK_STATE_PENDING,
    ]);
    for (const t of tasks) {
      expect(t.networks.map((a) => a.network?.spec?.annotations?.name)).toEqual(['ingress', 'appnet']);
      expect(t.endpoint?.virtualIps).toEqual(s.endpoint!.virtualIps);
    }
    expect(new Set(addrsOn(tasks, appnet.id)).size).toBe(3);
    // Every node holds an ingress address (the routing mesh); none on appnet until it has a task there.
    const nodesBefore = h.store.view((tx) => tx.list('node'));
    expect(nodesBefore.map((n) => n.attachments.map((a) => a.network?.id))).toEqual([
      ['ingress0'],
      ['ingress0'],
    ]);
    await assign(['n1']);
    await settle();
    const n1 = h.store.view((tx) => tx.get('node', 'n1'))!;
    expect(n1.attachments.map((a) => a.network?.id).sort()).toEqual([appnet.id, 'ingress0'].sort());
    expect(h.store.view((tx) => tx.get('node', 'n2'))!.attachments.map((a) => a.network?.id)).toEqual([
      'ingress0',
    ]);
    checkUnique(h);
    // A fresh pass (a new leader rebuilding from the store) decides nothing.
    expect(
      isEmpty(
        h.store.view((tx) =>
          allocate(
            tx,
            orchestrate(tx, h.clock.now, () => 'x'),
            h.clock.now,
          ),
        ),
      ),
    ).toBe(true);
  });

  it('dnsrr: no VIP, tasks still addressed; a service without networks or ports is left alone', async () => {
    const { h, appnet, settle } = await setup();
    await h.put('service', withNetworks(service('s1', 'db', { replicas: 2 }), ['appnet'], { dnsrr: true }));
    await h.put('service', service('s2', 'plain', { replicas: 2 }));
    await settle();
    const [db, plain] = h.store.view((tx) => [tx.get('service', 's1')!, tx.get('service', 's2')!]);
    expect(db.endpoint?.virtualIps).toEqual([]);
    expect(addrsOn(h.live('s1'), appnet.id)).toHaveLength(2);
    expect(plain.meta?.version).toBe(h.store.view((tx) => tx.get('service', 's2'))!.meta?.version);
    expect(plain.endpoint).toBeUndefined();
    expect(
      h.live('s2').every((t) => t.status?.state === S.TASK_STATE_PENDING && t.networks.length === 0),
    ).toBe(true);
  });

  it('addresses of dead tasks and removed services are reused; a missing network keeps tasks NEW with the reason', async () => {
    const { h, appnet, settle, assign } = await setup();
    await h.put('node', node('n1'));
    await h.put('service', withNetworks(service('s1', 'web', { replicas: 2 }), [appnet.id]));
    await settle();
    await assign(['n1']);
    const [t1] = h.live('s1');
    const freed = t1!.networks[0]!.addresses[0]!;
    // The task fails; the orchestrator shuts it down and makes a replacement, which gets the freed address.
    await h.report(t1!.id, S.TASK_STATE_FAILED);
    await settle();
    const replacement = h.live('s1').find((t) => t.slot === t1!.slot && t.id !== t1!.id)!;
    expect(replacement.networks[0]!.addresses).toEqual([freed]);
    checkUnique(h);
    // Removing the service frees its VIP and (once its tasks are gone) their addresses.
    const vip = h.store.view((tx) => tx.get('service', 's1'))!.endpoint!.virtualIps[0]!.addr;
    await h.store.update((tx) => tx.remove('service', 's1'));
    await settle();
    for (const t of h.tasks('s1')) await h.report(t.id, S.TASK_STATE_SHUTDOWN);
    await settle();
    await h.put('service', withNetworks(service('s2', 'api'), [appnet.id]));
    await settle();
    expect(h.store.view((tx) => tx.get('service', 's2'))!.endpoint!.virtualIps[0]!.addr).toBe(vip);
    // A task whose network vanished from under it waits, saying why.
    await h.put('service', withNetworks(service('s3', 'lost'), ['nosuchnet']));
    await settle();
    expect(h.live('s3')[0]!.status).toMatchObject({
      state: S.TASK_STATE_NEW,
      message: 'waiting for network allocation: its service could not be allocated',
    });
  });

  it('a node keeps its address on a network while tasks bound to it use it; removing the network drops it', async () => {
    const { h, control, appnet, settle, assign } = await setup();
    await h.put('node', node('n1'));
    await h.put('service', withNetworks(service('s1', 'web'), [appnet.id]));
    await settle();
    await assign(['n1']);
    await settle();
    const onAppnet = () =>
      h.store.view((tx) => tx.get('node', 'n1'))!.attachments.filter((a) => a.network?.id === appnet.id);
    expect(onAppnet()).toHaveLength(1);
    // The service goes; its task stops and is deleted: nothing on n1 uses appnet any more.
    await control.removeService('s1');
    await settle();
    for (const t of h.tasks('s1')) await h.report(t.id, S.TASK_STATE_SHUTDOWN);
    await settle();
    expect(h.tasks('s1')).toEqual([]);
    expect(onAppnet()).toEqual([]);
    // Back again, then the network itself is removed (nothing uses it): the attachment goes with it.
    await h.put('service', withNetworks(service('s2', 'api'), [appnet.id]));
    await settle();
    await assign(['n1']);
    await settle();
    expect(onAppnet()).toHaveLength(1);
    await control.removeService('s2');
    await settle();
    for (const t of h.tasks('s2')) await h.report(t.id, S.TASK_STATE_SHUTDOWN);
    await settle();
    await control.removeNetwork('appnet');
    await settle();
    expect(h.store.view((tx) => tx.get('node', 'n1'))!.attachments.map((a) => a.network?.id)).toEqual([
      'ingress0',
    ]);
    checkUnique(h);
  });

  it('the pool rebuilt from the store holds exactly the live addresses (leader failover)', async () => {
    const { h, appnet, settle, assign } = await setup();
    await h.put('node', node('n1'), node('n2'));
    await h.put('service', withNetworks(service('s1', 'web', { replicas: 4 }), [appnet.id]));
    await settle();
    await assign(['n1', 'n2']);
    await settle();
    const rebuilt = h.store.view((tx) => NetworkAddresses.fromView(tx));
    // 4 tasks + 1 VIP + 2 node attachments.
    expect(rebuilt.inUse(appnet.id)).toBe(7);
    // The next address it hands out is one nobody holds.
    const next = rebuilt.take(appnet.id)!;
    const held = h.store.view((tx) => [
      ...addrsOn(tx.list('task'), appnet.id),
      ...tx.list('service').flatMap((s) => s.endpoint!.virtualIps.map((v) => v.addr)),
      ...tx.list('node').flatMap((n) => n.attachments.flatMap((a) => a.addresses)),
    ]);
    expect(held).not.toContain(next);
  });

  it('property: under random creates, scales, failures, removals and placements, no live address is held twice', async () => {
    type Op =
      | { k: 'create'; replicas: number; nets: boolean[]; dnsrr: boolean; port: boolean }
      | { k: 'scale'; which: number; replicas: number }
      | { k: 'fail'; which: number }
      | { k: 'remove'; which: number }
      | { k: 'assign' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        k: fc.constant('create' as const),
        replicas: fc.integer({ min: 0, max: 4 }),
        nets: fc.tuple(fc.boolean(), fc.boolean()),
        dnsrr: fc.boolean(),
        port: fc.boolean(),
      }),
      fc.record({
        k: fc.constant('scale' as const),
        which: fc.nat(9),
        replicas: fc.integer({ min: 0, max: 5 }),
      }),
      fc.record({ k: fc.constant('fail' as const), which: fc.nat(30) }),
      fc.record({ k: fc.constant('remove' as const), which: fc.nat(9) }),
      fc.record({ k: fc.constant('assign' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const { h, control, appnet, settle, assign } = await setup();
        const other = await control.createNetwork({
          annotations: { name: 'other', labels: {} },
          ipam: { configs: [{ subnet: '192.168.7.0/29', range: '', gateway: '', auxAddresses: {} }] },
        } as never);
        await h.put('node', node('n1'), node('n2'));
        let made = 0;
        for (const o of ops) {
          const services = h.store.view((tx) => tx.list('service'));
          if (o.k === 'create') {
            const nets = [appnet.id, other.id].filter((_, i) => o.nets[i]);
            const s = withNetworks(service(`s${++made}`, `svc${made}`, { replicas: o.replicas }), nets, {
              dnsrr: o.dnsrr,
              ports: o.port && !o.dnsrr ? [0] : [],
            });
            await h.put('service', s);
          } else if (o.k === 'scale' && services.length) {
            const s = services[o.which % services.length]!;
            await h.edit('service', s.id, (x) => {
              x.spec!.mode = { $case: 'replicated', value: { replicas: o.replicas } };
            });
          } else if (o.k === 'fail') {
            const live = h.tasks().filter((t) => t.nodeId && t.desiredState <= S.TASK_STATE_RUNNING);
            if (live.length) await h.report(live[o.which % live.length]!.id, S.TASK_STATE_FAILED);
          } else if (o.k === 'remove' && services.length) {
            await h.store.update((tx) => tx.remove('service', services[o.which % services.length]!.id));
          } else if (o.k === 'assign') {
            await assign(['n1', 'n2']);
          }
          await settle();
          // Tasks of gone services stop (what workers report), so their addresses may be reused.
          for (const t of h.tasks())
            if (t.desiredState > S.TASK_STATE_RUNNING && (t.status?.state ?? 0) <= S.TASK_STATE_RUNNING)
              await h.report(t.id, S.TASK_STATE_SHUTDOWN);
          await settle();
          checkUnique(h);
        }
        // A /29 has 5 usable addresses beside its gateway: the allocator never hands out more.
        const onOther = h.store.view((tx) => NetworkAddresses.fromView(tx)).inUse(other.id);
        expect(onOther).toBeLessThanOrEqual(5);
      }),
      { numRuns: 40 },
    );
  });
});
