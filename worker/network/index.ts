// worker/network's public face: the node's local dataplane (see README.md).

export type { OverlayAttacher } from './attachments.js';
export {
  ClusterNetworks,
  type ClusterNetworksOptions,
  clusterNamesOf,
  lbStateOf,
  type NetworkPlanView,
  overlaySpecOf,
} from './cluster.js';
export { BridgeResolver } from './dns/index.js';
export { parseResolv } from './files.js';
export {
  type ContainerNetView,
  type CreateNetworkRequest,
  type EndpointView,
  NetworkManager,
  type NetworkManagerOptions,
  type NetworkView,
  normalisePorts,
  parseExtraHost,
} from './manager.js';
export type { ChainProvider } from './nft.js';
export type { EmbeddedResolver, ResolverEntry, ResolverNetwork } from './resolver.js';
export { LB_TABLE, SwarmLb } from './swarm-lb.js';
export type { NetworkRecord } from './types.js';
