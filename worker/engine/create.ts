// The create pipeline: name reservation, rootfs plan, OCI spec, bundle on disk, record and
// `shoal-runtime create` (in parallel), then registration. A failure anywhere leaves nothing.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { type EngineContext, find, isRunning, register } from './context.js';
import { resolveDevices } from './devices.js';
import { ConflictError, InternalError, InvalidArgumentError } from './errors.js';
import { watch } from './exits.js';
import { checkFileMounts, mountFiles, unmountFiles } from './file-mounts.js';
import { checkHealthcheck, healthSettingsOf } from './health-monitor.js';
import { hostDevices, onlineCpus } from './host.js';
import { generateName, normalizeName } from './names.js';
import { parseRestartPolicy } from './restart-policy.js';
import { planRootfs } from './rootfs.js';
import { buildSpec } from './spec/build.js';
import type { OciSpec } from './spec/defaults.js';
import { planMounts } from './spec/mounts.js';
import { rootfsReader } from './spec/rootfs-files.js';
import { createdState, rfc3339Nano } from './state.js';
import { type ContainerRecord, containerDir, saveRecord, writeFileAtomic } from './store.js';
import type { CreateOptions, ImageConfig } from './types.js';
import { type ResolvedMounts, resolveMounts } from './volumes/resolve.js';

