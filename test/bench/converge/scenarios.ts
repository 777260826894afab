// The convergence measurements, over the Engine API only (Docker JSON on each node's unix socket), so
// the same code times shoal and Docker Swarm: each figure runs from the request that changes the desired
// state to the first poll that sees the cluster converged. Polls are tight (--poll-ms) and every call
// has a time limit, so a lost daemon shows as a failed poll, never as a hang.
import type { Bed, BedNode } from './bed.js';
import { log, sleep } from './bed.js';

export interface PollOptions {
  pollMs: number;
  /** Give up on one convergence after this long (the figure is then missing, with the reason). */
  waitMaxMs: number;
}

interface TaskJson {
  ID: string;
  NodeID?: string;
  DesiredState?: string;
  Status?: { State?: string };
}

interface NodeJson {
  ID: string;
  Status?: { State?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string };
}

/** A restarted node that is not back by then will not be (Swarm's own restart takes ~11 s). */
const READY_MAX_MS = 90_000;

const q = (filters: Record<string, string[]>) => encodeURIComponent(JSON.stringify(filters));
const now = () => performance.now();
const secs = (ms: number) => Math.round(ms) / 1000;

/** A replicated service of busybox `sleep` tasks that stop at once (sleep as PID 1 ignores SIGTERM). */
export function sleepService(name: string, image: string, replicas: number): Record<string, unknown> {
  return {
    Name: name,
    Labels: { 'shoal.bench': 'converge' },
    TaskTemplate: {
      ContainerSpec: { Image: image, Command: ['sleep', '1000000'], StopGracePeriod: 0 },
    },
    Mode: { Replicated: { Replicas: replicas } },
  };
}

export class Converge {
  /** swarm node ID → bed node name (GET /info of each node; IDs survive restarts). */
  private readonly names = new Map<string, string>();

  constructor(
    private readonly bed: Bed,
    private readonly opt: PollOptions,
  ) {}

  async init(): Promise<void> {
    for (const n of this.bed.nodes) {
      const info = JSON.parse(await n.api.ok('GET', '/info')) as { Swarm?: { NodeID?: string } };
      if (info.Swarm?.NodeID) this.names.set(info.Swarm.NodeID, n.name);
    }
  }

