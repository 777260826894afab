// Typed reads of a parsed JSON body: each getter checks the type and names the field in its error
// ("invalid TaskTemplate.ContainerSpec.Env: must be an array of strings"). Unknown fields are ignored, as
// dockerd does; null is read as absent (Go's nil).
import { invalidArgument } from '../../../common/errors.js';

export type Json = Record<string, unknown>;

const bad = (field: string, what: string, v: unknown) =>
  invalidArgument(
    field,
    `must be ${what}, not ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`,
  );

/** Go's zero value, deeply: what a client sends for a field it leaves alone. */
function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v as Json).every(isEmpty);
  return false;
}

export class Reader {
  constructor(
    private readonly o: Json,
    private readonly path: string,
  ) {}

  static of(v: unknown, path = ''): Reader {
    if (v === undefined || v === null) return new Reader({}, path);
    if (typeof v !== 'object' || Array.isArray(v)) throw bad(path || 'body', 'an object', v);
    return new Reader(v as Json, path);
  }

  field(k: string): string {
    return this.path ? `${this.path}.${k}` : k;
  }

  /** The field as parsed, unchecked (to hand a sub-object to another translator). */
  raw(k: string): unknown {
    return this.o[k];
  }

  has(k: string): boolean {
    return this.o[k] !== undefined && this.o[k] !== null;
  }

  str(k: string, dflt = ''): string {
    const v = this.o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string') throw bad(this.field(k), 'a string', v);
    if (v.includes('\0')) throw invalidArgument(this.field(k), 'must not contain a NUL byte');
    return v;
  }

  int(k: string, dflt = 0): number {
    const v = this.o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(this.field(k), 'an integer', v);
    return v;
  }

  /** An unsigned integer (Go's uint64): negative values are refused here, naming the field. */
  uint(k: string, dflt = 0): number {
    const n = this.int(k, dflt);
    if (n < 0) throw invalidArgument(this.field(k), `must not be negative, not ${n}`);
    return n;
  }

  num(k: string, dflt = 0): number {
    const v = this.o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(this.field(k), 'a number', v);
    return v;
  }

  bool(k: string, dflt = false): boolean {
    const v = this.o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') throw bad(this.field(k), 'a boolean', v);
    return v;
  }

  optBool(k: string): boolean | undefined {
    return this.has(k) ? this.bool(k) : undefined;
  }

  strs(k: string): string[] {
    const v = this.o[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw bad(this.field(k), 'an array of strings', v);
    return v as string[];
  }

  map(k: string): Record<string, string> {
    const v = this.o[k];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw bad(this.field(k), 'an object of strings', v);
    for (const [key, x] of Object.entries(v)) {
      if (typeof x !== 'string') throw bad(`${this.field(k)}.${key}`, 'a string', x);
    }
    return { ...(v as Record<string, string>) };
  }

  obj(k: string): Reader | undefined {
    return this.has(k) ? Reader.of(this.o[k], this.field(k)) : undefined;
  }

  list(k: string): Reader[] {
    const v = this.o[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw bad(this.field(k), 'an array', v);
    return v.map((x, i) => Reader.of(x, `${this.field(k)}[${i}]`));
  }

  /**
   * Refuses a Docker field shoal does not honour yet when it carries a value (an empty object, list, string,
   * 0 or false is what clients echo back and is let through), naming the field and the CLI flag.
   */
  refuse(k: string, flag: string, allowed: readonly unknown[] = []): void {
    const v = this.o[k];
    if (isEmpty(v) || allowed.includes(v)) return;
    throw invalidArgument(this.field(k), `not supported by shoal yet (${flag}): ${JSON.stringify(v)}`);
  }

  /** One of `names` (an enum's JSON spelling); '' or absent gives `dflt`. */
  oneOf<T>(k: string, names: Record<string, T>, dflt: T): T {
    const s = this.str(k);
    if (s === '') return dflt;
    const v = names[s.toLowerCase()];
    if (v === undefined)
      throw invalidArgument(this.field(k), `"${s}" is not one of ${Object.keys(names).join(', ')}`);
    return v;
  }
}
