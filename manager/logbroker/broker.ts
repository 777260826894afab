// The leader's log broker (swarmkit's manager/logbroker), as a core with an injected clock: the gRPC face
// (service.ts) only translates.
//
//   subscribe(selector, options, sink)
//     ─► the selected tasks, split by node (selection.ts)
//     ─► each node with a session gets a LogSubscription on it; the others' tasks are reported missing at once
//   publish(node, subscription) ─► lines of that node's tasks ─► sink
//   a node's session ends ─► its unfinished tasks are reported missing, the others stream on
//   follow: new tasks of the service join as they get a container; a node whose session comes back is asked
//           again, from just after the last line it delivered
//
// A subscription without follow ends when every node finished or was found missing, so it never waits on a
// node that cannot answer: the session (heartbeats) says when a node is gone, and a node that has a session
// but never starts publishing is given up after `answerTimeoutMs`.
import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../../common/clock.js';
import { invalidArgument, notFound, ShoalError, unavailable } from '../../common/errors.js';
import type {
  LogContext,
  LogMessage,
  LogSelector,
  LogSubscription,
  LogSubscriptionOptions,
  MissingLogs,
  PublishLogsMessage,
  SubscribeLogsMessage,
} from '../../proto/gen/shoal/logbroker/v1/logbroker.js';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { Store } from '../store/index.js';
import { hasLogs, planReads, selects, selectTasks, taskRead, unreachableReason } from './selection.js';

/** The dispatcher's sessions, as the broker uses them. */
export interface SessionPort {
  hasSession(nodeId: string): boolean;
  /** Sends on the node's current session; false when it has none. */
  send(nodeId: string, subscription: LogSubscription): boolean;
  /** Sessions opening and closing; returns the unsubscribe function. */
  onSessionChange(listener: (nodeId: string, open: boolean) => void): () => void;
}

/** Where a subscription's output goes (the HTTP edge, or a follower's SubscribeLogs stream). */
export interface LogSink {
  /**
   * false: the reader is behind; the broker then pauses the nodes' publish streams of this subscription
   * (HTTP/2 flow control reaches the agents, whose reads wait) until `drained` resolves.
   */
  send(batch: SubscribeLogsMessage): boolean | undefined;
  drained?(): Promise<void>;
  /** The subscription is over: complete (no error) or cut short. */
  end(err?: ShoalError): void;
}

export interface SubscribeRequest {
  selector: LogSelector;
  options: LogSubscriptionOptions;
}

export interface BrokerOptions {
  clock?: Clock;
  newId?: () => string;
  /** How long a node with a session may take to start publishing (ms, default 10 000). */
  answerTimeoutMs?: number;
}

type NodeState = 'reading' | 'closed' | 'missing';

/** How long a broken publish stream waits for its session's end to explain it (ms). */
const STREAM_END_GRACE_MS = 200;

interface NodeReads {
  tasks: Map<string, Task>;
  state: NodeState;
  /** Pending until the node opens its publish stream. */
  answerTimer: unknown;
  publishing: boolean;
  /** Bumped at each loss, so a publish stream of before the loss can no longer act. */
  epoch: number;
}

interface Subscription {
  id: string;
  selector: LogSelector;
  options: LogSubscriptionOptions;
  sink: LogSink;
  nodes: Map<string, NodeReads>;
  /** Tasks already given to a node or reported missing. */
  known: Set<string>;
  /** Unix seconds of the last line delivered, per task (where a resumed read starts). */
  lastTime: Map<string, number>;
  /** The publish streams feeding it, and whether they are paused for a slow reader. */
  flows: Set<Flow>;
  paused: boolean;
}

/** Pausing a node's publish stream (the gRPC call's reading side). */
export interface Flow {
  pause(): void;
  resume(): void;
}

/** One node's publish stream for one subscription. */
export interface Publication {
  push(message: PublishLogsMessage): void;
  /** The stream ended (err: it broke). */
  end(err?: unknown): void;
}

export class LogBroker {
  private readonly clock: Clock;
  private readonly newId: () => string;
  private readonly answerTimeoutMs: number;
  private readonly subs = new Map<string, Subscription>();
  private running = false;
  private generation = 0;
  private watch: { close(): void } | undefined;
  private offSessions: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly sessions: SessionPort,
    options: BrokerOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.newId = options.newId ?? randomUUID;
    this.answerTimeoutMs = options.answerTimeoutMs ?? 10_000;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Active subscriptions (tests, diagnostics). */
  get size(): number {
    return this.subs.size;
  }

