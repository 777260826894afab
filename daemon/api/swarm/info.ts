// GET /info's Swarm section, from the backend's local state (dockerd's shape: see traces/info.json).
import type { ClusterBackend } from './backend.js';
import { clusterJson } from './translate.js';

export async function swarmInfoJson(backend: ClusterBackend): Promise<Record<string, unknown>> {
  const s = await backend.localState();
  const base = {
    NodeID: s.nodeId,
    NodeAddr: s.nodeAddr,
    LocalNodeState: s.localNodeState,
    ControlAvailable: s.controlAvailable,
    Error: s.error,
    RemoteManagers:
      s.localNodeState === 'inactive'
        ? null
        : s.remoteManagers.map((m) => ({ NodeID: m.nodeId, Addr: m.addr })),
  };
  if (!s.controlAvailable) return base;
  return {
    ...base,
    Nodes: s.nodes ?? 0,
    Managers: s.managers ?? 0,
    ...(s.cluster ? { Cluster: clusterJson(s.cluster, false) } : {}),
  };
}
