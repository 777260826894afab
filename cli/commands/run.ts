// `shoal run` and `shoal create`, in the docker CLI's request order: create (pulling on "No such
// image") → attach (hijack) → wait (headers before start) → start; exit status = the container's.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { parseDetachKeys } from '../../common/detach-keys.js';
import { ApiError, type Client } from '../client.js';
import type { Cli } from '../context.js';
import { FlagError } from '../flags.js';
import { refuseTtyWithoutTerminal, sendSize, startSession } from './attach-session.js';
import { type CommandSpec, parseCommand, readWaitResult } from './common.js';
import { buildCreateRequest, CREATE_FLAGS, type CreateRequest, RUN_ONLY_FLAGS } from './run-options.js';

const RUN_SPEC: CommandSpec = {
  name: 'run',
  usage: 'shoal run [OPTIONS] (--rootfs DIR | IMAGE) [COMMAND] [ARG...]',
  description: 'Create and run a new container',
  flags: [...CREATE_FLAGS, ...RUN_ONLY_FLAGS],
  interspersed: false,
};

const CREATE_SPEC: CommandSpec = {
  name: 'create',
  usage: 'shoal create [OPTIONS] (--rootfs DIR | IMAGE) [COMMAND] [ARG...]',
  description: 'Create a new container',
  flags: CREATE_FLAGS,
  interspersed: false,
};

/** Docker's exit statuses for a container that could not start: 127 not found, 126 not executable, else 125. */
export function startFailureStatus(message: string): number {
  if (
    /executable file not found|exec ".*": no such file or directory|no such file or directory.*exec/i.test(
      message,
    )
  )
    return 127;
  if (/exec .*permission denied|permission denied.*exec|is a directory/i.test(message)) return 126;
  return 125;
}

function fail(cli: Cli, message: string, command: string): number {
  cli.err.write(`shoal: ${message}.\nSee 'shoal ${command} --help'.\n`);
  return startFailureStatus(message);
}

/** "repo/name:tag" → fromImage + tag, as `docker pull` sends them. */
export function splitReference(ref: string): { fromImage: string; tag?: string } {
  if (ref.includes('@')) return { fromImage: ref };
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { fromImage: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { fromImage: ref, tag: 'latest' };
}

async function pull(cli: Cli, ref: string): Promise<void> {
  cli.err.write(`Unable to find image '${ref}' locally\n`);
  const { registryAuthHeader } = await import('./image-transfer.js'); // stored `shoal login` credentials
  const res = await cli.client.open('POST', '/images/create', {
    query: splitReference(ref),
    headers: { 'X-Registry-Auth': await registryAuthHeader(cli, ref) },
  });
  let buf = '';
  let error: string | undefined;
  for await (const chunk of res) {
    buf += (chunk as Buffer).toString('utf8');
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      if (!line) continue;
      try {
        const msg = JSON.parse(line) as {
          status?: string;
          id?: string;
          error?: string;
          errorDetail?: { message?: string };
        };
        if (msg.error || msg.errorDetail?.message) error = msg.errorDetail?.message ?? msg.error;
        else if (
          msg.status &&
          !msg.status.startsWith('Downloading') &&
          !msg.status.startsWith('Extracting')
        ) {
          cli.err.write(`${msg.id ? `${msg.id}: ` : ''}${msg.status}\n`);
        }
      } catch {}
    }
  }
  if (error) throw new ApiError(500, error);
}

/** POST /containers/create; an image that is not there is pulled once, then the create is retried. */
async function createContainer(cli: Cli, req: CreateRequest): Promise<string> {
  const doCreate = () =>
    cli.client.post<{ Id: string; Warnings?: string[] | null }>(
      '/containers/create',
      { name: req.name },
      req.body,
    );
  let res: { Id: string; Warnings?: string[] | null };
  try {
    res = await doCreate();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404 && req.image && /no such image/i.test(err.message)))
      throw err;
    await pull(cli, req.image);
    res = await doCreate();
  }
  for (const w of res.Warnings ?? []) cli.err.write(`WARNING: ${w}\n`);
  return res.Id;
}

