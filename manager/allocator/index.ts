// Public face of the allocator.
export { NetworkAddresses, networksHolding, taskDead } from './addresses.js';
export {
  allocate,
  DYNAMIC_PORT_FIRST,
  DYNAMIC_PORT_LAST,
  PENDING_MESSAGE,
  publishesIngress,
} from './allocate.js';
export {
  addressPoolOf,
  allocateNetwork,
  checkAddressPool,
  DEFAULT_ADDRESS_POOL,
  DEFAULT_SUBNET_SIZE,
  FIRST_VNI,
  OVERLAY,
  subnetsOf,
  VNI_OPTION,
  vniOf,
} from './network.js';
export { allocatingOrchestratorLoop, allocatorLoop, pipelineLoop } from './runner.js';
