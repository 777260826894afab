// worker/network's records: networks (persisted under <dataRoot>/network/networks/) and each
// container's network state (under <dataRoot>/network/containers/), so a restarted shoald keeps
// every address and published port of the containers that still run.

export type Driver = 'bridge' | 'host' | 'null' | 'overlay';

/** A remote endpoint of an overlay as programmed on its VXLAN device: neighbour (ip → mac) and FDB (mac → vtep). */
export interface OverlayPeer {
  ip: string;
  vtep: string;
}

export interface NetworkRecord {
  id: string;
  name: string;
  driver: Driver;
  /** RFC3339 */
  created: string;
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** bridge networks: the subnet (CIDR), the gateway (the bridge's address) and the bridge device */
  subnet?: string;
  gateway?: string;
  bridge?: string;
  /** bridge, host and none: made by the daemon, cannot be removed */
  predefined: boolean;
  /** overlay (the swarm's, made from the dispatcher's plan): the VXLAN device and id, the node's own
   * address on the network (CIDR), the VIPs held on the bridge (/32) and the peers programmed */
  vxlan?: string;
  vni?: number;
  local?: string;
  vips?: string[];
  peers?: OverlayPeer[];
}

export interface EndpointRecord {
  networkId: string;
  endpointId: string;
  aliases: string[];
  /** --ip, or the managers' address on a swarm overlay */
  requestedIp?: string;
  /** on a swarm overlay joined by a plain container: the managers' attachment, released with the endpoint */
  attachmentId?: string;
  /** set while connected (the container runs) */
  ip?: string;
  mac?: string;
  /** eth0, eth1 … inside the container; the host end is `veth` */
  ifname: string;
  veth: string;
}

export interface MappedPort {
  proto: 'tcp' | 'udp';
  containerPort: number;
  hostIp: string;
  hostPort: number;
}

export interface ContainerNetRecord {
  id: string;
  name: string;
  hostname: string;
  domainname: string;
  /** bridge: a sandbox namespace with endpoints; host / none: files only; other: container:/netns: */
  mode: 'bridge' | 'host' | 'none' | 'other';
  /** the sandbox namespace file (bridge mode) */
  netns?: string;
  endpoints: EndpointRecord[];
  /** requested bindings, normalised ("80/tcp" → [{HostIp, HostPort}]) */
  portBindings: Record<string, { HostIp: string; HostPort: string }[]>;
  publishAll: boolean;
  exposed: string[];
  /** what is published while the container runs */
  mapped: MappedPort[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: string[];
  files: { hosts: string; hostname: string; resolv: string };
  connected: boolean;
}