function parseRequest(cli: Cli, spec: CommandSpec, args: string[]) {
  const f = parseCommand(cli, spec, args);
  if (!f) return undefined;
  try {
    return { f, req: buildCreateRequest(f, { env: cli.env, readFile: (p) => readFileSync(p, 'utf8') }) };
  } catch (err) {
    if (err instanceof FlagError) {
      cli.err.write(`shoal: ${err.message}.\nSee 'shoal ${spec.name} --help'.\n`);
      return null;
    }
    throw err;
  }
}

export async function create(cli: Cli, args: string[]): Promise<number> {
  const parsed = parseRequest(cli, CREATE_SPEC, args);
  if (parsed === undefined) return 0;
  if (parsed === null) return 125;
  try {
    cli.out.write(`${await createContainer(cli, parsed.req)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ApiError) return fail(cli, `Error response from daemon: ${err.message}`, 'create');
    throw err;
  }
}

/** Forwards SIGINT/SIGTERM to the container (docker's --sig-proxy) while attached without a tty. */
function proxySignals(client: Client, id: string): () => void {
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const).map((sig) => {
    const h = () => {
      client.post(`/containers/${id}/kill`, { signal: sig }).catch(() => {});
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}

export async function run(cli: Cli, args: string[]): Promise<number> {
  const parsed = parseRequest(cli, RUN_SPEC, args);
  if (parsed === undefined) return 0;
  if (parsed === null) return 125;
  const { f, req } = parsed;
  const detach = f.bools.has('detach');
  const tty = f.bools.has('tty');
  const interactive = f.bools.has('interactive');
  const keysSpec = f.strings.get('detach-keys');
  let detachKeys: Buffer | undefined;
  try {
    detachKeys = keysSpec === undefined ? undefined : parseDetachKeys(keysSpec);
  } catch (e) {
    cli.err.write(`shoal: ${(e as Error).message}.\nSee 'shoal run --help'.\n`);
    return 125;
  }
  const refused = detach ? undefined : refuseTtyWithoutTerminal(cli, tty, interactive);
  if (refused !== undefined) return refused;
  const client = cli.client;
  let id: string;
  try {
    id = await createContainer(cli, req);
  } catch (err) {
    if (err instanceof ApiError) return fail(cli, `Error response from daemon: ${err.message}`, 'run');
    throw err;
  }

  if (detach) {
    try {
      await client.post(`/containers/${id}/start`);
    } catch (err) {
      if (err instanceof ApiError) return fail(cli, `Error response from daemon: ${err.message}`, 'run');
      throw err;
    }
    cli.out.write(`${id}\n`);
    return 0;
  }

  let socket: Socket;
  try {
    socket = await client.hijack(`/containers/${id}/attach`, {
      stream: true,
      stdin: interactive,
      stdout: true,
      stderr: true,
      ...(keysSpec ? { detachKeys: keysSpec } : {}),
    });
  } catch (err) {
    if (err instanceof ApiError) return fail(cli, `Error response from daemon: ${err.message}`, 'run');
    throw err;
  }
  const waitRes = await client.open('POST', `/containers/${id}/wait`, {
    query: { condition: f.bools.has('rm') ? 'removed' : 'next-exit' },
  });

  const session = startSession(cli, socket, {
    tty,
    stdin: interactive,
    client,
    resizePath: `/containers/${id}/resize`,
    detachKeys,
  });
  const sigProxy = !tty && !f.falses.has('sig-proxy');
  const unproxy = sigProxy ? proxySignals(client, id) : () => {};
  try {
    // The terminal exists from create on: size it before the process starts, so that it never sees
    // 0x0 (docker sends ConsoleSize with the create instead); again after start, as docker does.
    if (tty) await sendSize(cli, client, `/containers/${id}/resize`);
    try {
      await client.post(`/containers/${id}/start`);
    } catch (err) {
      socket.destroy();
      waitRes.destroy();
      if (err instanceof ApiError) return fail(cli, `Error response from daemon: ${err.message}`, 'run');
      throw err;
    }
    if (tty) void sendSize(cli, client, `/containers/${id}/resize`);
    const status = await Promise.race([readWaitResult(cli, waitRes), session.detached.then(() => null)]);
    if (status === null) {
      waitRes.destroy(); // detached: the container goes on
      return 0;
    }
    await session.output;
    return status;
  } finally {
    unproxy();
    session.restore();
  }
}
