// What the API modules get from the daemon: the engine, the daemon's configuration, and optional
// services later issues plug in (an image store). Add a field here when a new module needs one.
import type { ContainerManager, ImageConfig } from '../../worker/engine/index.js';
import type { ImageStore } from '../../worker/images/index.js';
import type { NetworkManager } from '../../worker/network/index.js';
import type { DaemonConfig } from '../config.js';
import type { EventSink } from './events.js';
import type { ClusterNetworks } from './networks.js';
import type { ClusterBackend } from './swarm/backend.js';

/** A resolved image: read-only layer directories (top first), its config and identity. */
export interface ResolvedImage {
  id: string;
  /** The reference as the user wrote it, normalised ("busybox:latest"). */
  reference: string;
  layers: string[];
  config: ImageConfig;
}

/** Looks images up for container create; throws a 404-shaped error ("No such image: x") when absent. */
export interface ImageResolver {
  resolve(reference: string): Promise<ResolvedImage>;
  /** Number of images, for /info. */
  count?(): number;
}

export interface ApiDeps {
  engine: ContainerManager;
  config: DaemonConfig;
  /** When shoald started (for /info). */
  startedAt: Date;
  /** Set by the images module when it is registered; container create needs it for IMAGE (not --rootfs). */
  images?: ImageResolver;
  now: () => Date;
  /** The image store the composition root opened (the worker's executor shares it); opened here if absent. */
  imageStore?: ImageStore;
  /** The node's swarm membership (daemon/node.ts); without it there are no swarm routes. */
  swarm?: ClusterBackend;
  /** The node's local networks (worker/network); without it there are no /networks routes. */
  network?: NetworkManager;
  /** Set by the events module: where image events (and commit's container event) go. */
  events?: EventSink;
  /** Swarm-scope networks (the manager's allocator); consulted after the local ones. */
  clusterNetworks?: ClusterNetworks;
}
