// `shoal build`: sends a context (a directory, without what .dockerignore names, or a tar on stdin) to
// POST /build and shows the classic builder's stream: as it comes (--progress plain), or one line
// per step with CACHED or its time and the RUN output indented (--progress tty, the default on a
// terminal). `shoal builder prune` empties the build cache.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { ignoreRules } from '../../common/dockerignore.js';
import { type CommandFn, UsageError } from '../context.js';
import { type CommandSpec, parseCommand, runSubcommand } from './common.js';
import { type JsonMessage, ProgressError, ProgressRenderer } from './image-progress.js';
import { rawRequest } from './image-transfer.js';

const BUILD: CommandSpec = {
  name: 'build',
  usage: 'shoal build [OPTIONS] PATH | -',
  description: 'Build an image from a Dockerfile',
  flags: [
    { long: 'tag', short: 't', type: 'list', help: 'Name and optionally a tag in the "name:tag" format' },
    {
      long: 'file',
      short: 'f',
      type: 'string',
      help: 'Name of the Dockerfile (default "PATH/Dockerfile"; - for stdin)',
    },
    {
      long: 'build-arg',
      type: 'list',
      help: 'Set build-time variables (KEY=VALUE, or KEY to take it from the environment)',
    },
    { long: 'target', type: 'string', help: 'Set the target build stage to build' },
    { long: 'no-cache', type: 'bool', help: 'Do not use cache when building the image' },
    { long: 'pull', type: 'bool', help: 'Always attempt to pull a newer version of the base images' },
    { long: 'label', type: 'list', help: 'Set metadata for an image (KEY=VALUE)' },
    { long: 'platform', type: 'string', help: 'Set platform (only linux/amd64)' },
    { long: 'network', type: 'string', help: 'Network of the RUN steps: none (default) or host' },
    {
      long: 'quiet',
      short: 'q',
      type: 'bool',
      help: 'Suppress the build output and print image ID on success',
    },
    { long: 'progress', type: 'string', help: 'Type of progress output: auto, plain or tty' },
    { long: 'iidfile', type: 'string', help: 'Write the image ID to the file' },
  ],
  minArgs: 1,
  maxArgs: 1,
};

function keyValues(list: string[], what: string, env?: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq === 0) throw new UsageError(`invalid ${what} "${kv}": empty name`, 'build');
    if (eq < 0) {
      if (!env) throw new UsageError(`invalid ${what} "${kv}": expected KEY=VALUE`, 'build');
      // docker: a bare KEY takes its value from the environment, and is left out when unset
      if (env[kv] !== undefined) out[kv] = env[kv] as string;
      continue;
    }
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** The context's paths (relative, parents first) that .dockerignore keeps; Dockerfile and .dockerignore always. */
async function contextPaths(dir: string, always: string[]): Promise<string[]> {
  const ignoreText = await fs.readFile(path.join(dir, '.dockerignore'), 'utf8').catch(() => undefined);
  const rules = ignoreRules(ignoreText);
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await fs.readdir(path.join(dir, rel))).sort();
    } catch (e) {
      throw new UsageError(`error checking context: ${(e as Error).message}`, 'build');
    }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await fs.lstat(path.join(dir, r));
      const ignored = rules.ignores(r) && !always.includes(r);
      if (st.isDirectory()) {
        if (!ignored) out.push(r);
        if (!ignored || rules.hasExceptions) await walk(r);
      } else if (!ignored) out.push(r);
    }
  };
  await walk('');
  return out;
}

/** A tar of `paths` under `dir` (plus extra files from other dirs), owners 0:0 as docker sends. */
function tarOf(dir: string, paths: string[], extra?: { dir: string; name: string }): Readable {
  const args = [
    '-c',
    '-f',
    '-',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-C',
    dir,
    '--no-recursion',
    '--null',
    '-T',
    '-',
  ];
  if (extra) args.push('-C', extra.dir, extra.name);
  const p = spawn('tar', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let err = '';
  p.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  p.stdout.pipe(out, { end: false });
  p.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new Error(`tar of the build context failed: ${err.trim() || `exit ${code}`}`));
  });
  p.on('error', (e) => out.destroy(e));
  p.stdin.end(paths.map((p) => `${p}\0`).join(''));
  return out;
}

