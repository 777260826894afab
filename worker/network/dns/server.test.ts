// The resolver's listener on loopback, queried by real clients: node's c-ares resolver (which retries a
// truncated UDP answer over TCP by itself), raw UDP/TCP sockets, and a second listener playing "upstream".

import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect, createServer } from 'node:net';
import * as packet from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../../common/errors.js';
import { buildRecords } from './records.js';
import { DnsServer, type DnsServerOptions } from './server.js';

// A loopback address of our own per run, so parallel runs never meet.
const base = `127.53.${Math.floor(Math.random() * 250) + 1}`;
const addr = (n: number) => `${base}.${n}`;

const records = buildRecords({
  network: 'appnet',
  services: [
    { name: 'web', vip: '10.0.1.2', tasks: ['10.0.1.5', '10.0.1.6'] },
    { name: 'big', vip: '10.0.1.4', tasks: Array.from({ length: 100 }, (_, i) => `10.0.2.${i + 1}`) },
  ],
  containers: [{ name: 'cache', id: 'ffeeddccbbaa99887766', address: '10.0.1.20' }],
});
const upstreamRecords = buildRecords({
  network: 'outside',
  containers: [{ name: 'example.test', address: '192.0.2.10' }],
});

const started: DnsServer[] = [];
async function serve(options: Partial<DnsServerOptions> & { address: string }): Promise<DnsServer> {
  const s = new DnsServer({ port: 0, records, ...options });
  await s.start();
  started.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

function client(s: DnsServer): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 1 });
  r.setServers([`${s.address}:${s.port}`]);
  return r;
}

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: NodeJS.ErrnoException) => e.code,
  );

function udpAsk(s: DnsServer, msg: Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const t = setTimeout(() => {
      sock.close();
      resolve(undefined);
    }, timeoutMs);
    sock.on('message', (m) => {
      clearTimeout(t);
      sock.close();
      resolve(m);
    });
    sock.send(msg, s.port, s.address);
  });
}

function tcpAsk(s: DnsServer, msgs: Buffer[]): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(s.port, s.address);
    let buf = Buffer.alloc(0);
    const out: Buffer[] = [];
    sock.on('error', reject);
    sock.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === msgs.length) {
        sock.destroy();
        resolve(out);
      }
    });
    sock.on('connect', () => {
      for (const m of msgs) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(m.length, 0);
        sock.write(Buffer.concat([len, m]));
      }
    });
  });
}

const q = (name: string, id: number, type: packet.RecordType = 'A') =>
  packet.encode({
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
  });
const decode = (b: Buffer) => packet.decode(b) as packet.DecodedPacket & { rcode: string };

