// Variable substitution in compose values, as docker's (compose's) template package does it: $VAR, ${VAR},
// ${VAR:-default} / ${VAR-default} (default when unset or empty / when unset), ${VAR:?message} /
// ${VAR?message} (an error when unset or empty / when unset), ${VAR:+alt} / ${VAR+alt}, and $$ for a
// literal $. Pure: the variables are passed in. Defaults are themselves substituted.

export class InterpolationError extends Error {}

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/;

export function interpolate(text: string, vars: Readonly<Record<string, string | undefined>>): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new InterpolationError(`invalid interpolation format for "${text}": unclosed "\${"`);
      out += braced(text.slice(i + 2, end), vars, text);
      i = end + 1;
    } else {
      const m = NAME.exec(text.slice(i + 1));
      if (!m) {
        // A lone $ (before a space, a digit, the end…) is kept, as compose does.
        out += '$';
        i++;
        continue;
      }
      out += vars[m[0]] ?? '';
      i += 1 + m[0].length;
    }
  }
  return out;
}

/** The index of the "}" closing a "${" whose body starts at `from` (nested ${…} in defaults allowed). */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function braced(body: string, vars: Readonly<Record<string, string | undefined>>, whole: string): string {
  const m = NAME.exec(body);
  if (!m) throw new InterpolationError(`invalid interpolation format for "${whole}": "\${${body}}"`);
  const name = m[0];
  const rest = body.slice(name.length);
  const value = vars[name];
  if (rest === '') return value ?? '';
  const op = /^(:?)([-?+])/.exec(rest);
  if (!op) throw new InterpolationError(`invalid interpolation format for "${whole}": "\${${body}}"`);
  const arg = rest.slice(op[0].length);
  const missing = op[1] === ':' ? value === undefined || value === '' : value === undefined;
  switch (op[2]) {
    case '-':
      return missing ? interpolate(arg, vars) : (value as string);
    case '+':
      return missing ? '' : interpolate(arg, vars);
    default:
      if (missing)
        throw new InterpolationError(
          `required variable ${name} is ${op[1] ? 'missing or empty' : 'missing'}${arg ? `: ${interpolate(arg, vars)}` : ''}`,
        );
      return value as string;
  }
}

/** A .env file: KEY=VALUE lines, # comments and blank lines skipped, optional quotes removed. */
export function parseDotEnv(text: string, file = '.env'): Record<string, string> {
  const vars: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).replace(/^export\s+/, '').trim();
    if (NAME.exec(key)?.[0] !== key)
      throw new InterpolationError(`${file}:${i + 1}: "${key}" is not a variable name`);
    let value = eq < 0 ? '' : line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) value = value.slice(1, -1);
    vars[key] = value;
  });
  return vars;
}
