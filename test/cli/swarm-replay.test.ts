// The shoal CLI's swarm commands against a tiny HTTP server on a unix socket that REPLAYS THE DAEMON
// ANSWERS RECORDED from a real dockerd (/work/shared/docker-api/traces). The thing under test is the
// CLI: its requests (method, path, query, body) are compared with what the docker 28 CLI sent, and its
// printed tables and progress with docker's layouts. Poll answers are served in recorded order (the
// elided ones skipped), the last one repeated.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ApiError, Client } from '../../cli/client.js';
import { node } from '../../cli/commands/node.js';
import { config, secret } from '../../cli/commands/secret.js';
import { service } from '../../cli/commands/service.js';
import { swarm } from '../../cli/commands/swarm.js';
import type { Cli } from '../../cli/context.js';

import { TRACES } from '../traces.js';

interface Exchange {
  method: string;
  path: string;
  query?: Record<string, unknown>;
  requestBody: unknown;
  status: number;
  responseBody: unknown;
}

interface Seen {
  method: string;
  path: string;
  query: Record<string, unknown>;
  body: unknown;
}

const load = (name: string): Exchange[] => {
  const raw = JSON.parse(readFileSync(`${TRACES}/${name}.json`, 'utf8')) as
    | Exchange[]
    | { exchanges: Exchange[] };
  return (Array.isArray(raw) ? raw : raw.exchanges).filter(
    (e) => e.method !== 'HEAD' && !(e.responseBody as { _elided?: string } | null)?._elided,
  );
};

function keyOf(method: string, path: string, query: Record<string, unknown>): string {
  return `${method} ${path} ${JSON.stringify(query, Object.keys(query).sort())}`;
}

function decodeQuery(search: URLSearchParams): Record<string, unknown> {
  const q: Record<string, unknown> = {};
  for (const [k, v] of search) q[k] = k === 'filters' ? JSON.parse(v) : v;
  return q;
}

class Replay {
  readonly seen: Seen[] = [];
  private readonly queues = new Map<string, Exchange[]>();
  private server?: Server;
  private dir = mkdtempSync(join(tmpdir(), 'shoal-cliswarm-'));
  readonly socket = join(this.dir, 'd.sock');

  constructor(traces: string[], extra: Exchange[] = []) {
    for (const e of [...traces.flatMap(load), ...extra]) {
      const k = keyOf(e.method, e.path, e.query ?? {});
      this.queues.set(k, [...(this.queues.get(k) ?? []), e]);
    }
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        const query = decodeQuery(url.searchParams);
        const text = Buffer.concat(chunks).toString('utf8');
        this.seen.push({
          method: req.method ?? '',
          path: url.pathname,
          query,
          body: text ? JSON.parse(text) : null,
        });
        const q = this.queues.get(keyOf(req.method ?? '', url.pathname, query));
        if (!q) {
          res.writeHead(599, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ message: `not in the trace: ${req.method} ${req.url}` }));
          return;
        }
        const e = q.length > 1 ? (q.shift() as Exchange) : q[0];
        const frames = (e.responseBody as { _multiplexedFrames?: { stream: string; data: string }[] } | null)
          ?._multiplexedFrames;
        if (frames) {
          // Logs: multiplexed frames, no Content-Type, as dockerd sends them.
          res.writeHead(e.status);
          for (const fr of frames) {
            const data = Buffer.from(fr.data);
            const head = Buffer.alloc(8);
            head[0] = fr.stream === 'stdout' ? 1 : 2;
            head.writeUInt32BE(data.length, 4);
            res.write(Buffer.concat([head, data]));
          }
          res.end();
          return;
        }
        res.writeHead(e.status, e.responseBody === null ? {} : { 'Content-Type': 'application/json' });
        res.end(e.responseBody === null ? '' : JSON.stringify(e.responseBody));
      });
    });
    await new Promise<void>((r) => this.server?.listen(this.socket, r));
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function capture(): PassThrough & { text: () => string } {
  const s = new PassThrough() as PassThrough & { text: () => string };
  let buf = '';
  s.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
  });
  s.text = () => buf;
  return s;
}

