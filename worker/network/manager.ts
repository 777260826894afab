// NetworkManager: the node's local dataplane. It owns the local networks (the predefined bridge, host
// and none, and user-defined bridges), each container's sandbox (a netns file, a veth per network, an
// address from the network's IPAM, a default route), published ports and shoal's nftables table.
// The engine reaches it through the ContainerNetworking port; the daemon's /networks routes through
// the methods below.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isShoalError, ShoalError } from '../../common/errors.js';
import { parseHostPort, parsePortKey } from '../../common/ports.js';
import {
  type ContainerNetworking,
  kernelNet,
  type NetContainer,
  type NetOp,
  type NetPrepared,
  type SmallFile,
  spreadSubdirs,
  writeSmallFiles,
} from '../engine/index.js';
import { type OverlayAttacher, OwedDetaches } from './attachments.js';
import { renderHostname, renderHosts, renderResolv } from './files.js';
import {
  checkHost,
  contains,
  ipString,
  lowestFree,
  macFor,
  overlaps,
  parseAddressCidr,
  parseIp,
  parseSubnet,
  type Subnet,
  subnetString,
} from './ipam.js';
import { type ChainProvider, installRuleset, type PortRule, removeTable, renderRuleset } from './nft.js';
import { type OverlaySpec, overlayDevices, peerOps, vipOps } from './overlay.js';
import { PortReservations } from './ports.js';
import type { EmbeddedResolver } from './resolver.js';
import type { ContainerNetRecord, EndpointRecord, NetworkRecord } from './types.js';

export interface NetworkManagerOptions {
  dataRoot: string;
  execRoot: string;
  /** The default bridge's device name, or null for none (`--bridge none`: no default bridge). */
  bridgeName: string | null;
  /** `--bip`: the default bridge's address with its prefix (e.g. 172.17.0.1/16). */
  bip: string;
  /** `--ip-masq` */
  ipMasq: boolean;
  /** The UDP port of swarm overlays' VXLAN devices (default 4789, docker's data path port). */
  vxlanPort?: number;
  now?: () => Date;
  resolver?: EmbeddedResolver;
  /** The host's resolv.conf and hosts (injected for tests). */
  hostResolvPath?: string;
  hostHostsPath?: string;
  log?: (msg: string) => void;
}

export interface CreateNetworkRequest {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  attachable?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

export interface NetworkContainerView {
  name: string;
  endpointId: string;
  mac: string;
  ipv4: string;
}

export interface NetworkView extends NetworkRecord {
  containers: Record<string, NetworkContainerView>;
}

export interface EndpointView {
  networkId: string;
  networkName: string;
  endpointId: string;
  aliases: string[];
  requestedIp?: string;
  ip: string;
  prefix: number;
  gateway: string;
  mac: string;
}

export interface ContainerNetView {
  sandboxKey: string;
  files: { hosts: string; hostname: string; resolv: string };
  endpoints: EndpointView[];
  ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Network modes that name no network: another container's or a namespace's. */
const SPECIAL_MODE = /^(container:|netns:|\/)/;
/** What the executor labels a swarm task's container with (docker's). */
const SWARM_TASK_LABEL = 'com.docker.swarm.task.id';
/** How long a container waits for a swarm overlay it was attached to to be made on this node. */
const OVERLAY_WAIT_MS = 10_000;

/** A container's attachment on a swarm overlay, as the managers gave it. */
interface Attached {
  networkId: string;
  ip: string;
  attachmentId: string;
}

const bad = (field: string, msg: string) => new ShoalError('invalid_argument', msg, { field });
const hex = (n: number) => randomBytes(n).toString('hex');

export class NetworkManager implements ContainerNetworking {
  private readonly o: NetworkManagerOptions;
  private readonly now: () => Date;
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly containers = new Map<string, ContainerNetRecord>();
  private readonly ports = new PortReservations();
  private readonly providers: ChainProvider[] = [];
  private readonly netDir: string;
  private readonly ctrDir: string;
  private readonly nsDir: string;
  private readonly filesDir: string;
  private rules: Promise<void> = Promise.resolve();
  /** Whether shoal's nftables table is ours to remove (installed by this daemon). */
  private tableInstalled = false;
  private forwardOn = false;
  /** Swarm overlays being made (a plan applied just before its task's container is prepared). */
  private overlaysMade: Promise<unknown> = Promise.resolve();
  private readonly releaseListeners: (() => void)[] = [];
  /** Prepares waiting for the node's own address on an overlay (its resolver listens there). */
  private localWaiters: (() => void)[] = [];
  /** The managers' attachments for plain containers on swarm overlays (set while the node is in a swarm). */
  private attacher: OverlayAttacher | undefined;
  private readonly detaches: OwedDetaches;

  private constructor(o: NetworkManagerOptions) {
    this.o = o;
    this.now = o.now ?? (() => new Date());
    this.netDir = join(o.dataRoot, 'network', 'networks');
    this.ctrDir = join(o.dataRoot, 'network', 'containers');
    this.nsDir = join(o.execRoot, 'netns');
    this.filesDir = join(o.dataRoot, 'network', 'files');
    this.detaches = new OwedDetaches(
      () => this.attacher,
      (m) => this.o.log?.(m),
    );
  }

  /** The node joined (an attacher) or left (undefined) a swarm. */
  setAttacher(attacher: OverlayAttacher | undefined): void {
    this.attacher = attacher;
    if (attacher && this.detaches.size > 0) void this.detaches.flush();
  }

