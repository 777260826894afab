// Reading compose files: YAML (the `yaml` package, keeping every node's line and column, anchors and merge
// keys resolved), variable substitution, the schema (ajv, schema.ts), then several files merged in order as
// docker does. Every problem of every file is collected, each naming the key path and file:line:col; the
// caller deploys nothing unless the list is empty. Pure: file texts and variables are passed in.
import { Ajv, type ErrorObject } from 'ajv';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { parseGoDuration } from '../time.js';
import { InterpolationError, interpolate } from './interpolate.js';
import { COMPOSE_SCHEMA, UNSUPPORTED_SERVICE_KEYS } from './schema.js';

export type Json = Record<string, unknown>;
export type Path = readonly (string | number)[];

export interface StackFile {
  /** As the user named it (shown in errors). */
  name: string;
  text: string;
}

/** One problem in a file: the key path, what is wrong, and where. */
export class StackProblem {
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly where: string,
  ) {}
  toString(): string {
    return `${this.path ? `${this.path}: ` : ''}${this.problem}${this.where ? ` (${this.where})` : ''}`;
  }
}

/** Where each key path of one file is written (line:col of the value, and of the key itself). */
class Positions {
  readonly values = new Map<string, [number, number]>();
  readonly keys = new Map<string, [number, number]>();
  constructor(readonly file: string) {}

  /** "file:line:col" of the path, or of its nearest written ancestor. */
  at(path: Path, key = false, exact = false): string | undefined {
    for (let n = path.length; n >= (exact ? path.length : 0); n--) {
      const k = pathKey(path.slice(0, n));
      const p = (key && n === path.length ? this.keys.get(k) : undefined) ?? this.values.get(k);
      if (p) return `${this.file}:${p[0]}:${p[1]}`;
    }
    return undefined;
  }
}

const pathKey = (path: Path) => path.map(String).join('\u0000');

/** Docker's way of writing a path: services.web.ports[1]. */
export const showPath = (path: Path): string =>
  path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');

export interface LoadedStack {
  /** The merged, substituted, schema-checked compose document. */
  config: Json;
  warnings: string[];
  /** Where a key path of the merged document is written (the last file that has it). */
  where(path: Path, key?: boolean): string;
}

export class StackFileError extends Error {
  constructor(readonly problems: StackProblem[]) {
    super(problems.map(String).join('\n'));
  }
}

const ajv = new Ajv({ allErrors: true, coerceTypes: true, strict: false });
ajv.addFormat('duration', { type: 'string', validate: (s: string) => parseGoDuration(s) !== undefined });
const validate = ajv.compile(COMPOSE_SCHEMA);

/** Loads and merges the files; throws StackFileError listing every problem when there is any. */
export function loadStack(
  files: readonly StackFile[],
  vars: Readonly<Record<string, string | undefined>>,
): LoadedStack {
  const problems: StackProblem[] = [];
  const warnings: string[] = [];
  const docs: Json[] = [];
  const positions: Positions[] = [];
  for (const f of files) {
    const pos = new Positions(f.name);
    positions.push(pos);
    const doc = parseFile(f, pos, problems);
    if (!doc) continue;
    const before = problems.length;
    const value = substitute(doc, [], vars, pos, problems);
    if (problems.length > before) continue;
    if (!validate(value)) {
      for (const e of readableErrors(validate.errors ?? [])) problems.push(schemaProblem(e, value, pos));
      continue;
    }
    warnUnsupported(value as Json, f.name, warnings);
    docs.push(value as Json);
  }
  if (problems.length) throw new StackFileError(problems);
  const config = docs.reduce((a, b) => mergeDocs(a, b));
  return {
    config,
    warnings,
    where: (path, key) => {
      // The last file that writes this very path, else the last one writing its nearest ancestor.
      for (let n = path.length; n >= 0; n--)
        for (let i = positions.length - 1; i >= 0; i--) {
          const w = positions[i].at(path.slice(0, n), key && n === path.length, true);
          if (w) return w;
        }
      return files[files.length - 1]?.name ?? '';
    },
  };
}

// ---- YAML with positions ----

