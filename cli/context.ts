// What every command gets: the API client, the process's stdio and environment.
import type { Writable } from 'node:stream';
import type { Client } from './client.js';

export interface Cli {
  client: Client;
  out: Writable;
  err: Writable;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
}

/** A command: parses its own arguments, returns the process exit status. */
export type CommandFn = (cli: Cli, args: string[]) => Promise<number>;

/**
 * A usage error of a command. Its exit status follows docker: 125 for a flag that does not parse (an
 * unknown flag, a bad value), 1 for the wrong number of arguments or an unknown subcommand.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly status: 1 | 125 = 1,
  ) {
    super(message);
  }

  /** A flag that did not parse. */
  static flag(message: string, command: string): UsageError {
    return new UsageError(message, command, 125);
  }
}
