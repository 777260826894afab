// The executor's public face: what the agent (worker/agent) and the daemon's composition import.
export { TaskController } from './controller.js';
export { enginePort, imagePort, taskLogs } from './engine-ports.js';
export { Executor, type ExecutorOptions } from './executor.js';
export { HEALTH_DEFAULTS, type HealthSettings, healthSettings } from './health.js';
export { nextSimState, SimExecutor, type SimExecutorOptions } from './sim.js';
export { LABEL, Refusal, swarmLabels, taskName, toCreateOptions } from './spec-map.js';
export { exitOutcome, isTerminal, MESSAGE } from './task-state.js';
export * from './types.js';
