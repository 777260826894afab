// The embedded DNS resolver: a pure core (answer.ts), the records port (records.ts), the listener (server.ts).

export {
  DNS_TTL,
  ptrAddress,
  RCODES,
  type Resolution,
  type ResolveContext,
  type Rotation,
  RoundRobin,
  resolve,
  TCP_MAX_SIZE,
  UDP_MAX_SIZE,
  UDP_MIN_SIZE,
} from './answer.js';
export { BridgeResolver, type BridgeResolverOptions } from './bridge-resolver.js';
export {
  buildRecords,
  type ContainerNames,
  type NameKind,
  type NameRecord,
  type Records,
  type RecordsInput,
  type ServiceNames,
} from './records.js';
export { DnsServer, type DnsServerOptions, MAX_FORWARDS, MAX_TCP_CLIENTS, TCP_IDLE_MS } from './server.js';
export { forwardQuery, type Upstream, UpstreamError } from './upstream.js';
