// The pure builders: what text each change produces (the kernel test in test/network/lb.test.ts runs it).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../../common/errors.js';
import type { LbState, PublishedPort, VipService } from './model.js';
import { buildLbScript, buildLbTeardown, buildLbUpdate, lbObjectNames } from './script.js';

const table = { family: 'inet' as const, name: 'shoal' };
const web: VipService = {
  id: 'web',
  vip: '10.99.0.2',
  ports: [{ protocol: 'tcp', port: 80 }],
  backends: [
    { address: '10.0.1.5', local: true },
    { address: '10.0.2.5', local: false },
  ],
};
const api: VipService = { id: 'api', vip: '10.99.0.3', ports: [{ protocol: 'udp', port: 53 }], backends: [] };
const pub: PublishedPort = {
  protocol: 'tcp',
  published: 8080,
  target: 80,
  mode: 'ingress',
  backends: web.backends,
};
const base: LbState = { services: [web, api], published: [pub], hairpinSubnets: ['10.0.1.0/24'] };

const lines = (s: string) => s.trim().split('\n');

describe('buildLbScript', () => {
  it('creates the shared objects, hook chains and one chain + map per frontend', () => {
    const s = buildLbScript(table, base);
    expect(s).toContain(
      'add chain inet shoal lb_prerouting { type nat hook prerouting priority dstnat; policy accept; }',
    );
    expect(s).toContain(
      'add chain inet shoal lb_postrouting { type nat hook postrouting priority srcnat; policy accept; }',
    );
    expect(s).toContain('add element inet shoal lb_vips { 10.99.0.2 . tcp . 80 : goto lb_v_web }');
    expect(s).toContain('dnat ip to numgen inc mod 2 map @lb_vb_web');
    expect(s).toContain('add element inet shoal lb_vb_web { 0 : 10.0.1.5, 1 : 10.0.2.5 }');
    expect(s).toContain('add element inet shoal lb_pb_tcp_8080 { 0 : 10.0.1.5 . 80, 1 : 10.0.2.5 . 80 }');
    expect(s).toContain('add element inet shoal lb_remote { 10.0.2.5 }');
    expect(s).toContain('add element inet shoal lb_hairpin { 10.0.1.0/24 . 10.0.1.0/24 }');
    expect(s).toContain('add rule inet shoal lb_v_api meta l4proto tcp reject with tcp reset');
    expect(s).toContain('meta mark & 0x00002000 != 0x00002000 return');
  });

  it('hooks: false leaves regular chains for the caller to jump to; markBit is used', () => {
    const s = buildLbScript({ family: 'ip', name: 't' }, base, { hooks: false, markBit: 0x100 });
    expect(s).not.toContain('hook');
    expect(s).toContain('add chain ip t lb_prerouting\n');
    expect(s).toContain('meta mark | 0x00000100');
  });

  it('rejects a bad table or mark naming the field', () => {
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isShoalError(e, 'invalid_argument') ? e.field : 'other';
      }
      return 'none';
    };
    expect(field(() => buildLbScript({ family: 'inet', name: 'x y' }, base))).toBe('table.name');
    expect(field(() => buildLbScript({ family: 'arp' as 'ip', name: 'x' }, base))).toBe('table.family');
    expect(field(() => buildLbScript(table, base, { markBit: 3 }))).toBe('options.markBit');
    expect(field(() => buildLbScript(table, { services: [], published: [] } as unknown as LbState))).toBe(
      'hairpinSubnets',
    );
  });
});

