// A loaded compose document → what the Engine API needs to deploy it: the networks, secrets and configs to
// create, and one ServiceSpec per service, as `docker stack deploy` builds them (cli/compose/convert):
// objects named STACK_NAME and labelled com.docker.stack.namespace=STACK, services on STACK_default unless
// they name networks, named volumes STACK_NAME unless external or named. Problems are collected with the key
// path and file:line:col, like the loader's. Pure: reading env_files is injected.
import { DEPENDS_ON_LABEL, type Dependency, formatDependsOn } from '../depends-on.js';
import { parseGoDuration } from '../time.js';
import { parseBytes, parseNanoCpus } from '../units.js';
import {
  type Json,
  type LoadedStack,
  listToMap,
  type Path,
  StackFileError,
  StackProblem,
  showPath,
} from './load.js';

export const NAMESPACE_LABEL = 'com.docker.stack.namespace';
export const IMAGE_LABEL = 'com.docker.stack.image';

export interface StackNetwork {
  /** The key in the file. */
  key: string;
  name: string;
  external: boolean;
  /** POST /networks/create body (not for external ones). */
  create: Json;
}

export interface StackFileObject {
  key: string;
  name: string;
  external: boolean;
  /** The file holding the data, relative paths resolved (not for external ones). */
  file?: string;
  labels: Record<string, string>;
  templateDriver?: string;
}

export interface StackService {
  key: string;
  name: string;
  /** The Engine API ServiceSpec; Secrets[]/Configs[] carry names, their IDs are filled at deploy. */
  spec: Json;
}

export interface StackPlan {
  namespace: string;
  networks: StackNetwork[];
  secrets: StackFileObject[];
  configs: StackFileObject[];
  services: StackService[];
}

export interface ConvertIO {
  /** Absolute path of the directory relative paths in the file are taken from (the first file's). */
  workingDir: string;
  readFile(path: string): string;
  /** The variables an environment entry without a value takes its value from. */
  env: Readonly<Record<string, string | undefined>>;
}

// swarmkit's name rule, so that STACK_SERVICE is a valid service name.
const STACK_NAME = /^[a-zA-Z0-9]+(?:[-_]+[a-zA-Z0-9]+)*$/;
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function checkStackName(name: string): string | undefined {
  if (!STACK_NAME.test(name) || name.length > 40)
    return `invalid stack name "${name}": letters and digits, joined by '-' or '_', at most 40 characters`;
  return undefined;
}

const ns = (stack: string, key: string) => `${stack}_${key}`;

export function convertStack(loaded: LoadedStack, stack: string, io: ConvertIO): StackPlan {
  const bad = checkStackName(stack);
  if (bad) throw new StackFileError([new StackProblem('', bad, '')]);
  const c = new Converter(loaded, stack, io);
  const plan = c.plan();
  if (c.problems.length) throw new StackFileError(c.problems);
  return plan;
}

const resolve = (dir: string, p: string) =>
  p.startsWith('/') ? p : `${dir.replace(/\/$/, '')}/${p.replace(/^\.\//, '')}`;

class Converter {
  readonly problems: StackProblem[] = [];
  private readonly doc: Json;
  private readonly labels: Record<string, string>;

  constructor(
    private readonly loaded: LoadedStack,
    private readonly stack: string,
    private readonly io: ConvertIO,
  ) {
    this.doc = loaded.config;
    this.labels = { [NAMESPACE_LABEL]: stack };
  }

  private fail(path: Path, problem: string, key = false): void {
    this.problems.push(new StackProblem(showPath(path), problem, this.loaded.where(path, key)));
  }

  private section(k: string): Record<string, Json | null> {
    return (this.doc[k] ?? {}) as Record<string, Json | null>;
  }

  plan(): StackPlan {
    const services = Object.entries(this.section('services')) as [string, Json][];
    const networks = this.networks(services);
    const secrets = this.fileObjects('secrets');
    const configs = this.fileObjects('configs');
    const volumes = this.section('volumes');
    for (const k of Object.keys(volumes))
      if (!VOLUME_NAME.test(k))
        this.fail(['volumes', k], `invalid volume name "${k}": letters, digits, '_', '.' and '-' only`, true);
    const published = new Map<string, string>();
    const out = services.map(([key, svc]) => this.service(key, svc, networks, secrets, configs, published));
    return { namespace: this.stack, networks, secrets, configs, services: out };
  }

