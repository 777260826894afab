// Service log framing against dockerd's bytes (the docker-api traces), and the query as dockerd reads it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../../common/errors.js';
import { LogStream } from '../../../proto/gen/shoal/logbroker/v1/logbroker.js';
import { TRACES } from '../../../test/traces.js';
import {
  detailsOf,
  errorFrame,
  incompleteFrame,
  logFrame,
  MISSING_PREFIX,
  missingFrame,
} from './log-frames.js';
import { parseLogQuery } from './logs.js';

interface Frame {
  stream: string;
  header: string;
  size: number;
  data: string;
}

function framesOf(trace: string, path: string): Frame[] {
  const exchanges = JSON.parse(readFileSync(join(TRACES, `${trace}.json`), 'utf8')) as {
    path: string;
    responseBody: { _multiplexedFrames?: Frame[] };
  }[];
  const e = exchanges.find((x) => x.path.endsWith(path));
  return e?.responseBody?._multiplexedFrames ?? [];
}

const FRAMES = { timestamps: false, details: true, tty: false };

describe('service log frames', () => {
  it('are byte for byte what dockerd sent for `docker service logs` (details=1)', () => {
    const want = framesOf('service-logs-logger', '/logs');
    expect(want.length).toBeGreaterThan(0);
    for (const f of want) {
      const m =
        /^com\.docker\.swarm\.node\.id=(\w+),com\.docker\.swarm\.service\.id=(\w+),com\.docker\.swarm\.task\.id=(\w+) (.*)$/s.exec(
          f.data,
        );
      expect(m).not.toBeNull();
      const [, nodeId, serviceId, taskId, text] = m as unknown as string[];
      const frame = logFrame(
        {
          context: { nodeId, serviceId, taskId },
          stream: f.stream === 'stderr' ? LogStream.LOG_STREAM_STDERR : LogStream.LOG_STREAM_STDOUT,
          time: '2026-11-22T09:03:20.1Z',
          data: Buffer.from(text),
        },
        FRAMES,
      );
      expect(frame.subarray(0, 8).toString('hex')).toBe(f.header);
      expect(frame.subarray(8).toString()).toBe(f.data);
    }
  });

  it('without details (--raw) carry the bare line, as the raw trace', () => {
    const [f] = framesOf('service-logs-logger-raw', '/logs');
    const frame = logFrame(
      { context: undefined, stream: LogStream.LOG_STREAM_STDERR, time: 't', data: Buffer.from(f.data) },
      { ...FRAMES, details: false },
    );
    expect(frame.subarray(0, 8).toString('hex')).toBe(f.header);
    expect(frame.subarray(8).toString()).toBe(f.data);
  });

  it('put the timestamp first, then the details; a TTY service gets raw bytes', () => {
    const m = {
      context: { nodeId: 'n', serviceId: 's', taskId: 't' },
      stream: LogStream.LOG_STREAM_STDOUT,
      time: '2026-12-02T10:00:00.123456789Z',
      data: Buffer.from('hi\n'),
    };
    const withTs = logFrame(m, { ...FRAMES, timestamps: true });
    expect(withTs.subarray(8).toString()).toBe(
      '2026-12-02T10:00:00.123456789Z com.docker.swarm.node.id=n,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t hi\n',
    );
    expect(logFrame(m, { timestamps: false, details: false, tty: true }).toString()).toBe('hi\n');
  });

  it('mark a missing task with a stderr line under its own details, and end an incomplete stream with stream 3', () => {
    const missing = { context: { nodeId: 'n3', serviceId: 's', taskId: 't3' }, reason: 'node w1 is down' };
    const f = missingFrame(missing, new Date('2026-12-02T10:00:00Z'), FRAMES);
    expect(f[0]).toBe(2);
    expect(f.subarray(8).toString()).toBe(`${detailsOf(missing.context)} ${MISSING_PREFIX}node w1 is down\n`);
    const end = incompleteFrame([missing, { ...missing, reason: 'other' }]) as Buffer;
    expect(end[0]).toBe(3);
    expect(end.readUInt32BE(4)).toBe(end.length - 8);
    expect(end.subarray(8).toString()).toBe(
      'incomplete log stream: the logs of 1 task could not be retrieved: node w1 is down; other\n',
    );
    expect(incompleteFrame([])).toBeUndefined();
    expect(errorFrame('gone').subarray(8).toString()).toBe('Error grabbing logs: gone\n');
  });
});

describe('the logs query', () => {
  const q = (s: string) => parseLogQuery(new URLSearchParams(s));

  it('reads what the docker CLI sends', () => {
    expect(q('details=1&follow=1&stderr=1&stdout=1&tail=5&timestamps=1')).toEqual({
      options: { follow: true, tail: 5, since: 0, stdout: true, stderr: true },
      timestamps: true,
      details: true,
    });
    expect(q('stdout=1&tail=all').options.tail).toBe(-1);
    expect(q('stdout=1&tail=-3').options.tail).toBe(-1);
    expect(q('stdout=1&since=1700000000.500000000').options.since).toBe(1700000000.5);
    expect(q('stdout=1&since=2026-12-02T10:00:00Z').options.since).toBe(
      Date.parse('2026-12-02T10:00:00Z') / 1000,
    );
  });

  it('refuses bad values naming the parameter', () => {
    const refused = (s: string) => {
      try {
        q(s);
      } catch (err) {
        expect(isShoalError(err, 'invalid_argument')).toBe(true);
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused('tail=5')).toMatch(/at least one stream/);
    expect(refused('stdout=1&tail=five')).toMatch(/invalid tail "five"/);
    expect(refused('stdout=1&since=yesterday')).toMatch(/invalid since "yesterday"/);
    expect(refused('stdout=1&follow=maybe')).toMatch(/invalid follow "maybe"/);
  });
});
