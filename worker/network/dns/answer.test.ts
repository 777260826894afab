import * as packet from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DNS_TTL, ptrAddress, type ResolveContext, RoundRobin, resolve } from './answer.js';
import { buildRecords, type Records } from './records.js';

const records: Records = buildRecords({
  network: 'appnet',
  services: [
    { name: 'web', vip: '10.0.1.2', tasks: ['10.0.1.5', '10.0.1.6', '10.0.1.7'], aliases: ['frontend'] },
    { name: 'db', endpointMode: 'dnsrr', tasks: ['10.0.1.8', '10.0.1.9'] },
    { name: 'empty', vip: '10.0.1.3', tasks: [] },
    { name: 'big', vip: '10.0.1.4', tasks: Array.from({ length: 120 }, (_, i) => `10.0.2.${i + 1}`) },
  ],
  containers: [
    { name: 'web.1.abc', id: 'a1b2c3d4e5f60718293a', address: '10.0.1.5', aliases: ['shared'] },
    { name: 'cache', id: 'ffeeddccbbaa99887766', address: '10.0.1.20', aliases: ['shared', 'redis'] },
    { name: 'v6box', address: 'fd00::5' },
    { name: 'web', address: '10.0.1.99' }, // loses to the service of the same name
  ],
});

const ctx = (over: Partial<ResolveContext> = {}): ResolveContext => ({
  records,
  transport: 'udp',
  rotation: new RoundRobin(),
  ...over,
});

// dns-packet decodes the rcode, its types do not say so.
const decode = (b: Buffer) => packet.decode(b) as packet.DecodedPacket & { rcode: string };

let nextId = 1;
function query(name: string, type: packet.RecordType = 'A', extra: Partial<packet.Packet> = {}): Buffer {
  return packet.encode({
    type: 'query',
    id: nextId++,
    flags: packet.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    ...extra,
  });
}

function ask(name: string, type: packet.RecordType = 'A', c = ctx(), extra: Partial<packet.Packet> = {}) {
  const q = query(name, type, extra);
  const r = resolve(q, c);
  if (r.action !== 'reply') throw new Error(`expected a reply, got ${r.action}`);
  const decoded = decode(r.packet);
  expect(decoded.id).toBe(q.readUInt16BE(0));
  return {
    ...decoded,
    bytes: r.packet,
    data: (decoded.answers ?? []).map((a) => (a as { data: unknown }).data),
  };
}

