// Pure: the classic builder's word processing. Quotes and the esc character are honoured,
// `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}` are expanded
// from the build's variables, and arguments are split into words the way docker's shell lexer does.

export type Vars = ReadonlyMap<string, string>;

export class WordError extends Error {}

/** Expands one word (quotes removed). */
export function expandWord(s: string, vars: Vars, esc = '\\'): string {
  const words = process(s, vars, esc, false);
  return words.join(' ');
}

/** Splits into words (quotes keep spaces), each expanded. */
export function expandWords(s: string, vars: Vars, esc = '\\'): string[] {
  return process(s, vars, esc, true);
}

/** Splits into words without expanding (quotes kept) — for `k=v` lists where only values expand. */
export function splitRaw(s: string, esc = '\\'): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      cur += c;
      if (c === esc && quote === '"' && i + 1 < s.length) cur += s[++i];
      else if (c === quote) quote = '';
      continue;
    }
    if (c === esc && i + 1 < s.length) {
      cur += c + s[++i];
      has = true;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur += c;
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new WordError(`unterminated quote in: ${s}`);
  if (has) out.push(cur);
  return out;
}

function process(s: string, vars: Vars, esc: string, split: boolean): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let i = 0;
  const variable = (): string => {
    // at s[i] === '$'
    i++;
    if (s[i] === '{') {
      const close = matchBrace(s, i);
      const body = s.slice(i + 1, close);
      i = close + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([\s\S]*))?$/.exec(body);
      if (!m) throw new WordError(`bad substitution: \${${body}}`);
      const [, name, op, word] = m;
      const v = vars.get(name);
      if (!op) return v ?? '';
      const set = op.startsWith(':') ? v !== undefined && v !== '' : v !== undefined;
      const alt = () => expandWord(word ?? '', vars, esc);
      if (op.endsWith('-')) return set ? (v ?? '') : alt();
      return set ? alt() : '';
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
    if (!m) return '$';
    i += m[0].length;
    return vars.get(m[0]) ?? '';
  };
  while (i < s.length) {
    const c = s[i];
    if (c === esc) {
      if (i + 1 < s.length) cur += s[i + 1];
      has = true;
      i += 2;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new WordError(`unterminated single quote in: ${s}`);
      cur += s.slice(i + 1, end);
      has = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      has = true;
      for (;;) {
        if (i >= s.length) throw new WordError(`unterminated double quote in: ${s}`);
        const d = s[i];
        if (d === '"') {
          i++;
          break;
        }
        if (d === esc && i + 1 < s.length && ['"', '$', esc].includes(s[i + 1])) {
          cur += s[i + 1];
          i += 2;
        } else if (d === '$') cur += variable();
        else {
          cur += d;
          i++;
        }
      }
    } else if (c === '$') {
      const v = variable();
      if (split) {
        // an unquoted expansion splits on whitespace, as the shell does
        const parts = v.split(/\s+/);
        parts.forEach((p, k) => {
          if (k > 0) {
            if (has || cur) out.push(cur);
            cur = '';
            has = false;
          }
          cur += p;
          if (p) has = true;
        });
      } else {
        cur += v;
        if (v) has = true;
      }
    } else if (split && /\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
      i++;
    } else {
      cur += c;
      has = true;
      i++;
    }
  }
  if (has || (!split && out.length === 0)) out.push(cur);
  return out;
}

function matchBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return i;
  }
  throw new WordError(`missing '}' in: ${s}`);
}

/**
 * `K=V K2="v 2"` pairs (ENV, LABEL, ARG lists), values expanded; ENV's legacy `K value with spaces`
 * when `legacy` and the first word has no '='.
 */
export function parseKeyValues(
  args: string,
  vars: Vars,
  opts: { legacy?: boolean; esc?: string; what: string },
): [string, string][] {
  const esc = opts.esc ?? '\\';
  const raw = splitRaw(args, esc);
  if (raw.length === 0) throw new WordError(`${opts.what} requires at least one argument`);
  if (!raw[0].includes('=')) {
    if (!opts.legacy) throw new WordError(`${opts.what} names must be followed by = and a value: ${raw[0]}`);
    const key = raw[0];
    const rest = args
      .trim()
      .slice(args.trim().indexOf(key) + key.length)
      .trim();
    if (!rest) throw new WordError(`${opts.what} ${key} needs a value`);
    return [[key, expandWord(rest, vars, esc)]];
  }
  return raw.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw new WordError(`${opts.what}: "${w}" is not KEY=VALUE`);
    const key = expandWord(w.slice(0, eq), vars, esc);
    if (!key) throw new WordError(`${opts.what}: empty name in "${w}"`);
    return [key, expandWord(w.slice(eq + 1), vars, esc)];
  });
}
