// Multi-host test bed: a local cluster made by deploy/local-cluster.sh (one network namespace and one
// shoald per node, on a private bridge), with a unique prefix per cluster so test files never clash.
// Every action goes through the script, so tests exercise the same code a user runs; `down` is
// idempotent and `useLocalCluster` calls it in afterAll, whatever the tests did.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export const REPO = resolve(import.meta.dirname, '../..');
export const SCRIPT = join(REPO, 'deploy/local-cluster.sh');
export const ROOTFS = join(REPO, 'test/fixtures/out/rootfs');
/** Where the script keeps exec roots/sockets and data roots (its defaults). */
export const RUN_BASE = '/run/slc';
export const DATA_BASE = '/var/lib/shoal-local';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (no shell), collecting its output. */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Result> {
  return new Promise((res, rej) => {
    const input = opts.input;
    const p = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    p.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    p.on('error', rej);
    p.on('close', (code, sig) => res({ code: code ?? (sig ? 128 : -1), stdout, stderr }));
    if (input !== undefined && p.stdin) {
      p.stdin.on('error', () => {}); // a command that exits without reading its input
      p.stdin.end(input);
    }
  });
}

/** deploy/local-cluster.sh with these arguments. */
export function script(args: string[]): Promise<Result> {
  return run('bash', [SCRIPT, ...args]);
}

async function scriptOk(args: string[]): Promise<Result> {
  const r = await script(args);
  if (r.code !== 0)
    throw new Error(`local-cluster.sh ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

/** A prefix no other cluster uses: a letter, then random base-36 characters (10 at most, as the script wants). */
export function uniquePrefix(tag = 'lc'): string {
  const rand = BigInt(`0x${randomBytes(8).toString('hex')}`)
    .toString(36)
    .slice(0, 8 - tag.length);
  return `${tag}${rand}`.slice(0, 10);
}

export type Role = 'manager' | 'worker';

export interface ClusterNode {
  name: string;
  role: Role;
  netns: string;
  address: string;
  /** Path of the node's API socket. */
  socket: string;
  /** `unix://…`, for -H or SHOAL_HOST. */
  host: string;
}

/** The node lines `up` and `status` print: NAME ROLE NETNS ADDRESS unix://SOCKET [STATE]. */
export function parseNodes(stdout: string): ClusterNode[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && f[4].startsWith('unix://'))
    .map(([name, role, netns, address, host]) => ({
      name,
      role: role as Role,
      netns,
      address,
      host,
      socket: host.slice('unix://'.length),
    }));
}

export interface UpOptions {
  managers: number;
  workers?: number;
  prefix?: string;
  subnet?: string;
  /** auto (default): form a swarm when shoald has one; yes: always try; no: standalone nodes. */
  swarm?: 'auto' | 'yes' | 'no';
  /** shoald --executor of every node: containers (default) or simulated tasks. */
  executor?: 'engine' | 'sim';
}

export class LocalCluster {
  private constructor(
    readonly prefix: string,
    readonly nodes: ClusterNode[],
    /** The script's messages while coming up (swarm formed, or standalone). */
    readonly upLog: string,
  ) {}

