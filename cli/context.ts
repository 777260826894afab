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

/** A usage error of a command (bad flag, wrong argument count): exit status 125 for run/create, 1 elsewhere. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
  }
}
