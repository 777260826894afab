// The mount plan of a container, as dockerd's registerMountPoints: --volumes-from first, then
// binds and mounts (which replace what --volumes-from gave at the same destination), then anonymous
// volumes for Config.Volumes and the image's VOLUMEs where nothing is mounted yet. Pure: the
// other containers' mounts come in through `mountsOf`; volumes and host paths are handled by the
// caller (create.ts), which turns each request into a ResolvedMount for the spec builder.
import { EngineError, InvalidArgumentError } from '../errors.js';
import type { ImageConfig, MountPoint, RunOptions } from '../types.js';
import { checkVolumeName } from '../volumes/names.js';
import { normalizePath } from './parse.js';

export type MountRequest =
  | {
      kind: 'bind';
      source: string;
      destination: string;
      readOnly: boolean;
      propagation: string;
      mode: string;
      /** -v creates a missing host path (as docker); --mount and --volumes-from refuse it. */
      createSource: boolean;
      field: string;
    }
  | {
      kind: 'volume';
      /** Absent: a new anonymous volume. */
      name?: string;
      destination: string;
      readOnly: boolean;
      noCopy: boolean;
      labels?: Record<string, string>;
      mode: string;
      field: string;
    };

/** A mount ready for the spec: the host path is known (a volume's _data). */
export interface ResolvedMount {
  type: 'bind' | 'volume';
  source: string;
  destination: string;
  readOnly: boolean;
  propagation: string;
  mode: string;
  name?: string;
  driver?: string;
}

const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

function invalidSpec(field: string, raw: string, why: string): EngineError {
  return new EngineError('invalid_argument', `invalid volume specification: '${raw}': ${why}`, { field });
}

function checkTarget(field: string, raw: string, dest: string): string {
  if (!dest.startsWith('/'))
    throw invalidSpec(field, raw, `invalid mount config: mount path must be absolute`);
  const d = normalizePath(dest);
  if (d === '/') throw invalidSpec(field, raw, 'invalid mount config: destination can\'t be "/"');
  return d;
}

/**
 * One `-v` / HostConfig.Binds entry, as docker's Linux parser: `DST` (anonymous volume),
 * `SRC:DST`, `SRC:DST:MODE`; SRC absolute = a bind, otherwise a volume name.
 */
export function parseVolumeSpec(raw: string, field = 'binds'): MountRequest {
  const parts = raw.split(':');
  if (parts.length > 3 || parts.some((p) => p === ''))
    throw invalidSpec(field, raw, 'expected [SRC:]DST[:MODE]');
  if (parts.length === 1)
    return {
      kind: 'volume',
      destination: checkTarget(field, raw, parts[0]),
      readOnly: false,
      noCopy: false,
      mode: '',
      field,
    };
  const [source, dest, mode = ''] = parts;
  const destination = checkTarget(field, raw, dest);
  const bind = source.startsWith('/');
  let readOnly = false;
  let propagation = 'rprivate';
  let noCopy = false;
  const seen = new Set<string>();
  for (const opt of mode.split(',')) {
    if (opt === '' && mode === '') continue;
    const key = opt === 'ro' || opt === 'rw' ? 'rw' : PROPAGATIONS.has(opt) ? 'propagation' : opt;
    if (seen.has(key)) throw invalidSpec(field, raw, `invalid mode: ${mode}`);
    seen.add(key);
    if (opt === 'ro') readOnly = true;
    else if (opt === 'rw') readOnly = false;
    else if (opt === 'z' || opt === 'Z') {
      // SELinux relabelling: nothing to do without SELinux, accepted as dockerd does then.
    } else if (PROPAGATIONS.has(opt) && bind) propagation = opt;
    else if (opt === 'nocopy' && !bind) noCopy = true;
    else throw invalidSpec(field, raw, `invalid mode: ${mode}`);
  }
  if (bind)
    return {
      kind: 'bind',
      source: normalizePath(source),
      destination,
      readOnly,
      propagation,
      mode,
      createSource: true,
      field,
    };
  checkVolumeName(source, field);
  return { kind: 'volume', name: source, destination, readOnly, noCopy, mode: mode || 'z', field };
}

/** `CONTAINER[:ro|rw]` of --volumes-from. */
export function parseVolumesFrom(raw: string): { ref: string; mode: '' | 'ro' | 'rw' } {
  const i = raw.lastIndexOf(':');
  const ref = i < 0 ? raw : raw.slice(0, i);
  const mode = i < 0 ? '' : raw.slice(i + 1);
  if (ref === '' || (mode !== '' && mode !== 'ro' && mode !== 'rw') || (i >= 0 && mode === ''))
    throw new InvalidArgumentError('volumesFrom', `"${raw}" is not CONTAINER[:ro|rw]`);
  return { ref, mode: mode as '' | 'ro' | 'rw' };
}

export interface MountPlanContext {
  /** The mounts of another container (--volumes-from); throws NotFoundError when it does not exist. */
  mountsOf: (ref: string) => MountPoint[];
}

