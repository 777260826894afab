// `shoal inspect [-f TEMPLATE] CONTAINER...`: docker's JSON array, or a Go-template subset
// (`{{.State.Status}}`, `{{json .Config.Env}}`, `{{.Name}}`).
import { ApiError } from '../client.js';
import type { Cli } from '../context.js';
import { parseCommand } from './common.js';

function lookup(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const key of path.split('.').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function show(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (typeof v === 'object')
    return `map[${Object.entries(v as object)
      .map(([k, x]) => `${k}:${show(x)}`)
      .join(' ')}]`;
  return String(v);
}

/** Renders `{{.A.B}}` and `{{json .A}}` actions; other text is copied. Throws on unsupported actions. */
export function renderTemplate(template: string, data: unknown): string {
  return template.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, action: string) => {
    const json = /^json\s+(\.[\w.]*)$/.exec(action);
    if (json) return JSON.stringify(json[1] === '.' ? data : lookup(data, json[1].slice(1)));
    if (/^\.[\w.]*$/.test(action)) return show(action === '.' ? data : lookup(data, action.slice(1)));
    throw new Error(`template: unsupported action "{{${action}}}": use {{.Field.Path}} or {{json .Field}}`);
  });
}

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
