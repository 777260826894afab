// `shoal inspect [-f TEMPLATE] CONTAINER...`: docker's JSON array, or a Go-template subset
// (`{{.State.Status}}`, `{{json .Config.Env}}`, `{{.Name}}`).
import { ApiError } from '../client.js';
import type { Cli } from '../context.js';
import { renderTemplate } from '../template.js';
import { parseCommand } from './common.js';

export async function inspect(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'inspect',
      usage: 'shoal inspect [OPTIONS] CONTAINER [CONTAINER...]',
      description: 'Return low-level information on containers',
      flags: [
        {
          long: 'format',
          short: 'f',
          type: 'string',
          help: 'Format output using a Go template subset ({{.Path}}, {{json .Path}})',
        },
        { long: 'type', type: 'string', help: 'Return JSON for specified type (container)' },
      ],
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  return inspectEach(cli, f.positionals, {
    fetch: (ref) => cli.client.get(`/containers/${encodeURIComponent(ref)}/json`),
    missing: (ref) => `No such object: ${ref}`,
    format: f.strings.get('format'),
  });
}

export interface InspectOptions<T> {
  /** Reads one object; a 404 means "missing", anything else is thrown. */
  fetch: (ref: string) => Promise<T>;
  /** The error line for a missing ref (after "Error: "). */
  missing: (ref: string) => string;
  format: string | undefined;
  /** The `--pretty` rendering, when asked for. */
  pretty?: (item: T) => string;
}

/**
 * The inspect commands' shared shape (containers, nodes, services): fetch every ref, report the missing
 * ones and exit 1 for them, print what was found as docker does (pretty text, one template line per
 * object, or a JSON array).
 */
export async function inspectEach<T>(cli: Cli, refs: string[], o: InspectOptions<T>): Promise<number> {
  const found: T[] = [];
  let status = 0;
  for (const ref of refs) {
    try {
      found.push(await o.fetch(ref));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      cli.err.write(`Error: ${o.missing(ref)}\n`);
      status = 1;
    }
  }
  if (o.pretty) {
    cli.out.write(found.map(o.pretty).join('\n\n'));
  } else if (o.format !== undefined) {
    try {
      for (const item of found) cli.out.write(`${renderTemplate(o.format, item)}\n`);
    } catch (err) {
      cli.err.write(`${(err as Error).message}\n`);
      return 1;
    }
  } else {
    cli.out.write(`${JSON.stringify(found, null, 4)}\n`);
  }
  return status;
}
