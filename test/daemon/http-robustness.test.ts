// The HTTP edge of shoald under bad input (security issue 7): requests that used to end the daemon,
// bodies of the wrong type or shape, values dockerd refuses, oversized and over-nested bodies, and a
// seeded fuzzer of request lines, headers, paths, percent-encodings and bodies. After each, shoald must
// still answer /_ping, and no malformed request may get a 5xx that leaks JavaScript internals.
import { readlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createConnection } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import bodies from './docker-cli-bodies.json' with { type: 'json' };
import { api, cleanup, type Daemon, ROOTFS, shoal, startShoald, stateEntries } from './harness.js';

let d: Daemon;
beforeAll(async () => {
  d = await startShoald();
  const taken = await api(d, 'POST', '/containers/create?name=taken', { Rootfs: ROOTFS, Cmd: ['true'] });
  expect(taken.status).toBe(201);
});
afterAll(() => cleanup(d));

interface RawReply {
  status: number;
  body: string;
}

/**
 * Writes `bytes` on a fresh connection and reads the first reply. A reply that is still streaming
 * after `waitMs` (events, a follow) counts as answered with its status line so far.
 */
function raw(bytes: string | Buffer, waitMs = 3000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const s = createConnection(d.sock);
    let text = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const sep = text.indexOf('\r\n\r\n');
      resolve({ status: m ? Number(m[1]) : 0, body: sep >= 0 ? text.slice(sep + 4) : '' });
    };
    const timer = setTimeout(done, waitMs);
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    s.on('close', done);
    s.on('error', (e) => {
      // The daemon may reset a connection it refuses (while we still write a body it will not
      // read): 'close' follows with what arrived. Only a dead daemon fails the ping that follows.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ECONNRESET' && code !== 'EPIPE') {
        clearTimeout(timer);
        reject(e);
      }
    });
    s.write(bytes);
  });
}

const request = (line: string, headers: string[] = [], body = '') =>
  `${line}\r\nHost: api.moby.localhost\r\n${[...headers, 'Connection: close'].map((h) => `${h}\r\n`).join('')}${
    body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''
  }\r\n${body}`;

async function alive(): Promise<void> {
  const r = await api(d, 'GET', '/_ping');
  expect(r.status).toBe(200);
  expect(r.body).toBe('OK');
  expect(d.proc.exitCode).toBeNull();
}

/** What a reply to a malformed request must never carry: JavaScript's own words. */
const JS_INTERNALS =
  /is not a function|Cannot read propert|of undefined|of null|Maximum call stack|is not iterable|TypeError|RangeError|ReferenceError|\bat [\w.<>]+ \(|node:internal|\.m?js:\d+/;

function expectNoLeak(r: RawReply | { status: number; body: string }, what: string): void {
  if (r.status >= 500 && JS_INTERNALS.test(r.body))
    throw new Error(`${what}: ${r.status} leaks JavaScript internals: ${r.body.slice(0, 300)}`);
}

describe('requests that ended shoald', () => {
  it('a bad percent-encoding in a route parameter is a 400', async () => {
    for (const path of [
      '/containers/%/json',
      '/v1.41/containers/%zz/json',
      '/containers/%C3/start',
      '/exec/%/json',
    ]) {
      const method = path.endsWith('start') ? 'POST' : 'GET';
      const r = await raw(request(`${method} ${path} HTTP/1.1`));
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.body).message).toMatch(/not valid percent-encoding/);
    }
    await alive();
  });

  it('a version prefix outside 1.12–1.41 is refused as dockerd refuses it; inside it is served', async () => {
    const old = await raw(request('GET /v1.11/version HTTP/1.1'));
    expect(old.status).toBe(400);
    expect(JSON.parse(old.body).message).toBe(
      'client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version',
    );
    const young = await raw(request('GET /v1.99/containers/json HTTP/1.1'));
    expect(young.status).toBe(400);
    expect(JSON.parse(young.body).message).toBe(
      'client version 1.99 is too new. Maximum supported API version is 1.41',
    );
    for (const v of ['1.12', '1.24', '1.41'])
      expect((await raw(request(`GET /v${v}/version HTTP/1.1`))).status).toBe(200);
    await alive();
  });

  it('a malformed request target is a 400, also on an upgrade request', async () => {
    const r = await raw(request('GET http://[ HTTP/1.1'));
    expect(r.status).toBe(400);
    const u = await raw(request('POST http://[ HTTP/1.1', ['Upgrade: tcp', 'Connection: Upgrade']));
    expect(u.status).toBe(400);
    const p = await raw(
      request('POST /containers/%/attach?stream=1 HTTP/1.1', ['Upgrade: tcp', 'Connection: Upgrade']),
    );
    expect(p.status).toBe(400);
    await alive();
  });
});

