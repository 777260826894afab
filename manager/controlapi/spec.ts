// Service spec checks and Docker's defaults. Pure: a spec in, a complete spec (or a ShoalError naming the
// field) out. What is stored is always complete (proto3 scalars have no presence), so defaults are applied
// here once, at create and update, as swarmkit's controlapi and dockerd together do.
import { DEPENDS_ON_LABEL, parseDependsOn } from '../../common/depends-on.js';
import { invalidArgument, ShoalError } from '../../common/errors.js';
import type { Duration } from '../../proto/gen/google/protobuf/duration.js';
import type { ServiceSpec, TaskSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import {
  EndpointMode,
  RestartCondition,
  type UpdateConfig,
  UpdateFailureAction,
  UpdateOrder,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import { parseConstraint } from '../scheduler/constraint.js';

const seconds = (s: number): Duration => ({ seconds: s, nanos: 0 });

export const DEFAULTS = {
  replicas: 1,
  restartDelay: seconds(5),
  updateParallelism: 1,
  monitor: seconds(5),
  stopGracePeriod: seconds(10),
} as const;

// swarmkit's rule (isValidDNSName): letters and digits, joined by runs of '-' or '_' (a stack's services
// are STACK_NAME), at most 63 characters.
const NAME = /^[a-zA-Z0-9]+(?:[-_]+[a-zA-Z0-9]+)*$/;

export function checkName(name: string, field = 'spec.annotations.name'): void {
  if (name.length > 63 || !NAME.test(name)) {
    throw new ShoalError(
      'invalid_argument',
      `invalid name "${name}": a name must be valid as a DNS name component (letters, digits, '-' and '_', at most 63 characters, not starting or ending with '-' or '_')`,
      { field },
    );
  }
}

const durationNs = (d: Duration | undefined) => (d ? d.seconds * 1e9 + d.nanos : 0);

function checkDuration(d: Duration | undefined, field: string): void {
  if (d && (d.seconds < 0 || d.nanos < 0)) throw invalidArgument(field, 'must not be negative');
}

function checkUpdateConfig(u: UpdateConfig | undefined, field: string, rollback: boolean): void {
  if (!u) return;
  checkDuration(u.delay, `${field}.delay`);
  checkDuration(u.monitor, `${field}.monitor`);
  if (!(u.maxFailureRatio >= 0 && u.maxFailureRatio <= 1))
    throw invalidArgument(`${field}.max_failure_ratio`, `must be between 0 and 1, not ${u.maxFailureRatio}`);
  if (rollback && u.failureAction === UpdateFailureAction.UPDATE_FAILURE_ACTION_ROLLBACK)
    throw invalidArgument(`${field}.failure_action`, 'rollback is not a failure action of a rollback');
}

function checkTaskSpec(t: TaskSpec | undefined): void {
  const c = t?.containerSpec;
  if (!c) throw invalidArgument('spec.task_template.container_spec', 'a service needs a container spec');
  if (c.image.trim() === '')
    throw invalidArgument('spec.task_template.container_spec.image', 'image is required');
  checkDuration(c.stopGracePeriod, 'spec.task_template.container_spec.stop_grace_period');
  for (const e of c.env) {
    if (e === '' || e.startsWith('='))
      throw invalidArgument('spec.task_template.container_spec.env', `invalid environment variable "${e}"`);
  }
  // A reservation larger than every node is allowed: its tasks stay pending (as in Docker), so nothing here
  // compares with node resources.
  for (const [k, r] of [
    ['limits', t.resources?.limits],
    ['reservations', t.resources?.reservations],
  ] as const) {
    if (!r) continue;
    if (r.nanoCpus < 0)
      throw invalidArgument(`spec.task_template.resources.${k}.nano_cpus`, 'must not be negative');
    if (r.memoryBytes < 0)
      throw invalidArgument(`spec.task_template.resources.${k}.memory_bytes`, 'must not be negative');
    if (r.pids < 0) throw invalidArgument(`spec.task_template.resources.${k}.pids`, 'must not be negative');
  }
  const rp = t.restartPolicy;
  if (rp) {
    checkDuration(rp.delay, 'spec.task_template.restart_policy.delay');
    checkDuration(rp.window, 'spec.task_template.restart_policy.window');
    if (!Number.isSafeInteger(rp.maxAttempts) || rp.maxAttempts < 0)
      throw invalidArgument('spec.task_template.restart_policy.max_attempts', 'must be an integer ≥ 0');
  }
  (t.placement?.constraints ?? []).forEach((c, i) => {
    const field = `spec.task_template.placement.constraints[${i}]`;
    const { key } = parseConstraint(c, field);
    // swarmkit parses any key and leaves the tasks pending forever; naming the mistake is kinder.
    if (!knownConstraintKey(key))
      throw invalidArgument(
        field,
        `invalid constraint "${c}": unknown key "${key}" (node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<label>, engine.labels.<label>)`,
      );
  });
  for (const [i, p] of (t.placement?.preferences ?? []).entries()) {
    if (!p.spread?.spreadDescriptor)
      throw invalidArgument(
        `spec.task_template.placement.preferences[${i}]`,
        'a spread descriptor is required',
      );
  }
}

const CONSTRAINT_KEYS = new Set([
  'node.id',
  'node.hostname',
  'node.role',
  'node.platform.os',
  'node.platform.arch',
]);
const LABEL_KEY = /^(node|engine)\.labels\..+$/;

/** The keys the scheduler can match (manager/scheduler/constraint.ts's nodeAttribute), case-insensitively. */
export const knownConstraintKey = (key: string): boolean =>
  CONSTRAINT_KEYS.has(key.toLowerCase()) || LABEL_KEY.test(key.toLowerCase());

function checkDependsOn(name: string, labels: Record<string, string>): void {
  const label = labels[DEPENDS_ON_LABEL];
  if (label === undefined) return;
  const field = `spec.annotations.labels.${DEPENDS_ON_LABEL}`;
  for (const d of parseDependsOn(label, field))
    if (d.service === name) throw invalidArgument(field, `service ${name} cannot depend on itself`);
}

/** Checks a service spec; throws invalid_argument naming the field. */
export function checkServiceSpec(spec: ServiceSpec | undefined): asserts spec is ServiceSpec {
  if (!spec) throw invalidArgument('spec', 'a service needs a spec');
  checkName(spec.annotations?.name ?? '');
  checkDependsOn(spec.annotations?.name ?? '', spec.annotations?.labels ?? {});
  const mode = spec.mode;
  if (mode?.$case === 'replicated') {
    const r = mode.value.replicas;
    if (!Number.isSafeInteger(r) || r < 0)
      throw invalidArgument('spec.mode.replicated.replicas', `must be an integer ≥ 0, not ${r}`);
  } else if (mode !== undefined && mode.$case !== 'global') {
    throw invalidArgument('spec.mode', 'must be replicated or global');
  }
  checkTaskSpec(spec.taskTemplate);
  checkUpdateConfig(spec.updateConfig, 'spec.update_config', false);
  checkUpdateConfig(spec.rollbackConfig, 'spec.rollback_config', true);
  for (const [i, p] of (spec.endpointSpec?.ports ?? []).entries()) {
    const f = `spec.endpoint_spec.ports[${i}]`;
    if (!(p.targetPort >= 1 && p.targetPort <= 65535))
      throw invalidArgument(`${f}.target_port`, `must be between 1 and 65535, not ${p.targetPort}`);
    if (p.publishedPort > 65535) throw invalidArgument(`${f}.published_port`, 'must be at most 65535');
  }
}

function withUpdateDefaults(u: UpdateConfig | undefined): UpdateConfig {
  const v = u ?? {
    parallelism: DEFAULTS.updateParallelism,
    delay: undefined,
    failureAction: UpdateFailureAction.UPDATE_FAILURE_ACTION_PAUSE,
    monitor: undefined,
    maxFailureRatio: 0,
    order: UpdateOrder.UPDATE_ORDER_STOP_FIRST,
  };
  return {
    ...v,
    failureAction: v.failureAction || UpdateFailureAction.UPDATE_FAILURE_ACTION_PAUSE,
    monitor: durationNs(v.monitor) > 0 ? v.monitor : DEFAULTS.monitor,
    order: v.order || UpdateOrder.UPDATE_ORDER_STOP_FIRST,
  };
}

/**
 * Docker's defaults, filled where the spec leaves them out: replicated with 1 replica, restart condition
 * any (delay 5 s, unlimited attempts), update and rollback parallelism 1, failure action pause, monitor 5 s,
 * order stop-first, stop grace period 10 s, endpoint mode vip. Returns a new spec.
 */
export function withDefaults(spec: ServiceSpec): ServiceSpec {
  const t = spec.taskTemplate as TaskSpec;
  const c = t.containerSpec!;
  const rp = t.restartPolicy;
  return {
    ...spec,
    mode: spec.mode ?? { $case: 'replicated', value: { replicas: DEFAULTS.replicas } },
    taskTemplate: {
      ...t,
      containerSpec: {
        ...c,
        stopGracePeriod: c.stopGracePeriod ?? DEFAULTS.stopGracePeriod,
      },
      restartPolicy: {
        condition: rp?.condition || RestartCondition.RESTART_CONDITION_ANY,
        delay: rp?.delay ?? DEFAULTS.restartDelay,
        maxAttempts: rp?.maxAttempts ?? 0,
        window: rp?.window,
      },
    },
    updateConfig: withUpdateDefaults(spec.updateConfig),
    rollbackConfig: withUpdateDefaults(spec.rollbackConfig),
    endpointSpec: {
      mode: spec.endpointSpec?.mode || EndpointMode.ENDPOINT_MODE_VIP,
      ports: spec.endpointSpec?.ports ?? [],
    },
  };
}
