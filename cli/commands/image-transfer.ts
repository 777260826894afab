// Commands that move images: pull, push, load, save, import; and login/logout, whose credentials
// (stored 0600 in $SHOAL_CONFIG/config.json, default ~/.shoal) go to the daemon as X-Registry-Auth.
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseReference } from '../../common/reference.js';
import { encodeAuthHeader } from '../../common/registry-auth.js';
import { API_PREFIX, ApiError, ConnectError } from '../client.js';
import { type Cli, type CommandFn, UsageError } from '../context.js';
import {
  configFile,
  credentialKey,
  eraseCredentials,
  loadCredentials,
  storeCredentials,
} from '../credentials.js';
import { type CommandSpec, parseCommand } from './common.js';
import { ProgressError, ProgressRenderer } from './image-progress.js';

/** A request with a streamed body or reply, beside the JSON client (uploads of image tarballs). */
export function rawRequest(
  cli: Cli,
  method: string,
  pathAndQuery: string,
  opts: { headers?: Record<string, string>; body?: Readable } = {},
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath: cli.client.socketPath,
      method,
      path: `${API_PREFIX}${pathAndQuery}`,
      agent: false,
      headers: { Host: 'shoal', 'User-Agent': 'shoal-cli', ...opts.headers },
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        ['ENOENT', 'ECONNREFUSED', 'EACCES'].includes(err.code ?? '')
          ? new ConnectError(
              `Cannot connect to the shoal daemon at unix://${cli.client.socketPath}. Is shoald running? (${err.code})`,
            )
          : err,
      ),
    );
    req.on('response', async (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return resolve(res);
      const parts: Buffer[] = [];
      for await (const c of res) parts.push(c as Buffer);
      const text = Buffer.concat(parts).toString();
      let message = text.trim() || `HTTP ${status}`;
      try {
        message = JSON.parse(text).message ?? message;
      } catch {}
      reject(new ApiError(status, message));
    });
    if (opts.body) opts.body.on('error', (e) => req.destroy(e)).pipe(req);
    else req.end();
  });
}

const q = (o: Record<string, string | undefined>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined) s.append(k, v);
  const t = s.toString();
  return t ? `?${t}` : '';
};

/** X-Registry-Auth for a reference's registry from the stored credentials (also used by run's implicit pull). */
export async function registryAuthHeader(cli: Cli, ref: string): Promise<string> {
  let domain: string;
  try {
    domain = parseReference(ref).domain;
  } catch {
    return Buffer.from('{}').toString('base64url'); // the daemon reports the bad reference
  }
  const creds = await loadCredentials(domain, configFile(cli.env)).catch(() => undefined);
  // docker always sends the header; "{}" when there are no credentials
  return creds ? encodeAuthHeader(creds, credentialKey(domain)) : Buffer.from('{}').toString('base64url');
}

async function streamProgress(cli: Cli, res: IncomingMessage, quiet: boolean): Promise<number> {
  const r = new ProgressRenderer(
    quiet ? devNull : cli.out,
    !quiet && Boolean((cli.out as NodeJS.WriteStream).isTTY),
  );
  try {
    await r.consume(res);
  } catch (e) {
    if (e instanceof ProgressError) {
      cli.err.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  return 0;
}

const devNull = { write: () => true } as unknown as NodeJS.WritableStream as import('node:stream').Writable;

/** A reference given on the command line; a malformed one is a usage error of that command. */
function referenceArg(ref: string, command: string): ReturnType<typeof parseReference> {
  try {
    return parseReference(ref);
  } catch (e) {
    throw new UsageError((e as Error).message, command);
  }
}

const PULL: CommandSpec = {
  name: 'pull',
  usage: 'shoal pull [OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  flags: [{ long: 'quiet', short: 'q', type: 'bool', help: 'Suppress verbose output' }],
  minArgs: 1,
  maxArgs: 1,
};

export const pull: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, PULL, args);
  if (!f) return 0;
  const ref = f.positionals[0];
  const r = referenceArg(ref, 'pull');
  const fromImage = `${r.domain}/${r.path}`;
  const res = await rawRequest(cli, 'POST', `/images/create${q({ fromImage, tag: r.digest ?? r.tag })}`, {
    headers: { 'X-Registry-Auth': await registryAuthHeader(cli, ref) },
  });
  const status = await streamProgress(cli, res, f.bools.has('quiet'));
  if (status === 0 && f.bools.has('quiet')) cli.out.write(`${ref}\n`);
  return status;
};

