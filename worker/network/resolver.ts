// The seam for the embedded DNS resolver (worker/network/dns/, built separately). NetworkManager calls
// it when a container joins or leaves a user-defined network; when it is absent, containers get the
// host's nameservers (as on the default bridge), never an address nobody answers on.
import type { ContainerNames, ServiceNames } from './dns/records.js';

export interface ResolverNetwork {
  id: string;
  name: string;
  /** the bridge's address on this node */
  gateway: string;
  bridge: string;
}

export interface ResolverEntry {
  containerId: string;
  name: string;
  aliases: string[];
  ip: string;
}

export interface ClusterNames {
  services: ServiceNames[];
  containers: ContainerNames[];
}

export interface EmbeddedResolver {
  /**
   * Starts (or reuses) the resolver for a user-defined network and returns the address containers
   * must use as their only nameserver (e.g. the gateway), or undefined to keep the host's.
   */
  addressFor(net: ResolverNetwork): Promise<string | undefined>;
  register(networkId: string, entry: ResolverEntry): void;
  unregister(networkId: string, containerId: string): void;
  /**
   * A swarm network's names from the cluster (services with their VIPs and running tasks, and the tasks
   * on other nodes by name and alias); local containers still come through register.
   */
  setCluster(networkId: string, names: ClusterNames): void;
  /** The network is gone (network rm). */
  networkRemoved(networkId: string): Promise<void>;
}
