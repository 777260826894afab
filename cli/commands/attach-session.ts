// The attached part of `run`, `start -a` and `exec`: output to the terminal, stdin to the container,
// raw mode and window-size updates for `-t`.
import type { Socket } from 'node:net';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../../common/detach-keys.js';
import type { Client } from '../client.js';
import type { Cli } from '../context.js';
import { enterRawMode, pumpInput, pumpOutput } from '../stdio.js';

export interface Session {
  /** Resolves when the container's (or exec's) output has ended. */
  output: Promise<void>;
  /** Resolves when the user typed the detach keys (the container goes on). */
  detached: Promise<void>;
  /** Restores the terminal. */
  restore(): void;
}

/** Wires a hijacked socket to the local stdio. `resizePath`: where to POST window sizes (`-t`). */
export function startSession(
  cli: Cli,
  socket: Socket,
  opts: { tty: boolean; stdin: boolean; client: Client; resizePath?: string; detachKeys?: Buffer },
): Session {
  const restoreRaw = opts.tty && opts.stdin ? enterRawMode(cli.stdin) : () => {};
  let onDetach = () => {};
  const detached = new Promise<void>((res) => {
    onDetach = res;
  });
  // as the docker CLI: a terminal's ctrl-p,ctrl-q unless other keys were given; without a TTY only those
  const keys = opts.detachKeys ?? (opts.tty ? parseDetachKeys(DEFAULT_DETACH_KEYS) : undefined);
  const output = pumpOutput(socket, opts.tty, cli.out, cli.err).catch(() => {});
  pumpInput(socket, opts.stdin ? cli.stdin : undefined, keys ? { keys, onDetach } : undefined);
  let onResize: (() => void) | undefined;
  const stdoutTty = cli.out as NodeJS.WriteStream;
  if (opts.tty && opts.resizePath && stdoutTty.isTTY) {
    const path = opts.resizePath;
    onResize = () => {
      opts.client.post(path, { h: stdoutTty.rows, w: stdoutTty.columns }).catch(() => {});
    };
    process.on('SIGWINCH', onResize);
  }
  return {
    output,
    detached,
    restore() {
      restoreRaw();
      if (onResize) process.off('SIGWINCH', onResize);
      if (opts.stdin) cli.stdin.pause();
    },
  };
}

/** Sends the current window size once; resolves when the daemon answered (errors are ignored). */
export async function sendSize(cli: Cli, client: Client, path: string): Promise<void> {
  const out = cli.out as NodeJS.WriteStream;
  if (out.isTTY && out.rows && out.columns)
    await client.post(path, { h: out.rows, w: out.columns }).catch(() => {});
}

/**
 * `-it` needs a terminal on stdin: refused before anything is created, as the docker CLI refuses it (its
 * CheckTtyInput). Returns the exit status to end with, or undefined to go on.
 */
export function refuseTtyWithoutTerminal(cli: Cli, tty: boolean, stdin: boolean): number | undefined {
  if (!tty || !stdin || cli.stdin.isTTY) return undefined;
  cli.err.write('the input device is not a TTY\n');
  return 1;
}