describe('DnsServer with node:dns as the client', () => {
  it('answers services, tasks, containers, PTR; NXDOMAIN for unknown names; empty AAAA', async () => {
    const s = await serve({ address: addr(1) });
    const r = client(s);
    expect(await r.resolve4('web')).toEqual(['10.0.1.2']);
    expect((await r.resolve4('tasks.web')).sort()).toEqual(['10.0.1.5', '10.0.1.6']);
    expect(await r.resolve4('ffeeddccbbaa')).toEqual(['10.0.1.20']);
    expect(await r.resolve4('web', { ttl: true })).toEqual([{ address: '10.0.1.2', ttl: 600 }]);
    expect(await r.reverse('10.0.1.20')).toEqual(['cache.appnet']);
    expect(await code(r.resolve4('nothing.example'))).toBe('ENOTFOUND');
    expect(await code(r.resolve6('web'))).toBe('ENODATA');
  });

  it('a reply too big for UDP comes back truncated and the client gets it whole over TCP', async () => {
    const s = await serve({ address: addr(2) });
    const udp = decode((await udpAsk(s, q('tasks.big', 77)))!);
    expect(udp.flag_tc).toBe(true);
    expect(udp.answers!.length).toBeLessThan(100);
    expect((await client(s).resolve4('tasks.big')).length).toBe(100);
  });

  it('TCP: several queries on one connection', async () => {
    const s = await serve({ address: addr(3) });
    const replies = (await tcpAsk(s, [q('web', 1), q('tasks.big', 2), q('nope', 3)])).map(decode);
    const byId = new Map(replies.map((r) => [r.id, r]));
    expect(byId.get(1)!.answers!.map((a) => (a as { data: unknown }).data)).toEqual(['10.0.1.2']);
    expect(byId.get(2)!.answers).toHaveLength(100);
    expect(byId.get(2)!.flag_tc).toBe(false);
    expect(byId.get(3)!.rcode).toBe('NXDOMAIN');
  });

  it('survives garbage: no answer to noise, FORMERR to a broken query, then answers again', async () => {
    const s = await serve({ address: addr(4) });
    expect(await udpAsk(s, Buffer.from([1, 2, 3]), 300)).toBeUndefined();
    const broken = q('web', 4242).subarray(0, 20);
    expect(decode((await udpAsk(s, broken))!).rcode).toBe('FORMERR');
    const [tcpBroken] = await tcpAsk(s, [broken]);
    expect(decode(tcpBroken).rcode).toBe('FORMERR');
    expect(await client(s).resolve4('web')).toEqual(['10.0.1.2']);
  });

  it('many listeners in one process, each with its network records; setRecords swaps them', async () => {
    const a = await serve({ address: addr(5) });
    const b = await serve({ address: addr(6), records: upstreamRecords });
    expect(await client(a).resolve4('web')).toEqual(['10.0.1.2']);
    expect(await code(client(b).resolve4('web'))).toBe('ENOTFOUND');
    expect(await client(b).resolve4('example.test')).toEqual(['192.0.2.10']);
    b.setRecords(records);
    expect(await client(b).resolve4('web')).toEqual(['10.0.1.2']);
  });

  it('search domains', async () => {
    const s = await serve({ address: addr(7), searchDomains: ['corp.example'] });
    expect(await client(s).resolve4('web.corp.example')).toEqual(['10.0.1.2']);
  });
});

describe('DnsServer forwarding', () => {
  it('off by default: unknown names are NXDOMAIN even with an upstream around', async () => {
    await serve({ address: addr(10), records: upstreamRecords, port: 0 });
    const s = await serve({ address: addr(11) });
    expect(await code(client(s).resolve4('example.test'))).toBe('ENOTFOUND');
  });

  it('forwards unknown names to the upstream over UDP and TCP; known names stay local', async () => {
    const up = await serve({ address: addr(12), records: upstreamRecords });
    const s = await serve({ address: addr(13), upstreams: [{ address: up.address, port: up.port }] });
    const r = client(s);
    expect(await r.resolve4('example.test')).toEqual(['192.0.2.10']);
    expect(await r.resolve4('web')).toEqual(['10.0.1.2']);
    expect(await code(r.resolve4('unknown.anywhere'))).toBe('ENOTFOUND'); // the upstream's NXDOMAIN, relayed
    const [viaTcp] = await tcpAsk(s, [q('example.test', 9)]);
    expect(decode(viaTcp).answers!.map((a) => (a as { data: unknown }).data)).toEqual(['192.0.2.10']);
  });

  it('a silent upstream times out into SERVFAIL; the next upstream in the list is tried first', async () => {
    // A UDP socket and a TCP listener that never answer.
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, addr(20), () => r()));
    const mute = createServer(() => {});
    await new Promise<void>((r) => mute.listen(sink.address().port, addr(20), () => r()));
    try {
      const silent = { address: addr(20), port: sink.address().port };
      const s = await serve({ address: addr(21), upstreams: [silent], upstreamTimeoutMs: 300 });
      expect(await code(client(s).resolve4('example.test'))).toBe('ESERVFAIL');
      const [viaTcp] = await tcpAsk(s, [q('example.test', 5)]);
      expect(decode(viaTcp).rcode).toBe('SERVFAIL');
      const up = await serve({ address: addr(22), records: upstreamRecords });
      const s2 = await serve({
        address: addr(23),
        upstreams: [silent, { address: up.address, port: up.port }],
        upstreamTimeoutMs: 300,
      });
      expect(await client(s2).resolve4('example.test')).toEqual(['192.0.2.10']);
    } finally {
      sink.close();
      mute.close();
    }
  });

  it('a refused upstream (nothing listening) is SERVFAIL too', async () => {
    const s = await serve({
      address: addr(24),
      upstreams: [{ address: addr(25), port: 9 }],
      upstreamTimeoutMs: 500,
    });
    expect(await code(client(s).resolve4('example.test'))).toBe('ESERVFAIL');
    const [viaTcp] = await tcpAsk(s, [q('example.test', 6)]);
    expect(decode(viaTcp).rcode).toBe('SERVFAIL');
  });
});