  /** Brings a cluster up; on failure everything of its prefix is torn down again before the error is thrown. */
  static async up(opts: UpOptions): Promise<LocalCluster> {
    const prefix = opts.prefix ?? uniquePrefix();
    const args = ['up', '--managers', String(opts.managers), '--workers', String(opts.workers ?? 0)];
    args.push('--prefix', prefix);
    if (opts.subnet) args.push('--subnet', opts.subnet);
    if (opts.swarm) args.push('--swarm', opts.swarm);
    if (opts.executor) args.push('--executor', opts.executor);
    const r = await script(args);
    if (r.code !== 0) {
      await script(['down', '--prefix', prefix]);
      throw new Error(`local-cluster.sh ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    }
    return new LocalCluster(prefix, parseNodes(r.stdout), r.stderr);
  }

  /** Whether `up` formed a swarm (shoald has swarm commands) rather than leaving standalone nodes. */
  get swarm(): boolean {
    return this.upLog.includes('swarm formed');
  }

  get managers(): ClusterNode[] {
    return this.nodes.filter((n) => n.role === 'manager');
  }

  get workers(): ClusterNode[] {
    return this.nodes.filter((n) => n.role === 'worker');
  }

  node(name: string): ClusterNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`cluster ${this.prefix} has no node ${name}`);
    return n;
  }

  get bridge(): string {
    return `${this.prefix}-br`;
  }

  /** One raw API call on a node's socket. */
  api(name: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    const socketPath = this.node(name).socket;
    return new Promise((res, rej) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        { socketPath, method, path, headers: payload ? { 'Content-Type': 'application/json' } : {} },
        (r) => {
          let text = '';
          r.on('data', (c: Buffer) => {
            text += c.toString();
          });
          r.on('end', () => res({ status: r.statusCode ?? 0, body: text }));
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} on ${name}: timed out`)));
      req.on('error', rej);
      req.end(payload);
    });
  }

  /** GET /_ping answers OK. */
  async ping(name: string): Promise<boolean> {
    try {
      const r = await this.api(name, 'GET', '/_ping');
      return r.status === 200 && r.body === 'OK';
    } catch {
      return false;
    }
  }

  /** `shoal -H unix://SOCK args…` against one node. */
  shoal(name: string, args: string[], input?: string): Promise<Result> {
    return run(process.execPath, [join(REPO, 'bin/shoal'), '-H', this.node(name).host, ...args], {
      input,
      env: { ...process.env, SHOAL_HOST: '' },
    });
  }

  /** A command inside the node's network namespace only (never `ip netns exec`: it hides cgroup v1). */
  inNetns(name: string, cmd: string, args: string[]): Promise<Result> {
    return run('nsenter', [`--net=/run/netns/${this.node(name).netns}`, '--', cmd, ...args]);
  }

  /** The same, left running; the caller stops it by its pid. */
  spawnInNetns(name: string, cmd: string, args: string[]): ChildProcess {
    return spawn('nsenter', [`--net=/run/netns/${this.node(name).netns}`, '--', cmd, ...args], {
      stdio: 'ignore',
    });
  }

  /** An HTTP GET from inside `from`'s namespace (curl; exit code 0 and the body, or curl's error). */
  curlFrom(from: string, url: string, timeoutSec = 3): Promise<Result> {
    return this.inNetns(from, 'curl', ['-sS', '--max-time', String(timeoutSec), url]);
  }

  /** Signals a node's shoald (by its recorded pid) and waits until it is gone. Containers keep running. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await scriptOk(['kill', this.node(name).name, '--signal', signal, '--prefix', this.prefix]);
  }

  /** Starts a node's shoald again (on the same data and exec roots); returns once it answers /_ping. */
  async start(name: string): Promise<void> {
    await scriptOk(['start', this.node(name).name, '--prefix', this.prefix]);
  }

  async restart(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.kill(name, signal);
    await this.start(name);
  }

  /**
   * Cuts a node off: its IPv4 traffic on eth0 is dropped (silently, as a partition) by an nftables
   * table the script owns in the node's namespace; only to/from the `from` nodes when given. `link`
   * instead sets the host end of its veth down (the node sees its link go away).
   */
  async cut(name: string, opts: { from?: string[]; link?: boolean } = {}): Promise<void> {
    const args = ['cut', this.node(name).name, '--prefix', this.prefix];
    if (opts.from?.length) args.push('--from', opts.from.map((n) => this.node(n).name).join(','));
    if (opts.link) args.push('--link');
    await scriptOk(args);
  }

  /** Undoes every cut of a node. */
  async heal(name: string): Promise<void> {
    await scriptOk(['heal', this.node(name).name, '--prefix', this.prefix]);
  }

  /** Node name → pid of its live shoald, or null. */
  async status(): Promise<Map<string, number | null>> {
    const r = await scriptOk(['status', '--prefix', this.prefix]);
    const out = new Map<string, number | null>();
    for (const line of r.stdout.trim().split('\n')) {
      const f = line.split(/\s+/);
      const m = /^alive\(pid=(\d+)\)$/.exec(f[5] ?? '');
      out.set(f[0], m ? Number(m[1]) : null);
    }
    return out;
  }

  /** Tears everything of this prefix down (idempotent). */
  down(): Promise<Result> {
    return script(['down', '--prefix', this.prefix]);
  }
}

/**
 * Registers beforeAll/afterAll for one cluster per test file and returns its getter. afterAll always
 * runs `down`, even when `up` or the tests failed.
 */
export function useLocalCluster(opts: UpOptions): () => LocalCluster {
  const prefix = opts.prefix ?? uniquePrefix();
  let cluster: LocalCluster | undefined;
  beforeAll(async () => {
    cluster = await LocalCluster.up({ ...opts, prefix });
  }, 180_000);
  afterAll(async () => {
    // SHOAL_BED_LOGS=DIR keeps every node's shoald log (DIR/PREFIX-NODE.log) for a look after the run.
    const keep = process.env.SHOAL_BED_LOGS;
    if (keep && cluster) {
      await mkdir(keep, { recursive: true });
      for (const n of cluster.nodes)
        await copyFile(
          join(DATA_BASE, prefix, n.name, 'shoald.log'),
          join(keep, `${prefix}-${n.name}.log`),
        ).catch(() => {});
    }
    const r = await script(['down', '--prefix', prefix]);
    if (r.code !== 0) throw new Error(`down --prefix ${prefix} exited ${r.code}:\n${r.stderr}`);
  }, 180_000);
  return () => {
    if (!cluster) throw new Error(`cluster ${prefix} is not up`);
    return cluster;
  };
}

/**
 * Polls `check` (every 250 ms) until it gives a value other than undefined or false, and returns it. A
 * check that throws counts as "not yet" (what it reads is changing under it); at the deadline the last
 * error, if any, is named.
 */
export async function poll<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 60_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(`no ${what} within ${ms / 1000} s${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * One Engine API call on a node: its JSON reply (undefined when empty); a status outside 2xx throws. A read
 * answered "no leader" (503) is asked again for up to 3 s: the tests read state around elections, and a
 * member between leaders says so for a moment; writes are never repeated.
 */
export async function apiJson<T>(
  c: LocalCluster,
  node: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  let r = await c.api(node, method, path, body);
  for (const end = Date.now() + 3000; method === 'GET' && r.status === 503 && Date.now() < end; ) {
    if (!/does not have a leader/.test(r.body)) break;
    await new Promise((res) => setTimeout(res, 100));
    r = await c.api(node, method, path, body);
  }
  if (r.status < 200 || r.status >= 300)
    throw new Error(`${method} ${path} on ${node}: ${r.status} ${r.body}`);
  return (r.body ? JSON.parse(r.body) : undefined) as T;
}
