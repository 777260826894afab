// Start-up and shut-down of shoald's process-level resources: directories, the pid file (one daemon
// per exec-root), the unix socket (root-only, stale ones replaced, live ones refused).
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import type { DaemonConfig } from './config.js';

export class StartupError extends Error {}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function pidFilePath(config: DaemonConfig): string {
  return join(config.execRoot, 'shoald.pid');
}

/** Claims the exec-root: refuses when a live shoald holds its pid file, replaces a stale one. */
export function claimPidFile(config: DaemonConfig): void {
  const file = pidFilePath(config);
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {}
      if (cmd.includes('shoald')) {
        throw new StartupError(
          `another shoald (pid ${pid}) is using exec-root ${config.execRoot}; stop it first`,
        );
      }
    }
  }
  writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The data root holds image content (setuid binaries, device nodes, private blobs) and container
 * state and logs; the exec root, runtime state. Other users may traverse the data root (0711, as
 * dockerd) but nothing below it: images/ is 0700 and containers/ 0710 (their owners set that too).
 * Modes are set on existing directories as well, so an old or hand-made root is fixed at start.
 */
export function prepareDirs(config: DaemonConfig): void {
  mkdirSync(config.dataRoot, { recursive: true, mode: 0o711 });
  chmodSync(config.dataRoot, 0o711);
  for (const [sub, mode] of [
    ['images', 0o700],
    ['containers', 0o710],
  ] as const) {
    mkdirSync(join(config.dataRoot, sub), { recursive: true, mode });
    chmodSync(join(config.dataRoot, sub), mode);
  }
  mkdirSync(config.execRoot, { recursive: true, mode: 0o700 });
  chmodSync(config.execRoot, 0o700);
  mkdirSync(dirname(config.socketPath), { recursive: true, mode: 0o755 });
}

/** Listens on the unix socket with mode 0600 from the first moment (umask), after removing a stale socket. */
export async function listenUnix(server: Server, path: string): Promise<void> {
  if (existsSync(path)) {
    if (await socketAnswers(path)) throw new StartupError(`socket ${path} is in use by another process`);
    rmSync(path, { force: true });
  }
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
}

export function releasePidFile(config: DaemonConfig): void {
  try {
    if (readFileSync(pidFilePath(config), 'utf8').trim() === String(process.pid)) rmSync(pidFilePath(config));
  } catch {}
}

export function releaseFiles(config: DaemonConfig): void {
  rmSync(config.socketPath, { force: true });
  releasePidFile(config);
}
