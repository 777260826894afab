// The resolver's view of one network's names: a port the caller implements (or builds with
// `buildRecords`). The resolver reads it on every query, so the caller may swap or mutate what backs it.

import { isIP } from 'node:net';

/** What a name stands for. `vip`: a service's virtual IP; `tasks`: a set of task addresses (`tasks.SERVICE`,
 * or a dnsrr service's own name), answered in rotating order; `container`: a container's name, alias or
 * short id. */
export type NameKind = 'vip' | 'tasks' | 'container';

export interface NameRecord {
  readonly kind: NameKind;
  /** IPv4 and/or IPv6 addresses; A answers carry the IPv4 ones, AAAA the IPv6 ones. */
  readonly addresses: readonly string[];
}

export interface Records {
  /** The record of a name (lower case, no trailing dot, search domain already removed), if known. */
  name(name: string): NameRecord | undefined;
  /** The name a PTR query for this address answers (no trailing dot), if known. */
  address(address: string): string | undefined;
}

/** A service on the network, as the allocator and the task list describe it. */
export interface ServiceNames {
  name: string;
  /** `vip` (the default): `NAME` answers the VIP; `dnsrr`: `NAME` answers the running tasks. */
  endpointMode?: 'vip' | 'dnsrr';
  /** The service's VIP on this network (required in vip mode). */
  vip?: string;
  /** Addresses of the service's running tasks on this network. */
  tasks: readonly string[];
  /** The service's network aliases on this network (`--network name=N,alias=A`). */
  aliases?: readonly string[];
}

/** A container attached to the network (a task's container included). */
export interface ContainerNames {
  name: string;
  /** The full container id: its first 12 characters resolve too, as in docker. */
  id?: string;
  aliases?: readonly string[];
  address: string;
}

export interface RecordsInput {
  /** The network's name: PTR answers are `NAME.NETWORK`, as docker's. */
  network: string;
  services?: readonly ServiceNames[];
  containers?: readonly ContainerNames[];
}

const key = (name: string) => name.toLowerCase().replace(/\.$/, '');

/**
 * Builds a network's records from its services and containers. Services win over containers for a name
 * both claim (a service name is the cluster-wide contract); containers sharing an alias resolve to all of
 * their addresses.
 */
export function buildRecords(input: RecordsInput): Records {
  const names = new Map<string, { kind: NameKind; addresses: string[] }>();
  const ptr = new Map<string, string>();
  const put = (name: string, kind: NameKind, addresses: readonly string[], override: boolean) => {
    const k = key(name);
    if (k === '') return;
    const had = names.get(k);
    if (had && !override) {
      if (had.kind === 'container' && kind === 'container') {
        for (const a of addresses) if (!had.addresses.includes(a)) had.addresses.push(a);
      }
      return;
    }
    names.set(k, { kind, addresses: [...addresses] });
  };
  for (const s of input.services ?? []) {
    const mode = s.endpointMode ?? 'vip';
    const tasks = s.tasks.filter((a) => isIP(a) !== 0);
    const own: { kind: NameKind; addresses: readonly string[] } =
      mode === 'dnsrr' || s.vip === undefined
        ? { kind: 'tasks', addresses: tasks }
        : { kind: 'vip', addresses: [s.vip] };
    for (const n of [s.name, ...(s.aliases ?? [])]) {
      put(n, own.kind, own.addresses, true);
      put(`tasks.${n}`, 'tasks', tasks, true);
    }
    if (mode === 'vip' && s.vip !== undefined) ptr.set(s.vip, `${s.name}.${input.network}`);
  }
  for (const c of input.containers ?? []) {
    const all = [c.name, ...(c.aliases ?? [])];
    if (c.id !== undefined && c.id.length >= 12) all.push(c.id.slice(0, 12));
    for (const n of all) put(n, 'container', [c.address], false);
    if (!ptr.has(c.address)) ptr.set(c.address, `${c.name}.${input.network}`);
  }
  return {
    name: (n) => names.get(key(n)),
    address: (a) => ptr.get(a),
  };
}

/**
 * Several networks' records as one, the first that knows a name (or an address) answering: a container on
 * several networks asks the resolver of its first and is answered the names of all of them, as in docker.
 */
export function chainRecords(first: Records, ...rest: readonly Records[]): Records {
  if (rest.length === 0) return first;
  const all = [first, ...rest];
  return {
    name: (n) => {
      for (const r of all) {
        const hit = r.name(n);
        if (hit) return hit;
      }
      return undefined;
    },
    address: (a) => {
      for (const r of all) {
        const hit = r.address(a);
        if (hit) return hit;
      }
      return undefined;
    },
  };
}
