// Shared helpers for the engine's integration tests: a manager on its own temp dirs, the busybox
// fixture, output collection, and checks that a container left nothing behind.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogEntry, ManagerOptions } from '../../worker/engine/index.js';
import { ContainerManager } from '../../worker/engine/index.js';
import { processAlive } from '../../worker/engine/runtime.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ROOTFS = join(repo, 'test', 'fixtures', 'out', 'rootfs');

/** Builds the busybox fixture once (idempotent). */
export function ensureFixture(): void {
  if (!existsSync(join(ROOTFS, 'bin', 'busybox')))
    execFileSync('bash', [join(repo, 'test', 'fixtures', 'make-fixtures.sh')], { stdio: 'inherit' });
}

export interface Env {
  dataRoot: string;
  execRoot: string;
  managers: ContainerManager[];
  open(extra?: Partial<ManagerOptions>): Promise<ContainerManager>;
  cleanup(): Promise<void>;
}

/** Short temp paths: the monitor's socket lives at <execRoot>/runtime/<64 hex>/ctl.sock (108-byte limit). */
export function makeEnv(): Env {
  const base = mkdtempSync('/tmp/se-');
  const env: Env = {
    dataRoot: join(base, 'd'),
    execRoot: join(base, 'x'),
    managers: [],
    async open(extra = {}) {
      const m = await ContainerManager.open({ dataRoot: env.dataRoot, execRoot: env.execRoot, ...extra });
      env.managers.push(m);
      return m;
    },
    async cleanup() {
      // Close the test's managers, then remove every container through a fresh one.
      for (const mm of env.managers) await mm.close();
      const m = await ContainerManager.open({ dataRoot: env.dataRoot, execRoot: env.execRoot });
      for (const c of m.list({ all: true })) await m.remove(c.id, { force: true }).catch(() => {});
      await m.close();
      rmSync(base, { recursive: true, force: true });
    },
  };
  return env;
}

export async function collectLogs(it: AsyncIterable<LogEntry>): Promise<{ stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  for await (const e of it) {
    if (e.stream === 'stdout') stdout += e.line.toString();
    else stderr += e.line.toString();
  }
  return { stdout, stderr };
}

/** Reads a Docker multiplexed stream to its end: [stream,0,0,0,len BE] payload frames. */
export async function demux(
  stream: AsyncIterable<Buffer | string>,
): Promise<{ stdout: string; stderr: string }> {
  let buf = Buffer.alloc(0);
  for await (const c of stream) buf = Buffer.concat([buf, Buffer.isBuffer(c) ? c : Buffer.from(c)]);
  let stdout = '';
  let stderr = '';
  let off = 0;
  while (off + 8 <= buf.length) {
    const kind = buf[off];
    const len = buf.readUInt32BE(off + 4);
    const payload = buf.subarray(off + 8, off + 8 + len).toString();
    if (kind === 2) stderr += payload;
    else stdout += payload;
    off += 8 + len;
  }
  return { stdout, stderr };
}

/** Everything a container could leave on the host, for "leaves nothing behind" checks. */
export function traces(env: Env, id: string): string[] {
  const found: string[] = [];
  if (existsSync(join(env.dataRoot, 'containers', id))) found.push(`bundle dir of ${id}`);
  if (existsSync(join(env.execRoot, 'runtime', id))) found.push(`runtime state of ${id}`);
  for (const ctl of readdirSync('/sys/fs/cgroup')) {
    const p = join('/sys/fs/cgroup', ctl, 'shoal', id);
    if (existsSync(p)) found.push(`cgroup ${p}`);
  }
  if (existsSync(join('/sys/fs/cgroup/shoal', id))) found.push('cgroup v2 dir');
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(id)) found.push('mount');
  return found;
}

/** Container dirs, runtime state dirs and cgroups of this env (for bad-input checks with no id). */
export function allTraces(env: Env): string[] {
  const ls = (p: string) => (existsSync(p) ? readdirSync(p) : []);
  return [
    ...ls(join(env.dataRoot, 'containers')).map((d) => `container dir ${d}`),
    // Dot-dirs are the runtime's own shared caches (e.g. compiled seccomp filters), not a container's.
    ...ls(join(env.execRoot, 'runtime'))
      .filter((d) => !d.startsWith('.'))
      .map((d) => `runtime dir ${d}`),
  ];
}

/** Running (not a zombie: on some hosts PID 1 never reaps orphaned monitors). */
export function pidAlive(pid: number): boolean {
  return processAlive(pid);
}

export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
