// The worker's session with the managers: registration, heartbeats, assignments, status reports.
export { Agent, type AgentOptions, type AgentStatus, STATE_FILE_NAME } from './agent.js';
export { AssignedTasks } from './assigned.js';
export { DEPENDENCY_WAIT_MS, Dependencies, type DependencyKind } from './dependencies.js';
export type { Executor, TaskStatusReport } from './executor-port.js';
export { NetworkPlans, planView } from './network-plans.js';
export { StatusReporter } from './reporter.js';
export { type AgentState, StateFile } from './state-file.js';
