// /images/* and /auth endpoints of the Engine API, served from the image store (worker/images).
// Also plugs the store into container create (deps.images): IMAGE → layers + config defaults.

import path from 'node:path';
import type { Writable } from 'node:stream';
import { ShoalError } from '../../common/errors.js';
import {
  AuthError,
  type Credentials,
  containerDefaults,
  decodeAuthHeader,
  familiarString,
  ImageStore,
  type ImageSummary,
  importRootfs,
  loadArchive,
  type ProgressEvent,
  parseImageConfig,
  parseManifest,
  parseReference,
  pullImage,
  pushImage,
  RegistryClient,
  RegistryError,
  saveArchive,
  sha256Of,
} from '../../worker/images/index.js';
import type { DaemonConfig } from '../config.js';
import { badRequest, notFound } from '../http/errors.js';
import { queryBool } from '../http/query.js';
import type { RequestContext, Router } from '../http/router.js';
import type { ApiDeps, ImageResolver } from './deps.js';
import { ImageEvents } from './image-events.js';
import { pruneFilter } from './prune-filters.js';
import { authSchema, validateBody } from './schemas.js';

/**
 * Registry settings: shoald's --insecure-registry and --certs-dir flags, plus the SHOAL_INSECURE_REGISTRIES
 * (comma-separated host[:port]) and SHOAL_CERTS_DIR environment variables.
 */
export function registryOptions(config: DaemonConfig, env: NodeJS.ProcessEnv = process.env) {
  const fromEnv = (env.SHOAL_INSECURE_REGISTRIES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    insecureRegistries: [...config.insecureRegistries, ...fromEnv],
    certsDir: config.certsDir ?? (env.SHOAL_CERTS_DIR || undefined),
  };
}

/**
 * A JSON-lines progress stream that starts only with the first message, so an error before any
 * progress is still a proper HTTP error; after that, errors travel in-band as docker sends them.
 */
class ProgressStream {
  private out?: Writable;
  constructor(private readonly ctx: RequestContext) {}
  write(msg: unknown): void {
    this.out ??= this.ctx.reply.stream(200, { 'Content-Type': 'application/json' });
    this.out.write(`${JSON.stringify(msg)}\r\n`);
  }
  event = (e: ProgressEvent): void => {
    const m: Record<string, unknown> = { status: e.status };
    if (e.id) m.id = e.id;
    if (e.progressDetail) {
      m.progressDetail = e.progressDetail;
      const { current = 0, total = 0 } = e.progressDetail;
      if (total > 0) m.progress = bar(current, total);
    }
    this.write(m);
  };
  async run(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      if (!this.out) throw e;
      const message = (e as Error).message;
      this.write({ errorDetail: { message }, error: message });
    }
    if (this.out) this.out.end();
  }
}

function human(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : v < 10 ? 2 : 1)}${units[i]}`;
}

function bar(current: number, total: number): string {
  const width = 50;
  const filled = Math.min(width, Math.floor((current / total) * width));
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}] ${human(current)}/${human(total)}`;
}

function credentialsOf(ctx: RequestContext): Credentials | undefined {
  try {
    return decodeAuthHeader(ctx.headers['x-registry-auth'] as string | undefined);
  } catch (e) {
    throw badRequest((e as Error).message);
  }
}

interface ImageFilters {
  dangling?: boolean;
  reference: string[];
  label: string[];
  /** Image references: only images created before (after) each of them. */
  before: string[];
  since: string[];
}

function parseImageFilters(raw: string | null): ImageFilters {
  const out: ImageFilters = { reference: [], label: [], before: [], since: [] };
  if (!raw) return out;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw badRequest(`invalid filters: not JSON: ${raw}`);
  }
  for (const [k, v] of Object.entries(parsed ?? {})) {
    const values = Array.isArray(v)
      ? v.map(String)
      : v && typeof v === 'object'
        ? Object.keys(v).filter((x) => (v as Record<string, unknown>)[x])
        : [];
    if (k === 'dangling') {
      if (values.some((x) => !['true', 'false', '1', '0'].includes(x)))
        throw badRequest(`invalid filter 'dangling=${values.join(',')}'`);
      out.dangling = values.includes('true') || values.includes('1');
    } else if (k === 'reference') out.reference = values;
    else if (k === 'label') out.label = values;
    else if (k === 'before') out.before = values;
    else if (k === 'since') out.since = values;
    else throw badRequest(`invalid filter '${k}'`);
  }
  return out;
}