  private networks(services: [string, Json][]): StackNetwork[] {
    const declared = this.section('networks');
    const used = new Set<string>();
    for (const [, svc] of services) {
      const n = svc.networks;
      const names =
        n === undefined ? ['default'] : Array.isArray(n) ? (n as string[]) : Object.keys(n as Json);
      for (const x of names) used.add(x);
    }
    const out: StackNetwork[] = [];
    for (const key of [...used].sort()) {
      const n = declared[key] ?? {};
      if (!(key in declared) && key !== 'default') continue; // reported by the service that names it
      const ext = n.external;
      const external = ext === true || (typeof ext === 'object' && ext !== null);
      const name = external
        ? String((ext as Json | undefined)?.name ?? n.name ?? key)
        : n.name !== undefined
          ? String(n.name)
          : ns(this.stack, key);
      const ipam = n.ipam as Json | undefined;
      out.push({
        key,
        name,
        external,
        create: {
          Name: name,
          Driver: (n.driver as string | undefined) ?? 'overlay',
          Options: stringMap(n.driver_opts),
          Internal: n.internal === true,
          Attachable: n.attachable === true,
          Labels: { ...stringMap(listToMap(n.labels)), ...this.labels },
          ...(ipam
            ? {
                IPAM: {
                  Driver: (ipam.driver as string | undefined) ?? 'default',
                  Config: ((ipam.config ?? []) as Json[]).map((c) => ({
                    ...(c.subnet ? { Subnet: c.subnet } : {}),
                    ...(c.gateway ? { Gateway: c.gateway } : {}),
                    ...(c.ip_range ? { IPRange: c.ip_range } : {}),
                  })),
                },
              }
            : {}),
        },
      });
    }
    return out;
  }

  private fileObjects(kind: 'secrets' | 'configs'): StackFileObject[] {
    return Object.entries(this.section(kind)).map(([key, o]) => {
      const v = o ?? {};
      const ext = v.external;
      const external = ext === true || (typeof ext === 'object' && ext !== null);
      const name = external
        ? String((ext as Json | undefined)?.name ?? v.name ?? key)
        : v.name !== undefined
          ? String(v.name)
          : ns(this.stack, key);
      if (!external && v.file === undefined)
        this.fail([kind, key], `a ${kind.slice(0, -1)} needs "file" (or "external: true")`);
      // The control API has no templating yet (manager/controlapi/secrets.ts): refused here, before any write.
      if (v.template_driver !== undefined)
        this.fail([kind, key, 'template_driver'], 'templates are not supported by shoal yet');
      return {
        key,
        name,
        external,
        ...(external || v.file === undefined ? {} : { file: resolve(this.io.workingDir, String(v.file)) }),
        labels: { ...stringMap(listToMap(v.labels)), ...this.labels },
        ...(v.template_driver ? { templateDriver: String(v.template_driver) } : {}),
      };
    });
  }

