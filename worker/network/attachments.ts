// A plain container on a swarm overlay (`run --network OVERLAY`, `network connect OVERLAY`): its address
// comes from the managers (an attachment, which the rest of the cluster sees as an endpoint with the
// container's name), never from this node, so two nodes cannot hand out the same one. The port below is
// the node's agent when the node is in a swarm; without it an overlay cannot be joined by a container.

import { type ErrorKind, isShoalError } from '../../common/errors.js';

/** The node's way to the managers' attachments (the agent's AttachNetwork / DetachNetwork). */
export interface OverlayAttacher {
  /** Whether the node is in a swarm now (else no overlay can be asked for). */
  readonly inSwarm: boolean;
  attach(req: {
    network: string;
    containerId: string;
    containerName: string;
    aliases: string[];
  }): Promise<{ attachmentId: string; networkId: string; address: string }>;
  detach(attachmentId: string): Promise<void>;
}

const PERMANENT: ErrorKind[] = ['invalid_argument', 'permission_denied'];

/**
 * Detaches owed to the managers: tried at once, and while they fail (no session with a manager: a
 * restarting node, a lost quorum) again every few seconds, so an address is not held by a container
 * that is gone. In memory only: a node restarted meanwhile leaves the attachment to its node's removal.
 */
export class OwedDetaches {
  private readonly owed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly attacher: () => OverlayAttacher | undefined,
    private readonly log: (msg: string) => void,
    private readonly retryMs = 5000,
  ) {}

  /** Detaches now; a failure is kept and retried. */
  async detach(attachmentId: string): Promise<void> {
    this.owed.add(attachmentId);
    await this.flush();
  }

  get size(): number {
    return this.owed.size;
  }

  async flush(): Promise<void> {
    const a = this.attacher();
    for (const id of [...this.owed]) {
      try {
        if (!a) throw new Error('this node is in no swarm');
        await a.detach(id);
        this.owed.delete(id);
      } catch (e) {
        // Refused for good (not this node's, not an attachment): retrying cannot help.
        if (PERMANENT.some((k) => isShoalError(e, k))) {
          this.owed.delete(id);
          this.log(`network: attachment ${id} not released: ${(e as Error).message}`);
          continue;
        }
        this.log(`network: releasing attachment ${id} failed (retrying): ${(e as Error).message}`);
        break;
      }
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.owed.size > 0) {
      this.timer = setTimeout(() => void this.flush(), this.retryMs);
      this.timer.unref();
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
