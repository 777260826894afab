// POST /build (the classic builder's API: what `DOCKER_BUILDKIT=0 docker build` and `shoal build`
// send: a tar context body, t, dockerfile, buildargs, target, nocache, labels, q, pull, rm, forcerm,
// networkmode, platform) and POST /build/prune. The reply is docker's JSON message stream.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { ShoalError } from '../../common/errors.js';
import { BuildCache, type BuildMessage, openContext, runBuild } from '../../worker/build/index.js';
import { type Credentials, ImageStore, parseReference, pullImage } from '../../worker/images/index.js';
import { badRequest } from '../http/errors.js';
import { queryBool } from '../http/query.js';
import type { RequestContext, Router } from '../http/router.js';
import type { ApiDeps } from './deps.js';
import { registryOptions } from './images.js';
import { pruneFilter } from './prune-filters.js';

function jsonMap(q: URLSearchParams, key: string): Record<string, string | null> {
  const raw = q.get(key);
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw badRequest(`invalid ${key}: not JSON: ${raw}`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`invalid ${key}: expected a JSON object`);
  for (const [k, x] of Object.entries(v as object))
    if (x !== null && typeof x !== 'string')
      throw badRequest(`invalid ${key}: value of "${k}" is not a string`);
  return v as Record<string, string | null>;
}

/** Options the classic API carries that shoal's builder does not honour: refused unless at their default. */
const UNSUPPORTED: [string, (v: string) => boolean][] = [
  ['remote', (v) => v === ''],
  ['memory', (v) => v === '' || v === '0'],
  ['memswap', (v) => v === '' || v === '0'],
  ['cpushares', (v) => v === '' || v === '0'],
  ['cpusetcpus', (v) => v === ''],
  ['cpusetmems', (v) => v === ''],
  ['cpuperiod', (v) => v === '' || v === '0'],
  ['cpuquota', (v) => v === '' || v === '0'],
  ['shmsize', (v) => v === '' || v === '0'],
  ['squash', (v) => v === '' || v === '0' || v === 'false'],
  ['cachefrom', (v) => v === '' || v === '[]' || v === 'null'],
  ['extrahosts', (v) => v === ''],
  ['isolation', (v) => v === '' || v === 'default'],
  ['outputs', (v) => v === '' || v === '[]' || v === 'null'],
  ['session', () => true],
  ['ulimits', (v) => v === '' || v === '[]' || v === 'null'],
];

