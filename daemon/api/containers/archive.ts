// docker cp, export and diff: /containers/{id}/archive (HEAD stat, GET a path as a tar, PUT a tar
// into a directory), /containers/{id}/export and /containers/{id}/changes over the engine.
import { statHeader } from '../../../worker/engine/index.js';
import { decompressStream } from '../../../worker/images/index.js';
import { badRequest } from '../../http/errors.js';
import { queryBool } from '../../http/query.js';
import type { RequestContext, Router } from '../../http/router.js';
import type { ApiDeps } from '../deps.js';
import { writeAsync } from '../streams.js';

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

function pathParam(ctx: RequestContext): string {
  const p = ctx.query.get('path');
  if (!p) throw badRequest('path: a path in the container is required (?path=…)');
  return p;
}

/** Streams a tar as the reply; a failure once it started cuts it short (logged), as dockerd. */
async function sendTar(
  ctx: RequestContext,
  tar: AsyncIterable<Buffer>,
  headers: Record<string, string>,
  what: string,
): Promise<void> {
  const it = tar[Symbol.asyncIterator]();
  // the first entry before the status: an unreadable path is still an error reply
  const first = await it.next();
  const out = ctx.reply.stream(200, { 'Content-Type': 'application/x-tar', ...headers });
  try {
    for (let r = first; !r.done; r = await it.next()) {
      if (ctx.closed.aborted) break;
      await writeAsync(out, r.value);
    }
  } catch (e) {
    console.error(`shoald: ${what}: ${(e as Error).message}`);
    out.destroy(e as Error);
    return;
  } finally {
    await it.return?.(undefined);
  }
  out.end();
}

export function registerArchive(router: Router, deps: ApiDeps): void {
  router
    .head('/containers/:id/archive', async (ctx) => {
      const stat = await deps.engine.statPath(ctx.params.id, pathParam(ctx));
      ctx.reply.empty(200, { [STAT_HEADER]: statHeader(stat), 'Content-Type': 'application/json' });
    })
    .get('/containers/:id/archive', async (ctx) => {
      const p = pathParam(ctx);
      await deps.engine.withArchive(ctx.params.id, p, (stat, tar) =>
        sendTar(ctx, tar, { [STAT_HEADER]: statHeader(stat) }, `archive of ${p} in ${ctx.params.id}`),
      );
    })
    .put('/containers/:id/archive', async (ctx) => {
      const p = pathParam(ctx);
      await deps.engine.extractArchive(ctx.params.id, p, decompressStream(ctx.bodyStream()), {
        noOverwriteDirNonDir: queryBool(ctx.query, 'noOverwriteDirNonDir'),
        copyUIDGID: queryBool(ctx.query, 'copyUIDGID'),
      });
      ctx.reply.empty(200);
    })
    .get('/containers/:id/export', async (ctx) => {
      await deps.engine.withExport(ctx.params.id, (tar) =>
        sendTar(ctx, tar, {}, `export of ${ctx.params.id}`),
      );
    })
    .get('/containers/:id/changes', async (ctx) => {
      const changes = await deps.engine.changes(ctx.params.id);
      ctx.reply.json(
        200,
        changes.map((c) => ({ Path: c.path, Kind: c.kind })),
      );
    });
}
