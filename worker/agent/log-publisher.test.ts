import { describe, expect, it } from 'vitest';
import { ShoalError } from '../../common/errors.js';
import type { LogSubscription, PublishLogsMessage } from '../../proto/gen/shoal/logbroker/v1/logbroker.js';
import { LogPublisher, type PublishStream, type TaskLogEntry, type TaskLogOptions } from './log-publisher.js';

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

class Stream implements PublishStream {
  written: PublishLogsMessage[] = [];
  ended = false;
  cancelled = false;
  write(m: PublishLogsMessage) {
    this.written.push(m);
    return true;
  }
  end() {
    this.ended = true;
  }
  cancel() {
    this.cancelled = true;
  }
  once() {
    return this;
  }
  get lines() {
    return this.written.flatMap((m) => m.messages.map((x) => `${x.context?.taskId}: ${Buffer.from(x.data)}`));
  }
}

const entry = (text: string): TaskLogEntry => ({
  stream: 'stdout',
  time: '2026-12-02T10:00:00Z',
  line: Buffer.from(text),
});

/** Task logs by hand: fixed lines, a task with no container, one that fails, one that follows until aborted. */
function source(seen: TaskLogOptions[]) {
  return (taskId: string, opts: TaskLogOptions): AsyncIterable<TaskLogEntry> => {
    seen.push(opts);
    if (taskId === 'gone') throw new ShoalError('not_found', 'no container of task gone on this node');
    return (async function* () {
      if (taskId === 'broken') throw new Error('disk on fire');
      yield entry(`${taskId} 1`);
      yield entry(`${taskId} 2`);
      if (!opts.follow) return;
      await new Promise<void>((r) => opts.signal.addEventListener('abort', () => r(), { once: true }));
    })();
  };
}

const sub = (tasks: string[], extra: Partial<LogSubscription> = {}): LogSubscription => ({
  id: 'sub1',
  follow: false,
  stdout: true,
  stderr: true,
  tasks: tasks.map((taskId) => ({ taskId, serviceId: 'svc', tail: -1, since: 0 })),
  close: false,
  ...extra,
});

describe('agent log publisher', () => {
  it('reads each task, publishes its lines, reports a failed read missing, skips a task with no container, then closes', async () => {
    const seen: TaskLogOptions[] = [];
    const p = new LogPublisher(source(seen), () => {});
    const s = new Stream();
    p.handle(
      {
        ...sub(['t1', 'gone', 'broken']),
        tasks: [{ taskId: 't1', serviceId: 'svc', tail: 5, since: 12.5 }, ...sub(['gone', 'broken']).tasks],
      },
      () => s,
    );
    await settle();
    expect(s.written[0]).toEqual({ subscriptionId: 'sub1', messages: [], missing: [], close: false });
    expect(s.lines).toEqual(['t1: t1 1', 't1: t1 2']);
    expect(s.written.flatMap((m) => m.missing.map((x) => `${x.context?.taskId}: ${x.reason}`))).toEqual([
      'broken: reading the logs failed: disk on fire',
    ]);
    expect(s.written.at(-1)?.close).toBe(true);
    expect(s.ended).toBe(true);
    expect(seen[0]).toMatchObject({ follow: false, tail: 5, since: 12.5, stdout: true, stderr: true });
    expect(p.size).toBe(0);
  });

  it('with follow keeps reading, takes more tasks under the same id, and stops on close', async () => {
    const seen: TaskLogOptions[] = [];
    const p = new LogPublisher(source(seen), () => {});
    const s = new Stream();
    let opened = 0;
    const open = () => {
      opened++;
      return s;
    };
    p.handle(sub(['t1'], { follow: true }), open);
    await settle();
    p.handle(sub(['t1', 't2'], { follow: true }), open);
    // Followed lines leave in batches (a 10 ms window): wait for them.
    for (let i = 0; i < 200 && s.lines.length < 4; i++) await new Promise((r) => setTimeout(r, 5));
    expect(opened).toBe(1);
    expect(s.lines.sort()).toEqual(['t1: t1 1', 't1: t1 2', 't2: t2 1', 't2: t2 2']);
    expect(s.ended).toBe(false);
    p.handle(sub([], { close: true }), open);
    expect(s.ended).toBe(true);
    expect(seen.every((o) => o.signal.aborted)).toBe(true);
    expect(s.written.some((m) => m.close)).toBe(false);
  });

  it('the session’s end drops every subscription and cancels its stream', async () => {
    const seen: TaskLogOptions[] = [];
    const p = new LogPublisher(source(seen), () => {});
    const s = new Stream();
    p.handle(sub(['t1'], { follow: true }), () => s);
    await settle();
    p.abandonAll();
    expect(s.cancelled).toBe(true);
    expect(seen[0]?.signal.aborted).toBe(true);
    expect(p.size).toBe(0);
  });

  it('a broken publish stream stops the reads', async () => {
    const seen: TaskLogOptions[] = [];
    const logged: string[] = [];
    const p = new LogPublisher(source(seen), (m) => logged.push(m));
    const s = new Stream();
    let done: ((err?: Error) => void) | undefined;
    p.handle(sub(['t1'], { follow: true }), (d) => {
      done = d;
      return s;
    });
    await settle();
    done?.(new Error('refused'));
    expect(seen[0]?.signal.aborted).toBe(true);
    expect(p.size).toBe(0);
    expect(logged[0]).toMatch(/publishing logs of subscription sub1 ended/);
  });
});
