// The controller over a recording executor (the kernel side is tested in test/network/lb.test.ts).

import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../../common/errors.js';
import { departedUdpFlows, LbController, type NftExecutor, type UdpFlowFilter } from './apply.js';
import type { LbState } from './model.js';

const table = { family: 'inet' as const, name: 'shoal' };
const b = (address: string, local = true) => ({ address, local });
const state = (backends: { address: string; local: boolean }[]): LbState => ({
  services: [
    {
      id: 'dns',
      vip: '10.99.0.2',
      ports: [
        { protocol: 'udp', port: 53 },
        { protocol: 'tcp', port: 53 },
      ],
      backends,
    },
  ],
  published: [{ protocol: 'udp', published: 5353, target: 53, mode: 'ingress', backends }],
  hairpinSubnets: [],
});

class Recorder implements NftExecutor {
  scripts: string[] = [];
  forgotten: UdpFlowFilter[][] = [];
  lists = 0;
  failNext = false;
  async run(script: string) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('nft says no');
    }
    this.scripts.push(script);
  }
  async list() {
    this.lists++;
    return JSON.stringify({ nftables: [{ chain: { name: 'lb_v_old' } }] });
  }
  async forgetUdpFlows(flows: readonly UdpFlowFilter[]) {
    this.forgotten.push([...flows]);
  }
}

describe('departedUdpFlows', () => {
  it('lists each UDP frontend’s departed backends, not TCP ones, not the ones that stay', () => {
    expect(departedUdpFlows(state([b('10.0.0.2'), b('10.0.0.3')]), state([b('10.0.0.3')]))).toEqual([
      { backend: '10.0.0.2', port: 53, vip: '10.99.0.2' },
      { backend: '10.0.0.2', port: 5353 },
    ]);
    expect(departedUdpFlows(state([b('10.0.0.2')]), state([b('10.0.0.2'), b('10.0.0.4')]))).toEqual([]);
    const moved = state([b('10.0.0.2')]);
    const vipMoved = { ...moved, services: [{ ...moved.services[0], vip: '10.99.0.9' }] };
    expect(departedUdpFlows(moved, vipMoved)).toEqual([{ backend: '10.0.0.2', port: 53, vip: '10.99.0.2' }]);
  });
});

describe('LbController', () => {
  it('sync tears down what it finds and builds, in one transaction; update sends the difference', async () => {
    const x = new Recorder();
    const lb = new LbController(table, x);
    await lb.sync(state([b('10.0.0.2'), b('10.0.0.3')]));
    expect(x.scripts).toHaveLength(1);
    expect(x.scripts[0]).toMatch(/^flush chain inet shoal lb_v_old\n/);
    expect(x.scripts[0]).toContain('delete chain inet shoal lb_v_old');
    await lb.update(state([b('10.0.0.3')]));
    expect(x.scripts[1]).toContain('flush map inet shoal lb_vb_dns');
    expect(x.scripts[1]).not.toContain('lb_v_old');
    expect(x.forgotten).toEqual([
      [
        { backend: '10.0.0.2', port: 53, vip: '10.99.0.2' },
        { backend: '10.0.0.2', port: 5353 },
      ],
    ]);
    await lb.update(state([b('10.0.0.3')]));
    expect(x.scripts).toHaveLength(2); // nothing changed, nothing sent
  });

  it('concurrent calls apply one after another, each diff from the state the previous one left', async () => {
    const x = new Recorder();
    const lb = new LbController(table, x);
    await lb.sync(state([b('10.0.0.2')]));
    const mutable = state([b('10.0.0.2'), b('10.0.0.3')]);
    await Promise.all([lb.update(mutable), lb.update(state([b('10.0.0.3')]))]);
    mutable.services = []; // the controller kept its own copy
    expect(x.scripts[1]).toContain('add element inet shoal lb_vb_dns { 0 : 10.0.0.2, 1 : 10.0.0.3 }');
    expect(x.scripts[2]).toContain('add element inet shoal lb_vb_dns { 0 : 10.0.0.3 }');
    expect(lb.state).toEqual(state([b('10.0.0.3')]));
    expect(x.lists).toBe(1); // no call fell back to a full sync
  });

  it('after a failed update the next one is a full sync', async () => {
    const x = new Recorder();
    const lb = new LbController(table, x);
    await lb.update(state([b('10.0.0.2')])); // first call: a sync
    expect(x.lists).toBe(1);
    x.failNext = true;
    await expect(lb.update(state([b('10.0.0.3')]))).rejects.toThrow('nft says no');
    expect(lb.state).toBeUndefined();
    await lb.update(state([b('10.0.0.3')]));
    expect(x.lists).toBe(2);
    expect(x.scripts.at(-1)).toContain('add map inet shoal lb_vips');
  });

  it('a bad state is refused before anything runs', async () => {
    const x = new Recorder();
    const lb = new LbController(table, x);
    await lb.sync(state([b('10.0.0.2')]));
    const err = await lb.update(state([b('10.0.0.2'), b('nope')])).catch((e) => e);
    expect(isShoalError(err, 'invalid_argument') && err.field).toBe('services[0].backends[1].address');
    expect(x.scripts).toHaveLength(1);
    expect(lb.state).toEqual(state([b('10.0.0.2')]));
  });
});