describe('resolve: names', () => {
  it('SERVICE answers its VIP with TTL 600, echoing the question, RD and RA set', () => {
    const r = ask('web');
    expect(r.rcode).toBe('NOERROR');
    expect(r.data).toEqual(['10.0.1.2']);
    expect(r.answers![0]).toMatchObject({ name: 'web', type: 'A', class: 'IN', ttl: DNS_TTL });
    expect(DNS_TTL).toBe(600);
    expect(r.questions).toEqual([{ name: 'web', type: 'A', class: 'IN' }]);
    expect(r.flag_qr && r.flag_rd && r.flag_ra).toBe(true);
    expect(r.flag_tc).toBe(false);
  });

  it('service aliases, upper case and a trailing dot resolve too', () => {
    expect(ask('frontend').data).toEqual(['10.0.1.2']);
    const r = ask('WEB.');
    expect(r.data).toEqual(['10.0.1.2']);
  });

  it('tasks.SERVICE answers every running task, in rotating order', () => {
    const c = ctx();
    const seen = [0, 1, 2, 3].map(() => ask('tasks.web', 'A', c).data);
    for (const s of seen) expect([...(s as string[])].sort()).toEqual(['10.0.1.5', '10.0.1.6', '10.0.1.7']);
    expect(seen.map((s) => s[0])).toEqual(['10.0.1.5', '10.0.1.6', '10.0.1.7', '10.0.1.5']);
    expect(ask('tasks.frontend').data).toHaveLength(3);
  });

  it('a dnsrr service answers its tasks (rotating), not a VIP', () => {
    const c = ctx();
    expect(ask('db', 'A', c).data).toEqual(['10.0.1.8', '10.0.1.9']);
    expect(ask('db', 'A', c).data).toEqual(['10.0.1.9', '10.0.1.8']);
  });

  it('an injected rotation decides the order', () => {
    const r = ask('tasks.web', 'A', ctx({ rotation: { offset: () => 2 } }));
    expect(r.data).toEqual(['10.0.1.7', '10.0.1.5', '10.0.1.6']);
  });

  it('a service with no running task: VIP still answers; tasks.SERVICE is a known name with no address', () => {
    expect(ask('empty').data).toEqual(['10.0.1.3']);
    const r = ask('tasks.empty');
    expect(r.rcode).toBe('NOERROR');
    expect(r.data).toEqual([]);
  });

  it('container names, aliases and short ids; a shared alias answers every container that has it', () => {
    expect(ask('cache').data).toEqual(['10.0.1.20']);
    expect(ask('redis').data).toEqual(['10.0.1.20']);
    expect(ask('ffeeddccbbaa').data).toEqual(['10.0.1.20']);
    expect(ask('a1b2c3d4e5f6').data).toEqual(['10.0.1.5']);
    expect([...(ask('shared').data as string[])].sort()).toEqual(['10.0.1.20', '10.0.1.5']);
    // A prefix shorter than the short id is no name.
    expect(ask('ffeedd').rcode).toBe('NXDOMAIN');
  });

  it('names under a search domain resolve as the short name', () => {
    const c = ctx({ searchDomains: ['corp.example', '.lab.'] });
    expect(ask('web.corp.example', 'A', c).data).toEqual(['10.0.1.2']);
    expect(ask('tasks.db.lab', 'A', c).data).toHaveLength(2);
    expect(ask('web.other.example', 'A', c).rcode).toBe('NXDOMAIN');
    expect(ask('corp.example', 'A', c).rcode).toBe('NXDOMAIN');
    expect(ask('web.corp.example').rcode).toBe('NXDOMAIN'); // without the search domain configured
  });

  it('AAAA of a known IPv4-only name is an empty NOERROR (as docker); an IPv6 record answers AAAA', () => {
    const r = ask('web', 'AAAA');
    expect(r.rcode).toBe('NOERROR');
    expect(r.data).toEqual([]);
    expect(ask('v6box', 'AAAA').data).toEqual(['fd00::5']);
    expect(ask('v6box', 'A').data).toEqual([]);
  });

  it('other record types of a known name: empty NOERROR', () => {
    for (const t of ['MX', 'TXT', 'SRV', 'CNAME'] as const) {
      const r = ask('web', t);
      expect(r.rcode).toBe('NOERROR');
      expect(r.answers).toEqual([]);
    }
  });

  it('PTR of known addresses: containers, VIPs, IPv6', () => {
    expect(ask('20.1.0.10.in-addr.arpa', 'PTR').data).toEqual(['cache.appnet']);
    expect(ask('2.1.0.10.in-addr.arpa', 'PTR').data).toEqual(['web.appnet']);
    const v6 = `${'fd000000000000000000000000000005'.split('').reverse().join('.')}.ip6.arpa`;
    expect(ptrAddress(v6)).toBe('fd00::5');
    expect(ask(v6, 'PTR').data).toEqual(['v6box.appnet']);
    expect(ask('9.9.9.9.in-addr.arpa', 'PTR').rcode).toBe('NXDOMAIN');
    expect(ask('1.2.3.in-addr.arpa', 'PTR').rcode).toBe('NXDOMAIN');
    expect(ptrAddress('256.1.0.10.in-addr.arpa')).toBeUndefined();
    expect(ptrAddress('01.1.0.10.in-addr.arpa')).toBeUndefined();
  });
});

describe('resolve: unknown names', () => {
  it('NXDOMAIN at once when forwarding is off (the default)', () => {
    const r = ask('example.com');
    expect(r.rcode).toBe('NXDOMAIN');
    expect(r.answers).toEqual([]);
    expect(ask('').rcode).toBe('NXDOMAIN');
  });

  it('forward the query bytes unchanged when forwarding is on, with a SERVFAIL ready for failure', () => {
    const q = query('example.com');
    const r = resolve(q, ctx({ forwarding: true }));
    expect(r.action).toBe('forward');
    if (r.action !== 'forward') return;
    expect(r.query.equals(q)).toBe(true);
    const fail = decode(r.servfail);
    expect(fail.rcode).toBe('SERVFAIL');
    expect(fail.id).toBe(q.readUInt16BE(0));
    expect(fail.questions).toEqual([{ name: 'example.com', type: 'A', class: 'IN' }]);
    // Known names never go upstream.
    expect(resolve(query('web'), ctx({ forwarding: true })).action).toBe('reply');
    expect(resolve(query('7.7.7.7.in-addr.arpa', 'PTR'), ctx({ forwarding: true })).action).toBe('forward');
  });
});