  private service(
    key: string,
    s: Json,
    networks: StackNetwork[],
    secrets: StackFileObject[],
    configs: StackFileObject[],
    published: Map<string, string>,
  ): StackService {
    const at = (...p: (string | number)[]): Path => ['services', key, ...p];
    const name = ns(this.stack, key);
    if (s.image === undefined)
      this.fail(at(), 'missing key "image" (shoal deploys images; build is not supported)');
    const image = String(s.image ?? '');
    const deploy = (s.deploy ?? {}) as Json;
    const serviceLabels: Record<string, string> = {
      ...stringMap(listToMap(deploy.labels)),
      ...this.labels,
      [IMAGE_LABEL]: image,
    };
    const deps = this.dependsOn(key, s);
    if (deps.length) serviceLabels[DEPENDS_ON_LABEL] = formatDependsOn(deps);

    const containerSpec: Json = {
      Image: image,
      Labels: { ...stringMap(listToMap(s.labels)), ...this.labels },
      ...(s.entrypoint !== undefined ? { Command: this.command(s.entrypoint) } : {}),
      ...(s.command !== undefined ? { Args: this.command(s.command) } : {}),
      ...(s.hostname ? { Hostname: s.hostname } : {}),
      Env: this.environment(key, s),
      ...(s.working_dir ? { Dir: s.working_dir } : {}),
      ...(s.user ? { User: s.user } : {}),
      Mounts: this.mounts(key, s),
      ...(s.stop_grace_period !== undefined ? { StopGracePeriod: ns_(s.stop_grace_period) } : {}),
      ...(s.stop_signal ? { StopSignal: s.stop_signal } : {}),
      ...(s.healthcheck ? { Healthcheck: this.healthcheck(s.healthcheck as Json) } : {}),
      Secrets: this.fileRefs(key, 'secrets', s.secrets, secrets),
      Configs: this.fileRefs(key, 'configs', s.configs, configs),
      ...(s.cap_add ? { CapabilityAdd: s.cap_add } : {}),
      ...(s.cap_drop ? { CapabilityDrop: s.cap_drop } : {}),
      ...(s.sysctls ? { Sysctls: stringMap(listToMap(s.sysctls)) } : {}),
      ...(s.ulimits ? { Ulimits: this.ulimits(s.ulimits as Json) } : {}),
      ...(s.devices ? { Devices: this.devices(key, s.devices as string[]) } : {}),
      ...(s.privileged ? { Privileged: true } : {}),
      ...(s.read_only ? { ReadOnly: true } : {}),
      ...(s.init !== undefined ? { Init: s.init } : {}),
      ...(s.tty ? { TTY: true } : {}),
      ...(s.stdin_open ? { OpenStdin: true } : {}),
      ...(s.extra_hosts ? { Hosts: hosts(s.extra_hosts) } : {}),
      ...(s.dns || s.dns_search
        ? { DNSConfig: { Nameservers: list(s.dns), Search: list(s.dns_search) } }
        : {}),
    };

    const resources = deploy.resources as Record<string, Json> | undefined;
    const restart = deploy.restart_policy as Json | undefined;
    const placement = deploy.placement as Json | undefined;
    const mode = deploy.mode === 'global' ? 'global' : 'replicated';
    if (mode === 'global' && deploy.replicas !== undefined)
      this.fail(at('deploy', 'replicas'), 'a global service has no replicas');
    const spec: Json = {
      Name: name,
      Labels: serviceLabels,
      TaskTemplate: {
        ContainerSpec: containerSpec,
        Resources: {
          Limits: this.resources(at('deploy', 'resources', 'limits'), resources?.limits, true),
          Reservations: this.resources(
            at('deploy', 'resources', 'reservations'),
            resources?.reservations,
            false,
          ),
        },
        ...(restart
          ? {
              RestartPolicy: {
                Condition: restart.condition ?? 'any',
                ...(restart.delay !== undefined ? { Delay: ns_(restart.delay) } : {}),
                ...(restart.max_attempts !== undefined ? { MaxAttempts: restart.max_attempts } : {}),
                ...(restart.window !== undefined ? { Window: ns_(restart.window) } : {}),
              },
            }
          : {}),
        Placement: {
          ...(placement?.constraints ? { Constraints: placement.constraints } : {}),
          ...(placement?.preferences
            ? {
                Preferences: (placement.preferences as Json[]).map((p) => ({
                  Spread: { SpreadDescriptor: p.spread },
                })),
              }
            : {}),
          ...(placement?.max_replicas_per_node !== undefined
            ? { MaxReplicas: placement.max_replicas_per_node }
            : {}),
        },
        Networks: this.serviceNetworks(key, s, networks),
      },
      Mode: mode === 'global' ? { Global: {} } : { Replicated: { Replicas: deploy.replicas ?? 1 } },
      ...(deploy.update_config ? { UpdateConfig: updateConfig(deploy.update_config as Json) } : {}),
      ...(deploy.rollback_config ? { RollbackConfig: updateConfig(deploy.rollback_config as Json) } : {}),
      EndpointSpec: {
        Mode: deploy.endpoint_mode ?? 'vip',
        Ports: this.ports(key, s.ports as unknown[] | undefined, published),
      },
    };
    return { key, name, spec };
  }