let replay: Replay | undefined;
afterEach(async () => {
  await replay?.stop();
  replay = undefined;
});

async function run(
  traces: string[],
  fn: (cli: Cli, args: string[]) => Promise<number>,
  args: string[],
  extra: Exchange[] = [],
  tty = false,
): Promise<{ code: number; out: string; err: string; seen: Seen[] }> {
  replay = new Replay(traces, extra);
  await replay.start();
  const out = capture();
  (out as unknown as { isTTY: boolean }).isTTY = tty;
  const err = capture();
  const cli = {
    client: new Client(replay.socket),
    out,
    err,
    stdin: process.stdin,
    env: {},
  } as Cli;
  const code = await fn(cli, args);
  return { code, out: out.text(), err: err.text(), seen: replay.seen };
}

/** The trace's requests as the replay server sees them. */
function expected(name: string): Seen[] {
  return load(name).map((e) => ({
    method: e.method,
    path: e.path,
    query: e.query ?? {},
    body: e.requestBody,
  }));
}

describe('service commands (replaying recorded daemon answers)', () => {
  it('service create -d sends the recorded body and prints the ID', async () => {
    const r = await run(
      ['service-create-detach'],
      service,
      'create -d --name web --label x=y -e A=1 --mount type=volume,src=data,dst=/data --limit-cpu 0.5 --limit-memory 64M --restart-condition on-failure --constraint node.role==manager --replicas 3 --update-delay 2s -p 8080:80 bb:latest httpd -f -p 80'.split(
        ' ',
      ),
    );
    expect(r.seen).toEqual(expected('service-create-detach'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^[a-z0-9]{25}\n$/);
  });

  it('service create resolves --network/--secret/--config names to IDs first (replayed answers)', async () => {
    const r = await run(
      ['service-create-secret-config-network'],
      service,
      'create -d --name svc2 --mode global --health-cmd true --health-interval 5s --secret s1 --config source=c1,target=/etc/c1.conf --network appnet bb:latest sleep 1000'.split(
        ' ',
      ),
    );
    expect(r.seen).toEqual(expected('service-create-secret-config-network'));
    expect(r.code).toBe(0);
  });

  it('service create without -d polls service, tasks, nodes and prints progress lines (replayed answers)', async () => {
    const r = await run(
      ['service-create-progress'],
      service,
      'create --name web --label x=y -e A=1 --mount type=volume,src=data,dst=/data --limit-cpu 0.5 --limit-memory 64M --restart-condition on-failure --constraint node.role==manager --replicas 3 --update-delay 2s -p 8080:80 bb:latest httpd -f -p 80'.split(
        ' ',
      ),
    );
    const want = expected('service-create-progress');
    // The create and the first two full poll cycles are exactly docker's requests.
    expect(r.seen.slice(0, 7)).toEqual(want.slice(0, 7));
    // Every later request is one of the polled three.
    const polled = new Set(want.slice(1, 4).map((s) => `${s.method} ${s.path} ${JSON.stringify(s.query)}`));
    for (const s of r.seen.slice(1))
      expect(polled.has(`${s.method} ${s.path} ${JSON.stringify(s.query)}`)).toBe(true);
    const id = '4emjff8tuucgtwfv1281f836l';
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(id);
    expect(lines).toContain('overall progress: 0 out of 3 tasks');
    expect(lines).toContain('overall progress: 3 out of 3 tasks');
    expect(lines.filter((l) => /^[123]\/3: running$/.test(l))).toHaveLength(3);
    expect(lines).toContain('verify: Waiting 1 seconds to verify that tasks are stable...');
    expect(lines.at(-2)).toBe(`verify: Service ${id} converged`);
    expect(r.code).toBe(0);
  });

  it('service scale on a TTY redraws the progress block with docker’s bars (replayed answers)', async () => {
    const r = await run(['service-scale'], service, ['scale', 'web=5'], [], true);
    const full = `[${'='.repeat(50)}>] `;
    expect(r.out).toContain('\x1b[2K\roverall progress: 5 out of 5 tasks\n');
    for (let i = 1; i <= 5; i++) expect(r.out).toContain(`\x1b[2K\r${i}/5: running   ${full}\n`);
    expect(r.out).toMatch(/\x1b\[7A/); // overall + 5 tasks + verify, redrawn in place
    expect(r.out.endsWith('\x1b[2K\rverify: Service web converged\n')).toBe(true);
  });

  it('service ls prints docker’s table from ?status=true (replayed answers)', async () => {
    const r = await run(['service-ls'], service, ['ls']);
    expect(r.seen).toEqual(expected('service-ls'));
    expect(r.out).toBe(
      'ID             NAME      MODE         REPLICAS   IMAGE       PORTS\n' +
        'rs8st2w2lz09   web       replicated   3/3        bb:latest   *:8080->80/tcp\n',
    );
  });

  it('service ls -q asks without status and prints short IDs (replayed answers)', async () => {
    // The recorded list, answered to the query docker sends with -q (no status=true).
    const recorded = load('service-ls')[0];
    const r = await run([], service, ['ls', '-q'], [{ ...recorded, query: {} }]);
    expect(r.seen).toEqual([{ method: 'GET', path: '/v1.41/services', query: {}, body: null }]);
    expect(r.out).toBe('rs8st2w2lz09\n');
  });

  it('service ls counts replicas from tasks and nodes when ServiceStatus is missing (replayed fake/service-ls-no-servicestatus)', async () => {
    const r = await run(['fake/service-ls-no-servicestatus'], service, ['ls']);
    expect(r.seen).toEqual(expected('fake/service-ls-no-servicestatus'));
    expect(r.out).toBe(
      'ID             NAME      MODE         REPLICAS   IMAGE       PORTS\n' +
        'z5ide3mex8uc   logger    replicated   2/2        bb:latest   \n' +
        '4emjff8tuucg   web       replicated   3/3        bb:latest   *:8080->80/tcp\n',
    );
  });

  it('service ps resolves by id then name, lists tasks, names nodes (replayed answers)', async () => {
    const r = await run(['service-ps'], service, ['ps', 'web']);
    expect(r.seen).toEqual(expected('service-ps'));
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +NAME +IMAGE +NODE +DESIRED STATE +CURRENT STATE +ERROR +PORTS$/);
    expect(lines.slice(1).map((l) => l.split(/ {3,}/).slice(1, 5))).toEqual([
      ['web.1', 'bb:latest', 'vm', 'Running'],
      ['web.2', 'bb:latest', 'vm', 'Running'],
      ['web.3', 'bb:latest', 'vm', 'Running'],
    ]);
    for (const l of lines.slice(1)) expect(l).toMatch(/Running (\d+|About an?) \w+ ago/);
  });

  it('service ps -f desired-state=running adds the filter server-side (replayed answers)', async () => {
    const r = await run(['service-ps-filter'], service, ['ps', '-f', 'desired-state=running', 'web']);
    expect(r.seen).toEqual(expected('service-ps-filter'));
  });

  it('service inspect --pretty prints docker’s layout (replayed answers)', async () => {
    const r = await run(['service-inspect-pretty'], service, ['inspect', '--pretty', 'web']);
    expect(r.seen).toEqual(expected('service-inspect-pretty'));
    expect(r.out).toContain('Name:\t\tweb\n');
    expect(r.out).toContain('Service Mode:\tReplicated\n Replicas:\t');
    expect(r.out).toContain(' Constraints:\t[node.role==manager]\n');
    expect(r.out).toContain('  CPU:\t\t0.5\n  Memory:\t64MiB\n');
    expect(r.out).toContain(' PublishedPort = 8080\n  Protocol = tcp\n  TargetPort = 80\n');
  });

  it('service inspect of a missing service prints [] and fails (replayed answers)', async () => {
    const r = await run(['service-inspect-notfound'], service, ['inspect', 'nosuchsvc']);
    expect(r.out).toBe('[]\n');
    expect(r.err).toBe('Error: no such service: nosuchsvc\n');
    expect(r.code).toBe(1);
  });

  it('service scale echoes the whole spec with Replicas changed, then waits (replayed answers)', async () => {
    const r = await run(['service-scale'], service, ['scale', 'web=5']);
    expect(r.seen.slice(0, 2)).toEqual(expected('service-scale').slice(0, 2));
    expect(r.out.split('\n')[0]).toBe('web scaled to 5');
    expect(r.out).toContain('overall progress: 5 out of 5 tasks\n');
    expect(r.out).toContain('verify: Service web converged\n');
  });

  it('service update --env-add sends registryAuthFrom=spec&version= and the edited spec (replayed answers)', async () => {
    const r = await run(['service-update'], service, [
      'update',
      '--no-resolve-image',
      '--env-add',
      'B=2',
      'web',
    ]);
    expect(r.seen.slice(0, 2)).toEqual(expected('service-update').slice(0, 2));
    expect(r.out.split('\n')[0]).toBe('web');
    expect(r.out).toContain('verify: Service web converged\n');
  });

  it('service rollback posts the current spec with rollback=previous, then waits (replayed answers)', async () => {
    const r = await run(['service-rollback'], service, ['rollback', 'web']);
    expect(r.seen.slice(0, 5)).toEqual(expected('service-rollback').slice(0, 5));
    expect(r.out.split('\n')[0]).toBe('web');
    expect(r.out).toContain('verify: Service web converged\n');
  });

  it('service logs prefixes each line with name.slot.task@node (replayed answers)', async () => {
    const r = await run(['service-logs-logger'], service, ['logs', '--tail', '3', 'logger']);
    const want = expected('service-logs-logger');
    expect(r.seen.slice(0, 2)).toEqual(want.slice(0, 2));
    expect(new Set(r.seen.map((s) => s.path))).toEqual(new Set(want.map((s) => s.path)));
    expect(r.out.split('\n')[0]).toBe('logger.2.k45c7b6fkp44@vm    | out 5');
    expect(r.err.split('\n')[0]).toBe('logger.2.k45c7b6fkp44@vm    | err 6');
  });

  it('service logs --raw --no-task-ids prints bare lines (replayed answers)', async () => {
    const r = await run(['service-logs-logger-raw'], service, [
      'logs',
      '--raw',
      '--no-task-ids',
      '--tail',
      '2',
      'logger',
    ]);
    expect(r.seen).toEqual(expected('service-logs-logger-raw'));
    expect(r.out).toBe('out 10\nout 10\n');
    expect(r.err).toBe('err 10\nerr 10\n');
  });

  it('service logs of a task id falls back to /tasks/{id}/logs (replayed answers)', async () => {
    const r = await run(['service-logs-task'], service, ['logs', '--tail', '1', '6fmdmxbbuooppsu6wxxfoq158']);
    expect(r.seen.slice(0, 3)).toEqual(expected('service-logs-task').slice(0, 3));
    expect(r.out).toMatch(/^logger\.\d+\.6fmdmxbbuoop@vm {4}\| out 18\n$/);
  });

  it('service rm deletes by name and prints it (replayed answers)', async () => {
    const r = await run(['service-rm'], service, ['rm', 'web']);
    expect(r.seen).toEqual(expected('service-rm'));
    expect(r.out).toBe('web\n');
  });

  it('bad flags fail before any request', async () => {
    await expect(run(['service-rm'], service, ['create', '--replicas', 'x', 'bb'])).rejects.toThrow(
      'invalid argument "x" for "--replicas" flag',
    );
    await expect(run(['service-rm'], service, ['create', '--bogus', 'bb'])).rejects.toThrow(
      'unknown flag: --bogus',
    );
    await expect(run(['service-rm'], service, ['scale', 'web'])).rejects.toThrow(
      "Invalid scale specifier 'web'",
    );
    expect(replay?.seen).toEqual([]);
  });
});

describe('node commands (replaying recorded daemon answers)', () => {
  it('node ls marks the local node with * (replayed answers)', async () => {
    const r = await run(['node-ls'], node, ['ls']);
    expect(r.seen).toEqual(expected('node-ls'));
    expect(r.out).toBe(
      'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n' +
        '05mepd04etuubd7snrz4chzgy *   vm         Ready     Active         Leader           20.10.24+dfsg1\n',
    );
  });

  for (const [trace, args] of [
    ['node-update-drain', ['--availability', 'drain']],
    ['node-update-active', ['--availability', 'active']],
    ['node-update-label', ['--label-add', 'zone=a']],
    ['node-update-label-rm', ['--label-rm', 'zone']],
  ] as const) {
    it(`node update ${args.join(' ')} GETs the version and POSTs the whole Spec (replayed ${trace})`, async () => {
      const r = await run([trace], node, ['update', ...args, '05mepd04etuubd7snrz4chzgy']);
      expect(r.seen).toEqual(expected(trace));
      expect(r.out).toBe('05mepd04etuubd7snrz4chzgy\n');
    });
  }

  it('node demote/promote change only Role in the echoed Spec (replayed GET; the POST reply is the same empty 200)', async () => {
    const id = '05mepd04etuubd7snrz4chzgy';
    const demoted = await run(['node-update-drain'], node, ['demote', id]);
    expect(demoted.seen[1]).toMatchObject({
      method: 'POST',
      path: `/v1.41/nodes/${id}/update`,
      query: { version: '9' },
      body: { Labels: {}, Role: 'worker', Availability: 'active' },
    });
    expect(demoted.out).toBe(`Manager ${id} demoted in the swarm.\n`);
    const promoted = await run(['node-update-drain'], node, ['promote', id]);
    expect(promoted.out).toBe(`Node ${id} is already a manager.\n`);
  });

  it('node update rejects a bad availability naming the flag', async () => {
    await expect(
      run(['node-update-drain'], node, ['update', '--availability', 'sleepy', 'x']),
    ).rejects.toThrow('invalid argument "sleepy" for "--availability" flag');
  });

  it('node inspect self resolves self via /info and prints the JSON array (replayed answers)', async () => {
    const r = await run(['node-inspect-self'], node, ['inspect', 'self']);
    expect(r.seen).toEqual(expected('node-inspect-self'));
    const printed = JSON.parse(r.out) as { ID: string }[];
    expect(printed.map((n) => n.ID)).toEqual(['05mepd04etuubd7snrz4chzgy']);
  });

  it('node inspect --pretty prints docker’s layout (replayed answers)', async () => {
    const r = await run(['node-inspect-pretty'], node, ['inspect', '--pretty', 'self']);
    expect(r.seen).toEqual(expected('node-inspect-pretty'));
    expect(r.out).toContain('ID:\t\t\t05mepd04etuubd7snrz4chzgy\n');
    // docker's template, spacing quirks and all (Go's time String, lowercased by PrettyPrint).
    expect(r.out).toContain(
      'Hostname:              \tvm\nJoined at:             \t2026-11-22 09:00:29.176428593 +0000 utc\n',
    );
    expect(r.out).toContain(' State:\t\t\tReady\n Availability:         \tActive\n');
    expect(r.out).toContain('Plugins:\n Log:\t\tawslogs, fluentd,');
    expect(r.out).toContain('-----END CERTIFICATE-----\n\n Issuer Subject:\tMBMxETAPBgNVBAMTCHN3YXJtLWNh\n');
    expect(r.out).toContain(' Leader:\t\tYes\n');
    expect(r.out).toContain('Engine Version:\t\t20.10.24+dfsg1\n');
  });

  it('node ps self resolves self via /info (replayed answers)', async () => {
    const r = await run(['node-ps'], node, ['ps']);
    const want = expected('node-ps');
    expect(r.seen.slice(0, 3)).toEqual(want.slice(0, 3));
    expect(new Set(r.seen.map((s) => s.path))).toEqual(new Set(want.map((s) => s.path)));
  });
});

describe('swarm commands (replaying recorded daemon answers)', () => {
  it('swarm join-token worker prints docker’s instructions (replayed answers)', async () => {
    const r = await run(['swarm-join-token-worker'], swarm, ['join-token', 'worker']);
    expect(r.seen).toEqual(expected('swarm-join-token-worker').slice(0, 3));
    expect(r.out).toBe(
      'To add a worker to this swarm, run the following command:\n\n' +
        '    shoal swarm join --token SWMTKN-1-5vjet2ivo6nuo6icee8ovfexessocdnxo8h106z73mg449ah6z-workersecretredacted00000 192.0.2.2:2377\n\n',
    );
  });

  it('swarm join-token -q manager prints only the token (replayed answers)', async () => {
    const r = await run(['swarm-join-token-quiet'], swarm, ['join-token', '-q', 'manager']);
    expect(r.seen).toEqual(expected('swarm-join-token-quiet'));
    expect(r.out).toBe(
      'SWMTKN-1-5vjet2ivo6nuo6icee8ovfexessocdnxo8h106z73mg449ah6z-managersecretredacted0000\n',
    );
  });

  it('swarm init sends docker’s body; the daemon’s 503 surfaces (replayed answers)', async () => {
    const p = run(['swarm-init-again'], swarm, ['init']);
    await expect(p).rejects.toBeInstanceOf(ApiError);
    await expect(p).rejects.toThrow(/already part of a swarm/);
    expect(replay?.seen).toEqual(expected('swarm-init-again'));
  });

  it('swarm init flags land in the spec', async () => {
    const p = run(['swarm-init-again'], swarm, [
      'init',
      '--advertise-addr',
      '10.0.0.1',
      '--listen-addr',
      '127.0.0.1',
      '--task-history-limit',
      '3',
      '--dispatcher-heartbeat',
      '2s',
    ]);
    await expect(p).rejects.toThrow(/already part of a swarm/);
    const body = replay?.seen[0].body as Record<string, Record<string, Record<string, unknown>>>;
    expect(body.ListenAddr).toBe('127.0.0.1:2377');
    expect(body.AdvertiseAddr).toBe('10.0.0.1');
    expect(body.Spec.Orchestration).toEqual({ TaskHistoryRetentionLimit: 3 });
    expect(body.Spec.Dispatcher).toEqual({ HeartbeatPeriod: 2e9 });
  });

  // Successful init/join/leave were not recorded (the recording node stayed in its swarm): their
  // replies below are synthesized in the Engine API's documented shapes; the rest is replayed.
  const ok = (method: string, path: string, responseBody: unknown, query = {}): Exchange => ({
    method,
    path,
    query,
    requestBody: null,
    status: 200,
    responseBody,
  });

  it('swarm init prints docker’s welcome with the worker join command (synthesized init reply + replayed answers)', async () => {
    const id = '05mepd04etuubd7snrz4chzgy';
    const r = await run(
      ['swarm-join-token-worker'],
      swarm,
      ['init', '--advertise-addr', '192.0.2.2'],
      [ok('POST', '/v1.41/swarm/init', id)],
    );
    expect(r.seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'POST /v1.41/swarm/init',
      'GET /v1.41/swarm',
      'GET /v1.41/info',
      `GET /v1.41/nodes/${id}`,
    ]);
    expect(r.out).toBe(
      `Swarm initialized: current node (${id}) is now a manager.\n\n` +
        'To add a worker to this swarm, run the following command:\n\n' +
        '    shoal swarm join --token SWMTKN-1-5vjet2ivo6nuo6icee8ovfexessocdnxo8h106z73mg449ah6z-workersecretredacted00000 192.0.2.2:2377\n\n' +
        "To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n\n",
    );
  });

  it('swarm join sends docker’s JoinRequest and reports the role (synthesized join reply + replayed /info)', async () => {
    const r = await run(
      ['node-ls'],
      swarm,
      ['join', '--token', 'SWMTKN-1-x-y', '--advertise-addr', '10.0.0.2', '10.0.0.1:2377'],
      [ok('POST', '/v1.41/swarm/join', null)],
    );
    expect(r.seen[0].body).toEqual({
      ListenAddr: '0.0.0.0:2377',
      AdvertiseAddr: '10.0.0.2',
      DataPathAddr: '',
      RemoteAddrs: ['10.0.0.1:2377'],
      JoinToken: 'SWMTKN-1-x-y',
      Availability: '',
    });
    expect(r.out).toBe('This node joined a swarm as a manager.\n');
  });

  it('swarm leave --force sends force=1 (synthesized reply)', async () => {
    const r = await run(
      [],
      swarm,
      ['leave', '--force'],
      [ok('POST', '/v1.41/swarm/leave', null, { force: '1' })],
    );
    expect(r.seen).toEqual([
      { method: 'POST', path: '/v1.41/swarm/leave', query: { force: '1' }, body: null },
    ]);
    expect(r.out).toBe('Node left the swarm.\n');
  });

  it('swarm join-token rejects an unknown role', async () => {
    await expect(run(['swarm-join-token-quiet'], swarm, ['join-token', 'boss'])).rejects.toThrow(
      'unknown role boss',
    );
  });
});

