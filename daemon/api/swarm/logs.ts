// GET /services/{id}/logs and /tasks/{id}/logs: the query read as dockerd reads it, the subscription made
// through the backend (this manager's broker when it leads, else the leader's), the batches written as the
// Engine API's frames (log-frames.ts). Headers go out once the subscription is accepted, so an unknown
// service or a cluster without a leader is a plain error reply.
import type { LogSubscriptionOptions, MissingLogs } from '../../../proto/gen/shoal/logbroker/v1/logbroker.js';
import { ApiError, badRequest } from '../../http/errors.js';
import { queryBool, queryTail, queryTime } from '../../http/query.js';
import type { RequestContext } from '../../http/router.js';
import { writeAsync } from '../streams.js';
import type { ClusterBackend } from './backend.js';
import { errorFrame, type FrameOptions, incompleteFrame, logFrame, missingFrame } from './log-frames.js';

export interface LogQuery {
  options: LogSubscriptionOptions;
  timestamps: boolean;
  details: boolean;
}

/** Reads the query as dockerd does: at least one stream, tail a number or "all", since unix seconds or RFC3339. */
export function parseLogQuery(q: URLSearchParams): LogQuery {
  const stdout = queryBool(q, 'stdout');
  const stderr = queryBool(q, 'stderr');
  if (!stdout && !stderr) throw badRequest('Bad parameters: you must choose at least one stream');
  return {
    options: {
      follow: queryBool(q, 'follow'),
      tail: queryTail(q) ?? -1,
      since: queryTime(q, 'since') ?? 0,
      stdout,
      stderr,
    },
    timestamps: queryBool(q, 'timestamps'),
    details: queryBool(q, 'details'),
  };
}

export async function serveLogs(
  backend: ClusterBackend,
  ctx: RequestContext,
  kind: 'service' | 'task',
): Promise<void> {
  const query = parseLogQuery(ctx.query);
  const control = await backend.control();
  const id = ctx.params.id ?? '';
  let selector: { serviceIds: string[]; taskIds: string[] };
  let tty: boolean;
  if (kind === 'service') {
    const s = control.getService(id);
    selector = { serviceIds: [s.id], taskIds: [] };
    tty = s.spec?.taskTemplate?.containerSpec?.tty ?? false;
  } else {
    const t = control.getTask(id);
    selector = { serviceIds: [], taskIds: [t.id] };
    tty = t.spec?.containerSpec?.tty ?? false;
  }
  if (!backend.logs) throw new ApiError(501, 'service logs are not available on this daemon');
  const batches = await backend.logs({ selector, options: query.options }, ctx.closed);
  const frames: FrameOptions = { timestamps: query.timestamps, details: query.details, tty };
  // As dockerd: chunked, no Content-Type.
  const out = ctx.reply.stream(200);
  const missed: MissingLogs[] = [];
  try {
    for await (const b of batches) {
      const chunks: Buffer[] = [];
      for (const m of b.missing) {
        missed.push(m);
        chunks.push(missingFrame(m, new Date(), frames));
      }
      for (const m of b.messages) chunks.push(logFrame(m, frames));
      if (chunks.length > 0) await writeAsync(out, Buffer.concat(chunks));
    }
    const incomplete = tty ? undefined : incompleteFrame(missed);
    if (incomplete) await writeAsync(out, incomplete);
  } catch (err) {
    if (ctx.closed.aborted) return;
    if (!tty) await writeAsync(out, errorFrame((err as Error)?.message ?? String(err))).catch(() => {});
  }
  out.end();
}