  private command(v: unknown): string[] {
    return Array.isArray(v) ? v.map(String) : shellSplit(String(v));
  }

  private environment(key: string, s: Json): string[] {
    const env: Record<string, unknown> = {};
    for (const [i, f] of list(s.env_file).entries()) {
      const path = resolve(this.io.workingDir, f);
      let text: string;
      try {
        text = this.io.readFile(path);
      } catch (err) {
        this.fail(
          ['services', key, 'env_file', ...(Array.isArray(s.env_file) ? [i] : [])],
          `cannot read ${path}: ${(err as Error).message}`,
        );
        continue;
      }
      for (const line of text.split(/\r?\n/)) {
        const t = line.trim();
        if (t === '' || t.startsWith('#')) continue;
        const eq = t.indexOf('=');
        if (eq < 0) env[t] = null;
        else env[t.slice(0, eq)] = t.slice(eq + 1);
      }
    }
    Object.assign(env, listToMap(s.environment));
    const out: string[] = [];
    for (const [k, v] of Object.entries(env)) {
      // A name without a value takes it from the deploying environment, and is left out when unset.
      const value = v === null || v === undefined ? this.io.env[k] : String(v);
      if (value !== undefined) out.push(`${k}=${value}`);
    }
    return out.sort();
  }

  private dependsOn(key: string, s: Json): Dependency[] {
    const d = s.depends_on;
    if (d === undefined) return [];
    const services = this.section('services');
    const entries: [string, string][] = Array.isArray(d)
      ? (d as string[]).map((x) => [x, 'service_started'])
      : Object.entries(d as Record<string, Json>).map(([k, v]) => [k, String(v.condition)]);
    const out: Dependency[] = [];
    for (const [i, [dep, cond]] of entries.entries()) {
      const path = ['services', key, 'depends_on', Array.isArray(d) ? i : dep];
      if (!(dep in services)) this.fail(path, `service "${dep}" is not defined in the stack`);
      else if (dep === key) this.fail(path, 'a service cannot depend on itself');
      else if (cond === 'service_completed_successfully')
        this.fail(
          path,
          'condition service_completed_successfully is not supported (a swarm service keeps running)',
        );
      else
        out.push({
          service: ns(this.stack, dep),
          condition: cond === 'service_healthy' ? 'healthy' : 'started',
        });
    }
    return out;
  }