  /** Loads networks and container records, (re)creates the bridges and the predefined networks. */
  static async open(o: NetworkManagerOptions): Promise<NetworkManager> {
    const m = new NetworkManager(o);
    for (const d of [m.netDir, m.ctrDir, m.nsDir, m.filesDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    await spreadSubdirs(m.filesDir); // a container's files dir comes and goes with it
    for (const f of readdirSync(m.netDir))
      if (f.endsWith('.json')) {
        const n = JSON.parse(readFileSync(join(m.netDir, f), 'utf8')) as NetworkRecord;
        m.networks.set(n.id, n);
      }
    for (const f of readdirSync(m.ctrDir))
      if (f.endsWith('.json')) {
        const c = JSON.parse(readFileSync(join(m.ctrDir, f), 'utf8')) as ContainerNetRecord;
        m.containers.set(c.id, c);
      }
    await m.predefine();
    for (const n of m.networks.values()) if (n.driver === 'bridge') await m.ensureBridge(n);
    // A swarm overlay's devices are made again empty; the next plan from a manager programs them.
    for (const n of m.networks.values())
      if (n.driver === 'overlay') {
        Object.assign(n, { local: undefined, vips: [], peers: [] });
        await m
          .overlayDevicesUp(n)
          .catch((e) => m.o.log?.(`network: overlay ${n.name}: ${(e as Error).message}`));
      }
    return m;
  }

  // ------------------------------------------------------------------ networks

  private async predefine(): Promise<void> {
    const byName = (name: string) => [...this.networks.values()].find((n) => n.name === name);
    const base = (name: string, driver: NetworkRecord['driver']): NetworkRecord => ({
      id: byName(name)?.id ?? hex(32),
      name,
      driver,
      created: byName(name)?.created ?? this.now().toISOString(),
      internal: false,
      attachable: false,
      labels: {},
      options: {},
      predefined: true,
    });
    const defs: NetworkRecord[] = [base('host', 'host'), base('none', 'null')];
    const old = byName('bridge');
    if (this.o.bridgeName) {
      const { ip, subnet } = parseAddressCidr(this.o.bip, 'bip');
      if (old?.bridge && old.bridge !== this.o.bridgeName) await kernelNet.deleteLink(old.bridge);
      defs.push({
        ...base('bridge', 'bridge'),
        subnet: subnetString(subnet),
        gateway: ipString(ip),
        bridge: this.o.bridgeName,
        options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
          'com.docker.network.bridge.enable_ip_masquerade': String(this.o.ipMasq),
          'com.docker.network.bridge.name': this.o.bridgeName,
        },
      });
    } else if (old) {
      if (old.bridge) await kernelNet.deleteLink(old.bridge);
      this.networks.delete(old.id);
      await rm(join(this.netDir, `${old.id}.json`), { force: true });
    }
    for (const d of defs) {
      this.networks.set(d.id, d);
      await this.saveNetwork(d);
    }
  }

  private async saveNetwork(n: NetworkRecord): Promise<void> {
    const tmp = join(this.netDir, `.${n.id}.tmp`);
    await writeFile(tmp, JSON.stringify(n));
    await rename(tmp, join(this.netDir, `${n.id}.json`));
  }

  /** The bridge device with the gateway address, up; route_localnet for localhost → published ports. */
  private async ensureBridge(n: NetworkRecord): Promise<void> {
    if (!n.bridge || !n.subnet || !n.gateway) return;
    const prefix = parseSubnet(n.subnet).prefix;
    const link = await kernelNet.link(n.bridge);
    if (link && link.kind !== 'bridge')
      throw new ShoalError(
        'conflict',
        `a ${link.kind || 'non-bridge'} link named ${n.bridge} already exists`,
      );
    const ops: NetOp[] = [];
    if (!link) ops.push({ op: 'bridge-add', name: n.bridge, up: true });
    await kernelNet.apply(ops);
    await kernelNet.apply([{ op: 'addr-add', name: n.bridge, ip: n.gateway, prefix }]).catch((e) => {
      if ((e as { errnoCode?: string }).errnoCode !== 'EEXIST') throw e;
    });
    if (link && !link.up) await kernelNet.apply([{ op: 'link-set', name: n.bridge, up: true }]);
    await writeFile(`/proc/sys/net/ipv4/conf/${n.bridge}/route_localnet`, '1').catch(() => {});
    if (!n.internal) await this.enableForwarding();
  }

  /** ip_forward in the daemon's namespace, once a network needs routing (a non-internal bridge). */
  private async enableForwarding(): Promise<void> {
    if (this.forwardOn) return;
    const path = '/proc/sys/net/ipv4/ip_forward';
    const cur = await readFile(path, 'utf8').catch(() => '0');
    if (cur.trim() !== '1') await writeFile(path, '1');
    this.forwardOn = true;
  }

  /** By full id, exact name, or unique id prefix (docker's order). */
  find(ref: string): NetworkRecord {
    const byId = this.networks.get(ref);
    if (byId) return byId;
    const byName = [...this.networks.values()].find((n) => n.name === ref);
    if (byName) return byName;
    const hits = [...this.networks.values()].filter((n) => ref.length > 0 && n.id.startsWith(ref));
    if (hits.length === 1) return hits[0];
    if (hits.length > 1)
      throw bad('network', `network ${ref} is ambiguous (${hits.length} matches found based on ID prefix)`);
    throw new ShoalError('not_found', `network ${ref} not found`);
  }

  /** A local network of this name or id (a swarm overlay held here is the cluster's to answer for). */
  has(ref: string): boolean {
    try {
      return this.find(ref).driver !== 'overlay';
    } catch {
      return false;
    }
  }

  /** The node's local networks (swarm overlays are listed by the cluster, not here). */
  list(): NetworkView[] {
    return [...this.networks.values()].filter((n) => n.driver !== 'overlay').map((n) => this.view(n));
  }

  inspect(ref: string): NetworkView {
    return this.view(this.find(ref));
  }

  private view(n: NetworkRecord): NetworkView {
    const containers: Record<string, NetworkContainerView> = {};
    const prefix = n.subnet ? parseSubnet(n.subnet).prefix : 0;
    for (const c of this.containers.values()) {
      if (n.driver === 'host' && c.mode === 'host' && c.connected)
        containers[c.id] = { name: c.name, endpointId: '', mac: '', ipv4: '' };
      for (const e of c.endpoints)
        if (e.networkId === n.id && e.ip)
          containers[c.id] = {
            name: c.name,
            endpointId: e.endpointId,
            mac: e.mac ?? '',
            ipv4: `${e.ip}/${prefix}`,
          };
    }
    return { ...structuredClone(n), containers };
  }

  /** `network create`: checks everything first, then makes the bridge; nothing is left on failure. */
  async create(req: CreateNetworkRequest): Promise<NetworkRecord> {
    const driver = req.driver || 'bridge';
    if (!req.name) throw bad('Name', 'invalid Name: a network needs a name');
    if (!NAME_RE.test(req.name))
      throw bad('Name', `invalid network name "${req.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (driver !== 'bridge')
      throw bad(
        'Driver',
        `invalid Driver: "${driver}": this node makes only bridge networks here (overlay networks are made by the swarm)`,
      );
    if ([...this.networks.values()].some((n) => n.name === req.name))
      throw new ShoalError('conflict', `network with name ${req.name} already exists`);
    const taken = [...this.networks.values()]
      .filter((n) => n.subnet)
      .map((n) => ({ n, s: parseSubnet(n.subnet!) }));
    let subnet: Subnet;
    if (req.subnet) {
      subnet = parseSubnet(req.subnet, 'subnet');
      const clash = taken.find((t) => overlaps(t.s, subnet));
      if (clash)
        throw new ShoalError(
          'conflict',
          `invalid pool request: Pool overlaps with other one on this address space (subnet ${subnetString(subnet)} overlaps network ${clash.n.name}'s ${clash.n.subnet})`,
          { field: 'subnet' },
        );
    } else {
      if (req.gateway) throw bad('gateway', 'invalid gateway: a gateway needs a --subnet');
      const free = this.pickSubnet(taken.map((t) => t.s));
      if (!free)
        throw new ShoalError(
          'failed_precondition',
          'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
        );
      subnet = free;
    }
    let gateway = subnet.base + 1;
    if (req.gateway) {
      gateway = parseIp(req.gateway, 'gateway');
      checkHost(subnet, gateway, 'gateway');
    }
    const id = hex(32);
    const n: NetworkRecord = {
      id,
      name: req.name,
      driver: 'bridge',
      created: this.now().toISOString(),
      internal: req.internal ?? false,
      attachable: req.attachable ?? false,
      labels: { ...(req.labels ?? {}) },
      options: { ...(req.options ?? {}) },
      subnet: subnetString(subnet),
      gateway: ipString(gateway),
      bridge: req.options?.['com.docker.network.bridge.name'] || `shbr-${id.slice(0, 10)}`,
      predefined: false,
    };
    if (n.bridge!.length > 15)
      throw bad('options', `invalid bridge name "${n.bridge}": at most 15 characters`);
    if (await kernelNet.link(n.bridge!))
      throw new ShoalError('conflict', `a link named ${n.bridge} already exists`, { field: 'options' });
    try {
      await this.ensureBridge(n);
      await this.saveNetwork(n);
    } catch (e) {
      await kernelNet.deleteLink(n.bridge!).catch(() => {});
      await rm(join(this.netDir, `${n.id}.json`), { force: true });
      throw e;
    }
    this.networks.set(id, n);
    await this.syncRules();
    return n;
  }

  /** docker's default pools: 172.18-31.0.0/16, then 192.168.x.0/20. */
  private pickSubnet(taken: Subnet[]): Subnet | undefined {
    const cands: Subnet[] = [];
    for (let b = 18; b <= 31; b++) cands.push({ base: parseIp(`172.${b}.0.0`, 'subnet'), prefix: 16 });
    for (let x = 0; x < 256; x += 16) cands.push({ base: parseIp(`192.168.${x}.0`, 'subnet'), prefix: 20 });
    return cands.find((c) => !taken.some((t) => overlaps(t, c)));
  }

  /** `network rm`: refused while a container uses it (docker's message names them). */
  async remove(ref: string): Promise<void> {
    const n = this.find(ref);
    if (n.predefined)
      throw new ShoalError('permission_denied', `${n.name} is a pre-defined network and cannot be removed`);
    if (n.driver === 'overlay')
      throw new ShoalError('failed_precondition', `${n.name} is a swarm network: remove it on a manager`);
    const users = [...this.containers.values()].filter((c) => c.endpoints.some((e) => e.networkId === n.id));
    if (users.length)
      throw new ShoalError(
        'failed_precondition',
        `error while removing network: network ${n.name} id ${n.id} has active endpoints (${users.map((c) => c.name).join(', ')})`,
      );
    this.networks.delete(n.id);
    if (n.bridge) await kernelNet.deleteLink(n.bridge);
    await rm(join(this.netDir, `${n.id}.json`), { force: true });
    await this.o.resolver?.networkRemoved(n.id).catch(() => {});
    await this.syncRules();
  }

  // ------------------------------------------------------------------ swarm overlays (the dispatcher's plans)

  /** The overlays this node holds (ids). */
  overlayIds(): string[] {
    return [...this.networks.values()].filter((n) => n.driver === 'overlay').map((n) => n.id);
  }

  /**
   * Makes or updates a swarm overlay: its bridge and VXLAN device (learning off, ARP proxied from the
   * neighbour table), the node's own address and the VIPs on the bridge, and the forwarding entries of
   * the endpoints on other nodes. Only the differences to what is programmed are applied.
   */
  async ensureOverlay(spec: OverlaySpec): Promise<void> {
    let n = this.networks.get(spec.id);
    if (n && n.driver !== 'overlay')
      throw new ShoalError('conflict', `network ${spec.id} exists here as a ${n.driver} network`);
    const fresh = !n;
    if (!n) {
      const dev = overlayDevices(spec.id);
      n = {
        id: spec.id,
        name: spec.name,
        driver: 'overlay',
        created: this.now().toISOString(),
        internal: spec.internal,
        attachable: spec.attachable,
        labels: {},
        options: spec.ingress ? { ingress: 'true' } : {},
        subnet: spec.subnet,
        gateway: spec.gateway,
        bridge: dev.bridge,
        vxlan: dev.vxlan,
        vni: spec.vni,
        vips: [],
        peers: [],
        predefined: false,
      };
      try {
        await this.overlayDevicesUp(n);
      } catch (e) {
        await kernelNet.deleteLink(n.vxlan!).catch(() => {});
        await kernelNet.deleteLink(n.bridge!).catch(() => {});
        throw e;
      }
      this.networks.set(n.id, n);
    }
    const ops: NetOp[] = [];
    if (spec.local !== n.local) {
      if (n.local) {
        const old = parseAddressCidr(n.local, 'local');
        ops.push({ op: 'addr-del', name: n.bridge!, ip: ipString(old.ip), prefix: old.subnet.prefix });
      }
      if (spec.local) {
        const now = parseAddressCidr(spec.local, 'local');
        // The bridge's MAC follows its address, so other nodes can program it without asking.
        ops.push(
          { op: 'link-set', name: n.bridge!, mac: macFor(now.ip) },
          { op: 'addr-add', name: n.bridge!, ip: ipString(now.ip), prefix: now.subnet.prefix },
        );
      }
    }
    ops.push(...vipOps(n.bridge!, n.vips ?? [], spec.vips));
    ops.push(...peerOps(n.vxlan!, n.peers ?? [], spec.peers));
    await kernelNet.apply(ops);
    n.local = spec.local;
    if (n.local) for (const wake of this.localWaiters.splice(0)) wake();
    n.vips = [...spec.vips];
    n.peers = spec.peers.map((p) => ({ ...p }));
    await this.saveNetwork(n);
    if (fresh) await this.syncRules();
  }

  /** The bridge and the VXLAN device of an overlay, up (made when missing). */
  private async overlayDevicesUp(n: NetworkRecord): Promise<void> {
    const ops: NetOp[] = [];
    if (!(await kernelNet.link(n.bridge!))) ops.push({ op: 'bridge-add', name: n.bridge!, up: true });
    if (!(await kernelNet.link(n.vxlan!)))
      ops.push({
        op: 'vxlan-add',
        name: n.vxlan!,
        vni: n.vni!,
        port: this.o.vxlanPort ?? 4789,
        learning: false,
        proxy: true,
        master: n.bridge!,
        // 50 bytes of VXLAN headers under a 1500-byte underlay.
        mtu: 1450,
        up: true,
      });
    await kernelNet.apply(ops);
    await this.enableForwarding();
  }

  /**
   * Removes an overlay the node no longer takes part in: false (nothing done) while a container still has
   * an endpoint on it (the caller tries again once it is gone).
   */
  async dropOverlay(id: string): Promise<boolean> {
    const n = this.networks.get(id);
    if (n?.driver !== 'overlay') return true;
    if ([...this.containers.values()].some((c) => c.endpoints.some((e) => e.networkId === id))) return false;
    this.networks.delete(id);
    // The resolver first (its sockets close while their address exists), bounded: a stuck listener must
    // not hold up the node's other networks, which the caller handles after this one.
    const stopped = this.o.resolver?.networkRemoved(n.id).catch(() => {});
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 2000).unref())]);
    await kernelNet.deleteLink(n.vxlan!);
    await kernelNet.deleteLink(n.bridge!);
    await rm(join(this.netDir, `${n.id}.json`), { force: true });
    await this.syncRules();
    return true;
  }

  /** `network prune`: user networks no container uses; returns their names. */
  async prune(keep: (n: NetworkRecord) => boolean = () => false): Promise<string[]> {
    const gone: string[] = [];
    for (const n of [...this.networks.values()]) {
      if (n.predefined || n.driver === 'overlay' || keep(n)) continue;
      if ([...this.containers.values()].some((c) => c.endpoints.some((e) => e.networkId === n.id))) continue;
      await this.remove(n.id);
      gone.push(n.name);
    }
    return gone;
  }

  // ------------------------------------------------------------------ containers (the engine's port)

  /** Prepares wait for `p` (the overlays of a plan being applied) before looking their network up. */
  holdPrepares(p: Promise<unknown>): void {
    const prev = this.overlaysMade;
    this.overlaysMade = Promise.allSettled([prev, p]);
  }

  /** Called after a container's networking is released (an overlay it held may now go). */
  onRelease(listener: () => void): void {
    this.releaseListeners.push(listener);
  }

  async prepare(c: NetContainer): Promise<NetPrepared> {
    await this.overlaysMade;
    const given = c.opts.networkMode;
    // A plain container joining a swarm overlay gets its address from the managers first.
    let attached: Attached | undefined;
    if (given && given !== 'default' && !SPECIAL_MODE.test(given) && this.wantsAttachment(given, c))
      attached = await this.attachOverlay(given, c, c.opts.endpoints?.[given]);
    try {
      return await this.prepareOn(c, attached);
    } catch (e) {
      if (attached) await this.detaches.detach(attached.attachmentId);
      throw e;
    }
  }

  /** Whether `ref` is a swarm overlay this node must ask the managers an address on (not a swarm task's). */
  private wantsAttachment(ref: string, c: NetContainer): boolean {
    // A swarm task comes with the allocator's address on each of its networks.
    if (c.opts.labels?.[SWARM_TASK_LABEL]) return false;
    const n = this.lookup(ref);
    return n ? n.driver === 'overlay' : this.attacher?.inSwarm === true;
  }

  private lookup(ref: string): NetworkRecord | undefined {
    try {
      return this.find(ref);
    } catch (e) {
      if (isShoalError(e, 'not_found')) return undefined;
      throw e;
    }
  }

  /**
   * Asks the managers for the container's address on a swarm overlay and waits (bounded) until the
   * overlay is made on this node with the node's own address on it (the resolver listens there).
   */
  private async attachOverlay(
    ref: string,
    c: { id: string; name: string },
    conf: { aliases?: string[]; ipv4Address?: string } | undefined,
  ): Promise<Attached> {
    const attacher = this.attacher;
    if (!attacher?.inSwarm) {
      if (this.lookup(ref))
        throw new ShoalError(
          'failed_precondition',
          `network ${ref} is a swarm overlay and this node is no longer in the swarm`,
          { field: 'NetworkMode' },
        );
      throw new ShoalError('not_found', `network ${ref} not found`);
    }
    if (conf?.ipv4Address)
      throw bad(
        'ip',
        'a user specified IP address on a swarm overlay is not supported: the managers choose it',
      );
    const a = await attacher.attach({
      network: ref,
      containerId: c.id,
      containerName: c.name,
      aliases: conf?.aliases ?? [],
    });
    try {
      await this.overlayReady(a.networkId);
    } catch (e) {
      await this.detaches.detach(a.attachmentId);
      throw e;
    }
    return { networkId: a.networkId, ip: a.address.split('/')[0] ?? '', attachmentId: a.attachmentId };
  }

  /** Waits for the dispatcher's plan of an overlay to be applied here with this node's address on it. */
  private async overlayReady(id: string): Promise<void> {
    for (let waited = 0; waited < OVERLAY_WAIT_MS; waited += 500) {
      await this.overlaysMade;
      if (this.networks.get(id)?.local) return;
      await this.localChanged(500);
    }
    throw new ShoalError(
      'unavailable',
      `the swarm network ${id} did not reach this node within ${OVERLAY_WAIT_MS / 1000} s`,
    );
  }

  /** Resolves when an overlay gets this node's address, or after `ms` (the caller looks again). */
  private localChanged(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.localWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private async prepareOn(c: NetContainer, attached: Attached | undefined): Promise<NetPrepared> {
    const opts = c.opts;
    const given = opts.networkMode;
    let mode: ContainerNetRecord['mode'];
    let primary: NetworkRecord | undefined;
    if (!given || given === 'default' || given === 'bridge') {
      primary = [...this.networks.values()].find((n) => n.name === 'bridge');
      mode = primary ? 'bridge' : 'none';
    } else if (SPECIAL_MODE.test(given)) {
      mode = 'other';
    } else {
      const n = attached ? this.networks.get(attached.networkId)! : this.find(given);
      if (n.driver === 'host') mode = 'host';
      else if (n.driver === 'null') mode = 'none';
      else {
        mode = 'bridge';
        primary = n;
      }
    }
    // The managers give the node its address on an overlay just after placing its first task there; the
    // task's resolv.conf names the resolver on that address, so wait for it (bounded: else the host's).
    for (let waited = 0; primary?.driver === 'overlay' && !primary.local && waited < 20; waited++)
      await this.localChanged(500);
    const all = Object.entries(opts.endpoints ?? {});
    // A swarm task may be on several overlays (docker's rule for them); other containers have one network.
    const extraOverlays =
      primary?.driver === 'overlay' && !attached
        ? all.filter(([k]) => this.find(k).id !== primary!.id && this.find(k).driver === 'overlay')
        : [];
    const eps = all.filter((x) => !extraOverlays.includes(x));
    if (eps.length > 1)
      throw bad(
        'NetworkingConfig',
        `Container cannot be connected to network endpoints: ${eps.map(([k]) => k).join(', ')}`,
      );
    const epNet = eps[0]?.[0] === 'default' ? 'bridge' : eps[0]?.[0];
    if (epNet !== undefined && primary && this.find(epNet).id !== primary.id)
      throw bad(
        'NetworkingConfig',
        `the endpoint's network ${eps[0][0]} is not the container's network ${given}`,
      );
    // On an attached overlay the address is the managers' (an attachment), like a swarm task's.
    const epConf = attached ? { ...eps[0]?.[1], ipv4Address: attached.ip } : eps[0]?.[1];
    if (primary?.driver === 'overlay' && !epConf?.ipv4Address)
      throw new ShoalError(
        'failed_precondition',
        `network ${primary.name} is a swarm overlay and has no address for this container`,
        { field: 'NetworkMode' },
      );
    const userDefined = primary && !primary.predefined;
    if (epConf?.aliases?.length && !userDefined)
      throw bad('aliases', 'network-scoped alias is supported only for containers in user defined networks');
    if (epConf?.ipv4Address) {
      if (!userDefined)
        throw bad('ip', 'user specified IP address is supported on user defined networks only');
      const ip = parseIp(epConf.ipv4Address, 'ip');
      checkHost(parseSubnet(primary!.subnet!), ip, 'ip');
      if (ipString(ip) === primary!.gateway)
        throw bad('ip', `invalid ip: ${epConf.ipv4Address} is the network's gateway`);
    }
    const portBindings = normalisePorts(opts.portBindings ?? {});
    const exposed = [...new Set([...c.imageExposed, ...(opts.exposedPorts ?? [])])];
    for (const k of exposed) parsePortKey(k);
    for (const d of opts.dns ?? []) parseIp(d, 'dns');
    for (const h of opts.extraHosts ?? []) parseExtraHost(h);
    // Under the network's own directory: the container's is made later in create, by the engine.
    const fdir = join(this.filesDir, c.id);
    const files = {
      hosts: join(fdir, 'hosts'),
      hostname: join(fdir, 'hostname'),
      resolv: join(fdir, 'resolv.conf'),
    };
    const rec: ContainerNetRecord = {
      id: c.id,
      name: c.name,
      hostname: c.hostname,
      domainname: c.domainname,
      mode,
      endpoints: [],
      portBindings: mode === 'bridge' ? portBindings : {},
      publishAll: mode === 'bridge' && (opts.publishAllPorts ?? false),
      exposed,
      mapped: [],
      dns: opts.dns ?? [],
      dnsSearch: opts.dnsSearch ?? [],
      dnsOptions: opts.dnsOptions ?? [],
      extraHosts: opts.extraHosts ?? [],
      files,
      connected: false,
    };
    if (primary)
      rec.endpoints.push({
        ...this.newEndpoint(rec, primary, epConf?.aliases ?? [], epConf?.ipv4Address),
        ...(attached ? { attachmentId: attached.attachmentId } : {}),
      });
    for (const [ref, conf] of extraOverlays)
      rec.endpoints.push(this.newEndpoint(rec, this.find(ref), conf.aliases ?? [], conf.ipv4Address));
    // On overlays the way out is the default bridge (docker's docker_gwbridge), unless all are internal.
    const gw = [...this.networks.values()].find((n) => n.name === 'bridge');
    if (
      primary?.driver === 'overlay' &&
      gw &&
      rec.endpoints.some((e) => !this.networks.get(e.networkId)?.internal)
    )
      rec.endpoints.push(this.newEndpoint(rec, gw, [], undefined));
    if (mode === 'bridge') rec.netns = join(this.nsDir, c.id);
    // The namespace (the kernel's part, ~1 ms) and the files with the record (one thread-pool round
    // trip) are made at once: a start is waited on by its user. A record whose namespace is missing (a
    // crash between the two) is mended by connect, which makes the namespace when its file is not there.
    this.containers.set(rec.id, rec);
    const [ns, written] = await Promise.allSettled([
      rec.netns ? kernelNet.createNetns(rec.netns) : Promise.resolve(),
      this.filesOf(rec).then((files) => writeSmallFiles([...files, this.recordFile(rec)], fdir)),
    ]);
    const failed = [ns, written].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      this.containers.delete(rec.id);
      if (rec.netns && ns.status === 'fulfilled') await kernelNet.deleteNetns(rec.netns);
      await rm(fdir, { recursive: true, force: true });
      for (const f of [`${rec.id}.json`, `.${rec.id}.json.tmp`])
        await rm(join(this.ctrDir, f), { force: true });
      throw failed.reason;
    }
    if (mode === 'other') return { files: {} };
    return {
      ...(rec.netns ? { netnsPath: rec.netns } : {}),
      host: mode === 'host',
      files: { '/etc/hosts': files.hosts, '/etc/hostname': files.hostname, '/etc/resolv.conf': files.resolv },
    };
  }

  private newEndpoint(
    rec: ContainerNetRecord,
    n: NetworkRecord,
    aliases: string[],
    ip?: string,
  ): EndpointRecord {
    const used = new Set(rec.endpoints.map((e) => e.ifname));
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    return {
      networkId: n.id,
      endpointId: hex(32),
      aliases,
      ...(ip ? { requestedIp: ip } : {}),
      ifname: `eth${i}`,
      veth: `shv${rec.id.slice(0, 8)}${i.toString(36)}`,
    };
  }

  private save(rec: ContainerNetRecord): Promise<void> {
    return writeSmallFiles([this.recordFile(rec)]);
  }

  /** The container's record as a file, replaced atomically. */
  private recordFile(rec: ContainerNetRecord): SmallFile {
    return { path: join(this.ctrDir, `${rec.id}.json`), data: JSON.stringify(rec), atomic: true };
  }

  private hostGateway(): string {
    const b = [...this.networks.values()].find((n) => n.name === 'bridge');
    return b?.gateway ?? '127.0.0.1';
  }

  /** Writes the container's files (or only /etc/hosts) and its record in one round trip. */
  private async writeFiles(rec: ContainerNetRecord, hostsOnly = false): Promise<void> {
    await writeSmallFiles([...(await this.filesOf(rec, hostsOnly)), this.recordFile(rec)]);
  }

  /**
   * /etc/hosts, /etc/hostname and /etc/resolv.conf as docker writes them (or only hosts). The host's
   * resolv.conf and hosts are read synchronously: a few hundred bytes of a hot file, where the four
   * thread-pool round trips of an async read cost more than the read on a start's critical path.
   */
  private async filesOf(rec: ContainerNetRecord, hostsOnly = false): Promise<SmallFile[]> {
    if (rec.mode === 'other') return [];
    const host = rec.mode === 'host';
    const readHost = (path: string) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return '';
      }
    };
    const hostFile = host ? readHost(this.o.hostHostsPath ?? '/etc/hosts') : undefined;
    const extraHosts = rec.extraHosts.map((h) => {
      const { name, ip } = parseExtraHost(h);
      return { name, ip: ip === 'host-gateway' ? this.hostGateway() : ip };
    });
    const addresses = rec.endpoints.filter((e) => e.ip).map((e) => e.ip!);
    const { hostname, domainname } = rec;
    const hosts = {
      path: rec.files.hosts,
      data: renderHosts({ hostname, domainname, addresses, extraHosts, hostFile }),
    };
    if (hostsOnly) return [hosts];
    const hostResolv = readHost(this.o.hostResolvPath ?? '/etc/resolv.conf');
    // The embedded resolver's hook: a user network's containers ask it, when one is plugged in.
    let resolver: string | undefined;
    const primary = rec.endpoints[0] && this.networks.get(rec.endpoints[0].networkId);
    // On an overlay it listens on the node's own address there (the gateway address is on no node).
    const listen = primary?.driver === 'overlay' ? primary.local?.split('/')[0] : primary?.gateway;
    if (primary && !primary.predefined && this.o.resolver && listen && primary.bridge)
      resolver = await this.o.resolver.addressFor({
        id: primary.id,
        name: primary.name,
        gateway: listen,
        bridge: primary.bridge,
      });
    const { dns, dnsSearch, dnsOptions } = rec;
    return [
      hosts,
      {
        path: rec.files.resolv,
        data: renderResolv({ hostResolv, dns, dnsSearch, dnsOptions, resolver, hostNetwork: host }),
      },
      { path: rec.files.hostname, data: renderHostname(rec.hostname) },
    ];
  }

  private usedIps(n: NetworkRecord): Set<number> {
    const used = new Set<number>([parseIp(n.gateway!, 'gateway')]);
    for (const c of this.containers.values())
      for (const e of c.endpoints) if (e.networkId === n.id && e.ip) used.add(parseIp(e.ip, 'ip'));
    return used;
  }

  /** Before a start: the endpoints' veths and addresses, then the published ports. */
  async connect(id: string): Promise<void> {
    const rec = this.containers.get(id);
    if (!rec) return; // made before networking existed: it keeps what it had
    if (rec.mode === 'host') {
      rec.connected = true;
      await this.save(rec);
      return;
    }
    if (rec.mode !== 'bridge' || rec.connected) return;
    if (rec.netns && !existsSync(rec.netns)) await kernelNet.createNetns(rec.netns); // after a reboot
    // Addresses are chosen first (in memory); then the kernel's part (every endpoint's veth, address and
    // route in one netlink batch) runs while the ports are held and /etc/hosts and the record written.
    let ops: NetOp[];
    try {
      const gw = this.gatewayEndpoint(rec);
      ops = rec.endpoints.flatMap((e) => this.address(rec, e, e === gw));
    } catch (e) {
      await this.unplugAll(rec);
      throw e;
    }
    const who = { name: rec.name, endpoint: rec.endpoints[0]?.endpointId ?? id };
    const steps = await Promise.allSettled([
      kernelNet.apply(ops),
      this.ports.reserve(id, this.bindingsOf(rec), who).then((mapped) => {
        rec.mapped = mapped;
        rec.connected = true;
        // Only /etc/hosts changes at a start (the address); it and the record are written together.
        return this.writeFiles(rec, true);
      }),
    ]);
    const failed = steps.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.unplugAll(rec);
      await this.save(rec).catch(() => {});
      throw failed.reason;
    }
    for (const e of rec.endpoints) this.registerName(rec, e);
    if (rec.mapped.length)
      await this.syncRules().catch(async (e) => {
        await this.unplugAll(rec);
        throw e;
      });
  }

  /** The endpoint with the default route (and published ports): the first on a bridge network. */
  private gatewayEndpoint(rec: ContainerNetRecord): EndpointRecord | undefined {
    return rec.endpoints.find((e) => this.networks.get(e.networkId)?.driver === 'bridge');
  }

  private bindingsOf(rec: ContainerNetRecord): Record<string, { HostIp: string; HostPort: string }[]> {
    const gw = this.gatewayEndpoint(rec);
    const primary = gw && this.networks.get(gw.networkId);
    if (!primary || primary.internal) return {};
    const out = structuredClone(rec.portBindings);
    if (rec.publishAll) for (const k of rec.exposed) out[normaliseKey(k)] ??= [{ HostIp: '', HostPort: '' }];
    return out;
  }

  /** One endpoint of a running container (`network connect`): address, veth, route, its name. */
  private async plug(rec: ContainerNetRecord, e: EndpointRecord, defaultRoute: boolean): Promise<void> {
    const ops = this.address(rec, e, defaultRoute);
    try {
      await kernelNet.apply(ops);
    } catch (err) {
      await kernelNet.deleteLink(e.veth).catch(() => {});
      e.ip = undefined;
      e.mac = undefined;
      throw err;
    }
    this.registerName(rec, e);
  }

  /**
   * Chooses the endpoint's address (the requested one or the lowest free) and returns the netlink
   * requests that plug it: a veth on the network's bridge whose peer is made inside the sandbox as
   * ethN (up, with its MAC), the address, the default route via the gateway.
   */
  private address(rec: ContainerNetRecord, e: EndpointRecord, defaultRoute: boolean): NetOp[] {
    const n = this.networks.get(e.networkId);
    if (!n?.subnet || !n.bridge || !n.gateway)
      throw new ShoalError('not_found', `network ${e.networkId} not found`);
    const subnet = parseSubnet(n.subnet);
    const used = this.usedIps(n);
    let ip: number | undefined;
    if (e.requestedIp) {
      ip = parseIp(e.requestedIp, 'ip');
      if (used.has(ip))
        throw new ShoalError('conflict', `Address already in use: ${e.requestedIp} on network ${n.name}`, {
          field: 'ip',
        });
    } else ip = lowestFree(subnet, used);
    if (ip === undefined || !contains(subnet, ip))
      throw new ShoalError('failed_precondition', `no available IPv4 addresses on network ${n.name}`);
    e.ip = ipString(ip);
    e.mac = macFor(ip);
    const ns = rec.netns!;
    const ops: NetOp[] = [
      {
        op: 'veth-add',
        name: e.veth,
        peer: e.ifname,
        peerNetns: ns,
        peerMac: e.mac,
        master: n.bridge,
        up: true,
      },
      { op: 'link-set', name: e.veth, hairpin: true },
      { op: 'addr-add', netns: ns, name: e.ifname, ip: e.ip, prefix: subnet.prefix },
      { op: 'link-set', netns: ns, name: e.ifname, up: true },
    ];
    if (defaultRoute && !n.internal) ops.push({ op: 'route-add', netns: ns, prefix: 0, gateway: n.gateway });
    return ops;
  }

  /** A user network's endpoint is known to the embedded resolver by name and aliases. */
  private registerName(rec: ContainerNetRecord, e: EndpointRecord): void {
    const n = this.networks.get(e.networkId);
    if (e.ip && n && !n.predefined)
      this.o.resolver?.register(n.id, { containerId: rec.id, name: rec.name, aliases: e.aliases, ip: e.ip });
  }

  private async unplug(rec: ContainerNetRecord, e: EndpointRecord): Promise<void> {
    await kernelNet
      .deleteLink(e.veth)
      .catch((err) => this.o.log?.(`network: deleting ${e.veth}: ${(err as Error).message}`));
    if (e.ip) this.o.resolver?.unregister(e.networkId, rec.id);
    e.ip = undefined;
    e.mac = undefined;
  }

  private async unplugAll(rec: ContainerNetRecord): Promise<void> {
    for (const e of rec.endpoints) await this.unplug(rec, e);
    this.ports.release(rec.id);
    const hadPorts = rec.mapped.length > 0;
    rec.mapped = [];
    rec.connected = false;
    if (hadPorts) await this.syncRules();
  }

  /** After an exit: veths, addresses and ports go; the sandbox file stays until remove. */
  async disconnect(id: string): Promise<void> {
    const rec = this.containers.get(id);
    if (!rec) return;
    await this.unplugAll(rec);
    await this.save(rec).catch(() => {});
  }

  /** Remove: everything of the container, the sandbox namespace included. */
  async release(id: string): Promise<void> {
    const rec = this.containers.get(id);
    if (!rec) return;
    await this.unplugAll(rec);
    if (rec.netns) await kernelNet.deleteNetns(rec.netns);
    this.containers.delete(id);
    for (const e of rec.endpoints) if (e.attachmentId) await this.detaches.detach(e.attachmentId);
    await rm(join(this.ctrDir, `${id}.json`), { force: true });
    await rm(join(this.filesDir, id), { recursive: true, force: true });
    for (const l of this.releaseListeners) l();
  }

  /** Live restore: a running container keeps its addresses and ports; a dead one loses them. */
  async adopt(id: string, running: boolean): Promise<void> {
    const rec = this.containers.get(id);
    if (!rec) return;
    if (!running) return this.disconnect(id);
    if (!rec.connected) return;
    rec.mapped = await this.ports.readopt(id, rec.mapped);
    for (const e of rec.endpoints) this.registerName(rec, e);
  }

  /**
   * After the engine restored its containers: records of containers the engine no longer has are
   * released, links and namespace files nobody owns are removed, and the table is rebuilt.
   */
  async settle(engineHas: (id: string) => boolean): Promise<void> {
    for (const id of [...this.containers.keys()]) if (!engineHas(id)) await this.release(id);
    const owned = new Set([...this.containers.values()].flatMap((c) => c.endpoints.map((e) => e.veth)));
    for (const f of readdirSync(this.nsDir)) {
      const rec = this.containers.get(f);
      if (!rec?.netns) await kernelNet.deleteNetns(join(this.nsDir, f));
    }
    for (const c of this.containers.values())
      if (!c.connected)
        for (const e of c.endpoints) if (!owned.has(e.veth)) await kernelNet.deleteLink(e.veth);
    await this.syncRules();
  }

  // ------------------------------------------------------------------ connect / disconnect at run time

  /** `network connect`: a running container gets the new endpoint at once, a stopped one at its start. */
  async connectContainer(
    ref: string,
    id: string,
    conf: { aliases?: string[]; ipv4Address?: string },
  ): Promise<void> {
    const rec = this.containers.get(id);
    if (!rec)
      throw new ShoalError('not_found', `container ${id} has no network sandbox (made before networking)`);
    const local = this.lookup(ref);
    if (rec.mode === 'bridge' && ((!local && this.attacher?.inSwarm) || local?.driver === 'overlay'))
      return this.connectOverlay(ref, rec, local, conf);
    const n = this.find(ref);
    if (n.driver !== 'bridge' || rec.mode !== 'bridge')
      throw new ShoalError(
        'failed_precondition',
        `container cannot be disconnected from host network or connected to host network`,
      );
    if (rec.endpoints.some((e) => e.networkId === n.id))
      throw new ShoalError('conflict', `endpoint with name ${rec.name} already exists in network ${n.name}`);
    if (conf.aliases?.length && n.predefined)
      throw bad('aliases', 'network-scoped alias is supported only for containers in user defined networks');
    if (conf.ipv4Address) {
      if (n.predefined)
        throw bad('ip', 'user specified IP address is supported on user defined networks only');
      checkHost(parseSubnet(n.subnet!), parseIp(conf.ipv4Address, 'ip'), 'ip');
    }
    const e = this.newEndpoint(rec, n, conf.aliases ?? [], conf.ipv4Address);
    if (rec.connected) await this.plug(rec, e, rec.endpoints.length === 0);
    rec.endpoints.push(e);
    await this.writeFiles(rec);
  }

  /** `network connect OVERLAY`: an attachment from the managers, then the endpoint as on a bridge. */
  private async connectOverlay(
    ref: string,
    rec: ContainerNetRecord,
    local: NetworkRecord | undefined,
    conf: { aliases?: string[]; ipv4Address?: string },
  ): Promise<void> {
    const exists = (id: string) => rec.endpoints.some((e) => e.networkId === id);
    const already = () =>
      new ShoalError('conflict', `endpoint with name ${rec.name} already exists in network ${ref}`);
    if (local && exists(local.id)) throw already();
    const a = await this.attachOverlay(ref, rec, conf);
    try {
      if (exists(a.networkId)) throw already();
      const n = this.networks.get(a.networkId)!;
      const e = { ...this.newEndpoint(rec, n, conf.aliases ?? [], a.ip), attachmentId: a.attachmentId };
      if (rec.connected) await this.plug(rec, e, rec.endpoints.length === 0);
      rec.endpoints.push(e);
      await this.writeFiles(rec);
    } catch (err) {
      // The endpoint may be in the record already (the files failed): it goes with the attachment.
      const i = rec.endpoints.findIndex((e) => e.attachmentId === a.attachmentId);
      if (i >= 0) await this.unplug(rec, rec.endpoints.splice(i, 1)[0]!);
      await this.detaches.detach(a.attachmentId);
      throw err;
    }
  }

  async disconnectContainer(ref: string, id: string): Promise<void> {
    const n = this.find(ref);
    const rec = this.containers.get(id);
    const i = rec?.endpoints.findIndex((e) => e.networkId === n.id) ?? -1;
    if (!rec || i < 0)
      throw new ShoalError('failed_precondition', `container ${id} is not connected to network ${n.name}`);
    const [e] = rec.endpoints.splice(i, 1);
    await this.unplug(rec, e!);
    await this.writeFiles(rec);
    if (e?.attachmentId) await this.detaches.detach(e.attachmentId);
  }

  // ------------------------------------------------------------------ views for inspect

  containerView(id: string): ContainerNetView | undefined {
    const rec = this.containers.get(id);
    if (!rec) return undefined;
    const endpoints = rec.endpoints.map((e): EndpointView => {
      const n = this.networks.get(e.networkId);
      return {
        networkId: e.networkId,
        networkName: n?.name ?? e.networkId,
        endpointId: e.ip ? e.endpointId : '',
        aliases: e.aliases,
        ...(e.requestedIp ? { requestedIp: e.requestedIp } : {}),
        ip: e.ip ?? '',
        prefix: e.ip && n?.subnet ? parseSubnet(n.subnet).prefix : 0,
        gateway: e.ip ? (n?.gateway ?? '') : '',
        mac: e.mac ?? '',
      };
    });
    const ports: ContainerNetView['ports'] = {};
    for (const k of [...rec.exposed.map(normaliseKey), ...Object.keys(rec.portBindings)]) ports[k] = null;
    for (const m of rec.mapped) {
      const k = `${m.containerPort}/${m.proto}`;
      const list = ports[k] ?? [];
      list.push({ HostIp: m.hostIp || '0.0.0.0', HostPort: String(m.hostPort) });
      ports[k] = list;
    }
    return { sandboxKey: rec.netns ?? '', files: rec.files, endpoints, ports };
  }

  // ------------------------------------------------------------------ nftables

  /** Adds chains of another part (service VIPs) to shoal's table; they are in every rebuild. */
  addChains(p: ChainProvider): Promise<void> {
    this.providers.push(p);
    return this.syncRules();
  }

  /** Rebuilds shoal's table from the networks and published ports (one transaction, serialised). */
  syncRules(): Promise<void> {
    const run = async () => {
      // Overlays are isolated like bridges; their way out is the default bridge, so no masquerade here.
      const bridges = [...this.networks.values()]
        .filter((n) => (n.driver === 'bridge' || n.driver === 'overlay') && n.bridge && n.subnet)
        .map((n) => ({
          bridge: n.bridge!,
          subnet: n.subnet!,
          internal: n.internal,
          masquerade: n.driver === 'bridge' && this.o.ipMasq,
        }));
      const ports: PortRule[] = [];
      for (const c of this.containers.values()) {
        const ip = this.gatewayEndpoint(c)?.ip;
        if (!ip) continue;
        for (const m of c.mapped)
          ports.push({
            proto: m.proto,
            hostIp: m.hostIp,
            hostPort: m.hostPort,
            containerIp: ip,
            containerPort: m.containerPort,
          });
      }
      // Nothing to route, publish or balance (`--bridge none`, no networks yet): no table at all, so that
      // several daemons sharing a namespace (tests) never touch one another's; an emptied one goes.
      if (bridges.length === 0 && ports.length === 0 && this.providers.length === 0) {
        if (this.tableInstalled) await removeTable();
        this.tableInstalled = false;
        return;
      }
      await installRuleset(renderRuleset({ bridges, ports, providers: this.providers }));
      this.tableInstalled = true;
    };
    const p = this.rules.then(run, run);
    this.rules = p.catch(() => {});
    return p;
  }

  /**
   * Clean shutdown: shoal's table goes, and so do the bridges no running container uses (a live-restored
   * container keeps its bridge and its published ports' rules are rebuilt at the next start).
   * `keepRunning`: containers stay (live restore), so their bridges and rules stay too.
   */
  async close(opts: { keepRunning: boolean }): Promise<void> {
    this.detaches.close();
    await this.rules;
    const anyConnected = [...this.containers.values()].some((c) => c.connected && c.mode === 'bridge');
    for (const id of [...this.containers.keys()]) this.ports.release(id);
    if (opts.keepRunning && anyConnected) return;
    if (this.tableInstalled)
      await removeTable().catch((e) =>
        this.o.log?.(`network: removing the nftables table: ${(e as Error).message}`),
      );
    for (const n of this.networks.values()) {
      if (n.vxlan) await kernelNet.deleteLink(n.vxlan).catch(() => {});
      if (n.bridge) await kernelNet.deleteLink(n.bridge).catch(() => {});
    }
  }
}

