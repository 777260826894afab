// Exec instances: created against a running container, started through its monitor, their
// exit code fetched from the monitor once the process is gone.
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
}

export class ExecTable {
  private readonly execs = new Map<string, ExecRecord>();

  constructor(private readonly randomId: () => string) {}

  add(containerId: string, options: ExecOptions): string {
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

  /** Asks the monitor whether the process still runs and for its exit code. */
  async refresh(ex: ExecRecord, monitor: MonitorClient): Promise<void> {
    if (!ex.monitorExecId) return;
    try {
      const st = await monitor.execState(ex.monitorExecId);
      ex.running = st.running;
      if (!st.running) ex.exitCode = st.exitCode;
      if (st.pid) ex.pid = st.pid;
    } catch {
      // Monitor gone: the container (and so the exec) has exited; its code is unknown.
      ex.running = false;
    }
  }

  /** Execs of an exited container stop running (their code stays what the monitor last said). */
  containerExited(containerId: string): void {
    for (const e of this.execs.values()) if (e.containerId === containerId) e.running = false;
  }

  containerRemoved(containerId: string): void {
    for (const [id, e] of this.execs) if (e.containerId === containerId) this.execs.delete(id);
  }
}