describe('resolve: sizes', () => {
  it('over UDP a reply larger than 512 bytes is cut to fit and flagged TC', () => {
    const r = ask('tasks.big');
    expect(r.flag_tc).toBe(true);
    expect(r.bytes.length).toBeLessThanOrEqual(512);
    expect(r.answers!.length).toBeGreaterThan(10);
    expect(r.answers!.length).toBeLessThan(120);
  });

  it('EDNS0 raises the UDP limit (up to 4096) and the reply carries an OPT record', () => {
    const opt = {
      type: 'OPT',
      name: '.',
      udpPayloadSize: 1232,
      flags: 0,
      options: [],
    } as unknown as packet.Answer;
    const r = ask('tasks.big', 'A', ctx(), { additionals: [opt] });
    expect(r.bytes.length).toBeLessThanOrEqual(1232);
    expect(r.bytes.length).toBeGreaterThan(512);
    expect(r.flag_tc).toBe(true);
    expect(r.additionals!.some((a) => a.type === 'OPT')).toBe(true);
    const small = { ...opt, udpPayloadSize: 100 } as unknown as packet.Answer;
    expect(ask('tasks.big', 'A', ctx(), { additionals: [small] }).bytes.length).toBeLessThanOrEqual(512);
  });

  it('over TCP every answer fits, no TC', () => {
    const r = ask('tasks.big', 'A', ctx({ transport: 'tcp' }));
    expect(r.flag_tc).toBe(false);
    expect(r.answers).toHaveLength(120);
  });
});

describe('resolve: malformed and odd messages', () => {
  it('drops what is shorter than a header, and responses', () => {
    expect(resolve(Buffer.alloc(0), ctx()).action).toBe('drop');
    expect(resolve(Buffer.from([1, 2, 3]), ctx()).action).toBe('drop');
    const resp = packet.encode({ type: 'response', id: 7, questions: [{ name: 'web', type: 'A' }] });
    expect(resolve(resp, ctx()).action).toBe('drop');
  });

  it('answers FORMERR to a query whose body cannot be parsed, keeping the id', () => {
    const q = query('web');
    const cut = q.subarray(0, q.length - 3);
    const r = resolve(cut, ctx());
    expect(r.action).toBe('reply');
    if (r.action !== 'reply') return;
    const d = decode(r.packet);
    expect(d.rcode).toBe('FORMERR');
    expect(d.id).toBe(q.readUInt16BE(0));
  });

  it('FORMERR for zero or two questions, NOTIMP for another opcode or class', () => {
    const none = packet.encode({ type: 'query', id: 9, questions: [] });
    expect(decode((resolve(none, ctx()) as { packet: Buffer }).packet).rcode).toBe('FORMERR');
    const two = packet.encode({
      type: 'query',
      id: 10,
      questions: [
        { name: 'web', type: 'A' },
        { name: 'db', type: 'A' },
      ],
    });
    expect(decode((resolve(two, ctx()) as { packet: Buffer }).packet).rcode).toBe('FORMERR');
    const notify = query('web');
    notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
    expect(decode((resolve(notify, ctx()) as { packet: Buffer }).packet).rcode).toBe('NOTIMP');
    const chaos = packet.encode({
      type: 'query',
      id: 11,
      questions: [{ name: 'web', type: 'A', class: 'CH' }],
    });
    expect(decode((resolve(chaos, ctx()) as { packet: Buffer }).packet).rcode).toBe('NOTIMP');
  });

  it('never throws on arbitrary bytes; every reply parses, keeps the id and fits in 512 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.boolean(), (bytes, tcp) => {
        const buf = Buffer.from(bytes);
        const r = resolve(buf, ctx({ transport: tcp ? 'tcp' : 'udp', forwarding: bytes[0] % 2 === 0 }));
        if (r.action === 'drop') return;
        const out = r.action === 'reply' ? r.packet : r.servfail;
        const d = decode(out);
        expect(d.id).toBe(buf.readUInt16BE(0));
        expect(d.type).toBe('response');
        if (!tcp) expect(out.length).toBeLessThanOrEqual(512);
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws on mutations of valid queries', () => {
    const base = query('tasks.web.corp.example', 'A');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(base.length),
        (edits, cut) => {
          const b = Buffer.from(base);
          for (const [i, v] of edits) b[i] = v;
          const r = resolve(b.subarray(0, Math.max(cut, 0)), ctx({ searchDomains: ['corp.example'] }));
          if (r.action === 'reply') decode(r.packet);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('RoundRobin', () => {
  it('counts per name and keeps a bounded memory', () => {
    const rr = new RoundRobin(2);
    expect([
      rr.offset('a', 3),
      rr.offset('a', 3),
      rr.offset('b', 2),
      rr.offset('a', 3),
      rr.offset('a', 3),
    ]).toEqual([0, 1, 0, 2, 0]);
    rr.offset('c', 5); // a third name clears the memory
    expect(rr.offset('a', 3)).toBe(0);
  });
});