  private mounts(key: string, s: Json): Json[] {
    const volumes = this.section('volumes');
    const out: Json[] = [];
    const targets = new Set<string>();
    const add = (path: Path, m: Json) => {
      const target = String(m.Target);
      if (!target.startsWith('/')) this.fail(path, `target "${target}" is not an absolute path`);
      if (targets.has(target)) this.fail(path, `${target} is mounted twice`);
      targets.add(target);
      out.push(m);
    };
    for (const [i, raw] of ((s.volumes ?? []) as unknown[]).entries()) {
      const path: Path = ['services', key, 'volumes', i];
      const v = typeof raw === 'string' ? shortVolume(raw) : (raw as Json);
      if (!v) {
        this.fail(path, `invalid volume "${raw}": expected [SOURCE:]TARGET[:ro|rw]`);
        continue;
      }
      const type = String(v.type);
      const readOnly = v.read_only === true;
      if (type === 'bind') {
        if (!v.source) {
          this.fail(path, 'a bind mount needs a source');
          continue;
        }
        const b = v.bind as Json | undefined;
        add(path, {
          Type: 'bind',
          Source: resolve(this.io.workingDir, String(v.source)),
          Target: v.target,
          ...(readOnly ? { ReadOnly: true } : {}),
          ...(b?.propagation ? { BindOptions: { Propagation: b.propagation } } : {}),
        });
      } else if (type === 'tmpfs') {
        if (v.source) this.fail(path, 'a tmpfs mount has no source');
        const t = v.tmpfs as Json | undefined;
        const size = t?.size === undefined ? undefined : bytes(t.size);
        if (t?.size !== undefined && size === undefined)
          this.fail([...path, 'tmpfs', 'size'], `invalid size "${t.size}"`);
        add(path, {
          Type: 'tmpfs',
          Target: v.target,
          ...(readOnly ? { ReadOnly: true } : {}),
          ...(size !== undefined || t?.mode !== undefined
            ? {
                TmpfsOptions: {
                  ...(size !== undefined ? { SizeBytes: size } : {}),
                  ...(t?.mode !== undefined ? { Mode: t.mode } : {}),
                },
              }
            : {}),
        });
      } else if (type === 'volume') {
        const src = v.source === undefined ? undefined : String(v.source);
        const opts = v.volume as Json | undefined;
        if (src === undefined) {
          add(path, { Type: 'volume', Target: v.target, ...(readOnly ? { ReadOnly: true } : {}) });
          continue;
        }
        if (!VOLUME_NAME.test(src)) {
          this.fail(path, `invalid volume name "${src}": letters, digits, '_', '.' and '-' only`);
          continue;
        }
        if (!(src in volumes)) {
          this.fail(path, `undefined volume "${src}": declare it under the top-level volumes`);
          continue;
        }
        const top = volumes[src] ?? {};
        const ext = top.external;
        const external = ext === true || (typeof ext === 'object' && ext !== null);
        const volName = external
          ? String((ext as Json | undefined)?.name ?? top.name ?? src)
          : top.name !== undefined
            ? String(top.name)
            : ns(this.stack, src);
        add(path, {
          Type: 'volume',
          Source: volName,
          Target: v.target,
          ...(readOnly ? { ReadOnly: true } : {}),
          VolumeOptions: {
            ...(opts?.nocopy ? { NoCopy: true } : {}),
            ...(external ? {} : { Labels: { ...stringMap(listToMap(top.labels)), ...this.labels } }),
            ...(top.driver || top.driver_opts
              ? { DriverConfig: { Name: top.driver ?? 'local', Options: stringMap(top.driver_opts) } }
              : {}),
          },
        });
      } else this.fail([...path, 'type'], `volume type ${type} is not supported (volume, bind, tmpfs)`);
    }
    for (const [i, t] of list(s.tmpfs).entries())
      add(['services', key, 'tmpfs', i], { Type: 'tmpfs', Target: t });
    return out;
  }

  private fileRefs(
    key: string,
    kind: 'secrets' | 'configs',
    refs: unknown,
    declared: StackFileObject[],
  ): Json[] {
    const out: Json[] = [];
    for (const [i, r] of ((refs ?? []) as unknown[]).entries()) {
      const ref = typeof r === 'string' ? { source: r } : (r as Json);
      const source = String(ref.source);
      const obj = declared.find((d) => d.key === source);
      if (!obj) {
        this.fail(
          ['services', key, kind, i],
          `undefined ${kind.slice(0, -1)} "${source}": declare it under the top-level ${kind}`,
        );
        continue;
      }
      const target =
        ref.target !== undefined ? String(ref.target) : kind === 'secrets' ? source : `/${source}`;
      const file = {
        Name: target,
        UID: String(ref.uid ?? '0'),
        GID: String(ref.gid ?? '0'),
        Mode: ref.mode ?? 0o444,
      };
      out.push(
        kind === 'secrets'
          ? { File: file, SecretID: '', SecretName: obj.name }
          : { File: file, ConfigID: '', ConfigName: obj.name },
      );
    }
    return out;
  }