describe('request bodies are checked against their schema', () => {
  const create = (body: unknown, query = '') => api(d, 'POST', `/containers/create${query}`, body);

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'Privileged as a string',
      { HostConfig: { Privileged: 'false' } },
      /invalid HostConfig\.Privileged: must be a boolean/,
    ],
    ['HostConfig as a string', { HostConfig: 'x' }, /invalid HostConfig: must be an object/],
    ['Labels as a string', { Labels: 'x' }, /invalid Labels: must be an object/],
    ['Image as a number', { Image: 5, Rootfs: undefined }, /invalid Image: must be a string/],
    ['CapAdd as a string', { HostConfig: { CapAdd: 'ALL' } }, /invalid HostConfig\.CapAdd: must be a list/],
    ['a NUL inside Cmd', { Cmd: ['tr\u0000ue'] }, /invalid Cmd\[0\]: contains a NUL byte/],
    ['a NUL inside Env', { Env: ['A=1\u0000'] }, /invalid Env\[0\]: contains a NUL byte/],
    ['a NUL inside Hostname', { Hostname: 'h\u0000' }, /invalid Hostname: contains a NUL byte/],
    ['a NUL inside User', { User: 'root\u0000x' }, /invalid User: contains a NUL byte/],
    ['a NUL inside a label', { Labels: { a: '\u0000' } }, /invalid Labels\.a: contains a NUL byte/],
    ['negative Memory', { HostConfig: { Memory: -1 } }, /^Minimum memory limit allowed is 6MB$/],
    [
      'negative MemoryReservation',
      { HostConfig: { MemoryReservation: -1 } },
      /^Minimum memory reservation allowed is 6MB$/,
    ],
    ['negative CpuPeriod', { HostConfig: { CpuPeriod: -1 } }, /^CPU cfs period can not be less than 1ms/],
    [
      'negative CpuShares',
      { HostConfig: { CpuShares: -5 } },
      /^invalid CPU shares \(-5\): value must be a positive integer$/,
    ],
    ['negative NanoCpus', { HostConfig: { NanoCpus: -1 } }, /^range of CPUs is from 0\.01 to \d+\.00/],
    ['negative ShmSize', { HostConfig: { ShmSize: -1 } }, /^SHM size can not be less than 0$/],
    ['too many Env entries', { Env: Array(10_001).fill('A=1') }, /invalid Env: has more than 10000 entries/],
  ])('%s is a 400 naming the problem, and nothing is created', async (_what, fields, message) => {
    const before = stateEntries(d);
    const r = await create({ Rootfs: ROOTFS, Cmd: ['true'], ...fields });
    expect(r.status, r.body).toBe(400);
    expect(JSON.parse(r.body).message).toMatch(message);
    expect(stateEntries(d)).toEqual(before);
  });

  it('accepts the negatives dockerd reads as unlimited (CpuQuota, PidsLimit) and the bodies the docker CLI sends', async () => {
    const r = await create({ Rootfs: ROOTFS, Cmd: ['true'], HostConfig: { CpuQuota: -1, PidsLimit: -1 } });
    expect(r.status, r.body).toBe(201);
    for (const b of bodies.create) {
      // The traced image is not here: the body passes validation and fails on the image only.
      const t = await create(b);
      expect(t.status, t.body).toBe(404);
      expect(JSON.parse(t.body).message).toMatch(/No such image/);
    }
    await shoal(d, ['rm', '-f', JSON.parse(r.body).Id]);
  });

  it('exec create refuses wrong types', async () => {
    const r = await api(d, 'POST', '/containers/ghost/exec', { Cmd: 'ls' });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toBe('invalid Cmd: must be a list or null, not the string "ls"');
  });

  it('deeply nested JSON is a 400 at parse time, never a stack overflow', async () => {
    const deep = `{"Rootfs":"${ROOTFS}","Cmd":["true"],"Labels":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    const r = await raw(
      request('POST /containers/create HTTP/1.1', ['Content-Type: application/json'], deep),
    );
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toMatch(/nested deeper than 64 levels/);
    const filters = encodeURIComponent(`{"name":${'['.repeat(500)}${']'.repeat(500)}}`);
    expect((await api(d, 'GET', `/containers/json?filters=${filters}`)).status).toBe(400);
    await alive();
  });

  it('a JSON body over 4 MiB is refused (413), by its Content-Length or as it streams in', async () => {
    // Content-Length above the limit: refused before a byte of the body is read.
    const head = (line: string, extra: string[] = []) =>
      `${line}\r\nHost: x\r\nContent-Type: application/json\r\n${extra.map((h) => `${h}\r\n`).join('')}Content-Length: ${5 * 1024 * 1024}\r\n\r\n{"Hostname":"`;
    const r = await raw(head('POST /containers/create HTTP/1.1'));
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).message).toBe('request body too large: the limit is 4 MiB');
    const u = await raw(head('POST /exec/x/start HTTP/1.1', ['Upgrade: tcp', 'Connection: Upgrade']));
    expect(u.status).toBe(413);
    // Chunked, without a length: counted as it arrives.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          socketPath: d.sock,
          method: 'POST',
          path: '/containers/create',
          headers: { 'Content-Type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', (e) => {
        if (
          (e as NodeJS.ErrnoException).code !== 'EPIPE' &&
          (e as NodeJS.ErrnoException).code !== 'ECONNRESET'
        )
          reject(e);
      });
      req.write('{"Hostname":"');
      const chunk = 'x'.repeat(512 * 1024);
      let n = 0;
      const more = () => {
        while (n < 12 && !req.destroyed) {
          n++;
          if (!req.write(chunk)) return void req.once('drain', more);
        }
        if (!req.destroyed) req.end('"}');
      };
      more();
    });
    expect(status).toBe(413);
    await alive();
  });

  it('query parameters of the wrong type are a 400 naming the parameter', async () => {
    const cases: [string, string, RegExp][] = [
      ['GET', '/containers/json?limit=abc', /invalid limit "abc": must be an integer/],
      ['GET', '/containers/json?limit=1e3', /invalid limit "1e3"/],
      ['GET', '/containers/json?all=maybe', /invalid all "maybe": must be a boolean/],
      ['POST', '/containers/taken/stop?t=0x10', /invalid t "0x10"/],
      ['POST', '/exec/x/resize?h=abc&w=1', /invalid h "abc"/],
      ['GET', '/containers/taken/logs?stdout=1&tail=1e2', /invalid tail "1e2"/],
      ['GET', '/events?since=0x10', /invalid since "0x10"/],
      ['GET', '/events?filters=%7B%22type%22%3Anull%7D', /invalid filter 'type'/],
    ];
    for (const [method, path, message] of cases) {
      const r = await api(d, method, path);
      expect(r.status, `${path}: ${r.body}`).toBe(400);
      expect(JSON.parse(r.body).message).toMatch(message);
    }
  });
});

