// The engine's use of `shoal-runtime`: create goes through the addon (native.ts); delete and ps
// run the executable asynchronously. Paths of a container's runtime state live here too.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError, InternalError } from './errors.js';
import type { MonitorExit } from './monitor-client.js';
import * as native from './native.js';
import type { OciSeccomp } from './spec/seccomp.js';

export interface CreateArgs {
  id: string;
  bundle: string;
  logPath: string;
  logMaxSize: number;
  logMaxFiles: number;
  stdin: boolean;
}

export class Runtime {
  /** `root` is shoal-runtime's --root (<execRoot>/runtime). */
  constructor(readonly root: string) {}

  stateDir(id: string): string {
    return join(this.root, id);
  }
  socketPath(id: string): string {
    return join(this.root, id, 'ctl.sock');
  }

  /** The init `--init` runs (shoal-init, built with the runtime); undefined when it is missing. */
  initPath(): string | undefined {
    const path = native.initPath();
    return existsSync(path) ? path : undefined;
  }

  /** The exit status the monitor left behind, if it wrote one. */
  readExit(id: string): MonitorExit | undefined {
    try {
      const e = JSON.parse(readFileSync(join(this.root, id, 'exit.json'), 'utf8'));
      return {
        exitCode: Number(e.exitCode),
        signal: e.signal ?? null,
        oomKilled: !!e.oomKilled,
        finishedAt: String(e.finishedAt ?? ''),
      };
    } catch {
      return undefined;
    }
  }

  /** When the container's process was started, from the runtime's state.json. */
  readStarted(id: string): string | undefined {
    try {
      const st = JSON.parse(readFileSync(join(this.root, id, 'state.json'), 'utf8'));
      return typeof st.started === 'string' ? st.started : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Compiles a seccomp filter into the runtime's cache under `root` (`seccomp-prepare`), where `create`
   * looks first: a create with that filter then skips libseccomp's compile.
   */
  async prepareSeccomp(profile: OciSeccomp): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-seccomp-'));
    try {
      await writeFile(join(dir, 'config.json'), JSON.stringify({ linux: { seccomp: profile } }));
      await native.runtimeVerb(['--root', this.root, 'seccomp-prepare', '--bundle', dir]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Creates the container (monitor running, init blocked before exec). Failures leave nothing behind. */
  async create(a: CreateArgs): Promise<void> {
    const args = [
      '--root',
      this.root,
      'create',
      '--bundle',
      a.bundle,
      '--log-path',
      a.logPath,
      '--log-max-size',
      String(a.logMaxSize),
      '--log-max-files',
      String(a.logMaxFiles),
      ...(a.stdin ? ['--stdin'] : []),
      a.id,
    ];
    try {
      await native.create(args);
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw new InternalError(`creating container ${a.id}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Removes cgroups and the state dir; `force` kills a live container first. Idempotent.
   * Resolves only once the monitor process is gone too, so "removed" means nothing is left.
   */
  async delete(id: string, force: boolean): Promise<void> {
    const monitorPid = this.monitorPid(id);
    try {
      await native.runtimeVerb(['--root', this.root, 'delete', ...(force ? ['--force'] : []), id]);
    } catch (e) {
      if (!(e instanceof native.RuntimeError && e.runtimeKind === 'not-found')) throw e;
    }
    if (monitorPid) await waitGone(monitorPid, 5000);
  }

  private monitorPid(id: string): number | undefined {
    try {
      const st = JSON.parse(readFileSync(join(this.root, id, 'state.json'), 'utf8'));
      return Number(st.monitorPid) || undefined;
    } catch {
      return undefined;
    }
  }

  /** New cgroup limits for a live container, from an OCI LinuxResources file (runc's `update --resources`). */
  async update(id: string, resourcesFile: string): Promise<void> {
    await native.runtimeVerb(['--root', this.root, 'update', '--resources', resourcesFile, id]);
  }

  /** Pids in the container's cgroup. */
  async ps(id: string): Promise<number[]> {
    const out = await native.runtimeVerb(['--root', this.root, 'ps', '--format', 'json', id]);
    const pids: unknown = JSON.parse(out);
    if (!Array.isArray(pids) || !pids.every((p) => Number.isInteger(p)))
      throw new InternalError(`runtime ps ${id}: not a list of pids: ${out.slice(0, 200)}`);
    return pids as number[];
  }
}

/**
 * Whether `pid` still runs. A zombie counts as gone: where PID 1 does not reap orphans (some
 * sandboxes), an exited monitor stays a zombie forever.
 */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the parenthesised command name, which may itself hold ") ".
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until `pid` has exited (the monitor leaves by itself once told to shut down). */
async function waitGone(pid: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (processAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}
