// Running the scripts: an executor that feeds `nft -f -` (or anything the caller injects), and a
// controller that remembers what the kernel holds so each change is the smallest transaction.

import { spawn } from 'node:child_process';
import { ShoalError } from '../../../common/errors.js';
import {
  EMPTY_STATE,
  type LbOptions,
  type LbState,
  type LbTable,
  validateState,
  validateTable,
} from './model.js';
import { buildLbScript, buildLbTeardown, buildLbUpdate, lbObjectNames } from './script.js';

/** How scripts reach the kernel: `run` applies one transaction, `list` returns `nft -j list table …`;
 * `forgetUdpFlows` (optional) deletes the conntrack entries of UDP flows balanced to a backend that left. */
export interface NftExecutor {
  run(script: string): Promise<void>;
  list(table: LbTable): Promise<string>;
  forgetUdpFlows?(flows: readonly UdpFlowFilter[]): Promise<void>;
}

/** UDP flows whose reply comes from `backend`, sent to `port` (0: any) (and to `vip`, when given). */
export interface UdpFlowFilter {
  backend: string;
  port: number;
  vip?: string;
}

export interface NftCommandOptions {
  /** Leading arguments to run the tools under (e.g. ['nsenter', '--net=/run/netns/X', '--']); none by default. */
  prefix?: readonly string[];
  /** The conntrack tool (conntrack-tools) for `forgetUdpFlows`; default 'conntrack'. */
  conntrack?: string;
}

function exec(
  argv: readonly string[],
  input: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => {}); // nft may exit before reading everything; its exit code tells
    child.stdin.end(input);
  });
}

/** The default executor: spawns nft, one process per transaction (and conntrack to forget UDP flows). */
export function nftCommand(options: NftCommandOptions = {}): NftExecutor {
  const prefix = options.prefix ?? [];
  const cmd = [...prefix, 'nft'];
  return {
    async run(script) {
      const r = await exec([...cmd, '-f', '-'], script);
      if (r.code !== 0) {
        throw new ShoalError(
          'internal',
          `nft refused the load-balancer update: ${r.stderr.trim().slice(0, 2000)}`,
        );
      }
    },
    async list(table) {
      const r = await exec([...cmd, '-j', 'list', 'table', table.family, table.name], '');
      if (r.code !== 0) {
        throw new ShoalError(
          'failed_precondition',
          `nftables table ${table.family} ${table.name} cannot be listed (it must exist before the load balancer starts): ${r.stderr.trim()}`,
        );
      }
      return r.stdout;
    },
    async forgetUdpFlows(flows) {
      for (const f of flows) {
        const match = f.vip === undefined ? [] : ['--orig-dst', f.vip];
        const argv = [...prefix, options.conntrack ?? 'conntrack', '-D', '-p', 'udp', ...match];
        const port = f.port === 0 ? [] : ['--orig-port-dst', String(f.port)]; // 0: every port of the VIP
        const r = await exec([...argv, ...port, '--reply-src', f.backend], '');
        // conntrack exits 1 when nothing matched: not a failure here.
        if (r.code !== 0 && !/0 flow entries/.test(r.stderr)) {
          throw new ShoalError(
            'internal',
            `conntrack could not forget UDP flows to ${f.backend}: ${r.stderr.trim()}`,
          );
        }
      }
    },
  };
}

/** The UDP flows to forget when going from `before` to `after`: each UDP frontend's departed backends. */
export function departedUdpFlows(before: LbState, after: LbState): UdpFlowFilter[] {
  const out: UdpFlowFilter[] = [];
  const addrs = (bs: readonly { address: string }[]) => new Set(bs.map((b) => b.address));
  const nextSvc = new Map(after.services.map((s) => [s.id, s]));
  for (const s of before.services) {
    const n = nextSvc.get(s.id);
    const keep = n && n.vip === s.vip ? addrs(n.backends) : new Set<string>();
    for (const p of s.ports) {
      if (p.protocol !== 'udp') continue;
      for (const b of s.backends)
        if (!keep.has(b.address)) out.push({ backend: b.address, port: p.port, vip: s.vip });
    }
  }
  const nextPub = new Map(after.published.map((p) => [`${p.protocol}/${p.published}`, p]));
  for (const p of before.published) {
    if (p.protocol !== 'udp') continue;
    const n = nextPub.get(`${p.protocol}/${p.published}`);
    const keep = n ? addrs(n.backends) : new Set<string>();
    for (const b of p.backends) if (!keep.has(b.address)) out.push({ backend: b.address, port: p.published });
  }
  return out;
}

export interface LbControllerOptions extends LbOptions {
  /** Told when forgetting a departed backend's UDP flows fails (the rules are applied all the same). */
  onFlowError?: (err: Error) => void;
}

/**
 * Keeps the kernel's load-balancer objects equal to the last state it was given. `sync` rebuilds ours
 * from scratch in one transaction (on start: stale objects of an earlier run go in the same batch);
 * `update` applies only the difference. A failed update leaves the kernel as it was (nft transactions are
 * atomic) and the next update is a full `sync`.
 */
export class LbController {
  private current: LbState | undefined;
  // Calls run one after another: each diff must start from what the previous one left in the kernel.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly table: LbTable,
    private readonly executor: NftExecutor = nftCommand(),
    private readonly options: LbControllerOptions = {},
  ) {
    validateTable(table);
  }

  get state(): LbState | undefined {
    return this.current;
  }

  /** Replaces all of our objects with `state` (use on start). */
  sync(state: LbState): Promise<void> {
    return this.serial(() => this.doSync(state));
  }

  /** Moves the kernel from the last applied state to `state` (a full sync when there is none). */
  update(state: LbState): Promise<void> {
    return this.serial(() => this.doUpdate(state));
  }

  /** Removes every object of ours from the table (the table itself is the caller's). */
  clear(): Promise<void> {
    return this.serial(() => this.doClear());
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => {});
    return run;
  }

  private async doSync(input: LbState): Promise<void> {
    validateState(input);
    const state = structuredClone(input); // the caller may go on mutating its object
    const script = buildLbScript(this.table, state, this.options); // validates before touching anything
    const existing = lbObjectNames(await this.executor.list(this.table));
    this.current = undefined;
    await this.executor.run(buildLbTeardown(this.table, existing) + script);
    this.current = state;
  }

  private async doUpdate(input: LbState): Promise<void> {
    if (this.current === undefined) return this.doSync(input);
    validateState(input);
    const state = structuredClone(input);
    const script = buildLbUpdate(this.table, this.current, state, this.options);
    if (script === '') {
      this.current = state;
      return;
    }
    const before = this.current;
    this.current = undefined; // unknown until nft answers; a failure makes the next update a full sync
    await this.executor.run(script);
    this.current = state;
    // TCP connections to a departed backend are left to finish (or fail) on their own; a UDP client that
    // keeps its socket would stay pinned to it by conntrack, so its flows are forgotten: the next datagram
    // is balanced afresh.
    const flows = departedUdpFlows(before, state);
    if (flows.length > 0 && this.executor.forgetUdpFlows) {
      await this.executor.forgetUdpFlows(flows).catch((e: Error) => this.options.onFlowError?.(e));
    }
  }

  private async doClear(): Promise<void> {
    const existing = lbObjectNames(await this.executor.list(this.table));
    const script = buildLbTeardown(this.table, existing);
    if (script !== '') await this.executor.run(script);
    this.current = EMPTY_STATE;
  }
}