describe('--privileged with shoald on </dev/null', () => {
  it('runs: /dev/stdin (a link to the daemon stdio) is not taken for a host device', async () => {
    // The harness starts shoald with stdio "ignore": its fd 0 is /dev/null, as under systemd.
    expect(readlinkSync(`/proc/${d.proc.pid}/fd/0`)).toBe('/dev/null');
    const r = await shoal(d, [
      'run',
      '--rm',
      '--privileged',
      '--rootfs',
      ROOTFS,
      'sh',
      '-c',
      'ls /dev/null /dev/zero && test ! -e /dev/console || true',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('/dev/zero');
  });
});

// --- the fuzzer ---------------------------------------------------------------------------------

const ROUTES = [
  'GET /_ping',
  'GET /version',
  'GET /info',
  'POST /containers/create',
  'GET /containers/json',
  'GET /containers/:id/json',
  'POST /containers/:id/start',
  'POST /containers/:id/stop',
  'POST /containers/:id/kill',
  'POST /containers/:id/rename',
  'POST /containers/:id/wait',
  'POST /containers/:id/attach',
  'GET /containers/:id/logs',
  'GET /containers/:id/top',
  'POST /containers/:id/resize',
  'DELETE /containers/:id',
  'POST /containers/:id/exec',
  'POST /exec/:id/start',
  'GET /exec/:id/json',
  'POST /exec/:id/resize',
  'GET /events',
  'GET /images/json',
  'GET /images/:id/json',
  'DELETE /images/:id',
  'GET /nothing/here',
];
const QUERY_KEYS = [
  't',
  'limit',
  'all',
  'tail',
  'since',
  'until',
  'filters',
  'force',
  'h',
  'w',
  'name',
  'condition',
  'signal',
  'stdout',
  'stream',
];

const percentish = fc.oneof(
  fc.constantFrom('%', '%z', '%zz', '%C3', '%C3%28', '%00', '%2F', '%25', '%ff%fe', '%E2%82', '%u0041'),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replace(/[\s/?#]/g, '')),
);
const segment = fc.oneof(percentish, fc.constantFrom('taken', 'ghost', '..', '.', '', 'a'.repeat(300)));
const queryValue = fc.oneof(
  percentish,
  fc.constantFrom(
    '1',
    '0',
    '-1',
    '1e3',
    '0x10',
    'true',
    'maybe',
    '',
    '{',
    '{"type":null}',
    '{"name":["x"]}',
    '9'.repeat(30),
  ),
);
const query = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), percentish), queryValue), { maxLength: 4 })
  .map((kv) => (kv.length ? `?${kv.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

/** A docker-CLI body with one field replaced by something else (a type mix-up, a deep value, a NUL). */
const mutatedBody = fc
  .tuple(
    fc.constantFrom(...bodies.create, ...bodies.execCreate, ...bodies.execStart),
    fc.oneof(
      fc.json({ maxDepth: 3 }).map((j) => JSON.parse(j) as unknown),
      fc.constantFrom('\u0000', -1, 1.5, 'false', [], {}, null),
    ),
    fc.nat(),
    fc.boolean(),
  )
  .map(([base, value, pick, intoHost]) => {
    const b = structuredClone(base) as Record<string, unknown>;
    const target =
      intoHost && b.HostConfig && typeof b.HostConfig === 'object'
        ? (b.HostConfig as Record<string, unknown>)
        : b;
    const keys = Object.keys(target);
    if (keys.length) target[keys[pick % keys.length]] = value;
    // Never start anything real: no rootfs, an image that is not there.
    delete b.Rootfs;
    return JSON.stringify(b);
  });

const body = fc.oneof(
  fc.constant(''),
  mutatedBody,
  fc.json({ maxDepth: 4 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.nat({ max: 3000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
);

const headerLines = fc.array(
  fc.oneof(
    fc.constantFrom(
      'Content-Type: application/json',
      'Content-Type: text/plain',
      'Upgrade: tcp',
      'Connection: Upgrade',
      'Expect: 100-continue',
      'Transfer-Encoding: gzip',
      'X-Registry-Auth: %%%',
    ),
    fc
      .tuple(fc.stringMatching(/^[A-Za-z-]{1,20}$/), fc.string({ maxLength: 40 }))
      .map(([k, v]) => `${k}: ${v}`),
  ),
  { maxLength: 3 },
);

const requestBytes = fc
  .tuple(
    fc.constantFrom(...ROUTES),
    fc.oneof(fc.constant(''), fc.constantFrom('/v1.41', '/v1.12', '/v99', '/vx')),
    segment,
    query,
    headerLines,
    body,
    fc.oneof(fc.constant(null), fc.string({ unit: 'binary', maxLength: 60 })),
  )
  .map(([route, version, seg, q, headers, b, garbageLine]) => {
    const [method, pattern] = route.split(' ');
    const path = `${version}${pattern.replace(':id', seg || 'x')}${q}`;
    // Sometimes a request line that is not HTTP at all.
    const line =
      garbageLine !== null && garbageLine.length % 3 === 0 ? garbageLine : `${method} ${path} HTTP/1.1`;
    return request(
      line.replace(/[\r\n]/g, ''),
      headers.map((h) => h.replace(/[\r\n]/g, '')),
      b,
    );
  });

describe('fuzzing the HTTP edge', () => {
  it('answers every generated request without dying or leaking internals (seeded, bounded)', async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(requestBytes, async (bytes) => {
        const r = await raw(bytes, 1500);
        expectNoLeak(r, JSON.stringify(bytes.slice(0, 300)));
        if (++sent % 20 === 0) await alive();
      }),
      { seed: 20261202, numRuns: 800, interruptAfterTimeLimit: 120_000, endOnFailure: true },
    );
    await alive();
    expect(d.log()).not.toMatch(/uncaught exception|unhandled rejection/);
  }, 240_000);
});
