// The embedded resolver of user-defined bridge networks: one DnsServer per network on its gateway
// address, port 53, answering the names and aliases of the containers attached to it (as dockerd's
// 127.0.0.11, reached here at the gateway so that no socket has to live inside each container's
// namespace). Names it does not know go to the upstreams when forwarding is on, else NXDOMAIN.
import type { ClusterNames, EmbeddedResolver, ResolverEntry, ResolverNetwork } from '../resolver.js';
import { buildRecords, type Records } from './records.js';
import { DnsServer } from './server.js';
import type { Upstream } from './upstream.js';

export interface BridgeResolverOptions {
  /** Where unknown names go (the host's nameservers); empty: nowhere, unknown names are NXDOMAIN. */
  upstreams: readonly Upstream[];
  /** 53 in production; tests may pick another. */
  port?: number;
  log?: (msg: string) => void;
}

interface NetworkResolver {
  name: string;
  server: DnsServer;
}

export class BridgeResolver implements EmbeddedResolver {
  private readonly networks = new Map<string, Promise<NetworkResolver>>();
  /** Per network, its containers: kept even before the listener runs (live restore registers first). */
  private readonly entries = new Map<string, Map<string, ResolverEntry>>();
  /** Per swarm network, what the cluster says of it (services, remote tasks). */
  private readonly cluster = new Map<string, ClusterNames>();
  /** Per network, its records as last built (for othersFor; dropped whenever they change). */
  private readonly built = new Map<string, Records>();
  /** Network names, from the networks a listener was asked for (PTR answers name `container.network`). */
  private readonly names = new Map<string, string>();

  constructor(private readonly o: BridgeResolverOptions) {}

  async addressFor(net: ResolverNetwork): Promise<string | undefined> {
    this.names.set(net.id, net.name);
    let r = this.networks.get(net.id);
    if (!r) {
      r = this.start(net);
      this.networks.set(net.id, r);
      r.catch(() => this.networks.delete(net.id));
    }
    try {
      return (await r).server.address;
    } catch (e) {
      // No resolver (the address is not up yet, port 53 taken): the container keeps the host's nameservers.
      this.o.log?.(`dns: no resolver on ${net.name} (${net.gateway}): ${(e as Error).message}`);
      return undefined;
    }
  }

  register(networkId: string, entry: ResolverEntry): void {
    const m = this.entries.get(networkId) ?? new Map<string, ResolverEntry>();
    this.entries.set(networkId, m);
    m.set(entry.containerId, entry);
    this.publish(networkId);
  }

  setCluster(networkId: string, names: ClusterNames): void {
    this.cluster.set(networkId, names);
    this.publish(networkId);
  }

  unregister(networkId: string, containerId: string): void {
    if (this.entries.get(networkId)?.delete(containerId)) this.publish(networkId);
  }

  async networkRemoved(networkId: string): Promise<void> {
    const r = this.networks.get(networkId);
    this.networks.delete(networkId);
    this.entries.delete(networkId);
    this.cluster.delete(networkId);
    this.built.delete(networkId);
    this.names.delete(networkId);
    await (await r?.catch(() => undefined))?.server.stop();
  }

  /** Stops every listener (shoald's shutdown). */
  async close(): Promise<void> {
    const all = [...this.networks.keys()];
    await Promise.all(all.map((id) => this.networkRemoved(id)));
  }

  private async start(net: ResolverNetwork): Promise<NetworkResolver> {
    const server = new DnsServer({
      address: net.gateway,
      port: this.o.port ?? 53,
      records: this.recordsOf(net.id, net.name),
      othersFor: (client) => this.othersFor(net.id, client),
      upstreams: this.o.upstreams,
      onError: (e) => this.o.log?.(`dns ${net.name}: ${e.message}`),
    });
    await server.start();
    return { name: net.name, server };
  }

  private recordsOf(networkId: string, name: string) {
    const cluster = this.cluster.get(networkId);
    return buildRecords({
      network: name,
      services: cluster?.services ?? [],
      containers: [
        ...[...(this.entries.get(networkId)?.values() ?? [])].map((e) => ({
          name: e.name,
          id: e.containerId,
          aliases: e.aliases,
          address: e.ip,
        })),
        ...(cluster?.containers ?? []),
      ],
    });
  }

  /**
   * The records of the other networks the container at `client` on `networkId` is on (its queries reach
   * the resolver of its first network only), in the order it joined them.
   */
  private othersFor(networkId: string, client: string): Records[] {
    const ip = client.replace(/^::ffff:/, '');
    const on = this.entries.get(networkId);
    if (!on) return [];
    let containerId: string | undefined;
    for (const e of on.values())
      if (e.ip === ip) {
        containerId = e.containerId;
        break;
      }
    if (!containerId) return [];
    const out: Records[] = [];
    for (const [id, m] of this.entries) {
      if (id === networkId || !m.has(containerId)) continue;
      let r = this.built.get(id);
      if (!r) {
        r = this.recordsOf(id, this.names.get(id) ?? id);
        this.built.set(id, r);
      }
      out.push(r);
    }
    return out;
  }

  private publish(networkId: string): void {
    this.built.delete(networkId);
    void this.networks
      .get(networkId)
      ?.then((r) => r.server.setRecords(this.recordsOf(networkId, r.name)))
      .catch(() => {});
  }
}
