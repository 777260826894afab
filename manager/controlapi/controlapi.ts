// The control API's semantics over the store: what `docker service|node|swarm` may change, checked, with
// Docker's defaults and messages. Transport-free: the leader calls it directly; a follower will forward the
// same calls over gRPC. Every write is one store transaction, so a rejected call changes nothing.

import { conflict, invalidArgument, isShoalError, notFound, ShoalError } from '../../common/errors.js';
import type {
  Cluster,
  Config,
  Network,
  Node,
  RootRotation,
  Secret,
  Service,
  Task,
} from '../../proto/gen/shoal/swarm/v1/objects.js';
import {
  type ClusterSpec,
  type NetworkSpec,
  type NodeSpec,
  ServiceSpec,
  TaskSpec,
} from '../../proto/gen/shoal/swarm/v1/specs.js';
import {
  NodeRole,
  NodeState,
  Reachability,
  TaskState,
  UpdateState,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';
import { allocateNetwork, networksHolding } from '../allocator/index.js';
import type { SecretCipher } from '../secrets/index.js';
import type { ReadTx, Store, WriteTx } from '../store/index.js';
import { clone } from '../store/tables.js';
import { checkClusterSpecUpdate } from './cluster-spec.js';
import { anyOf, checkFilterKeys, type Filters, labelsMatch } from './filters.js';
import { checkNetworkSpec, checkPorts, listNetworks, prunable, removalRefusal } from './networks.js';
import { type DataObjectSpec, DataObjects } from './secrets.js';
import { checkName, checkServiceSpec, withDefaults } from './spec.js';

/** The CA's part in cluster updates: fresh join tokens for the current root (manager/ca's generateToken). */
export interface CaPort {
  newJoinToken(role: 'worker' | 'manager', cluster: Cluster): string;
  /** The lowest node certificate expiry accepted (default one hour). */
  minNodeCertExpiryMs?: number;
  /** A new root (the operator's when given) cross-signed by the cluster's: a root rotation's start. */
  beginRotation?(cluster: Cluster, external?: { certPem: string; keyPem: string }): Promise<RootRotation>;
}

export interface UpdateServiceOptions {
  /** "previous": swap in the previous spec (the body's spec is ignored, as dockerd does). */
  rollback?: 'previous';
}

export interface UpdateClusterOptions {
  rotateWorkerToken?: boolean;
  rotateManagerToken?: boolean;
}

const rotationUnderWay = () =>
  new ShoalError(
    'failed_precondition',
    'a root CA rotation is already in progress: wait until it completes (`docker swarm ca` shows its progress)',
    { field: 'spec.ca_config.force_rotate' },
  );

/** What the routes (and a forwarding follower) call. */
export interface ControlOperations {
  createService(spec: ServiceSpec): Promise<Service>;
  updateService(
    idOrName: string,
    version: number,
    spec: ServiceSpec,
    options?: UpdateServiceOptions,
  ): Promise<Service>;
  removeService(idOrName: string): Promise<void>;
  getService(idOrName: string): Service;
  listServices(filters?: Filters): Service[];
  getTask(id: string): Task;
  listTasks(filters?: Filters): Task[];
  /** Running and desired task counts per service, as `service ls` shows them (see ServiceTaskCounts). */
  serviceTaskCounts(services: readonly Service[]): Map<string, ServiceTaskCounts>;
  getNode(idOrName: string): Node;
  listNodes(filters?: Filters): Node[];
  updateNode(id: string, version: number, spec: NodeSpec): Promise<Node>;
  removeNode(id: string, force: boolean): Promise<void>;
  getCluster(): Cluster;
  updateCluster(version: number, spec: ClusterSpec, options?: UpdateClusterOptions): Promise<Cluster>;
  createNetwork(spec: NetworkSpec): Promise<Network>;
  getNetwork(idOrName: string): Network;
  listNetworks(filters?: Filters): Network[];
  removeNetwork(idOrName: string): Promise<void>;
  /** Removes every unused network but ingress; resolves with the names removed. */
  pruneNetworks(filters?: Filters): Promise<string[]>;
  createSecret(spec: DataObjectSpec): Promise<Secret>;
  /** Never with its data (sealed or not). */
  getSecret(idOrName: string): Secret;
  listSecrets(filters?: Filters): Secret[];
  updateSecret(idOrName: string, version: number, spec: DataObjectSpec): Promise<Secret>;
  removeSecret(idOrName: string): Promise<void>;
  createConfig(spec: DataObjectSpec): Promise<Config>;
  getConfig(idOrName: string): Config;
  listConfigs(filters?: Filters): Config[];
  updateConfig(idOrName: string, version: number, spec: DataObjectSpec): Promise<Config>;
  removeConfig(idOrName: string): Promise<void>;
}

/**
 * dockerd's ServiceStatus: tasks RUNNING on nodes that are not down; desired is the replica count, or for a
 * global service the tasks desired running on such nodes.
 */
export interface ServiceTaskCounts {
  running: number;
  desired: number;
}

/** Retries of a write that lost the race on the cluster object (see serialized). */
const SERIAL_RETRIES = 8;

const outOfSequence = (field = 'version') => conflict('update out of sequence', field);

const SERVICE_FILTERS = ['id', 'name', 'label', 'mode'] as const;
const TASK_FILTERS = ['id', 'name', 'service', 'node', 'desired-state', 'label', '_up-to-date'] as const;
const NODE_FILTERS = ['id', 'name', 'label', 'node.label', 'role', 'membership'] as const;

const ADJECTIVES = ['brave', 'calm', 'eager', 'gentle', 'jolly', 'keen', 'lucid', 'quiet', 'swift', 'wise'];
const NOUNS = ['heron', 'otter', 'pike', 'perch', 'trout', 'carp', 'tench', 'roach', 'dace', 'bream'];

export class ControlApi implements ControlOperations {
  private readonly secrets: DataObjects<'secret'>;
  private readonly configs: DataObjects<'config'>;

  /** `cipher`: seals secrets with the cluster data key (a manager without one refuses secrets). */
  constructor(
    private readonly store: Store,
    private readonly ca?: CaPort,
    private readonly random: () => number = Math.random,
    /** Unix ms (UpdateStatus.started_at of a rollback). */
    private readonly clock: () => number = Date.now,
    cipher?: SecretCipher | (() => SecretCipher | undefined),
  ) {
    const c = typeof cipher === 'function' ? cipher : () => cipher;
    this.secrets = new DataObjects('secret', store, c);
    this.configs = new DataObjects('config', store, () => undefined);
  }

  // ---- secrets and configs ----

  createSecret(spec: DataObjectSpec): Promise<Secret> {
    return this.secrets.create(spec);
  }
  getSecret(idOrName: string): Secret {
    return this.secrets.get(idOrName);
  }
  listSecrets(filters?: Filters): Secret[] {
    return this.secrets.list(filters);
  }
  updateSecret(idOrName: string, version: number, spec: DataObjectSpec): Promise<Secret> {
    return this.secrets.update(idOrName, version, spec);
  }
  removeSecret(idOrName: string): Promise<void> {
    return this.secrets.remove(idOrName);
  }
  createConfig(spec: DataObjectSpec): Promise<Config> {
    return this.configs.create(spec);
  }
  getConfig(idOrName: string): Config {
    return this.configs.get(idOrName);
  }
  listConfigs(filters?: Filters): Config[] {
    return this.configs.list(filters);
  }
  updateConfig(idOrName: string, version: number, spec: DataObjectSpec): Promise<Config> {
    return this.configs.update(idOrName, version, spec);
  }
  removeConfig(idOrName: string): Promise<void> {
    return this.configs.remove(idOrName);
  }

  // ---- services ----

  async createService(input: ServiceSpec): Promise<Service> {
    // A complete object whatever the caller built (absent lists become empty, as a decoded message's are).
    const spec = ServiceSpec.fromPartial(input);
    const named =
      spec.annotations?.name === '' || spec.annotations === undefined
        ? { ...spec, annotations: { labels: spec.annotations?.labels ?? {}, name: this.randomName() } }
        : spec;
    checkServiceSpec(named);
    const full = withDefaults(named);
    const id = this.store.newId();
    await this.write(publishes(full), (tx) => {
      const taken = tx.getByName('service', full.annotations!.name);
      if (taken)
        throw conflict(
          `name conflicts with an existing object: service ${full.annotations!.name} already exists`,
          'spec.annotations.name',
        );
      checkReferences(tx, full, undefined);
      tx.create('service', {
        id,
        meta: undefined,
        spec: full,
        previousSpec: undefined,
        endpoint: { spec: full.endpointSpec, ports: [], virtualIps: [] },
        updateStatus: undefined,
        pendingDelete: false,
      });
    });
    return this.getService(id);
  }

  async updateService(
    idOrName: string,
    version: number,
    spec: ServiceSpec,
    options: UpdateServiceOptions = {},
  ): Promise<Service> {
    const current = this.getService(idOrName);
    if (current.meta?.version !== version) throw outOfSequence();
    let next: ServiceSpec;
    if (options.rollback === 'previous') {
      if (!current.previousSpec)
        throw new ShoalError('failed_precondition', `service ${current.id} does not have a previous spec`);
      next = current.previousSpec;
    } else {
      const full = ServiceSpec.fromPartial(spec);
      checkServiceSpec(full);
      next = withDefaults(full);
    }
    const cur = current.spec!;
    if (next.annotations?.name !== cur.annotations?.name)
      throw invalidArgument('spec.annotations.name', 'renaming services is not supported');
    if (next.mode?.$case !== cur.mode?.$case)
      throw invalidArgument('spec.mode', 'service mode change is not allowed');
    await this.write(publishes(next), (tx) => {
      const s = clone('service', tx.get('service', current.id) ?? current);
      if (s.meta?.version !== version) throw outOfSequence();
      checkReferences(tx, next, current.id);
      s.previousSpec = cur;
      s.spec = next;
      s.endpoint = { ...(s.endpoint ?? { ports: [], virtualIps: [] }), spec: next.endpointSpec };
      s.updateStatus =
        options.rollback === 'previous'
          ? {
              state: UpdateState.UPDATE_STATE_ROLLBACK_STARTED,
              startedAt: this.clock(),
              completedAt: 0,
              message: 'manually requested rollback',
            }
          : undefined;
      tx.update('service', s);
    });
    return this.getService(current.id);
  }

  /** Deletes the service; the orchestrator then shuts down and removes its tasks (swarmkit's order). */
  async removeService(idOrName: string): Promise<void> {
    const s = this.getService(idOrName);
    await this.store.update((tx) => tx.remove('service', s.id));
  }

  getService(idOrName: string): Service {
    const s = this.store.view((tx) => findService(tx, idOrName));
    if (!s) throw notFound(`service ${idOrName} not found`, 'id');
    return s;
  }

  listServices(filters: Filters = {}): Service[] {
    checkFilterKeys(filters, SERVICE_FILTERS);
    return this.store.view((tx) =>
      tx
        .list('service')
        .filter(
          (s) =>
            !s.pendingDelete &&
            anyOf(filters.id, (v) => s.id.startsWith(v)) &&
            anyOf(filters.name, (v) => (s.spec?.annotations?.name ?? '').startsWith(v)) &&
            labelsMatch(filters.label, s.spec?.annotations?.labels ?? {}) &&
            anyOf(filters.mode, (v) => v === (s.spec?.mode?.$case ?? 'replicated')),
        ),
    );
  }

  // ---- tasks ----

  getTask(id: string): Task {
    const t = this.store.view((tx) => tx.get('task', id) ?? prefixMatch(tx.list('task'), id, 'task'));
    if (!t) throw notFound(`task ${id} not found`, 'id');
    return t;
  }

  listTasks(filters: Filters = {}): Task[] {
    checkFilterKeys(filters, TASK_FILTERS);
    for (const v of filters['desired-state'] ?? []) {
      if (!DESIRED_STATES[v])
        throw invalidArgument(
          'filters',
          `invalid filter 'desired-state=${v}' (running, shutdown or accepted)`,
        );
    }
    return this.store.view((tx) => {
      const services = new Map(tx.list('service').map((s) => [s.id, s]));
      // Services and nodes are named by id, a prefix of one, or their name (dockerd resolves them first).
      const serviceIds = filters.service?.map((ref) => findService(tx, ref)?.id ?? ref);
      const nodeIds = filters.node?.map((ref) => findNode(tx, ref)?.id ?? ref);
      return tx.list('task').filter((t) => {
        // A network attachment is a container's, shown by the node that runs it (`docker ps`), not a task.
        if (isAttachment(t)) return false;
        const svc = services.get(t.serviceId);
        return (
          anyOf(filters.id, (v) => t.id.startsWith(v)) &&
          anyOf(filters.name, (v) => taskName(t, svc).startsWith(v)) &&
          anyOf(serviceIds, (v) => t.serviceId === v) &&
          anyOf(nodeIds, (v) => t.nodeId === v) &&
          anyOf(filters['desired-state'], (v) => DESIRED_STATES[v]!(t.desiredState)) &&
          // Task label filters match the service's labels (what dockerd does; `stack ps` relies on it).
          labelsMatch(filters.label, svc?.spec?.annotations?.labels ?? {}) &&
          anyOf(filters['_up-to-date'], () => svc !== undefined && runsCurrentSpec(t, svc))
        );
      });
    });
  }

  serviceTaskCounts(services: readonly Service[]): Map<string, ServiceTaskCounts> {
    // `service ls` (and a bench) poll this: running tasks are counted by the store's `running` index, and only
    // the tasks of down nodes (which do not count) and of global services are looked at one by one. A walk of
    // every task cost the leader ~150 ms a call at 100,000 tasks.
    const counts = new Map<string, ServiceTaskCounts>();
    this.store.view((tx) => {
      const down = new Set<string>();
      for (const n of tx.list('node')) if (n.status?.state === NodeState.NODE_STATE_DOWN) down.add(n.id);
      for (const s of services) {
        const mode = s.spec?.mode;
        const c = { running: tx.count('task', 'running', s.id), desired: 0 };
        if (mode?.$case === 'replicated') c.desired = mode.value.replicas;
        else if (mode?.$case === 'global')
          for (const t of tx.findUnordered('task', 'service', s.id))
            if (!down.has(t.nodeId) && t.desiredState === TaskState.TASK_STATE_RUNNING) c.desired++;
        counts.set(s.id, c);
      }
      for (const id of down)
        for (const t of tx.findUnordered('task', 'node', id)) {
          const c = counts.get(t.serviceId);
          if (c && t.status?.state === TaskState.TASK_STATE_RUNNING) c.running--;
        }
    });
    return counts;
  }

  // ---- nodes ----

  getNode(idOrName: string): Node {
    const n = this.store.view((tx) => findNode(tx, idOrName));
    if (!n) throw notFound(`node ${idOrName} not found`, 'id');
    return n;
  }

  listNodes(filters: Filters = {}): Node[] {
    checkFilterKeys(filters, NODE_FILTERS);
    return this.store.view((tx) =>
      tx
        .list('node')
        .filter(
          (n) =>
            anyOf(filters.id, (v) => n.id.startsWith(v)) &&
            anyOf(filters.name, (v) => nodeName(n).startsWith(v)) &&
            labelsMatch(filters.label, n.description?.engine?.labels ?? {}) &&
            labelsMatch(filters['node.label'], n.spec?.annotations?.labels ?? {}) &&
            anyOf(filters.role, (v) => v === roleName(n.role || n.spec?.desiredRole || 0)) &&
            anyOf(filters.membership, (v) => v === 'accepted'),
        ),
    );
  }

  async updateNode(id: string, version: number, spec: NodeSpec): Promise<Node> {
    const node = this.getNode(id);
    if (node.meta?.version !== version) throw outOfSequence();
    if (spec.annotations?.name) checkName(spec.annotations.name, 'spec.annotations.name');
    if (!spec.availability) throw invalidArgument('spec.availability', 'must be active, pause or drain');
    if (!spec.desiredRole) throw invalidArgument('spec.role', 'must be worker or manager');
    await this.store.update((tx) => {
      const n = clone('node', tx.get('node', node.id) ?? node);
      if (n.meta?.version !== version) throw outOfSequence();
      const demoting =
        n.spec?.desiredRole === NodeRole.NODE_ROLE_MANAGER && spec.desiredRole === NodeRole.NODE_ROLE_WORKER;
      if (demoting) checkDemotion(tx, n);
      n.spec = spec;
      tx.update('node', n);
    });
    return this.getNode(node.id);
  }

  /**
   * Refuses a manager that is a raft member (demote it first; a reachable one even when forced) and a node that
   * is not down unless forced, as dockerd does. A forced removal of an unreachable manager demotes it first
   * (the leader's membership reconciler takes it out of raft), waits for that, then removes the node.
   */
  async removeNode(id: string, force: boolean): Promise<void> {
    const node = this.getNode(id);
    if (isManagerNode(node)) {
      // Gone: unreachable as the leader sees it, or not in raft yet and down.
      const gone = node.managerStatus
        ? node.managerStatus.reachability === Reachability.REACHABILITY_UNREACHABLE
        : node.status?.state === NodeState.NODE_STATE_DOWN;
      if (!force || !gone)
        throw new ShoalError(
          'failed_precondition',
          `node ${node.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
        );
      await this.store.update((tx) => {
        const n = tx.get('node', node.id);
        if (!n) throw notFound(`node ${node.id} not found`, 'id');
        if (n.spec?.desiredRole !== NodeRole.NODE_ROLE_MANAGER) return;
        checkDemotion(tx, n);
        const next = clone('node', n);
        next.spec = { ...(next.spec as NodeSpec), desiredRole: NodeRole.NODE_ROLE_WORKER };
        tx.update('node', next);
      });
      await this.waitDemoted(node.id);
    } else if (!force && node.status?.state === NodeState.NODE_STATE_READY) {
      throw new ShoalError(
        'failed_precondition',
        `node ${node.id} is not down and can't be removed (use --force to remove it anyway)`,
      );
    }
    await this.store.update((tx) => tx.remove('node', node.id));
  }

  /** Until the leader's membership reconciler has taken the node out of raft and made it a worker. */
  private async waitDemoted(id: string, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const n = this.store.view((tx) => tx.get('node', id));
      if (!n || !isManagerNode(n)) return;
      if (Date.now() > end)
        throw new ShoalError(
          'unavailable',
          `node ${id} is being demoted but has not left the raft group yet; run the command again`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // ---- the cluster ----

  getCluster(): Cluster {
    const c = this.store.view((tx) => tx.list('cluster')[0]);
    if (!c) throw notFound('the swarm has no cluster object yet', 'cluster');
    return c;
  }

  async updateCluster(
    version: number,
    spec: ClusterSpec,
    options: UpdateClusterOptions = {},
  ): Promise<Cluster> {
    const cluster = this.getCluster();
    if (cluster.meta?.version !== version) throw outOfSequence();
    checkClusterSpecUpdate(cluster.spec, spec, { minNodeCertExpiryMs: this.ca?.minNodeCertExpiryMs });
    if ((options.rotateWorkerToken || options.rotateManagerToken) && !this.ca)
      throw new ShoalError('unavailable', 'join tokens cannot be rotated: this manager has no CA');
    const rotation = await this.rootRotationFor(cluster, spec);
    await this.store.update((tx) => {
      const c = clone('cluster', tx.get('cluster', cluster.id) ?? cluster);
      if (c.meta?.version !== version) throw outOfSequence();
      const name = c.spec?.annotations?.name ?? 'default';
      // The operator's root key goes into the rotation, never into the spec that `swarm inspect` shows.
      const caConfig = spec.caConfig && {
        ...spec.caConfig,
        signingCaCert: Buffer.alloc(0),
        signingCaKey: Buffer.alloc(0),
      };
      c.spec = { ...spec, caConfig, annotations: { name, labels: spec.annotations?.labels ?? {} } };
      if (c.rootCa && this.ca) {
        const tokens = { ...(c.rootCa.joinTokens ?? { worker: '', manager: '' }) };
        if (options.rotateWorkerToken) tokens.worker = this.ca.newJoinToken('worker', c);
        if (options.rotateManagerToken) tokens.manager = this.ca.newJoinToken('manager', c);
        c.rootCa = { ...c.rootCa, joinTokens: tokens };
        if (rotation) {
          if (c.rootCa.rootRotation) throw rotationUnderWay();
          c.rootCa = {
            ...c.rootCa,
            rootRotation: rotation,
            lastForcedRotation: spec.caConfig?.forceRotate ?? 0,
          };
        }
      }
      tx.update('cluster', c);
    });
    return this.getCluster();
  }

  /**
   * The rotation a spec asks for (CAConfig.ForceRotate raised, or an operator's root given), made before the
   * write; refused while one is under way.
   */
  private async rootRotationFor(cluster: Cluster, spec: ClusterSpec): Promise<RootRotation | undefined> {
    const ca = spec.caConfig;
    const forced = (ca?.forceRotate ?? 0) > (cluster.rootCa?.lastForcedRotation ?? 0);
    const external = (ca?.signingCaCert.length ?? 0) > 0 || (ca?.signingCaKey.length ?? 0) > 0;
    if ((ca?.forceRotate ?? 0) < (cluster.rootCa?.lastForcedRotation ?? 0))
      throw invalidArgument(
        'spec.ca_config.force_rotate',
        `must not go below ${cluster.rootCa?.lastForcedRotation} (the last rotation asked for)`,
      );
    if (!forced && !external) return undefined;
    if (external && !(ca?.signingCaCert.length && ca.signingCaKey.length))
      throw invalidArgument(
        ca?.signingCaCert.length ? 'spec.ca_config.signing_ca_key' : 'spec.ca_config.signing_ca_cert',
        'an external root needs both its certificate and its key',
      );
    if (!this.ca?.beginRotation)
      throw new ShoalError('unavailable', 'the root CA cannot be rotated: this manager has no CA');
    if (cluster.rootCa?.rootRotation) throw rotationUnderWay();
    return this.ca.beginRotation(
      cluster,
      external
        ? {
            certPem: Buffer.from(ca!.signingCaCert).toString(),
            keyPem: Buffer.from(ca!.signingCaKey).toString(),
          }
        : undefined,
    );
  }

  // ---- networks ----

  /** Checks, allocates the subnets, gateways and VXLAN id, and stores a swarm network. */
  async createNetwork(input: NetworkSpec): Promise<Network> {
    const spec = checkNetworkSpec(input);
    const name = spec.annotations!.name;
    const id = this.store.newId();
    await this.write(true, (tx) => {
      if (tx.getByName('network', name))
        throw conflict(`network with name ${name} already exists`, 'spec.annotations.name');
      const ingress = tx.list('network').find((n) => n.spec?.ingress);
      if (spec.ingress && ingress)
        throw conflict(
          `ingress network already exists: ${ingress.spec?.annotations?.name ?? ingress.id}`,
          'spec.ingress',
        );
      // Against removed networks too while their tasks drain (their nodes still hold the overlay).
      const a = allocateNetwork(spec, networksHolding(tx), tx.list('cluster')[0]);
      tx.create('network', { id, meta: undefined, spec, driverState: a.driverState, ipam: a.ipam });
    });
    return this.getNetwork(id);
  }

  getNetwork(idOrName: string): Network {
    const n = this.store.view((tx) => findNetwork(tx, idOrName));
    if (!n) throw notFound(`network ${idOrName} not found`, 'id');
    return n;
  }

  listNetworks(filters: Filters = {}): Network[] {
    return this.store.view((tx) => listNetworks(tx, filters));
  }

  /** Refused while services use it (all named), or, for ingress, while services publish ingress ports. */
  async removeNetwork(idOrName: string): Promise<void> {
    const n = this.getNetwork(idOrName);
    await this.store.update((tx) => {
      const cur = tx.get('network', n.id);
      if (!cur) throw notFound(`network ${idOrName} not found`, 'id');
      const why = removalRefusal(tx, cur);
      if (why) throw new ShoalError('failed_precondition', why, { field: 'id' });
      tx.remove('network', n.id);
    });
  }

  async pruneNetworks(filters: Filters = {}): Promise<string[]> {
    const r = await this.store.update((tx) => {
      const gone = prunable(tx, filters, this.clock());
      for (const n of gone) tx.remove('network', n.id);
      return gone.map((n) => n.spec?.annotations?.name ?? n.id);
    });
    return r.value;
  }

  /**
   * One store transaction. `serial` writes (network creates, services publishing ports) also rewrite the
   * cluster object at the version they read, so two of them racing from different managers cannot both
   * commit decisions made on the same state (subnets, VXLAN ids, published ports): the loser is retried on
   * the new state.
   */
  private async write(serial: boolean, fn: (tx: WriteTx) => void): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.update((tx) => {
          fn(tx);
          const c = serial ? tx.list('cluster')[0] : undefined;
          if (c) tx.update('cluster', c);
        });
        return;
      } catch (err) {
        const raced =
          isShoalError(err, 'conflict') && err.field === 'meta.version' && err.message.startsWith('cluster ');
        if (!serial || !raced || attempt >= SERIAL_RETRIES) throw err;
      }
    }
  }

  private randomName(): string {
    const pick = (xs: string[]) => xs[Math.floor(this.random() * xs.length)]!;
    return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${Math.floor(this.random() * 1000)}`;
  }
}

/**
 * Whether the task runs the service's current task template (swarmkit's "not dirty"): what the CLI's
 * progress poll asks with `_up-to-date`. A scale changes the service's version but not its template, so the
 * template is compared, not the version.
 */
export function runsCurrentSpec(t: Task, svc: Service): boolean {
  const a = TaskSpec.encode(TaskSpec.fromPartial(t.spec ?? {})).finish();
  const b = TaskSpec.encode(TaskSpec.fromPartial(svc.spec?.taskTemplate ?? {})).finish();
  return Buffer.from(a).equals(Buffer.from(b));
}

const DESIRED_STATES: Record<string, (s: TaskState) => boolean> = {
  running: (s) => s === TaskState.TASK_STATE_RUNNING,
  shutdown: (s) => s === TaskState.TASK_STATE_SHUTDOWN || s === TaskState.TASK_STATE_REMOVE,
  accepted: (s) => s === TaskState.TASK_STATE_ACCEPTED,
};

export const roleName = (r: NodeRole): string => (r === NodeRole.NODE_ROLE_MANAGER ? 'manager' : 'worker');

const nodeName = (n: Node) => n.spec?.annotations?.name || n.description?.hostname || '';

/** "web.3" (replicated) or "web.<node id>" (global): the name `service ps` shows and filters on. */
export function taskName(t: Task, svc: Service | undefined): string {
  if (t.annotations?.name) return t.annotations.name;
  const base = svc?.spec?.annotations?.name ?? t.serviceAnnotations?.name ?? t.serviceId;
  return t.slot > 0 ? `${base}.${t.slot}` : `${base}.${t.nodeId}`;
}

/** Secrets and configs (by id) and networks (by id or name) the spec names must exist (swarmkit's checks). */
const publishes = (spec: ServiceSpec): boolean =>
  (spec.endpointSpec?.ports ?? []).some((p) => p.publishedPort > 0);

function checkReferences(tx: ReadTx, spec: ServiceSpec, selfId: string | undefined): void {
  checkReservationFits(tx, spec);
  checkPorts(tx, spec, selfId);
  const t = spec.taskTemplate;
  const c = t?.containerSpec;
  const targets = new Map<string, string>();
  const claim = (what: string, field: string, ref: string, target: string | undefined) => {
    if (!target) throw invalidArgument(field, `malformed file ${what} reference`);
    const other = targets.get(target);
    if (other !== undefined)
      throw new ShoalError(
        'invalid_argument',
        `${what} references '${other}' and '${ref}' have a conflicting target: '${target}'`,
        { field },
      );
    targets.set(target, ref);
  };
  for (const [i, r] of (c?.secrets ?? []).entries())
    claim('secret', `spec.task_template.container_spec.secrets[${i}].file.name`, r.secretName, r.file?.name);
  targets.clear();
  for (const [i, r] of (c?.configs ?? []).entries())
    claim('config', `spec.task_template.container_spec.configs[${i}].file.name`, r.configName, r.file?.name);
  c?.secrets.forEach((r, i) => {
    if (!tx.get('secret', r.secretId))
      throw invalidArgument(
        `spec.task_template.container_spec.secrets[${i}]`,
        `secret not found: ${r.secretName || r.secretId}`,
      );
  });
  c?.configs.forEach((r, i) => {
    if (!tx.get('config', r.configId))
      throw invalidArgument(
        `spec.task_template.container_spec.configs[${i}]`,
        `config not found: ${r.configName || r.configId}`,
      );
  });
  const seen = new Set<string>();
  t?.networks.forEach((n, i) => {
    const f = `spec.task_template.networks[${i}]`;
    const net = findNetwork(tx, n.target);
    if (!net) throw invalidArgument(f, `network ${n.target} not found`);
    if (net.spec?.ingress)
      throw invalidArgument(f, 'service cannot be explicitly attached to the ingress network');
    if (seen.has(net.id)) throw invalidArgument(f, `network ${n.target} is named twice`);
    seen.add(net.id);
    n.aliases.forEach((a, j) => {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(a))
        throw invalidArgument(`${f}.aliases[${j}]`, `invalid alias "${a}": not a DNS name`);
    });
  });
}

const GiB = 1024 ** 3;

/**
 * Refuses a reservation no node of the swarm could ever give (swarmkit stores it and leaves its tasks
 * pending with "insufficient resources"; a typo such as 100T is better named at once). Skipped while no
 * node has reported its resources.
 */
function checkReservationFits(tx: ReadTx, spec: ServiceSpec): void {
  const r = spec.taskTemplate?.resources?.reservations;
  if (!r || (r.nanoCpus <= 0 && r.memoryBytes <= 0)) return;
  const sizes = tx
    .list('node')
    .map((n) => n.description?.resources)
    .filter((x) => x !== undefined && (x.nanoCpus > 0 || x.memoryBytes > 0));
  if (sizes.length === 0) return;
  if (sizes.some((x) => x!.nanoCpus >= r.nanoCpus && x!.memoryBytes >= r.memoryBytes)) return;
  const cpus = Math.max(...sizes.map((x) => x!.nanoCpus)) / 1e9;
  const mem = Math.max(...sizes.map((x) => x!.memoryBytes)) / GiB;
  throw invalidArgument(
    'spec.task_template.resources.reservations',
    `no node can reserve ${r.nanoCpus / 1e9} CPUs and ${(r.memoryBytes / GiB).toFixed(2)} GiB of memory (the largest node has ${cpus} CPUs and ${mem.toFixed(2)} GiB)`,
  );
}

function managers(tx: ReadTx): Node[] {
  return tx.list('node').filter((n) => n.spec?.desiredRole === NodeRole.NODE_ROLE_MANAGER);
}

/** A manager, or a node still on its way out of raft. */
const isManagerNode = (n: Node) =>
  n.role === NodeRole.NODE_ROLE_MANAGER ||
  n.spec?.desiredRole === NodeRole.NODE_ROLE_MANAGER ||
  n.managerStatus !== undefined;

/**
 * swarmkit's demotion checks: never the last manager, and never when the raft members left could not form a
 * quorum with those reachable (the leader's reachability, in the store's ManagerStatus).
 */
function checkDemotion(tx: ReadTx, n: Node): void {
  const all = managers(tx);
  if (all.length <= 1 && all[0]?.id === n.id)
    throw new ShoalError('failed_precondition', 'attempting to demote the last manager of the swarm');
  // Raft ids already out of the group (e.g. lost by --force-new-cluster) count for nothing.
  const removed = new Set(tx.list('cluster')[0]?.removedRaftIds ?? []);
  const inRaft = (m: Node) => !!m.managerStatus?.raftId && !removed.has(m.managerStatus.raftId);
  if (!inRaft(n)) return;
  const members = tx.list('node').filter(inRaft);
  const remaining = members.filter((m) => m.id !== n.id);
  const reachable = remaining.filter(
    (m) => m.managerStatus?.reachability === Reachability.REACHABILITY_REACHABLE,
  ).length;
  if (reachable < Math.floor(remaining.length / 2) + 1)
    throw new ShoalError(
      'failed_precondition',
      `can't remove member from the raft: this would result in a loss of quorum (${reachable} of the ${remaining.length} other managers are reachable; more than half must be)`,
    );
}

function prefixMatch<T extends { id: string }>(xs: T[], prefix: string, what: string): T | undefined {
  const hits = xs.filter((x) => x.id.startsWith(prefix));
  if (hits.length > 1) throw invalidArgument('id', `${what} ${prefix} is ambiguous (${hits.length} matches)`);
  return hits[0];
}

/** By id, name, then unique id prefix (dockerd's order). */
function findService(tx: ReadTx, ref: string): Service | undefined {
  const s = tx.lookup('service', ref) ?? prefixMatch(tx.list('service'), ref, 'service');
  return s?.pendingDelete ? undefined : s;
}

/** By id, name, then unique id prefix. */
function findNetwork(tx: ReadTx, ref: string): Network | undefined {
  return tx.lookup('network', ref) ?? prefixMatch(tx.list('network'), ref, 'network');
}

function findNode(tx: ReadTx, ref: string): Node | undefined {
  return (
    tx.get('node', ref) ??
    tx.list('node').find((n) => n.spec?.annotations?.name === ref || n.description?.hostname === ref) ??
    prefixMatch(tx.list('node'), ref, 'node')
  );
}
