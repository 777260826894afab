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
  const found: unknown[] = [];
  let status = 0;
  for (const ref of f.positionals) {
    try {
      found.push(await cli.client.get(`/containers/${encodeURIComponent(ref)}/json`));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      cli.err.write(`Error: No such object: ${ref}\n`);
      status = 1;
    }
  }
  const format = f.strings.get('format');
  if (format !== undefined) {
    try {
      for (const item of found) cli.out.write(`${renderTemplate(format, item)}\n`);
    } catch (err) {
      cli.err.write(`${(err as Error).message}\n`);
      return 1;
    }
  } else {
    cli.out.write(`${JSON.stringify(found, null, 4)}\n`);
  }
  return status;
}
