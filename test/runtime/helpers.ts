// Shared fixtures for the shoal-runtime tests: bundles made from the busybox rootfs, a private
// --root per test, the ctl.sock client, and a leftover check (state dir, cgroups, mounts, processes).
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { baseSpec, type OciSpec } from '../../worker/engine/spec/defaults.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const RUNTIME = join(REPO, 'native/build/Release/shoal-runtime');
export const ROOTFS = join(REPO, 'test/fixtures/out/rootfs');
/** Every test container lives under this cgroup parent, so leftovers are easy to find. */
export const CGROUP_PARENT = 'shoal-test-runtime';

export function ensureFixtures(): void {
  if (!existsSync(join(ROOTFS, 'bin/busybox')))
    execFileSync('bash', [join(REPO, 'test/fixtures/make-fixtures.sh')]);
  if (!existsSync(RUNTIME)) throw new Error(`${RUNTIME} missing: run npm run build:native`);
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its exit. Output goes to files read once it has exited, not to pipes read to
 * EOF: `create` (as runc's) gives the container the runtime's stdio, which then outlives the call.
 */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-rt-out-'));
  const outPath = join(dir, 'out');
  const errPath = join(dir, 'err');
  const out = openSync(outPath, 'w+');
  const err = openSync(errPath, 'w+');
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', out, err] });
    closeSync(out);
    closeSync(err);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    const finish = (code: number) => {
      clearTimeout(timer);
      const stdout = readFileSync(outPath, 'utf8');
      const stderr = readFileSync(errPath, 'utf8');
      rmSync(dir, { recursive: true, force: true });
      resolvePromise({ code, stdout, stderr });
    };
    child.once('error', () => finish(255));
    child.once('exit', (code, signal) => finish(code ?? (signal ? 255 : 0)));
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input);
    }
  });
}

let counter = 0;

/** One test's world: a runtime --root, temp dirs, and the containers it made. */
export class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'shoal-rt-'));
  readonly root: string;
  /** `rootSubdir` makes a deeper --root (e.g. to overflow sun_path with ctl.sock). */
  constructor(rootSubdir = 'root') {
    this.root = join(this.dir, rootSubdir);
  }
  private ids = new Set<string>();

  newId(prefix = 'c'): string {
    const id = `${prefix}-${process.pid}-${++counter}`;
    this.ids.add(id);
    return id;
  }

  /** A bundle from Docker's defaults with `args`; `edit` adjusts the spec. */
  bundle(
    args: string[],
    edit?: (s: OciSpec, id: string) => void,
    id = this.newId(),
  ): { id: string; bundle: string } {
    const bundle = join(this.dir, `bundle-${id}`);
    mkdirSync(bundle, { recursive: true });
    const spec = baseSpec(ROOTFS, { hostname: 'box' });
    spec.process.args = args;
    spec.linux!.cgroupsPath = `/${CGROUP_PARENT}/${id}`;
    edit?.(spec, id);
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    return { id, bundle };
  }

  rt(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
    return run(RUNTIME, ['--root', this.root, ...args], opts);
  }

  stateDir(id: string): string {
    return join(this.root, id);
  }

  state(id: string): Record<string, unknown> {
    return JSON.parse(readFileSync(join(this.root, id, 'state.json'), 'utf8'));
  }

  exitInfo(id: string): { exitCode: number; signal: string | null; oomKilled: boolean } | undefined {
    const p = join(this.root, id, 'exit.json');
    return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : undefined;
  }

  /** Force-deletes every container this sandbox made, then removes its directories. */
  async cleanup(): Promise<void> {
    for (const id of this.ids) {
      if (existsSync(join(this.root, id))) await this.rt(['delete', '--force', id]);
    }
    rmSync(this.dir, { recursive: true, force: true });
    // The shared parent cgroup goes once no test uses it; a child removed a moment ago may keep
    // it busy briefly, so retry a little. If another test file still has containers, it stays.
    for (const hierarchy of safeReaddir('/sys/fs/cgroup')) {
      const parent = join('/sys/fs/cgroup', hierarchy, CGROUP_PARENT);
      for (let attempt = 0; attempt < 10; attempt++) {
        try {
          // the other test worker may remove it between our calls: any error ends or retries
          if (readdirSync(parent, { withFileTypes: true }).some((e) => e.isDirectory())) break;
          rmdirSync(parent);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  }
}

/** What a container left on the host: state dir, cgroup dirs, mounts, live processes. */
export function leftovers(sb: Sandbox, id: string, pids: number[] = []): string[] {
  const found: string[] = [];
  if (existsSync(sb.stateDir(id))) found.push(`state dir ${sb.stateDir(id)}`);
  for (const hierarchy of safeReaddir('/sys/fs/cgroup')) {
    const d = join('/sys/fs/cgroup', hierarchy, CGROUP_PARENT, id);
    if (existsSync(d)) found.push(`cgroup ${d}`);
  }
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  for (const line of mountinfo.split('\n'))
    if (line.includes(sb.dir) || line.includes(id)) found.push(`mount ${line}`);
  for (const pid of pids) {
    const stat = readProcState(pid);
    if (stat && stat !== 'Z') found.push(`process ${pid} (${stat})`);
  }
  return found;
}

/** The state letter of /proc/PID/stat (R, S, Z …), or undefined when the pid is gone. */
export function readProcState(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

function safeReaddir(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/** A ctl.sock connection: request/reply lines, then optionally a raw stream. */
export class Ctl {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private ended = false;
  private constructor(private sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('end', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('error', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(sb: Sandbox, id: string): Promise<Ctl> {
    return new Promise((res, rej) => {
      const s = connect(join(sb.stateDir(id), 'ctl.sock'));
      s.once('connect', () => res(new Ctl(s)));
      s.once('error', rej);
    });
  }

  private async more(): Promise<void> {
    if (this.ended) throw new Error('monitor closed the connection');
    await new Promise<void>((r) => this.waiters.push(r));
  }

  async request(req: object): Promise<Record<string, unknown>> {
    this.sock.write(`${JSON.stringify(req)}\n`);
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl >= 0) {
        const line = this.buf.subarray(0, nl).toString();
        this.buf = this.buf.subarray(nl + 1);
        return JSON.parse(line);
      }
      await this.more();
    }
  }

  write(data: string): void {
    this.sock.write(data);
  }

  endInput(): void {
    this.sock.end();
  }

  /** Reads the rest of the stream until the monitor closes it. */
  async readAll(): Promise<Buffer> {
    while (!this.ended) await this.more().catch(() => undefined);
    return this.buf;
  }

  /** Waits until the stream so far contains `text`. */
  async readUntil(text: string): Promise<string> {
    while (!this.buf.toString('latin1').includes(text)) await this.more();
    return this.buf.toString();
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Splits Docker's multiplexed stream into stdout and stderr. */
export function demux(b: Buffer): { stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  let i = 0;
  while (i + 8 <= b.length) {
    const len = b.readUInt32BE(i + 4);
    const payload = b.subarray(i + 8, i + 8 + len).toString();
    if (b[i] === 2) stderr += payload;
    else stdout += payload;
    i += 8 + len;
  }
  return { stdout, stderr };
}

/** Polls `f` every 20 ms until it returns a truthy value (or throws after `ms`). */
export async function until<T>(f: () => T | Promise<T>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
