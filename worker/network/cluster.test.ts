// The pure parts of the swarm dataplane: what a plan becomes (overlay spec, names, load-balancer state)
// and the netlink operations between two programmed states.
import { describe, expect, it } from 'vitest';
import { clusterNamesOf, lbStateOf, type NetworkPlanView, overlaySpecOf } from './cluster.js';
import { buildLbScript } from './lb/index.js';
import { overlayDevices, peerOps, vipOps } from './overlay.js';

const ep = (address: string, nodeId: string, extra: Partial<NetworkPlanView['endpoints'][0]> = {}) => ({
  address,
  nodeId,
  nodeAddr: `192.168.0.${nodeId.slice(1)}`,
  taskId: '',
  serviceId: '',
  running: false,
  name: '',
  aliases: [],
  ...extra,
});

const plan = (over: Partial<NetworkPlanView> = {}): NetworkPlanView => ({
  id: 'net1aaaaaaaaaaaa',
  name: 'app',
  vni: 4097,
  subnet: '10.0.1.0/24',
  gateway: '10.0.1.1',
  internal: false,
  attachable: false,
  ingress: false,
  nodeId: 'n1',
  local: '10.0.1.2/24',
  endpoints: [
    ep('10.0.1.2', 'n1'),
    ep('10.0.1.3', 'n2'),
    ep('10.0.1.5', 'n1', { taskId: 't1', serviceId: 's1', running: true, name: 'web.1.t1' }),
    ep('10.0.1.6', 'n2', { taskId: 't2', serviceId: 's1', running: true, name: 'web.2.t2', aliases: ['w'] }),
    ep('10.0.1.7', 'n2', { taskId: 't3', serviceId: 's1', running: false, name: 'web.3.t3' }),
    ep('10.0.1.8', 'n2', { taskId: 't4', serviceId: 's2', running: true, name: 'rr.1.t4' }),
  ],
  services: [
    { id: 's1', name: 'web', vip: '10.0.1.4', dnsrr: false, aliases: ['www'], ports: [] },
    { id: 's2', name: 'rr', vip: '', dnsrr: true, aliases: [], ports: [] },
  ],
  ...over,
});

describe('a plan as an overlay', () => {
  it("peers are the other nodes' endpoints (running or not: an address answers ARP as long as it is held), VIPs of vip-mode services", () => {
    const s = overlaySpecOf(plan());
    expect(s.peers).toEqual([
      { ip: '10.0.1.3', vtep: '192.168.0.2' },
      { ip: '10.0.1.6', vtep: '192.168.0.2' },
      { ip: '10.0.1.7', vtep: '192.168.0.2' },
      { ip: '10.0.1.8', vtep: '192.168.0.2' },
    ]);
    expect(s.vips).toEqual(['10.0.1.4']);
    expect(s.local).toBe('10.0.1.2/24');
    expect(overlaySpecOf(plan({ ingress: true })).vips).toEqual([]); // ingress VIPs are not served
  });

  it('devices fit IFNAMSIZ', () => {
    const d = overlayDevices('0123456789abcdefghijklmnopqrstu');
    expect(d).toEqual({ bridge: 'shob0123456789', vxlan: 'shox0123456789' });
  });

  it('programs only the differences, removals first (a moved peer is deleted then added)', () => {
    const before = [
      { ip: '10.0.1.3', vtep: '192.168.0.2' },
      { ip: '10.0.1.9', vtep: '192.168.0.3' },
    ];
    const after = [
      { ip: '10.0.1.3', vtep: '192.168.0.2' },
      { ip: '10.0.1.9', vtep: '192.168.0.4' },
    ];
    expect(peerOps('vx', before, after)).toEqual([
      { op: 'fdb-del', dev: 'vx', mac: '02:42:0a:00:01:09', ip: '192.168.0.3' },
      { op: 'neigh-del', dev: 'vx', ip: '10.0.1.9' },
      { op: 'neigh-add', dev: 'vx', ip: '10.0.1.9', mac: '02:42:0a:00:01:09' },
      { op: 'fdb-add', dev: 'vx', mac: '02:42:0a:00:01:09', ip: '192.168.0.4' },
    ]);
    expect(peerOps('vx', after, after)).toEqual([]);
    expect(vipOps('br', ['10.0.1.4'], ['10.0.1.10'])).toEqual([
      { op: 'addr-del', name: 'br', ip: '10.0.1.4', prefix: 32 },
      { op: 'addr-add', name: 'br', ip: '10.0.1.10', prefix: 32 },
    ]);
  });
});

describe('a plan as names', () => {
  it('services by VIP, dnsrr and tasks. by running tasks; remote running tasks by name and alias', () => {
    const n = clusterNamesOf(plan());
    expect(n.services).toEqual([
      {
        name: 'web',
        endpointMode: 'vip',
        vip: '10.0.1.4',
        tasks: ['10.0.1.5', '10.0.1.6'],
        aliases: ['www'],
      },
      { name: 'rr', endpointMode: 'dnsrr', tasks: ['10.0.1.8'], aliases: [] },
    ]);
    // t1 is local (registered by its container), t3 is not running.
    expect(n.containers.map((c) => c.name)).toEqual(['web.2.t2', 'rr.1.t4']);
    expect(n.containers[0]?.aliases).toEqual(['w']);
    expect(clusterNamesOf(plan({ ingress: true }))).toEqual({ services: [], containers: [] });
  });
});

describe("plans as the load balancer's state", () => {
  it('a VIP per (service, overlay) on every port over running tasks; the mesh from ingress; valid nft', () => {
    const ingress = plan({
      id: 'ingressnet',
      name: 'ingress',
      ingress: true,
      subnet: '10.0.0.0/24',
      endpoints: [
        ep('10.0.0.5', 'n1', { taskId: 't1', serviceId: 's1', running: true }),
        ep('10.0.0.6', 'n2', { taskId: 't2', serviceId: 's1', running: true }),
        ep('10.0.0.7', 'n2', { taskId: 't3', serviceId: 's1', running: false }),
      ],
      services: [
        {
          id: 's1',
          name: 'web',
          vip: '10.0.0.2',
          dnsrr: false,
          aliases: [],
          ports: [
            { protocol: 'tcp', target: 80, published: 8080, mode: 'ingress' },
            { protocol: 'udp', target: 53, published: 5353, mode: 'host' },
          ],
        },
      ],
    });
    const s = lbStateOf([plan(), ingress]);
    expect(s.services).toEqual([
      {
        id: 's1_net1aaaaaaaaaaaa',
        vip: '10.0.1.4',
        ports: [
          { protocol: 'tcp', port: 0 },
          { protocol: 'udp', port: 0 },
        ],
        backends: [
          { address: '10.0.1.5', local: true },
          { address: '10.0.1.6', local: false },
        ],
      },
    ]);
    expect(s.published).toEqual([
      {
        protocol: 'tcp',
        published: 8080,
        target: 80,
        mode: 'ingress',
        backends: [
          { address: '10.0.0.5', local: true },
          { address: '10.0.0.6', local: false },
        ],
      },
    ]);
    expect(s.hairpinSubnets).toEqual(['10.0.0.0/24', '10.0.1.0/24']);
    const script = buildLbScript({ family: 'ip', name: 'shoal_lb' }, s);
    expect(script).toContain('add element ip shoal_lb lb_vips_all { 10.0.1.4 . tcp : goto');
    expect(script).toContain('10.0.1.4 . udp : goto');
  });
});
