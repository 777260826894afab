// The pure parts of worker/network and common/ports: -p parsing, IPAM, the files docker writes, the
// nftables ruleset.
import { describe, expect, it } from 'vitest';
import { parsePublish } from '../../common/ports.js';
import { parseResolv, renderHosts, renderResolv } from './files.js';
import { checkHost, ipString, lowestFree, macFor, overlaps, parseAddressCidr, parseSubnet } from './ipam.js';
import { normalisePorts, parseExtraHost } from './manager.js';
import { renderRuleset } from './nft.js';

describe('-p as docker parses it', () => {
  it('accepts [IP:][HOST:]CONTAINER[/PROTO] and ranges', () => {
    expect(
      parsePublish(['8080:80', '127.0.0.1:53:53/udp', '9000-9001:9000-9001', '7000', '1.2.3.4::81']),
    ).toEqual({
      bindings: {
        '80/tcp': [{ HostIp: '', HostPort: '8080' }],
        '53/udp': [{ HostIp: '127.0.0.1', HostPort: '53' }],
        '9000/tcp': [{ HostIp: '', HostPort: '9000' }],
        '9001/tcp': [{ HostIp: '', HostPort: '9001' }],
        '7000/tcp': [{ HostIp: '', HostPort: '' }],
        '81/tcp': [{ HostIp: '1.2.3.4', HostPort: '' }],
      },
      exposed: ['80/tcp', '53/udp', '9000/tcp', '9001/tcp', '7000/tcp', '81/tcp'],
    });
    // a host range for one container port: the first free of the range
    expect(parsePublish(['8000-8010:80']).bindings).toEqual({
      '80/tcp': [{ HostIp: '', HostPort: '8000-8010' }],
    });
  });
  it('refuses bad specs naming them', () => {
    for (const [spec, msg] of [
      ['80:99999', 'invalid container port 99999'],
      ['x:80', 'invalid host port "x"'],
      ['80/sctp', 'invalid proto "sctp"'],
      ['1.2.3:80:80', 'invalid IP address "1.2.3"'],
      ['8000-8002:80-81', 'ranges differ in size'],
      ['90-80:80', 'end before start'],
      ['', 'invalid publish spec'],
    ])
      expect(() => parsePublish([spec])).toThrow(msg);
  });
  it('normalises PortBindings from the API', () => {
    expect(normalisePorts({ '80': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '53/udp': null })).toEqual({
      '80/tcp': [{ HostIp: '', HostPort: '8080' }],
      '53/udp': [{ HostIp: '', HostPort: '' }],
    });
    expect(() => normalisePorts({ '80/xyz': [] })).toThrow('tcp or udp');
    expect(() => normalisePorts({ '80': [{ HostIp: 'nope' }] })).toThrow('not an IPv4 address');
  });
});

describe('IPAM', () => {
  it('parses subnets and refuses host bits, bad prefixes and junk', () => {
    expect(parseSubnet('10.1.0.0/16')).toEqual({ base: 0x0a010000, prefix: 16 });
    expect(() => parseSubnet('10.1.0.1/16')).toThrow('host bits set (did you mean 10.1.0.0/16?)');
    expect(() => parseSubnet('10.1.0.0/33')).toThrow('from 8 to 30');
    expect(() => parseSubnet('10.1.0.0/31')).toThrow('from 8 to 30');
    expect(() => parseSubnet('nope')).toThrow('not an IPv4 CIDR');
    expect(parseAddressCidr('172.17.0.1/16', 'bip')).toEqual({
      ip: 0xac110001,
      subnet: { base: 0xac110000, prefix: 16 },
    });
    expect(() => parseAddressCidr('172.17.0.0/16', 'bip')).toThrow('network or broadcast');
  });
  it('finds overlaps, the lowest free address and docker MACs', () => {
    expect(overlaps(parseSubnet('10.0.0.0/8'), parseSubnet('10.5.0.0/24'))).toBe(true);
    expect(overlaps(parseSubnet('10.5.1.0/24'), parseSubnet('10.5.0.0/24'))).toBe(false);
    const s = parseSubnet('10.5.0.0/30');
    expect(ipString(lowestFree(s, new Set([s.base + 1]))!)).toBe('10.5.0.2');
    expect(lowestFree(s, new Set([s.base + 1, s.base + 2]))).toBeUndefined();
    expect(() => checkHost(s, s.base + 3, 'ip')).toThrow('broadcast');
    expect(() => checkHost(s, s.base + 9, 'ip')).toThrow('is not in the subnet 10.5.0.0/30');
    expect(macFor(0xac110002)).toBe('02:42:ac:11:00:02');
  });
});

