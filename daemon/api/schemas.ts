// Checks request bodies against their JSON schemas (body-schemas.ts), with the validators the build
// compiled from them (ajv's standalone code, daemon/api/gen/validators.js), and words a refusal as dockerd
// would: the field and the problem, as a 400.
import type { ErrorObject } from 'ajv';
import { badRequest } from '../http/errors.js';
import { BODY_SCHEMAS, NUL_FREE, type Schema } from './body-schemas.js';
import { byName } from './gen/validators.js';

export {
  authSchema,
  containerCreateSchema,
  containerUpdateSchema,
  execCreateSchema,
  execStartSchema,
  LIMITS,
  networkCreateSchema,
  volumeCreateSchema,
} from './body-schemas.js';

/** ajv's validate function, as its standalone code exports it. */
export interface Validator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

/** The compiled validator of each schema (by identity: routes pass the schema object). */
const compiled = new Map<Schema, Validator>(
  Object.entries(BODY_SCHEMAS).map(([name, schema]) => [schema, byName[name as keyof typeof BODY_SCHEMAS]]),
);

/** "/HostConfig/CapAdd/0" → "HostConfig.CapAdd[0]". */
export function fieldName(instancePath: string): string {
  let out = '';
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^[0-9]+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  boolean: 'a boolean (true or false)',
  integer: 'an integer',
  number: 'a number',
  array: 'a list',
  object: 'an object',
  null: 'null',
};

/** The value at a JSON pointer ("/HostConfig/CapAdd/0") inside a body. */
function valueAt(root: unknown, pointer: string): unknown {
  let v = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

/** `data` is the offending value (the validators are compiled without ajv's verbose mode, which would
 * carry it in the error but add a copy of every schema to the generated code). */
function describe(e: ErrorObject, data: unknown): string {
  switch (e.keyword) {
    case 'type': {
      const types = ([] as string[])
        .concat(e.params.type as string | string[])
        .map((t) => TYPE_WORDS[t] ?? t);
      const got =
        typeof data === 'number' && e.params.type !== 'number'
          ? `the number ${data}`
          : jsonType(data) === 'string'
            ? `the string ${JSON.stringify(String(data).slice(0, 40))}`
            : jsonType(data);
      return `must be ${types.join(' or ')}, not ${got}`;
    }
    case 'pattern':
      return e.params.pattern === NUL_FREE ? 'contains a NUL byte' : `must match ${e.params.pattern}`;
    case 'maxItems':
      return `has more than ${e.params.limit} entries`;
    case 'maxProperties':
      return `has more than ${e.params.limit} entries`;
    case 'minItems':
      return `must have ${e.params.limit} entries`;
    default:
      return e.message ?? 'is invalid';
  }
}

/**
 * Checks a parsed body against its schema and returns it typed; a mismatch is a 400 naming the field
 * ("invalid HostConfig.Privileged: must be a boolean (true or false), not the string \"false\"").
 * An absent body (undefined) stands for `{}`.
 */
export function validateBody<T>(schema: Schema, body: unknown): T {
  const validate = compiled.get(schema);
  if (!validate) throw new Error('validateBody: a schema that is not in BODY_SCHEMAS (nothing compiled it)');
  const value = body === undefined ? {} : body;
  if (validate(value)) return value as T;
  const e = validate.errors?.[0];
  if (!e) throw badRequest('invalid request body');
  let field = fieldName(e.instancePath);
  if (e.propertyName !== undefined) field = `${field} key ${JSON.stringify(e.propertyName)}`;
  throw badRequest(`invalid ${field || 'request body'}: ${describe(e, valueAt(value, e.instancePath))}`);
}
