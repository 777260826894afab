// POST /commit (docker commit): a container's writable layer and config, with `changes` applied, as a
// new image (worker/build's commitContainer). The query is dockerd's: container, repo, tag, comment,
// author, pause (default true), changes (repeatable Dockerfile instructions).

import path from 'node:path';
import { familiarString, formatReference, parseReference } from '../../common/reference.js';
import { commitContainer } from '../../worker/build/index.js';
import type { Container } from '../../worker/engine/index.js';
import { type ContainerConfig, ImageStore } from '../../worker/images/index.js';
import { badRequest } from '../http/errors.js';
import { queryBool } from '../http/query.js';
import type { RequestContext, Router } from '../http/router.js';
import { inspectJson } from './containers/translate.js';
import type { ApiDeps } from './deps.js';
import { eventMessage } from './events.js';

/** The tag reference for repo[:tag], or none; a bad one is a 400 before anything is written. */
function tagOf(ctx: RequestContext): string[] {
  const repo = ctx.query.get('repo');
  const tag = ctx.query.get('tag');
  if (!repo) {
    if (tag) throw badRequest('tag: a tag needs a repository (repo=…)');
    return [];
  }
  try {
    const r = parseReference(`${repo}:${tag || 'latest'}`);
    if (r.digest) throw new Error('a digest cannot be a tag');
    return [formatReference(r)];
  } catch (e) {
    throw badRequest(
      `invalid reference format: repository "${repo}", tag "${tag ?? ''}": ${(e as Error).message}`,
    );
  }
}

/** The container's config as dockerd commits it (container.Config's image fields), from its inspect view. */
function configOf(c: Container, base: ContainerConfig): ContainerConfig & { Shell?: string[] } {
  const j = inspectJson(c).Config as Record<string, unknown>;
  const ports: Record<string, object> = { ...(base.ExposedPorts ?? {}) };
  for (const p of c.hostConfig.exposedPorts ?? []) ports[p.includes('/') ? p : `${p}/tcp`] = {};
  const out: ContainerConfig & { Shell?: string[] } = {
    User: (j.User as string) || undefined,
    ExposedPorts: Object.keys(ports).length ? ports : undefined,
    Env: (j.Env as string[]) ?? [],
    Cmd: (j.Cmd as string[] | null) ?? null,
    Entrypoint: (j.Entrypoint as string[] | null) ?? null,
    Volumes: (j.Volumes as Record<string, object> | null) ?? undefined,
    WorkingDir: (j.WorkingDir as string) || undefined,
    Labels: (j.Labels as Record<string, string>) ?? {},
    StopSignal: (j.StopSignal as string) || undefined,
    Healthcheck: (j.Healthcheck as ContainerConfig['Healthcheck']) ?? base.Healthcheck,
    OnBuild: base.OnBuild ?? null,
    ...(Array.isArray(base.Shell) ? { Shell: base.Shell as string[] } : {}),
  };
  for (const k of Object.keys(out) as (keyof typeof out)[]) if (out[k] === undefined) delete out[k];
  return out;
}

/** The fields of a container Config (what dockerd reads from the body); others are ignored, as dockerd. */
const CONFIG_FIELDS = new Set([
  'Hostname',
  'Domainname',
  'User',
  'AttachStdin',
  'AttachStdout',
  'AttachStderr',
  'ExposedPorts',
  'Tty',
  'OpenStdin',
  'StdinOnce',
  'Env',
  'Cmd',
  'Healthcheck',
  'ArgsEscaped',
  'Image',
  'Volumes',
  'WorkingDir',
  'Entrypoint',
  'NetworkDisabled',
  'MacAddress',
  'OnBuild',
  'Labels',
  'StopSignal',
  'StopTimeout',
  'Shell',
]);

/** Go's zero values, which a client's empty Config struct is made of. */
function isEmptyValue(v: unknown): boolean {
  if (v === null || v === undefined || v === '' || v === false || v === 0) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v as object).length === 0;
}

export async function registerCommit(router: Router, deps: ApiDeps): Promise<void> {
  const store = deps.imageStore ?? (await ImageStore.open(path.join(deps.config.dataRoot, 'images')));
  deps.imageStore ??= store;
  router.post('/commit', async (ctx) => {
    const ref = ctx.query.get('container');
    if (!ref) throw badRequest('container: the container to commit is required (container=…)');
    // dockerd merges a Config in the body over the container's; shoal takes changes only
    const body = await ctx.readJson<Record<string, unknown> | null>();
    const given = Object.entries(body ?? {}).filter(([k, v]) => CONFIG_FIELDS.has(k) && !isEmptyValue(v));
    if (given.length > 0)
      throw badRequest(
        `config: a container config in the commit body is not supported (${given.map(([k]) => k).join(', ')}); use changes (--change)`,
      );
    const tags = tagOf(ctx);
    const pause = ctx.query.has('pause') ? queryBool(ctx.query, 'pause') : true;
    const c = deps.engine.inspect(ref);
    if (!c.imageId)
      throw badRequest(
        `container ${c.name} runs on a root filesystem directory: there is no image to commit onto`,
      );
    const id = await deps.engine.withWritableLayer(c.id, pause, async (upper, rec, omit) => {
      const base = await store.config(store.get(rec.imageId).id);
      return commitContainer(store, {
        imageId: rec.imageId,
        upper,
        omit,
        config: configOf(rec, base.config ?? {}),
        changes: ctx.query.getAll('changes'),
        author: ctx.query.get('author') || undefined,
        comment: ctx.query.get('comment') || undefined,
        createdBy: [rec.path, ...rec.args].join(' '),
        tags,
        now: deps.now(),
      });
    });
    // dockerd's container event, the container's labels, image and name beside what was made
    deps.events?.publish(
      eventMessage({
        action: 'commit',
        id: c.id,
        attributes: {
          ...c.config.labels,
          image: c.image,
          name: c.name,
          comment: ctx.query.get('comment') ?? '',
          imageID: id,
          imageRef: tags[0] ? familiarString(parseReference(tags[0])) : '',
        },
        timeMs: deps.now().getTime(),
      }),
    );
    ctx.reply.json(201, { Id: id });
  });
}
