// Integration-test harness: a real shoald per test file (temp data-root, exec-root and socket), driven
// through the built `shoal` CLI (node bin/shoal) and the real `docker` CLI. Everything it starts is
// stopped by pid and every directory removed in cleanup().
import {
  type ChildProcess,
  type ChildProcessWithoutNullStreams,
  execFileSync,
  spawn,
} from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
export const ROOTFS = join(REPO, 'test/fixtures/out/rootfs');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Daemon {
  dir: string;
  dataRoot: string;
  execRoot: string;
  sock: string;
  proc: ChildProcess;
  /** stderr of the current shoald process so far. */
  log(): string;
  opts?: ShoaldOptions;
}

function requireBuilt(): void {
  for (const f of ['dist/shoal.cjs', 'dist/shoald.mjs']) {
    if (!existsSync(join(REPO, f))) throw new Error(`${f} is missing: run "npm run build:js" first`);
  }
  if (!existsSync(join(ROOTFS, 'bin/busybox')))
    throw new Error('busybox rootfs missing: run test/fixtures/make-fixtures.sh');
}

export interface ShoaldOptions {
  /**
   * Run shoald inside this network namespace (a path, entered with nsenter --net only) with its default
   * bridge; without it shoald runs in the test's namespace with `--bridge none`, so that no bridge or
   * nftables rule ever touches the host's namespace.
   */
  netns?: string;
  /** More shoald flags (e.g. --bip). */
  args?: string[];
  /**
   * A network namespace of its own (only loopback), made by startShoald and deleted by cleanup: for a swarm
   * whose tasks join overlays, whose bridges, VXLAN devices, resolvers and nftables tables must not meet
   * another test's daemon (or the host) in a shared namespace. Ignored when `netns` is given.
   */
  ownNetns?: boolean;
}

let netnsCount = 0;

/** Makes the namespace of an `ownNetns` daemon (kept across restarts of that daemon: same options). */
function ensureOwnNetns(o: ShoaldOptions): ShoaldOptions {
  if (!o.ownNetns || o.netns) return o;
  const name = `shoal-t${process.pid}-${++netnsCount}`;
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  o.netns = `/run/netns/${name}`;
  return o;
}

function removeOwnNetns(o: ShoaldOptions | undefined): void {
  if (!o?.ownNetns || !o.netns) return;
  try {
    execFileSync('ip', ['netns', 'del', o.netns.split('/').pop()!]);
  } catch (err) {
    console.warn(`harness: deleting ${o.netns}: ${(err as Error).message}`);
  }
}

let launchLine: { vars: Record<string, string>; flags: string[] } | undefined;

/**
 * shoald's environment (this process's, with the #! line's settings over it: read now, tests change it)
 * and its node flags, from bin/shoald's `#!/usr/bin/env -S NAME=VALUE… node FLAGS…` line (read once).
 */
function shoaldLaunch(): { env: NodeJS.ProcessEnv; flags: string[] } {
  launchLine ??= readLaunchLine();
  return { env: { ...process.env, ...launchLine.vars }, flags: launchLine.flags };
}