  /** Starts serving (with the dispatcher: this manager leads). */
  start(): void {
    if (this.running) return;
    this.running = true;
    const gen = ++this.generation;
    this.offSessions = this.sessions.onSessionChange((nodeId, open) => {
      if (gen === this.generation) this.onSession(nodeId, open);
    });
  }

  /** Stops serving (leadership lost): every subscription ends UNAVAILABLE. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.offSessions?.();
    this.offSessions = undefined;
    this.watch?.close();
    this.watch = undefined;
    const gone = unavailable(
      'the log broker stopped (this manager is no longer the leader); run the command again',
    );
    for (const s of [...this.subs.values()]) this.finish(s, gone);
  }

  /**
   * Starts a subscription; returns the function that cancels it (the client left). The sink gets the
   * missing tasks at once, then lines as nodes publish them, then end() unless following.
   */
  subscribe(req: SubscribeRequest, sink: LogSink): () => void {
    if (!this.running) throw unavailable('the log broker is not running on this manager (not the leader)');
    const { selector, options } = req;
    if (selector.serviceIds.length === 0 && selector.taskIds.length === 0)
      throw invalidArgument('selector', 'names no service and no task');
    if (!options.stdout && !options.stderr)
      throw invalidArgument('options', 'you must choose at least one stream');
    // The watch first: a task that changes while this selects is seen by it (and skipped if selected).
    if (options.follow) this.watchTasks();
    const { tasks, nodes } = this.store.view((tx) => ({
      tasks: selectTasks(tx.list('task'), selector),
      nodes: new Map(tx.list('node').map((n) => [n.id, n])),
    }));
    const sub: Subscription = {
      id: this.newId(),
      selector,
      options,
      sink,
      nodes: new Map(),
      known: new Set(tasks.map((t) => t.id)),
      lastTime: new Map(),
      flows: new Set(),
      paused: false,
    };
    this.subs.set(sub.id, sub);
    const plan = planReads(
      tasks,
      (id) => this.sessions.hasSession(id),
      (id) => nodes.get(id),
    );
    const missing: MissingLogs[] = [];
    for (const { task, reason } of plan.missing) {
      this.nodeReads(sub, task.nodeId, 'missing').tasks.set(task.id, task);
      missing.push({ context: contextOf(task), reason });
    }
    // Always a first batch (maybe empty): a follower forwarding this learns at once that it was accepted.
    sink.send({ messages: [], missing });
    for (const [nodeId, list] of plan.reads) {
      const n = this.nodeReads(sub, nodeId, 'reading');
      for (const t of list) n.tasks.set(t.id, t);
      this.ask(
        sub,
        nodeId,
        list.map((t) => taskRead(t, options)),
      );
    }
    this.checkDone(sub);
    return () => this.cancel(sub.id);
  }

  /**
   * A node opens its publish stream for a subscription it was given. Refused (not_found) for a subscription
   * that is over, and (permission_denied) for one this node was not given.
   */
  publish(nodeId: string, subscriptionId: string, flow?: Flow): Publication {
    const sub = this.subs.get(subscriptionId);
    if (!sub) throw notFound(`log subscription ${subscriptionId} is over`, 'subscription_id');
    const n = sub.nodes.get(nodeId);
    if (n?.state !== 'reading')
      throw new ShoalError('permission_denied', `node ${nodeId} was not asked for these logs (or no longer)`);
    n.publishing = true;
    this.clock.clearTimeout(n.answerTimer);
    n.answerTimer = undefined;
    const epoch = n.epoch;
    let ended = false;
    if (flow) {
      sub.flows.add(flow);
      if (sub.paused) flow.pause();
    }
    const current = () => this.subs.get(sub.id) === sub && n.state === 'reading' && n.epoch === epoch;
    return {
      push: (m) => {
        if (ended || !current()) return;
        this.onPublished(sub, nodeId, n, m);
      },
      end: (err) => {
        if (ended) return;
        ended = true;
        if (flow) sub.flows.delete(flow);
        if (!current()) return;
        // Without a close message the node did not finish: whatever it did not send is missing. A node
        // going away breaks this stream and its session together: a moment's wait lets the session's end
        // give the reason (it is the better one) before this one does.
        const why = err ? `: ${(err as Error).message ?? err}` : '';
        const gen = this.generation;
        this.clock.setTimeout(() => {
          if (gen !== this.generation || !current()) return;
          n.publishing = false;
          this.markMissing(sub, n, `node ${this.nameOf(nodeId)} stopped sending logs${why}`);
        }, STREAM_END_GRACE_MS);
      },
    };
  }

