// Fake ports for the executor's unit tests: an in-memory engine whose containers exit when told,
// an image store with a scriptable registry, and a clock that moves only when something sleeps.
import type { CreateOptions, WaitResult } from '../engine/index.js';
import type { Clock, ContainerInfo, EnginePort, ExecResult, ImagePort, ResolvedImage } from './types.js';

export const flush = () => new Promise((r) => setTimeout(r, 0));

export interface FakeContainer extends ContainerInfo {
  opts: CreateOptions;
  exit?: (r: WaitResult) => void;
  exited: Promise<WaitResult>;
}

export class FakeEngine implements EnginePort {
  containers = new Map<string, FakeContainer>();
  calls: string[] = [];
  createError?: Error;
  startError?: Error;
  waitError?: Error;
  /** Exit code a stop produces (busybox sleep ignores SIGTERM: 137). */
  stopCode = 137;
  probes: ExecResult[] = [];
  private n = 0;

  async create(opts: CreateOptions) {
    this.calls.push('create');
    if (this.createError) throw this.createError;
    const id = `c${++this.n}`;
    let exit!: (r: WaitResult) => void;
    const exited = new Promise<WaitResult>((r) => {
      exit = r;
    });
    this.containers.set(id, {
      id,
      name: opts.name ?? '',
      labels: opts.labels ?? {},
      status: 'created',
      pid: 0,
      exitCode: 0,
      oomKilled: false,
      error: '',
      opts,
      exit,
      exited,
    });
    return { id };
  }
  async start(id: string) {
    this.calls.push('start');
    if (this.startError) throw this.startError;
    const c = this.get(id);
    c.status = 'running';
    c.pid = 4242;
  }
  wait(id: string, _cond: 'next-exit' | 'not-running', signal?: AbortSignal): Promise<WaitResult> {
    if (this.waitError) return Promise.reject(this.waitError);
    const c = this.get(id);
    return new Promise((resolve, reject) => {
      signal?.addEventListener('abort', () => reject(new Error('aborted')));
      c.exited.then(resolve);
    });
  }
  async stop(id: string, opts: { timeoutSec: number; signal?: string }) {
    this.calls.push(`stop ${opts.timeoutSec} ${opts.signal ?? '-'}`);
    this.exit(id, this.stopCode);
  }
  async remove(id: string) {
    this.calls.push('remove');
    this.containers.delete(id);
  }
  inspect(id: string): ContainerInfo | undefined {
    return this.containers.get(id);
  }
  list() {
    return [...this.containers.values()];
  }
  async exec(_id: string, cmd: string[]): Promise<ExecResult> {
    this.calls.push(`exec ${cmd.join(' ')}`);
    return this.probes.shift() ?? { exitCode: 1, output: 'no more probes', timedOut: false };
  }
  /** The container's process ends. */
  exit(id: string, exitCode: number, oomKilled = false) {
    const c = this.get(id);
    if (c.status !== 'running') return;
    Object.assign(c, { status: 'exited', pid: 0, exitCode, oomKilled });
    c.exit?.({ exitCode, signal: null, oomKilled });
  }
  get(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`No such container: ${id}`);
    return c;
  }
}

export const BUSYBOX: ResolvedImage = {
  id: 'sha256:abc',
  reference: 'busybox:latest',
  layers: ['/layers/1'],
  config: { Cmd: ['sh'] },
};

export class FakeImages implements ImagePort {
  local = new Map<string, ResolvedImage>([['busybox', BUSYBOX]]);
  /** What a pull makes appear (or the error it throws). */
  registry = new Map<string, ResolvedImage>();
  pulls: string[] = [];
  pullGate?: Promise<void>;
  pullSignal?: AbortSignal;
  async resolve(ref: string) {
    return this.local.get(ref);
  }
  async pull(ref: string, signal?: AbortSignal) {
    this.pulls.push(ref);
    this.pullSignal = signal;
    await this.pullGate;
    const img = this.registry.get(ref);
    if (!img) throw new Error(`manifest unknown: ${ref}`);
    this.local.set(ref, img);
  }
}

/** Time moves only when something sleeps: probes run back to back, deterministically. */
export function fakeClock(): Clock & { t: number } {
  const c = {
    t: 1_000_000,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
      await flush();
    },
  };
  return c;
}
