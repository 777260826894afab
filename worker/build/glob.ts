// Pure: COPY/ADD source patterns as docker matches them (Go's filepath.Match, one path component at a time):
// `*` any run of characters but "/", `?` one, `[a-z]` / `[^a-z]` classes, `\` escapes.

export function hasGlob(p: string): boolean {
  return /[*?[]/.test(p);
}

/** A component pattern as a RegExp; throws on a malformed class, as Go's ErrBadPattern. */
export function componentRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      i++;
      if (i >= pattern.length) throw new Error(`bad pattern "${pattern}": trailing backslash`);
      re += escapeRe(pattern[i]);
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new Error(`bad pattern "${pattern}": unterminated [`);
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\]\\]/g, '\\$&')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
