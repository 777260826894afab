// What the swarm routes need from the node: its swarm membership (init/join/leave, /info's Swarm section)
// and the cluster's control API. The composition root (daemon/node.ts) provides one; nothing is opened here.
import { ShoalError } from '../../../common/errors.js';
import type { ControlOperations } from '../../../manager/controlapi/index.js';
import type { SubscribeRequest } from '../../../manager/logbroker/index.js';
import type { SubscribeLogsMessage } from '../../../proto/gen/shoal/logbroker/v1/logbroker.js';
import type { Cluster } from '../../../proto/gen/shoal/swarm/v1/objects.js';
import type { ClusterSpec } from '../../../proto/gen/shoal/swarm/v1/specs.js';
import type { NodeAvailability } from '../../../proto/gen/shoal/swarm/v1/types.js';

export type LocalNodeState = 'inactive' | 'pending' | 'active' | 'error' | 'locked';

/** This node's view of its swarm membership (GET /info's Swarm). */
export interface LocalSwarmState {
  nodeId: string;
  /** The address other nodes reach this one at (no port), '' when inactive. */
  nodeAddr: string;
  localNodeState: LocalNodeState;
  /** Whether this node is a manager (can answer the control API). */
  controlAvailable: boolean;
  error: string;
  remoteManagers: { nodeId: string; addr: string }[];
  /** Set on managers: the counts and the cluster object /info shows. */
  nodes?: number;
  managers?: number;
  cluster?: Cluster;
}

export interface InitRequest {
  /** "0.0.0.0:2377" by default (the CLI sends it). */
  listenAddr: string;
  advertiseAddr: string;
  dataPathAddr: string;
  forceNewCluster: boolean;
  /** The cluster spec, Docker's defaults filled where the body left zeros. */
  spec: ClusterSpec;
  /** UNSPECIFIED when the body did not say. */
  availability: NodeAvailability;
  /** Where overlay subnets come from (--default-addr-pool; empty: Docker's 10.0.0.0/8), checked. */
  defaultAddrPool: string[];
  /** Their prefix length (--default-addr-pool-mask-length; 0: 24). */
  subnetSize: number;
}

export interface JoinRequest {
  listenAddr: string;
  advertiseAddr: string;
  dataPathAddr: string;
  remoteAddrs: string[];
  joinToken: string;
  availability: NodeAvailability;
}

export interface ClusterBackend {
  localState(): LocalSwarmState | Promise<LocalSwarmState>;
  /** Makes this node the first manager of a new swarm; resolves with its node id. */
  init(req: InitRequest): Promise<string>;
  join(req: JoinRequest): Promise<void>;
  leave(force: boolean): Promise<void>;
  /**
   * The cluster's control API (this manager's own when it leads, else one forwarding to the leader).
   * Throws notInSwarm()/notManager() (503, Docker's messages) when this node cannot answer.
   */
  control(): ControlOperations | Promise<ControlOperations>;
  /**
   * Logs of tasks across the cluster (the leader's log broker, reached from any manager). Resolves once the
   * subscription is accepted; `signal` ends it. Absent: the daemon has no swarm logs (501).
   */
  logs?(req: SubscribeRequest, signal: AbortSignal): Promise<AsyncIterable<SubscribeLogsMessage>>;
}

// Docker's exact messages (dockerd answers both with 503).
export const NOT_IN_SWARM_MESSAGE =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
export const NOT_MANAGER_MESSAGE =
  "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
export const ALREADY_IN_SWARM_MESSAGE =
  'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';
export const NOT_PART_OF_SWARM_MESSAGE = 'This node is not part of a swarm';

export const notInSwarm = () => new ShoalError('unavailable', NOT_IN_SWARM_MESSAGE);
export const notManager = () => new ShoalError('unavailable', NOT_MANAGER_MESSAGE);
export const alreadyInSwarm = () => new ShoalError('unavailable', ALREADY_IN_SWARM_MESSAGE);
export const notPartOfSwarm = () => new ShoalError('unavailable', NOT_PART_OF_SWARM_MESSAGE);
