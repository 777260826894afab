// Which nodes get which network plans, and what a plan says, from store objects.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Network, Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { EndpointMode, PublishMode, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { ReadTx } from '../store/index.js';
import { NetworkPlans, planFingerprint, touchesNetworkPlans } from './networks.js';

const net = (id: string, ingress = false) =>
  Network.fromPartial({
    id,
    spec: { annotations: { name: id }, ingress },
    ipam: { configs: [{ subnet: '10.0.1.0/24' }] },
  });
const node = (id: string, addr: string, attachments: [Network, string][]) =>
  Node.fromPartial({
    id,
    status: { addr },
    attachments: attachments.map(([network, a]) => ({ network, addresses: [a] })),
  });
const task = (
  id: string,
  nodeId: string,
  network: Network,
  addr: string,
  state: TaskState,
  aliases: string[] = [],
) =>
  Task.fromPartial({
    id,
    serviceId: 's1',
    nodeId,
    slot: 1,
    serviceAnnotations: { name: 'web' },
    desiredState: TaskState.TASK_STATE_RUNNING,
    status: { state },
    networks: [{ network, addresses: [addr], aliases }],
  });

function view(objs: { node?: Node[]; task?: Task[]; service?: Service[]; network?: Network[] }): ReadTx {
  return { list: (t: keyof typeof objs) => objs[t] ?? [] } as unknown as ReadTx;
}

describe('network plans', () => {
  const app = net('app');
  const ingress = net('ing', true);
  const nodes = [
    node('n1', '192.168.0.1', [
      [app, '10.0.1.2/24'],
      [ingress, '10.0.0.2/24'],
    ]),
    node('n2', '192.168.0.2', [
      [app, '10.0.1.3/24'],
      [ingress, '10.0.0.3/24'],
    ]),
    node('n3', '192.168.0.3', [[ingress, '10.0.0.4/24']]),
  ];
  const svc = Service.fromPartial({
    id: 's1',
    spec: { annotations: { name: 'web' }, endpointSpec: { mode: EndpointMode.ENDPOINT_MODE_VIP } },
    endpoint: { virtualIps: [{ networkId: 'app', addr: '10.0.1.4/24' }] },
  });
  const tasks = [
    task('t1', 'n1', app, '10.0.1.5/24', TaskState.TASK_STATE_RUNNING, ['w']),
    task('t2', 'n2', app, '10.0.1.6/24', TaskState.TASK_STATE_ASSIGNED),
    task('t3', 'n2', app, '10.0.1.7/24', TaskState.TASK_STATE_FAILED),
  ];

  it('goes only to nodes with a task on the network; ingress only while ports are published', () => {
    const p = new NetworkPlans(view({ node: nodes, task: tasks, service: [svc], network: [app, ingress] }));
    expect([...p.plansFor('n1').keys()]).toEqual(['app']);
    expect([...p.plansFor('n2').keys()]).toEqual(['app']);
    expect([...p.plansFor('n3').keys()]).toEqual([]);
    const published = Service.fromPartial({
      ...svc,
      endpoint: {
        ...svc.endpoint,
        ports: [{ publishedPort: 8080, targetPort: 80, publishMode: PublishMode.PUBLISH_MODE_INGRESS }],
      },
    });
    const q = new NetworkPlans(
      view({ node: nodes, task: tasks, service: [published], network: [app, ingress] }),
    );
    expect([...q.plansFor('n3').keys()]).toEqual(['ing']);
  });

  it('says the node, its address, live endpoints with their VTEPs, and the services', () => {
    const plan = new NetworkPlans(view({ node: nodes, task: tasks, service: [svc], network: [app] }))
      .plansFor('n1')
      .get('app')!;
    expect(plan.nodeId).toBe('n1');
    expect(plan.localAddress).toBe('10.0.1.2/24');
    expect(plan.endpoints.map((e) => [e.address, e.nodeAddr, e.taskId, e.running])).toEqual([
      ['10.0.1.2', '192.168.0.1', '', false],
      ['10.0.1.3', '192.168.0.2', '', false],
      ['10.0.1.5', '192.168.0.1', 't1', true],
      ['10.0.1.6', '192.168.0.2', 't2', false], // placed, not running yet: forwarded to, not balanced to
    ]);
    expect(plan.endpoints[2]?.name).toBe('web.1.t1');
    expect(plan.services).toEqual([
      { id: 's1', name: 'web', vip: '10.0.1.4', dnsrr: false, aliases: ['w'], ports: [] },
    ]);
    // The same store gives the same bytes (a worker is not sent an unchanged plan again).
    const again = new NetworkPlans(view({ node: nodes, task: tasks, service: [svc], network: [app] }))
      .plansFor('n1')
      .get('app')!;
    expect(planFingerprint(again)).toBe(planFingerprint(plan));
  });
});

