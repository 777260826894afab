// The direct GET against real sockets on loopback: a server that answers as the test says.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { ChunkPool, hold } from '../chunk-pool.js';
import { request } from './http.js';
import { NetworkError } from './network-error.js';

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A server answering every connection with `answer(requestHead, socket)`; its URL. */
async function serve(
  answer: (head: string, s: net.Socket) => void,
): Promise<{ url: string; heads: string[] }> {
  const heads: string[] = [];
  const server = net.createServer((s) => {
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      heads.push(got.slice(0, end));
      answer(got.slice(0, end), s);
    });
    s.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v2/x/blobs/sha256:ab`,
    heads,
  };
}

/** A small, poisoned pool: a chunk used after it was let go reads 0xaa. */
const poisoned = () => new ChunkPool(4096, { keep: 1000, idleMs: 600_000, poison: 0xaa });

/** Reads the body as a consumer that keeps nothing past its next read would: copies. */
async function collect(body: AsyncIterable<Buffer | string>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of body) out.push(Buffer.from(c as Buffer));
  return out;
}

it('reads a Content-Length body into the pool: full chunks but the last, the bytes in order, every chunk back', async () => {
  const data = randomBytes(50_000);
  // the head and the first bytes of the body in one write, the rest in odd pieces
  const srv = await serve((_, s) => {
    s.write(
      Buffer.concat([
        Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\nX-A: 1\r\nX-A: 2\r\n\r\n`),
        data.subarray(0, 1000),
      ]),
    );
    for (let off = 1000; off < data.length; off += 7777) s.write(data.subarray(off, off + 7777));
  });
  const pool = poisoned();
  const res = await request({
    method: 'GET',
    url: srv.url,
    headers: { Authorization: 'Bearer t' },
    into: pool,
  });
  expect(res.status).toBe(200);
  expect(res.headers['x-a']).toBe('1, 2');
  const chunks = await collect(res.body);
  expect(Buffer.concat(chunks).equals(data)).toBe(true);
  expect(chunks.slice(0, -1).every((c) => c.length === 4096)).toBe(true);
  expect(res.body.complete).toBe(true);
  expect(pool.idle).toBe(pool.allocated);
  expect(srv.heads[0]).toMatch(
    /^GET \/v2\/x\/blobs\/sha256:ab HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nAuthorization: Bearer t\r\n/,
  );
});

it('a consumer slower than the network: the socket pauses, at most a few chunks are lent out', async () => {
  const data = randomBytes(200_000);
  // the head alone first (the bytes that come with it are copied out at once, whatever their size)
  const srv = await serve((_, s) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
    setTimeout(() => s.end(data), 50);
  });
  const pool = poisoned();
  const res = await request({ method: 'GET', url: srv.url, into: pool });
  const out: Buffer[] = [];
  let most = 0;
  for await (const c of res.body) {
    await new Promise((r) => setTimeout(r, 2));
    most = Math.max(most, pool.allocated - pool.idle);
    out.push(Buffer.from(c as Buffer));
  }
  expect(Buffer.concat(out).equals(data)).toBe(true);
  expect(most).toBeLessThanOrEqual(6); // read ahead 4, the one being filled, the one the consumer has
  expect(pool.allocated).toBeLessThan(20);
});

it('a chunk the consumer holds survives the next read; chunks it let go are reused', async () => {
  const data = randomBytes(20_000);
  const srv = await serve((_, s) =>
    s.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`), data])),
  );
  const pool = poisoned();
  const res = await request({ method: 'GET', url: srv.url, into: pool });
  const kept: Buffer[] = [];
  for await (const c of res.body) {
    hold(c as Buffer);
    kept.push(c as Buffer);
  }
  expect(Buffer.concat(kept).equals(data)).toBe(true);
});

it('a connection cut mid-body: the bytes that came are handed on, then a NetworkError; nothing is kept from the pool', async () => {
  const data = randomBytes(30_000);
  const srv = await serve((_, s) => {
    s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n`), data]));
    setTimeout(() => s.destroy(), 50);
  });
  const pool = poisoned();
  const res = await request({ method: 'GET', url: srv.url, into: pool });
  const out: Buffer[] = [];
  const err = await (async () => {
    for await (const c of res.body) out.push(Buffer.from(c as Buffer));
  })().catch((e) => e);
  expect(err).toBeInstanceOf(NetworkError);
  expect(err.message).toMatch(/connection closed with 70000 bytes of the body to come/);
  expect(Buffer.concat(out).equals(data)).toBe(true);
  expect(res.body.complete).toBe(false);
  expect(pool.idle).toBe(pool.allocated);
});

it('a consumer that stops early closes the connection and gives every chunk back', async () => {
  let closed!: Promise<void>;
  const srv = await serve((_, s) => {
    closed = new Promise((r) => s.on('close', () => r()));
    s.write(
      Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n'), randomBytes(40_000)]),
    );
  });
  const pool = poisoned();
  const res = await request({ method: 'GET', url: srv.url, into: pool });
  for await (const _ of res.body) break;
  await closed;
  expect(pool.idle).toBe(pool.allocated);
});

it('an error answer reads as text; a chunked answer is asked for again through node:http', async () => {
  const pool = poisoned();
  const err = await serve((_, s) =>
    s.end(
      'HTTP/1.1 404 Not Found\r\nContent-Length: 20\r\nContent-Type: application/json\r\n\r\n{"errors":["nope"]}\n',
    ),
  );
  const r404 = await request({ method: 'GET', url: err.url, into: pool });
  expect(r404.status).toBe(404);
  expect(await r404.text()).toBe('{"errors":["nope"]}\n');

  const chunked = await serve((_, s) =>
    s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
  );
  const r = await request({ method: 'GET', url: chunked.url, into: pool });
  expect(await r.text()).toBe('hello');
  expect(chunked.heads).toHaveLength(2); // the direct try, then node:http
  expect(pool.idle).toBe(pool.allocated);
});

it('refuses a head over 64 KiB, a server that closes before answering, and a header value with a line break', async () => {
  const pool = poisoned();
  const huge = await serve((_, s) => s.end(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`));
  await expect(request({ method: 'GET', url: huge.url, into: pool })).rejects.toThrow(
    /response head larger than 65536 bytes/,
  );
  const rude = await serve((_, s) => s.destroy());
  await expect(request({ method: 'GET', url: rude.url, into: pool })).rejects.toThrow(
    /connection closed before the response head/,
  );
  await expect(
    request({ method: 'GET', url: rude.url, into: pool, headers: { Authorization: 'x\r\nEvil: 1' } }),
  ).rejects.toThrow(/header Authorization holds a line break/);
  expect(pool.idle).toBe(pool.allocated);
});

it('a server that stalls mid-body times out', async () => {
  const srv = await serve((_, s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
  const res = await request({ method: 'GET', url: srv.url, into: poisoned(), timeoutMs: 200 });
  await expect(collect(res.body)).rejects.toThrow(/timed out/);
});
