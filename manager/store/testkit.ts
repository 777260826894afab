// Builders of store objects for tests (here and in the components above the store): complete objects with
// only the fields a test cares about set.
import {
  Cluster,
  Config,
  Network,
  Node,
  Secret,
  Service,
  Task,
} from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { defaultClusterSpec } from './defaults.js';
import { MemoryLog } from './memlog.js';
import { Store } from './store.js';

export function makeService(id: string, name: string, replicas = 1, image = 'bb:latest'): Service {
  return Service.fromPartial({
    id,
    spec: {
      annotations: { name, labels: { app: name } },
      taskTemplate: { containerSpec: { image, args: ['httpd', '-f'], env: ['A=1'] } },
      mode: { $case: 'replicated', value: { replicas } },
    },
  });
}

export function makeTask(
  id: string,
  serviceId: string,
  slot: number,
  nodeId = '',
  desired = TaskState.TASK_STATE_RUNNING,
): Task {
  return Task.fromPartial({
    id,
    serviceId,
    slot,
    nodeId,
    desiredState: desired,
    annotations: { name: `${serviceId}.${slot}.${id}` },
    status: { state: TaskState.TASK_STATE_NEW, message: 'created' },
  });
}

export function makeNode(id: string, hostname: string): Node {
  return Node.fromPartial({
    id,
    description: {
      hostname,
      platform: { os: 'linux', architecture: 'x86_64' },
      resources: { nanoCpus: 2e9 },
    },
  });
}

export const makeNetwork = (id: string, name: string): Network =>
  Network.fromPartial({ id, spec: { annotations: { name }, driverConfig: { name: 'overlay' } } });

/** A secret as the store keeps it: no plaintext, `data` standing in for the sealed bytes. */
export const makeSecret = (id: string, name: string, data = 'shh'): Secret =>
  Secret.fromPartial({
    id,
    spec: { annotations: { name } },
    sealed: { keyId: 'test', nonce: Buffer.alloc(12), ciphertext: Buffer.from(data) },
  });

export const makeConfig = (id: string, name: string, data = 'k: v'): Config =>
  Config.fromPartial({ id, spec: { annotations: { name }, data: Buffer.from(data) } });

export const makeCluster = (id: string): Cluster => Cluster.fromPartial({ id, spec: defaultClusterSpec() });

/** A store over a fresh single-member MemoryLog, with a clock the test moves (ms). */
export function storeOnMemoryLog(mode: 'sync' | 'async' | 'manual' = 'sync') {
  const clock = { now: 1_700_000_000_000 };
  let n = 0;
  const store = new Store({ clock: () => clock.now, newId: () => `id${++n}` });
  const log = new MemoryLog(mode);
  store.connect(log.addMember(store));
  return { store, log, clock };
}
