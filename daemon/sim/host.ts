// Many simulated worker nodes in one process (shoald-sim): each joins with the worker token (a certificate
// of its own, so a node id of its own), then holds its own dispatcher session through the real agent over
// the simulated executor. The managers cannot tell them from real workers; only no container is made.
import path from 'node:path';
import { isShoalError } from '../../common/errors.js';
import {
  channelOptionsFor,
  joinCluster,
  loadNodeIdentity,
  mtlsChannelCredentials,
  type NodeCredentials,
  saveNodeIdentity,
} from '../../manager/ca/index.js';
import { Agent } from '../../worker/agent/index.js';
import { SimExecutor } from '../../worker/executor/sim.js';
import { describeNode } from '../swarm/describe.js';
import type { SimHostConfig } from './config.js';

/** How long a node keeps trying to join while the managers answer unavailable (an election, a busy leader). */
const JOIN_PATIENCE_MS = 120_000;

/**
 * The least time between two writes of a simulated node's task file (a real agent: 500 ms). Each write is
 * the node's whole task list, synced: a real node pays ~1 ms of its own CPU a second for it, but hundreds of
 * nodes in one process on the managers' machine paid a core between them, which the managers' figures then
 * measured. The file is still written, read back at a restart, and lags the agent by at most this.
 */
const SIM_STATE_WRITE_GAP_MS = 5_000;

export interface SimNode {
  hostname: string;
  identity: NodeCredentials;
  agent: Agent;
  executor: SimExecutor;
}

export class SimNodeHost {
  readonly nodes: SimNode[] = [];
  private stopped = false;

  constructor(
    private readonly config: SimHostConfig,
    private readonly log: (message: string) => void,
  ) {}

  /** Joins (or resumes) every node and starts its agent; resolves once each has started looking for a session. */
  async start(): Promise<void> {
    const c = this.config;
    const indexes = Array.from({ length: c.nodes }, (_, i) => c.firstIndex + i);
    let next = 0;
    const worker = async () => {
      while (next < indexes.length && !this.stopped) {
        const index = indexes[next++];
        this.nodes.push(await this.startNode(`${c.hostnamePrefix}-${index}`, index));
      }
    };
    await Promise.all(Array.from({ length: Math.min(c.joinConcurrency, c.nodes) }, worker));
  }

  /** Nodes whose agent has a session now. */
  connected(): number {
    return this.nodes.filter((n) => n.agent.state === 'connected').length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.nodes.map((n) => n.agent.stop().catch(() => {})));
    await Promise.all(this.nodes.map((n) => n.executor.close()));
  }

  /**
   * A certificate through the managers in turn (each CA signs; the leader writes the node). A cluster in an
   * election answers unavailable for a moment: tried again for up to JOIN_PATIENCE_MS; anything else (a bad
   * token) fails the host at once.
   */
  private async join(index: number): Promise<NodeCredentials> {
    const c = this.config;
    const deadline = Date.now() + JOIN_PATIENCE_MS;
    for (let attempt = 0; ; attempt++) {
      const via = c.managers[(index + attempt) % c.managers.length];
      try {
        return await joinCluster({ address: via, token: c.joinToken });
      } catch (err) {
        if (!isShoalError(err, 'unavailable') || Date.now() > deadline || this.stopped) throw err;
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    }
  }

  private async startNode(hostname: string, index: number): Promise<SimNode> {
    const c = this.config;
    const dir = path.join(c.stateDir, hostname);
    const certs = path.join(dir, 'certificates');
    let identity = await loadNodeIdentity(certs);
    if (!identity) {
      // Spread the joins over the managers (each CA signs; the leader writes the node).
      identity = await this.join(index);
      if (identity.role !== 'worker')
        throw new Error(`${hostname}: the token made a ${identity.role}: give shoald-sim a worker token`);
      await saveNodeIdentity(certs, identity);
    }
    const executor = new SimExecutor();
    const agent = new Agent({
      managers: c.managers,
      credentials: mtlsChannelCredentials(identity, { clusterId: identity.clusterId }),
      channelOptions: channelOptionsFor('manager'),
      executor,
      describe: () => describeNode(hostname),
      stateDir: path.join(dir, 'worker'),
      stateWriteGapMs: SIM_STATE_WRITE_GAP_MS,
      log: (m, e) => this.log(`${hostname}: ${m}${e ? `: ${(e as Error)?.message ?? e}` : ''}`),
    });
    await agent.start();
    return { hostname, identity, agent, executor };
  }
}