/** One line per step on a terminal: `[3/9] COPY … 0.4s` or `CACHED`, RUN output indented under it. */
class StepRenderer {
  private step = '';
  private started = 0;
  private cached = false;
  private buf = '';
  constructor(private readonly out: Writable) {}
  write(s: string): void {
    this.buf += s;
    let nl = this.buf.indexOf('\n');
    while (nl >= 0) {
      this.line(this.buf.slice(0, nl));
      this.buf = this.buf.slice(nl + 1);
      nl = this.buf.indexOf('\n');
    }
  }
  private finish(): void {
    if (!this.step) return;
    const took = this.cached ? 'CACHED' : `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
    this.out.write(`\x1b[1m${this.step}\x1b[0m  ${took}\n`);
    this.step = '';
  }
  private line(l: string): void {
    const m = /^Step (\d+)\/(\d+) : (.*)$/.exec(l);
    if (m) {
      this.finish();
      this.step = `[${m[1]}/${m[2]}] ${m[3]}`;
      this.started = Date.now();
      this.cached = false;
      return;
    }
    if (l === ' ---> Using cache') this.cached = true;
    else if (/^ ---> [0-9a-f]{12}$/.test(l)) this.finish();
    else if (/^ ---> (Running in|Removed intermediate container) /.test(l)) {
      if (l.includes('Running in') && this.step) {
        this.out.write(`\x1b[1m${this.step}\x1b[0m\n`);
        this.step = this.step.replace(/^/, '  ↳ ');
      }
    } else {
      this.finish();
      this.out.write(l.startsWith('Successfully') || l.startsWith('[Warning]') ? `${l}\n` : `    ${l}\n`);
    }
  }
  end(): void {
    if (this.buf) this.line(this.buf);
    this.finish();
  }
}

export const build: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, BUILD, args);
  if (!f) return 0;
  const ctxArg = f.positionals[0];
  const file = f.strings.get('file');
  const progress = f.strings.get('progress') ?? 'auto';
  if (!['auto', 'plain', 'tty'].includes(progress))
    throw new UsageError(`invalid --progress "${progress}": auto, plain or tty`, 'build');
  const network = f.strings.get('network');
  if (network !== undefined && !['none', 'host', 'default'].includes(network))
    throw new UsageError(`invalid --network "${network}": a build's RUN steps use none or host`, 'build');
  const quiet = f.bools.has('quiet');
  const query = new URLSearchParams();
  for (const t of f.lists.get('tag') ?? []) query.append('t', t);
  const buildArgs = keyValues(f.lists.get('build-arg') ?? [], '--build-arg', cli.env);
  const labels = keyValues(f.lists.get('label') ?? [], '--label');
  if (Object.keys(buildArgs).length) query.set('buildargs', JSON.stringify(buildArgs));
  if (Object.keys(labels).length) query.set('labels', JSON.stringify(labels));
  const target = f.strings.get('target');
  if (target) query.set('target', target);
  if (f.bools.has('no-cache')) query.set('nocache', '1');
  if (f.bools.has('pull')) query.set('pull', '1');
  if (quiet) query.set('q', '1');
  const platform = f.strings.get('platform');
  if (platform) query.set('platform', platform);
  if (network) query.set('networkmode', network);
  query.set('rm', '1');

  let body: Readable;
  let tmp: string | undefined;
  try {
    if (ctxArg === '-') {
      if (file === '-')
        throw new UsageError(
          "invalid argument: can't use stdin for both build context and dockerfile",
          'build',
        );
      if (cli.stdin.isTTY) throw new UsageError('the build context on stdin must be a tar archive', 'build');
      body = cli.stdin;
      if (file) query.set('dockerfile', file);
    } else {
      const dir = path.resolve(ctxArg);
      const st = await fs.stat(dir).catch(() => undefined);
      if (!st?.isDirectory())
        throw new UsageError(`unable to prepare context: path "${ctxArg}" not found`, 'build');
      let extra: { dir: string; name: string } | undefined;
      let dockerfile = 'Dockerfile';
      if (file !== undefined) {
        const abs = file === '-' ? undefined : path.resolve(file);
        if (abs && !path.relative(dir, abs).startsWith('..') && !path.isAbsolute(path.relative(dir, abs)))
          dockerfile = path.relative(dir, abs).split(path.sep).join('/');
        else {
          // outside the context (or stdin): sent in the tar under a name of its own, as docker does
          tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-build-'));
          const name = `.dockerfile.${randomBytes(10).toString('hex')}`;
          if (abs)
            await fs.copyFile(abs, path.join(tmp, name)).catch(() => {
              throw new UsageError(
                `unable to prepare context: the Dockerfile (${file}) cannot be read`,
                'build',
              );
            });
          else await fs.writeFile(path.join(tmp, name), await readAll(cli.stdin));
          extra = { dir: tmp, name };
          dockerfile = name;
        }
      }
      query.set('dockerfile', dockerfile);
      const paths = await contextPaths(dir, [dockerfile, '.dockerignore']);
      body = tarOf(dir, paths, extra);
    }
    const res = await rawRequest(cli, 'POST', `/build?${query.toString()}`, {
      headers: { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' },
      body,
    });
    const tty = progress === 'tty' || (progress === 'auto' && Boolean((cli.out as NodeJS.WriteStream).isTTY));
    const steps = !quiet && tty ? new StepRenderer(cli.out) : undefined;
    let id = '';
    const sink = {
      write: (s: string) => {
        if (quiet) return true;
        if (steps) steps.write(s);
        else cli.out.write(s);
        return true;
      },
    } as unknown as Writable;
    try {
      await new ProgressRenderer(sink, false).consume(res, (m: JsonMessage) => {
        const aux = m.aux as { ID?: string } | undefined;
        if (aux?.ID) id = aux.ID;
      });
    } catch (e) {
      steps?.end();
      if (e instanceof ProgressError) {
        cli.err.write(`${e.message}\n`);
        return 1;
      }
      throw e;
    }
    steps?.end();
    if (quiet) cli.out.write(`${id}\n`);
    const iid = f.strings.get('iidfile');
    if (iid && id) await fs.writeFile(iid, id);
    return 0;
  } finally {
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  }
};

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const PRUNE: CommandSpec = {
  name: 'builder prune',
  usage: 'shoal builder prune [OPTIONS]',
  description: 'Remove the build cache',
  flags: [{ long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' }],
  maxArgs: 0,
};

const prune: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, PRUNE, args);
  if (!f) return 0;
  const r = await cli.client.post<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>('/build/prune');
  for (const c of r.CachesDeleted ?? []) cli.out.write(`Deleted: ${c}\n`);
  cli.out.write(`Total reclaimed space: ${formatBytes(r.SpaceReclaimed)}\n`);
  return 0;
};

function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)}${units[i]}`;
}

export const builder: CommandFn = (cli, args) =>
  runSubcommand(
    cli,
    args,
    'builder',
    'Usage:  shoal builder COMMAND\n\nManage builds\n\nCommands:\n  prune       Remove build cache\n',
    {
      prune,
    },
  );