describe('secret and config commands (replaying recorded daemon answers)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const file = (content: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-secretfile-'));
    dirs.push(dir);
    const f = join(dir, 'data');
    writeFileSync(f, content);
    return f;
  };

  it('secret create / config create send the recorded bodies and print the ID', async () => {
    const a = await run(['secret-create'], secret, ['create', 's1', file('hunter2')]);
    expect(a.seen).toEqual(expected('secret-create'));
    expect([a.code, a.out]).toEqual([0, '2ednrmxebbwb05zsqg22ski2a\n']);
    await replay?.stop();
    const b = await run(['secret-create-labels'], secret, [
      'create',
      '--label',
      'env=prod',
      's2',
      file('pw'),
    ]);
    expect(b.seen).toEqual(expected('secret-create-labels'));
    await replay?.stop();
    const c = await run(['config-create'], config, ['create', 'c1', file('key: value\n')]);
    expect(c.seen).toEqual(expected('config-create'));
    expect(c.code).toBe(0);
  });

  it("secret ls prints docker's table; secret rm takes names; config inspect --pretty shows the data", async () => {
    const ls = await run(['secret-ls'], secret, ['ls']);
    expect(ls.seen).toEqual(expected('secret-ls'));
    const lines = ls.out.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^ID\s+NAME\s+DRIVER\s+CREATED\s+UPDATED$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
      ['2ednrmxebbwb05zsqg22ski2a', 's1'],
      ['nk1w5h7ki350n7ffpjtzur1i3', 's2'],
    ]);
    await replay?.stop();
    const rm = await run(['secret-rm'], secret, ['rm', 's1', 's2']);
    expect(rm.seen).toEqual(expected('secret-rm'));
    expect(rm.out).toBe('s1\ns2\n');
    await replay?.stop();
    const pretty = await run(['config-inspect-pretty'], config, ['inspect', '--pretty', 'c1']);
    expect(pretty.seen).toEqual(expected('config-inspect-pretty'));
    expect(pretty.out).toBe(
      'ID:              qqfqi3eaje8subxv3khsw9ssh\nName:              c1\nCreated at:        2026-11-22 09:08:13.540073139 +0000 UTC\nUpdated at:        2026-11-22 09:08:13.540073139 +0000 UTC\nData:\nkey: value\n\n',
    );
  });
});