describe('buildLbUpdate', () => {
  it('no change, no script', () => {
    expect(buildLbUpdate(table, base, structuredClone(base))).toBe('');
  });

  it('a backend leaving rewrites that map and that rule only, in one transaction', () => {
    const after = { ...base, services: [{ ...web, backends: [web.backends[0]] }, api] };
    expect(lines(buildLbUpdate(table, base, after))).toEqual([
      'flush map inet shoal lb_vb_web',
      'add element inet shoal lb_vb_web { 0 : 10.0.1.5 }',
      'flush chain inet shoal lb_v_web',
      'add rule inet shoal lb_v_web meta mark set meta mark | 0x00002000 dnat ip to numgen inc mod 1 map @lb_vb_web',
    ]);
  });

  it('the last backend leaving turns the rule into a refusal; the remote set follows the backends', () => {
    const after = { ...base, services: [{ ...web, backends: [] }, api], published: [] };
    const s = lines(buildLbUpdate(table, base, after));
    expect(s).toContain('add rule inet shoal lb_v_web reject');
    expect(s).toContain('delete element inet shoal lb_ports { tcp . 8080 }');
    expect(s.at(-1)).toBe('delete element inet shoal lb_remote { 10.0.2.5 }');
  });

  it('a new remote backend is in the masquerade set before any rule can send to it', () => {
    const after = {
      ...base,
      services: [{ ...web, backends: [...web.backends, { address: '10.0.3.9', local: false }] }, api],
    };
    const s = lines(buildLbUpdate(table, base, after));
    expect(s[0]).toBe('add element inet shoal lb_remote { 10.0.3.9 }');
  });

  it('ports and VIP moves change the dispatch map entries only', () => {
    const after = { ...base, services: [{ ...web, vip: '10.99.0.9' }, api] };
    expect(lines(buildLbUpdate(table, base, after))).toEqual([
      'delete element inet shoal lb_vips { 10.99.0.2 . tcp . 80 }',
      'add element inet shoal lb_vips { 10.99.0.9 . tcp . 80 : goto lb_v_web }',
    ]);
  });

  it('removing a service deletes references before the chain and the map', () => {
    const s = lines(buildLbUpdate(table, base, { ...base, services: [web] }));
    expect(s).toEqual([
      'delete element inet shoal lb_vips { 10.99.0.3 . udp . 53 }',
      'flush chain inet shoal lb_v_api',
      'delete chain inet shoal lb_v_api',
      'delete map inet shoal lb_vb_api',
    ]);
  });

  it('any state produces a script or an invalid_argument naming a field, never another failure', () => {
    const port = fc.oneof(fc.integer({ min: -2, max: 70000 }), fc.constant(Number.NaN));
    const addr = fc.oneof(fc.ipV4(), fc.constantFrom('', '1.2.3', '10.0.0.256', 'x'));
    const backend = fc.record({ address: addr, local: fc.boolean() });
    const svc = fc.record({
      id: fc.oneof(fc.constantFrom('a', 'b', 'web_1'), fc.string({ maxLength: 4 })),
      vip: addr,
      ports: fc.array(fc.record({ protocol: fc.constantFrom('tcp', 'udp', '', 'icmp'), port }), {
        maxLength: 3,
      }),
      backends: fc.array(backend, { maxLength: 3 }),
    });
    const published = fc.record({
      protocol: fc.constantFrom('tcp', 'udp', 'sctp'),
      published: port,
      target: port,
      mode: fc.constantFrom('ingress', 'host', 'x'),
      backends: fc.array(backend, { maxLength: 3 }),
    });
    fc.assert(
      fc.property(
        fc.array(svc, { maxLength: 3 }),
        fc.array(published, { maxLength: 2 }),
        fc.array(fc.constantFrom('10.0.0.0/8', '10.0.0.1/8', 'x', '1.2.3.4/33'), { maxLength: 2 }),
        (services, pubs, hairpinSubnets) => {
          const s = { services, published: pubs, hairpinSubnets } as unknown as LbState;
          try {
            const script = buildLbScript(table, s);
            expect(script).toMatch(/^add /);
            buildLbUpdate(table, base, s);
          } catch (e) {
            expect(isShoalError(e, 'invalid_argument')).toBe(true);
            expect((e as { field?: string }).field).toBeTruthy();
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('teardown', () => {
  it('finds our objects in nft -j output and removes rules, then maps and sets, then chains', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: {} },
        { table: { family: 'inet', name: 'shoal' } },
        { chain: { name: 'lb_prerouting' } },
        { chain: { name: 'postrouting' } },
        { map: { name: 'lb_vips' } },
        { set: { name: 'lb_remote' } },
        { set: { name: 'allowed' } },
        { chain: { name: 'lb_v_web' } },
        { rule: { chain: 'lb_v_web' } },
      ],
    });
    const names = lbObjectNames(json);
    expect(names).toEqual({ chains: ['lb_prerouting', 'lb_v_web'], maps: ['lb_vips'], sets: ['lb_remote'] });
    expect(lines(buildLbTeardown(table, names))).toEqual([
      'flush chain inet shoal lb_prerouting',
      'flush chain inet shoal lb_v_web',
      'delete map inet shoal lb_vips',
      'delete set inet shoal lb_remote',
      'delete chain inet shoal lb_prerouting',
      'delete chain inet shoal lb_v_web',
    ]);
    expect(
      buildLbTeardown(table, { chains: ['postrouting', 'lb_x; flush ruleset'], maps: [], sets: [] }),
    ).toBe('');
  });
});