const PUSH: CommandSpec = {
  name: 'push',
  usage: 'shoal push [OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  flags: [{ long: 'quiet', short: 'q', type: 'bool', help: 'Suppress verbose output' }],
  minArgs: 1,
  maxArgs: 1,
};

export const push: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, PUSH, args);
  if (!f) return 0;
  const ref = f.positionals[0];
  const r = referenceArg(ref, 'push');
  const name = `${r.domain}/${r.path}`;
  const res = await rawRequest(cli, 'POST', `/images/${name}/push${q({ tag: r.tag })}`, {
    headers: { 'X-Registry-Auth': await registryAuthHeader(cli, ref) },
  });
  return streamProgress(cli, res, f.bools.has('quiet'));
};

const LOAD: CommandSpec = {
  name: 'load',
  usage: 'shoal load [OPTIONS]',
  description: 'Load an image from a tar archive (docker save or OCI layout) or STDIN',
  flags: [
    { long: 'input', short: 'i', type: 'string', help: 'Read from tar archive file, instead of STDIN' },
    { long: 'quiet', short: 'q', type: 'bool', help: 'Suppress the load output' },
  ],
  maxArgs: 0,
};

export const load: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, LOAD, args);
  if (!f) return 0;
  const input = f.strings.get('input');
  if (!input && cli.stdin.isTTY)
    throw new UsageError(
      'requested load from stdin, but stdin is empty (use -i FILE or pipe a tar archive)',
      'load',
    );
  let body: Readable;
  if (input) {
    await fs.access(input).catch(() => {
      throw new UsageError(`open ${input}: no such file or directory`, 'load');
    });
    body = createReadStream(input);
  } else body = cli.stdin;
  const tty = Boolean((cli.out as NodeJS.WriteStream).isTTY);
  const res = await rawRequest(
    cli,
    'POST',
    `/images/load${q({ quiet: tty && !f.bools.has('quiet') ? '0' : '1' })}`,
    {
      headers: { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' },
      body,
    },
  );
  return streamProgress(cli, res, false);
};

const SAVE: CommandSpec = {
  name: 'save',
  usage: 'shoal save [OPTIONS] IMAGE [IMAGE...]',
  description:
    'Save one or more images to a tar archive (docker save and OCI layout in one; STDOUT by default)',
  flags: [{ long: 'output', short: 'o', type: 'string', help: 'Write to a file, instead of STDOUT' }],
  minArgs: 1,
};

export const save: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, SAVE, args);
  if (!f) return 0;
  const output = f.strings.get('output');
  if (!output && (cli.out as NodeJS.WriteStream).isTTY)
    throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 'save');
  const names = new URLSearchParams();
  for (const n of f.positionals) names.append('names', n);
  const res = await rawRequest(cli, 'GET', `/images/get?${names.toString()}`);
  if (output) {
    // write beside the target and rename, so a failed save never leaves a partial archive
    const tmp = path.join(path.dirname(output), `.${path.basename(output)}.tmp-${process.pid}`);
    try {
      await pipeline(res, createWriteStream(tmp));
      if (!res.complete) throw new Error('the daemon ended the archive early');
      await fs.rename(tmp, output);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      cli.err.write(`shoal save: ${(e as Error).message}\n`);
      return 1;
    }
  } else await pipeline(res, cli.out);
  return 0;
};

const IMPORT: CommandSpec = {
  name: 'import',
  usage: 'shoal import [OPTIONS] file|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  flags: [{ long: 'message', short: 'm', type: 'string', help: 'Set commit message for imported image' }],
  minArgs: 1,
  maxArgs: 2,
};

