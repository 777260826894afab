// The node (swarmkit's node/node.go): the worker on every node — executor over the engine and the image
// store, the agent holding a session with a manager — and, on a manager, the manager's parts
// (daemon/swarm/manager.ts). It is the ClusterBackend the swarm routes and /info are given: init/leave
// build or tear the parts down; everything else goes to the backend of the current membership.
import { promises as fs } from 'node:fs';
import net, { isIP } from 'node:net';
import os from 'node:os';
import { systemClock } from '../common/clock.js';
import { ShoalError } from '../common/errors.js';
import {
  channelOptionsFor,
  createNodeKeyAndCSR,
  initCAState,
  joinCluster,
  loadNodeIdentity,
  mtlsChannelCredentials,
  type NodeCredentials,
  newSwarmId,
  nodeIdentityOf,
  RenewalScheduler,
  renewCertificate,
  saveNodeIdentity,
  signNodeCSR,
  type Validity,
} from '../manager/ca/index.js';
import {
  type ControlOperations,
  checkClusterSpecUpdate,
  durationMs,
  predefinedIngress,
} from '../manager/controlapi/index.js';
import type { SubscribeRequest } from '../manager/logbroker/index.js';
import {
  joinThroughLeader,
  leaveThroughLeader,
  quorumLossMessage,
  rememberRemoved,
  retryConflicts,
} from '../manager/membership/index.js';
import { seedNewCluster } from '../manager/raft/index.js';
import {
  type DataKey,
  fetchDataKey,
  loadDataKey,
  newDataKey,
  saveDataKey,
} from '../manager/secrets/index.js';
import { clone } from '../manager/store/index.js';
import type { SubscribeLogsMessage } from '../proto/gen/shoal/logbroker/v1/logbroker.js';
import { Cluster, IssuanceState, Node, type NodeDescription } from '../proto/gen/shoal/swarm/v1/objects.js';
import type { ClusterSpec } from '../proto/gen/shoal/swarm/v1/specs.js';
import { NodeAvailability, NodeRole, NodeState, Reachability } from '../proto/gen/shoal/swarm/v1/types.js';
import { Agent, Dependencies, NetworkPlans } from '../worker/agent/index.js';
import type { ContainerManager } from '../worker/engine/index.js';
import {
  Executor,
  enginePort,
  imagePort,
  LABEL,
  SimExecutor,
  type TaskExecutor,
  taskLogs,
} from '../worker/executor/index.js';
import type { ImageStore, PullOptions } from '../worker/images/index.js';
import type { NetworkPlanView, OverlayAttacher } from '../worker/network/index.js';
import {
  alreadyInSwarm,
  type ClusterBackend,
  type InitRequest,
  type JoinRequest,
  type LocalSwarmState,
  notInSwarm,
  notManager,
} from './api/swarm/backend.js';
import { InactiveClusterBackend, ManagerClusterBackend } from './api/swarm/manager-backend.js';
import { tlsInfoOf } from './api/swarm/tls-info.js';
import { describeNode } from './swarm/describe.js';
import { ManagerParts } from './swarm/manager.js';
import {
  joinHostPort,
  loadSwarmState,
  newRaftId,
  parseHostPort,
  type SwarmPaths,
  type SwarmState,
  saveSwarmState,
  swarmPaths,
} from './swarm/state.js';

/** Faster failure detection than Swarm's 5 s: a silent node is marked down after 3 periods. */
const HEARTBEAT_PERIOD = { seconds: 1, nanos: 0 };

export const LEAVE_LAST_MANAGER_MESSAGE =
  'You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.';

/** Docker's refusal for a manager leaving while other managers remain. */
function leaveManagerMessage(reachable: number, total: number): string {
  const quorumLost = reachable - 1 < Math.floor(total / 2) + 1;
  return `You are attempting to leave the swarm on a node that is participating as a manager. ${quorumLossMessage(reachable - 1, total, quorumLost)}`;
}

export interface NodeOptions {
  dataRoot: string;
  engine: ContainerManager;
  images: ImageStore;
  pull?: PullOptions;
  /** The node's Description.Hostname (shoald --hostname); default the machine's. */
  hostname?: string;
  /** How swarm tasks run: as containers (default), or simulated (shoald --executor=sim). */
  executor?: 'engine' | 'sim';
  /**
   * Lowest node certificate expiry a manager here accepts (default one hour, Docker's). Only the tests lower
   * it (SHOAL_TEST_MIN_CERT_EXPIRY), to watch renewals happen: manager/ca/README.md.
   */
  minCertExpiryMs?: number;
  log?: (msg: string) => void;
  /** The dispatcher's network plans for this node, whole after each change (the node's dataplane). */
  onNetworkPlans?: (plans: NetworkPlanView[]) => void;
}