function normaliseKey(k: string): string {
  const { port, proto } = parsePortKey(k);
  return `${port}/${proto}`;
}

/** Checks HostConfig.PortBindings; keys become "80/tcp", HostIp "0.0.0.0" becomes "". */
export function normalisePorts(
  b: Record<string, { HostIp?: string; HostPort?: string }[] | null>,
): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const [k, list] of Object.entries(b)) {
    const key = normaliseKey(k);
    for (const x of list ?? [{}]) {
      const hostIp = x.HostIp && x.HostIp !== '0.0.0.0' ? x.HostIp : '';
      if (hostIp) parseIp(hostIp, 'PortBindings');
      parseHostPort(x.HostPort ?? '', key);
      out[key] = [...(out[key] ?? []), { HostIp: hostIp, HostPort: x.HostPort ?? '' }];
    }
  }
  return out;
}

/** `NAME:IP` (docker also accepts `NAME=IP`); IP may be `host-gateway`. */
export function parseExtraHost(h: string): { name: string; ip: string } {
  const i = h.search(/[:=]/);
  const name = i > 0 ? h.slice(0, i) : '';
  const ip = i > 0 ? h.slice(i + 1) : '';
  if (!name || !ip) throw bad('extraHosts', `invalid extra host "${h}": expected NAME:IP`);
  if (ip !== 'host-gateway') parseIp(ip, 'extraHosts');
  return { name, ip };
}
