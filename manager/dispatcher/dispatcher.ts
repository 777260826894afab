// The leader's side of the worker sessions (swarmkit's manager/dispatcher), as a core with an injected
// clock: the gRPC service (service.ts) only translates.
//
//   register ─► node READY + description in the store ─► SessionStarted, then a COMPLETE assignment set
//   store watch (task, node) ─► per-session INCREMENTAL changes (debounced)
//   heartbeat ─► pushes the node's deadline (period × grace); a missed deadline ─► node DOWN, session closed
//   task status reports ─► checked, coalesced per task, written in one store transaction per window
//
// Only the leader runs it (start/stop). A new leader gives every node that was not down a longer grace to
// open a session again, so a failover does not mark the whole cluster down.
import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../../common/clock.js';
import { compareText } from '../../common/compare.js';
import { invalidArgument, isShoalError, notFound, ShoalError, unavailable } from '../../common/errors.js';
import {
  AssignmentAction,
  type AssignmentChange,
  AssignmentsType,
  type AttachNetworkRequest,
  type AttachNetworkResponse,
  type IgnoredUpdate,
  type SessionMessage,
  type TaskStatusUpdate,
  type WeightedPeer,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import {
  type Config,
  type Node,
  type NodeDescription,
  Secret,
  Task,
} from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeState, type TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';
import type { EventOf, Store } from '../store/index.js';
import { dependenciesOf, forWorker, isAssigned, sameForWorker } from './assignments.js';
import { allocatedAttachment, createAttachment, removeAttachment } from './attach.js';
import { DEFAULT_TIMING, type DispatcherTiming, durationOf, heartbeatPeriodOf } from './config.js';
import { NetworkPlans, planFingerprint, touchesNetworkPlans } from './networks.js';
import { checkOwner, checkReport, newer, staleReason, withStatus } from './status.js';

/** Where a session's messages go (the gRPC stream). */
export interface SessionSink {
  send(message: SessionMessage): void;
  /** Ends the stream with this error; the worker opens a new session (here or at another manager). */
  close(err: ShoalError): void;
}

export interface RegisterRequest {
  /** From the caller's certificate. */
  nodeId: string;
  description: NodeDescription | undefined;
  /** The address the node is reached at (advertised, else the session's peer address). */
  addr: string;
}

export interface DispatcherOptions {
  clock?: Clock;
  timing?: Partial<DispatcherTiming>;
  /** In [0, 1); default Math.random (only spreads heartbeat periods). */
  random?: () => number;
  newSessionId?: () => string;
  /** The managers workers may fail over to; default: the store's nodes with a manager status. */
  managers?: () => WeightedPeer[];
  /** How far the store watch may fall behind before it is replaced (and every session resynced). */
  watchLimit?: number;
  /** Failures with nowhere to go (a store write after the caller left); default console.warn. */
  log?: (message: string, err?: unknown) => void;
  /**
   * A stored secret's data in the clear (manager/secrets' cipher), for the nodes whose tasks need it. Absent:
   * this manager has no data key and sends no secrets (their tasks fail on the worker, naming the secret).
   */
  openSecret?: (secret: Secret) => Buffer;
}

interface Session {
  id: string;
  nodeId: string;
  sink: SessionSink;
  /**
   * Tasks the worker was told about, by id → the copy it was told (compared with sameForWorker: encoding
   * every task of a node for a fingerprint cost a new leader ~1 s under load as 200 nodes registered again).
   */
  known: Map<string, Task>;
  /** The secrets and configs each known task needs ("secret/<id>", "config/<id>"). */
  refs: Map<string, string[]>;
  /** The secrets and configs the worker was sent (and not told to drop since). */
  deps: Set<string>;
  /** The network plans the worker was sent: network id → fingerprint. */
  nets: Map<string, string>;
  /** Something a network plan is made of changed since the last send. */
  netsDirty: boolean;
  /** Store index of the last COMPLETE: watch events at or before it are already reflected. */
  baseIndex: number;
  seq: number;
  lastResult: string;
  pending: Map<string, AssignmentChange>;
  timer: unknown;
  /** When the last assignments message went out (clock ms). */
  lastSentAt: number;
  /** The agent said it is stopping: its stream's close is expected and keeps the heartbeat deadline. */
  stopping: boolean;
}

interface StatusBatch {
  items: Map<string, { nodeId: string; status: TaskStatus }>;
  waiters: {
    taskIds: string[];
    resolve: (ignored: IgnoredUpdate[]) => void;
    reject: (err: unknown) => void;
  }[];
}

const CONFLICT_RETRIES = 3;
/** A heartbeat deadline firing this late (ms) means the event loop was stopped (see armDeadline). */
const STALL_MS = 250;

export class Dispatcher {
  private readonly clock: Clock;
  private readonly timing: DispatcherTiming;
  private readonly random: () => number;
  private readonly newSessionId: () => string;
  private readonly managersOf: () => WeightedPeer[];
  private readonly log: (message: string, err?: unknown) => void;

  private running = false;
  /** Bumped by start and stop, so work begun under an earlier run does nothing after it. */
  private generation = 0;
  private watch: { close(): void } | undefined;
  private readonly sessions = new Map<string, Session>();
  /** Each node's heartbeat deadline: its timer and when it is due (clock ms). */
  private readonly deadlines = new Map<string, { timer: unknown; due: number }>();
  private readonly registering = new Set<string>();
  private batch: StatusBatch = emptyBatch();
  private batchTimer: unknown;
  private flushing: Promise<void> = Promise.resolve();
  private writing = false;
  private lastManagers = '';
  /** Network plans of the store as it is since the last event, shared by every session flushed meanwhile. */
  private plansCache: NetworkPlans | undefined;
  private readonly sessionListeners = new Set<(nodeId: string, open: boolean) => void>();

  constructor(
    private readonly store: Store,
    private readonly options: DispatcherOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.random = options.random ?? Math.random;
    this.newSessionId = options.newSessionId ?? randomUUID;
    this.managersOf = options.managers ?? (() => managersInStore(this.store));
    this.log = options.log ?? ((m, e) => console.warn(`dispatcher: ${m}`, e ?? ''));
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * The heartbeat period in force (ms): the cluster's setting, else the default — longer when the sessions
   * would otherwise send more than `maxHeartbeatsPerSecond`. Each node's deadline follows the period it was
   * last handed, so a period that shrinks again never cuts a node short.
   */
  heartbeatPeriodMs(): number {
    return this.periodFor(this.sessions.size);
  }

  /** The heartbeat period handed out once `sessions` nodes have a session. */
  private periodFor(sessions: number): number {
    const cluster = this.store.view((tx) => tx.list('cluster')[0]);
    const base = heartbeatPeriodOf(cluster, this.timing.heartbeatPeriodMs);
    return Math.max(base, Math.ceil((sessions * 1000) / this.timing.maxHeartbeatsPerSecond));
  }

  /** Whether the node has a session now. */
  hasSession(nodeId: string): boolean {
    return this.sessions.has(nodeId);
  }

  /**
   * Sends a message on the node's current session (other leader components use the session too: the log
   * broker's subscriptions); false when the node has none.
   */
  sendToNode(nodeId: string, message: SessionMessage): boolean {
    const s = this.sessions.get(nodeId);
    if (!s) return false;
    s.sink.send(message);
    return true;
  }

  /** Sessions opening (after their COMPLETE set) and ending; returns the unsubscribe function. */
  onSessionChange(listener: (nodeId: string, open: boolean) => void): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  private emitSession(nodeId: string, open: boolean): void {
    for (const l of [...this.sessionListeners]) {
      try {
        l(nodeId, open);
      } catch (err) {
        this.log('a session listener failed', err);
      }
    }
  }

  /** Starts serving (this manager became the leader, with its store caught up). */
  start(): void {
    if (this.running) return;
    this.running = true;
    const gen = ++this.generation;
    this.followStore(gen);
    this.lastManagers = JSON.stringify(this.managersOf());
    // The grace follows the period these nodes will be handed once back, not today's (no session yet): a
    // thousand nodes registering at once with a busy new leader took longer than 1 s × 6, were marked down,
    // their tasks replaced, and the churn cost the next leader its term too.
    const returning = this.store.view((tx) =>
      tx.list('node').filter((n) => n.status?.state !== NodeState.NODE_STATE_DOWN),
    );
    const grace = leaderChangeGraceMs(this.periodFor(returning.length), this.timing);
    for (const node of returning) this.armDeadline(node.id, grace, 'no session with the new leader in time');
  }

  /** Stops serving (leadership lost, shutdown): sessions end UNAVAILABLE, pending reports are refused. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.watch?.close();
    this.watch = undefined;
    for (const t of this.deadlines.values()) this.clock.clearTimeout(t.timer);
    this.deadlines.clear();
    this.registering.clear();
    const gone = unavailable('the dispatcher stopped (this manager is no longer the leader)');
    for (const s of this.sessions.values()) this.endSession(s, gone);
    this.sessions.clear();
    this.clock.clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    const batch = this.batch;
    this.batch = emptyBatch();
    for (const w of batch.waiters) w.reject(gone);
  }

  /**
   * Opens a session: the node's description and address are written and its state becomes READY; then the
   * sink gets SessionStarted and the COMPLETE assignment set. A previous session of the node is ended.
   */
  async register(req: RegisterRequest, sink: SessionSink): Promise<string> {
    this.requireRunning();
    if (!req.description) throw invalidArgument('description', 'is missing');
    const gen = this.generation;
    const { nodeId } = req;
    // No deadline may mark the node down while its READY write is on the way.
    this.clearDeadline(nodeId);
    this.registering.add(nodeId);
    let node: Node;
    try {
      node = await this.updateNode(nodeId, (n) => ({
        ...n,
        description: req.description,
        status: { state: NodeState.NODE_STATE_READY, message: '', addr: req.addr },
      }));
    } catch (err) {
      if (gen === this.generation) {
        this.registering.delete(nodeId);
        this.armDeadline(nodeId, this.deadlineMs(this.heartbeatPeriodMs()), 'heartbeat failure');
      }
      throw err;
    }
    if (gen !== this.generation) throw unavailable('the dispatcher stopped while the node registered');
    this.registering.delete(nodeId);
    const old = this.sessions.get(nodeId);
    if (old) this.endSession(old, unavailable('replaced by a newer session of this node'));
    const period = this.heartbeatPeriodMs();
    const session: Session = {
      id: this.newSessionId(),
      nodeId,
      sink,
      known: new Map(),
      refs: new Map(),
      deps: new Set(),
      nets: new Map(),
      netsDirty: false,
      baseIndex: 0,
      seq: 0,
      lastResult: '',
      pending: new Map(),
      lastSentAt: Number.NEGATIVE_INFINITY,
      timer: undefined,
      stopping: false,
    };
    this.sessions.set(nodeId, session);
    this.armDeadline(nodeId, this.deadlineMs(period), 'heartbeat failure');
    sink.send({
      payload: {
        $case: 'started',
        value: {
          sessionId: session.id,
          node,
          heartbeatPeriod: durationOf(period),
          managers: this.managersOf(),
        },
      },
    });
    this.sendComplete(session);
    this.emitSession(nodeId, true);
    return session.id;
  }

  /**
   * The stream of a session ended on the worker's side (its process died, or it dropped the connection).
   * A live worker opens a new session within one pass over its managers (a few hundred ms: the others name
   * this leader at once), so the node's deadline shrinks to period × `lostSessionGraceMultiplier`: a dead
   * worker's tasks move in about a second, not after the full heartbeat deadline. An agent that said it is
   * stopping (a shoald restart) keeps the whole deadline, as does a node cut off without its connection closing.
   */
  sessionClosed(nodeId: string, sessionId: string): void {
    const s = this.sessions.get(nodeId);
    if (!s || s.id !== sessionId) return;
    this.clock.clearTimeout(s.timer);
    this.sessions.delete(nodeId);
    this.emitSession(nodeId, false);
    if (s.stopping) return;
    const grace = this.heartbeatPeriodMs() * this.timing.lostSessionGraceMultiplier;
    const d = this.deadlines.get(nodeId);
    if (d && d.due - this.clock.now() > grace) this.armDeadline(nodeId, grace, 'session lost');
  }

  /**
   * Pushes the node's deadline; returns the period (ms) until the next heartbeat. `stopping`: the agent is
   * about to close its session (see sessionClosed).
   */
  heartbeat(nodeId: string, sessionId: string, stopping = false): number {
    this.requireRunning();
    const s = this.sessionOf(nodeId, sessionId);
    if (stopping) s.stopping = true;
    const base = this.heartbeatPeriodMs();
    const period = Math.round(base * (1 + this.timing.jitter * (2 * this.random() - 1)));
    this.armDeadline(nodeId, this.deadlineMs(period), 'heartbeat failure');
    return period;
  }

  /**
   * Queues the worker's task status reports; resolves once they are written (or found stale: those are
   * returned as ignored). Refused whole, nothing queued, if any report is malformed or about a task the store
   * gives to another node.
   */
  updateTaskStatus(
    nodeId: string,
    sessionId: string,
    updates: readonly TaskStatusUpdate[],
  ): Promise<IgnoredUpdate[]> {
    this.requireRunning();
    this.sessionOf(nodeId, sessionId);
    const checked = updates.map((u, i) => ({ taskId: u.taskId, status: checkReport(i, u.taskId, u.status) }));
    this.store.view((tx) => {
      for (const u of checked) checkOwner(nodeId, u.taskId, tx.get('task', u.taskId));
    });
    if (checked.length === 0) return Promise.resolve([]);
    const batch = this.batch;
    for (const u of checked) {
      const prev = batch.items.get(u.taskId);
      batch.items.set(u.taskId, { nodeId, status: prev ? newer(prev.status, u.status) : u.status });
    }
    const done = new Promise<IgnoredUpdate[]>((resolve, reject) => {
      batch.waiters.push({ taskIds: checked.map((u) => u.taskId), resolve, reject });
    });
    if (batch.items.size >= this.timing.statusBatchMax) this.flushStatus();
    else if (this.batchTimer === undefined)
      this.batchTimer = this.clock.setTimeout(() => this.flushStatus(), this.timing.statusBatchMs);
    return done;
  }

  // ---- status batches ----

  /**
   * Group commit: one status transaction in flight at a time; what arrives meanwhile waits for it and goes
   * out as the next one. An idle dispatcher so writes a report almost at once, a busy one in large batches.
   */
  private flushStatus(): void {
    this.clock.clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.writing) return; // the write in flight flushes again when it ends
    const batch = this.batch;
    this.batch = emptyBatch();
    if (batch.items.size === 0) return;
    const gen = this.generation;
    this.writing = true;
    this.flushing = this.flushing
      .then(() => this.writeStatus(batch, gen))
      .finally(() => {
        this.writing = false;
        if (gen === this.generation && this.batch.items.size > 0) this.flushStatus();
      });
  }

  private async writeStatus(batch: StatusBatch, gen: number): Promise<void> {
    const reasons = new Map<string, string>();
    const entries = [...batch.items];
    try {
      if (gen !== this.generation)
        throw unavailable('the dispatcher stopped before the reports were written');
      // The transactions of one batch are proposed together (raft writes them with one fsync): a batch of
      // thousands of reports, as a thousand nodes starting tasks send, costs one round, not one per 200.
      const chunks: (typeof entries)[] = [];
      for (let i = 0; i < entries.length; i += this.timing.statusBatchMax)
        chunks.push(entries.slice(i, i + this.timing.statusBatchMax));
      const results = await Promise.allSettled(chunks.map((chunk) => this.writeStatusChunk(chunk, reasons)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (err) {
      for (const w of batch.waiters) w.reject(err);
      return;
    }
    for (const w of batch.waiters) {
      w.resolve(
        w.taskIds.flatMap((taskId) => {
          const reason = reasons.get(taskId);
          return reason && reason !== 'unchanged' ? [{ taskId, reason }] : [];
        }),
      );
    }
  }

  /** One transaction of a batch (tried again on a conflict: a retry starts from the state afresh). */
  private async writeStatusChunk(
    chunk: [string, { nodeId: string; status: TaskStatus }][],
    reasons: Map<string, string>,
  ): Promise<void> {
    await this.withConflictRetry(() =>
      this.store.update((tx) => {
        for (const [taskId] of chunk) reasons.delete(taskId);
        for (const [taskId, { nodeId, status }] of chunk) {
          const task = tx.get('task', taskId);
          if (task && task.nodeId !== nodeId) {
            reasons.set(taskId, `no longer assigned to node ${nodeId}`);
            continue;
          }
          const why = staleReason(task, status);
          if (why) reasons.set(taskId, why);
          else if (task) tx.update('task', withStatus(task, status));
        }
      }),
    );
  }

  // ---- heartbeats ----

  private deadlineMs(periodMs: number): number {
    return periodMs * this.timing.graceMultiplier;
  }

  /**
   * The node is marked down `ms` from now unless a heartbeat re-arms its deadline first. A deadline that
   * fires STALL_MS or more late says this manager's event loop was stopped meanwhile (a long pass, a
   * collection, a busy machine), and heartbeats sent in time may still wait in socket buffers, which the loop
   * reads only after its timers: the deadline then moves on by the stall, up to its own length in all, so a
   * node is marked down only after a deadline's worth of time from a manager able to hear it.
   */
  private armDeadline(nodeId: string, ms: number, why: string, budget = ms): void {
    this.clearDeadline(nodeId);
    const due = this.clock.now() + ms;
    const timer = this.clock.setTimeout(() => {
      const late = this.clock.now() - due;
      if (late >= STALL_MS && budget > 0) {
        const more = Math.min(late, budget);
        this.armDeadline(nodeId, more, why, budget - more);
      } else this.expire(nodeId, why);
    }, ms);
    this.deadlines.set(nodeId, { timer, due });
  }

  private clearDeadline(nodeId: string): void {
    const t = this.deadlines.get(nodeId);
    if (t !== undefined) this.clock.clearTimeout(t.timer);
    this.deadlines.delete(nodeId);
  }

  private expire(nodeId: string, why: string): void {
    this.deadlines.delete(nodeId);
    if (!this.running || this.registering.has(nodeId)) return;
    const s = this.sessions.get(nodeId);
    if (s) {
      this.sessions.delete(nodeId);
      this.endSession(s, unavailable(`session expired: ${why}`));
    }
    this.updateNode(nodeId, (n) =>
      n.status?.state === NodeState.NODE_STATE_DOWN ||
      this.sessions.has(nodeId) ||
      this.registering.has(nodeId)
        ? undefined
        : { ...n, status: { state: NodeState.NODE_STATE_DOWN, message: why, addr: n.status?.addr ?? '' } },
    ).catch((err) => {
      if (!isShoalError(err, 'not_found')) this.log(`marking node ${nodeId} down failed`, err);
    });
  }

  // ---- network attachments of plain containers ----

  /** A container of `nodeId` joins an attachable overlay: answered once it has its address there. */
  async attachNetwork(nodeId: string, req: AttachNetworkRequest): Promise<AttachNetworkResponse> {
    this.requireRunning();
    const id = await createAttachment(this.store, nodeId, req, this.clock.now());
    return allocatedAttachment(this.store, id, this.clock);
  }

  async detachNetwork(nodeId: string, attachmentId: string): Promise<void> {
    this.requireRunning();
    await removeAttachment(this.store, nodeId, attachmentId);
  }

  // ---- assignments ----

  private sendComplete(s: Session): void {
    const { tasks, index } = this.store.view((tx) => ({
      // A network attachment is the node's own container's: nothing for the worker to run.
      tasks: tx
        .findUnordered('task', 'node', s.nodeId)
        .filter((t) => isAssigned(t, s.nodeId) && !isAttachment(t)),
      index: tx.index,
    }));
    this.clock.clearTimeout(s.timer);
    s.timer = undefined;
    s.pending.clear();
    s.known = new Map(tasks.map((t) => [t.id, t]));
    s.refs = new Map(tasks.map((t) => [t.id, dependenciesOf(t)]));
    s.deps = new Set();
    s.baseIndex = index;
    // Secrets and configs first: a task never arrives before what it mounts.
    const deps: AssignmentChange[] = [];
    for (const key of new Set([...s.refs.values()].flat())) {
      const change = this.dependencyChange(key);
      if (!change) continue;
      s.deps.add(key);
      deps.push(change);
    }
    // Networks before the tasks attached to them: the worker makes the overlay before the container.
    s.nets = new Map();
    s.netsDirty = false;
    const nets = this.networkChanges(s);
    this.sendAssignments(s, AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE, [
      ...nets,
      ...deps,
      ...tasks.map((t) => ({
        assignment: { item: { $case: 'task' as const, value: forWorker(t) } },
        action: AssignmentAction.ASSIGNMENT_ACTION_UPDATE,
      })),
    ]);
  }

  /**
   * A secret or config as the worker gets it: a secret opened (data in the clear, no sealed copy), undefined
   * when it is gone from the store or cannot be opened here (the task then fails on the worker, naming it).
   */
  private dependencyChange(key: string): AssignmentChange | undefined {
    const [table, id] = key.split('/') as ['secret' | 'config', string];
    if (table === 'config') {
      const c = this.store.view((tx) => tx.get('config', id)) as Config | undefined;
      if (!c) return undefined;
      return {
        assignment: { item: { $case: 'config', value: c } },
        action: AssignmentAction.ASSIGNMENT_ACTION_UPDATE,
      };
    }
    const sec = this.store.view((tx) => tx.get('secret', id));
    if (!sec?.sealed || !this.options.openSecret) return undefined;
    let data: Buffer;
    try {
      data = this.options.openSecret(sec);
    } catch (err) {
      this.log(`secret ${id} cannot be opened for a worker`, err);
      return undefined;
    }
    const value = Secret.fromPartial({
      id: sec.id,
      meta: sec.meta,
      spec: { annotations: sec.spec?.annotations, data, templating: sec.spec?.templating },
      internal: sec.internal,
    });
    return {
      assignment: { item: { $case: 'secret', value } },
      action: AssignmentAction.ASSIGNMENT_ACTION_UPDATE,
    };
  }

  /** Sends what the node's tasks now need and drops what none needs any more. */
  private syncDependencies(s: Session): void {
    const needed = new Set([...s.refs.values()].flat());
    for (const key of needed) {
      if (s.deps.has(key)) continue;
      const change = this.dependencyChange(key);
      if (!change) continue;
      s.deps.add(key);
      this.queueChange(s, key, change);
    }
    for (const key of [...s.deps]) {
      if (needed.has(key)) continue;
      s.deps.delete(key);
      const [table, id] = key.split('/') as ['secret' | 'config', string];
      this.queueChange(s, key, {
        assignment: {
          item:
            table === 'secret'
              ? { $case: 'secret', value: Secret.fromPartial({ id }) }
              : { $case: 'config', value: { id, meta: undefined, spec: undefined } },
        },
        action: AssignmentAction.ASSIGNMENT_ACTION_REMOVE,
      });
    }
  }

  private sendAssignments(s: Session, type: AssignmentsType, changes: AssignmentChange[]): void {
    const appliesTo = type === AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE ? '' : s.lastResult;
    s.lastResult = `${s.id}/${++s.seq}`;
    s.lastSentAt = this.clock.now();
    s.sink.send({
      payload: { $case: 'assignments', value: { type, appliesTo, resultsIn: s.lastResult, changes } },
    });
  }

  private onTaskEvent(e: EventOf<'task'>): void {
    const task = e.object;
    const s = this.sessions.get(task.nodeId);
    if (!s || e.index <= s.baseIndex) return;
    const wanted = e.kind !== 'remove' && isAssigned(task, s.nodeId) && !isAttachment(task);
    if (!wanted) {
      if (!s.known.delete(task.id)) return;
      s.refs.delete(task.id);
      this.queueChange(s, task.id, {
        assignment: { item: { $case: 'task', value: Task.fromPartial({ id: task.id }) } },
        action: AssignmentAction.ASSIGNMENT_ACTION_REMOVE,
      });
      this.syncDependencies(s);
      return;
    }
    // Most events are the workers' own reports coming back: the same task for the worker as the one before,
    // which the worker has already been told about (compared without encoding it, as fingerprint() would).
    if (e.previous && s.known.has(task.id) && sameForWorker(e.previous, task)) return;
    const told = s.known.get(task.id);
    if (told && sameForWorker(told, task)) return;
    s.known.set(task.id, task);
    const before = s.refs.get(task.id);
    const refs = dependenciesOf(task);
    s.refs.set(task.id, refs);
    // The node's secrets and configs change only when this task's do.
    if (refs.length > 0 || (before?.length ?? 0) > 0) this.syncDependencies(s);
    this.queueChange(s, task.id, {
      assignment: { item: { $case: 'task', value: forWorker(task) } },
      action: AssignmentAction.ASSIGNMENT_ACTION_UPDATE,
    });
  }

  private queueChange(s: Session, id: string, change: AssignmentChange): void {
    s.pending.set(id, change);
    this.scheduleFlush(s);
  }

  private scheduleFlush(s: Session): void {
    if (s.timer !== undefined) return;
    // Paced by the cluster's size (maxAssignmentMessagesPerSecond): a busy session's changes wait for the gap.
    const gap = (this.sessions.size * 1000) / this.timing.maxAssignmentMessagesPerSecond;
    const wait = Math.max(this.timing.assignmentBatchMs, s.lastSentAt + gap - this.clock.now());
    s.timer = this.clock.setTimeout(() => {
      s.timer = undefined;
      if (this.sessions.get(s.nodeId) !== s) return;
      const nets = s.netsDirty ? this.networkChanges(s) : [];
      s.netsDirty = false;
      if (s.pending.size === 0 && nets.length === 0) return;
      const changes = [...nets, ...s.pending.values()];
      s.pending.clear();
      this.sendAssignments(s, AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL, changes);
    }, wait);
  }

  /** A task, service, node or network changed: every session's network plans are looked at again. */
  private networksChanged(): void {
    this.plansCache = undefined;
    for (const s of this.sessions.values()) {
      s.netsDirty = true;
      this.scheduleFlush(s);
    }
  }

  /** The plans that differ from what the session's worker holds (updates, then removes), now recorded as sent. */
  private networkChanges(s: Session): AssignmentChange[] {
    this.plansCache ??= this.store.view((tx) => new NetworkPlans(tx));
    const plans = this.plansCache.plansFor(s.nodeId);
    const out: AssignmentChange[] = [];
    for (const [id, plan] of plans) {
      const fp = planFingerprint(plan);
      if (s.nets.get(id) === fp) continue;
      s.nets.set(id, fp);
      out.push({
        assignment: { item: { $case: 'network', value: plan } },
        action: AssignmentAction.ASSIGNMENT_ACTION_UPDATE,
      });
    }
    for (const id of [...s.nets.keys()]) {
      if (plans.has(id)) continue;
      s.nets.delete(id);
      out.push({
        assignment: {
          item: {
            $case: 'network',
            value: {
              network: { id, meta: undefined, spec: undefined, driverState: undefined, ipam: undefined },
              localAddress: '',
              endpoints: [],
              services: [],
              nodeId: s.nodeId,
            },
          },
        },
        action: AssignmentAction.ASSIGNMENT_ACTION_REMOVE,
      });
    }
    return out;
  }

  private onNodeEvent(e: EventOf<'node'>): void {
    if (e.kind === 'remove') {
      this.clearDeadline(e.object.id);
      const s = this.sessions.get(e.object.id);
      if (s) {
        this.sessions.delete(s.nodeId);
        this.endSession(
          s,
          new ShoalError('permission_denied', `node ${s.nodeId} was removed from the cluster`),
        );
      }
    }
    if (e.kind === 'update' && e.previous && e.previous.role !== e.object.role) {
      // Promoted or demoted: the node learns its new role from the next session's SessionStarted.
      const s = this.sessions.get(e.object.id);
      if (s) {
        this.sessions.delete(s.nodeId);
        this.endSession(s, unavailable(`the role of node ${s.nodeId} changed: start a new session`));
      }
    }
    if (e.object.managerStatus || e.previous?.managerStatus) this.announceManagers();
    const certState = (n: Node | undefined) => n?.certificate?.status?.state;
    if (
      e.kind === 'update' &&
      (!sameAttachments(e.object, e.previous) || certState(e.object) !== certState(e.previous))
    ) {
      const s = this.sessions.get(e.object.id);
      s?.sink.send({ payload: { $case: 'node', value: { node: e.object } } });
    }
  }

  private announceManagers(): void {
    const managers = this.managersOf();
    const key = JSON.stringify(managers);
    if (key === this.lastManagers) return;
    this.lastManagers = key;
    for (const s of this.sessions.values())
      s.sink.send({ payload: { $case: 'managers', value: { managers } } });
  }

  /** Follows task and node changes; a watch that fell behind is replaced and every session resynced. */
  private followStore(gen: number): void {
    const watch = this.store.watch(
      { table: ['task', 'node', 'service', 'network'] },
      { limit: this.options.watchLimit },
    );
    this.watch = watch;
    void (async () => {
      try {
        for await (const e of watch) {
          if (gen !== this.generation) return;
          if (e.table === 'task') this.onTaskEvent(e);
          else if (e.table === 'node') this.onNodeEvent(e);
          if (touchesNetworkPlans(e)) this.networksChanged();
        }
      } catch (err) {
        if (gen !== this.generation) return;
        this.log('store watch failed; resending complete assignment sets', err);
        this.followStore(gen);
        for (const s of this.sessions.values()) this.sendComplete(s);
      }
    })();
  }

  // ---- helpers ----

  private requireRunning(): void {
    if (!this.running) throw unavailable('the dispatcher is not running on this manager (not the leader)');
  }

  private sessionOf(nodeId: string, sessionId: string): Session {
    const s = this.sessions.get(nodeId);
    if (!s || s.id !== sessionId)
      throw notFound(
        `session ${sessionId || '(none)'} is not the current session of node ${nodeId}; start a new session`,
        'session_id',
      );
    return s;
  }

  private endSession(s: Session, err: ShoalError): void {
    this.clock.clearTimeout(s.timer);
    s.timer = undefined;
    s.pending.clear();
    try {
      s.sink.close(err);
    } catch (e) {
      this.log(`closing the session of node ${s.nodeId} failed`, e);
    }
    this.emitSession(s.nodeId, false);
  }

  /** Reads, changes (fn returns undefined: nothing to do) and writes a node, retrying lost races. */
  private async updateNode(nodeId: string, fn: (n: Node) => Node | undefined): Promise<Node> {
    const r = await this.withConflictRetry(() =>
      this.store.update((tx) => {
        const n = tx.get('node', nodeId);
        if (!n) throw notFound(`node ${nodeId} is not a member of this cluster`, 'node_id');
        const next = fn(n);
        if (next) tx.update('node', next);
        return nodeId;
      }),
    );
    return this.store.view((tx) => tx.get('node', r.value)) as Node;
  }

  private async withConflictRetry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isShoalError(err, 'conflict') || attempt >= CONFLICT_RETRIES) throw err;
      }
    }
  }
}

