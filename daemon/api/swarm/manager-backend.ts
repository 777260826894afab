// ClusterBackends over local parts. `ManagerClusterBackend`: a manager whose control API and store are in
// this process (the leader; a follower passes a forwarding ControlOperations instead). `InactiveClusterBackend`:
// a node in no swarm. init/join/leave are the composition root's (they build or tear down raft, the CA, the
// loops); it passes them in as `lifecycle`.

import { ShoalError } from '../../../common/errors.js';
import type { ControlOperations } from '../../../manager/controlapi/index.js';
import type { SubscribeRequest } from '../../../manager/logbroker/index.js';
import type { Store } from '../../../manager/store/index.js';
import type { SubscribeLogsMessage } from '../../../proto/gen/shoal/logbroker/v1/logbroker.js';
import { NodeRole } from '../../../proto/gen/shoal/swarm/v1/types.js';
import {
  alreadyInSwarm,
  type ClusterBackend,
  type InitRequest,
  type JoinRequest,
  type LocalSwarmState,
  notInSwarm,
  notPartOfSwarm,
} from './backend.js';

export interface SwarmLifecycle {
  init?(req: InitRequest): Promise<string>;
  join?(req: JoinRequest): Promise<void>;
  leave?(force: boolean): Promise<void>;
}

export class ManagerClusterBackend implements ClusterBackend {
  constructor(
    private readonly opts: {
      store: Store;
      control: ControlOperations;
      /** This node's id and advertised address (host, no port). */
      nodeId: string;
      nodeAddr: string;
      lifecycle?: SwarmLifecycle;
      /** Whether this member leads now, and a read barrier a follower waits for before it answers. */
      consistency?: { isLeader(): boolean; barrier(): Promise<void> };
      /** Service and task logs (ManagerParts.subscribeLogs). */
      logs?: ClusterBackend['logs'];
    },
  ) {}

  logs(req: SubscribeRequest, signal: AbortSignal): Promise<AsyncIterable<SubscribeLogsMessage>> {
    const logs = this.opts.logs;
    if (!logs)
      return Promise.reject(new ShoalError('unavailable', 'service logs are not available on this manager'));
    return logs(req, signal);
  }

  localState(): LocalSwarmState {
    const { store, nodeId, nodeAddr } = this.opts;
    return store.view((tx) => {
      const nodes = tx.list('node');
      const managers = nodes.filter(
        (n) => n.spec?.desiredRole === NodeRole.NODE_ROLE_MANAGER || n.managerStatus,
      );
      return {
        nodeId,
        nodeAddr,
        localNodeState: 'active',
        controlAvailable: true,
        error: '',
        remoteManagers: managers.map((n) => ({ nodeId: n.id, addr: n.managerStatus?.addr ?? '' })),
        nodes: nodes.length,
        managers: managers.length,
        cluster: tx.list('cluster')[0],
      };
    });
  }

  init(): Promise<string> {
    return Promise.reject(alreadyInSwarm());
  }

  join(): Promise<void> {
    return Promise.reject(alreadyInSwarm());
  }

  leave(force: boolean): Promise<void> {
    const leave = this.opts.lifecycle?.leave;
    return leave ? leave(force) : Promise.reject(noLifecycle('leave'));
  }

  control(): ControlOperations | Promise<ControlOperations> {
    const c = this.opts.consistency;
    if (!c || c.isLeader()) return this.opts.control;
    return c.barrier().then(() => this.opts.control);
  }
}

export class InactiveClusterBackend implements ClusterBackend {
  constructor(private readonly lifecycle: SwarmLifecycle = {}) {}

  localState(): LocalSwarmState {
    return {
      nodeId: '',
      nodeAddr: '',
      localNodeState: 'inactive',
      controlAvailable: false,
      error: '',
      remoteManagers: [],
    };
  }

  init(req: InitRequest): Promise<string> {
    return this.lifecycle.init ? this.lifecycle.init(req) : Promise.reject(noLifecycle('init'));
  }

  join(req: JoinRequest): Promise<void> {
    return this.lifecycle.join ? this.lifecycle.join(req) : Promise.reject(noLifecycle('join'));
  }

  leave(): Promise<void> {
    return Promise.reject(notPartOfSwarm());
  }

  control(): ControlOperations {
    throw notInSwarm();
  }
}

const noLifecycle = (what: string) =>
  new ShoalError('unavailable', `swarm ${what} is not available: this daemon was started without swarm mode`);
