// Builders of nodes and tasks for scheduler and orchestrator tests: complete objects, only the fields a test
// cares about set.
import { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import {
  NodeAvailability,
  NodeRole,
  NodeState,
  PortProtocol,
  PublishMode,
  TaskState,
} from '../../proto/gen/shoal/swarm/v1/types.js';

export interface NodeOpts {
  hostname?: string;
  nanoCpus?: number;
  memoryBytes?: number;
  labels?: Record<string, string>;
  engineLabels?: Record<string, string>;
  role?: NodeRole;
  state?: NodeState;
  availability?: NodeAvailability;
  os?: string;
  arch?: string;
}

export function node(id: string, o: NodeOpts = {}): Node {
  return Node.fromPartial({
    id,
    meta: { version: 1, createdAt: 1, updatedAt: 1 },
    spec: {
      annotations: { name: '', labels: o.labels ?? {} },
      desiredRole: o.role ?? NodeRole.NODE_ROLE_WORKER,
      availability: o.availability ?? NodeAvailability.NODE_AVAILABILITY_ACTIVE,
    },
    role: o.role ?? NodeRole.NODE_ROLE_WORKER,
    description: {
      hostname: o.hostname ?? `host-${id}`,
      platform: { os: o.os ?? 'linux', architecture: o.arch ?? 'x86_64' },
      resources: { nanoCpus: o.nanoCpus ?? 4e9, memoryBytes: o.memoryBytes ?? 8 * 2 ** 30 },
      engine: { engineVersion: '1', labels: o.engineLabels ?? {}, plugins: [] },
    },
    status: { state: o.state ?? NodeState.NODE_STATE_READY, message: '', addr: '' },
  });
}

export interface TaskOpts {
  nodeId?: string;
  state?: TaskState;
  desired?: TaskState;
  nanoCpus?: number;
  memoryBytes?: number;
  constraints?: string[];
  preferences?: string[];
  maxReplicas?: number;
  /** Host-mode published TCP ports. */
  hostPorts?: number[];
  err?: string;
  version?: number;
}

export function task(id: string, serviceId: string, slot: number, o: TaskOpts = {}): Task {
  return Task.fromPartial({
    id,
    meta: { version: o.version ?? 1, createdAt: 1, updatedAt: 1 },
    serviceId,
    slot,
    nodeId: o.nodeId ?? '',
    annotations: { name: `${serviceId}.${slot}.${id}` },
    spec: {
      containerSpec: { image: 'bb' },
      resources: { reservations: { nanoCpus: o.nanoCpus ?? 0, memoryBytes: o.memoryBytes ?? 0 } },
      placement: {
        constraints: o.constraints ?? [],
        preferences: (o.preferences ?? []).map((d) => ({ spread: { spreadDescriptor: d } })),
        maxReplicas: o.maxReplicas ?? 0,
      },
    },
    endpoint: o.hostPorts
      ? {
          ports: o.hostPorts.map((p) => ({
            protocol: PortProtocol.PORT_PROTOCOL_TCP,
            targetPort: 80,
            publishedPort: p,
            publishMode: PublishMode.PUBLISH_MODE_HOST,
          })),
        }
      : undefined,
    status: {
      state: o.state ?? TaskState.TASK_STATE_PENDING,
      message: 'pending task scheduling',
      err: o.err ?? '',
    },
    desiredState: o.desired ?? TaskState.TASK_STATE_RUNNING,
  });
}

/** A task already placed and running on `nodeId`. */
export const running = (
  id: string,
  serviceId: string,
  slot: number,
  nodeId: string,
  o: TaskOpts = {},
): Task => task(id, serviceId, slot, { ...o, nodeId, state: o.state ?? TaskState.TASK_STATE_RUNNING });
