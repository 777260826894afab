// A manager's parts, composed (swarmkit's manager/manager.go): the store as the raft node's state machine,
// the CA backed by the store's Cluster object, one gRPC server on a NodeTlsListener (raft, CA, dispatcher,
// every call authorised by the caller's certificate), and the leader-only components — the reconcile loops
// (orchestrator+allocator in one pass → scheduler) and the dispatcher — started and stopped with leadership.
import * as grpc from '@grpc/grpc-js';
import { ShoalError } from '../../common/errors.js';
import { pipelineLoop } from '../../manager/allocator/index.js';
import {
  authorizationInterceptor,
  beginRootRotation,
  CA_POLICY,
  CertificateAuthority,
  caService,
  certDigest,
  channelOptionsFor,
  generateToken,
  type MethodPolicy,
  mtlsChannelCredentials,
  NO_CHANNELZ,
  type NodeCredentials,
  NodeTlsListener,
} from '../../manager/ca/index.js';
import { ControlApi } from '../../manager/controlapi/index.js';
import {
  DISPATCHER_POLICY,
  Dispatcher,
  dispatcherService,
  managersInStore,
} from '../../manager/dispatcher/index.js';
import {
  LOGBROKER_POLICY,
  LogBroker,
  logBrokerService,
  type SubscribeRequest,
  subscribeLocal,
  subscribeThroughLeader,
} from '../../manager/logbroker/index.js';
import {
  type GroupView,
  MEMBERSHIP_POLICY,
  MembershipReconciler,
  membershipService,
  type RaftMember,
  removedRaftIds,
} from '../../manager/membership/index.js';
import { loopsComponent } from '../../manager/orchestrator/loop.js';
import { RaftNode, runWhileLeader } from '../../manager/raft/index.js';
import {
  CLUSTER_KEYS_POLICY,
  clusterKeysService,
  type DataKey,
  DataKeyCipher,
} from '../../manager/secrets/index.js';
import { NO_LEADER_MESSAGE, Store } from '../../manager/store/index.js';
import type { SubscribeLogsMessage } from '../../proto/gen/shoal/logbroker/v1/logbroker.js';
import { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeAvailability, NodeRole, NodeState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { caStateOf, recordIssued, rootCaOf, rotationStep, StoreCAState } from './ca-state.js';

export interface ManagerOptions {
  identity: NodeCredentials;
  raftId: number;
  raftDir: string;
  listen: { host: string; port: number };
  /** host:port raft peers and agents dial. */
  advertiseAddr: string;
  /**
   * bootstrap: the founding member of a new cluster (swarm init); join: an empty member waiting to be added
   * by the leader (a manager joining, and every restart: the raft directory's state then decides).
   */
  raftStart: 'bootstrap' | 'join';
  /** The cluster data key (secrets are sealed with it); undefined: this manager refuses secrets. */
  dataKey: DataKey | undefined;
  /** Lowest node certificate expiry (default one hour; lowered only by tests: manager/ca/README.md). */
  minCertExpiryMs?: number;
  log: (msg: string) => void;
}

export class ManagerParts {
  private stopLoops: (() => Promise<void>) | undefined;
  private stopDispatcher: (() => void) | undefined;
  private stopMembership: (() => void) | undefined;
  private stopBroker: (() => void) | undefined;
  private removedTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly store: Store,
    readonly raft: RaftNode<unknown>,
    readonly control: ControlApi,
    private readonly server: grpc.Server,
    private readonly listener: NodeTlsListener,
    private readonly broker: LogBroker,
    private credentials: grpc.ChannelCredentials,
  ) {}

  /**
   * A renewed certificate (or a new trust bundle): served to connections accepted from now on, and used for
   * the connections this manager opens from now on; open ones go on.
   */
  setIdentity(identity: NodeCredentials): void {
    this.listener.setIdentity(identity);
    this.credentials = mtlsChannelCredentials(identity, { clusterId: identity.clusterId });
    this.raft.setCredentials(this.credentials);
  }

  static async start(o: ManagerOptions): Promise<ManagerParts> {
    const store = new Store({ clock: Date.now });
    const credentials = mtlsChannelCredentials(o.identity, { clusterId: o.identity.clusterId });
    const raft = RaftNode.start<unknown>({
      id: o.raftId,
      dataDir: o.raftDir,
      advertiseAddress: o.advertiseAddr,
      bootstrap: o.raftStart === 'bootstrap' ? [{ id: o.raftId, address: o.advertiseAddr }] : undefined,
      join: o.raftStart === 'join',
      stateMachine: store,
      credentials,
      // Any manager takes writes: a follower hands them to the leader and answers from its own apply.
      forwardProposals: true,
      // A write pending through a quorum loss is answered (outcome unknown) rather than left hanging.
      proposalTimeoutMs: 10_000,
      // 50 ms ticks, an election after 60 to 120 silent ones (3–6 s; swarmkit waits 10 s): a busy leader's
      // event loop stalls for 1–2 s at times (a hundred thousand tasks, a thousand workers), and shorter
      // timeouts made followers elect a new leader that stalled in turn, each change ending every worker's
      // session. A crashed or stopped leader is replaced within a few ticks all the same: its connections
      // close, and the followers campaign at once (raft's reportPeerLost).
      tickMs: 50,
      electionTicks: 60,
      log: (m) => o.log(`raft: ${m}`),
    });
    store.connect(raft);
    const cipher = o.dataKey ? new DataKeyCipher(o.dataKey) : undefined;
    const control = new ControlApi(
      store,
      {
        newJoinToken: (_role, cluster) =>
          generateToken(certDigest(Buffer.from(cluster.rootCa?.caCert ?? new Uint8Array()).toString())),
        minNodeCertExpiryMs: o.minCertExpiryMs,
        beginRotation: async (cluster, external) =>
          rootCaOf(
            await beginRootRotation(caStateOf(cluster), new Date(), external),
            cluster.rootCa?.lastForcedRotation ?? 0,
          ).rootRotation!,
      },
      Math.random,
      Date.now,
      cipher,
    );
    const ca = new CertificateAuthority({
      state: new StoreCAState(store),
      clock: () => new Date(),
      minValidityMs: o.minCertExpiryMs,
      onRenewed: async (issued) => {
        await store.update((tx) => {
          const n = tx.get('node', issued.nodeId);
          if (n) tx.update('node', recordIssued(n, issued));
        });
      },
      // A renewal carries the role the membership reconciler gave the node: manager once promoted, worker
      // once out of raft after a demotion.
      desiredRole: async (nodeId) => {
        const n = store.view((tx) => tx.get('node', nodeId));
        if (!n?.role) return undefined;
        return n.role === NodeRole.NODE_ROLE_MANAGER ? 'manager' : 'worker';
      },
      // A joining node is registered (unknown until its agent opens a session: then READY). A manager's
      // ManagerStatus comes when it joins raft (RaftMembership.Join).
      onJoined: async (issued, addresses) => {
        const role = issued.role === 'manager' ? NodeRole.NODE_ROLE_MANAGER : NodeRole.NODE_ROLE_WORKER;
        await store.update((tx) =>
          tx.create(
            'node',
            recordIssued(
              Node.fromPartial({
                id: issued.nodeId,
                spec: {
                  annotations: { labels: {} },
                  desiredRole: role,
                  availability: NodeAvailability.NODE_AVAILABILITY_ACTIVE,
                },
                role,
                status: { state: NodeState.NODE_STATE_UNKNOWN, addr: addresses[0] ?? '' },
              }),
              issued,
            ),
          ),
        );
      },
    });
    const dispatcher = new Dispatcher(store, {
      log: (m, e) => o.log(`dispatcher: ${m}${e ? `: ${e}` : ''}`),
      // Secrets go to workers opened (over mTLS); a manager without the key sends none.
      openSecret: cipher ? (s) => cipher.open(s.id, s.sealed!) : undefined,
    });

    // The log broker lives with the dispatcher (the leader): it reaches the nodes over their sessions.
    const broker = new LogBroker(store, {
      hasSession: (nodeId) => dispatcher.hasSession(nodeId),
      send: (nodeId, sub) =>
        dispatcher.sendToNode(nodeId, { payload: { $case: 'logSubscription', value: sub } }),
      onSessionChange: (listener) => dispatcher.onSessionChange(listener),
    });

    const rs = raft.raftService();
    const raftPolicy: MethodPolicy = Object.fromEntries(
      Object.values(rs.definition).map((m) => [m.path, ['manager'] as const]),
    ) as MethodPolicy;
    const policy: MethodPolicy = {
      ...CA_POLICY,
      ...DISPATCHER_POLICY,
      ...MEMBERSHIP_POLICY,
      ...LOGBROKER_POLICY,
      ...CLUSTER_KEYS_POLICY,
      ...raftPolicy,
    };
    const server = new grpc.Server({
      // Raft entries are transactions of up to MAX_WRITES_PER_TRANSACTION objects (about 1 MB) and an append
      // carries up to maxSizePerMsg of them, past grpc's 4 MB default: a follower refusing them never caught up.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      ...NO_CHANNELZ,
      interceptors: [
        authorizationInterceptor(
          policy,
          () => o.identity.clusterId,
          (id) => store.view((tx) => tx.get('node', id) === undefined && tx.list('node').length > 0),
        ),
      ],
    });
    server.addService(rs.definition, rs.implementation as unknown as grpc.UntypedServiceImplementation);
    const cs = caService(ca);
    server.addService(cs.definition, cs.implementation as unknown as grpc.UntypedServiceImplementation);
    const ds = dispatcherService(dispatcher, {
      leaderAddr: () => {
        const { leaderId, isLeader } = raft.leadership();
        if (isLeader || !leaderId) return undefined;
        return raft.status().members.find((m) => m.id === leaderId)?.address;
      },
    });
    server.addService(ds.definition, ds.implementation as unknown as grpc.UntypedServiceImplementation);
    const ls = logBrokerService(broker);
    server.addService(ls.definition, ls.implementation as unknown as grpc.UntypedServiceImplementation);
    const group = raftGroup(raft, o.raftId);
    const ms = membershipService(store, group);
    server.addService(ms.definition, ms.implementation as unknown as grpc.UntypedServiceImplementation);
    const ks = clusterKeysService(() => o.dataKey);
    server.addService(ks.definition, ks.implementation as unknown as grpc.UntypedServiceImplementation);
    let listener: NodeTlsListener;
    try {
      listener = await NodeTlsListener.listen(server, {
        host: o.listen.host,
        port: o.listen.port,
        identity: o.identity,
        log: (m) => o.log(`tls: ${m}`),
      });
    } catch (err) {
      raft.stop();
      server.forceShutdown();
      throw err;
    }
    const parts = new ManagerParts(store, raft, control, server, listener, broker, credentials);
    const onError = (e: unknown) => o.log(`leader component: ${(e as Error)?.stack ?? e}`);
    parts.stopLoops = runWhileLeader(
      raft,
      loopsComponent([
        // The orchestrator, the allocator and the scheduler decide together and commit once (new tasks are
        // born ASSIGNED).
        pipelineLoop(store, { onError }),
      ]),
      onError,
    );
    parts.stopDispatcher = runWhileLeader(raft, dispatcher, onError);
    parts.stopBroker = runWhileLeader(raft, broker, onError);
    const reconciler = new MembershipReconciler(store, group, {
      onError,
      log: (m) => o.log(`membership: ${m}`),
    });
    parts.stopMembership = runWhileLeader(raft, reconciler, onError);
    // Raft ids removed earlier (the store keeps them; raft forgets them at a snapshot or a new cluster).
    let lastView = '';
    const syncRemoved = () => {
      raft.markRemoved(store.view((tx) => removedRaftIds(tx)));
      // The member's raft view, logged when it changes (role, term, leader, configuration).
      const s = raft.status();
      // A failed pre-vote flips the role and back every election timeout: not worth a line each time.
      const role = s.role === 'preCandidate' ? 'follower' : s.role;
      const view = `${role} term ${s.term} leader ${s.leader} voters [${s.config.voters}] learners [${s.config.learners}]`;
      if (view !== lastView) o.log(`raft: member ${o.raftId}: ${view}`);
      lastView = view;
    };
    // The cluster's raft settings (swarm update --snapshot-interval), applied on every member.
    let raftSettings = '';
    const syncRaftSettings = () => {
      const r = store.view((tx) => tx.list('cluster')[0])?.spec?.raft;
      const key = `${r?.snapshotInterval}/${r?.logEntriesForSlowFollowers}`;
      if (!r || key === raftSettings) return;
      raftSettings = key;
      raft.setSnapshotPolicy({
        snapshotEvery: r.snapshotInterval || undefined,
        keepEntries: r.logEntriesForSlowFollowers || undefined,
      });
      o.log(`raft: snapshot every ${r.snapshotInterval} entries, keeping ${r.logEntriesForSlowFollowers}`);
    };
    // A root rotation moves on from the leader, one batch of nodes at a time.
    let rotating = false;
    const stepRotation = () => {
      if (rotating || !raft.isLeader) return;
      rotating = true;
      rotationStep(store, (m) => o.log(m))
        .catch((e) => o.log(`root CA rotation: ${(e as Error).message}`))
        .finally(() => {
          rotating = false;
        });
    };
    syncRemoved();
    parts.removedTimer = setInterval(() => {
      syncRemoved();
      syncRaftSettings();
      stepRotation();
    }, 1000);
    parts.removedTimer.unref();
    return parts;
  }

  /** Resolves once this member leads (a one-member cluster elects itself within an election timeout). */
  async waitLeader(timeoutMs = 20_000): Promise<void> {
    if (this.raft.leadership().isLeader) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`raft: no leader after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.raft.onLeadershipChange((e) => {
        if (!e.isLeader) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
    await this.raft.readBarrier();
  }

  /** Resolves once this member's store has caught up with the leader's commit index (a read barrier). */
  async waitCaughtUp(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.raft.readBarrier();
        return;
      } catch (err) {
        if (Date.now() >= deadline)
          throw new ShoalError('unavailable', `catching up with the leader: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /**
   * A logs request of this manager's clients: served by the broker here when this member leads, else handed
   * to the leader's broker (only the leader holds the workers' sessions, so only it can ask the nodes; one
   * hop, and the selection and the missing-node decisions stay in one place). Resolves once the
   * subscription is accepted, so a refusal (unknown task, no leader) comes before anything is streamed.
   */
  async subscribeLogs(
    req: SubscribeRequest,
    signal: AbortSignal,
  ): Promise<AsyncIterable<SubscribeLogsMessage>> {
    if (this.broker.isRunning) return subscribeLocal(this.broker, req, signal);
    const { leaderId, isLeader } = this.raft.leadership();
    const addr = isLeader ? undefined : this.raft.status().members.find((m) => m.id === leaderId)?.address;
    if (!addr)
      throw new ShoalError(
        'unavailable',
        isLeader ? 'the log broker is starting on this manager; try again' : NO_LEADER_MESSAGE,
      );
    const it = subscribeThroughLeader(addr, this.credentials, channelOptionsFor('manager'), req, signal);
    const first = await it.next();
    return (async function* () {
      if (!first.done) yield first.value;
      yield* it;
    })();
  }

  /**
   * Resolves once this member votes (the leader promotes a learner that has caught up), so a `swarm join` or a
   * promotion answers when the new manager counts for quorum; false after `timeoutMs` (it still may later).
   */
  async waitVoter(raftId: number, timeoutMs = 15_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.raft.status().config.voters.includes(raftId)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** The managers' gRPC addresses as this member's store knows them. */
  managerAddrs(): string[] {
    return managersInStore(this.store).map((m) => m.addr);
  }

  async stop(): Promise<void> {
    clearInterval(this.removedTimer);
    this.stopMembership?.();
    this.stopBroker?.();
    this.stopDispatcher?.();
    await this.stopLoops?.();
    await this.listener.close();
    this.server.forceShutdown();
    this.raft.stop();
  }
}

/** The raft node as the membership module sees it. */
function raftGroup(raft: RaftNode<unknown>, id: number) {
  type Status = ReturnType<RaftNode<unknown>['status']>;
  const membersOf = (s: Status): RaftMember[] =>
    s.members.map((m) => ({ id: m.id, address: m.address ?? '', voter: m.voter }));
  // Heard from within the last election timeout, in the leader's view (itself always).
  const active = (s: Status, mid: number) => mid === id || (s.progress[mid]?.reachable ?? false);
  return {
    id,
    leadership: () => raft.leadership(),
    members: () => membersOf(raft.status()),
    addLearner: (mid: number, address: string) => raft.addLearner(mid, address),
    removeMember: (mid: number) => raft.removeMember(mid),
    activeIds: () => {
      const s = raft.status();
      return Object.keys(s.progress)
        .map(Number)
        .filter((mid) => active(s, mid));
    },
    promote: (mid: number, timeoutMs: number) => raft.promote(mid, timeoutMs),
    transferLeadership: (to: number) => raft.transferLeadership(to),
    group: (): GroupView => {
      const s = raft.status();
      return {
        leaderId: s.leader,
        commit: s.commit,
        members: membersOf(s).map((m) => ({
          id: m.id,
          voter: m.voter,
          match: s.progress[m.id]?.match ?? 0,
          active: active(s, m.id),
        })),
      };
    },
  };
}