  private serviceNetworks(key: string, s: Json, networks: StackNetwork[]): Json[] {
    const n = s.networks;
    const entries: [string, Json | null][] =
      n === undefined
        ? [['default', null]]
        : Array.isArray(n)
          ? (n as string[]).map((x) => [x, null])
          : (Object.entries(n as Json) as [string, Json | null][]);
    const out: Json[] = [];
    for (const [i, [netKey, opts]] of entries.entries()) {
      const net = networks.find((x) => x.key === netKey);
      if (!net) {
        this.fail(
          ['services', key, 'networks', Array.isArray(n) ? i : netKey],
          `undefined network "${netKey}": declare it under the top-level networks`,
        );
        continue;
      }
      if (opts?.ipv4_address || opts?.ipv6_address)
        this.fail(
          ['services', key, 'networks', netKey],
          'a static address is not supported by a swarm service',
        );
      out.push({ Target: net.name, Aliases: [key, ...list(opts?.aliases)] });
    }
    return out;
  }

  private ports(key: string, ports: unknown[] | undefined, published: Map<string, string>): Json[] {
    const out: Json[] = [];
    for (const [i, raw] of (ports ?? []).entries()) {
      const path: Path = ['services', key, 'ports', i];
      const parsed =
        typeof raw === 'object' && raw !== null ? [longPort(raw as Json)] : shortPorts(String(raw));
      if (parsed === undefined || parsed.some((p) => p === undefined)) {
        this.fail(path, `invalid port "${String(raw)}": expected [PUBLISHED:]TARGET[/PROTOCOL] or a range`);
        continue;
      }
      for (const p of parsed as Json[]) {
        if (p.HostIP) {
          this.fail(
            path,
            'a host IP is not supported by a swarm service (ports are published on every node)',
          );
          continue;
        }
        if (p.PublishedPort !== undefined) {
          const k = `${p.PublishedPort}/${p.Protocol}`;
          const other = published.get(k);
          if (other) this.fail(path, `port ${k} is already published by ${other}`);
          else published.set(k, `service ${key}`);
        }
        out.push(p);
      }
    }
    return out;
  }

  private healthcheck(h: Json): Json {
    if (h.disable === true) return { Test: ['NONE'] };
    const test = h.test === undefined ? undefined : Array.isArray(h.test) ? h.test : ['CMD-SHELL', h.test];
    return {
      ...(test ? { Test: test } : {}),
      ...(h.interval !== undefined ? { Interval: ns_(h.interval) } : {}),
      ...(h.timeout !== undefined ? { Timeout: ns_(h.timeout) } : {}),
      ...(h.retries !== undefined ? { Retries: h.retries } : {}),
      ...(h.start_period !== undefined ? { StartPeriod: ns_(h.start_period) } : {}),
      ...(h.start_interval !== undefined ? { StartInterval: ns_(h.start_interval) } : {}),
    };
  }

  private resources(path: Path, r: Json | undefined, limits: boolean): Json {
    if (!r) return {};
    const out: Json = {};
    if (r.cpus !== undefined) {
      const n = parseNanoCpus(String(r.cpus));
      if (n === undefined) this.fail([...path, 'cpus'], `invalid CPU count "${r.cpus}"`);
      else out.NanoCPUs = n;
    }
    if (r.memory !== undefined) {
      const n = bytes(r.memory);
      if (n === undefined) this.fail([...path, 'memory'], `invalid size "${r.memory}"`);
      else out.MemoryBytes = n;
    }
    if (r.pids !== undefined) {
      if (!limits) this.fail([...path, 'pids'], 'pids is a limit, not a reservation');
      else out.Pids = r.pids;
    }
    return out;
  }

  private ulimits(u: Json): Json[] {
    return Object.entries(u).map(([name, v]) =>
      typeof v === 'number'
        ? { Name: name, Soft: v, Hard: v }
        : { Name: name, Soft: (v as Json).soft, Hard: (v as Json).hard },
    );
  }

  private devices(key: string, devices: string[]): Json[] {
    return devices.map((d, i) => {
      const [host, container, perms] = d.split(':');
      if (!host?.startsWith('/'))
        this.fail(['services', key, 'devices', i], `"${d}" is not HOST_PATH[:CONTAINER_PATH[:rwm]]`);
      return { PathOnHost: host, PathInContainer: container ?? host, CgroupPermissions: perms ?? 'rwm' };
    });
  }
}

const ns_ = (d: unknown): number => parseGoDuration(String(d)) ?? 0;

