// A service's dependencies (compose `depends_on`), carried as one service label. A label, not a new spec
// field: it survives a round trip through the docker CLI (`docker service update` decodes the spec into its
// own types and sends back only what it knows, labels included), needs no change to the wire format, and
// shows in `service inspect`. The stack deployer writes it; the scheduler reads it and holds the service's
// tasks back until every dependency has a started (or, with `:healthy`, a healthy) task.
import { invalidArgument } from './errors.js';

export const DEPENDS_ON_LABEL = 'org.shoal.depends-on';

export type DependencyCondition = 'started' | 'healthy';

export interface Dependency {
  /** The full service name (a stack's services are STACK_NAME). */
  service: string;
  condition: DependencyCondition;
}

const ITEM = /^([a-zA-Z0-9][a-zA-Z0-9_.-]*)(?::(started|healthy))?$/;

/** "a,b:healthy" → dependencies; an empty label is none. Throws invalid_argument naming the label. */
export function parseDependsOn(value: string, field = `labels.${DEPENDS_ON_LABEL}`): Dependency[] {
  if (value.trim() === '') return [];
  return value.split(',').map((raw) => {
    const m = ITEM.exec(raw.trim());
    if (!m) throw invalidArgument(field, `"${raw}" is not SERVICE or SERVICE:started or SERVICE:healthy`);
    return { service: m[1], condition: (m[2] ?? 'started') as DependencyCondition };
  });
}

export const formatDependsOn = (deps: readonly Dependency[]): string =>
  deps.map((d) => (d.condition === 'started' ? d.service : `${d.service}:healthy`)).join(',');
