// Public face of the control API.

export { type Constraint, parseConstraint } from '../scheduler/constraint.js';
export {
  type ClusterSpecLimits,
  checkClusterSpecUpdate,
  durationMs,
  MIN_HEARTBEAT_PERIOD_MS,
  MIN_NODE_CERT_EXPIRY_MS,
} from './cluster-spec.js';
export {
  type CaPort,
  ControlApi,
  type ControlOperations,
  roleName,
  taskName,
  type UpdateClusterOptions,
  type UpdateServiceOptions,
} from './controlapi.js';
export { type Filters, labelsMatch } from './filters.js';
export { checkNetworkSpec, INGRESS_NAME, predefinedIngress } from './networks.js';
export {
  checkDataObjectSpec,
  type DataKind,
  type DataObjectSpec,
  MAX_DATA_BYTES,
} from './secrets.js';
export { checkName, checkServiceSpec, DEFAULTS, withDefaults } from './spec.js';
