// Network attachments for plain containers (`run --network OVERLAY`, `network connect OVERLAY` on a node of
// the swarm): the dispatcher's side of AttachNetwork / DetachNetwork. An attachment is a task that runs
// nothing (manager/allocator/attachments.ts); the allocator gives it its address in its next pass, and the
// caller is answered once it has one, so the container starts with an address the whole cluster knows.
import type { Clock } from '../../common/clock.js';
import { invalidArgument, notFound, ShoalError, unavailable } from '../../common/errors.js';
import type {
  AttachNetworkRequest,
  AttachNetworkResponse,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import { type Network, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';
import type { ReadTx, Store } from '../store/index.js';

/** How long AttachNetwork waits for the allocator (it runs on every store change: normally milliseconds). */
export const ATTACH_TIMEOUT_MS = 10_000;

const NAME_MAX = 128;

function networkOf(tx: ReadTx, ref: string): Network {
  const n = tx.lookup('network', ref);
  if (n) return n;
  const hits = tx.list('network').filter((x) => x.id.startsWith(ref));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1)
    throw invalidArgument('network', `network ${ref} is ambiguous (${hits.length} matches)`);
  throw notFound(`network ${ref} not found`, 'network');
}

/** The attachment of `containerId` on `networkId` held by `nodeId`, if there is one. */
function existing(tx: ReadTx, nodeId: string, containerId: string, networkId: string): Task | undefined {
  return tx
    .find('task', 'node', nodeId)
    .find(
      (t) =>
        t.spec?.attachment?.containerId === containerId &&
        t.spec.networks.some((n) => n.target === networkId),
    );
}

export function checkAttachRequest(req: AttachNetworkRequest): void {
  if (!req.network) throw invalidArgument('network', 'required');
  if (!req.containerId) throw invalidArgument('container_id', 'required');
  if (req.containerName.length > NAME_MAX)
    throw invalidArgument('container_name', `longer than ${NAME_MAX} characters`);
}

/** Makes (or finds) the attachment task; returns its id. */
export async function createAttachment(
  store: Store,
  nodeId: string,
  req: AttachNetworkRequest,
  now: number,
): Promise<string> {
  checkAttachRequest(req);
  const r = await store.update((tx) => {
    if (!tx.get('node', nodeId)) throw notFound(`node ${nodeId} is not a member of this cluster`, 'node_id');
    const net = networkOf(tx, req.network);
    const name = net.spec?.annotations?.name ?? net.id;
    // Docker's words: only networks made --attachable take plain containers; ingress never does.
    if (!net.spec?.attachable || net.spec.ingress)
      throw new ShoalError('permission_denied', `network ${name} not manually attachable`, {
        field: 'network',
      });
    const held = existing(tx, nodeId, req.containerId, net.id);
    if (held) return held.id;
    const id = store.newId();
    const task = Task.fromPartial({
      id,
      annotations: { name: req.containerName || req.containerId, labels: {} },
      nodeId,
      spec: {
        networks: [{ target: net.id, aliases: [...req.aliases], driverOpts: {} }],
        attachment: { containerId: req.containerId },
      },
      status: { state: TaskState.TASK_STATE_NEW, timestamp: now, message: 'waiting for an address' },
      desiredState: TaskState.TASK_STATE_RUNNING,
    });
    tx.create('task', task);
    return id;
  });
  return r.value;
}

/** The answer for an allocated attachment, or undefined while it has no address yet. */
function answerOf(t: Task | undefined): AttachNetworkResponse | undefined {
  const att = t?.networks[0];
  if (!t || !att?.network || !att.addresses[0]) return undefined;
  return { attachmentId: t.id, network: att.network, address: att.addresses[0] };
}

/** Waits (bounded) until the allocator gave the attachment its address. */
export async function allocatedAttachment(
  store: Store,
  id: string,
  clock: Clock,
  timeoutMs = ATTACH_TIMEOUT_MS,
): Promise<AttachNetworkResponse> {
  const { value, watch } = store.viewAndWatch((tx) => tx.get('task', id), { table: 'task' });
  const now = answerOf(value);
  if (now) {
    watch.close();
    return now;
  }
  if (!value) {
    watch.close();
    throw notFound(`attachment ${id} is gone`, 'attachment_id');
  }
  const timer = clock.setTimeout(() => watch.close(), timeoutMs);
  try {
    for await (const e of watch) {
      if (e.object.id !== id) continue;
      if (e.kind === 'remove') throw notFound(`attachment ${id} was removed`, 'attachment_id');
      const a = answerOf(e.object);
      if (a) return a;
    }
  } finally {
    clock.clearTimeout(timer);
    watch.close();
  }
  const why = store.view((tx) => tx.get('task', id))?.status?.message ?? 'the allocator did not answer';
  throw unavailable(`no address on the network yet (${why})`);
}

/** Deletes the caller's attachment (an unknown id is not an error: it may be gone with its node). */
export async function removeAttachment(store: Store, nodeId: string, id: string): Promise<void> {
  if (!id) throw invalidArgument('attachment_id', 'required');
  await store.update((tx) => {
    const t = tx.get('task', id);
    if (!t) return;
    if (!isAttachment(t)) throw invalidArgument('attachment_id', `task ${id} is not a network attachment`);
    if (t.nodeId !== nodeId)
      throw new ShoalError('permission_denied', `attachment ${id} belongs to another node`);
    tx.remove('task', id);
  });
}
