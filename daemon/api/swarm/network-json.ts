// Swarm networks in the Engine API's JSON (GET /networks answers, POST /networks/create bodies), pure.
import { invalidArgument } from '../../../common/errors.js';
import type { Network } from '../../../proto/gen/shoal/swarm/v1/objects.js';
import { NetworkSpec } from '../../../proto/gen/shoal/swarm/v1/specs.js';
import { type Json, Reader } from './json.js';
import { omitEmpty, timeToJson } from './translate.js';

/** A swarm network as `docker network inspect|ls` shows it (a manager's view: no local containers). */
export function networkJson(n: Network): Json {
  const spec = n.spec;
  const labels = spec?.annotations?.labels ?? {};
  return {
    Name: spec?.annotations?.name ?? '',
    Id: n.id,
    Created: timeToJson(n.meta?.createdAt ?? 0),
    Scope: 'swarm',
    Driver: spec?.driverConfig?.name || 'overlay',
    EnableIPv6: spec?.ipv6Enabled ?? false,
    IPAM: {
      Driver: n.ipam?.driver?.name || 'default',
      Options: null,
      Config: (n.ipam?.configs ?? []).map((c) =>
        omitEmpty({
          Subnet: c.subnet,
          IPRange: c.range,
          Gateway: c.gateway,
          AuxiliaryAddresses: Object.keys(c.auxAddresses).length ? c.auxAddresses : undefined,
        }),
      ),
    },
    Internal: spec?.internal ?? false,
    Attachable: spec?.attachable ?? false,
    Ingress: spec?.ingress ?? false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: null,
    // The driver's state (the VXLAN id) and the user's options, as dockerd merges them.
    Options: { ...(spec?.driverConfig?.options ?? {}), ...(n.driverState?.options ?? {}) },
    Labels: Object.keys(labels).length ? labels : null,
  };
}

/** Whether a create body asks for a swarm network (driver overlay, or scope swarm). */
export function isSwarmCreate(body: unknown): boolean {
  const r = Reader.of(body);
  return r.str('Driver') === 'overlay' || r.str('Scope') === 'swarm';
}

/** POST /networks/create's body → a NetworkSpec (the control API checks and defaults it). */
export function networkSpecFromJson(body: unknown): NetworkSpec {
  const r = Reader.of(body);
  const scope = r.str('Scope');
  if (scope !== '' && scope !== 'swarm')
    throw invalidArgument('Scope', `scope "${scope}" is not that of a swarm network (swarm)`);
  if (r.bool('ConfigOnly'))
    throw invalidArgument('ConfigOnly', 'configuration-only networks are not supported');
  if (r.obj('ConfigFrom')?.str('Network'))
    throw invalidArgument('ConfigFrom', 'networks made from a configuration network are not supported');
  const ipam = r.obj('IPAM');
  return NetworkSpec.fromPartial({
    annotations: { name: r.str('Name'), labels: r.map('Labels') },
    driverConfig: { name: r.str('Driver'), options: r.map('Options') },
    ipv6Enabled: r.bool('EnableIPv6'),
    internal: r.bool('Internal'),
    attachable: r.bool('Attachable'),
    ingress: r.bool('Ingress'),
    ipam: {
      driver: { name: ipam?.str('Driver') ?? '', options: ipam?.map('Options') ?? {} },
      configs: (ipam?.list('Config') ?? []).map((c) => ({
        subnet: c.str('Subnet'),
        range: c.str('IPRange'),
        gateway: c.str('Gateway'),
        auxAddresses: c.map('AuxiliaryAddresses'),
      })),
    },
  });
}
