// Test harness: raftnode processes on loopback (member N listens on 127.0.0.N), each with its own data
// directory under one temp dir. Every process is tracked by pid and killed in cleanup().
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KvClient, KvConn } from '../../manager/raft/cmd/client.js';

const RAFTNODE = fileURLToPath(new URL('../../manager/raft/cmd/raftnode.ts', import.meta.url));

export interface NodeProc {
  id: number;
  address: string;
  dataDir: string;
  logFile: string;
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ClusterOptions {
  /** Port all members use (each on its own 127.0.0.N address). Distinct per test file. */
  port: number;
  /** Extra raftnode flags for every member. */
  flags?: string[];
  /** Put data directories here instead of a fresh temp dir (e.g. a tmpfs mount). */
  baseDir?: string;
}

export class Cluster {
  readonly dir: string;
  readonly nodes = new Map<number, NodeProc>();
  private readonly ownDir: boolean;

  constructor(readonly opts: ClusterOptions) {
    this.ownDir = !opts.baseDir;
    this.dir = opts.baseDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-raft-'));
  }

  address(id: number): string {
    return `127.0.0.${id}:${this.opts.port}`;
  }

  dataDir(id: number): string {
    return path.join(this.dir, `n${id}`);
  }

  /** Starts member `id`: bootstrap with `bootstrapIds`, join (empty, waiting to be added), or restart. */
  async start(
    id: number,
    mode: { bootstrap: number[] } | 'join' | 'restart',
    extra: string[] = [],
  ): Promise<NodeProc> {
    const args = [
      '--id',
      String(id),
      '--listen',
      this.address(id),
      '--data',
      this.dataDir(id),
      ...(this.opts.flags ?? []),
    ];
    if (mode === 'join') args.push('--join');
    else if (mode !== 'restart')
      args.push('--bootstrap', mode.bootstrap.map((m) => `${m}=${this.address(m)}`).join(','));
    args.push(...extra);
    const n = this.spawn(id, args);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      n.proc.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening on')) resolve();
      });
      void n.exited.then(({ code }) =>
        reject(new Error(`member ${id} exited with ${code} before listening:\n${this.log(id).slice(-2000)}`)),
      );
    });
    return n;
  }

  /** Spawns raftnode with raw arguments (for start-up failure tests). */
  spawn(id: number, args: string[]): NodeProc {
    const logFile = path.join(this.dir, `n${id}.log`);
    const log = fs.openSync(logFile, 'a');
    const proc = spawn(process.execPath, ['--import', 'tsx', RAFTNODE, ...args], {
      stdio: ['ignore', 'pipe', log],
    });
    fs.closeSync(log);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const n: NodeProc = { id, address: this.address(id), dataDir: this.dataDir(id), logFile, proc, exited };
    this.nodes.set(id, n);
    return n;
  }

  log(id: number): string {
    try {
      return fs.readFileSync(path.join(this.dir, `n${id}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.nodes.get(id);
    if (!n || n.proc.exitCode !== null || n.proc.signalCode !== null) return;
    n.proc.kill(signal);
    await n.exited;
  }

  running(): number[] {
    return [...this.nodes.values()]
      .filter((n) => n.proc.exitCode === null && n.proc.signalCode === null)
      .map((n) => n.id);
  }

  client(ids = this.running()): KvClient {
    return new KvClient(ids.map((i) => this.address(i)));
  }

  async status(id: number): Promise<Status | null> {
    const c = new KvConn(this.address(id));
    try {
      return (await c.status(1000)) as unknown as Status;
    } catch {
      return null;
    } finally {
      c.close();
    }
  }

  /** Waits until a running member reports being leader (optionally not `not`) and returns its id. */
  async waitLeader(timeoutMs = 10_000, not?: number): Promise<number> {
    return waitUntil(
      async () => {
        for (const id of this.running()) {
          if (id === not) continue;
          const s = await this.status(id);
          if (s && s.role === 'leader') return id;
        }
        return undefined;
      },
      timeoutMs,
      'a leader',
    );
  }

  /** Kills every member and removes the temp dir (when the harness made it). */
  async cleanup(): Promise<void> {
    for (const n of this.nodes.values()) {
      if (n.proc.exitCode === null && n.proc.signalCode === null) {
        n.proc.kill('SIGKILL');
        await n.exited;
      }
    }
    if (process.env.SHOAL_KEEP_RAFT_LOGS) console.error(`raft test data and logs kept in ${this.dir}`);
    else if (this.ownDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Status {
  id: number;
  term: number;
  role: string;
  leader: number;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  config: { voters: number[]; learners: number[] };
  progress: Record<string, { match: number }>;
  keys: number;
  removed: boolean;
  storageFault?: string;
}

export async function waitUntil<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Writes keys `${prefix}-${n}` in a loop with `concurrency` writers until stopped; records which writes
 * were acknowledged. Failed writes are retried under a new key (never counted as acknowledged).
 */
export class Writer {
  readonly acked = new Map<string, string>();
  readonly failed: string[] = [];
  private stopping = false;
  private seq = 0;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly client: KvClient,
    private readonly prefix: string,
  ) {}

  start(concurrency = 4): this {
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop());
    return this;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const key = `${this.prefix}-${this.seq++}`;
      const value = `v-${key}`;
      try {
        await this.client.put(key, Buffer.from(value));
        this.acked.set(key, value);
      } catch {
        this.failed.push(key);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }
}

/** Every acknowledged key must read back its value through `conn` (linearizable unless told). */
export async function missingKeys(
  conn: KvConn,
  acked: Map<string, string>,
  linearizable = true,
): Promise<string[]> {
  const missing: string[] = [];
  const entries = [...acked];
  for (let i = 0; i < entries.length; i += 64) {
    const part = entries.slice(i, i + 64);
    const got = await Promise.all(part.map(([k]) => conn.get(k, linearizable)));
    part.forEach(([k, v], j) => {
      if (got[j]?.toString() !== v) missing.push(k);
    });
  }
  return missing;
}