interface Membership {
  state: SwarmState;
  identity: NodeCredentials;
  executor: TaskExecutor;
  agent: Agent;
  manager?: ManagerParts;
  backend: ClusterBackend;
  /** When this node's certificate is renewed next. */
  renewal: RenewalScheduler;
}

const roleOf = (r: NodeRole): 'manager' | 'worker' | undefined =>
  r === NodeRole.NODE_ROLE_MANAGER ? 'manager' : r === NodeRole.NODE_ROLE_WORKER ? 'worker' : undefined;

export class SwarmNode implements ClusterBackend {
  private member: Membership | undefined;
  private readonly inactive: InactiveClusterBackend;
  private readonly paths: SwarmPaths;
  private readonly log: (msg: string) => void;
  /** init/leave/close and role changes run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  /** A role change under way (or waiting to retry), and the node as the managers last described it. */
  private roleChange: Promise<void> | undefined;
  private lastSeen: Node | undefined;
  private roleRetry: NodeJS.Timeout | undefined;

  private constructor(private readonly o: NodeOptions) {
    this.paths = swarmPaths(o.dataRoot);
    this.log = o.log ?? ((m) => console.error(`shoald: ${m}`));
    this.inactive = new InactiveClusterBackend({
      init: (req) => this.init(req),
      join: (req) => this.join(req),
    });
  }

  /** Opens the node; a member of a swarm (state on disk) resumes its membership. */
  static async open(o: NodeOptions): Promise<SwarmNode> {
    const node = new SwarmNode(o);
    const state = await loadSwarmState(node.paths.state);
    if (state) await node.resume(state);
    return node;
  }

  // ---- the node's dataplane: plain containers on attachable overlays ----

  /** The managers' address for a container of this node on a swarm overlay (worker/network's port). */
  readonly overlayAttacher: OverlayAttacher = ((node: SwarmNode) => ({
    get inSwarm() {
      return node.member !== undefined;
    },
    attach: async (req) => {
      const agent = node.member?.agent;
      if (!agent) throw new ShoalError('not_found', `network ${req.network} not found`);
      const r = await agent.attachNetwork(req);
      if (!r.network?.id || !r.address)
        throw new ShoalError('internal', `the manager's attachment on network ${req.network} has no address`);
      return { attachmentId: r.attachmentId, networkId: r.network.id, address: r.address };
    },
    detach: async (id) => {
      const agent = node.member?.agent;
      if (!agent) throw new ShoalError('unavailable', 'this node is in no swarm');
      await agent.detachNetwork(id);
    },
  }))(this);

  // ---- ClusterBackend ----

  localState(): LocalSwarmState | Promise<LocalSwarmState> {
    return this.backend().localState();
  }

  control(): ControlOperations | Promise<ControlOperations> {
    return this.backend().control();
  }

  logs(req: SubscribeRequest, signal: AbortSignal): Promise<AsyncIterable<SubscribeLogsMessage>> {
    const b = this.backend();
    if (!b.logs) return Promise.reject(b === this.inactive ? notInSwarm() : notManager());
    return b.logs(req, signal);
  }

  init(req: InitRequest): Promise<string> {
    return this.serial(() => this.doInit(req));
  }

  join(req: JoinRequest): Promise<void> {
    return this.serial(() => this.doJoin(req));
  }

  leave(force: boolean): Promise<void> {
    return this.serial(() => this.doLeave(force));
  }

  /** Daemon shutdown: stops the session and the manager; containers keep running (live restore). */
  close(): Promise<void> {
    clearTimeout(this.roleRetry);
    return this.serial(async () => {
      const m = this.member;
      if (!m) return;
      m.renewal.stop();
      await m.agent.stop();
      // A stop in flight waits out its grace period (up to the task's stop_grace_period); shutdown does not:
      // the container goes on, and the restarted agent, which adopts it, stops it again.
      await Promise.race([m.executor.close(), new Promise((r) => setTimeout(r, 1000).unref())]);
      await m.manager?.stop();
    });
  }

  // ---- membership ----

  private async describe(): Promise<NodeDescription> {
    const d = await describeNode(this.o.hostname ?? os.hostname());
    const id = this.member?.identity;
    // The node's own TLS info (its trust bundle and its certificate's issuer), as swarmkit's nodes report it.
    return id ? { ...d, tlsInfo: tlsInfoOf(id.certPem, id.rootCertPem) } : d;
  }

