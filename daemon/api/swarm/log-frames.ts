// Service and task logs in the Engine API's shape (pure): each line a multiplexed frame (stream 1 stdout,
// 2 stderr; raw bytes for a TTY service), its payload `[<time> ][<details> ]<line>` where the details are
// `com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,com.docker.swarm.task.id=…` — what dockerd sends
// and what the docker CLI parses into its `name.slot.task@node    | ` prefix.
//
// A task whose logs cannot be had (its node down or gone from the session) gets one stderr line of its own,
// in the same shape, so both CLIs print it under the task's prefix and go on with the others:
//   web.2.x8…@w1    | shoal: logs missing: node w1 lost its session with the managers
// Without follow, a stream that missed any task ends with a system-error frame (stream 3), which the docker
// CLI prints as "error from daemon in stream: …" and exits 1: the output is incomplete.
import {
  type LogContext,
  type LogMessage,
  LogStream,
  type MissingLogs,
} from '../../../proto/gen/shoal/logbroker/v1/logbroker.js';
import { muxFrame, STDERR, STDOUT, SYSERR } from '../streams.js';

export interface FrameOptions {
  timestamps: boolean;
  details: boolean;
  /** The service runs with a TTY: raw bytes, no frames (as dockerd). */
  tty: boolean;
}

export const MISSING_PREFIX = 'shoal: logs missing: ';

/** The details dockerd puts before a service log line, in its key order. */
export function detailsOf(c: LogContext | undefined): string {
  const esc = (v: string | undefined) => encodeURIComponent(v ?? '');
  return `com.docker.swarm.node.id=${esc(c?.nodeId)},com.docker.swarm.service.id=${esc(c?.serviceId)},com.docker.swarm.task.id=${esc(c?.taskId)}`;
}

function payloadOf(time: string, context: LogContext | undefined, data: Uint8Array, o: FrameOptions): Buffer {
  const head = `${o.timestamps ? `${time} ` : ''}${o.details ? `${detailsOf(context)} ` : ''}`;
  return head ? Buffer.concat([Buffer.from(head), data]) : Buffer.from(data);
}

export function logFrame(m: LogMessage, o: FrameOptions): Buffer {
  const payload = payloadOf(m.time, m.context, m.data, o);
  if (o.tty) return payload;
  return muxFrame(m.stream === LogStream.LOG_STREAM_STDERR ? STDERR : STDOUT, payload);
}

/** The line that marks a task's logs missing (stderr, under the task's own prefix). */
export function missingFrame(m: MissingLogs, now: Date, o: FrameOptions): Buffer {
  const data = Buffer.from(`${MISSING_PREFIX}${m.reason}\n`);
  const payload = payloadOf(now.toISOString(), m.context, data, o);
  return o.tty ? payload : muxFrame(STDERR, payload);
}

/** The closing system-error frame of a stream that missed tasks; undefined when nothing was missed. */
export function incompleteFrame(missing: readonly MissingLogs[]): Buffer | undefined {
  if (missing.length === 0) return undefined;
  const tasks = new Set(missing.map((m) => m.context?.taskId ?? ''));
  const reasons = [...new Set(missing.map((m) => m.reason))].join('; ');
  return muxFrame(
    SYSERR,
    Buffer.from(
      `incomplete log stream: the logs of ${tasks.size} task${tasks.size === 1 ? '' : 's'} could not be retrieved: ${reasons}\n`,
    ),
  );
}

/** The system-error frame of a stream cut short (dockerd's words). */
export function errorFrame(message: string): Buffer {
  return muxFrame(SYSERR, Buffer.from(`Error grabbing logs: ${message}\n`));
}