describe('which store changes can change a plan', () => {
  const app = net('app');
  const nodes = [node('n1', '192.168.0.1', [[app, '10.0.1.2/24']]), node('n2', '192.168.0.2', [])];
  const svc = Service.fromPartial({ id: 's1', spec: { annotations: { name: 'web' } } });
  const allPlans = (tasks: Task[]) => {
    const p = new NetworkPlans(view({ node: nodes, task: tasks, service: [svc], network: [app] }));
    return ['n1', 'n2'].map((n) => [...p.plansFor(n)].map(([id, plan]) => [id, planFingerprint(plan)]));
  };
  const states = [
    TaskState.TASK_STATE_NEW,
    TaskState.TASK_STATE_ASSIGNED,
    TaskState.TASK_STATE_PREPARING,
    TaskState.TASK_STATE_RUNNING,
    TaskState.TASK_STATE_FAILED,
    TaskState.TASK_STATE_SHUTDOWN,
  ];
  const anyTask = fc.record({
    nodeId: fc.constantFrom('', 'n1', 'n2'),
    state: fc.constantFrom(...states),
    desired: fc.constantFrom(TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_SHUTDOWN),
    onNet: fc.boolean(),
    addr: fc.constantFrom('10.0.1.7/24', '10.0.1.8/24'),
    aliases: fc.constantFrom([], ['a']),
    message: fc.constantFrom('', 'started'),
    runningSince: fc.nat(3),
  });
  const build = (x: typeof anyTask extends fc.Arbitrary<infer T> ? T : never) => {
    const t = task('t9', x.nodeId, app, x.addr, x.state, [...x.aliases]);
    return Task.fromPartial({
      ...t,
      desiredState: x.desired,
      status: { state: x.state, message: x.message },
      runningSince: x.runningSince,
      networks: x.onNet ? t.networks : [],
    });
  };

  it('a change it calls harmless leaves every plan as it was (property)', () => {
    fc.assert(
      fc.property(anyTask, anyTask, (a, b) => {
        const before = build(a);
        const after = build(b);
        const e = { table: 'task', kind: 'update', object: after, previous: before, index: 2 } as const;
        if (!touchesNetworkPlans(e)) expect(allPlans([after])).toEqual(allPlans([before]));
      }),
      { numRuns: 500 },
    );
  });

  it('status reports of tasks on no network and node changes other than address and attachments are harmless', () => {
    const plain = (state: TaskState) =>
      Task.fromPartial({
        id: 'p',
        nodeId: 'n1',
        desiredState: TaskState.TASK_STATE_RUNNING,
        status: { state },
      });
    expect(
      touchesNetworkPlans({
        table: 'task',
        kind: 'update',
        previous: plain(TaskState.TASK_STATE_PREPARING),
        object: plain(TaskState.TASK_STATE_RUNNING),
        index: 2,
      }),
    ).toBe(false);
    const n = nodes[0]!;
    const described = Node.fromPartial({ ...n, description: { hostname: 'h' } });
    expect(
      touchesNetworkPlans({ table: 'node', kind: 'update', previous: n, object: described, index: 2 }),
    ).toBe(false);
    const moved = Node.fromPartial({ ...n, status: { addr: '192.168.0.9' } });
    expect(touchesNetworkPlans({ table: 'node', kind: 'update', previous: n, object: moved, index: 2 })).toBe(
      true,
    );
    // a task on a network starting to run changes its endpoint (now balanced to)
    const onNet = (state: TaskState) => task('t1', 'n1', app, '10.0.1.5/24', state);
    expect(
      touchesNetworkPlans({
        table: 'task',
        kind: 'update',
        previous: onNet(TaskState.TASK_STATE_PREPARING),
        object: onNet(TaskState.TASK_STATE_RUNNING),
        index: 2,
      }),
    ).toBe(true);
  });
});
