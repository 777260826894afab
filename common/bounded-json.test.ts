import { describe, expect, it } from 'vitest';
import { JsonDepthError, jsonDepth, MAX_JSON_DEPTH, parseBoundedJson } from './bounded-json.js';

describe('bounded JSON', () => {
  it('measures nesting and ignores brackets inside strings, escaped quotes included', () => {
    expect(jsonDepth('1')).toBe(0);
    expect(jsonDepth('{"a":[1,{"b":[]}]}')).toBe(4);
    expect(jsonDepth('["[[[[", "\\"[[[", {}]')).toBe(2);
  });

  it('parses up to the limit and refuses deeper input before parsing it', () => {
    const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(parseBoundedJson(nest(MAX_JSON_DEPTH))).toBeInstanceOf(Array);
    expect(() => parseBoundedJson(nest(MAX_JSON_DEPTH + 1))).toThrow(JsonDepthError);
    // The input that made JSON.stringify overflow the stack downstream.
    expect(() => parseBoundedJson(`{"Labels":${nest(1_000_000)}}`)).toThrow(
      `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
    );
    expect(() => parseBoundedJson('{"a":')).toThrow(SyntaxError);
  });
});
