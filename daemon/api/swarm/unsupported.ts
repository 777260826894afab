// What a docker user may ask of a service that shoal's workers cannot run (yet). Refused at create and update
// (400, naming the docker flag and the JSON field) instead of storing a spec whose every task the worker
// would reject (worker/executor/spec-map.ts): the user learns at once, and nothing is created.
// Published ports and networks are accepted: the managers allocate them (manager/allocator), and the node
// dataplane that uses them is the networking issue's; until it lands the worker refuses such tasks.
import { ShoalError } from '../../../common/errors.js';
import type { ServiceSpec } from '../../../proto/gen/shoal/swarm/v1/specs.js';

interface Gap {
  /** The JSON field, as the API names it. */
  field: string;
  /** The docker CLI flag that sets it. */
  flag: string;
  present(spec: ServiceSpec): boolean;
}

const cs = (s: ServiceSpec) => s.taskTemplate?.containerSpec;

const IPC_SYSCTL =
  /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\..+)$/;
const namespacedSysctl = (k: string) => IPC_SYSCTL.test(k) || k.startsWith('net.');

const GAPS: Gap[] = [
  {
    // The engine sets namespaced ones only (worker/engine/spec/build.ts): the others would change the host.
    field: 'TaskTemplate.ContainerSpec.Sysctls',
    flag: '--sysctl (only net.*, kernel.msg*/sem/shm*, fs.mqueue.*)',
    present: (s) => Object.keys(cs(s)?.sysctls ?? {}).some((k) => !namespacedSysctl(k)),
  },
  {
    field: 'TaskTemplate.ContainerSpec.Mounts[].BindOptions.NonRecursive',
    flag: '--mount bind-nonrecursive',
    present: (s) => !!cs(s)?.mounts.some((m) => m.bindOptions?.nonRecursive),
  },
  { field: 'TaskTemplate.ContainerSpec.Hosts', flag: '--host', present: (s) => !!cs(s)?.hosts.length },
  {
    field: 'TaskTemplate.ContainerSpec.DNSConfig',
    flag: '--dns, --dns-search, --dns-option',
    present: (s) => {
      const d = cs(s)?.dnsConfig;
      return !!d && d.nameservers.length + d.search.length + d.options.length > 0;
    },
  },
  {
    field: 'TaskTemplate.Resources.Reservations.Pids',
    flag: '(reservations.pids)',
    present: (s) => (s.taskTemplate?.resources?.reservations?.pids ?? 0) > 0,
  },
  {
    field: 'TaskTemplate.LogDriver',
    flag: '--log-driver, --log-opt',
    present: (s) => {
      const d = s.taskTemplate?.logDriver;
      return !!d && ((d.name !== '' && d.name !== 'json-file') || Object.keys(d.options).length > 0);
    },
  },
];

/** Throws one invalid_argument listing every gap the spec hits (field and flag), or returns. */
export function refuseUnsupported(spec: ServiceSpec): void {
  const hit = GAPS.filter((g) => g.present(spec));
  if (hit.length === 0) return;
  const what = hit.map((g) => `${g.flag} (${g.field})`).join(', ');
  throw new ShoalError('invalid_argument', `not supported by shoal yet: ${what}`, { field: hit[0]!.field });
}