function readLaunchLine(): { vars: Record<string, string>; flags: string[] } {
  const line = readFileSync(join(REPO, 'bin/shoald'), 'utf8').split('\n')[0];
  const words = line
    .replace(/^#!\S*env -S /, '')
    .split(/\s+/)
    .filter(Boolean);
  const at = words.indexOf('node');
  if (at < 0) throw new Error(`bin/shoald: no node on its first line: ${line}`);
  const vars: Record<string, string> = {};
  for (const w of words.slice(0, at)) {
    const eq = w.indexOf('=');
    vars[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return { vars, flags: words.slice(at + 1) };
}

/** Starts shoald on `dir` (a new temp dir unless given: reuse one to restart on the same state). */
export async function startShoald(dir?: string, opts: ShoaldOptions = {}): Promise<Daemon> {
  requireBuilt();
  const o = ensureOwnNetns(opts);
  const base = dir ?? mkdtempSync(join(tmpdir(), 'shoal-e2-'));
  const d = {
    dir: base,
    dataRoot: join(base, 'data'),
    execRoot: join(base, 'exec'),
    sock: join(base, 'shoald.sock'),
  };
  mkdirSync(d.dataRoot, { recursive: true });
  const argv = [
    join(REPO, 'bin/shoald'),
    '--data-root',
    d.dataRoot,
    '--exec-root',
    d.execRoot,
    '-H',
    `unix://${d.sock}`,
    ...(o.netns ? [] : ['--bridge', 'none']),
    // Nothing a test does may ask the machine's real nameservers.
    '--dns-forward=false',
    ...(o.args ?? []),
  ];
  // shoald as `bin/shoald` runs it: its #! line's environment and node flags (the heap's sizes, one
  // malloc arena), which `node bin/shoald` alone would skip
  const { env, flags } = shoaldLaunch();
  const node = [process.execPath, ...flags, ...argv];
  // nsenter execs shoald in place (same pid): stopShoald's signals reach shoald itself.
  const proc = o.netns
    ? spawn('nsenter', [`--net=${o.netns}`, '--', ...node], { stdio: ['ignore', 'ignore', 'pipe'], env })
    : spawn(node[0], node.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
  let log = '';
  proc.stderr?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  await new Promise<void>((res, rej) => {
    const onData = () => {
      if (log.includes('listening on')) {
        proc.stderr?.off('data', onData);
        proc.off('exit', onExit);
        res();
      }
    };
    const onExit = (code: number | null) =>
      rej(new Error(`shoald exited (${code}) before listening:\n${log}`));
    proc.stderr?.on('data', onData);
    proc.once('exit', onExit);
  });
  return { ...d, proc, log: () => log, opts: o };
}

/** SIGTERM (clean) or SIGKILL (crash) and wait for the process to be gone. */
export async function stopShoald(d: Daemon, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return d.proc.exitCode;
  const exited = new Promise<number | null>((res) => d.proc.once('exit', (code) => res(code)));
  d.proc.kill(signal);
  return exited;
}

function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Result> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    p.on('error', rej);
    p.on('close', (code, sig) => res({ code: code ?? (sig ? 128 : -1), stdout, stderr }));
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}

const shoalArgv = (d: Daemon, args: string[]) => [join(REPO, 'bin/shoal'), '-H', `unix://${d.sock}`, ...args];

/** `shoal -H unix://SOCK args…` through bin/shoal, as a user runs it. */
export function shoal(d: Daemon, args: string[], input?: string): Promise<Result> {
  return runProcess(process.execPath, shoalArgv(d, args), { ...process.env, SHOAL_HOST: '' }, input);
}

/** The same, left running (logs -f, events, an attached run): the caller reads its output and ends it. */
export function spawnShoal(d: Daemon, args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, shoalArgv(d, args), { env: { ...process.env, SHOAL_HOST: '' } });
}

/** The real docker CLI against shoald, with its own empty config dir. */
export function docker(d: Daemon, args: string[], input?: string): Promise<Result> {
  const config = join(d.dir, 'docker-config');
  mkdirSync(config, { recursive: true });
  return runProcess(
    'docker',
    ['-H', `unix://${d.sock}`, ...args],
    { ...process.env, DOCKER_CONFIG: config, DOCKER_HOST: '' },
    input,
  );
}

/** One raw API call (for status codes and bodies the CLIs hide). */
export function api(
  d: Daemon,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((res, rej) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { socketPath: d.sock, method, path, headers: payload ? { 'Content-Type': 'application/json' } : {} },
      (r) => {
        let text = '';
        r.on('data', (c: Buffer) => {
          text += c.toString();
        });
        r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body: text }));
      },
    );
    req.on('error', rej);
    req.end(payload);
  });
}

/**
 * Polls `check` until it returns true (events the tests wait for happen in other processes). A check that
 * throws counts as "not yet" (what it reads may be replaced under it, e.g. a container listed a moment ago
 * and removed by a rolling update); the last error is given if the wait times out.
 */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  what: string,
  tries = 200,
): Promise<void> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message ?? last})` : ''}`,
  );
}

/** Container ids that still exist in this daemon's state. */
export function stateEntries(d: Daemon): { containers: string[]; runtime: string[] } {
  const list = (p: string) => (existsSync(p) ? readdirSync(p) : []);
  return { containers: list(join(d.dataRoot, 'containers')), runtime: list(join(d.execRoot, 'runtime')) };
}

/** Pids of processes whose command line mentions `dir` (monitors of this daemon's containers). */
export function processesUnder(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

const alive = (d: Daemon) => d.proc.exitCode === null && d.proc.signalCode === null;

/**
 * Removes every container (force), stops shoald and deletes its directories. A daemon that died
 * (a crash, or a test's kill -9) is started again on the same directories first, so that its
 * containers are removed properly; anything still running from this directory after that is killed.
 */
export async function cleanup(d: Daemon | undefined): Promise<void> {
  if (!d) return;
  let live = d;
  try {
    if (!alive(d)) live = await startShoald(d.dir, d.opts);
    const ids = (await shoal(live, ['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await shoal(live, ['rm', '-f', ...ids]);
    const left = (await shoal(live, ['ps', '-aq'])).stdout.trim();
    if (left) console.warn(`harness: containers left after rm -f: ${left.replace(/\n/g, ' ')}`);
  } catch (err) {
    console.warn(`harness: cleanup of ${d.dir}: ${(err as Error).message}`);
  } finally {
    await stopShoald(live);
    const stragglers = processesUnder(d.dir);
    if (stragglers.length)
      console.warn(`harness: killing processes left under ${d.dir}: ${stragglers.join(' ')}`);
    for (const pid of stragglers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(d.dir, { recursive: true, force: true });
    removeOwnNetns(d.opts);
  }
}

/**
 * Cleanup for a daemon that may be in a swarm: started again if it died, then `swarm leave --force`
 * (which removes the swarm's containers; otherwise the orchestrator would replace what cleanup removes),
 * then cleanup().
 */
export async function cleanupSwarm(d: Daemon | undefined): Promise<void> {
  if (!d) return;
  let live = d;
  try {
    if (!alive(d)) live = await startShoald(d.dir, d.opts);
    // Bounded: a daemon too busy to answer must still be stopped below, within the hook's time.
    await Promise.race([
      shoal(live, ['swarm', 'leave', '--force']),
      new Promise((_, rej) => setTimeout(() => rej(new Error('no answer in 20 s')), 20_000).unref()),
    ]);
  } catch (err) {
    console.warn(`harness: swarm leave in ${d.dir}: ${(err as Error).message}`);
  }
  await cleanup(live);
}