  // ---- internals ----

  private onPublished(sub: Subscription, nodeId: string, n: NodeReads, m: PublishLogsMessage): void {
    const messages: LogMessage[] = [];
    for (const msg of m.messages) {
      const task = n.tasks.get(msg.context?.taskId ?? '');
      if (!task)
        throw new ShoalError(
          'permission_denied',
          `node ${nodeId} sent logs of task ${msg.context?.taskId || '(none)'}, which it was not asked for`,
        );
      messages.push({ ...msg, context: contextOf(task) });
      const t = secondsOf(msg.time);
      if (!Number.isNaN(t)) sub.lastTime.set(task.id, Math.max(t, sub.lastTime.get(task.id) ?? 0));
    }
    const missing: MissingLogs[] = [];
    for (const x of m.missing) {
      const task = n.tasks.get(x.context?.taskId ?? '');
      if (task) missing.push({ context: contextOf(task), reason: x.reason });
    }
    if (messages.length > 0 || missing.length > 0) this.deliver(sub, { messages, missing });
    if (m.close && !sub.options.follow) {
      n.state = 'closed';
      this.checkDone(sub);
    }
  }

  /** Hands a batch to the reader; a reader that is behind pauses the publish streams until it drained. */
  private deliver(sub: Subscription, batch: SubscribeLogsMessage): void {
    if (sub.sink.send(batch) !== false || sub.paused || !sub.sink.drained) return;
    sub.paused = true;
    for (const f of sub.flows) f.pause();
    sub.sink.drained().then(
      () => {
        sub.paused = false;
        if (this.subs.get(sub.id) === sub) for (const f of sub.flows) f.resume();
      },
      () => {},
    );
  }

  private nodeReads(sub: Subscription, nodeId: string, state: NodeState): NodeReads {
    let n = sub.nodes.get(nodeId);
    if (!n) {
      n = { tasks: new Map(), state, answerTimer: undefined, publishing: false, epoch: 0 };
      sub.nodes.set(nodeId, n);
    }
    return n;
  }

  /** Sends a node tasks to read; a node that cannot be reached has them reported missing. */
  private ask(sub: Subscription, nodeId: string, reads: LogSubscription['tasks']): void {
    const n = sub.nodes.get(nodeId);
    if (!n) return;
    const sent = this.sessions.send(nodeId, {
      id: sub.id,
      follow: sub.options.follow,
      stdout: sub.options.stdout,
      stderr: sub.options.stderr,
      tasks: reads,
      close: false,
    });
    if (!sent) {
      this.markMissing(sub, n, unreachableReason(nodeId, this.nodeOf(nodeId)));
      return;
    }
    n.state = 'reading';
    if (!n.publishing && n.answerTimer === undefined) {
      const gen = this.generation;
      n.answerTimer = this.clock.setTimeout(() => {
        n.answerTimer = undefined;
        if (gen !== this.generation || this.subs.get(sub.id) !== sub) return;
        if (n.publishing || n.state !== 'reading') return;
        this.markMissing(
          sub,
          n,
          `node ${this.nameOf(nodeId)} did not answer within ${this.answerTimeoutMs / 1000} s`,
        );
      }, this.answerTimeoutMs);
    }
  }

  /** Reports a node's tasks missing (each once per loss) and checks whether the subscription is done. */
  private markMissing(sub: Subscription, n: NodeReads, reason: string): void {
    if (n.state === 'missing') return;
    n.state = 'missing';
    n.epoch++;
    n.publishing = false;
    this.clock.clearTimeout(n.answerTimer);
    n.answerTimer = undefined;
    const missing = [...n.tasks.values()].map((t) => ({ context: contextOf(t), reason }));
    if (missing.length > 0) sub.sink.send({ messages: [], missing });
    this.checkDone(sub);
  }

  private checkDone(sub: Subscription): void {
    if (sub.options.follow || this.subs.get(sub.id) !== sub) return;
    for (const n of sub.nodes.values()) if (n.state === 'reading') return;
    this.finish(sub);
  }