export async function createContainer(
  ctx: EngineContext,
  given: CreateOptions,
): Promise<{ id: string; name: string; warnings: string[] }> {
  if (ctx.closed) throw new InternalError('the container manager is closed');
  // Files from memory are mounted, never recorded: the rest is what the record keeps (hostConfig).
  const { files = [], ...opts } = checkRestartAndHealth(given);
  checkFileMounts(files);
  const name = opts.name ? normalizeName(opts.name) : generateName((n) => ctx.names.has(n));
  const taken = ctx.names.get(name);
  if (taken)
    throw new ConflictError(
      `Conflict. The container name "/${name}" is already in use by container "${taken}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
  const id = ctx.randomId();
  if (!/^[0-9a-f]{64}$/.test(id)) throw new InternalError(`bad container id ${id}`);
  ctx.names.set(name, id); // reserved across the awaits below
  const dir = containerDir(ctx.dataRoot, id);
  let made = false;
  let runtimeCreated = false;
  let volumes: ResolvedMounts | undefined;
  let filesMounted = false;
  let networked = false;
  try {
    const { layers, overlay, rootPath, imageConfig, annotations } = planRootfs(opts.rootfs, dir);
    const cgroupsPath = `/shoal/${id}`;
    const plan = planMounts(opts, imageConfig, { mountsOf: (ref) => find(ctx, ref).rec.mounts });
    const devices = resolveDevices(opts.devices); // before volumes: a bad device leaves nothing to undo
    volumes = await resolveMounts(ctx.volumes, plan, layers);
    const remap = opts.usernsRemap;
    filesMounted = files.length > 0;
    const fileBinds = filesMounted
      ? await mountFiles(ctx.filesRoot, id, files, { uid: remap?.hostUid ?? 0, gid: remap?.hostGid ?? 0 })
      : [];
    const net = await prepareNetwork(ctx, opts, id, name, dir, imageConfig);
    networked = true;
    const built = buildSpec(net.specOpts, imageConfig, {
      mounts: [...volumes.mounts, ...fileBinds],
      id,
      rootfsPath: rootPath,
      readRootfsFile: rootfsReader(layers),
      pathExists: (p) => existsSync(p),
      cgroupsPath,
      containerNetns: (ref) => netnsOf(ctx, ref),
      hostCapabilities: ctx.hostCaps,
      hostDevices: () => hostDevices(),
      hostCpus: onlineCpus(),
      hostHostname: osHostname(),
      annotations,
      devices,
      ...(opts.init ? { initPath: ctx.runtime.initPath() } : {}),
    });
    built.config.image = opts.image ?? '';
    built.hostConfig.networkMode = opts.networkMode ?? net.mode;
    addNetworkFiles(built.spec, net.files);
    const command = opts.init ? built.spec.process.args.slice(2) : built.spec.process.args;
    const now = rfc3339Nano(ctx.now());
    const rec: ContainerRecord = {
      id,
      name,
      created: now,
      // As docker: Path and Args are the user's command, not the init in front of it.
      path: command[0],
      args: command.slice(1),
      image: opts.image ?? '',
      imageId: opts.imageId ?? '',
      config: built.config,
      hostConfig: built.hostConfig,
      state: createdState(),
      mounts: built.mounts,
      bundle: dir,
      logPath: join(dir, `${id}-json.log`),
      rootfs: opts.rootfs,
      restartCount: 0,
      execIds: [],
      cgroupsPath,
      ...(overlay ? { overlay } : {}),
      runtimeCreated: false,
    };

    await mkdir(dir, { mode: 0o710 });
    made = true;
    if (overlay)
      for (const d of [overlay.mountpoint, overlay.upper, overlay.work]) await mkdir(d, { mode: 0o755 });
    // The bundle needs no fsync of its own: without a durable record a crashed create is an
    // orphan that restore removes. The record is written while the runtime creates.
    await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(built.spec, null, 1), false);
    rec.runtimeCreated = true;
    const saved = saveRecord(ctx.dataRoot, rec);
    const created = runtimeCreate(ctx, rec);
    const [savedR, createdR] = await Promise.allSettled([saved, created]);
    runtimeCreated = createdR.status === 'fulfilled';
    if (createdR.status === 'rejected') throw createdR.reason;
    if (savedR.status === 'rejected') throw savedR.reason;
    const live = register(ctx, rec);
    volumes.release(); // the record names them now
    live.spec = built.spec;
    watch(ctx, live);
    ctx.emitEvent('create', rec);
    const warnings: string[] = [];
    return { id, name, warnings };
  } catch (e) {
    ctx.names.delete(name);
    if (runtimeCreated) await ctx.runtime.delete(id, true).catch(() => {});
    if (made) await rm(dir, { recursive: true, force: true });
    await volumes?.undo();
    if (filesMounted) await unmountFiles(ctx.filesRoot, id).catch(() => {});
    if (networked) await ctx.networking?.release(id).catch(() => {});
    throw e;
  }
}

/** Restart policy and health check, with dockerd's rules; the policy is stored normalised. */
function checkRestartAndHealth(opts: CreateOptions): CreateOptions {
  checkHealthcheck(opts.healthcheck);
  healthSettingsOf(opts.healthcheck, opts.rootfs);
  if (opts.restartPolicy === undefined) return opts;
  const policy = parseRestartPolicy(opts.restartPolicy);
  if (opts.autoRemove && policy.name !== 'no')
    throw new InvalidArgumentError('restartPolicy', 'Conflicting options: --restart and --rm (AutoRemove)');
  return { ...opts, restartPolicy: policy };
}

function netnsOf(ctx: EngineContext, ref: string): string {
  const live = find(ctx, ref);
  if (!isRunning(live) || live.rec.state.pid <= 0)
    throw new ConflictError(`cannot join the network of container ${ref}: it is not running`);
  return `/proc/${live.rec.state.pid}/ns/net`;
}

/** `shoal-runtime create` on the record's bundle (also start's re-create after an exit). */
export async function runtimeCreate(ctx: EngineContext, rec: ContainerRecord): Promise<void> {
  await ctx.runtime.create({
    id: rec.id,
    bundle: rec.bundle,
    logPath: rec.logPath,
    logMaxSize: ctx.logMaxSize,
    logMaxFiles: ctx.logMaxFiles,
    stdin: rec.config.openStdin,
  });
}

/**
 * The network part of create: with networking, the container's sandbox namespace (and the files docker
 * writes: hosts, hostname, resolv.conf); the spec then joins that namespace. Without it, "default" and
 * "bridge" mean a namespace with only loopback, as before.
 */
async function prepareNetwork(
  ctx: EngineContext,
  opts: CreateOptions,
  id: string,
  name: string,
  dir: string,
  image: ImageConfig | undefined,
): Promise<{ specOpts: CreateOptions; mode: string; files: Record<string, string> }> {
  const given = opts.networkMode;
  if (!ctx.networking) {
    const mode = !given || given === 'default' || given === 'bridge' ? 'none' : given;
    return { specOpts: { ...opts, networkMode: mode }, mode: given ?? 'default', files: {} };
  }
  const host = given === 'host';
  const prepared = await ctx.networking.prepare({
    id,
    name,
    hostname: opts.hostname || (host ? osHostname() : id.slice(0, 12)),
    domainname: opts.domainname ?? '',
    dir,
    opts,
    imageExposed: Object.keys(image?.ExposedPorts ?? {}),
  });
  // host and none may be named by their network's id too: the spec gets the plain mode.
  const specMode = prepared.netnsPath
    ? `netns:${prepared.netnsPath}`
    : prepared.host
      ? 'host'
      : Object.keys(prepared.files).length
        ? 'none'
        : (given ?? 'none');
  return { specOpts: { ...opts, networkMode: specMode }, mode: given ?? 'default', files: prepared.files };
}

/** Binds the network files over /etc (docker's), unless the user mounts something there. */
function addNetworkFiles(spec: OciSpec, files: Record<string, string>): void {
  spec.mounts ??= [];
  const taken = new Set(spec.mounts.map((m) => m.destination));
  for (const [dest, source] of Object.entries(files)) {
    if (taken.has(dest)) continue;
    spec.mounts.push({ destination: dest, type: 'bind', source, options: ['rbind', 'rprivate'] });
  }
}
