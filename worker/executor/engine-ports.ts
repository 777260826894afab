// The real ports: the executor's EnginePort over worker/engine's ContainerManager and its ImagePort
// over worker/images (local store first, then a pull from the registry the reference names).
import type { Container, ContainerManager, LogEntry, LogOptions } from '../engine/index.js';
import { NotFoundError } from '../engine/index.js';
import {
  containerDefaults,
  familiarString,
  type ImageStore,
  type PullOptions,
  parseReference,
  pullImage,
} from '../images/index.js';
import { LABEL } from './spec-map.js';
import type { ContainerInfo, EnginePort, ImagePort, ResolvedImage } from './types.js';

function info(c: Container): ContainerInfo {
  return {
    id: c.id,
    name: c.name,
    labels: { ...c.config.labels },
    status: c.state.status,
    pid: c.state.pid,
    exitCode: c.state.exitCode,
    oomKilled: c.state.oomKilled,
    error: c.state.error,
  };
}

export function enginePort(m: ContainerManager): EnginePort {
  return {
    create: (opts) => m.create(opts),
    start: async (id) => {
      await m.start(id);
    },
    wait: (id, condition, signal) => m.wait(id, condition, signal),
    stop: async (id, opts) => {
      await m.stop(id, opts);
    },
    async remove(id) {
      try {
        // A task's anonymous volumes go with it (as swarmkit's executor: RemoveVolumes).
        await m.remove(id, { force: true, removeVolumes: true });
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
    },
    inspect(id) {
      try {
        return info(m.inspect(id));
      } catch (e) {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }
    },
    list: () => m.list({ all: true }).map(info),
    exec: (id, cmd, timeoutMs) => m.probe(id, cmd, timeoutMs),
  };
}

export function imagePort(store: ImageStore, pullOptions: PullOptions = {}): ImagePort {
  return {
    async resolve(ref): Promise<ResolvedImage | undefined> {
      const rec = store.resolve(ref);
      if (!rec) return undefined;
      const rf = await store.rootfs(rec.id);
      let reference = ref;
      try {
        reference = familiarString(parseReference(ref));
      } catch {
        /* an image id */
      }
      return { id: rec.id, reference, layers: rf.layers, config: containerDefaults(rf.config) };
    },
    async pull(ref, signal) {
      // The registry client has no abort: a cancelled pull finishes in the background, harmlessly.
      if (signal?.aborted) return;
      await pullImage(store, ref, pullOptions);
    },
  };
}

/**
 * A task's container log (the agent's TaskLogSource): the container carrying the task's id label; not_found
 * when this node has none (removed with the task, or never created).
 */
export function taskLogs(
  m: ContainerManager,
  taskId: string,
  opts: LogOptions & { signal: AbortSignal },
): AsyncIterable<LogEntry> {
  const c = m.list({ all: true }).find((x) => x.config.labels?.[LABEL.taskId] === taskId);
  if (!c) throw new NotFoundError(`no container of task ${taskId} on this node`);
  return m.logs(c.id, opts);
}