function parseFile(f: StackFile, pos: Positions, problems: StackProblem[]): unknown {
  const lc = new LineCounter();
  const doc = parseDocument(f.text, { lineCounter: lc, merge: true, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const { line, col } = lc.linePos(e.pos[0]);
      problems.push(
        new StackProblem('', `invalid YAML: ${e.message.split('\n')[0]}`, `${f.name}:${line}:${col}`),
      );
    }
    return undefined;
  }
  if (doc.contents === null) {
    problems.push(new StackProblem('', 'the file is empty', `${f.name}:1:1`));
    return undefined;
  }
  record(doc.contents as Node, [], pos, lc, new Set());
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    problems.push(new StackProblem('', `invalid YAML: ${(err as Error).message}`, `${f.name}:1:1`));
    return undefined;
  }
}

function record(node: Node, path: Path, pos: Positions, lc: LineCounter, seen: Set<Node>): void {
  const k = pathKey(path);
  if (node.range && !pos.values.has(k)) {
    const { line, col } = lc.linePos(node.range[0]);
    pos.values.set(k, [line, col]);
  }
  if (isAlias(node)) return; // its anchor's positions are recorded where it is defined
  if (seen.has(node)) return;
  seen.add(node);
  if (isMap(node)) {
    // Keys brought in by a merge key (<<) are located at the merge key's value, their nearest written place.
    for (const item of node.items) {
      if (!isPair(item)) continue;
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      if (key === '<<') continue;
      const child = [...path, key];
      if (isScalar(item.key) && item.key.range) {
        const { line, col } = lc.linePos(item.key.range[0]);
        pos.keys.set(pathKey(child), [line, col]);
      }
      if (item.value) record(item.value as Node, child, pos, lc, seen);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      if (item) record(item as Node, [...path, i], pos, lc, seen);
    });
  }
}

// ---- substitution ----

function substitute(
  v: unknown,
  path: Path,
  vars: Readonly<Record<string, string | undefined>>,
  pos: Positions,
  problems: StackProblem[],
): unknown {
  if (typeof v === 'string') {
    try {
      return interpolate(v, vars);
    } catch (err) {
      if (!(err instanceof InterpolationError)) throw err;
      problems.push(new StackProblem(showPath(path), err.message, pos.at(path) ?? pos.file));
      return v;
    }
  }
  if (Array.isArray(v)) return v.map((x, i) => substitute(x, [...path, i], vars, pos, problems));
  if (v !== null && typeof v === 'object') {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = substitute(x, [...path, k], vars, pos, problems);
    return out;
  }
  return v;
}

// ---- schema errors in words ----

const TYPE_WORDS: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean',
  object: 'a mapping',
  array: 'a list',
  null: 'nothing',
};

const got = (v: unknown): string =>
  v === null
    ? 'nothing'
    : Array.isArray(v)
      ? 'a list'
      : typeof v === 'object'
        ? 'a mapping'
        : typeof v === 'string'
          ? JSON.stringify(v)
          : String(v);

const segments = (instancePath: string): (string | number)[] =>
  instancePath === ''
    ? []
    : instancePath
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s));

/** One error per place: a type error hides the others at the same path (they follow from it). */
function readableErrors(errors: ErrorObject[]): ErrorObject[] {
  const typed = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const seen = new Set<string>();
  return errors.filter((e) => {
    if (e.keyword !== 'type' && typed.has(e.instancePath)) return false;
    if (e.keyword === 'if') return false;
    const k = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function valueAt(doc: unknown, path: Path): unknown {
  let v = doc;
  for (const p of path) v = (v as Record<string | number, unknown> | undefined)?.[p];
  return v;
}

function schemaProblem(e: ErrorObject, doc: unknown, pos: Positions): StackProblem {
  const path = segments(e.instancePath);
  const where = (p: Path, key = false) => pos.at(p, key) ?? pos.file;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type': {
      const types = ([] as string[]).concat(p.type as string | string[]);
      return new StackProblem(
        showPath(path),
        `expected ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}, got ${got(valueAt(doc, path))}`,
        where(path),
      );
    }
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const child = [...path, key];
      if (path.length === 1 && path[0] === 'services')
        return new StackProblem(
          showPath(child),
          `invalid service name "${key}": letters, digits, '.', '_' and '-' only`,
          where(child, true),
        );
      return new StackProblem(showPath(path), `unknown key "${key}"`, where(child, true));
    }
    case 'required':
      return new StackProblem(showPath(path), `missing key "${String(p.missingProperty)}"`, where(path));
    case 'enum':
      return new StackProblem(
        showPath(path),
        `expected one of ${(p.allowedValues as unknown[]).join(', ')}, got ${got(valueAt(doc, path))}`,
        where(path),
      );
    case 'format':
      return new StackProblem(
        showPath(path),
        `expected a duration (e.g. 10s, 1m30s, 500ms), got ${got(valueAt(doc, path))}`,
        where(path),
      );
    case 'minimum':
    case 'maximum':
      return new StackProblem(
        showPath(path),
        `must be ${e.keyword === 'minimum' ? 'at least' : 'at most'} ${String(p.limit)}, got ${got(valueAt(doc, path))}`,
        where(path),
      );
    default:
      return new StackProblem(showPath(path), e.message ?? e.keyword, where(path));
  }
}

