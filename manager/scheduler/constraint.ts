// Placement constraints ("node.labels.zone==a", "node.role!=manager"): parsing and matching against a node, with
// swarmkit's rules: only == and !=, keys and values compared case-insensitively, a missing attribute is the
// empty string, and an unknown key parses but never matches (the task then stays pending, as in Docker).
import { invalidArgument } from '../../common/errors.js';
import type { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeRole } from '../../proto/gen/shoal/swarm/v1/types.js';

export interface Constraint {
  /** As written (trimmed), e.g. "node.labels.zone". */
  key: string;
  operator: '==' | '!=';
  value: string;
}

const KEY = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

/**
 * Parses one constraint expression; throws an invalid_argument ShoalError naming `field` and the problem.
 * The control API validates specs with it, so what it accepts is exactly what the scheduler can match.
 */
export function parseConstraint(e: string, field = 'constraint'): Constraint {
  const op = e.includes('==') ? '==' : e.includes('!=') ? '!=' : undefined;
  if (!op)
    throw invalidArgument(
      field,
      `invalid constraint "${e}": expected one operator from ==, != (it has no operator)`,
    );
  const at = e.indexOf(op);
  const key = e.slice(0, at).trim();
  const value = e.slice(at + 2).trim();
  if (!KEY.test(key)) throw invalidArgument(field, `invalid constraint "${e}": key "${key}" is invalid`);
  if (!VALUE.test(value))
    throw invalidArgument(field, `invalid constraint "${e}": value "${value}" is invalid`);
  return { key, operator: op, value };
}

/** Parses a list; errors name `field[i]` (the control API passes "task_template.placement.constraints"). */
export function parseConstraints(exprs: readonly string[], field = 'placement.constraints'): Constraint[] {
  return exprs.map((e, i) => parseConstraint(e, `${field}[${i}]`));
}

const NODE_LABEL = 'node.labels.';
const ENGINE_LABEL = 'engine.labels.';

const roleName = (r: NodeRole): string =>
  r === NodeRole.NODE_ROLE_MANAGER ? 'manager' : r === NodeRole.NODE_ROLE_WORKER ? 'worker' : '';

/** The node's value for a constraint key; undefined when the key names nothing (never matches). */
export function nodeAttribute(node: Node, key: string): string | undefined {
  const k = key.toLowerCase();
  const d = node.description;
  switch (k) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return d?.hostname ?? '';
    case 'node.role':
      return roleName(node.role);
    case 'node.platform.os':
      return d?.platform?.os ?? '';
    case 'node.platform.arch':
      return d?.platform?.architecture ?? '';
  }
  if (k.length > NODE_LABEL.length && k.startsWith(NODE_LABEL)) {
    return node.spec?.annotations?.labels?.[key.slice(NODE_LABEL.length)] ?? '';
  }
  if (k.length > ENGINE_LABEL.length && k.startsWith(ENGINE_LABEL)) {
    return d?.engine?.labels?.[key.slice(ENGINE_LABEL.length)] ?? '';
  }
  return undefined;
}

export function constraintMatches(c: Constraint, node: Node): boolean {
  const v = nodeAttribute(node, c.key);
  if (v === undefined) return false;
  const equal = v.toLowerCase() === c.value.toLowerCase();
  return c.operator === '==' ? equal : !equal;
}

export const nodeMatches = (cs: readonly Constraint[], node: Node): boolean =>
  cs.every((c) => constraintMatches(c, node));