/** Every bind and volume mount the container gets, one per destination. */
export function planMounts(
  opts: RunOptions,
  image: ImageConfig | undefined,
  ctx: MountPlanContext,
): MountRequest[] {
  const byDest = new Map<string, MountRequest>();
  for (const raw of opts.volumesFrom ?? []) {
    const { ref, mode } = parseVolumesFrom(raw);
    for (const m of ctx.mountsOf(ref)) {
      if (m.type === 'tmpfs') continue;
      const readOnly = mode === 'ro' ? true : mode === 'rw' ? false : !m.rw;
      const req: MountRequest =
        m.type === 'volume'
          ? {
              kind: 'volume',
              name: m.name,
              destination: m.destination,
              readOnly,
              noCopy: true,
              mode: m.mode ?? '',
              field: 'volumesFrom',
            }
          : {
              kind: 'bind',
              source: m.source,
              destination: m.destination,
              readOnly,
              propagation: m.options.find((o) => PROPAGATIONS.has(o)) ?? 'rprivate',
              mode: m.mode ?? '',
              createSource: false,
              field: 'volumesFrom',
            };
      byDest.set(m.destination, req);
    }
  }
  // Binds and mounts: each destination once among them; they replace --volumes-from's.
  const own = new Set<string>();
  const put = (req: MountRequest) => {
    if (own.has(req.destination))
      throw new EngineError('invalid_argument', `Duplicate mount point: ${req.destination}`, {
        field: req.field,
      });
    own.add(req.destination);
    byDest.set(req.destination, req);
  };
  for (const raw of opts.binds ?? []) put(parseVolumeSpec(raw));
  for (const [i, m] of (opts.mounts ?? []).entries()) put(mountRequest(m, `mounts[${i}]`));
  // Anonymous volumes where nothing is mounted yet (a tmpfs counts: it replaces an image VOLUME).
  const tmpfs = Array.isArray(opts.tmpfs)
    ? opts.tmpfs.map((t) => t.split(':')[0])
    : Object.keys(opts.tmpfs ?? {});
  for (const t of tmpfs) {
    const d = t.startsWith('/') ? normalizePath(t) : t;
    if (own.has(d))
      throw new EngineError('invalid_argument', `Duplicate mount point: ${d}`, { field: 'tmpfs' });
    byDest.delete(d);
    own.add(d);
  }
  const anonymous = [...(opts.volumes ?? []), ...Object.keys(image?.Volumes ?? {})];
  for (const [i, dest] of anonymous.entries()) {
    const field = i < (opts.volumes?.length ?? 0) ? 'volumes' : 'image config Volumes';
    const destination = checkTarget(field, dest, dest);
    if (byDest.has(destination) || own.has(destination)) continue;
    byDest.set(destination, { kind: 'volume', destination, readOnly: false, noCopy: false, mode: '', field });
  }
  return [...byDest.values()];
}

function mountRequest(
  m: RunOptions['mounts'] extends (infer T)[] | undefined ? T : never,
  field: string,
): MountRequest {
  const raw = `type=${m.type},target=${m.target}`;
  if (typeof m.target !== 'string' || m.target === '')
    throw new EngineError('invalid_argument', `invalid mount config: Target is required`, {
      field: `${field}.Target`,
    });
  const destination = checkTarget(`${field}.Target`, raw, m.target);
  if (m.type === 'bind') {
    if (!m.source)
      throw new EngineError(
        'invalid_argument',
        'invalid mount config for type "bind": field Source must not be empty',
        {
          field: `${field}.Source`,
        },
      );
    if (!m.source.startsWith('/'))
      throw new EngineError(
        'invalid_argument',
        `invalid mount config for type "bind": invalid mount path: '${m.source}' mount path must be absolute`,
        { field: `${field}.Source` },
      );
    for (const k of ['noCopy', 'labels', 'driver', 'driverOptions'] as const)
      if (m[k] !== undefined)
        throw new EngineError(
          'invalid_argument',
          'invalid mount config for type "bind": VolumeOptions must not be specified',
          {
            field: `${field}.VolumeOptions`,
          },
        );
    const propagation = m.propagation || 'rprivate';
    if (!PROPAGATIONS.has(propagation))
      throw new EngineError(
        'invalid_argument',
        `invalid mount config for type "bind": invalid propagation mode "${propagation}"`,
        {
          field: `${field}.BindOptions.Propagation`,
        },
      );
    return {
      kind: 'bind',
      source: normalizePath(m.source),
      destination,
      readOnly: !!m.readOnly,
      propagation,
      mode: '',
      createSource: false,
      field,
    };
  }
  if (m.type !== 'volume')
    throw new EngineError(
      'invalid_argument',
      `invalid mount config: mount type "${m.type}" is not supported (bind, volume, tmpfs)`,
      {
        field: `${field}.Type`,
      },
    );
  if (m.propagation)
    throw new EngineError(
      'invalid_argument',
      'invalid mount config for type "volume": BindOptions must not be specified',
      {
        field: `${field}.BindOptions`,
      },
    );
  if (m.driver && m.driver !== 'local')
    throw new EngineError(
      'invalid_argument',
      `invalid mount config for type "volume": VolumeOptions.DriverConfig.Name: volume driver "${m.driver}" is not supported (only local)`,
      {
        field: `${field}.VolumeOptions.DriverConfig.Name`,
      },
    );
  if (m.driverOptions && Object.keys(m.driverOptions).length > 0)
    throw new EngineError(
      'invalid_argument',
      'invalid mount config for type "volume": VolumeOptions.DriverConfig.Options: the local driver takes no options here',
      {
        field: `${field}.VolumeOptions.DriverConfig.Options`,
      },
    );
  if (m.source) checkVolumeName(m.source, `${field}.Source`);
  return {
    kind: 'volume',
    ...(m.source ? { name: m.source } : {}),
    destination,
    readOnly: !!m.readOnly,
    noCopy: !!m.noCopy,
    ...(m.labels ? { labels: m.labels } : {}),
    mode: m.source ? 'z' : '',
    field,
  };
}

/**
 * Docker's copy-up rule: a volume gets the image's content at its destination when it is mounted
 * without nocopy, it is empty, and the image has a directory there.
 */
export function shouldCopyUp(o: {
  noCopy: boolean;
  volumeEmpty: boolean;
  imagePath: 'dir' | 'file' | 'missing';
}): boolean {
  return !o.noCopy && o.volumeEmpty && o.imagePath === 'dir';
}
