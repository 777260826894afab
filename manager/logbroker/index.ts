// The leader's log broker: client subscriptions fanned out to the nodes over their sessions, lines fanned in.
export {
  type BrokerOptions,
  type Flow,
  LogBroker,
  type LogSink,
  type Publication,
  type SessionPort,
  type SubscribeRequest,
  secondsOf,
} from './broker.js';
export { hasLogs, planReads, selects, selectTasks, taskRead, unreachableReason } from './selection.js';
export { LOGBROKER_POLICY, logBrokerService, subscribeThroughLeader } from './service.js';
export { subscribeLocal } from './stream.js';
