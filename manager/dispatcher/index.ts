// The leader's session with every worker: registration, heartbeats, assignments, task status.

export { type Clock, systemClock } from '../../common/clock.js';
export { isAssigned } from './assignments.js';
export { DEFAULT_TIMING, type DispatcherTiming, heartbeatPeriodOf } from './config.js';
export {
  Dispatcher,
  type DispatcherOptions,
  managersInStore,
  type RegisterRequest,
  type SessionSink,
} from './dispatcher.js';
export { DISPATCHER_POLICY, dispatcherService, peerHost } from './service.js';