/** docker's reference filter: a glob on the familiar name (with or without the tag). */
function refMatches(tag: string, pattern: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '.')}$`,
  );
  const name = tag.replace(/:[^:/]+$/, '');
  return re.test(tag) || re.test(name);
}

/** Docker's ImageSummary; Containers and SharedSize are -1 (not computed) except in /system/df. */
export function imageSummaryJson(
  i: ImageSummary,
  usage: { containers: number; sharedSize: number } = { containers: -1, sharedSize: -1 },
): Record<string, unknown> {
  return {
    Containers: usage.containers,
    Created: i.created,
    Id: i.id,
    Labels: i.labels,
    ParentId: '',
    RepoDigests: i.repoDigests.length ? i.repoDigests : i.repoTags.length ? null : ['<none>@<none>'],
    RepoTags: i.repoTags.length ? i.repoTags : ['<none>:<none>'],
    SharedSize: usage.sharedSize,
    Size: i.size,
    VirtualSize: i.size,
  };
}

function iso(s: string | undefined): string {
  return s && !Number.isNaN(Date.parse(s)) ? s : '0001-01-01T00:00:00Z';
}

export async function registerImages(router: Router, deps: ApiDeps): Promise<void> {
  const root = path.join(deps.config.dataRoot, 'images');
  let opened: Promise<ImageStore> | undefined;
  let ready: ImageStore | undefined;
  const store = () => {
    opened ??= (deps.imageStore ? Promise.resolve(deps.imageStore) : ImageStore.open(root)).then((s) => {
      ready = s;
      return s;
    });
    return opened;
  };
  deps.imageStore = await store(); // open (and clean up after a crash) before serving; /system/df and the builder share it
  const inUse = (id: string) => deps.engine.list({ all: true }).some((c) => c.imageId === id);
  const reg = registryOptions(deps.config);
  const events = new ImageEvents(deps);

  const resolver: ImageResolver = {
    async resolve(reference: string) {
      const s = await store();
      const rec = s.resolve(reference);
      if (!rec) throw notFound(`No such image: ${reference}`);
      const rf = await s.rootfs(rec.id);
      let name = reference;
      try {
        name = familiarString(parseReference(reference));
      } catch {
        /* an id */
      }
      return { id: rec.id, reference: name, layers: rf.layers, config: containerDefaults(rf.config) };
    },
    count: () => ready?.all().length ?? 0,
  };
  deps.images = resolver;

  router.get('/images/json', async (ctx) => {
    const s = await store();
    const f = parseImageFilters(ctx.query.get('filters'));
    const all = await s.list({ dangling: f.dangling === true });
    // before=/since= name images that must exist (404 otherwise, as dockerd); compared by creation time.
    const createdOf = (ref: string) => Math.floor(Date.parse(s.get(ref).created) / 1000) || 0;
    const before = f.before.length ? Math.min(...f.before.map(createdOf)) : undefined;
    const since = f.since.length ? Math.max(...f.since.map(createdOf)) : undefined;
    const list = all.filter((i) => {
      if (before !== undefined && i.created >= before) return false;
      if (since !== undefined && i.created <= since) return false;
      if (f.dangling === false && i.repoTags.length === 0) return false;
      if (f.reference.length && !i.repoTags.some((t) => f.reference.some((p) => refMatches(t, p))))
        return false;
      for (const l of f.label) {
        const [k, v] = l.split('=', 2);
        if (!i.labels || !(k in i.labels) || (v !== undefined && i.labels[k] !== v)) return false;
      }
      return true;
    });
    ctx.reply.json(
      200,
      list.map((i) => imageSummaryJson(i)),
    );
  });

  router.get('/images/get', async (ctx) => {
    const names = ctx.query.getAll('names');
    await save(ctx, names);
  });

  const save = async (ctx: RequestContext, names: string[]) => {
    const s = await store();
    if (names.length === 0) throw badRequest('no image names given (names=…)');
    for (const n of names) s.get(n); // 404 before the stream starts
    const out = ctx.reply.stream(200, { 'Content-Type': 'application/x-tar' });
    try {
      for await (const chunk of saveArchive(s, names)) {
        if (ctx.closed.aborted) break;
        if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
      }
    } catch (e) {
      // the tar is cut short: the client sees a truncated archive, the log says why
      console.error(`shoald: image save: ${(e as Error).message}`);
      out.destroy(e as Error);
      return;
    }
    events.byId(
      'save',
      names.map((n) => s.get(n).id),
    );
    out.end();
  };

  router.get('/images/*name/get', (ctx) => save(ctx, [ctx.params.name]));

  router.get('/images/*name/json', async (ctx) => {
    const s = await store();
    const rec = s.get(ctx.params.name);
    const cfg = await s.config(rec.id);
    const c = cfg.config ?? {};
    const containerConfig = {
      Hostname: '',
      Domainname: '',
      User: c.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: c.ExposedPorts,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      Healthcheck: c.Healthcheck,
      Image: '',
      Volumes: c.Volumes ?? null,
      WorkingDir: c.WorkingDir ?? '',
      Entrypoint: c.Entrypoint ?? null,
      OnBuild: null,
      Labels: c.Labels ?? null,
      StopSignal: c.StopSignal,
    };
    const layers = rec.layers.map((l) => s.layers.diffDir(l.diffId)).reverse();
    ctx.reply.json(200, {
      Id: rec.id,
      RepoTags: s.repoTags(rec.id),
      RepoDigests: s.repoDigests(rec.id),
      Parent: '',
      Comment: cfg.history?.[cfg.history.length - 1]?.comment ?? '',
      Created: iso(cfg.created ?? rec.created),
      Container: '',
      ContainerConfig: containerConfig,
      DockerVersion: '',
      Author: cfg.author ?? '',
      Config: containerConfig,
      Architecture: cfg.architecture ?? 'amd64',
      Os: cfg.os ?? 'linux',
      Size: rec.size,
      VirtualSize: rec.size,
      GraphDriver: {
        Data: { LowerDir: layers.join(':') },
        Name: 'overlay2',
      },
      RootFS: { Type: 'layers', Layers: rec.layers.map((l) => l.diffId) },
      Metadata: { LastTagTime: iso(rec.lastTagTime) },
    });
  });

  router.get('/images/*name/history', async (ctx) => {
    const s = await store();
    const rec = s.get(ctx.params.name);
    const cfg = await s.config(rec.id);
    const sizes = await Promise.all(
      rec.layers.map(async (l) => (await s.layers.meta(l.diffId))?.contentSize ?? 0),
    );
    const history = cfg.history?.length
      ? cfg.history
      : rec.layers.map(() => ({}) as NonNullable<typeof cfg.history>[number]);
    let layer = 0;
    const rows = history.map((h) => ({
      Id: '<missing>',
      Created: Math.floor(Date.parse(h.created ?? '') / 1000) || 0,
      CreatedBy: h.created_by ?? '',
      Tags: null as string[] | null,
      Size: h.empty_layer ? 0 : (sizes[layer++] ?? 0),
      Comment: h.comment ?? '',
    }));
    rows.reverse();
    if (rows.length) {
      rows[0].Id = rec.id;
      rows[0].Tags = s.repoTags(rec.id);
    }
    ctx.reply.json(200, rows);
  });

  router.post('/images/create', async (ctx) => {
    const s = await store();
    const q = ctx.query;
    const fromSrc = q.get('fromSrc');
    const fromImage = q.get('fromImage');
    if (fromSrc !== null) {
      if (fromSrc !== '-')
        throw badRequest(`fromSrc: only "-" (the request body) is supported, got "${fromSrc}"`);
      const repo = q.get('repo') || '';
      const tag = q.get('tag') || '';
      const ref = repo ? `${repo}${tag ? `:${tag}` : ''}` : undefined;
      if (ref) parseReference(ref);
      const rec = await importRootfs(s, ctx.bodyStream(), { ref, message: q.get('message') || undefined });
      events.byId('import', [rec.id]);
      ctx.reply
        .stream(200, { 'Content-Type': 'application/json' })
        .end(`${JSON.stringify({ status: rec.id })}\r\n`);
      return;
    }
    if (!fromImage) throw badRequest('fromImage or fromSrc is required');
    const tag = q.get('tag') || '';
    let ref = fromImage;
    if (tag) ref = tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
    parseReference(ref); // 400 for a bad reference, before any output
    const ps = new ProgressStream(ctx);
    await ps.run(async () => {
      await pullImage(s, ref, { ...reg, credentials: credentialsOf(ctx), progress: ps.event });
      events.transferred('pull', ref);
    });
  });

  router.post('/images/load', async (ctx) => {
    const s = await store();
    const quiet = queryBool(ctx.query, 'quiet');
    const ps = new ProgressStream(ctx);
    await ps.run(async () => {
      const r = await loadArchive(
        s,
        ctx.bodyStream(),
        quiet ? undefined : (msg) => ps.write({ status: msg }),
      );
      events.byId(
        'load',
        r.loaded.map((l) => l.id),
      );
      for (const l of r.loaded)
        ps.write({ stream: l.ref ? `Loaded image: ${l.ref}\n` : `Loaded image ID: ${l.id}\n` });
    });
  });

  router.post('/images/prune', async (ctx) => {
    const s = await store();
    const { filters, matches } = pruneFilter(ctx.query.get('filters'), Date.now(), ['dangling']);
    const dangling = filters.dangling ?? [];
    if (dangling.some((x) => !['true', 'false', '1', '0'].includes(x)))
      throw badRequest(`invalid filter 'dangling=${dangling.join(',')}'`);
    const all = dangling.includes('false') || dangling.includes('0');
    const chosen = new Set(
      (await s.list())
        .filter((i) => matches({ created: i.created * 1000, labels: i.labels }))
        .map((i) => i.id as string),
    );
    const owners = ImageEvents.tagOwners(s);
    const r = await s.prune({ all, inUse: (id) => inUse(id) || !chosen.has(id) });
    events.removed(r, owners);
    ctx.reply.json(200, {
      ImagesDeleted: [...r.untagged.map((u) => ({ Untagged: u })), ...r.deleted.map((d) => ({ Deleted: d }))],
      SpaceReclaimed: r.reclaimed,
    });
  });

  router.post('/images/*name/tag', async (ctx) => {
    const s = await store();
    const repo = ctx.query.get('repo');
    if (!repo) throw badRequest('repo is required');
    const tag = ctx.query.get('tag') || 'latest';
    await s.tag(ctx.params.name, `${repo}:${tag}`);
    events.tagged(s.get(ctx.params.name).id, `${repo}:${tag}`);
    ctx.reply.empty(201);
  });

  router.post('/images/*name/push', async (ctx) => {
    const s = await store();
    const tag = ctx.query.get('tag');
    const ref = tag ? `${ctx.params.name}:${tag}` : ctx.params.name;
    s.get(ref); // 404 before any output
    const ps = new ProgressStream(ctx);
    await ps.run(async () => {
      const r = await pushImage(s, ref, { ...reg, credentials: credentialsOf(ctx), progress: ps.event });
      events.transferred('push', ref);
      ps.write({
        progressDetail: {},
        aux: { Tag: parseReference(ref).tag, Digest: r.digest, Size: r.size },
      });
    });
  });

  router.delete('/images/*name', async (ctx) => {
    const s = await store();
    const owners = ImageEvents.tagOwners(s);
    const r = await s.remove(ctx.params.name, { force: queryBool(ctx.query, 'force'), inUse });
    events.removed(r, owners);
    ctx.reply.json(200, [
      ...r.untagged.map((u) => ({ Untagged: u })),
      ...r.deleted.map((d) => ({ Deleted: d })),
    ]);
  });

  // what `docker service create` asks to pin an image to a digest
  router.get('/distribution/*name/json', async (ctx) => {
    const r = parseReference(ctx.params.name);
    const client = new RegistryClient(r.domain, r.path, { ...reg, credentials: credentialsOf(ctx) });
    const got = await client.getManifest(r.digest ?? r.tag ?? 'latest');
    const digest = sha256Of(got.bytes);
    const m = parseManifest(got.bytes, got.mediaType);
    let platforms: { architecture: string; os: string; variant?: string }[] = [];
    if (m.kind === 'index') platforms = m.manifests.flatMap((d) => (d.platform ? [d.platform] : []));
    else {
      const cfg = parseImageConfig(await client.getBlobBytes(m.config.digest, m.config.size));
      platforms = [{ architecture: cfg.architecture ?? 'amd64', os: cfg.os ?? 'linux' }];
    }
    ctx.reply.json(200, {
      Descriptor: { mediaType: m.mediaType, digest, size: got.bytes.length },
      Platforms: platforms,
    });
  });

  router.post('/auth', async (ctx) => {
    const body = validateBody<{ username?: string; password?: string; serveraddress?: string }>(
      authSchema,
      await ctx.readJson(),
    );
    if (!body.username) throw badRequest('username is required');
    const addr = (body.serveraddress || 'docker.io').replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    const domain = addr === 'index.docker.io' ? 'docker.io' : addr;
    const client = new RegistryClient(domain, '', {
      ...reg,
      credentials: { username: body.username, password: body.password },
    });
    try {
      await client.ping();
    } catch (e) {
      if (e instanceof RegistryError || e instanceof AuthError)
        throw new ShoalError(
          'unauthenticated',
          `login attempt to ${client.endpoint.base}/v2/ failed: ${e.message}`,
        );
      throw new ShoalError('unavailable', `cannot reach registry ${domain}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    ctx.reply.json(200, { Status: 'Login Succeeded', IdentityToken: '' });
  });
}
