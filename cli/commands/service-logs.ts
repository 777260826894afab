// `shoal service logs SERVICE|TASK`: the multiplexed log stream of a service's tasks, each line
// prefixed "name.slot.taskid@node    | " from the details the daemon adds (details=1), as docker does
// (docker/cli's service logs: details are asked for unless --raw, or with --details; the prefix is padded to
// the width of the replica count; a stream-3 frame is the daemon's error and ends the command with status 1).
import { ApiError } from '../client.js';
import type { Cli } from '../context.js';
import { parseCommand } from './common.js';
import { timeValue } from './service-values.js';
import type { NodeJson, ServiceJson, TaskJson } from './swarm-format.js';

/** Splits multiplexed frames into complete lines per stream (1 stdout, 2 stderr, 3 the daemon's error). */
export class LineDemuxer {
  private buf: Buffer = Buffer.alloc(0);
  private readonly partial = new Map<number, string>();

  constructor(private readonly onLine: (stream: number, line: string) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      const stream = this.buf[0] === 1 ? 1 : this.buf[0] === 3 ? 3 : 2;
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

/** The docker CLI's prefix: `name.slot[.task]@node`, padded to the width of the replica count, then "    | ". */
export function prefixOf(
  p: { service: string; slot: number; taskId: string; node: string },
  o: { noTaskIds: boolean; noTrunc: boolean; padding: number },
): string {
  const id = o.noTaskIds ? '' : `.${o.noTrunc ? p.taskId : p.taskId.slice(0, 12)}`;
  const pad = ' '.repeat(Math.max(0, o.padding - String(p.slot).length));
  return `${p.service}.${p.slot}${id}@${p.node}${pad}    | `;
}

const SWARM_KEYS = ['com.docker.swarm.node.id', 'com.docker.swarm.service.id', 'com.docker.swarm.task.id'];

export async function serviceLogs(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service logs',
      usage: 'shoal service logs [OPTIONS] SERVICE|TASK',
      description: 'Fetch the logs of a service or task',
      flags: [
        { long: 'details', type: 'bool', help: 'Show extra details provided to logs' },
        { long: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
        { long: 'no-resolve', type: 'bool', help: 'Do not map IDs to Names in output' },
        { long: 'no-task-ids', type: 'bool', help: 'Do not include task IDs in output' },
        { long: 'no-trunc', type: 'bool', help: 'Do not truncate output' },
        { long: 'raw', type: 'bool', help: 'Do not neatly format logs' },
        {
          long: 'since',
          type: 'string',
          help: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
        },
        {
          long: 'tail',
          short: 'n',
          type: 'string',
          help: 'Number of lines to show from the end of the logs (default "all")',
        },
        { long: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
      ],
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const ref = f.positionals[0];
  const raw = f.bools.has('raw');
  const details = f.bools.has('details');
  const timestamps = f.bools.has('timestamps');
  const sinceRaw = f.strings.get('since');
  const since = sinceRaw ? timeValue('--since', sinceRaw, Date.now()) : undefined;
  let path: string;
  let tty: boolean;
  let padding = 1;
  try {
    const svc = await cli.client.get<ServiceJson>(`/services/${encodeURIComponent(ref)}`, {
      insertDefaults: 'false',
    });
    path = `/services/${encodeURIComponent(ref)}/logs`;
    tty = Boolean(svc.Spec.TaskTemplate?.ContainerSpec?.TTY);
    const replicas = (svc.Spec.Mode as { Replicated?: { Replicas?: number } } | undefined)?.Replicated
      ?.Replicas;
    if (replicas !== undefined) padding = String(replicas).length;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    let task: TaskJson;
    try {
      task = await cli.client.get<TaskJson>(`/tasks/${encodeURIComponent(ref)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        cli.err.write(`no such task or service: ${ref}\n`);
        return 1;
      }
      throw e;
    }
    path = `/tasks/${task.ID}/logs`;
    tty = Boolean((task.Spec?.ContainerSpec as { TTY?: boolean } | undefined)?.TTY);
    padding = String(task.Slot ?? 0).length;
  }
  if (tty && !raw) {
    cli.err.write('tty service logs only supported with --raw\n');
    return 1;
  }
  const res = await cli.client.open('GET', path, {
    query: {
      details: details || !raw ? '1' : undefined,
      follow: f.bools.has('follow') ? '1' : undefined,
      since,
      stderr: '1',
      stdout: '1',
      tail: f.strings.get('tail') ?? 'all',
      timestamps: timestamps ? '1' : undefined,
    },
  });
  if (tty) {
    await new Promise<void>((done) => {
      res.on('data', (c: Buffer) => cli.out.write(c));
      res.on('end', done);
      res.on('close', done);
      res.on('error', () => done());
    });
    return 0;
  }
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
  const prefix = async (d: Record<string, string>): Promise<string> => {
    const nodeId = d['com.docker.swarm.node.id'] ?? '';
    const serviceId = d['com.docker.swarm.service.id'] ?? '';
    const taskId = d['com.docker.swarm.task.id'] ?? '';
    const node = resolve
      ? await lookup(
          `n${nodeId}`,
          async () => (await cli.client.get<NodeJson>(`/nodes/${nodeId}`)).Description?.Hostname ?? nodeId,
          nodeId,
        )
      : nodeId;
    const service = resolve
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
      async () => String((await cli.client.get<TaskJson>(`/tasks/${taskId}`)).Slot ?? 0),
      '0',
    );
    return prefixOf(
      { service, slot: Number(slot), taskId, node },
      { noTaskIds: f.bools.has('no-task-ids'), noTrunc: f.bools.has('no-trunc'), padding },
    );
  };
  // Lines are printed in arrival order: each waits for its prefix lookups, chained.
  let chain = Promise.resolve();
  let daemonError: string | undefined;
  const demux = new LineDemuxer((stream, line) => {
    if (stream === 3) {
      daemonError ??= line;
      return;
    }
    const sink = stream === 1 ? cli.out : cli.err;
    if (raw) {
      chain = chain.then(() => {
        sink.write(`${line}\n`);
      });
      return;
    }
    const parts = line.split(' ');
    const ts = timestamps ? `${parts.shift() ?? ''} ` : '';
    const head = parts.shift() ?? '';
    const message = parts.join(' ');
    const { details: d } = splitDetails(head);
    const extra = details
      ? `${Object.entries(d)
          .filter(([k]) => !SWARM_KEYS.includes(k))
          .map(([k, v]) => `${k}=${v}`)
          .sort()
          .join(',')} `
      : '';
    chain = chain.then(async () => {
      sink.write(`${ts}${await prefix(d)}${extra}${message}\n`);
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
  if (daemonError !== undefined) {
    cli.err.write(`error from daemon in stream: ${daemonError}\n`);
    return 1;
  }
  return 0;
}
