// The swarm objects' table rows as the docker CLI prints them (node ls, service ls, service/node ps)
// and the shared --format handling (table, json, template). Pure: the clock is a parameter.
import { humanDuration } from '../../common/humanize.js';
import type { Cli } from '../context.js';
import { ellipsis, formatTable } from '../table.js';
import { renderTemplate } from '../template.js';

export interface Version {
  Index: number;
}
export interface NodeJson {
  ID: string;
  Version: Version;
  Spec: { Labels?: Record<string, string>; Role?: string; Availability?: string; Name?: string };
  Description?: {
    Hostname?: string;
    Engine?: {
      EngineVersion?: string;
      Labels?: Record<string, string>;
      Plugins?: { Type: string; Name: string }[];
    };
    Platform?: { Architecture?: string; OS?: string };
    Resources?: { NanoCPUs?: number; MemoryBytes?: number };
    TLSInfo?: { TrustRoot?: string; CertIssuerSubject?: string; CertIssuerPublicKey?: string };
  };
  Status?: { State?: string; Addr?: string; Message?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string; Addr?: string };
  CreatedAt?: string;
  UpdatedAt?: string;
}
export interface PortJson {
  Name?: string;
  Protocol?: string;
  TargetPort?: number;
  PublishedPort?: number;
  PublishMode?: string;
}
export interface ServiceJson {
  ID: string;
  Version: Version;
  CreatedAt?: string;
  UpdatedAt?: string;
  Spec: {
    Name: string;
    Labels?: Record<string, string>;
    TaskTemplate?: {
      ContainerSpec?: { Image?: string; [k: string]: unknown };
      Placement?: { MaxReplicas?: number; Constraints?: string[] };
      [k: string]: unknown;
    };
    Mode?: {
      Replicated?: { Replicas?: number };
      Global?: object;
      ReplicatedJob?: object;
      GlobalJob?: object;
    };
    UpdateConfig?: { Monitor?: number; [k: string]: unknown };
    EndpointSpec?: { Mode?: string; Ports?: PortJson[] };
    [k: string]: unknown;
  };
  Endpoint?: { Ports?: PortJson[]; VirtualIPs?: { NetworkID: string; Addr: string }[] };
  UpdateStatus?: { State?: string; Message?: string; StartedAt?: string; CompletedAt?: string };
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number };
}
export interface TaskJson {
  ID: string;
  Version: Version;
  CreatedAt?: string;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState: string;
  Spec?: { ContainerSpec?: { Image?: string } };
  Status: {
    Timestamp?: string;
    State: string;
    Message?: string;
    Err?: string;
    PortStatus?: { Ports?: PortJson[] };
  };
}

export const title = (s: string | undefined) => (s ? s[0].toUpperCase() + s.slice(1) : '');

/** "bb:latest@sha256:…" → "bb:latest" (docker drops the digest in tables unless --no-trunc). */
export function shortImage(image: string | undefined, trunc = true): string {
  if (!image) return '';
  return trunc ? image.replace(/@sha256:[0-9a-f]+$/, '') : image;
}

export function portsText(ports: PortJson[] | undefined): string {
  return (ports ?? [])
    .filter((p) => p.PublishedPort)
    .map((p) => `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? 'tcp'}`)
    .join(', ');
}

export function serviceMode(s: ServiceJson): string {
  const m = s.Spec.Mode ?? {};
  if (m.Global) return 'global';
  if (m.ReplicatedJob) return 'replicated job';
  if (m.GlobalJob) return 'global job';
  return 'replicated';
}

// --- node ls ---
export const NODE_HEADERS: Record<string, string> = {
  ID: 'ID',
  Hostname: 'HOSTNAME',
  Status: 'STATUS',
  Availability: 'AVAILABILITY',
  ManagerStatus: 'MANAGER STATUS',
  EngineVersion: 'ENGINE VERSION',
  TLSStatus: 'TLS STATUS',
  Self: 'SELF',
};
export const NODE_COLUMNS = ['ID', 'Hostname', 'Status', 'Availability', 'ManagerStatus', 'EngineVersion'];

export function managerStatus(n: NodeJson): string {
  if (!n.ManagerStatus) return '';
  if (n.ManagerStatus.Leader) return 'Leader';
  return title(n.ManagerStatus.Reachability);
}

export function nodeRow(n: NodeJson, selfId: string | undefined): Record<string, string> {
  const self = n.ID === selfId;
  return {
    ID: self ? `${n.ID} *` : n.ID,
    Hostname: n.Description?.Hostname ?? '',
    Status: title(n.Status?.State),
    Availability: title(n.Spec.Availability),
    ManagerStatus: managerStatus(n),
    EngineVersion: n.Description?.Engine?.EngineVersion ?? '',
    TLSStatus: 'Ready',
    Self: String(self),
  };
}

/** Natural order ("node2" before "node10"), as docker sorts node hostnames. */
export function naturalLess(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}

// --- service ls ---
export const SERVICE_HEADERS: Record<string, string> = {
  ID: 'ID',
  Name: 'NAME',
  Mode: 'MODE',
  Replicas: 'REPLICAS',
  Image: 'IMAGE',
  Ports: 'PORTS',
  UpdateStatus: 'UPDATE STATUS',
};
export const SERVICE_COLUMNS = ['ID', 'Name', 'Mode', 'Replicas', 'Image', 'Ports'];