  private backend(): ClusterBackend {
    return this.member?.backend ?? this.inactive;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  private async doInit(req: InitRequest): Promise<string> {
    if (this.member?.manager && req.forceNewCluster) return this.forceNewCluster(this.member);
    if (this.member) throw alreadyInSwarm();
    const listen = parseHostPort(req.listenAddr || '0.0.0.0:2377', 'ListenAddr');
    let advertise: { host: string; port: number };
    if (req.advertiseAddr) advertise = parseHostPort(req.advertiseAddr, 'AdvertiseAddr', listen.port);
    else if (listen.host !== '0.0.0.0' && listen.host !== '::') advertise = listen;
    else
      throw new ShoalError(
        'invalid_argument',
        'AdvertiseAddr: an advertise address is needed when listening on all addresses (use --advertise-addr ADDR[:PORT])',
        { field: 'AdvertiseAddr' },
      );
    // The settings are checked as an update would check them, before anything is made.
    const spec = clusterSpecOf(req.spec);
    checkClusterSpecUpdate(undefined, spec, { minNodeCertExpiryMs: this.o.minCertExpiryMs });
    const now = new Date();
    const ca = await initCAState(now);
    const nodeId = newSwarmId();
    const { keyPem, csrPem } = await createNodeKeyAndCSR();
    const certPem = await signNodeCSR(
      { certPem: ca.rootCertPem, keyPem: ca.rootKeyPem },
      {
        csrPem,
        nodeId,
        role: 'manager',
        clusterId: ca.clusterId,
        addresses: isIP(advertise.host) ? [advertise.host] : [],
        now,
        validityMs: durationMs(spec.caConfig?.nodeCertExpiry) || undefined,
        minValidityMs: this.o.minCertExpiryMs,
      },
    );
    const identity: NodeCredentials = {
      nodeId,
      role: 'manager',
      clusterId: ca.clusterId,
      keyPem,
      certPem,
      rootCertPem: ca.rootCertPem,
    };
    const advertiseAddr = joinHostPort(advertise.host, advertise.port);
    const state: SwarmState = {
      nodeId,
      clusterId: ca.clusterId,
      role: 'manager',
      raftId: newRaftId(),
      listenAddr: joinHostPort(listen.host, listen.port),
      advertiseAddr,
      managers: [advertiseAddr],
    };
    // Leftovers of an init that never finished (no state file) belong to no swarm.
    await fs.rm(this.paths.root, { recursive: true, force: true });
    let manager: ManagerParts | undefined;
    try {
      // The key secrets are sealed with: this manager's file only, never the raft log (manager/README.md).
      const dataKey = newDataKey();
      await saveDataKey(this.paths.dataKey, dataKey);
      manager = await ManagerParts.start({
        identity,
        raftId: state.raftId,
        raftDir: this.paths.raft,
        listen,
        advertiseAddr,
        raftStart: 'bootstrap',
        dataKey,
        minCertExpiryMs: this.o.minCertExpiryMs,
        log: this.log,
      });
      await manager.waitLeader();
      const description = await this.describe();
      const newId = manager.store.newId();
      await manager.store.update((tx) => {
        const cluster = Cluster.fromPartial({
          id: ca.clusterId,
          spec,
          rootCa: {
            caCert: Buffer.from(ca.rootCertPem),
            caKey: Buffer.from(ca.rootKeyPem),
            joinTokens: { worker: ca.workerToken, manager: ca.managerToken },
          },
          defaultAddressPool: req.defaultAddrPool,
          subnetSize: req.subnetSize,
        });
        tx.create('cluster', cluster);
        // Docker's predefined ingress network (the routing mesh's), first subnet of the pool: 10.0.0.0/24.
        tx.create('network', predefinedIngress(newId, cluster));
        tx.create(
          'node',
          Node.fromPartial({
            id: nodeId,
            spec: {
              annotations: { labels: {} },
              desiredRole: NodeRole.NODE_ROLE_MANAGER,
              availability:
                req.availability === NodeAvailability.NODE_AVAILABILITY_UNSPECIFIED
                  ? NodeAvailability.NODE_AVAILABILITY_ACTIVE
                  : req.availability,
            },
            role: NodeRole.NODE_ROLE_MANAGER,
            description,
            status: { state: NodeState.NODE_STATE_UNKNOWN, addr: advertise.host },
            managerStatus: {
              raftId: state.raftId,
              addr: advertiseAddr,
              leader: true,
              reachability: Reachability.REACHABILITY_REACHABLE,
            },
          }),
        );
      });
      await saveNodeIdentity(this.paths.certs, identity);
      await saveSwarmState(this.paths.state, state); // last: its presence means "member of a swarm"
    } catch (err) {
      await manager?.stop().catch(() => {});
      await fs.rm(this.paths.root, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
    await this.startMember(state, identity, manager);
    this.log(`swarm initialised: node ${nodeId}, manager on ${advertiseAddr}`);
    return nodeId;
  }

  /**
   * Joins with a token: a certificate from the manager's CA (root pinned by the token), whose role the token
   * decides; a manager then starts an empty raft member, asks the leader to add it (a learner, promoted once
   * caught up) and waits for its store to catch up; then the agent.
   */
  private async doJoin(req: JoinRequest): Promise<void> {
    if (this.member) throw alreadyInSwarm();
    const remote = parseHostPort(req.remoteAddrs[0] ?? '', 'RemoteAddrs[0]');
    const listen = parseHostPort(req.listenAddr || '0.0.0.0:2377', 'ListenAddr');
    const advertise = req.advertiseAddr
      ? parseHostPort(req.advertiseAddr, 'AdvertiseAddr', listen.port)
      : listen.host !== '0.0.0.0' && listen.host !== '::'
        ? listen
        : undefined;
    const managerAddr = joinHostPort(remote.host, remote.port);
    const identity = await joinCluster({
      address: managerAddr,
      token: req.joinToken,
      addresses: advertise && isIP(advertise.host) ? [advertise.host] : [],
    });
    const isManager = identity.role === 'manager';
    // A manager must be reachable by the others: without --advertise-addr, the address this node reaches
    // the manager from (as dockerd detects it), on the listen port.
    const reachable =
      advertise ?? (isManager ? { host: await localAddressTowards(remote), port: listen.port } : undefined);
    const advertiseAddr = reachable ? joinHostPort(reachable.host, reachable.port) : '';
    const state: SwarmState = {
      nodeId: identity.nodeId,
      clusterId: identity.clusterId,
      role: identity.role,
      raftId: isManager ? newRaftId() : 0,
      // Kept for a worker too: a promotion listens there.
      listenAddr: joinHostPort(listen.host, listen.port),
      advertiseAddr,
      managers: isManager ? [advertiseAddr, managerAddr] : [managerAddr],
    };
    await fs.rm(this.paths.root, { recursive: true, force: true });
    let manager: ManagerParts | undefined;
    try {
      await saveNodeIdentity(this.paths.certs, identity);
      if (isManager) {
        // The data key comes from the manager joined through, over mTLS with the new manager certificate.
        const dataKey = await fetchDataKey(
          managerAddr,
          mtlsChannelCredentials(identity, { clusterId: identity.clusterId }),
          channelOptionsFor('manager'),
        );
        await saveDataKey(this.paths.dataKey, dataKey);
        manager = await ManagerParts.start({
          identity,
          raftId: state.raftId,
          raftDir: this.paths.raft,
          listen,
          advertiseAddr,
          raftStart: 'join',
          dataKey,
          minCertExpiryMs: this.o.minCertExpiryMs,
          log: this.log,
        });
        await joinThroughLeader(
          managerAddr,
          mtlsChannelCredentials(identity, { clusterId: identity.clusterId }),
          channelOptionsFor('manager'),
          { raftId: state.raftId, addr: advertiseAddr },
        );
        await manager.waitCaughtUp();
        if (!(await manager.waitVoter(state.raftId)))
          this.log('joined raft as a learner; not yet promoted to a voter');
      }
      await saveSwarmState(this.paths.state, state); // last: its presence means "member of a swarm"
    } catch (err) {
      await manager?.stop().catch(() => {});
      await fs.rm(this.paths.root, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
    const { agent } = await this.startMember(state, identity, manager);
    // As dockerd, answer once the node is in: its first session with a manager (or give up waiting).
    for (let i = 0; i < 150 && agent.state !== 'connected'; i++) await new Promise((r) => setTimeout(r, 100));
    this.log(`joined the swarm as ${identity.role} ${identity.nodeId} via ${managerAddr}`);
  }

  private async resume(state: SwarmState): Promise<void> {
    const identity = await loadNodeIdentity(this.paths.certs, { expectedClusterId: state.clusterId });
    if (!identity)
      throw new ShoalError('internal', `${this.paths.certs}: this node's swarm certificate is missing`);
    let manager: ManagerParts | undefined;
    if (state.role === 'manager') {
      const dataKey = await this.resumeDataKey(state, identity);
      manager = await ManagerParts.start({
        identity,
        raftId: state.raftId,
        raftDir: this.paths.raft,
        listen: parseHostPort(state.listenAddr, 'listenAddr'),
        advertiseAddr: state.advertiseAddr,
        // The raft directory's state decides; were it lost, the member waits to be added again rather than
        // founding a second cluster of the same id.
        raftStart: 'join',
        dataKey,
        minCertExpiryMs: this.o.minCertExpiryMs,
        log: this.log,
      });
      // Serve once the store has caught up with a leader (this member or another), as swarmkit waits before
      // it answers the control API; without a quorum it serves anyway and answers that there is no leader.
      await manager.waitCaughtUp(15_000).catch((e) => this.log(`swarm resume: ${(e as Error).message}`));
    }
    await this.startMember(state, identity, manager);
    this.log(`swarm resumed: node ${state.nodeId} (${state.role})`);
  }

  /**
   * The data key of a resuming manager: its file, else (a file lost, or a manager from before secrets) any
   * other manager's. Without one the manager runs but refuses secrets, saying why.
   */
  private async resumeDataKey(state: SwarmState, identity: NodeCredentials): Promise<DataKey | undefined> {
    const saved = await loadDataKey(this.paths.dataKey);
    if (saved) return saved;
    const creds = mtlsChannelCredentials(identity, { clusterId: identity.clusterId });
    for (const addr of state.managers.filter((a) => a !== state.advertiseAddr)) {
      try {
        const k = await fetchDataKey(addr, creds, channelOptionsFor('manager'), 5_000);
        await saveDataKey(this.paths.dataKey, k);
        return k;
      } catch (e) {
        this.log(`swarm resume: no data key from ${addr}: ${(e as Error).message}`);
      }
    }
    this.log(
      `swarm resume: ${this.paths.dataKey} is missing and no manager gave the key: secrets are refused here`,
    );
    return undefined;
  }

  private async startMember(
    state: SwarmState,
    identity: NodeCredentials,
    manager?: ManagerParts,
  ): Promise<Membership> {
    const host = state.advertiseAddr ? parseHostPort(state.advertiseAddr, 'advertiseAddr').host : '';
    // Secrets and configs the dispatcher sends: memory only, read by the executor when it makes a container.
    const dependencies = new Dependencies();
    const executor =
      this.o.executor === 'sim'
        ? new SimExecutor()
        : new Executor({
            engine: enginePort(this.o.engine),
            images: imagePort(this.o.images, this.o.pull),
            data: dependencies,
          });
    // The agent starts from every manager known: those it last heard of, and on a manager its own store's.
    const managers = [...new Set([...state.managers, ...(manager?.managerAddrs() ?? [])])];
    const networks = new NetworkPlans(
      (plans) => this.o.onNetworkPlans?.(plans),
      (m) => this.log(`agent: ${m}`),
    );
    const agent = new Agent({
      networks,
      managers,
      onManagers: (addrs) => this.rememberManagers(state, addrs),
      credentials: mtlsChannelCredentials(identity, { clusterId: identity.clusterId }),
      channelOptions: channelOptionsFor('manager'),
      executor,
      describe: () => this.describe(),
      advertiseAddr: host,
      stateDir: this.paths.worker,
      logs: (taskId, opts) => taskLogs(this.o.engine, taskId, opts),
      dependencies,
      log: (m, e) => this.log(`agent: ${m}${e ? `: ${(e as Error)?.message ?? e}` : ''}`),
      onNode: (n) => this.noticeNode(n),
    });
    const backend = this.backendFor(state, agent, manager);
    const renewal = new RenewalScheduler({
      clock: systemClock,
      random: Math.random,
      renew: (why) => this.renewIdentity(member, why),
      log: this.log,
    });
    const member: Membership = { state, identity, executor, agent, manager, backend, renewal };
    this.member = member;
    renewal.start(nodeIdentityOf(identity.certPem));
    await agent.start();
    return member;
  }

  /**
   * A new certificate for this node, same role (a scheduled renewal, or a root rotation asking): from the
   * manager of the agent's session or another one; then every TLS context takes it — the agent's next
   * sessions, this manager's listener and outgoing connections — while open connections go on.
   */
  private async renewIdentity(m: Membership, why: string): Promise<Validity> {
    const host = m.state.advertiseAddr ? parseHostPort(m.state.advertiseAddr, 'advertiseAddr').host : '';
    const via = [
      ...new Set(
        [m.agent.manager, ...(m.manager?.managerAddrs() ?? []), ...m.state.managers].filter(
          (x): x is string => !!x,
        ),
      ),
    ];
    let last: unknown = new ShoalError('unavailable', 'no manager known to renew the certificate with');
    for (const addr of via) {
      try {
        const next = await renewCertificate(addr, m.identity, {
          addresses: isIP(host) ? [host] : [],
          timeoutMs: 10_000,
        });
        // A role change renews through changeRole; a renewal racing one waits for it.
        if (next.role !== m.state.role)
          throw new ShoalError(
            'unavailable',
            `the CA now issues a ${next.role} certificate: a role change is due`,
          );
        return await this.serial(async () => {
          if (this.member !== m || m.identity.role !== next.role)
            throw new ShoalError('unavailable', 'membership changed during the renewal');
          await saveNodeIdentity(this.paths.certs, next);
          m.identity = next;
          m.agent.setCredentials(mtlsChannelCredentials(next, { clusterId: next.clusterId }));
          m.manager?.setIdentity(next);
          const v = nodeIdentityOf(next.certPem);
          this.log(`certificate renewed (${why}) via ${addr}: valid until ${v.notAfter.toISOString()}`);
          return v;
        });
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  /** The control API of this node: its manager's, or a worker's refusal. */
  private backendFor(state: SwarmState, agent: Agent, manager?: ManagerParts): ClusterBackend {
    const host = state.advertiseAddr ? parseHostPort(state.advertiseAddr, 'advertiseAddr').host : '';
    return manager
      ? new ManagerClusterBackend({
          store: manager.store,
          control: manager.control,
          nodeId: state.nodeId,
          nodeAddr: host,
          lifecycle: { leave: (force) => this.leave(force) },
          consistency: {
            isLeader: () => manager.raft.isLeader,
            barrier: () => manager.store.readView(() => undefined),
          },
          logs: (req, signal) => manager.subscribeLogs(req, signal),
        })
      : new WorkerClusterBackend(
          state,
          host,
          () => agent.manager,
          (force) => this.leave(force),
        );
  }

  // ---- role changes (promotion, demotion) ----

  /**
   * The managers' view of this node, at each session start (a role change ends the session): a role other
   * than this node's starts the change, one at a time; a failed change is tried again a little later.
   */
  private noticeNode(node: Node): void {
    const m = this.member;
    if (!m || node.id !== m.state.nodeId) return;
    this.lastSeen = node;
    if (node.certificate?.status?.state === IssuanceState.ISSUANCE_STATE_ROTATE)
      m.renewal.renewNow('the managers asked: root CA rotation');
    const role = roleOf(node.role);
    if (!role || role === m.state.role || this.roleChange) return;
    clearTimeout(this.roleRetry);
    this.roleChange = this.serial(() => this.changeRole(role))
      .catch((e) => {
        this.log(`becoming a ${role}: ${(e as Error).message}; trying again`);
        this.roleRetry = setTimeout(() => {
          if (this.lastSeen) this.noticeNode(this.lastSeen);
        }, 3000);
        this.roleRetry.unref();
      })
      .finally(() => {
        this.roleChange = undefined;
      });
  }

  private async changeRole(role: 'manager' | 'worker'): Promise<void> {
    const m = this.member;
    if (!m || m.state.role === role) return;
    if (role === 'manager') await this.becomeManager(m);
    else await this.becomeWorker(m);
  }

  /**
   * A certificate of `role` from one of `managers` (the CA issues the role its store gives the node, which may
   * lag the change on that manager for a moment).
   */
  private async renewAs(
    m: Membership,
    role: 'manager' | 'worker',
    managers: string[],
  ): Promise<NodeCredentials> {
    const host = m.state.advertiseAddr ? parseHostPort(m.state.advertiseAddr, 'advertiseAddr').host : '';
    const deadline = Date.now() + 30_000;
    let last: unknown;
    for (;;) {
      for (const addr of managers) {
        try {
          const next = await renewCertificate(addr, m.identity, {
            addresses: isIP(host) ? [host] : [],
            timeoutMs: 5_000,
          });
          if (next.role === role) return next;
          last = new Error(`${addr} still issues a ${next.role} certificate`);
        } catch (e) {
          last = e;
        }
      }
      if (Date.now() > deadline)
        throw new ShoalError('unavailable', `no ${role} certificate: ${(last as Error)?.message ?? last}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * Promoted: a manager certificate, an empty raft member added by the leader as a learner (promoted to a
   * voter once caught up), the manager's parts; the agent keeps its tasks and uses the new certificate.
   */
  private async becomeManager(m: Membership): Promise<void> {
    const via = [...new Set([m.agent.manager, ...m.state.managers].filter((x): x is string => !!x))];
    if (via.length === 0) throw new ShoalError('unavailable', 'no manager known to ask for a certificate');
    const listen = parseHostPort(m.state.listenAddr || '0.0.0.0:2377', 'listenAddr');
    const advertiseAddr =
      m.state.advertiseAddr ||
      joinHostPort(await localAddressTowards(parseHostPort(via[0], 'manager')), listen.port);
    const identity = await this.renewAs(m, 'manager', via);
    const raftId = newRaftId();
    await fs.rm(this.paths.raft, { recursive: true, force: true });
    let manager: ManagerParts | undefined;
    try {
      // A manager holds the cluster's data key (secrets): asked of a manager with the new certificate.
      const dataKey = await fetchDataKey(
        via[0],
        mtlsChannelCredentials(identity, { clusterId: identity.clusterId }),
        channelOptionsFor('manager'),
      );
      await saveDataKey(this.paths.dataKey, dataKey);
      manager = await ManagerParts.start({
        identity,
        raftId,
        raftDir: this.paths.raft,
        listen,
        advertiseAddr,
        raftStart: 'join',
        dataKey,
        minCertExpiryMs: this.o.minCertExpiryMs,
        log: this.log,
      });
      await joinThroughLeader(
        via[0],
        mtlsChannelCredentials(identity, { clusterId: identity.clusterId }),
        channelOptionsFor('manager'),
        { raftId, addr: advertiseAddr },
      );
      await manager.waitCaughtUp();
    } catch (err) {
      await manager?.stop().catch(() => {});
      await fs.rm(this.paths.raft, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
    if (!(await manager.waitVoter(raftId))) this.log('promoted: a raft learner, not yet a voter');
    await saveNodeIdentity(this.paths.certs, identity);
    Object.assign(m.state, {
      role: 'manager',
      raftId,
      listenAddr: joinHostPort(listen.host, listen.port),
      advertiseAddr,
    });
    m.state.managers = [...new Set([advertiseAddr, ...m.state.managers])];
    await saveSwarmState(this.paths.state, m.state);
    this.adopt(m, identity, manager);
    this.log(`promoted: manager with raft id ${raftId} on ${advertiseAddr}`);
  }

  /**
   * Demoted (the leader removed this member from raft first): a worker certificate from another manager, the
   * manager's parts stopped and its raft data removed; the agent keeps its tasks.
   */
  private async becomeWorker(m: Membership): Promise<void> {
    const self = m.state.advertiseAddr;
    const others = [
      ...new Set([...(m.manager?.managerAddrs() ?? []), ...m.state.managers, m.agent.manager ?? '']),
    ].filter((a) => a && a !== self);
    const identity = await this.renewAs(m, 'worker', others);
    await m.manager?.stop();
    await saveNodeIdentity(this.paths.certs, identity);
    Object.assign(m.state, { role: 'worker', raftId: 0 });
    m.state.managers = others.length > 0 ? others : m.state.managers;
    await saveSwarmState(this.paths.state, m.state);
    await fs.rm(this.paths.raft, { recursive: true, force: true });
    // A worker holds no cluster data key: secrets reach it only as the tasks it runs need them.
    await fs.rm(this.paths.dataKey, { force: true });
    this.adopt(m, identity, undefined);
    this.log('demoted: now a worker');
  }

  /** The membership after a role change: new certificate for the agent's next sessions, new backend. */
  private adopt(m: Membership, identity: NodeCredentials, manager: ManagerParts | undefined): void {
    m.identity = identity;
    m.renewal.start(nodeIdentityOf(identity.certPem));
    m.manager = manager;
    m.agent.setCredentials(mtlsChannelCredentials(identity, { clusterId: identity.clusterId }));
    m.backend = this.backendFor(m.state, m.agent, manager);
  }

  // ---- recovery ----

  /**
   * `swarm init --force-new-cluster` on a manager: its applied state becomes the snapshot of a new raft group
   * of one voter (itself, same raft id), so it leads with the swarm's services, tasks and networks. The other
   * managers' raft ids are remembered as removed (their old data can never take part again); their nodes stay
   * as unreachable managers until `node demote` / `node rm --force`. Others join again with fresh identities.
   */
  private async forceNewCluster(m: Membership): Promise<string> {
    const old = m.manager as ManagerParts;
    const state = old.raft.exportState();
    const lost = old.store
      .view((tx) => tx.list('node'))
      .filter((n) => n.id !== m.state.nodeId && n.managerStatus?.raftId)
      .map((n) => n.managerStatus?.raftId ?? 0);
    const peers = old.raft
      .status()
      .members.map((x) => x.id)
      .filter((id) => id !== m.state.raftId);
    await old.stop();
    // The old raft data is kept aside (one copy) rather than deleted.
    const aside = `${this.paths.raft}.before-force-new-cluster`;
    await fs.rm(aside, { recursive: true, force: true });
    await fs.rename(this.paths.raft, aside);
    seedNewCluster(this.paths.raft, { id: m.state.raftId, address: m.state.advertiseAddr }, state);
    const manager = await ManagerParts.start({
      identity: m.identity,
      raftId: m.state.raftId,
      raftDir: this.paths.raft,
      listen: parseHostPort(m.state.listenAddr, 'listenAddr'),
      advertiseAddr: m.state.advertiseAddr,
      dataKey: await this.resumeDataKey(m.state, m.identity),
      raftStart: 'join',
      minCertExpiryMs: this.o.minCertExpiryMs,
      log: this.log,
    });
    try {
      await manager.waitLeader();
      // The new leader's dispatcher writes nodes at the same time: a lost race is retried.
      await retryConflicts(() =>
        manager.store.update((tx) => {
          rememberRemoved(tx, [...new Set([...lost, ...peers])]);
          for (const n of tx.list('node')) {
            if (!n.managerStatus) continue;
            const next = clone('node', n);
            const self = n.id === m.state.nodeId;
            next.managerStatus = {
              ...n.managerStatus,
              leader: self,
              reachability: self
                ? Reachability.REACHABILITY_REACHABLE
                : Reachability.REACHABILITY_UNREACHABLE,
            };
            tx.update('node', next);
          }
        }),
      );
    } catch (err) {
      await manager.stop().catch(() => {});
      throw err;
    }
    m.manager = manager;
    m.backend = this.backendFor(m.state, m.agent, manager);
    m.state.managers = [m.state.advertiseAddr];
    await saveSwarmState(this.paths.state, m.state);
    this.log(`forced a new cluster: raft member ${m.state.raftId} alone, at index ${state.index}`);
    return m.state.nodeId;
  }

  /** Keeps the dispatcher's latest manager list in the state file, for the next start. */
  private rememberManagers(state: SwarmState, addrs: readonly string[]): void {
    // In the init/join/leave queue: never written after a leave removed the state (that would rejoin).
    this.serial(async () => {
      if (this.member?.state !== state || addrs.length === 0) return;
      state.managers = [...addrs];
      await saveSwarmState(this.paths.state, state);
    }).catch((e) => this.log(`saving the manager list: ${(e as Error).message}`));
  }

  private async doLeave(force: boolean): Promise<void> {
    const m = this.member;
    if (!m) throw new ShoalError('unavailable', 'This node is not part of a swarm');
    if (m.manager) {
      const managers = m.manager.store.view((tx) => tx.list('node').filter((n) => n.managerStatus?.raftId));
      const others = managers.filter((n) => n.id !== m.state.nodeId);
      if (!force) {
        if (others.length === 0) throw new ShoalError('unavailable', LEAVE_LAST_MANAGER_MESSAGE);
        const reachable = managers.filter(
          (n) => n.managerStatus?.reachability === Reachability.REACHABILITY_REACHABLE,
        ).length;
        throw new ShoalError('unavailable', leaveManagerMessage(reachable, managers.length));
      }
      // Out of the raft group first, so the others' quorum no longer counts this member (best effort: a
      // cluster without a leader cannot change its membership; then the others see this member unreachable).
      if (others.length > 0)
        await leaveThroughLeader(
          m.state.advertiseAddr,
          mtlsChannelCredentials(m.identity, { clusterId: m.identity.clusterId }),
          channelOptionsFor('manager'),
          true,
        ).catch((e) => this.log(`leave: could not leave the raft group: ${(e as Error).message}`));
    }
    m.renewal.stop();
    await m.agent.stop();
    await m.manager?.stop();
    // Leaving ends the node's tasks, as dockerd does: their containers are stopped and removed.
    await m.executor.close();
    for (const c of this.o.engine.list({ all: true })) {
      if (!c.config.labels?.[LABEL.taskId]) continue;
      await this.o.engine
        .remove(c.id, { force: true })
        .catch((e) => this.log(`leave: removing container ${c.id}: ${(e as Error).message}`));
    }
    this.member = undefined;
    await fs.rm(this.paths.root, { recursive: true, force: true });
    this.log('left the swarm');
  }
}

/** A worker: no control API (Docker's "not a manager" 503); its membership for /info. */
class WorkerClusterBackend implements ClusterBackend {
  constructor(
    private readonly state: SwarmState,
    private readonly host: string,
    private readonly connected: () => string | undefined,
    private readonly leaveFn: (force: boolean) => Promise<void>,
  ) {}
  localState(): LocalSwarmState {
    const addr = this.connected() ?? this.state.managers[0] ?? '';
    return {
      nodeId: this.state.nodeId,
      nodeAddr: this.host,
      localNodeState: 'active',
      controlAvailable: false,
      error: '',
      remoteManagers: addr ? [{ nodeId: '', addr }] : [],
    };
  }
  init(): Promise<string> {
    return Promise.reject(alreadyInSwarm());
  }
  join(): Promise<void> {
    return Promise.reject(alreadyInSwarm());
  }
  leave(force: boolean): Promise<void> {
    return this.leaveFn(force);
  }
  control(): ControlOperations {
    throw notManager();
  }
}

/** The local address a TCP connection to `remote` leaves from. */
function localAddressTowards(remote: { host: string; port: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: remote.host, port: remote.port, timeout: 5_000 });
    sock.once('connect', () => {
      const addr = sock.localAddress ?? '';
      sock.destroy();
      resolve(addr);
    });
    sock.once('timeout', () => {
      sock.destroy();
      reject(new ShoalError('unavailable', `cannot reach the manager at ${remote.host}:${remote.port}`));
    });
    sock.once('error', (e) =>
      reject(
        new ShoalError(
          'unavailable',
          `cannot reach the manager at ${remote.host}:${remote.port}: ${e.message}`,
        ),
      ),
    );
  });
}

function clusterSpecOf(spec: ClusterSpec): ClusterSpec {
  const period = spec.dispatcher?.heartbeatPeriod;
  // Docker's 5 s default (what the routes fill in when the body says nothing) becomes ours.
  const isDockerDefault = !period || (Number(period.seconds) === 5 && period.nanos === 0);
  return {
    ...spec,
    dispatcher: { ...spec.dispatcher, heartbeatPeriod: isDockerDefault ? HEARTBEAT_PERIOD : period },
  };
}
