// The engine's public interface: the daemon and the executor import only from here.

export {
  type Change,
  type ChangeKind,
  type ExtractOptions,
  type PathStat,
  statHeader,
} from './archive/index.js';
export { treeSize } from './disk-usage.js';
export * from './errors.js';
// The pure health-check core (the swarm executor's probes use it too).
export {
  HEALTH_DEFAULTS,
  type HealthClock,
  type HealthSettings,
  HealthTracker,
  PROBE_OUTPUT_MAX,
  type ProbeResult,
  resolveHealth,
  runHealthProbes,
} from './health.js';
export type { ManagerEvents } from './manager.js';
export { ContainerManager } from './manager.js';
// Native failures (a missing command is kind "exec-not-found": docker exits 127 for it).
export { RuntimeError, type RuntimeErrorKind, releaseMemory, trimMemory } from './native.js';
// Kernel networking (namespaces, links, addresses, routes) for worker/network.
export { ignoreMissing, kernelNet, type LinkInfo, NetlinkError, type NetOp } from './netlink.js';
export { BACKOFF, decideRestart, parseRestartPolicy, startsAtBoot } from './restart-policy.js';
// Small files in one round trip (worker/network's per-container files and record).
export { type SmallFile, writeSmallFiles } from './small-files.js';
export type { ResourceOptions } from './spec/build.js';
export type { ResolvedMount } from './spec/mounts.js';
// for the builder (worker/build): USER/--chown names resolved in an image's /etc/passwd and /etc/group
export { rootfsReader } from './spec/rootfs-files.js';
export { resolveUser } from './spec/user.js';
// a placement hint for directories whose children come and go (worker/network's files dir)
export { spreadSubdirs } from './spread-dirs.js';
export type * from './types.js';
export { parseVolumeFilters, type VolumeFilters } from './volumes/names.js';
export type { Volume, VolumeCreateOptions, VolumeStore } from './volumes/store.js';
