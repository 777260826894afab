// The swarm's networks as the /networks routes need them, in Docker's JSON: list, inspect, create, remove,
// prune. Over the ClusterBackend, so a node in no swarm (or a worker) answers as dockerd does: no swarm
// networks to list or inspect, and "not a swarm manager" for changes.
import { isShoalError, notFound } from '../../../common/errors.js';
import type { Filters } from '../../../manager/controlapi/index.js';
import type { ClusterNetworks as RouteClusterNetworks } from '../networks.js';
import { networkCreateSchema, validateBody } from '../schemas.js';
import type { ClusterBackend } from './backend.js';
import type { Json } from './json.js';
import { networkJson, networkSpecFromJson } from './network-json.js';

export interface ClusterNetworks {
  /** Swarm networks matching Docker's list filters (none when this node cannot read the swarm's state). */
  list(filters: Filters): Promise<Json[]>;
  /** By id, name or id prefix; not_found "network X not found". */
  inspect(idOrName: string): Promise<Json>;
  /** A POST /networks/create body for a swarm network → {Id, Warning}. */
  create(body: unknown): Promise<{ Id: string; Warning: string }>;
  remove(idOrName: string): Promise<void>;
  /** Names removed. */
  prune(filters: Filters): Promise<string[]>;
}

export function clusterNetworks(backend: ClusterBackend): ClusterNetworks {
  const readable = async () => (await backend.localState()).controlAvailable;
  return {
    async list(filters) {
      if (!(await readable())) return [];
      return (await backend.control()).listNetworks(filters).map(networkJson);
    },
    async inspect(idOrName) {
      if (!(await readable())) throw notFound(`network ${idOrName} not found`, 'id');
      return networkJson((await backend.control()).getNetwork(idOrName));
    },
    async create(body) {
      const spec = networkSpecFromJson(body);
      const n = await (await backend.control()).createNetwork(spec);
      return { Id: n.id, Warning: '' };
    },
    async remove(idOrName) {
      if (!(await readable())) throw notFound(`network ${idOrName} not found`, 'id');
      await (await backend.control()).removeNetwork(idOrName);
    },
    async prune(filters) {
      if (!(await readable())) return [];
      return (await backend.control()).pruneNetworks(filters);
    },
  };
}

/**
 * The same, as the /networks routes consult it beside the node's local networks (daemon/api/networks.ts):
 * "no such swarm network" is an answer there (undefined / false), not an error, so a name can be looked
 * up in both scopes; a create body is checked against the schema before it reaches the control API.
 */
export function clusterNetworksPort(backend: ClusterBackend): RouteClusterNetworks {
  const n = clusterNetworks(backend);
  const absentAs = async <T>(fn: () => Promise<T>, absent: T): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (isShoalError(e) && e.kind === 'not_found') return absent;
      throw e;
    }
  };
  return {
    list: () => n.list({}),
    inspect: (ref) => absentAs(() => n.inspect(ref), undefined),
    remove: (ref) =>
      absentAs(async () => {
        await n.remove(ref);
        return true;
      }, false),
    create: (body) => n.create(validateBody(networkCreateSchema, body)),
    prune: (filters) => n.prune(filters),
  };
}