function warnUnsupported(doc: Json, file: string, warnings: string[]): void {
  for (const [name, svc] of Object.entries((doc.services ?? {}) as Record<string, Json>)) {
    const keys = UNSUPPORTED_SERVICE_KEYS.filter((k) => svc[k] !== undefined);
    if (keys.length)
      warnings.push(`Ignoring unsupported options in ${file}, service ${name}: ${keys.join(', ')}`);
    const res = (svc.deploy as Json | undefined)?.resources as Record<string, Json> | undefined;
    for (const side of ['limits', 'reservations'])
      for (const k of ['generic_resources', 'devices'])
        if (res?.[side]?.[k] !== undefined)
          warnings.push(
            `Ignoring unsupported options in ${file}, service ${name}: deploy.resources.${side}.${k}`,
          );
  }
}

// ---- several files: docker's merge (cli/compose/loader/merge.go) ----

/** Lists merged by a key (an entry of the later file replaces the one with the same key), docker's rule. */
const KEYED_LISTS: Record<string, (x: unknown) => string> = {
  secrets: (x) => (typeof x === 'string' ? x : String((x as Json).source)),
  configs: (x) => (typeof x === 'string' ? x : String((x as Json).source)),
  volumes: (x) =>
    typeof x === 'string' ? (x.split(':').length > 1 ? x.split(':')[1] : x) : String((x as Json).target),
  ports: (x) =>
    typeof x === 'object' && x !== null ? `${(x as Json).published ?? ''}:${(x as Json).target}` : String(x),
};
/** Replaced, not appended: a command is one value. */
const REPLACED = new Set(['command', 'entrypoint', 'test', 'env_file']);
/** Lists that may also be KEY=VALUE maps: turned into maps before merging, so later keys win. */
const LIST_OR_MAP = new Set(['environment', 'labels', 'sysctls', 'extra_hosts']);

export function listToMap(v: unknown): Record<string, unknown> {
  if (!Array.isArray(v)) return (v ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const item of v as string[]) {
    const eq = item.indexOf('=');
    if (eq < 0) out[item] = null;
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function mergeValue(key: string, a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  if (a === undefined || a === null || b === null) return b;
  if (LIST_OR_MAP.has(key)) return { ...listToMap(a), ...listToMap(b) };
  if (REPLACED.has(key)) return b;
  if (Array.isArray(a) && Array.isArray(b)) {
    const keyOf = KEYED_LISTS[key];
    if (!keyOf) return [...a, ...b];
    const byKey = new Map<string, unknown>();
    for (const x of [...a, ...b]) byKey.set(keyOf(x), x);
    return [...byKey.values()];
  }
  if (typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Json = { ...(a as Json) };
    for (const [k, v] of Object.entries(b as Json)) out[k] = mergeValue(k, out[k], v);
    return out;
  }
  return b;
}

/** The later document overrides the earlier one: services merged key by key, top-level objects replaced. */
export function mergeDocs(a: Json, b: Json): Json {
  const out: Json = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (k === 'services') {
      const services: Json = { ...((a.services ?? {}) as Json) };
      for (const [name, svc] of Object.entries(v as Json))
        services[name] = mergeValue('', services[name], svc);
      out.services = services;
    } else if (k === 'networks' || k === 'volumes' || k === 'secrets' || k === 'configs') {
      out[k] = { ...((a[k] ?? {}) as Json), ...(v as Json) };
    } else out[k] = v;
  }
  return out;
}
