// Health checks of swarm tasks: the task's healthcheck (proto durations) mapped onto the engine's pure
// health core (worker/engine/health.ts: settings, tracker, probe loop), refusals naming the task field.

import type { HealthConfig } from '../../proto/gen/shoal/swarm/v1/types.js';
import {
  HEALTH_DEFAULTS,
  type HealthSettings,
  HealthTracker,
  resolveHealth,
  runHealthProbes,
} from '../engine/index.js';
import { durationMs, Refusal } from './spec-map.js';

export type { HealthStatus } from '../engine/index.js';
export { HEALTH_DEFAULTS, type HealthSettings, HealthTracker, runHealthProbes };

/**
 * The effective health check, or undefined when there is none (or it is "NONE"). Unset fields of the
 * task's healthcheck fall back to the image's, then to docker's defaults. Bad values are a Refusal.
 */
export function healthSettings(
  spec: HealthConfig | undefined,
  imageHealthcheck: unknown,
): HealthSettings | undefined {
  return resolveHealth(
    spec && {
      test: spec.test,
      intervalMs: durationMs(spec.interval),
      timeoutMs: durationMs(spec.timeout),
      startPeriodMs: durationMs(spec.startPeriod),
      startIntervalMs: durationMs(spec.startInterval),
      retries: spec.retries,
    },
    imageHealthcheck,
    (field, problem) => {
      throw new Refusal(`spec.containerSpec.healthcheck.${field}`, problem);
    },
  );
}