export const importImage: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, IMPORT, args);
  if (!f) return 0;
  const [file, ref] = f.positionals;
  let repo: string | undefined;
  let tag: string | undefined;
  if (ref) {
    let r: ReturnType<typeof parseReference>;
    try {
      r = parseReference(ref);
    } catch (e) {
      throw new UsageError((e as Error).message, 'import');
    }
    if (r.digest) throw new UsageError(`"${ref}": an imported image cannot be named by digest`, 'import');
    repo = `${r.domain}/${r.path}`;
    tag = r.tag;
  }
  let body: Readable;
  if (file === '-') body = cli.stdin;
  else {
    await fs.access(file).catch(() => {
      throw new UsageError(`open ${file}: no such file or directory`, 'import');
    });
    body = createReadStream(file);
  }
  const res = await rawRequest(
    cli,
    'POST',
    `/images/create${q({ fromSrc: '-', repo, tag, message: f.strings.get('message') })}`,
    { headers: { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' }, body },
  );
  let id = '';
  const r = new ProgressRenderer(devNull, false);
  try {
    await r.consume(res, (m) => {
      if (m.status) id = m.status;
    });
  } catch (e) {
    if (e instanceof ProgressError) {
      cli.err.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  cli.out.write(`${id}\n`);
  return 0;
};

const LOGIN: CommandSpec = {
  name: 'login',
  usage: 'shoal login [OPTIONS] [SERVER]',
  description: 'Log in to a registry (credentials are stored in $SHOAL_CONFIG/config.json, mode 0600)',
  flags: [
    { long: 'username', short: 'u', type: 'string', help: 'Username' },
    { long: 'password', short: 'p', type: 'string', help: 'Password' },
    { long: 'password-stdin', type: 'bool', help: 'Take the password from stdin' },
  ],
  maxArgs: 1,
};

async function readStdin(cli: Cli): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of cli.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts)
    .toString()
    .replace(/\r?\n$/, '');
}

async function prompt(cli: Cli, question: string, hidden: boolean): Promise<string> {
  cli.err.write(question);
  const stdin = cli.stdin;
  if (hidden && stdin.isTTY) stdin.setRawMode(true);
  return new Promise((resolve) => {
    let acc = '';
    const onData = (d: Buffer) => {
      for (const ch of d.toString()) {
        if (ch === '\r' || ch === '\n') {
          stdin.off('data', onData);
          if (hidden && stdin.isTTY) stdin.setRawMode(false);
          stdin.pause();
          if (hidden) cli.err.write('\n');
          resolve(acc);
          return;
        }
        if (ch === '\u0003') process.exit(130);
        if (ch === '\u007f') acc = acc.slice(0, -1);
        else acc += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** "127.0.0.1:5000" stays; "https://index.docker.io/v1/" and no server mean Docker Hub. */
function registryDomain(server: string | undefined): string {
  if (!server) return 'docker.io';
  const host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

export const login: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, LOGIN, args);
  if (!f) return 0;
  const domain = registryDomain(f.positionals[0]);
  let username = f.strings.get('username');
  let password = f.strings.get('password');
  if (f.bools.has('password-stdin')) {
    if (password !== undefined)
      throw new UsageError('--password and --password-stdin are mutually exclusive', 'login');
    if (!username) throw new UsageError('must provide --username with --password-stdin', 'login');
    password = await readStdin(cli);
  }
  if (password !== undefined && !f.bools.has('password-stdin'))
    cli.err.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  if (!username) {
    if (!cli.stdin.isTTY)
      throw new UsageError('cannot prompt for a username: stdin is not a terminal (use -u)', 'login');
    username = await prompt(cli, 'Username: ', false);
  }
  if (password === undefined) {
    if (!cli.stdin.isTTY)
      throw new UsageError(
        'cannot prompt for a password: stdin is not a terminal (use --password-stdin)',
        'login',
      );
    password = await prompt(cli, 'Password: ', true);
  }
  if (!username) throw new UsageError('username is empty', 'login');
  await cli.client.post('/auth', undefined, { username, password, serveraddress: credentialKey(domain) });
  const file = configFile(cli.env);
  await storeCredentials(domain, { username, password }, file);
  cli.out.write('Login Succeeded\n');
  return 0;
};

const LOGOUT: CommandSpec = {
  name: 'logout',
  usage: 'shoal logout [SERVER]',
  description: 'Log out from a registry',
  flags: [],
  maxArgs: 1,
};

export const logout: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, LOGOUT, args);
  if (!f) return 0;
  const domain = registryDomain(f.positionals[0]);
  const removed = await eraseCredentials(domain, configFile(cli.env));
  cli.out.write(removed ? `Removing login credentials for ${domain}\n` : `Not logged in to ${domain}\n`);
  return 0;
};
