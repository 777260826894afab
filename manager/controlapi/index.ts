// Public face of the control API.
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
export {
  type Constraint,
  checkName,
  checkServiceSpec,
  DEFAULTS,
  parseConstraint,
  withDefaults,
} from './spec.js';
