// `shoal service logs SERVICE|TASK`: the multiplexed log stream of a service's tasks, each line
// prefixed "name.slot.taskid@node    | " from the details the daemon adds (details=1), as docker does.
import { ApiError } from '../client.js';
import type { Cli } from '../context.js';
import { parseCommand } from './common.js';
import type { NodeJson, ServiceJson, TaskJson } from './swarm-format.js';

/** Splits multiplexed frames into complete lines per stream (1 stdout, 2 stderr). */
export class LineDemuxer {
  private buf: Buffer = Buffer.alloc(0);
  private readonly partial = new Map<number, string>();

  constructor(private readonly onLine: (stream: number, line: string) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      const stream = this.buf[0] === 1 ? 1 : 2;
      const text = (this.partial.get(stream) ?? '') + this.buf.subarray(8, 8 + size).toString('utf8');
      this.buf = this.buf.subarray(8 + size);
      const lines = text.split('\n');
      this.partial.set(stream, lines.pop() ?? '');
      for (const l of lines) this.onLine(stream, l);
    }
  }

  end(): void {
    for (const [stream, rest] of this.partial) if (rest) this.onLine(stream, rest);
    this.partial.clear();
  }
}

/** "com.docker.swarm.node.id=N,…,com.docker.swarm.task.id=T msg" → its keys and the message. */
export function splitDetails(line: string): { details: Record<string, string>; message: string } {
  const space = line.indexOf(' ');
  const head = space < 0 ? line : line.slice(0, space);
  const details: Record<string, string> = {};
  for (const kv of head.split(',')) {
    const eq = kv.indexOf('=');
    if (eq > 0) details[kv.slice(0, eq)] = decodeURIComponent(kv.slice(eq + 1));
  }
  return { details, message: space < 0 ? '' : line.slice(space + 1) };
}

export async function serviceLogs(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service logs',
      usage: 'shoal service logs [OPTIONS] SERVICE|TASK',
      description: 'Fetch the logs of a service or task',
      flags: [
        { long: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
        {
          long: 'tail',
          short: 'n',
          type: 'string',
          help: 'Number of lines to show from the end of the logs (default "all")',
        },
        { long: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
        { long: 'since', type: 'string', help: 'Show logs since timestamp' },
        { long: 'raw', type: 'bool', help: 'Do not neatly format logs' },
        { long: 'no-task-ids', type: 'bool', help: 'Do not include task IDs in output' },
        { long: 'no-trunc', type: 'bool', help: 'Do not truncate output' },
        { long: 'no-resolve', type: 'bool', help: 'Do not map IDs to Names in output' },
      ],
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const ref = f.positionals[0];
  let path: string;
  try {
    await cli.client.get<ServiceJson>(`/services/${encodeURIComponent(ref)}`, { insertDefaults: 'false' });
    path = `/services/${encodeURIComponent(ref)}/logs`;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    const task = await cli.client.get<TaskJson>(`/tasks/${encodeURIComponent(ref)}`);
    path = `/tasks/${task.ID}/logs`;
  }
  const plain = f.bools.has('raw') && f.bools.has('no-task-ids');
  const res = await cli.client.open('GET', path, {
    query: {
      details: plain ? undefined : '1',
      follow: f.bools.has('follow') ? '1' : undefined,
      since: f.strings.get('since'),
      stderr: '1',
      stdout: '1',
      tail: f.strings.get('tail') ?? 'all',
      timestamps: f.bools.has('timestamps') ? '1' : undefined,
    },
  });
  const trunc = !f.bools.has('no-trunc');
  const resolve = !f.bools.has('no-resolve');
  const cache = new Map<string, Promise<string>>();
  const lookup = (key: string, load: () => Promise<string>, fallback: string) => {
    if (!cache.has(key))
      cache.set(
        key,
        load().catch(() => fallback),
      );
    return cache.get(key) as Promise<string>;
  };
  const prefixOf = async (d: Record<string, string>): Promise<string> => {
    const nodeId = d['com.docker.swarm.node.id'] ?? '';
    const serviceId = d['com.docker.swarm.service.id'] ?? '';
    const taskId = d['com.docker.swarm.task.id'] ?? '';
    const nodeName = resolve
      ? await lookup(
          `n${nodeId}`,
          async () => (await cli.client.get<NodeJson>(`/nodes/${nodeId}`)).Description?.Hostname ?? nodeId,
          nodeId,
        )
      : nodeId;
    const serviceName = resolve
      ? await lookup(
          `s${serviceId}`,
          async () =>
            (await cli.client.get<ServiceJson>(`/services/${serviceId}`, { insertDefaults: 'false' })).Spec
              .Name,
          serviceId,
        )
      : serviceId;
    const slot = await lookup(
      `t${taskId}`,
      async () => String((await cli.client.get<TaskJson>(`/tasks/${taskId}`)).Slot ?? nodeId),
      '',
    );
    const id = f.bools.has('no-task-ids') ? '' : `.${trunc ? taskId.slice(0, 12) : taskId}`;
    return `${serviceName}.${slot}${id}@${nodeName}`;
  };
  // Lines are printed in arrival order: each waits for its prefix lookups, chained.
  let chain = Promise.resolve();
  const demux = new LineDemuxer((stream, line) => {
    const sink = stream === 1 ? cli.out : cli.err;
    if (plain) {
      sink.write(`${line}\n`);
      return;
    }
    let ts = '';
    let rest = line;
    if (f.bools.has('timestamps')) {
      const sp = line.indexOf(' ');
      ts = `${line.slice(0, sp)} `;
      rest = line.slice(sp + 1);
    }
    const { details, message } = splitDetails(rest);
    chain = chain.then(async () => {
      sink.write(
        f.bools.has('raw') ? `${ts}${message}\n` : `${ts}${await prefixOf(details)}    | ${message}\n`,
      );
    });
  });
  await new Promise<void>((done) => {
    res.on('data', (c: Buffer) => demux.push(c));
    res.on('end', done);
    res.on('close', done);
    res.on('error', () => done());
  });
  demux.end();
  await chain;
  return 0;
}