export function serviceRow(s: ServiceJson, trunc = true): Record<string, string> {
  const st = s.ServiceStatus;
  let replicas = st ? `${st.RunningTasks}/${st.DesiredTasks}` : '';
  const max = s.Spec.TaskTemplate?.Placement?.MaxReplicas;
  if (max && s.Spec.Mode?.Replicated) replicas += ` (max ${max} per node)`;
  return {
    ID: trunc ? s.ID.slice(0, 12) : s.ID,
    Name: s.Spec.Name,
    Mode: serviceMode(s),
    Replicas: replicas,
    Image: shortImage(s.Spec.TaskTemplate?.ContainerSpec?.Image, trunc),
    Ports: portsText(s.Endpoint?.Ports),
    // shoal's own key (docker's service ls has none): the rollout's state, e.g. "rollback_paused".
    UpdateStatus: s.UpdateStatus?.State ?? '',
  };
}

// --- service ps / node ps ---
export const TASK_HEADERS: Record<string, string> = {
  ID: 'ID',
  Name: 'NAME',
  Image: 'IMAGE',
  Node: 'NODE',
  DesiredState: 'DESIRED STATE',
  CurrentState: 'CURRENT STATE',
  Error: 'ERROR',
  Ports: 'PORTS',
};
export const TASK_COLUMNS = ['ID', 'Name', 'Image', 'Node', 'DesiredState', 'CurrentState', 'Error', 'Ports'];

export interface TaskContext {
  serviceNames: Map<string, string>;
  /** Whether the service is global (tasks are named by node instead of slot). */
  globalServices: Set<string>;
  nodeNames: Map<string, string>;
  now: number;
  trunc: boolean;
  /** Whether the output is a table (docker marks history rows " \\_ " only there). */
  table: boolean;
}

/** Whether a --format value prints a table (the default, "table" or "table TEMPLATE"). */
export const isTableFormat = (format: string | undefined): boolean =>
  format === undefined || format === '' || format === 'table' || format.startsWith('table ');

function taskBaseName(t: TaskJson, ctx: TaskContext): string {
  const svc = ctx.serviceNames.get(t.ServiceID) ?? t.ServiceID;
  const base =
    ctx.globalServices.has(t.ServiceID) || !t.Slot ? `${svc}.${t.NodeID ?? ''}` : `${svc}.${t.Slot}`;
  return ctx.trunc ? base : `${base}.${t.ID}`;
}

/** The task table rows: sorted by name, newest first within a slot; older ones are "\_ " history rows. */
export function taskRows(tasks: TaskJson[], ctx: TaskContext): Record<string, string>[] {
  const named = tasks.map((t) => ({ t, name: taskBaseName(t, ctx) }));
  named.sort((a, b) => {
    const byName = naturalLess(a.name, b.name);
    if (byName !== 0) return byName;
    return (
      Date.parse(b.t.CreatedAt ?? '') - Date.parse(a.t.CreatedAt ?? '') ||
      b.t.Version.Index - a.t.Version.Index
    );
  });
  let prev = '';
  return named.map(({ t, name }) => {
    const shown = name === prev && ctx.table ? ` \\_ ${name}` : name;
    prev = name;
    const since = t.Status.Timestamp ? ctx.now - Date.parse(t.Status.Timestamp) : 0;
    const err = t.Status.Err ?? '';
    return {
      ID: ctx.trunc ? t.ID.slice(0, 12) : t.ID,
      Name: shown,
      Image: shortImage(t.Spec?.ContainerSpec?.Image, ctx.trunc),
      Node: t.NodeID ? (ctx.nodeNames.get(t.NodeID) ?? t.NodeID) : '',
      DesiredState: title(t.DesiredState),
      CurrentState: `${title(t.Status.State)} ${humanDuration(Math.max(0, since))} ago`,
      Error: err ? `"${ctx.trunc ? ellipsis(err, 30) : err}"` : '',
      Ports: portsText(t.Status.PortStatus?.Ports),
    };
  });
}

/**
 * Writes rows per --format: the default table, "table TEMPLATE", "json" or a bare template.
 * Returns 1 (after printing the message) when the template is not supported.
 */
export function writeList(
  cli: Cli,
  format: string | undefined,
  headers: Record<string, string>,
  columns: string[],
  rows: Record<string, string>[],
): number {
  if (format === undefined || format === '' || format === 'table') {
    cli.out.write(
      formatTable([columns.map((c) => headers[c]), ...rows.map((r) => columns.map((c) => r[c]))]),
    );
    return 0;
  }
  if (format === 'json') {
    cli.out.write(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    return 0;
  }
  try {
    if (format.startsWith('table ')) {
      const template = format.slice('table '.length).replace(/\\t/g, '\t');
      const lines = [renderTemplate(template, headers), ...rows.map((r) => renderTemplate(template, r))];
      cli.out.write(formatTable(lines.map((line) => line.split('\t'))));
    } else {
      const template = format.replace(/\\t/g, '\t');
      cli.out.write(rows.map((r) => `${renderTemplate(template, r)}\n`).join(''));
    }
  } catch (err) {
    cli.err.write(`${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}