/**
 * How long a node has to open a session with a dispatcher that just started: period × the leader-change
 * multiplier, but at least the worker's longest retry wait plus a heartbeat deadline — a worker that kept
 * retrying while no manager answered may be asleep for its whole backoff when this one comes up (it then
 * walks its list at once: the other managers refuse or name this leader).
 */
export function leaderChangeGraceMs(periodMs: number, timing: DispatcherTiming): number {
  return Math.max(
    periodMs * timing.leaderChangeGraceMultiplier,
    timing.sessionRetryMaxMs + periodMs * timing.graceMultiplier,
  );
}

const emptyBatch = (): StatusBatch => ({ items: new Map(), waiters: [] });

/** Managers known to the store, the leader first (weight 2), each at its manager address. */
export function managersInStore(store: Store): WeightedPeer[] {
  return store.view((tx) =>
    tx
      .list('node')
      .filter((n) => n.managerStatus?.addr)
      .map((n) => ({
        nodeId: n.id,
        addr: n.managerStatus?.addr ?? '',
        weight: n.managerStatus?.leader ? 2 : 1,
      }))
      .sort((a, b) => b.weight - a.weight || compareText(a.nodeId, b.nodeId)),
  );
}

/** Whether a node's overlay attachments (network and addresses) are unchanged. */
function sameAttachments(a: Node, b: Node | undefined): boolean {
  const key = (n: Node | undefined) =>
    (n?.attachments ?? []).map((x) => `${x.network?.id ?? ''}=${x.addresses.join(',')}`).join(' ');
  return key(a) === key(b);
}