describe('DnsServer lifecycle and inputs', () => {
  it('stop frees both ports (they can be bound again) and closes open TCP clients', async () => {
    const s = new DnsServer({ address: addr(30), port: 0, records });
    await s.start();
    const port = s.port;
    const idle = connect(port, s.address);
    await new Promise((r) => idle.on('connect', r));
    const closed = new Promise((r) => idle.on('close', r));
    await s.stop();
    await closed;
    const again = new DnsServer({ address: addr(30), port, records });
    await again.start();
    expect(again.port).toBe(port);
    expect(await client(again).resolve4('web')).toEqual(['10.0.1.2']);
    await again.stop();
    await s.stop(); // twice is harmless
  });

  it('leaves no socket behind: listeners, TCP clients and forwards in flight are all closed by stop', async () => {
    const sockets = () =>
      process
        .getActiveResourcesInfo()
        .filter((r) => ['UDPWrap', 'TCPSocketWrap', 'TCPServerWrap'].includes(r)).length;
    await new Promise((r) => setTimeout(r, 50)); // earlier tests' sockets finish closing
    const before = sockets();
    const sink = createSocket('udp4'); // an upstream that never answers: the forward is still in flight at stop
    await new Promise<void>((r) => sink.bind(0, addr(33), () => r()));
    const s = new DnsServer({
      address: addr(34),
      port: 0,
      records,
      upstreams: [{ address: addr(33), port: sink.address().port }],
      upstreamTimeoutMs: 60_000,
    });
    await s.start();
    const pending = udpAsk(s, q('example.test', 1), 200);
    const idle = connect(s.port, s.address);
    await new Promise((r) => idle.on('connect', r));
    await pending; // no answer: the forward waits on the silent upstream
    expect(sockets()).toBeGreaterThan(before + 2);
    await s.stop();
    await new Promise((r) => idle.on('close', r));
    sink.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(sockets()).toBe(before);
  });

  it('a taken port is refused as unavailable', async () => {
    const s = await serve({ address: addr(31) });
    const clash = new DnsServer({ address: addr(31), port: s.port, records });
    await expect(clash.start()).rejects.toSatisfy((e) => isShoalError(e, 'unavailable'));
  });

  it('bad options name the field', () => {
    const bad: [Partial<DnsServerOptions>, string][] = [
      [{ address: 'localhost' }, 'address'],
      [{ port: 70000 }, 'port'],
      [{ port: -1 }, 'port'],
      [{ upstreams: [{ address: '1.2.3' }] }, 'upstreams[0].address'],
      [{ upstreams: [{ address: '1.2.3.4', port: 0 }] }, 'upstreams[0].port'],
      [{ upstreamTimeoutMs: 0 }, 'upstreamTimeoutMs'],
    ];
    for (const [over, field] of bad) {
      let err: unknown;
      try {
        new DnsServer({ address: addr(32), port: 0, records, ...over });
      } catch (e) {
        err = e;
      }
      expect(isShoalError(err, 'invalid_argument') && err.field).toBe(field);
    }
  });
});
