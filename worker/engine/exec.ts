// Exec instances: created against a running container, started through its monitor, their
// exit code fetched from the monitor once the process is gone. A finished exec stays inspectable for
// a while (docker clients inspect it right after its stream ends), then it is forgotten: health-check
// probes are execs, one every few seconds for the container's life, and must not pile up.
import { NotFoundError } from './errors.js';
import type { MonitorClient, MonitorProcess } from './monitor-client.js';
import { mergeEnv } from './spec/build.js';
import type { OciSpec } from './spec/defaults.js';
import { rootfsReader } from './spec/rootfs-files.js';
import { resolveUser } from './spec/user.js';
import type { ExecOptions } from './types.js';

export interface ExecRecord {
  id: string;
  containerId: string;
  options: ExecOptions;
  started: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
  monitorExecId?: string;
  /** When it was seen to have finished (ms, the table's clock): from then on it may be forgotten. */
  finishedAt?: number;
}

/** How long finished execs are kept, and how many at most per container (the oldest go first). */
export interface ExecRetention {
  keepFinishedMs: number;
  maxFinishedPerContainer: number;
}

/** Docker's exec GC ran every 5 minutes; the cap bounds a container probed every second. */
export const EXEC_RETENTION: ExecRetention = { keepFinishedMs: 5 * 60_000, maxFinishedPerContainer: 64 };

export class ExecTable {
  private readonly execs = new Map<string, ExecRecord>();

  constructor(
    private readonly randomId: () => string,
    private readonly nowMs: () => number = Date.now,
    private readonly retention: ExecRetention = EXEC_RETENTION,
  ) {}

  /** A new exec, not started. Forgets what has finished long enough ago (or too many times). */
  add(containerId: string, options: ExecOptions): string {
    this.prune(containerId);
    const id = this.randomId();
    this.execs.set(id, {
      id,
      containerId,
      options: structuredClone(options),
      started: false,
      running: false,
      exitCode: null,
      pid: 0,
    });
    return id;
  }

  get(id: string): ExecRecord {
    const ex = this.execs.get(id);
    if (!ex) throw new NotFoundError(`No such exec instance: ${id}`);
    return ex;
  }

  idsOf(containerId: string): string[] {
    return [...this.execs.values()].filter((e) => e.containerId === containerId).map((e) => e.id);
  }

  /**
   * The OCI process for an exec: the container's security settings with the exec's command, env,
   * cwd and user. `configEnv` is the container's own Env (to tell a HOME the user set from the
   * one the engine derived); `privilegedCaps` is what a privileged exec gets (the daemon's set).
   */
  processFor(
    ex: ExecRecord,
    c: {
      spec: OciSpec;
      rootfsLayers: string[];
      tty: boolean;
      configEnv: string[];
      privilegedCaps: readonly string[];
    },
  ): MonitorProcess {
    const o = ex.options;
    const base = c.spec.process;
    let env = mergeEnv(base.env ?? [], o.env ?? []);
    let user: MonitorProcess['user'];
    if (o.user !== undefined && o.user !== '') {
      const u = resolveUser(o.user, rootfsReader(c.rootfsLayers));
      user = {
        uid: u.uid,
        gid: u.gid,
        ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}),
      };
      // HOME follows the exec's user unless someone set it explicitly.
      const setHome = (list: readonly string[]) => list.some((e) => e.startsWith('HOME='));
      if (!setHome(c.configEnv) && !setHome(o.env ?? [])) env = mergeEnv(env, [`HOME=${u.home}`]);
    } else {
      user = {
        uid: base.user.uid,
        gid: base.user.gid,
        ...(base.user.additionalGids ? { additionalGids: base.user.additionalGids } : {}),
      };
    }
    const caps = o.privileged ? [...c.privilegedCaps] : undefined;
    const capabilities = caps
      ? { bounding: caps, effective: caps, permitted: caps }
      : (base.capabilities as Record<string, string[]> | undefined);
    if (c.tty && !env.some((e) => e.startsWith('TERM='))) env = [...env, 'TERM=xterm'];
    return {
      terminal: c.tty,
      ...(c.tty && o.consoleSize ? { consoleSize: o.consoleSize } : {}),
      user,
      args: [...o.cmd],
      env,
      cwd: o.workingDir || base.cwd,
      ...(capabilities ? { capabilities } : {}),
      noNewPrivileges: !!base.noNewPrivileges,
      ...(base.rlimits ? { rlimits: base.rlimits } : {}),
    };
  }

  /** A started exec is over: not running, and (when known) with its exit code. Idempotent. */
  finished(ex: ExecRecord, exitCode?: number | null): void {
    this.markFinished(ex, exitCode);
    this.prune(ex.containerId);
  }

  private markFinished(ex: ExecRecord, exitCode?: number | null): void {
    ex.running = false;
    if (exitCode !== undefined) ex.exitCode = exitCode;
    ex.finishedAt ??= this.nowMs();
  }

  /** Asks the monitor whether the process still runs and for its exit code. */
  async refresh(ex: ExecRecord, monitor: MonitorClient): Promise<void> {
    if (!ex.monitorExecId) return;
    try {
      const st = await monitor.execState(ex.monitorExecId);
      if (st.pid) ex.pid = st.pid;
      if (st.running) ex.running = true;
      else this.finished(ex, st.exitCode);
    } catch {
      // Monitor gone: the container (and so the exec) has exited; its code is unknown.
      this.finished(ex);
    }
  }

  /** Execs of an exited container stop running (their code stays what the monitor last said). */
  containerExited(containerId: string): void {
    for (const e of this.execs.values()) if (e.containerId === containerId && e.started) this.markFinished(e);
    this.prune(containerId);
  }

  /**
   * Forgets finished execs older than the retention, and a container's oldest finished ones beyond
   * the cap. Execs not started or still running are kept: their result is still to come.
   */
  prune(containerId?: string): void {
    const now = this.nowMs();
    const { keepFinishedMs, maxFinishedPerContainer } = this.retention;
    const done: ExecRecord[] = [];
    for (const [id, e] of this.execs) {
      if (e.finishedAt === undefined) continue;
      if (now - e.finishedAt >= keepFinishedMs) this.execs.delete(id);
      else if (e.containerId === containerId) done.push(e);
    }
    const excess = done.length - maxFinishedPerContainer;
    if (excess <= 0) return;
    done.sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
    for (const e of done.slice(0, excess)) this.execs.delete(e.id);
  }

  /** Forgets one exec at once (a health probe: docker does not list them once they are done). */
  forget(id: string): void {
    this.execs.delete(id);
  }

  containerRemoved(containerId: string): void {
    for (const [id, e] of this.execs) if (e.containerId === containerId) this.execs.delete(id);
  }
}