/** X-Registry-Config: base64 JSON, registry → auth config (docker sends every login it has). */
function registryConfig(ctx: RequestContext): Record<string, Credentials> {
  const h = ctx.headers['x-registry-config'];
  if (typeof h !== 'string' || !h) return {};
  try {
    const doc = JSON.parse(
      Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString(),
    ) as Record<
      string,
      { username?: string; password?: string; identitytoken?: string; registrytoken?: string }
    >;
    const out: Record<string, Credentials> = {};
    for (const [k, v] of Object.entries(doc ?? {}))
      out[k.replace(/^https?:\/\//, '').replace(/\/.*$/, '')] = {
        username: v.username,
        password: v.password,
        identityToken: v.identitytoken,
        registryToken: v.registrytoken,
      };
    return out;
  } catch {
    throw badRequest('invalid X-Registry-Config header: not base64 JSON');
  }
}

export async function registerBuild(router: Router, deps: ApiDeps): Promise<void> {
  const root = path.join(deps.config.dataRoot, 'build');
  const tmp = path.join(root, 'tmp');
  const store = deps.imageStore ?? (await ImageStore.open(path.join(deps.config.dataRoot, 'images')));
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  // a killed build leaves its work dir (and maybe an overlay mount under it): cleared at start
  await removeWorkDirs(tmp);
  // and the RUN containers of builds a shoald crash interrupted
  for (const c of deps.engine.list({ all: true }))
    if (c.config.labels?.['org.shoal.build'] === 'step')
      await deps.engine.remove(c.id, { force: true, removeVolumes: true }).catch(() => {});
  const cache = await BuildCache.open(root, store);
  const reg = registryOptions(deps.config);

  router.post('/build', async (ctx) => {
    const q = ctx.query;
    for (const [k, ok] of UNSUPPORTED) {
      const v = q.get(k);
      if (v !== null && !ok(v)) throw badRequest(`${k}: not supported by shoal's builder (got "${v}")`);
    }
    if (q.get('version') === '2')
      throw badRequest(
        'BuildKit builds (version=2) are not supported: use the classic builder (DOCKER_BUILDKIT=0)',
      );
    if (!queryBool(q, 'rm', true))
      throw badRequest('rm=0: shoal always removes the intermediate containers of a build');
    const tags = q.getAll('t').filter(Boolean);
    for (const t of tags) {
      try {
        parseReference(t);
      } catch (e) {
        throw badRequest(`invalid tag "${t}": ${(e as Error).message}`);
      }
    }
    const quiet = queryBool(q, 'q');
    const auth = registryConfig(ctx);
    const dockerfile = q.get('dockerfile') || 'Dockerfile';
    const work = path.join(tmp, randomBytes(8).toString('hex'));
    await fs.mkdir(path.join(work, 'context'), { recursive: true, mode: 0o700 });
    let out: Writable | undefined;
    const write = (m: unknown) => {
      out ??= ctx.reply.stream(200, { 'Content-Type': 'application/json' });
      out.write(`${JSON.stringify(m)}\r\n`);
    };
    const emit = (m: BuildMessage) => {
      if (quiet && m.stream !== undefined) return;
      write(m);
    };
    try {
      const context = await openContext(ctx.bodyStream(), path.join(work, 'context'), dockerfile);
      const r = await runBuild(
        context,
        {
          dockerfileName: dockerfile,
          tags,
          buildArgs: jsonMap(q, 'buildargs'),
          labels: jsonMap(q, 'labels') as Record<string, string>,
          target: q.get('target') || undefined,
          noCache: queryBool(q, 'nocache'),
          pull: queryBool(q, 'pull'),
          networkMode: q.get('networkmode') || undefined,
          platform: q.get('platform') || undefined,
        },
        {
          store,
          engine: deps.engine,
          cache,
          workDir: work,
          now: deps.now,
          signal: ctx.closed,
          pull: async (ref, say) => {
            const domain = parseReference(ref).domain;
            const credentials =
              auth[domain] ?? (domain === 'docker.io' ? auth['index.docker.io'] : undefined);
            say(`Pulling ${ref}`);
            await pullImage(store, ref, { ...reg, credentials });
          },
        },
        emit,
      );
      if (quiet) write({ stream: `${r.id}\n` });
    } catch (e) {
      if (!out) throw e;
      const message = (e as Error).message;
      write({ errorDetail: { message }, error: message });
      if (!(e instanceof ShoalError)) console.error(`shoald: build: ${(e as Error).stack}`);
    } finally {
      await fs.rm(work, { recursive: true, force: true }).catch(() => {});
    }
    out?.end();
  });

  // Filters as every prune (until: last used before; cache entries carry no labels, so a label filter
  // keeps them all). `all`: every entry is unused once its build ended, so it changes nothing.
  router.post('/build/prune', async (ctx) => {
    for (const k of ['keep-storage', 'reserved-space', 'max-used-space', 'min-free-space'])
      if (ctx.query.get(k))
        throw badRequest(`${k}: not supported (the build cache is pruned by entry, not size)`);
    const { matches } = pruneFilter(ctx.query.get('filters'), deps.now().getTime());
    const r = await cache.prune((e) => matches({ created: e.used, labels: {} }));
    ctx.reply.json(200, {
      CachesDeleted: r.entries ? [`${r.entries} cached steps`] : [],
      SpaceReclaimed: r.reclaimed,
    });
  });
}

async function removeWorkDirs(tmp: string): Promise<void> {
  const names = await fs.readdir(tmp).catch(() => [] as string[]);
  const { execFile } = await import('node:child_process');
  for (const n of names) {
    const d = path.join(tmp, n);
    // unmount leftovers first so rm never walks into a mounted image
    const mounts = (await fs.readFile('/proc/self/mounts', 'utf8').catch(() => ''))
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m) => m?.startsWith(`${d}/`));
    for (const m of mounts) await new Promise((r) => execFile('umount', ['-l', m], () => r(null)));
    await fs.rm(d, { recursive: true, force: true });
  }
}
