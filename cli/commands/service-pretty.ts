// `service inspect --pretty` and `node inspect --pretty`: docker's human-readable layouts. Pure.
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
  out.push(` Max failure ratio: ${c.MaxFailureRatio ?? 0}`, ` ${orderLabel}:      ${c.Order ?? ''}`);
}

export function prettyService(s: ServiceJson): string {
  const spec = s.Spec as Json & ServiceJson['Spec'];
  const task = (spec.TaskTemplate ?? {}) as Json;
  const cs = (task.ContainerSpec ?? {}) as Json;
  const out: string[] = [`ID:\t\t${s.ID}`, `Name:\t\t${spec.Name}`];
  const labels = Object.entries(spec.Labels ?? {});
  if (labels.length) out.push('Labels:', ...labels.map(([k, v]) => ` ${k}=${v}`));
  if (spec.Mode?.Global) out.push('Service Mode:\tGlobal');
  else out.push('Service Mode:\tReplicated', ` Replicas:\t${spec.Mode?.Replicated?.Replicas ?? 1}`);
  if (s.UpdateStatus?.State) {
    out.push(
      'UpdateStatus:',
      ` State:\t\t${s.UpdateStatus.State}`,
      ` Message:\t${s.UpdateStatus.Message ?? ''}`,
    );
  }
  const placement = (task.Placement ?? {}) as Json;
  if (
    (placement.Constraints as string[] | undefined)?.length ||
    (placement.Preferences as Json[] | undefined)?.length
  ) {
    out.push('Placement:');
    if ((placement.Constraints as string[] | undefined)?.length)
      out.push(` Constraints:\t[${(placement.Constraints as string[]).join(' ')}]`);
    for (const p of (placement.Preferences as { Spread?: { SpreadDescriptor: string } }[] | undefined) ?? [])
      out.push(` Preferences:\tSpread=${p.Spread?.SpreadDescriptor ?? ''}`);
  }
  rollout(out, 'UpdateConfig', spec.UpdateConfig as Json | undefined, 'Update order');
  rollout(out, 'RollbackConfig', spec.RollbackConfig as Json | undefined, 'Rollback order');
  out.push('ContainerSpec:', ` Image:\t\t${cs.Image ?? ''}`);
  if ((cs.Command as string[] | undefined)?.length)
    out.push(` Command:\t${(cs.Command as string[]).join(' ')}`);
  if ((cs.Args as string[] | undefined)?.length) out.push(` Args:\t\t${(cs.Args as string[]).join(' ')} `);
  if ((cs.Env as string[] | undefined)?.length) out.push(` Env:\t\t${(cs.Env as string[]).join(' ')}`);
  if (cs.Dir) out.push(` Dir:\t\t${cs.Dir}`);
  if (cs.User) out.push(` User: ${cs.User}`);
  out.push(` Init:\t\t${cs.Init ?? false}`);
  if (cs.StopGracePeriod !== undefined)
    out.push(` StopGracePeriod: ${goDuration(cs.StopGracePeriod as number)}`);
  const mounts = (cs.Mounts as Json[] | undefined) ?? [];
  if (mounts.length) {
    out.push('Mounts:');
    for (const m of mounts)
      out.push(
        ` Target:\t${m.Target}`,
        `  Source:\t${m.Source ?? ''}`,
        `  ReadOnly:\t${m.ReadOnly ?? false}`,
        `  Type:\t\t${m.Type}`,
      );
  }
  const res = (task.Resources ?? {}) as { Limits?: Json; Reservations?: Json };
  const hasRes = (r?: Json) => r && (r.NanoCPUs || r.MemoryBytes);
  if (hasRes(res.Limits) || hasRes(res.Reservations)) {
    out.push('Resources:');
    for (const [name, r] of [
      ['Reservations', res.Reservations],
      ['Limits', res.Limits],
    ] as const) {
      if (!hasRes(r)) continue;
      out.push(` ${name}:`);
      if (r?.NanoCPUs) out.push(`  CPU:\t\t${cpus(r.NanoCPUs as number)}`);
      if (r?.MemoryBytes) out.push(`  Memory:\t${bytesSize(r.MemoryBytes as number)}`);
    }
  }
  const networks = (task.Networks as Json[] | undefined) ?? [];
  if (networks.length) out.push(`Networks: ${networks.map((n) => n.Target).join(' ')}`);
  const ep = (spec.EndpointSpec ?? {}) as Json;
  out.push(`Endpoint Mode:\t${ep.Mode ?? 'vip'}`);
  const ports = (s.Endpoint?.Ports ?? (ep.Ports as Json[] | undefined) ?? []) as Json[];
  if (ports.length) {
    out.push('Ports:');
    for (const p of ports)
      out.push(
        ` PublishedPort = ${p.PublishedPort ?? 0}`,
        `  Protocol = ${p.Protocol}`,
        `  TargetPort = ${p.TargetPort}`,
        `  PublishMode = ${p.PublishMode} `,
      );
  }
  return `${out.join('\n')}\n`;
}

export function prettyNode(n: NodeJson): string {
  const out: string[] = [`ID:\t\t\t${n.ID}`];
  if (n.Spec.Name) out.push(`Name:\t\t\t${n.Spec.Name}`);
  const labels = Object.entries(n.Spec.Labels ?? {});
  if (labels.length) out.push('Labels:', ...labels.map(([k, v]) => ` - ${k}=${v}`));
  out.push(
    `Hostname:\t\t${n.Description?.Hostname ?? ''}`,
    `Joined at:\t\t${n.CreatedAt ?? ''}`,
    'Status:',
    ` State:\t\t\t${title(n.Status?.State)}`,
    ` Availability:\t\t${title(n.Spec.Availability)}`,
    ` Address:\t\t${n.Status?.Addr ?? ''}`,
  );
  if (n.ManagerStatus) {
    out.push(
      'Manager Status:',
      ` Address:\t\t${n.ManagerStatus.Addr ?? ''}`,
      ` Raft Status:\t\t${title(n.ManagerStatus.Reachability)}`,
      ` Leader:\t\t${n.ManagerStatus.Leader ? 'Yes' : 'No'}`,
    );
  }
  out.push(
    'Platform:',
    ` Operating System:\t${n.Description?.Platform?.OS ?? ''}`,
    ` Architecture:\t\t${n.Description?.Platform?.Architecture ?? ''}`,
    'Resources:',
    ` CPUs:\t\t\t${Math.floor((n.Description?.Resources?.NanoCPUs ?? 0) / 1e9)}`,
    ` Memory:\t\t${bytesSize(n.Description?.Resources?.MemoryBytes ?? 0)}`,
    `Engine Version:\t\t${n.Description?.Engine?.EngineVersion ?? ''}`,
  );
  return `${out.join('\n')}\n`;
}
