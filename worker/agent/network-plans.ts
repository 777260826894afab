// The network plans the dispatcher sends (one per network this node takes part in), held in memory and
// handed whole to the node's dataplane (worker/network's ClusterNetworks) after every assignment message
// that changed them, in the dataplane's own terms. They are applied before the tasks of the same message,
// so an overlay exists before a container is attached to it.
import {
  AssignmentAction,
  type Assignments,
  AssignmentsType,
  type NetworkPlan,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import { PortProtocol, PublishMode } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { NetworkPlanView, PlanPort } from '../network/cluster.js';

const VNI_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';

/** A plan in the dataplane's terms; undefined when it lacks what an overlay needs (no subnet or VXLAN id). */
export function planView(p: NetworkPlan): NetworkPlanView | undefined {
  const n = p.network;
  const ipam = n?.ipam?.configs[0];
  const vni = Number((n?.driverState?.options[VNI_OPTION] ?? '').split(',')[0]);
  if (!n || !ipam?.subnet || !Number.isInteger(vni) || vni <= 0) return undefined;
  return {
    id: n.id,
    name: n.spec?.annotations?.name ?? n.id,
    vni,
    subnet: ipam.subnet,
    gateway: ipam.gateway,
    internal: n.spec?.internal ?? false,
    attachable: n.spec?.attachable ?? false,
    ingress: n.spec?.ingress ?? false,
    nodeId: p.nodeId,
    ...(p.localAddress ? { local: p.localAddress } : {}),
    endpoints: p.endpoints.map((e) => ({ ...e, aliases: [...e.aliases] })),
    services: p.services.map((s) => ({
      id: s.id,
      name: s.name,
      vip: s.vip,
      dnsrr: s.dnsrr,
      aliases: [...s.aliases],
      ports: s.ports.flatMap((x): PlanPort[] =>
        x.protocol === PortProtocol.PORT_PROTOCOL_SCTP
          ? []
          : [
              {
                protocol: x.protocol === PortProtocol.PORT_PROTOCOL_UDP ? 'udp' : 'tcp',
                target: x.targetPort,
                published: x.publishedPort,
                mode: x.publishMode === PublishMode.PUBLISH_MODE_HOST ? 'host' : 'ingress',
              },
            ],
      ),
    })),
  };
}

export class NetworkPlans {
  private readonly plans = new Map<string, NetworkPlan>();

  constructor(
    private readonly onChange: (plans: NetworkPlanView[]) => void = () => {},
    private readonly log: (m: string) => void = () => {},
  ) {}

  /** Applies the network changes of one assignment message (COMPLETE replaces the set). */
  apply(msg: Assignments): void {
    const complete = msg.type === AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE;
    let changed = complete; // a COMPLETE without networks drops what a restart brought back
    if (complete) this.plans.clear();
    for (const c of msg.changes) {
      const item = c.assignment?.item;
      if (item?.$case !== 'network') continue;
      const id = item.value.network?.id ?? '';
      changed = true;
      if (c.action === AssignmentAction.ASSIGNMENT_ACTION_REMOVE) this.plans.delete(id);
      else this.plans.set(id, item.value);
    }
    if (changed) this.onChange(this.views());
  }

  /** The held plans the dataplane can use. */
  views(): NetworkPlanView[] {
    const out: NetworkPlanView[] = [];
    for (const p of this.plans.values()) {
      const v = planView(p);
      if (v) out.push(v);
      else this.log(`network ${p.network?.id ?? '?'}: plan without a subnet or a VXLAN id, ignored`);
    }
    return out;
  }
}
