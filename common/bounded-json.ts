// JSON.parse with a nesting limit. V8 parses deep input fine, but everything after it that walks
// the value recursively (JSON.stringify for a reply or the store, structuredClone, the schema
// validator) throws "Maximum call stack size exceeded" somewhere far from the input. One linear scan
// of the text, before parsing, refuses such input where it enters.

/** Deeper than any Engine-API body or stored record (they nest under ten levels). */
export const MAX_JSON_DEPTH = 64;

export class JsonDepthError extends Error {
  constructor(readonly limit: number) {
    super(`JSON nested deeper than ${limit} levels`);
    this.name = 'JsonDepthError';
  }
}

/** The deepest nesting of `[`/`{` in a JSON text (strings skipped); stops counting past `stopAt`. */
export function jsonDepth(text: string, stopAt = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > stopAt) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** JSON.parse that throws JsonDepthError for input nested deeper than `limit`. */
export function parseBoundedJson(text: string, limit = MAX_JSON_DEPTH): unknown {
  if (jsonDepth(text, limit) > limit) throw new JsonDepthError(limit);
  return JSON.parse(text);
}
