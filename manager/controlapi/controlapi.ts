// The control API's semantics over the store: what `docker service|node|swarm` may change, checked, with
// Docker's defaults and messages. Transport-free: the leader calls it directly; a follower will forward the
// same calls over gRPC. Every write is one store transaction, so a rejected call changes nothing.
import { conflict, invalidArgument, notFound, ShoalError } from '../../common/errors.js';
import type { Cluster, Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import {
  type ClusterSpec,
  type NodeSpec,
  ServiceSpec,
  TaskSpec,
} from '../../proto/gen/shoal/swarm/v1/specs.js';
import { NodeRole, NodeState, TaskState, UpdateState } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { ReadTx, Store } from '../store/index.js';
import { clone } from '../store/tables.js';
import { anyOf, checkFilterKeys, type Filters, labelsMatch } from './filters.js';
import { checkName, checkServiceSpec, withDefaults } from './spec.js';

/** The CA's part in cluster updates: fresh join tokens for the current root (manager/ca's generateToken). */
export interface CaPort {
  newJoinToken(role: 'worker' | 'manager', cluster: Cluster): string;
}

export interface UpdateServiceOptions {
  /** "previous": swap in the previous spec (the body's spec is ignored, as dockerd does). */
  rollback?: 'previous';
}

export interface UpdateClusterOptions {
  rotateWorkerToken?: boolean;
  rotateManagerToken?: boolean;
}

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
  getNode(idOrName: string): Node;
  listNodes(filters?: Filters): Node[];
  updateNode(id: string, version: number, spec: NodeSpec): Promise<Node>;
  removeNode(id: string, force: boolean): Promise<void>;
  getCluster(): Cluster;
  updateCluster(version: number, spec: ClusterSpec, options?: UpdateClusterOptions): Promise<Cluster>;
}

const outOfSequence = (field = 'version') => conflict('update out of sequence', field);

const SERVICE_FILTERS = ['id', 'name', 'label', 'mode'] as const;
const TASK_FILTERS = ['id', 'name', 'service', 'node', 'desired-state', 'label', '_up-to-date'] as const;
const NODE_FILTERS = ['id', 'name', 'label', 'node.label', 'role', 'membership'] as const;

const ADJECTIVES = ['brave', 'calm', 'eager', 'gentle', 'jolly', 'keen', 'lucid', 'quiet', 'swift', 'wise'];
const NOUNS = ['heron', 'otter', 'pike', 'perch', 'trout', 'carp', 'tench', 'roach', 'dace', 'bream'];

export class ControlApi implements ControlOperations {
  constructor(
    private readonly store: Store,
    private readonly ca?: CaPort,
    private readonly random: () => number = Math.random,
    /** Unix ms (UpdateStatus.started_at of a rollback). */
    private readonly now: () => number = Date.now,
  ) {}

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
    await this.store.update((tx) => {
      const taken = tx.getByName('service', full.annotations!.name);
      if (taken)
        throw conflict(
          `name conflicts with an existing object: service ${full.annotations!.name} already exists`,
          'spec.annotations.name',
        );
      checkReferences(tx, full);
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
    await this.store.update((tx) => {
      const s = clone('service', tx.get('service', current.id) ?? current);
      if (s.meta?.version !== version) throw outOfSequence();
      if (options.rollback !== 'previous') checkReferences(tx, next);
      s.previousSpec = cur;
      s.spec = next;
      s.endpoint = { ...(s.endpoint ?? { ports: [], virtualIps: [] }), spec: next.endpointSpec };
      s.updateStatus =
        options.rollback === 'previous'
          ? {
              state: UpdateState.UPDATE_STATE_ROLLBACK_STARTED,
              startedAt: this.now(),
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
        const svc = services.get(t.serviceId);
        const name = taskName(t, svc);
        return (
          anyOf(filters.id, (v) => t.id.startsWith(v)) &&
          anyOf(filters.name, (v) => name.startsWith(v)) &&
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
      if (demoting && managers(tx).length <= 1)
        throw new ShoalError('failed_precondition', 'attempting to demote the last manager of the swarm');
      n.spec = spec;
      tx.update('node', n);
    });
    return this.getNode(node.id);
  }

  /** Refuses a manager (demote it first) and a node that is not down unless forced, as dockerd does. */
  async removeNode(id: string, force: boolean): Promise<void> {
    const node = this.getNode(id);
    if (
      node.role === NodeRole.NODE_ROLE_MANAGER ||
      node.spec?.desiredRole === NodeRole.NODE_ROLE_MANAGER ||
      node.managerStatus
    ) {
      throw new ShoalError(
        'failed_precondition',
        `node ${node.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
      );
    }
    if (!force && node.status?.state === NodeState.NODE_STATE_READY) {
      throw new ShoalError(
        'failed_precondition',
        `node ${node.id} is not down and can't be removed (use --force to remove it anyway)`,
      );
    }
    await this.store.update((tx) => tx.remove('node', node.id));
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
    const limit = spec.orchestration?.taskHistoryRetentionLimit ?? 0;
    if (!Number.isSafeInteger(limit))
      throw invalidArgument('spec.orchestration.task_history_retention_limit', 'must be an integer');
    const hb = spec.dispatcher?.heartbeatPeriod;
    if (hb && (hb.seconds < 0 || hb.nanos < 0 || (hb.seconds === 0 && hb.nanos === 0)))
      throw invalidArgument('spec.dispatcher.heartbeat_period', 'must be positive');
    if (spec.encryptionConfig?.autoLockManagers)
      throw invalidArgument(
        'spec.encryption_config.auto_lock_managers',
        'autolock is not supported by shoal',
      );
    if ((options.rotateWorkerToken || options.rotateManagerToken) && !this.ca)
      throw new ShoalError('unavailable', 'join tokens cannot be rotated: this manager has no CA');
    await this.store.update((tx) => {
      const c = clone('cluster', tx.get('cluster', cluster.id) ?? cluster);
      if (c.meta?.version !== version) throw outOfSequence();
      const name = c.spec?.annotations?.name ?? 'default';
      c.spec = { ...spec, annotations: { name, labels: spec.annotations?.labels ?? {} } };
      if (c.rootCa && this.ca) {
        const tokens = { ...(c.rootCa.joinTokens ?? { worker: '', manager: '' }) };
        if (options.rotateWorkerToken) tokens.worker = this.ca.newJoinToken('worker', c);
        if (options.rotateManagerToken) tokens.manager = this.ca.newJoinToken('manager', c);
        c.rootCa = { ...c.rootCa, joinTokens: tokens };
      }
      tx.update('cluster', c);
    });
    return this.getCluster();
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
function checkReferences(tx: ReadTx, spec: ServiceSpec): void {
  checkReservationFits(tx, spec);
  const t = spec.taskTemplate;
  const c = t?.containerSpec;
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
  t?.networks.forEach((n, i) => {
    if (!tx.lookup('network', n.target))
      throw invalidArgument(`spec.task_template.networks[${i}]`, `network ${n.target} not found`);
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

function findNode(tx: ReadTx, ref: string): Node | undefined {
  return (
    tx.get('node', ref) ??
    tx.list('node').find((n) => n.spec?.annotations?.name === ref || n.description?.hostname === ref) ??
    prefixMatch(tx.list('node'), ref, 'node')
  );
}
