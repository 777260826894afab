// The real ports: the executor's EnginePort over worker/engine's ContainerManager and its ImagePort
// over worker/images (local store first, then a pull from the registry the reference names).
import type { Container, ContainerManager } from '../engine/index.js';
import { NotFoundError } from '../engine/index.js';
import {
  containerDefaults,
  familiarString,
  type ImageStore,
  type PullOptions,
  parseReference,
  pullImage,
} from '../images/index.js';
import type { ContainerInfo, EnginePort, ExecResult, ImagePort, ResolvedImage } from './types.js';

/** Docker keeps the last 4 KiB of a probe's output. */
const PROBE_OUTPUT_MAX = 4096;

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
    start: (id) => m.start(id),
    wait: (id, condition, signal) => m.wait(id, condition, signal),
    stop: (id, opts) => m.stop(id, opts),
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
    exec: (id, cmd, timeoutMs) => execProbe(m, id, cmd, timeoutMs),
  };
}

/** Runs a probe through the engine's exec; on timeout its process is killed (exec pids are host pids). */
async function execProbe(
  m: ContainerManager,
  id: string,
  cmd: string[],
  timeoutMs: number,
): Promise<ExecResult> {
  const execId = m.execCreate(id, { cmd, attachStdout: true, attachStderr: true });
  const stream = await m.execStart(execId, {});
  let output = Buffer.alloc(0);
  let timedOut = false;
  if (stream) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timedOut = true;
        void m
          .execInspect(execId)
          .then((x) => {
            if (x.running && x.pid > 0) process.kill(x.pid, 'SIGKILL');
          })
          .catch(() => {});
        stream.destroy();
        resolve();
      }, timeoutMs);
      stream.on('data', (chunk: Buffer) => {
        output = Buffer.concat([output, chunk]);
        if (output.length > PROBE_OUTPUT_MAX * 2) output = output.subarray(output.length - PROBE_OUTPUT_MAX);
      });
      const end = () => {
        clearTimeout(timer);
        resolve();
      };
      stream.once('close', end);
      stream.once('end', end);
      stream.once('error', end);
    });
  }
  if (timedOut) return { exitCode: -1, output: '', timedOut };
  const x = await m.execInspect(execId);
  return { exitCode: x.exitCode ?? -1, output: demuxText(output).slice(-PROBE_OUTPUT_MAX), timedOut };
}

/** The payload of a docker multiplexed stream ([kind,0,0,0,len] frames) as text. */
function demuxText(buf: Buffer): string {
  let out = '';
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off + 4);
    out += buf.subarray(off + 8, off + 8 + len).toString();
    off += 8 + len;
  }
  return out;
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