  private finish(sub: Subscription, err?: ShoalError): void {
    if (this.subs.get(sub.id) !== sub) return;
    this.subs.delete(sub.id);
    this.unwatchIfIdle();
    for (const n of sub.nodes.values()) this.clock.clearTimeout(n.answerTimer);
    sub.sink.end(err);
  }

  /** The client left: the nodes still reading are told to stop. */
  private cancel(id: string): void {
    const sub = this.subs.get(id);
    if (!sub) return;
    this.subs.delete(id);
    this.unwatchIfIdle();
    for (const [nodeId, n] of sub.nodes) {
      this.clock.clearTimeout(n.answerTimer);
      if (n.state === 'reading')
        this.sessions.send(nodeId, {
          id,
          follow: false,
          stdout: false,
          stderr: false,
          tasks: [],
          close: true,
        });
    }
  }

  private onSession(nodeId: string, open: boolean): void {
    for (const sub of [...this.subs.values()]) {
      const n = sub.nodes.get(nodeId);
      if (!n) continue;
      if (!open) {
        if (n.state === 'reading')
          this.markMissing(sub, n, `node ${this.nameOf(nodeId)} lost its session with the managers`);
        continue;
      }
      // Back: a followed subscription asks it again, from after the last line each task delivered.
      if (!sub.options.follow || n.state !== 'missing' || n.tasks.size === 0) continue;
      this.ask(
        sub,
        nodeId,
        [...n.tasks.values()].map((t) => taskRead(t, sub.options, sub.lastTime.get(t.id))),
      );
    }
  }

  /** The store watch runs only while a followed subscription needs it (a large cluster's task churn). */
  private watchTasks(): void {
    if (!this.watch) this.follow(this.generation);
  }

  private unwatchIfIdle(): void {
    for (const s of this.subs.values()) if (s.options.follow) return;
    this.watch?.close();
    this.watch = undefined;
  }

  /** Followed subscriptions take new tasks of their services as they get a container. */
  private follow(gen: number): void {
    const watch = this.store.watch({ table: ['task', 'service'] });
    this.watch = watch;
    void (async () => {
      try {
        for await (const e of watch) {
          if (gen !== this.generation || this.watch !== watch) return;
          if (e.table === 'service') {
            if (e.kind === 'remove') this.serviceRemoved(e.object.id);
          } else if (e.kind !== 'remove') this.taskChanged(e.object);
        }
      } catch {
        // A watch that fell behind: a new one, and a look at every task for what it may have missed.
        if (gen !== this.generation || this.watch !== watch) return;
        this.follow(gen);
        for (const t of this.store.view((tx) => tx.list('task'))) this.taskChanged(t);
      }
    })();
  }

  private taskChanged(task: Task): void {
    if (!hasLogs(task)) return;
    for (const sub of this.subs.values()) {
      if (!sub.options.follow || sub.known.has(task.id) || !selects(sub.selector, task)) continue;
      sub.known.add(task.id);
      const had = sub.nodes.get(task.nodeId);
      const n = this.nodeReads(sub, task.nodeId, 'missing');
      n.tasks.set(task.id, task);
      if (had?.state === 'missing' || !this.sessions.hasSession(task.nodeId)) {
        const reason = unreachableReason(task.nodeId, this.nodeOf(task.nodeId));
        n.state = 'missing';
        sub.sink.send({ messages: [], missing: [{ context: contextOf(task), reason }] });
        continue;
      }
      // A task that started after the subscription: all of its lines (since still applies).
      this.ask(sub, task.nodeId, [{ ...taskRead(task, sub.options), tail: -1 }]);
    }
  }

  private serviceRemoved(serviceId: string): void {
    for (const sub of [...this.subs.values()]) {
      if (!sub.selector.serviceIds.includes(serviceId)) continue;
      this.cancel(sub.id);
      sub.sink.end();
    }
  }

  private nodeOf(nodeId: string) {
    return this.store.view((tx) => tx.get('node', nodeId));
  }

  private nameOf(nodeId: string): string {
    return this.nodeOf(nodeId)?.description?.hostname || nodeId;
  }
}

function contextOf(t: Task): LogContext {
  return { nodeId: t.nodeId, serviceId: t.serviceId, taskId: t.id };
}

/** Unix seconds of an RFC3339Nano time (fraction kept to the microsecond). */
export function secondsOf(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}${m[3]}`) / 1000 + (m[2] ? Number(`0.${m[2].slice(0, 6)}`) : 0);
}
