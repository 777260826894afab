// Exec endpoints: POST /containers/{id}/exec, POST /exec/{id}/start (hijacked or detached),
// GET /exec/{id}/json, POST /exec/{id}/resize.

import type { Duplex } from 'node:stream';
import { parseDetachKeys } from '../../../common/detach-keys.js';
import { isShoalError } from '../../../common/errors.js';
import { type ExecInfo, type ExecOptions, RuntimeError } from '../../../worker/engine/index.js';
import { badRequest, toErrorReply } from '../../http/errors.js';
import { queryInt } from '../../http/query.js';
import type { RequestContext, Router } from '../../http/router.js';
import type { ApiDeps } from '../deps.js';
import { execCreateSchema, execStartSchema, validateBody } from '../schemas.js';
import { muxFrame, STDOUT, splice, stdinPolicy } from '../streams.js';

interface ExecCreateBody {
  User?: string;
  Privileged?: boolean;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Env?: string[] | null;
  WorkingDir?: string;
  Cmd?: string[] | null;
}

export function execOptionsFromBody(b: ExecCreateBody): ExecOptions {
  if (!b.Cmd || b.Cmd.length === 0) throw badRequest('No exec command specified');
  return {
    cmd: b.Cmd,
    env: b.Env ?? undefined,
    workingDir: b.WorkingDir || undefined,
    user: b.User || undefined,
    tty: b.Tty ?? false,
    ...(Array.isArray(b.ConsoleSize) && b.ConsoleSize.length === 2
      ? { consoleSize: { height: b.ConsoleSize[0], width: b.ConsoleSize[1] } }
      : {}),
    attachStdin: b.AttachStdin ?? false,
    attachStdout: b.AttachStdout ?? false,
    attachStderr: b.AttachStderr ?? false,
    privileged: b.Privileged ?? false,
    detachKeys: b.DetachKeys || undefined,
  };
}

export function execInspectJson(e: ExecInfo): Record<string, unknown> {
  return {
    ID: e.id,
    Running: e.running,
    ExitCode: e.exitCode,
    ProcessConfig: {
      tty: e.options.tty ?? false,
      entrypoint: e.options.cmd[0],
      arguments: e.options.cmd.slice(1),
      privileged: e.options.privileged ?? false,
      ...(e.options.user ? { user: e.options.user } : {}),
    },
    OpenStdin: e.options.attachStdin ?? false,
    OpenStderr: e.options.attachStderr ?? false,
    OpenStdout: e.options.attachStdout ?? false,
    CanRemove: false,
    ContainerID: e.containerId,
    DetachKeys: e.options.detachKeys ?? '',
    Pid: e.pid,
  };
}

/** dockerd's exit codes for an exec whose process could not be started: 127 not found, 126 otherwise. */
export function startFailureExitCode(err: unknown): number {
  return err instanceof RuntimeError && err.runtimeKind === 'exec-not-found' ? 127 : 126;
}

async function start(deps: ApiDeps, ctx: RequestContext, failed: Map<string, number>): Promise<void> {
  const body = validateBody<{ Detach?: boolean; Tty?: boolean }>(execStartSchema, await ctx.readJson());
  const detach = body.Detach ?? false;
  const info = await deps.engine.execInspect(ctx.params.id);
  let stream: Duplex | null;
  try {
    stream = await deps.engine.execStart(ctx.params.id, { detach, tty: body.Tty });
  } catch (err) {
    // An unknown exec or a stopped container is an HTTP error; a process that cannot be started is
    // reported as dockerd does: on the hijacked stream, with exit code 126/127 in exec inspect.
    if (detach || isShoalError(err, 'not_found') || isShoalError(err, 'conflict')) throw err;
    const { message } = toErrorReply(err);
    failed.set(ctx.params.id, startFailureExitCode(err));
    if (failed.size > 1000) failed.delete(failed.keys().next().value as string);
    const client = ctx.reply.hijack();
    const text = Buffer.from(`${message}\r\n`);
    client.end(body.Tty ? text : muxFrame(STDOUT, text));
    return;
  }
  if (!stream) {
    ctx.reply.empty(200);
    return;
  }
  await splice(ctx.reply.hijack(), stream, stdinPolicy(info.options, body.Tty ?? info.options.tty ?? false));
}

export function registerExec(router: Router, deps: ApiDeps): void {
  // Exit codes of execs whose process never started (the engine has none to report for them);
  // bounded, oldest dropped first.
  const failedStarts = new Map<string, number>();
  router
    .post('/containers/:id/exec', async (ctx) => {
      const body = validateBody<ExecCreateBody>(execCreateSchema, await ctx.readJson());
      if (body.DetachKeys) parseDetachKeys(body.DetachKeys); // 400 before anything is made
      const id = deps.engine.execCreate(ctx.params.id, execOptionsFromBody(body));
      ctx.reply.json(201, { Id: id });
    })
    .post('/exec/:id/start', (ctx) => start(deps, ctx, failedStarts))
    .get('/exec/:id/json', async (ctx) => {
      const info = await deps.engine.execInspect(ctx.params.id);
      const failed = failedStarts.get(info.id);
      const shown =
        failed !== undefined && info.exitCode === null && !info.running
          ? { ...info, exitCode: failed }
          : info;
      ctx.reply.json(200, execInspectJson(shown));
    })
    .post('/exec/:id/resize', async (ctx) => {
      const h = queryInt(ctx.query, 'h') ?? 0;
      const w = queryInt(ctx.query, 'w') ?? 0;
      await deps.engine.execResize(ctx.params.id, h, w);
      ctx.reply.empty(200);
    });
}
