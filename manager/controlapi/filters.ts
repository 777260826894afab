// List filters as the Engine API sends them ({"key":{"value":true}}), parsed to key → values. Pure matchers.
import { ShoalError } from '../../common/errors.js';

export type Filters = Readonly<Record<string, readonly string[]>>;

/** Refuses keys the list does not know (dockerd: "invalid filter 'x'"). */
export function checkFilterKeys(filters: Filters, allowed: readonly string[]): void {
  for (const k of Object.keys(filters)) {
    // dockerd's exact message, without a field prefix (the CLI prints it as is).
    if (!allowed.includes(k))
      throw new ShoalError('invalid_argument', `invalid filter '${k}'`, { field: 'filters' });
  }
}

/** True when the filter is absent or any of its values accepts. */
export const anyOf = (values: readonly string[] | undefined, accept: (v: string) => boolean): boolean =>
  !values || values.length === 0 || values.some(accept);

/** Docker's label filter: "key" (present) or "key=value". */
export function labelsMatch(values: readonly string[] | undefined, labels: Record<string, string>): boolean {
  if (!values || values.length === 0) return true;
  return values.every((v) => {
    const eq = v.indexOf('=');
    if (eq < 0) return Object.hasOwn(labels, v);
    return labels[v.slice(0, eq)] === v.slice(eq + 1);
  });
}