function bytes(v: unknown): number | undefined {
  return typeof v === 'number' ? v : parseBytes(String(v));
}

function updateConfig(u: Json): Json {
  return {
    Parallelism: u.parallelism ?? 1,
    ...(u.delay !== undefined ? { Delay: ns_(u.delay) } : {}),
    ...(u.failure_action !== undefined ? { FailureAction: u.failure_action } : {}),
    ...(u.monitor !== undefined ? { Monitor: ns_(u.monitor) } : {}),
    ...(u.max_failure_ratio !== undefined ? { MaxFailureRatio: u.max_failure_ratio } : {}),
    ...(u.order !== undefined ? { Order: u.order } : {}),
  };
}

const list = (v: unknown): string[] =>
  v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)];

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries((v ?? {}) as Json)) out[k] = x === null ? '' : String(x);
  return out;
}

function hosts(v: unknown): string[] {
  // compose writes HOST:IP (or HOST=IP); the Engine API's Hosts are "IP HOST" lines, as in /etc/hosts.
  return Object.entries(
    Array.isArray(v) ? Object.fromEntries((v as string[]).map((h) => splitHost(h))) : (v as Json),
  ).map(([h, ip]) => `${ip} ${h}`);
}

function splitHost(h: string): [string, string] {
  const i = h.search(/[:=]/);
  return i < 0 ? [h, ''] : [h.slice(0, i), h.slice(i + 1)];
}

/** "SOURCE:TARGET[:MODE]", "TARGET" → the long form; undefined when it does not parse. */
function shortVolume(s: string): Json | undefined {
  const parts = s.split(':');
  if (parts.length === 1) return { type: 'volume', target: s };
  if (parts.length > 3) return undefined;
  const [source, target, mode] = parts;
  if (mode !== undefined && !/^(ro|rw)(,.*)?$|^(z|Z|nocopy)$/.test(mode)) return undefined;
  const isPath = source.startsWith('/') || source.startsWith('.') || source.startsWith('~');
  return {
    type: isPath ? 'bind' : 'volume',
    source,
    target,
    read_only: mode?.split(',').includes('ro') ?? false,
    ...(mode === 'nocopy' ? { volume: { nocopy: true } } : {}),
  };
}

function longPort(p: Json): Json {
  const published = p.published === undefined || p.published === '' ? undefined : Number(p.published);
  return {
    Protocol: p.protocol ?? 'tcp',
    TargetPort: p.target,
    ...(published !== undefined ? { PublishedPort: published } : {}),
    PublishMode: p.mode ?? 'ingress',
    ...(p.host_ip ? { HostIP: p.host_ip } : {}),
  };
}

/** "[IP:][PUBLISHED[-END]:]TARGET[-END][/PROTO]" → one port config per port; undefined entries for bad ones. */
function shortPorts(s: string): (Json | undefined)[] | undefined {
  const m = /^(?:(?:(\d+\.\d+\.\d+\.\d+):)?(\d+)(?:-(\d+))?:)?(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/.exec(s);
  if (!m) return undefined;
  const [, ip, pub, pubEnd, target, targetEnd, proto] = m;
  const t0 = Number(target);
  const t1 = targetEnd ? Number(targetEnd) : t0;
  const count = t1 - t0 + 1;
  if (count < 1 || t0 < 1 || t1 > 65535) return undefined;
  if (pub !== undefined) {
    const p0 = Number(pub);
    const p1 = pubEnd ? Number(pubEnd) : p0;
    if (p1 - p0 + 1 !== count || p1 > 65535) return undefined;
  }
  return Array.from({ length: count }, (_, i) => ({
    Protocol: proto ?? 'tcp',
    TargetPort: t0 + i,
    ...(pub !== undefined ? { PublishedPort: Number(pub) + i } : {}),
    PublishMode: 'ingress',
    ...(ip ? { HostIP: ip } : {}),
  }));
}

/** A command written as one string: split like a shell would (quotes, backslashes), no expansion. */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let q: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = undefined;
      else if (c === '\\' && q === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}
