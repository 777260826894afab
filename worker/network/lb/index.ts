// The load balancer and routing mesh in nftables: pure script builders (script.ts) over a validated
// model (model.ts), and the executor/controller that applies them (apply.ts).

export {
  departedUdpFlows,
  LbController,
  type LbControllerOptions,
  type NftCommandOptions,
  type NftExecutor,
  nftCommand,
  type UdpFlowFilter,
} from './apply.js';
export {
  type Backend,
  EMPTY_STATE,
  type LbOptions,
  type LbState,
  type LbTable,
  type Protocol,
  type PublishedPort,
  type ServicePort,
  type VipService,
  validateState,
} from './model.js';
export {
  buildLbScript,
  buildLbTeardown,
  buildLbUpdate,
  DEFAULT_MARK_BIT,
  LB_PREFIX,
  lbObjectNames,
} from './script.js';
