// The load balancer of the swarm's VIPs and routing mesh in a table of its own (`ip shoal_lb`), beside
// net-local's `ip shoal`: that one is rebuilt whole at each change, which would wipe objects of another
// part. The table exists only while there is something to balance, so a node without services (and
// a stopped shoald) leaves none behind.
import { spawn } from 'node:child_process';
import { ShoalError } from '../../common/errors.js';
import { LbController, type LbState, type LbTable, nftCommand } from './lb/index.js';

export const LB_TABLE: LbTable = { family: 'ip', name: 'shoal_lb' };

function nft(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    p.on('error', (e) => reject(new ShoalError('internal', `nft: ${e.message}`)));
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new ShoalError('internal', `nft: ${err.trim() || `exit ${code}`}`)),
    );
    p.stdin.end(script);
  });
}

const t = `${LB_TABLE.family} ${LB_TABLE.name}`;

export class SwarmLb {
  private lb: LbController | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly log: (m: string) => void = () => {}) {}

  /** Balances `state` (the table made on first use, removed when the state is empty). */
  update(state: LbState): Promise<void> {
    const run = async () => {
      if (state.services.length === 0 && state.published.length === 0) return this.drop();
      if (!this.lb) {
        // A table left by a killed shoald goes in the same transaction as the new one is made.
        await nft(`table ${t}\ndelete table ${t}\ntable ${t}\n`);
        this.lb = new LbController(LB_TABLE, nftCommand(), {
          onFlowError: (e) => this.log(`load balancer: ${e.message}`),
        });
      }
      await this.lb.update(state);
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Removes the table (shoald's stop, or nothing left to balance). */
  close(): Promise<void> {
    const p = this.queue.then(() => this.drop());
    this.queue = p.catch(() => {});
    return p;
  }

  private async drop(): Promise<void> {
    if (!this.lb) return;
    this.lb = undefined;
    await nft(`table ${t}\ndelete table ${t}\n`);
  }
}
