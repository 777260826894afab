// The load balancer against the real kernel: rules applied to a table in a "node" namespace the test
// creates, real HTTP/UDP backends in their own namespaces, a client namespace asking the VIP and the
// published ports. Nothing leaves the test's namespaces.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isShoalError } from '../../common/errors.js';
import { LbController, type LbState, nftCommand } from '../../worker/network/lb/index.js';
import { NetBed, TCP_PORT, UDP_PORT } from './netbed.js';

const root = process.getuid?.() === 0;
const VIP = '10.99.0.10';
const EMPTY_VIP = '10.99.0.11';

describe.skipIf(!root)('nftables load balancer in network namespaces', () => {
  const bed = new NetBed();
  const table = { family: 'inet' as const, name: 'shoaltest' };
  let lb: LbController;
  let l1: { address: string; local: boolean };
  let l2: { address: string; local: boolean };
  let r: { address: string; local: boolean };

  const state = (backends: { address: string; local: boolean }[], extra: Partial<LbState> = {}): LbState => ({
    services: [
      {
        id: 'web',
        vip: VIP,
        ports: [
          { protocol: 'tcp', port: TCP_PORT },
          { protocol: 'udp', port: UDP_PORT },
        ],
        backends,
      },
      { id: 'empty', vip: EMPTY_VIP, ports: [{ protocol: 'tcp', port: TCP_PORT }], backends: [] },
    ],
    published: [
      { protocol: 'tcp', published: 8080, target: TCP_PORT, mode: 'ingress', backends },
      { protocol: 'udp', published: 5353, target: UDP_PORT, mode: 'ingress', backends },
    ],
    hairpinSubnets: [bed.bridgeSubnet],
    ...extra,
  });

  const names = (answers: string[]) => answers.map((a) => a.split(' ')[0]);
  const counts = (answers: string[]) => {
    const m: Record<string, number> = {};
    for (const n of names(answers)) m[n] = (m[n] ?? 0) + 1;
    return m;
  };

  beforeAll(async () => {
    await bed.create(2);
    bed.nft(['add', 'table', table.family, table.name]);
    lb = new LbController(table, nftCommand({ prefix: ['nsenter', bed.ns(bed.node), '--'] }));
    l1 = { address: bed.local[0].address, local: true };
    l2 = { address: bed.local[1].address, local: true };
    r = { address: bed.remote.address, local: false };
  });
  afterAll(async () => {
    await bed.destroy();
    expect(bed.leftovers()).toEqual([]);
  });

  it('N requests to VIP:port reach every backend in turn; local backends see the client, the remote one the node', async () => {
    await lb.sync(state([l1, l2, r]));
    const answers = bed.requests('http', VIP, TCP_PORT, 9);
    expect(counts(answers)).toEqual({ local1: 3, local2: 3, remote: 3 });
    for (const a of answers) {
      const [name, source] = a.split(' ');
      // The client's address is kept when the backend is local; a remote backend sees the node's address.
      expect(source).toBe(name === 'remote' ? bed.remoteLinkAddress : bed.clientAddress);
    }
  });

  it('UDP to the VIP reaches every backend too', () => {
    expect(counts(bed.requests('udp', VIP, UDP_PORT, 6))).toEqual({ local1: 2, local2: 2, remote: 2 });
  });

  it('a published port answers on the node address and reaches all backends (TCP and UDP)', () => {
    expect(counts(bed.requests('http', bed.nodeAddress, 8080, 6))).toEqual({
      local1: 2,
      local2: 2,
      remote: 2,
    });
    expect(counts(bed.requests('udp', bed.nodeAddress, 5353, 6))).toEqual({
      local1: 2,
      local2: 2,
      remote: 2,
    });
    // The port that is not published is not redirected anywhere.
    expect(bed.requests('http', bed.nodeAddress, 8081, 1)[0]).toMatch(/^ERR:/);
  });

  it('the node itself reaches the VIP and its own published ports (the output hook)', () => {
    // A socket needs some route to the VIP before our output chain rewrites the destination.
    bed.exec(bed.node, ['ip', 'route', 'replace', '10.99.0.0/24', 'dev', `${bed.prefix}br`]);
    expect(counts(bed.requests('http', VIP, TCP_PORT, 3, bed.node))).toEqual({
      local1: 1,
      local2: 1,
      remote: 1,
    });
    expect(counts(bed.requests('http', bed.nodeAddress, 8080, 3, bed.node))).toEqual({
      local1: 1,
      local2: 1,
      remote: 1,
    });
    expect(counts(bed.requests('udp', bed.nodeAddress, 5353, 3, bed.node))).toEqual({
      local1: 1,
      local2: 1,
      remote: 1,
    });
  });

  it('a client on the backends own bridge reaches the VIP (hairpin masquerade)', () => {
    const answers = bed.requests('http', VIP, TCP_PORT, 6, bed.hairpinClient);
    expect(counts(answers)).toEqual({ local1: 2, local2: 2, remote: 2 });
    for (const a of answers) expect(a.split(' ')[1]).not.toBe(bed.hairpinAddress);
  });

  it('without the hairpin subnet, the same client cannot (the reply bypasses the node): the rule matters', async () => {
    await lb.update(state([l1, l2], { hairpinSubnets: [] }));
    expect(bed.requests('http', VIP, TCP_PORT, 2, bed.hairpinClient).every((a) => a.startsWith('ERR:'))).toBe(
      true,
    );
    await lb.update(state([l1, l2, r]));
  });

  it('a backend leaving gets no new connection, requests keep succeeding, its open connection continues', async () => {
    await lb.sync(state([l1, l2, r]));
    // Hold a connection to whichever backend it lands on; take it away and check the connection survives.
    const kept = bed.keepAlive(VIP, TCP_PORT);
    const firstAnswer = await kept.first;
    const holder = firstAnswer.split(' ')[0];
    const remaining = [l1, l2, r].filter(
      (b) => b.address !== { local1: l1, local2: l2, remote: r }[holder]!.address,
    );
    const before = bed.nft(['list', 'chain', table.family, table.name, 'lb_v_web']);
    await lb.update(state(remaining));
    expect(bed.nft(['list', 'chain', table.family, table.name, 'lb_v_web'])).not.toBe(before);
    const answers = bed.requests('http', VIP, TCP_PORT, 8);
    expect(answers.every((a) => !a.startsWith('ERR'))).toBe(true);
    expect(names(answers)).not.toContain(holder);
    expect(new Set(names(answers)).size).toBe(2);
    expect((await kept.next()).split(' ')[0]).toBe(holder);
    kept.close();
    // And it comes back.
    await lb.update(state([l1, l2, r]));
    expect(new Set(names(bed.requests('http', VIP, TCP_PORT, 6)))).toEqual(
      new Set(['local1', 'local2', 'remote']),
    );
  });

  it('a UDP client keeping its socket moves off a departed backend (its conntrack flow is forgotten)', async () => {
    await lb.update(state([l1, l2, r]));
    const kept = bed.keepAlive(VIP, UDP_PORT, 'udp');
    const holder = (await kept.first).split(' ')[0];
    expect((await kept.next()).split(' ')[0]).toBe(holder); // the flow sticks to its backend
    const byName = { local1: l1, local2: l2, remote: r } as Record<string, typeof l1>;
    await lb.update(state([l1, l2, r].filter((b) => b !== byName[holder])));
    const after = (await kept.next()).split(' ')[0];
    expect(after).not.toBe(holder);
    expect(Object.keys(byName)).toContain(after);
    kept.close();
    await lb.update(state([l1, l2, r]));
  });

  it('the update is one map and one rule, not a rebuild: other frontends keep their objects', async () => {
    const handlesBefore = bed.nft(['-a', 'list', 'chain', table.family, table.name, 'lb_p_tcp_8080']);
    await lb.update(state([l1, l2, r], { services: [state([l1]).services[0], state([]).services[1]] }));
    // The published port's chain (same backends) is untouched: the same rule handle.
    expect(bed.nft(['-a', 'list', 'chain', table.family, table.name, 'lb_p_tcp_8080'])).toBe(handlesBefore);
    expect(counts(bed.requests('http', VIP, TCP_PORT, 3))).toEqual({ local1: 3 });
    await lb.update(state([l1, l2, r]));
  });

  it('a service with no backend refuses at once (TCP reset), it does not hang', () => {
    expect(bed.requests('http', EMPTY_VIP, TCP_PORT, 1)).toEqual(['ERR:ECONNREFUSED']);
  });

  it('host mode publishes only local tasks', async () => {
    const s = state([l1, l2, r]);
    await lb.update({
      ...s,
      published: [{ protocol: 'tcp', published: 9090, target: TCP_PORT, mode: 'host', backends: [l2] }],
    });
    expect(counts(bed.requests('http', bed.nodeAddress, 9090, 3))).toEqual({ local2: 3 });
    expect(bed.requests('http', bed.nodeAddress, 8080, 1)[0]).toMatch(/^ERR:/); // gone with its entry
    await lb.update(s);
  });

  it('bad inputs are refused naming the field, and the kernel keeps the last good state', async () => {
    const good = state([l1, l2, r]);
    const before = bed.nft(['list', 'table', table.family, table.name]);
    const bad: [LbState, string][] = [
      [state([{ address: '10.201.0.300', local: true }]), 'services[0].backends[0].address'],
      [
        { ...good, services: [{ ...good.services[0], ports: [{ protocol: 'tcp', port: -1 }] }] },
        'services[0].ports[0].port', // 0 is valid: every port
      ],
      [
        { ...good, services: [{ ...good.services[0], ports: [{ protocol: 'tcp', port: 70000 }] }] },
        'services[0].ports[0].port',
      ],
      [
        { ...good, services: [{ ...good.services[0], ports: [{ protocol: '' as 'tcp', port: 80 }] }] },
        'services[0].ports[0].protocol',
      ],
      [{ ...good, services: [{ ...good.services[0], vip: 'web' }] }, 'services[0].vip'],
      [{ ...good, services: [{ ...good.services[0], id: 'we b' }] }, 'services[0].id'],
      [
        { ...good, published: [{ ...good.published[0], mode: 'host', backends: [r] }] },
        'published[0].backends[0].local',
      ],
      [{ ...good, published: [{ ...good.published[0], target: 65536 }] }, 'published[0].target'],
      [{ ...good, published: [good.published[0], good.published[0]] }, 'published[1].published'],
      [{ ...good, hairpinSubnets: ['10.201.0.1/24'] }, 'hairpinSubnets[0]'],
      [state([l1, l1]), 'services[0].backends[1].address'],
    ];
    for (const [s, field] of bad) {
      const err = await lb.update(s).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isShoalError(err, 'invalid_argument') && err.field, field).toBe(field);
    }
    expect(bed.nft(['list', 'table', table.family, table.name])).toBe(before);
    expect(() => new LbController({ family: 'bridge' as 'ip', name: 't' })).toThrow(/table.family/);
  });

  it('an nft failure surfaces as a ShoalError and the next update rebuilds', async () => {
    const broken = new LbController({ family: 'inet', name: 'nosuchtable' }, lb['executor' as never]);
    await expect(broken.sync(state([l1]))).rejects.toSatisfy((e) => isShoalError(e, 'failed_precondition'));
    // Someone deletes one of our chains behind our back: the incremental update fails, the next one resyncs.
    bed.nft(['flush', 'chain', table.family, table.name, 'lb_v_empty']);
    bed.nft([
      'delete',
      'element',
      table.family,
      table.name,
      'lb_vips',
      `{ ${EMPTY_VIP} . tcp . ${TCP_PORT} }`,
    ]);
    bed.nft(['delete', 'chain', table.family, table.name, 'lb_v_empty']);
    const s = state([l1, l2, r]);
    const withoutEmpty = { ...s, services: [s.services[0]] };
    await expect(lb.update(withoutEmpty)).rejects.toSatisfy((e) => isShoalError(e, 'internal'));
    await lb.update(withoutEmpty);
    expect(counts(bed.requests('http', VIP, TCP_PORT, 3))).toEqual({ local1: 1, local2: 1, remote: 1 });
  });

  it('sync over stale objects of an earlier run rebuilds; clear leaves none of ours, only the table', async () => {
    const again = new LbController(table, nftCommand({ prefix: ['nsenter', bed.ns(bed.node), '--'] }));
    await again.sync(state([l2]));
    expect(counts(bed.requests('http', VIP, TCP_PORT, 2))).toEqual({ local2: 2 });
    await again.clear();
    const left = bed.nft(['list', 'table', table.family, table.name]);
    expect(left).not.toMatch(/lb_/);
    expect(bed.requests('http', VIP, TCP_PORT, 1)[0]).toMatch(/^ERR:/);
  });

  it('hooks: false: base chains of the caller jump to ours jump to ours, and it works the same', async () => {
    const t2 = { family: 'ip' as const, name: 'callerowned' };
    const own = [
      `add table ip ${t2.name}`,
      `add chain ip ${t2.name} pre { type nat hook prerouting priority dstnat; }`,
      `add chain ip ${t2.name} post { type nat hook postrouting priority srcnat; }`,
    ];
    const lb2 = new LbController(t2, nftCommand({ prefix: ['nsenter', bed.ns(bed.node), '--'] }), {
      hooks: false,
    });
    try {
      for (const cmd of own) bed.nft(cmd.split(' '));
      await lb2.sync(state([l1, r]));
      expect(bed.requests('http', VIP, TCP_PORT, 1)[0]).toMatch(/^ERR:/); // nothing jumps to us yet
      bed.nft(['add', 'rule', 'ip', t2.name, 'pre', 'jump', 'lb_prerouting']);
      bed.nft(['add', 'rule', 'ip', t2.name, 'post', 'jump', 'lb_postrouting']);
      expect(counts(bed.requests('http', VIP, TCP_PORT, 4))).toEqual({ local1: 2, remote: 2 });
    } finally {
      bed.nft(['delete', 'table', 'ip', t2.name]);
    }
  });
});
