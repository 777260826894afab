// The worker's side of the dispatcher session (swarmkit's agent/agent.go + session.go): one session at a
// time with one manager, failing over along the manager list the dispatcher sends, with randomised
// exponential backoff. Tasks keep running while no manager answers; what the node holds is on disk, so a
// restarted shoald resumes them and reconciles once a session gives it the complete set again.
//
//   start ─► load state file ─► executor.run for each held task ─► loop:
//     Session(description) ─► started: heartbeat every period, status reports flow
//                           ─► assignments: AssignedTasks → executor; state file rewritten
//     error / end ─► next manager: soon within a pass over the list, after a backoff (100 ms … 8 s) between
//                    passes (retry.ts)
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { type Clock, sleep, systemClock } from '../../common/clock.js';
import { ShoalError, unavailable } from '../../common/errors.js';
import { fromServiceError } from '../../common/grpc-status.js';
import { LEADER_HINT_KEY } from '../../common/leader-hint.js';
import {
  AssignmentsType,
  type AttachNetworkRequest,
  type AttachNetworkResponse,
  DispatcherClient,
  type SessionMessage,
  type WeightedPeer,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import { LogBrokerClient } from '../../proto/gen/shoal/logbroker/v1/logbroker.js';
import type { Node, NodeDescription } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { AssignedTasks } from './assigned.js';
import { Dependencies } from './dependencies.js';
import type { Executor, TaskStatusReport } from './executor-port.js';
import { isPermanentRefusal } from './grpc-errors.js';
import { LogPublisher, type TaskLogSource } from './log-publisher.js';
import type { NetworkPlans } from './network-plans.js';
import { type ReporterOptions, StatusReporter } from './reporter.js';
import { type Backoff, RetrySchedule } from './retry.js';
import { resumable, StateFile } from './state-file.js';
import { StatusStream } from './status-stream.js';

export const STATE_FILE_NAME = 'agent-tasks.json';
/** At most two writes of the state file a second: the statuses of that time go out in one (see StateFile). */
const STATE_WRITE_GAP_MS = 500;
const SESSION_START_TIMEOUT_MS = 5000;
/** How long a stopping agent waits for the manager to hear that it is stopping. */
const STOP_NOTICE_MS = 300;
/** Unary calls of the node's own (the dispatcher waits up to 10 s for an attachment's address). */
const CALL_TIMEOUT_MS = 15_000;

export interface AgentOptions {
  /** Manager addresses (host:port) to start from; replaced by the list each session sends. */
  managers: readonly string[];
  /** The node's mTLS credentials (manager/ca's mtlsChannelCredentials, composed by the daemon). */
  credentials: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  executor: Executor;
  /** What the node reports of itself at each session start. */
  describe: () => NodeDescription | Promise<NodeDescription>;
  /** The address other nodes reach this one at; empty: the manager uses the session's peer address. */
  advertiseAddr?: string;
  /** Where the agent keeps its state file. */
  stateDir: string;
  /** The least time between two writes of the state file (ms, default STATE_WRITE_GAP_MS). */
  stateWriteGapMs?: number;
  /** The manager list changed (the dispatcher's): the caller keeps it for the next start. */
  onManagers?: (addrs: readonly string[]) => void;
  clock?: Clock;
  random?: () => number;
  backoff?: Backoff;
  reporter?: Omit<ReporterOptions, 'isPermanent' | 'log'>;
  log?: (message: string, err?: unknown) => void;
  /**
   * How long an attempt may take to get SessionStarted (ms, default 5000, swarmkit's); past it the attempt is
   * given up and the next one opens a new connection (a connect whose packets are dropped would otherwise hang
   * on until the kernel gives up, long after the network is back).
   */
  sessionStartTimeoutMs?: number;
  /** Reads a task's container log, for the log broker's subscriptions; without it every read fails. */
  logs?: TaskLogSource;
  /** Called when a session starts (tests, diagnostics). */
  onSession?: (manager: string, sessionId: string) => void;
  /**
   * The node as the managers have it, at every session start (a role change ends the session, so the node
   * learns of a promotion or demotion here).
   */
  onNode?: (node: Node) => void;
  /** Where the secrets and configs sent with the tasks are held (memory only); the executor reads them. */
  dependencies?: Dependencies;
  /** Where the network plans go (the node's dataplane); without it they are ignored. */
  networks?: NetworkPlans;
}

export type AgentStatus = 'stopped' | 'connecting' | 'connected';

export class Agent {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: (message: string, err?: unknown) => void;
  private readonly stateFile: StateFile;
  private readonly tasks: AssignedTasks;
  /** Secrets and configs of the assigned tasks: in memory only, never in the state file. */
  readonly dependencies: Dependencies;
  private readonly reporter: StatusReporter;
  private readonly logPublisher: LogPublisher;
  private managerList: string[];
  private cursor = 0;
  private current: string | undefined;
  private abort: AbortController | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private status: AgentStatus = 'stopped';
  /**
   * Reports that came while start() restored (latest per task). A container found stopped at restore is
   * settled at once (SHUTDOWN): taken as a report of a task not held, that status was lost, and the managers
   * kept the task running on this node for ever.
   */
  private early: Map<string, TaskStatusReport> | undefined;
  /** The current session's connection, for the node's own calls to its dispatcher (network attachments). */
  private sessionClient: DispatcherClient | undefined;
  /** That session's id ('' without one). */
  private sessionId = '';
  /**
   * Connections of ended sessions, by manager address, kept while they are up: the next session with that
   * manager (after a heartbeat missed behind a busy leader, say; the agent asks another manager first, which
   * names the leader) reuses one instead of making a TLS handshake. A thousand workers reconnecting at once
   * cost a leader a second of handshakes, long enough to lose its leadership.
   */
  private readonly kept = new Map<string, DispatcherClient>();

  constructor(private options: AgentOptions) {
    if (options.managers.length === 0)
      throw new ShoalError('invalid_argument', 'managers: at least one manager address is needed', {
        field: 'managers',
      });
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.log = options.log ?? ((m, e) => console.warn(`agent: ${m}`, e ?? ''));
    this.managerList = [...options.managers];
    this.stateFile = new StateFile(
      join(options.stateDir, STATE_FILE_NAME),
      options.stateWriteGapMs ?? STATE_WRITE_GAP_MS,
    );
    this.tasks = new AssignedTasks(options.executor, this.log);
    this.logPublisher = new LogPublisher(options.logs, this.log);
    this.dependencies = options.dependencies ?? new Dependencies();
    this.reporter = new StatusReporter(this.clock, {
      ...options.reporter,
      isPermanent: isPermanentRefusal,
      log: this.log,
    });
    options.executor.onStatus((r) => {
      // During start-up the executor's adopted tasks may report before the held set is restored.
      if (this.early && !this.tasks.has(r.taskId)) {
        this.early.set(r.taskId, r);
        return;
      }
      if (!this.tasks.observe(r.taskId, r.status)) return;
      this.reporter.push(r);
      this.persist();
    });
  }

  get state(): AgentStatus {
    return this.status;
  }

  /** The manager of the current session, if any. */
  get manager(): string | undefined {
    return this.status === 'connected' ? this.current : undefined;
  }

  get managers(): readonly string[] {
    return this.managerList;
  }

  /** Tasks held now (ids). */
  heldTasks(): string[] {
    return this.tasks.ids();
  }

  /** Reports not yet acknowledged by a dispatcher. */
  get unacknowledged(): number {
    return this.reporter.size;
  }

  /**
   * A container of this node joins an attachable overlay (`run --network`, `network connect`): the
   * dispatcher answers with its address there once the managers allocated one.
   */
  attachNetwork(req: AttachNetworkRequest): Promise<AttachNetworkResponse> {
    return this.call((c, md, opts, cb) => c.attachNetwork(req, md, opts, cb), 'attaching to the network');
  }

  /** The container left the network: its address there is free again. */
  async detachNetwork(attachmentId: string): Promise<void> {
    await this.call((c, md, opts, cb) => c.detachNetwork({ attachmentId }, md, opts, cb), 'detaching');
  }

  /** A unary call over the current session's connection, failing at once (unavailable) without one. */
  private call<T>(
    fn: (
      c: DispatcherClient,
      md: grpc.Metadata,
      opts: Partial<grpc.CallOptions>,
      cb: (err: grpc.ServiceError | null, res: T) => void,
    ) => unknown,
    what: string,
  ): Promise<T> {
    const client = this.sessionClient;
    if (!client)
      return Promise.reject(unavailable(`${what}: this node has no session with a manager right now`));
    return new Promise<T>((resolve, reject) => {
      fn(client, new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) =>
        err ? reject(fromServiceError(err)) : resolve(res),
      );
    });
  }

  /** Loads the state file, resumes its tasks, and starts looking for a manager (does not wait for one). */
  async start(): Promise<void> {
    if (this.abort) return;
    this.early = new Map();
    let adopted: TaskStatusReport[];
    try {
      const saved = await this.stateFile.load();
      const tasks = resumable(saved);
      adopted = [...((await this.options.executor.restore?.(tasks)) ?? [])];
      this.tasks.restore({ tasks, statuses: saved.statuses });
      // What was last observed (maybe never acknowledged) and what the containers say now: both go out again.
      for (const [taskId, status] of saved.statuses)
        if (this.tasks.has(taskId)) this.reporter.push({ taskId, status });
      adopted.push(...this.early.values());
    } finally {
      this.early = undefined;
    }
    for (const r of adopted) if (this.tasks.observe(r.taskId, r.status)) this.reporter.push(r);
    if (adopted.length > 0) this.persist();
    this.abort = new AbortController();
    this.status = 'connecting';
    this.loopDone = this.loop(this.abort.signal);
  }

  /** New credentials (a renewed certificate, another role) for the sessions opened from now on. */
  setCredentials(credentials: grpc.ChannelCredentials): void {
    this.options = { ...this.options, credentials };
    this.dropKeptChannels();
  }

  /**
   * Ends the session and the loop. Tasks are left running (shoald may be restarting): the manager is told
   * first, so the node keeps its whole heartbeat deadline to come back before its tasks are moved.
   */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    this.abort = undefined;
    await this.noticeStopping();
    abort.abort();
    await this.loopDone;
    this.dropKeptChannels();
    this.status = 'stopped';
    await this.stateFile.save(this.tasks.snapshot());
    await this.stateFile.close();
  }

  private noticeStopping(): Promise<void> {
    const client = this.sessionClient;
    const sessionId = this.sessionId;
    if (!client || !sessionId) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const deadline = new Date(Date.now() + STOP_NOTICE_MS);
      // Not heard (a busy or gone manager): the node merely gets the shorter grace of a lost session.
      client.heartbeat({ sessionId, stopping: true }, new grpc.Metadata(), { deadline }, () => resolve());
    });
  }

  private persist(): void {
    this.stateFile
      .save(() => this.tasks.snapshot())
      .catch((err) => this.log('writing the state file failed', err));
  }

  private takeKeptChannel(addr: string): DispatcherClient | undefined {
    const client = this.kept.get(addr);
    if (!client) return undefined;
    this.kept.delete(addr);
    if (client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY) return client;
    client.close();
    return undefined;
  }

  private dropKeptChannels(): void {
    for (const client of this.kept.values()) client.close();
    this.kept.clear();
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const retry = new RetrySchedule(this.options.backoff);
    let jumped = false;
    while (!signal.aborted) {
      const addr = this.managerList[this.cursor % this.managerList.length] as string;
      this.current = addr;
      this.status = 'connecting';
      const started = { value: false };
      let hint: string | undefined;
      try {
        await this.session(addr, signal, started);
      } catch (err) {
        if (!signal.aborted) this.log(`session with ${addr} ended`, err);
        const h = (err as grpc.ServiceError)?.metadata?.get?.(LEADER_HINT_KEY)[0];
        if (typeof h === 'string' && h && h !== addr) hint = h;
      }
      if (signal.aborted) break;
      if (hint) {
        // A manager that does not lead named the leader: go there next, at once unless the last attempt
        // was such a jump already (two managers naming each other during an election must not spin).
        if (!this.managerList.includes(hint)) this.managerList = [hint, ...this.managerList];
        this.cursor = this.managerList.indexOf(hint);
        if (!jumped) {
          jumped = true;
          continue;
        }
      }
      jumped = false;
      // The next manager: the one that failed may be down, or no longer the leader.
      const at = this.managerList.indexOf(addr);
      if (!hint) this.cursor = (at < 0 ? this.cursor : at) + 1;
      const wait = retry.next(this.managerList.length, started.value, this.random());
      await sleep(this.clock, wait, signal);
    }
  }

  /** One session; resolves when it ends (rejects with why). */
  private async session(addr: string, signal: AbortSignal, started: { value: boolean }): Promise<void> {
    const description = await this.options.describe();
    if (signal.aborted) return;
    // A connection of its own (not grpc's shared pool), so giving up an attempt also drops its connect.
    const credentials = this.options.credentials;
    const client =
      this.takeKeptChannel(addr) ??
      new DispatcherClient(addr, credentials, {
        ...this.options.channelOptions,
        'grpc.use_local_subchannel_pool': 1,
      });
    const stream = client.session({ description, advertiseAddr: this.options.advertiseAddr ?? '' });
    // Log subscriptions publish to the same manager, over the session's connection (its channel).
    const logs = new LogBrokerClient(addr, credentials, {
      channelOverride: client.getChannel(),
    });
    let sessionId = '';
    let lastResult = '';
    let heartbeat: unknown;
    let statuses: StatusStream | undefined;
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const startMs = this.options.sessionStartTimeoutMs ?? SESSION_START_TIMEOUT_MS;
      const startTimer = this.clock.setTimeout(
        () => finish(unavailable(`no session with ${addr} after ${startMs} ms; trying again`)),
        startMs,
      );
      const finish = (err?: unknown) => {
        if (finished) return;
        finished = true;
        this.clock.clearTimeout(startTimer);
        this.clock.clearTimeout(heartbeat);
        this.reporter.detach();
        statuses?.close();
        this.logPublisher.abandonAll();
        if (this.sessionClient === client) {
          this.sessionClient = undefined;
          this.sessionId = '';
        }
        signal.removeEventListener('abort', onAbort);
        stream.cancel();
        // kept only if connected, with the credentials in force, and the agent goes on
        const ready = client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
        if (ready && !signal.aborted && this.options.credentials === credentials) {
          this.kept.get(addr)?.close();
          this.kept.set(addr, client);
        } else {
          client.close(); // the log client shares its channel
        }
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = () => finish();
      signal.addEventListener('abort', onAbort, { once: true });

      let said = 0;
      const beat = (periodMs: number) => {
        // The manager sets the period (swarm update --dispatcher-heartbeat), with a little jitter each time:
        // said when it moves by more than a quarter.
        if (Math.abs(periodMs - said) > said / 4) {
          this.log(`heartbeat period ${periodMs} ms (set by ${addr})`);
          said = periodMs;
        }
        heartbeat = this.clock.setTimeout(() => {
          const deadline = new Date(Date.now() + 2 * periodMs);
          client.heartbeat({ sessionId, stopping: false }, new grpc.Metadata(), { deadline }, (err, res) => {
            if (finished) return;
            if (err) finish(err);
            else beat(msOf(res.period, periodMs));
          });
        }, periodMs);
      };

      const onMessage = (m: SessionMessage) => {
        const p = m.payload;
        if (p?.$case === 'started') {
          sessionId = p.value.sessionId;
          started.value = true;
          this.clock.clearTimeout(startTimer);
          this.status = 'connected';
          this.sessionClient = client;
          this.sessionId = sessionId;
          this.followManagers(p.value.managers, addr);
          beat(msOf(p.value.heartbeatPeriod, 1000));
          statuses = new StatusStream(client.reportTaskStatus(), sessionId, finish);
          this.reporter.attach(statuses.send);
          this.options.onSession?.(addr, sessionId);
          if (p.value.node) this.options.onNode?.(p.value.node);
        } else if (p?.$case === 'assignments') {
          if (!sessionId) throw unavailable('assignments before the session started');
          const a = p.value;
          if (a.type === AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL && a.appliesTo !== lastResult)
            throw unavailable(`assignments out of sequence (applies to ${a.appliesTo}, have ${lastResult})`);
          const before = new Set(this.tasks.ids());
          // Networks, secrets and configs first: a task's container is attached to and mounts them.
          this.options.networks?.apply(a);
          this.dependencies.apply(a);
          this.tasks.apply(a);
          for (const id of before) if (!this.tasks.has(id)) this.reporter.forget(id);
          if (a.type === AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE) this.removeStrays();
          lastResult = a.resultsIn;
          this.persist();
        } else if (p?.$case === 'managers') {
          this.followManagers(p.value.managers, addr);
        } else if (p?.$case === 'node') {
          // The node object changed (attachments, a certificate the managers want renewed): the daemon decides.
          if (p.value.node) this.options.onNode?.(p.value.node);
        } else if (p?.$case === 'logSubscription') {
          if (!sessionId) throw unavailable('a log subscription before the session started');
          this.logPublisher.handle(p.value, (done) => logs.publishLogs((err) => done(err ?? undefined)));
        }
      };

      stream.on('data', (m: SessionMessage) => {
        try {
          onMessage(m);
        } catch (err) {
          finish(err);
        }
      });
      stream.on('error', (err) => finish(err));
      stream.on('end', () => finish(unavailable(`the session with ${addr} ended`)));
    });
  }

  /** Removes containers the executor holds for tasks not in the set (the set is authoritative now). */
  private removeStrays(): void {
    const ex = this.options.executor;
    for (const { taskId } of ex.list?.() ?? []) {
      if (this.tasks.has(taskId)) continue;
      this.log(`removing task ${taskId}: no longer assigned to this node`);
      Promise.resolve(ex.remove(taskId)).catch((err) => this.log(`removal of ${taskId} failed`, err));
    }
  }

  /** Takes the dispatcher's manager list (keeps the current one if the list is empty). */
  private followManagers(peers: readonly WeightedPeer[], current: string): void {
    const addrs = [...new Set(peers.map((p) => p.addr).filter(Boolean))];
    if (addrs.length === 0) return;
    const changed = addrs.join() !== this.managerList.join();
    this.managerList = addrs;
    if (changed) this.options.onManagers?.(addrs);
    const at = addrs.indexOf(current);
    this.cursor = Math.max(at, 0);
  }
}

function msOf(d: { seconds: number; nanos: number } | undefined, fallback: number): number {
  if (!d) return fallback;
  const ms = d.seconds * 1000 + Math.floor(d.nanos / 1e6);
  return ms > 0 ? ms : fallback;
}
