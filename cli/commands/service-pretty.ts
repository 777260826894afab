// `service inspect --pretty` and `node inspect --pretty`: docker's human-readable layouts. Pure.
import { humanDuration } from '../../common/humanize.js';
import { bytesSize } from '../units.js';
import { type NodeJson, type ServiceJson, title } from './swarm-format.js';

type Json = Record<string, unknown>;

/** Nanoseconds → Go's time.Duration String ("2s", "1m30s", "500ms"). */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${ns / 1e3}µs`;
  if (ns < 1e9) return `${ns / 1e6}ms`;
  let s = ns / 1e9;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s = Math.round((s - m * 60) * 1e9) / 1e9;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

const cpus = (n: number) => String(n / 1e9);

function rollout(out: string[], name: string, c: Json | undefined, orderLabel: string): void {
  if (!c) return;
  out.push(`${name}:`, ` Parallelism:\t${c.Parallelism ?? 0}`);
  if (c.Delay) out.push(` Delay:\t\t${goDuration(c.Delay as number)}`);
  out.push(` On failure:\t${c.FailureAction ?? ''}`);
  if (c.Monitor) out.push(` Monitoring Period: ${goDuration(c.Monitor as number)}`);
  out.push(
    ` Max failure ratio: ${c.MaxFailureRatio ?? 0}`,
    ` ${orderLabel}:${' '.repeat(18 - orderLabel.length)}${c.Order ?? ''}`,
  );
}

const list = (v: unknown) => (Array.isArray(v) ? (v as unknown[]) : []);
const sortedEntries = (m: unknown) =>
  Object.entries((m ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** docker's `service inspect --pretty` layout, line for line (a leading blank line, its spacing quirks). */
export function prettyService(s: ServiceJson): string {
  const spec = s.Spec as Json & ServiceJson['Spec'];
  const task = (spec.TaskTemplate ?? {}) as Json;
  const cs = (task.ContainerSpec ?? {}) as Json;
  const out: string[] = ['', `ID:\t\t${s.ID}`, `Name:\t\t${spec.Name}`];
  const labels = sortedEntries(spec.Labels);
  if (labels.length) out.push('Labels:', ...labels.map(([k, v]) => ` ${k}${v ? `=${v}` : ''}`));
  if (spec.Mode?.Global) out.push('Service Mode:\tGlobal');
  else {
    out.push('Service Mode:\tReplicated');
    if (spec.Mode?.Replicated?.Replicas) out.push(` Replicas:\t${spec.Mode.Replicated.Replicas}`);
  }
  if (s.UpdateStatus?.State) {
    out.push('UpdateStatus:', ` State:\t\t${s.UpdateStatus.State}`);
    if (s.UpdateStatus.StartedAt) out.push(` Started:\t${agoText(s.UpdateStatus.StartedAt)}`);
    if (s.UpdateStatus.State === 'completed' && s.UpdateStatus.CompletedAt)
      out.push(` Completed:\t${agoText(s.UpdateStatus.CompletedAt)}`);
    out.push(` Message:\t${s.UpdateStatus.Message ?? ''}`);
  }
  const placement = (task.Placement ?? {}) as Json;
  out.push('Placement:');
  const constraints = list(placement.Constraints);
  if (constraints.length) out.push(` Constraints:\t[${constraints.join(' ')}]`);
  const prefs = list(placement.Preferences) as { Spread?: { SpreadDescriptor: string } }[];
  const spreads = prefs.filter((p) => p.Spread).map((p) => `spread=${p.Spread?.SpreadDescriptor ?? ''}`);
  if (spreads.length) out.push(` Preferences:   [${spreads.join(' ')}]`);
  if (placement.MaxReplicas) out.push(` Max Replicas Per Node:   ${placement.MaxReplicas}`);
  rollout(out, 'UpdateConfig', spec.UpdateConfig as Json | undefined, 'Update order');
  rollout(out, 'RollbackConfig', spec.RollbackConfig as Json | undefined, 'Rollback order');
  out.push('ContainerSpec:', ` Image:\t\t${cs.Image ?? ''}`);
  // docker shows neither Command nor the stop grace period here.
  const args = list(cs.Args);
  if (args.length) out.push(` Args:\t\t${args.map((a) => `${a} `).join('')}`);
  const env = list(cs.Env);
  if (env.length) out.push(` Env:\t\t${env.map((e) => `${e} `).join('')}`);
  if (cs.Dir) out.push(` Dir:\t\t${cs.Dir}`);
  if (cs.Init !== undefined && cs.Init !== null) out.push(` Init:\t\t${cs.Init}`);
  if (cs.User) out.push(` User: ${cs.User}`);
  const add = list(cs.CapabilityAdd);
  const drop = list(cs.CapabilityDrop);
  if (add.length || drop.length) {
    out.push('Capabilities:');
    if (add.length) out.push(` Add: ${add.join(', ')}`);
    if (drop.length) out.push(` Drop: ${drop.join(', ')}`);
  }
  const sysctls = sortedEntries(cs.Sysctls);
  if (sysctls.length) out.push('SysCtls:', ...sysctls.map(([k, v]) => ` ${k}${v ? `: ${v}` : ''}`));
  const ulimits = (list(cs.Ulimits) as { Name: string; Soft: number; Hard: number }[])
    .map((u) => [u.Name, `${u.Soft}:${u.Hard}`] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (ulimits.length) out.push('Ulimits:', ...ulimits.map(([k, v]) => ` ${k}: ${v}`));
  const mounts = list(cs.Mounts) as Json[];
  if (mounts.length) out.push('Mounts:');
  for (const m of mounts)
    out.push(
      ` Target:\t${m.Target}`,
      `  Source:\t${m.Source ?? ''}`,
      `  ReadOnly:\t${m.ReadOnly ?? false}`,
      `  Type:\t\t${m.Type}`,
    );
  for (const [title, refs, nameKey] of [
    ['Configs', cs.Configs, 'ConfigName'],
    ['Secrets', cs.Secrets, 'SecretName'],
  ] as const) {
    const xs = list(refs) as Json[];
    if (!xs.length) continue;
    out.push(`${title}:`);
    for (const x of xs)
      out.push(` Target:\t${(x.File as Json | undefined)?.Name ?? ''}`, `  Source:\t${x[nameKey]}`);
  }
  const log = task.LogDriver as { Name?: string; Options?: Record<string, string> } | undefined;
  if (log) {
    out.push('Log Driver:');
    if (log.Name) out.push(` Name:\t\t${log.Name}`);
    const opts = sortedEntries(log.Options);
    if (opts.length) out.push(' LogOpts:', ...opts.map(([k, v]) => `  ${k}${v ? `:       ${v}` : ''}`));
    out.push('');
  }
  const res = task.Resources as { Limits?: Json; Reservations?: Json } | undefined;
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  if (res) {
    out.push('Resources:');
    const r = res.Reservations;
    if (r && (n(r.NanoCPUs) > 0 || n(r.MemoryBytes) > 0)) {
      out.push(' Reservations:');
      if (n(r.NanoCPUs) > 0) out.push(`  CPU:\t\t${cpus(n(r.NanoCPUs))}`);
      if (n(r.MemoryBytes)) out.push(`  Memory:\t${bytesSize(n(r.MemoryBytes))}`);
    }
    const l = res.Limits;
    if (l && (n(l.NanoCPUs) > 0 || n(l.MemoryBytes) > 0 || n(l.Pids) > 0)) {
      out.push(' Limits:');
      if (n(l.NanoCPUs) > 0) out.push(`  CPU:\t\t${cpus(n(l.NanoCPUs))}`);
      if (n(l.MemoryBytes)) out.push(`  Memory:\t${bytesSize(n(l.MemoryBytes))}`);
    }
    if (n(l?.Pids) > 0) out.push(`  PIDs:\t\t${l?.Pids}`);
  }
  const networks = list(task.Networks) as Json[];
  if (networks.length) out.push(`Networks:${networks.map((x) => ` ${x.Target}`).join('')} `);
  const ep = (spec.EndpointSpec ?? {}) as Json;
  out.push(`Endpoint Mode:\t${ep.Mode ?? 'vip'}`);
  // Ports as allocated (Endpoint.Ports), as docker shows them: none until an allocator publishes them.
  const ports = list(s.Endpoint?.Ports) as Json[];
  if (ports.length) {
    out.push('Ports:');
    for (const [i, p] of ports.entries())
      out.push(
        ` PublishedPort = ${p.PublishedPort ?? 0}`,
        `  Protocol = ${p.Protocol}`,
        `  TargetPort = ${p.TargetPort}`,
        `  PublishMode = ${p.PublishMode}${i === ports.length - 1 ? ' ' : ''}`,
      );
  }
  const h = cs.Healthcheck as Json | undefined;
  if (h) {
    out.push(
      ' Healthcheck:',
      `  Interval = ${goDuration(n(h.Interval))}`,
      `  Retries = ${n(h.Retries)}`,
      `  StartPeriod =\t${goDuration(n(h.StartPeriod))}`,
      `  Timeout =\t${goDuration(n(h.Timeout))}`,
    );
    const tests = list(h.Test);
    if (tests.length) {
      out.push('  Tests:', ...tests.map((t, i) => `\t Test = ${t}${i === tests.length - 1 ? ' ' : ''}`));
    }
  }
  // docker's template ends with a newline of its own, so a blank line follows.
  return `${out.join('\n')}\n\n`;
}

/** "2 minutes ago", as the CLI's human durations. */
function agoText(rfc3339: string): string {
  const ms = Date.now() - Date.parse(rfc3339);
  return `${humanDuration(ms)} ago`;
}

/** Go's time.Time String() of an RFC 3339 time, as docker's PrettyPrint shows it ("… +0000 utc"). */
export function goTimeText(rfc3339: string | undefined): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(rfc3339 ?? '');
  if (!m) return rfc3339 ?? '';
  const frac = (m[3] ?? '').replace(/0+$/, '');
  return `${m[1]} ${m[2]}${frac ? `.${frac}` : ''} +0000 utc`;
}

/** docker's `node inspect --pretty` layout, line for line. */
export function prettyNode(n: NodeJson): string {
  const d = n.Description;
  const out: string[] = [`ID:\t\t\t${n.ID}`];
  if (n.Spec.Name) out.push(`Name:\t\t\t${n.Spec.Name}`);
  const labels = sortedEntries(n.Spec.Labels);
  if (labels.length) out.push('Labels:', ...labels.map(([k, v]) => ` - ${k}${v ? `=${v}` : ''}`));
  out.push(
    `Hostname:              \t${d?.Hostname ?? ''}`,
    `Joined at:             \t${goTimeText(n.CreatedAt)}`,
    'Status:',
    ` State:\t\t\t${title(n.Status?.State)}`,
  );
  if (n.Status?.Message) out.push(` Message:              \t${title(n.Status.Message)}`);
  out.push(` Availability:         \t${title(n.Spec.Availability)}`);
  if (n.Status?.Addr) out.push(` Address:\t\t${n.Status.Addr}`);
  if (n.ManagerStatus) {
    out.push(
      'Manager Status:',
      ` Address:\t\t${n.ManagerStatus.Addr ?? ''}`,
      ` Raft Status:\t\t${title(n.ManagerStatus.Reachability)}`,
      ` Leader:\t\t${n.ManagerStatus.Leader ? 'Yes' : 'No'}`,
    );
  }
  const memory = d?.Resources?.MemoryBytes ?? 0;
  out.push(
    'Platform:',
    ` Operating System:\t${d?.Platform?.OS ?? ''}`,
    ` Architecture:\t\t${d?.Platform?.Architecture ?? ''}`,
    'Resources:',
    ` CPUs:\t\t\t${Math.floor((d?.Resources?.NanoCPUs ?? 0) / 1e9)}`,
    ` Memory:\t\t${memory ? bytesSize(memory) : ''}`,
  );
  const plugins = new Map<string, string[]>();
  for (const p of d?.Engine?.Plugins ?? []) plugins.set(p.Type, [...(plugins.get(p.Type) ?? []), p.Name]);
  if (plugins.size) {
    out.push('Plugins:');
    for (const [k, v] of [...plugins].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      out.push(` ${k}:\t\t${v.join(', ')}`);
  }
  out.push(`Engine Version:\t\t${d?.Engine?.EngineVersion ?? ''}`);
  const engineLabels = sortedEntries(d?.Engine?.Labels);
  if (engineLabels.length)
    out.push('Engine Labels:', ...engineLabels.map(([k, v]) => ` - ${k}${v ? `=${v}` : ''}`));
  const tls = d?.TLSInfo;
  if (tls && (tls.TrustRoot || tls.CertIssuerSubject || tls.CertIssuerPublicKey)) {
    out.push(
      'TLS Info:',
      ' TrustRoot:',
      tls.TrustRoot ?? '',
      ` Issuer Subject:\t${tls.CertIssuerSubject ?? ''}`,
      ` Issuer Public Key:\t${tls.CertIssuerPublicKey ?? ''}`,
    );
  }
  return `${out.join('\n')}\n`;
}
