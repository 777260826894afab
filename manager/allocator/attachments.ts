// Network attachments: tasks that run nothing and stand for a plain container on an attachable overlay
// (`run --network`, `network connect` on a node of the swarm). They have no service and are bound to their
// node from the start; the allocator gives them their address and makes them RUNNING at once (there is
// nothing to schedule or start), the dispatcher's network plans show them as endpoints (so the container's
// name resolves on every node), and they go when the container leaves the network or their node is removed.
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';

export const ATTACHED_MESSAGE = 'attached';

export const isAttachment = (t: Task): boolean => t.spec?.attachment !== undefined;
