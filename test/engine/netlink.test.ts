// The addon's networking calls through worker/engine's kernelNet, against the real kernel, entirely
// inside a network namespace this test makes (every op names it): links, addresses, routes, VXLAN,
// FDB and neighbour entries, namespace files, and the error kinds of kernel refusals.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelNet, NetlinkError } from '../../worker/engine/index.js';

const NS = `nlk${process.pid % 100000}`;
const HOST = `/run/netns/${NS}`;
const dir = mkdtempSync(join(tmpdir(), 'shoal-netlink-'));
const SANDBOX = join(dir, 'sandbox');
const ip = (...args: string[]) => execFileSync('ip', ['-n', NS, ...args], { encoding: 'utf8' });

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', NS]);
});

afterAll(async () => {
  await kernelNet.deleteNetns(SANDBOX).catch(() => {});
  execFileSync('ip', ['netns', 'del', NS]);
  rmSync(dir, { recursive: true, force: true });
});

describe('kernelNet', () => {
  it('makes a sandbox with a veth from a bridge, address, route; vxlan, fdb and neighbours', async () => {
    await kernelNet.createNetns(SANDBOX);
    expect(existsSync(SANDBOX)).toBe(true);
    await kernelNet.apply([
      { netns: HOST, op: 'bridge-add', name: 'tbr0', up: true },
      { netns: HOST, op: 'addr-add', name: 'tbr0', ip: '10.77.0.1', prefix: 24 },
      {
        netns: HOST,
        op: 'veth-add',
        name: 'tv0',
        peer: 'eth0',
        peerNetns: SANDBOX,
        peerMac: '02:42:0a:4d:00:02',
        master: 'tbr0',
        up: true,
      },
      { netns: HOST, op: 'link-set', name: 'tv0', hairpin: true },
      { netns: SANDBOX, op: 'addr-add', name: 'eth0', ip: '10.77.0.2', prefix: 24 },
      { netns: SANDBOX, op: 'link-set', name: 'eth0', up: true },
      { netns: SANDBOX, op: 'route-add', prefix: 0, gateway: '10.77.0.1' },
      {
        netns: HOST,
        op: 'vxlan-add',
        name: 'tvx0',
        vni: 4097,
        port: 4789,
        learning: false,
        master: 'tbr0',
        up: true,
      },
      { netns: HOST, op: 'fdb-add', dev: 'tvx0', mac: '00:00:00:00:00:00', ip: '10.0.0.9' },
      { netns: HOST, op: 'fdb-add', dev: 'tvx0', mac: '00:00:00:00:00:00', ip: '10.0.0.10' },
      { netns: HOST, op: 'neigh-add', dev: 'tbr0', ip: '10.77.0.50', mac: '02:42:0a:4d:00:32' },
    ]);
    const eth0 = await kernelNet.link('eth0', SANDBOX);
    expect(eth0).toMatchObject({ name: 'eth0', kind: 'veth', mac: '02:42:0a:4d:00:02', up: true });
    const br = await kernelNet.link('tbr0', HOST);
    expect((await kernelNet.link('tv0', HOST))?.master).toBe(br?.index);
    expect(await kernelNet.link('lo', SANDBOX)).toMatchObject({ up: true });
    expect(execFileSync('nsenter', [`--net=${SANDBOX}`, 'ip', 'route'], { encoding: 'utf8' })).toContain(
      'default via 10.77.0.1 dev eth0',
    );
    expect(ip('-d', 'link', 'show', 'tvx0')).toMatch(/vxlan id 4097 .*dstport 4789 nolearning/s);
    const fdb = execFileSync('bridge', ['-n', NS, 'fdb', 'show', 'dev', 'tvx0'], { encoding: 'utf8' });
    expect(fdb).toContain('dst 10.0.0.9');
    expect(fdb).toContain('dst 10.0.0.10');
    expect(ip('neigh', 'show', 'dev', 'tbr0')).toContain('10.77.0.50 lladdr 02:42:0a:4d:00:32 PERMANENT');
    expect(ip('-d', 'link', 'show', 'tv0')).toContain('hairpin on');
    // the peer goes with its sandbox
    await kernelNet.deleteNetns(SANDBOX);
    expect(existsSync(SANDBOX)).toBe(false);
    await kernelNet.deleteNetns(SANDBOX); // idempotent
  });

  it('turns kernel refusals into error kinds and checks ops before sending anything', async () => {
    const dup = await kernelNet.apply([{ netns: HOST, op: 'bridge-add', name: 'tbr0' }]).catch((e) => e);
    expect(dup).toBeInstanceOf(NetlinkError);
    expect(dup).toMatchObject({ kind: 'conflict', errnoCode: 'EEXIST', op: 'bridge-add' });
    const missing = await kernelNet.apply([{ netns: HOST, op: 'link-del', name: 'nope0' }]).catch((e) => e);
    expect(missing).toMatchObject({ kind: 'not_found', errnoCode: 'ENODEV' });
    expect(await kernelNet.link('nope0', HOST)).toBeNull();
    await kernelNet.deleteLink('nope0', HOST); // missing is fine for cleanup
    const bad = await kernelNet
      .apply([{ netns: HOST, op: 'addr-add', name: 'tbr0', ip: '10.1.2', prefix: 24 }])
      .catch((e) => e);
    expect(String(bad.message)).toContain('ops[0].ip: "10.1.2" is not an IPv4 address');
    const long = await kernelNet
      .apply([{ netns: HOST, op: 'bridge-add', name: 'a-very-long-name0' }])
      .catch((e) => e);
    expect(String(long.message)).toContain('is not an interface name');
    await kernelNet.deleteLink('tbr0', HOST);
    expect(await kernelNet.link('tbr0', HOST)).toBeNull();
  });

  it("an nftables script nft cannot parse is refused with nft's own message, and nothing is applied", async () => {
    // A syntax error is refused while parsing, before any transaction: safe in the test's namespace.
    const err = await kernelNet
      .nft('table ip shoal_nft_test {\n  chain c {\n    bogus rule\n  }\n}\n')
      .catch((e) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err).toMatchObject({ errnoCode: 'ENFT', kind: 'internal', op: 'nft' });
    expect(err.message).toMatch(/^nft: .*syntax error/s);
    expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain('shoal_nft_test');
  });
});