  node(name: string): BedNode {
    const n = this.bed.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** The manager that leads now, asked of the live managers in turn. */
  async leader(): Promise<BedNode> {
    const end = now() + this.opt.waitMaxMs;
    for (;;) {
      for (const m of this.bed.nodes.filter((n) => n.role === 'manager')) {
        try {
          const nodes = JSON.parse(await m.api.ok('GET', '/nodes')) as NodeJson[];
          const l = nodes.find((n) => n.ManagerStatus?.Leader);
          const name = l && this.names.get(l.ID);
          if (name) return this.node(name);
        } catch {
          // down or without a leader: ask the next
        }
      }
      if (now() > end) throw new Error('no manager names a leader');
      await sleep(this.opt.pollMs);
    }
  }

  async create(via: BedNode, spec: Record<string, unknown>): Promise<string> {
    return (JSON.parse(await via.api.ok('POST', '/services/create', spec)) as { ID: string }).ID;
  }

  async scale(via: BedNode, id: string, replicas: number): Promise<void> {
    const s = JSON.parse(await via.api.ok('GET', `/services/${id}`)) as {
      Version: { Index: number };
      Spec: { Mode: { Replicated: { Replicas: number } } };
    };
    s.Spec.Mode.Replicated.Replicas = replicas;
    await via.api.ok('POST', `/services/${id}/update?version=${s.Version.Index}`, s.Spec);
  }

  /** The service's tasks whose desired state is running, optionally not counting one node's. */
  async desired(via: BedNode, id: string, notOn?: string): Promise<TaskJson[]> {
    const body = await via.api.ok(
      'GET',
      `/tasks?filters=${q({ service: [id], 'desired-state': ['running'] })}`,
    );
    return (JSON.parse(body) as TaskJson[]).filter(
      (t) =>
        t.DesiredState === 'running' && (notOn === undefined || this.names.get(t.NodeID ?? '') !== notOn),
    );
  }

  async running(via: BedNode, id: string, notOn?: string): Promise<TaskJson[]> {
    return (await this.desired(via, id, notOn)).filter((t) => t.Status?.State === 'running');
  }

  /**
   * Seconds from t0 until exactly `want` tasks run (not counting `notOn`'s). `marks.assigned` gets the
   * first poll that saw `want` tasks on a node (scheduled), which splits the figure into the managers'
   * part and the nodes' part.
   */
  async untilRunning(
    via: BedNode,
    id: string,
    want: number,
    t0: number,
    notOn?: string,
    marks: { assigned?: number } = {},
  ): Promise<number> {
    let have = -1;
    for (;;) {
      try {
        const tasks = await this.desired(via, id, notOn);
        if (marks.assigned === undefined && tasks.filter((t) => t.NodeID).length >= want)
          marks.assigned = secs(now() - t0);
        have = tasks.filter((t) => t.Status?.State === 'running').length;
        if (have === want) return secs(now() - t0);
      } catch {
        // a failed poll (the leader is being replaced): poll again
      }
      if (now() - t0 > this.opt.waitMaxMs)
        throw new Error(`${want} running tasks not reached in ${this.opt.waitMaxMs} ms (last poll: ${have})`);
      await sleep(this.opt.pollMs);
    }
  }

  /** Containers of the service, any state, on every node that answers. */
  async containersLeft(id: string): Promise<number> {
    const f = q({ label: [`com.docker.swarm.service.id=${id}`] });
    const counts = await Promise.all(
      this.bed.nodes.map(async (n) => {
        try {
          return (JSON.parse(await n.api.ok('GET', `/containers/json?all=1&filters=${f}`)) as unknown[])
            .length;
        } catch {
          return 0; // a node whose daemon is down holds nothing we could wait for
        }
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Removes the service; seconds from the DELETE until no node has a container of it. */
  async remove(via: BedNode, id: string): Promise<number> {
    const t0 = now();
    await via.api.ok('DELETE', `/services/${id}`);
    let left = -1;
    for (;;) {
      left = await this.containersLeft(id);
      if (left === 0) return secs(now() - t0);
      if (now() - t0 > this.opt.waitMaxMs)
        throw new Error(`${left} containers of the service left after ${this.opt.waitMaxMs} ms`);
      await sleep(this.opt.pollMs);
    }
  }

  /** Every node Ready and every manager reachable, as a manager sees it. */
  async untilAllReady(): Promise<void> {
    const t0 = now();
    for (;;) {
      try {
        const via = await this.leader();
        const nodes = JSON.parse(await via.api.ok('GET', '/nodes')) as NodeJson[];
        const ready = nodes.filter(
          (n) =>
            n.Status?.State === 'ready' &&
            (n.ManagerStatus === undefined ||
              n.ManagerStatus.Leader ||
              n.ManagerStatus.Reachability === 'reachable'),
        ).length;
        if (ready >= this.bed.nodes.length) return;
      } catch {
        // poll again
      }
      if (now() - t0 > Math.min(this.opt.waitMaxMs, READY_MAX_MS))
        throw new Error(
          `not every node is Ready (managers reachable) ${READY_MAX_MS / 1000} s after the restart`,
        );
      await sleep(this.opt.pollMs);
    }
  }

  idOf(name: string): string {
    for (const [id, n] of this.names) if (n === name) return id;
    throw new Error(`no swarm node ID known for ${name}`);
  }

  /**
   * Polls `probe` beside a measurement until it holds (seconds since t0) or `until` settles (null): a
   * second, earlier milestone of the same event, such as the lost node being marked down.
   */
  private async watch(
    t0: number,
    until: Promise<unknown>,
    probe: () => Promise<boolean>,
  ): Promise<number | null> {
    let over = false;
    until.then(
      () => {
        over = true;
      },
      () => {
        over = true;
      },
    );
    while (!over && now() - t0 <= this.opt.waitMaxMs) {
      try {
        if (await probe()) return secs(now() - t0);
      } catch {
        // the manager asked is busy or being replaced: poll again
      }
      await sleep(this.opt.pollMs);
    }
    return null;
  }

  /** Best effort: remove every service this benchmark made (a failed step can leave one behind). */
  async sweep(): Promise<void> {
    try {
      const via = await this.leader();
      const all = JSON.parse(
        await via.api.ok('GET', `/services?filters=${q({ label: ['shoal.bench=converge'] })}`),
      );
      for (const s of all as { ID: string }[]) await this.remove(via, s.ID).catch(() => {});
    } catch (err) {
      log(`${this.bed.kind}: sweep failed: ${(err as Error).message}`);
    }
  }

  // ---- the figures ---------------------------------------------------------------------------

  /**
   * replicas3_s, replicas30_s, scale30to60_s, rm60_s; the RSS with 60 tasks is read in between. Beside
   * each create/scale figure X_s: X_call_s (the API call answered) and X_assigned_s (every task on a node).
   */
  async createScaleRemove(tag: string, rssAt60: () => Promise<void>): Promise<Record<string, number>> {
    const via = await this.leader();
    const out: Record<string, number> = {};
    const converge = async (figure: string, change: () => Promise<string>, want: number) => {
      const t0 = now();
      const id = await change();
      out[`${figure}_call_s`] = secs(now() - t0);
      const marks: { assigned?: number } = {};
      out[`${figure}_s`] = await this.untilRunning(via, id, want, t0, undefined, marks);
      if (marks.assigned !== undefined) out[`${figure}_assigned_s`] = marks.assigned;
      return id;
    };
    let id = await converge(
      'replicas3',
      () => this.create(via, sleepService(`cv3-${tag}`, this.bed.image, 3)),
      3,
    );
    await this.remove(via, id);
    id = await converge(
      'replicas30',
      () => this.create(via, sleepService(`cv30-${tag}`, this.bed.image, 30)),
      30,
    );
    await converge('scale30to60', () => this.scale(via, id, 60).then(() => id), 60);
    await rssAt60();
    out.rm60_s = await this.remove(via, id);
    return out;
  }

  /**
   * update6_s: a 6-replica service (update parallelism 2, delay 0, stop-first) running; its spec changed (an
   * environment variable, so no image is pulled); seconds from the update call until 6 tasks of the new spec
   * run (desired and observed). The service is removed after.
   */
  async rollingUpdate(tag: string): Promise<number> {
    const via = await this.leader();
    const spec = sleepService(`cvu-${tag}`, this.bed.image, 6);
    spec.UpdateConfig = { Parallelism: 2, Delay: 0, Order: 'stop-first', FailureAction: 'pause' };
    const id = await this.create(via, spec);
    await this.untilRunning(via, id, 6, now());
    const cur = JSON.parse(await via.api.ok('GET', `/services/${id}`)) as {
      Version: { Index: number };
      Spec: { TaskTemplate: { ContainerSpec: { Env?: string[] } } };
    };
    cur.Spec.TaskTemplate.ContainerSpec.Env = ['SHOAL_BENCH_UPDATE=2'];
    const t0 = now();
    await via.api.ok('POST', `/services/${id}/update?version=${cur.Version.Index}`, cur.Spec);
    let have = -1;
    for (;;) {
      try {
        const body = await via.api.ok(
          'GET',
          `/tasks?filters=${q({ service: [id], 'desired-state': ['running'] })}`,
        );
        const ts = JSON.parse(body) as (TaskJson & { Spec?: { ContainerSpec?: { Env?: string[] } } })[];
        have = ts.filter(
          (t) =>
            t.DesiredState === 'running' &&
            t.Status?.State === 'running' &&
            (t.Spec?.ContainerSpec?.Env ?? []).includes('SHOAL_BENCH_UPDATE=2'),
        ).length;
        if (have === 6) break;
      } catch {
        // poll again
      }
      if (now() - t0 > this.opt.waitMaxMs)
        throw new Error(`6 updated tasks not running in ${this.opt.waitMaxMs} ms (last poll: ${have})`);
      await sleep(this.opt.pollMs);
    }
    const seconds = secs(now() - t0);
    await this.remove(via, id);
    return seconds;
  }

  /**
   * worker_loss_s: a 6-replica service; SIGKILL the shoald/dockerd of the worker holding most of its
   * tasks; seconds until 6 tasks run on the other nodes (and, beside it, until a manager marks the node
   * down, when that is seen before the tasks have moved). The worker is started again and the cluster
   * settles (all Ready, the service and its containers gone) before the next figure.
   */
  async workerLoss(tag: string): Promise<{
    seconds: number;
    downSeconds: number | null;
    victim: string;
    held: number;
    recoveryError: string | null;
  }> {
    const via = await this.leader();
    const id = await this.create(via, sleepService(`cvw-${tag}`, this.bed.image, 6));
    await this.untilRunning(via, id, 6, now());
    const held = new Map<string, number>();
    for (const t of await this.running(via, id)) {
      const n = this.names.get(t.NodeID ?? '');
      if (n && this.node(n).role === 'worker') held.set(n, (held.get(n) ?? 0) + 1);
    }
    // A node of the topology's workers (w1…) first: a manager that had to join as a worker is not one.
    const rank = ([n, c]: [string, number]) => (n.startsWith('w') ? 1000 : 0) + c;
    const [victim, count] = [...held].sort((a, b) => rank(b) - rank(a) || a[0].localeCompare(b[0]))[0] ?? [];
    if (!victim) throw new Error('no worker holds a task of the 6-replica service');
    log(`${this.bed.kind}: killing ${victim} (holds ${count} of 6 tasks)`);
    const victimId = this.idOf(victim);
    const t0 = now();
    await this.bed.kill(victim);
    const moved = this.untilRunning(via, id, 6, t0, victim);
    const down = this.watch(t0, moved, async () => {
      const n = JSON.parse(await via.api.ok('GET', `/nodes/${victimId}`)) as NodeJson;
      return n.Status?.State === 'down';
    });
    return this.thenRecover(
      (async () => ({ seconds: await moved, downSeconds: await down, victim, held: count }))(),
      async () => {
        await this.bed.start(victim);
        await this.untilAllReady();
        await this.remove(via, id);
      },
    );
  }

  /**
   * Awaits a measurement, then puts the cluster back (restart the killed node, wait for it). A recovery
   * that fails does not lose the figure already measured: it comes back as `recoveryError`.
   */
  private async thenRecover<T>(
    measured: Promise<T>,
    recover: () => Promise<void>,
  ): Promise<T & { recoveryError: string | null }> {
    let result: T;
    try {
      result = await measured;
    } catch (err) {
      await recover().catch((e) => log(`${this.bed.kind}: recovery failed too: ${(e as Error).message}`));
      throw err;
    }
    try {
      await recover();
      return { ...result, recoveryError: null };
    } catch (err) {
      return { ...result, recoveryError: (err as Error).message };
    }
  }

  /**
   * failover_s: SIGKILL the leader's daemon; seconds until another manager accepts a `service create`
   * (a 409 means an earlier attempt that timed out on our side was committed: accepted too), and beside
   * it until that manager names a new leader (when seen before the write is accepted). The old
   * leader is started again and rejoins before the next figure.
   */
  async failover(tag: string): Promise<{
    seconds: number;
    leaderSeconds: number | null;
    leader: string;
    via: string;
    recoveryError: string | null;
  }> {
    const leader = await this.leader();
    const other = this.bed.nodes.find((n) => n.role === 'manager' && n.name !== leader.name);
    if (!other) throw new Error('no other manager');
    log(`${this.bed.kind}: killing the leader ${leader.name}, writing through ${other.name}`);
    const spec = sleepService(`cvf-${tag}`, this.bed.image, 0);
    const oldId = this.idOf(leader.name);
    const t0 = now();
    await this.bed.kill(leader.name);
    let seconds: number | null = null;
    let wrote: () => void = () => {};
    const written = new Promise<void>((r) => {
      wrote = r;
    });
    const newLeader = this.watch(t0, written, async () => {
      const nodes = JSON.parse(await other.api.ok('GET', '/nodes')) as NodeJson[];
      return nodes.some((n) => n.ManagerStatus?.Leader && n.ID !== oldId);
    });
    const measured = (async () => {
      try {
        while (seconds === null) {
          try {
            const r = await other.api.call('POST', '/services/create', spec);
            if (r.status === 201 || r.status === 409) seconds = secs(now() - t0);
          } catch {
            // no answer in time: the election is still on
          }
          if (seconds === null) {
            if (now() - t0 > this.opt.waitMaxMs)
              throw new Error(`no write accepted in ${this.opt.waitMaxMs} ms`);
            await sleep(this.opt.pollMs);
          }
        }
      } finally {
        wrote();
      }
      return { seconds, leaderSeconds: await newLeader, leader: leader.name, via: other.name };
    })();
    return this.thenRecover(measured, async () => {
      await this.bed.start(leader.name);
      await this.untilAllReady();
      await this.sweep();
    });
  }
}
