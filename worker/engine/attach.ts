// Attach plumbing: a running container's stdio through its monitor, or a deferred stream that
// binds to the next start's monitor before init runs (`docker start -a` attaches first).
import type { Duplex } from 'node:stream';
import type { AttachStdio, EngineContext, Live } from './context.js';
import { DeferredStream } from './deferred-stream.js';
import { ConflictError, InternalError } from './errors.js';
import { MonitorGoneError } from './monitor-client.js';

export async function attach(
  ctx: EngineContext,
  live: Live,
  opts: { stdin?: boolean; stdout?: boolean; stderr?: boolean },
): Promise<Duplex> {
  if (live.removing) throw new ConflictError(`container ${live.rec.name} is being removed`);
  const stdio: AttachStdio = {
    stdin: !!opts.stdin && live.rec.config.openStdin,
    stdout: opts.stdout ?? true,
    stderr: opts.stderr ?? true,
  };
  let stream: Duplex;
  try {
    stream = live.rec.runtimeCreated ? await live.monitor.attach(stdio) : deferAttach(live, stdio);
  } catch (e) {
    // The monitor left (the exit is being processed): wait for the next start like a stopped container.
    if (e instanceof MonitorGoneError) stream = deferAttach(live, stdio);
    else throw new InternalError(`attaching to ${live.rec.name}: ${(e as Error).message}`, { cause: e });
  }
  live.attached.add(stream);
  stream.once('close', () => live.attached.delete(stream));
  ctx.emitEvent('attach', live.rec);
  return stream;
}

function deferAttach(live: Live, opts: AttachStdio): DeferredStream {
  const stream = new DeferredStream();
  const entry = { stream, opts };
  live.pendingAttaches.push(entry);
  stream.once('close', () => {
    const i = live.pendingAttaches.indexOf(entry);
    if (i >= 0) live.pendingAttaches.splice(i, 1);
  });
  return stream;
}

/** Connects waiting attaches to the (new) monitor before init starts, so they see every byte. */
export async function bindPendingAttaches(live: Live): Promise<void> {
  const pending = live.pendingAttaches.splice(0);
  await Promise.all(
    pending.map(async ({ stream, opts }) => {
      try {
        stream.connect(await live.monitor.attach(opts));
      } catch (e) {
        stream.destroy(e as Error);
      }
    }),
  );
}

/** Pending attaches end without data (close(), remove()). */
export function abandonPendingAttaches(live: Live): void {
  for (const p of live.pendingAttaches.splice(0)) p.stream.abandon();
}
