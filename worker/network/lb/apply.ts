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

/** How scripts reach the kernel: `run` applies one transaction, `list` returns `nft -j list table …`. */
export interface NftExecutor {
  run(script: string): Promise<void>;
  list(table: LbTable): Promise<string>;
}

export interface NftCommandOptions {
  /** The command and leading arguments to run nft (default ['nft']; e.g. ['nsenter', '--net=/run/netns/X', 'nft']). */
  command?: readonly string[];
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

/** The default executor: spawns nft, one process per transaction. */
export function nftCommand(options: NftCommandOptions = {}): NftExecutor {
  const cmd = options.command ?? ['nft'];
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
  };
}

/**
 * Keeps the kernel's load-balancer objects equal to the last state it was given. `sync` rebuilds ours
 * from scratch in one transaction (on start: stale objects of an earlier run go in the same batch);
 * `update` applies only the difference. A failed update leaves the kernel as it was (nft transactions are
 * atomic) and the next update is a full `sync`.
 */
export class LbController {
  private current: LbState | undefined;

  constructor(
    private readonly table: LbTable,
    private readonly executor: NftExecutor = nftCommand(),
    private readonly options: LbOptions = {},
  ) {
    validateTable(table);
  }

  get state(): LbState | undefined {
    return this.current;
  }

  async sync(state: LbState): Promise<void> {
    const script = buildLbScript(this.table, state, this.options); // validates before touching anything
    const existing = lbObjectNames(await this.executor.list(this.table));
    this.current = undefined;
    await this.executor.run(buildLbTeardown(this.table, existing) + script);
    this.current = state;
  }

  async update(state: LbState): Promise<void> {
    if (this.current === undefined) return this.sync(state);
    validateState(state);
    const script = buildLbUpdate(this.table, this.current, state, this.options);
    if (script === '') {
      this.current = state;
      return;
    }
    this.current = undefined; // unknown until nft answers; a failure makes the next update a full sync
    await this.executor.run(script);
    this.current = state;
  }

  /** Removes every object of ours from the table (the table itself is the caller's). */
  async clear(): Promise<void> {
    const existing = lbObjectNames(await this.executor.list(this.table));
    const script = buildLbTeardown(this.table, existing);
    if (script !== '') await this.executor.run(script);
    this.current = EMPTY_STATE;
  }
}
