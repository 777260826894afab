// The cluster's security core, for the daemon to compose (see README.md).
export {
  type AuthorityPorts,
  beginRootRotation,
  type CAState,
  type CAStatePort,
  CertificateAuthority,
  completeRootRotation,
  type IssuedCertificate,
  initCAState,
  MemoryCAState,
  newSwarmId,
  type RootRotationState,
  trustBundle,
  trustHash,
} from './authority.js';
export { type Access, authorizationInterceptor, decide, type MethodPolicy } from './authz.js';
export {
  certDigest,
  chainsTo,
  checkExternalRoot,
  createNodeKeyAndCSR,
  createRootCA,
  DEFAULT_NODE_VALIDITY_MS,
  type NodeIdentity,
  type NodeRole,
  needsRenewal,
  nodeIdentityOf,
  type RootCA,
  renewalTime,
  signNodeCSR,
  splitPem,
} from './certs.js';
export { IDENTITY_FILES, type LoadOptions, loadNodeIdentity, saveNodeIdentity } from './identity-store.js';
export {
  fetchPinnedRoot,
  type JoinOptions,
  joinCluster,
  type NodeCredentials,
  renewCertificate,
} from './join.js';
export { NodeTlsListener, type NodeTlsListenerOptions } from './listener.js';
export { type RenewalOptions, RenewalScheduler, type Validity } from './renewal.js';
export { planRotation, ROTATION_BATCH, type RotationNode, type RotationPlan } from './rotation.js';
export { CA_POLICY, caService, kindOfCode, toServiceError } from './service.js';
export {
  channelOptionsFor,
  mtlsChannelCredentials,
  mtlsServerCredentials,
  NO_CHANNELZ,
  peerIdentity,
  pinnedRootChannelCredentials,
  type TlsIdentity,
} from './tls.js';
export { generateToken, type JoinToken, parseToken } from './tokens.js';
