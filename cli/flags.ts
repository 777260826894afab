// A docker-style flag parser: `--name value`, `--name=value`, `-e K=V`, combined short booleans
// (`-it`, `-itd`), repeatable flags, and flags ending at the first positional argument (for
// commands that take a command line: run, exec). Pure.

export type FlagType = 'bool' | 'string' | 'list';

export interface FlagSpec {
  long: string;
  short?: string;
  type: FlagType;
  /** Shown in help. */
  help?: string;
  /** Placeholder in help ("string", "bytes", …). */
  value?: string;
}

export interface ParsedFlags {
  bools: Set<string>;
  /** Booleans set to false explicitly (`--sig-proxy=false`), for flags that default to true. */
  falses: Set<string>;
  strings: Map<string, string>;
  lists: Map<string, string[]>;
  positionals: string[];
}

export class FlagError extends Error {}

export function flagLabel(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${spec.long}` : `--${spec.long}`;
}

/**
 * @param interspersed when false, everything from the first positional on is positional
 *   (`run IMAGE CMD --flag` passes `--flag` to CMD).
 */
export function parseFlags(argv: string[], specs: FlagSpec[], interspersed = true): ParsedFlags {
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const out: ParsedFlags = {
    bools: new Set(),
    falses: new Set(),
    strings: new Map(),
    lists: new Map(),
    positionals: [],
  };

  const set = (spec: FlagSpec, value: string | undefined) => {
    if (spec.type === 'bool') {
      if (value === undefined || value === 'true' || value === '1') {
        out.bools.add(spec.long);
        out.falses.delete(spec.long);
      } else if (value === 'false' || value === '0') {
        out.bools.delete(spec.long);
        out.falses.add(spec.long);
      } else
        throw new FlagError(
          `invalid argument "${value}" for "${flagLabel(spec)}" flag: expected true or false`,
        );
      return;
    }
    if (value === undefined) throw new FlagError(`flag needs an argument: ${flagLabel(spec)}`);
    if (spec.type === 'string') out.strings.set(spec.long, value);
    else out.lists.set(spec.long, [...(out.lists.get(spec.long) ?? []), value]);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      const spec = byLong.get(name);
      if (!spec) throw new FlagError(`unknown flag: --${name}`);
      if (eq > 0) set(spec, arg.slice(eq + 1));
      else if (spec.type === 'bool') set(spec, undefined);
      else {
        if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: ${flagLabel(spec)}`);
        set(spec, argv[++i]);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // -abc: booleans a, b, c; or -e VALUE / -eVALUE for the first non-boolean letter.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j];
        const spec = byShort.get(letter);
        if (!spec) throw new FlagError(`unknown shorthand flag: '${letter}' in ${arg}`);
        if (spec.type === 'bool') {
          set(spec, undefined);
          continue;
        }
        let rest = arg.slice(j + 1);
        if (rest.startsWith('=')) rest = rest.slice(1);
        if (rest !== '') set(spec, rest);
        else {
          if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: '${letter}' in ${arg}`);
          set(spec, argv[++i]);
        }
        break;
      }
      continue;
    }
    if (!interspersed) {
      out.positionals.push(...argv.slice(i));
      break;
    }
    out.positionals.push(arg);
  }
  return out;
}

export function usageText(usage: string, description: string, specs: FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${s.long}${s.type === 'bool' ? '' : ` ${s.value ?? (s.type === 'list' ? 'list' : 'string')}`}`;
    return [left, s.help ?? ''];
  });
  const width = Math.max(0, ...rows.map(([l]) => l.length));
  const lines = rows.map(([l, h]) => `  ${l.padEnd(width)}   ${h}`.trimEnd());
  return `\nUsage:  ${usage}\n\n${description}\n${lines.length ? `\nOptions:\n${lines.join('\n')}\n` : ''}`;
}