describe('files', () => {
  it('writes /etc/hosts in docker order', () => {
    expect(
      renderHosts({
        hostname: 'box',
        domainname: 'ex.test',
        addresses: ['10.0.0.2'],
        extraHosts: [{ name: 'db', ip: '10.9.9.9' }],
      }),
    ).toBe(
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n10.9.9.9\tdb\n10.0.0.2\tbox.ex.test box\n',
    );
    expect(parseExtraHost('gw:host-gateway')).toEqual({ name: 'gw', ip: 'host-gateway' });
    expect(() => parseExtraHost('nocolon')).toThrow('expected NAME:IP');
    expect(() => parseExtraHost('x:1.2.3')).toThrow('not an IPv4 address');
  });
  it('derives resolv.conf from the host file without loopback nameservers', () => {
    const host = 'nameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch a.test\noptions edns0\n';
    const def = parseResolv(
      renderResolv({ hostResolv: host, dns: [], dnsSearch: [], dnsOptions: [], hostNetwork: false }),
    );
    expect(def).toEqual({ nameservers: ['10.0.0.1'], search: ['a.test'], options: ['edns0'] });
    const only = parseResolv(
      renderResolv({
        hostResolv: 'nameserver 127.0.0.1\n',
        dns: [],
        dnsSearch: [],
        dnsOptions: [],
        hostNetwork: false,
      }),
    );
    expect(only.nameservers).toEqual(['8.8.8.8', '8.8.4.4']);
    const hostNet = parseResolv(
      renderResolv({ hostResolv: host, dns: [], dnsSearch: [], dnsOptions: [], hostNetwork: true }),
    );
    expect(hostNet.nameservers).toEqual(['127.0.0.53', '10.0.0.1']);
    const given = parseResolv(
      renderResolv({
        hostResolv: host,
        dns: ['1.1.1.1'],
        dnsSearch: ['b.test'],
        dnsOptions: ['ndots:2'],
        hostNetwork: false,
      }),
    );
    expect(given).toEqual({ nameservers: ['1.1.1.1'], search: ['b.test'], options: ['ndots:2'] });
    const resolver = parseResolv(
      renderResolv({
        hostResolv: host,
        dns: [],
        dnsSearch: [],
        dnsOptions: [],
        resolver: '10.5.0.1',
        hostNetwork: false,
      }),
    );
    expect(resolver.nameservers).toEqual(['10.5.0.1']);
  });
});

describe('the nftables table', () => {
  it("has published ports, masquerade, hairpin, isolation, internal networks and providers' chains", () => {
    const text = renderRuleset({
      bridges: [
        { bridge: 'shoal0', subnet: '172.17.0.0/16', internal: false, masquerade: true },
        { bridge: 'shbr-a', subnet: '10.1.0.0/24', internal: true, masquerade: true },
        { bridge: 'shbr-b', subnet: '10.2.0.0/24', internal: false, masquerade: false },
      ],
      ports: [
        { proto: 'udp', hostIp: '127.0.0.1', hostPort: 53, containerIp: '172.17.0.2', containerPort: 5353 },
      ],
      providers: [{ chains: () => ['  chain vip {\n  }'], hooks: () => ({ prerouting: ['jump vip'] }) }],
    });
    expect(text.startsWith('table ip shoal\ndelete table ip shoal\n')).toBe(true);
    expect(text).toContain('ip daddr 127.0.0.1 udp dport 53 dnat to 172.17.0.2:5353');
    expect(text).toContain('oifname != "shoal0" ip saddr 172.17.0.0/16 masquerade');
    expect(text).not.toContain('oifname != "shbr-b" ip saddr 10.2.0.0/24 masquerade'); // masquerade off
    expect(text).not.toContain('oifname != "shbr-a" ip saddr'); // internal: never out
    expect(text).toContain('iifname "shbr-a" oifname != "shbr-a" drop');
    expect(text).toContain('iifname "shoal0" oifname { "shbr-a", "shbr-b" } ct status & dnat == 0 drop');
    expect(text).toMatch(/chain prerouting \{\n.*\n {4}jump vip\n {4}fib daddr type local jump published/);
    expect(text).toContain('  chain vip {');
  });
});
