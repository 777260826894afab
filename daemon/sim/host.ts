// Many simulated worker nodes in one process (shoald-sim): each joins with the worker token (a certificate
// of its own, so a node id of its own), then holds its own dispatcher session through the real agent over
// the simulated executor. The managers cannot tell them from real workers; only no container is made.
import path from 'node:path';
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

  private async startNode(hostname: string, index: number): Promise<SimNode> {
    const c = this.config;
    const dir = path.join(c.stateDir, hostname);
    const certs = path.join(dir, 'certificates');
    let identity = await loadNodeIdentity(certs);
    if (!identity) {
      // Spread the joins over the managers (each CA signs; the leader writes the node).
      const via = c.managers[index % c.managers.length];
      identity = await joinCluster({ address: via, token: c.joinToken });
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
      log: (m, e) => this.log(`${hostname}: ${m}${e ? `: ${(e as Error)?.message ?? e}` : ''}`),
    });
    await agent.start();
    return { hostname, identity, agent, executor };
  }
}
