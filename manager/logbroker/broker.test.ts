import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import { FakeClock } from '../../common/fake-clock.js';
import {
  LogStream,
  type LogSubscription,
  type SubscribeLogsMessage,
} from '../../proto/gen/shoal/logbroker/v1/logbroker.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { makeNode, makeService, makeTask, storeOnMemoryLog } from '../store/testkit.js';
import { LogBroker, type SessionPort } from './broker.js';

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

/** The dispatcher's sessions, by hand: which nodes have one, what each was sent. */
class Sessions implements SessionPort {
  open = new Set<string>();
  sent: { nodeId: string; sub: LogSubscription }[] = [];
  private listeners = new Set<(nodeId: string, open: boolean) => void>();
  hasSession(nodeId: string) {
    return this.open.has(nodeId);
  }
  send(nodeId: string, sub: LogSubscription) {
    if (!this.open.has(nodeId)) return false;
    this.sent.push({ nodeId, sub });
    return true;
  }
  onSessionChange(l: (nodeId: string, open: boolean) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(nodeId: string, open: boolean) {
    if (open) this.open.add(nodeId);
    else this.open.delete(nodeId);
    for (const l of this.listeners) l(nodeId, open);
  }
  to(nodeId: string) {
    return this.sent.filter((s) => s.nodeId === nodeId).map((s) => s.sub);
  }
}

class Sink {
  batches: SubscribeLogsMessage[] = [];
  ended = false;
  error: ShoalError | undefined;
  /** A reader that is behind: send answers false until drain() is called. */
  full = false;
  private release: (() => void) | undefined;
  send(b: SubscribeLogsMessage) {
    this.batches.push(b);
    return !this.full;
  }
  drained() {
    return new Promise<void>((r) => {
      this.release = r;
    });
  }
  drain() {
    this.full = false;
    this.release?.();
  }
  end(err?: ShoalError) {
    this.ended = true;
    this.error = err;
  }
  get lines() {
    return this.batches.flatMap((b) =>
      b.messages.map(
        (m) => `${m.context?.nodeId}/${m.context?.taskId}: ${Buffer.from(m.data).toString().trimEnd()}`,
      ),
    );
  }
  get missing() {
    return this.batches.flatMap((b) => b.missing.map((m) => `${m.context?.taskId}: ${m.reason}`));
  }
}

const running = (id: string, slot: number, nodeId: string) => {
  const t = makeTask(id, 'svc1', slot, nodeId);
  return { ...t, status: { ...t.status!, state: TaskState.TASK_STATE_RUNNING } };
};

const line = (taskId: string, text: string, time = '2026-12-02T10:00:00.5Z') => ({
  context: { nodeId: 'forged', serviceId: 'forged', taskId },
  stream: LogStream.LOG_STREAM_STDOUT,
  time,
  data: Buffer.from(`${text}\n`),
});

const ALL = { follow: false, tail: -1, since: 0, stdout: true, stderr: true };

async function setup() {
  const { store } = storeOnMemoryLog();
  await store.update((tx) => {
    tx.create('service', makeService('svc1', 'web', 3));
    for (const n of ['n1', 'n2', 'n3']) tx.create('node', makeNode(n, `host-${n}`));
    tx.create('task', running('t1', 1, 'n1'));
    tx.create('task', running('t2', 2, 'n2'));
    tx.create('task', running('t3', 3, 'n3'));
  });
  const sessions = new Sessions();
  for (const n of ['n1', 'n2']) sessions.open.add(n);
  const clock = new FakeClock();
  let ids = 0;
  const broker = new LogBroker(store, sessions, { clock, newId: () => `sub${++ids}`, answerTimeoutMs: 5000 });
  broker.start();
  return { store, sessions, clock, broker };
}

describe('log broker', () => {
  it('asks each node with a session for its tasks, reports the others missing at once, ends when all closed', async () => {
    const { sessions, broker } = await setup();
    const sink = new Sink();
    broker.subscribe({ selector: { serviceIds: ['svc1'], taskIds: [] }, options: ALL }, sink);
    expect(sink.missing).toEqual(['t3: node host-n3 has no session with the managers']);
    expect(sessions.to('n1').map((s) => s.tasks.map((t) => t.taskId))).toEqual([['t1']]);
    expect(sessions.to('n2').map((s) => s.tasks.map((t) => t.taskId))).toEqual([['t2']]);
    expect(sessions.to('n1')[0]).toMatchObject({ id: 'sub1', follow: false, stdout: true, stderr: true });

    const p1 = broker.publish('n1', 'sub1');
    p1.push({ subscriptionId: 'sub1', messages: [line('t1', 'one')], missing: [], close: false });
    // The context is the broker's own (the store's), never what the node claims.
    expect(sink.lines).toEqual(['n1/t1: one']);
    expect(sink.batches.at(-1)?.messages[0]?.context?.serviceId).toBe('svc1');
    p1.push({ subscriptionId: '', messages: [], missing: [], close: true });
    expect(sink.ended).toBe(false); // n2 still reading
    const p2 = broker.publish('n2', 'sub1');
    p2.push({ subscriptionId: 'sub1', messages: [line('t2', 'two')], missing: [], close: true });
    expect(sink.lines).toEqual(['n1/t1: one', 'n2/t2: two']);
    expect(sink.ended).toBe(true);
    expect(sink.error).toBeUndefined();
    expect(broker.size).toBe(0);
  });

  it('a reader that is behind pauses the nodes’ publish streams until it drained', async () => {
    const { broker } = await setup();
    const sink = new Sink();
    broker.subscribe({ selector: { serviceIds: ['svc1'], taskIds: [] }, options: ALL }, sink);
    const flow = {
      paused: 0,
      resumed: 0,
      pause() {
        this.paused++;
      },
      resume() {
        this.resumed++;
      },
    };
    const p1 = broker.publish('n1', 'sub1', flow);
    p1.push({ subscriptionId: 'sub1', messages: [line('t1', 'a')], missing: [], close: false });
    expect(flow.paused).toBe(0);
    sink.full = true;
    p1.push({ subscriptionId: 'sub1', messages: [line('t1', 'b')], missing: [], close: false });
    expect(flow.paused).toBe(1);
    // A stream opened while paused starts paused.
    const flow2 = {
      paused: 0,
      resumed: 0,
      pause() {
        this.paused++;
      },
      resume() {
        this.resumed++;
      },
    };
    broker.publish('n2', 'sub1', flow2);
    expect(flow2.paused).toBe(1);
    sink.drain();
    await settle();
    expect([flow.resumed, flow2.resumed]).toEqual([1, 1]);
    expect(sink.lines).toEqual(['n1/t1: a', 'n1/t1: b']);
  });

  it('a node publishing a task it was not given, or a subscription it was not asked for, is refused', async () => {
    const { broker } = await setup();
    const sink = new Sink();
    broker.subscribe({ selector: { serviceIds: ['svc1'], taskIds: [] }, options: ALL }, sink);
    const p1 = broker.publish('n1', 'sub1');
    let refused: unknown;
    try {
      p1.push({ subscriptionId: 'sub1', messages: [line('t2', 'forged')], missing: [], close: false });
    } catch (err) {
      refused = err;
    }
    expect(isShoalError(refused, 'permission_denied')).toBe(true);
    expect(sink.lines).toEqual([]);
    expect(() => broker.publish('n3', 'sub1')).toThrow(/not asked/);
    expect(() => broker.publish('n1', 'nope')).toThrow(/is over/);
  });

  it('a node that loses its session mid-stream is reported missing and the subscription still ends', async () => {
    const { sessions, broker } = await setup();
    const sink = new Sink();
    broker.subscribe({ selector: { serviceIds: ['svc1'], taskIds: [] }, options: ALL }, sink);
    broker.publish('n1', 'sub1').push({ subscriptionId: 'sub1', messages: [], missing: [], close: true });
    broker
      .publish('n2', 'sub1')
      .push({ subscriptionId: 'sub1', messages: [line('t2', 'a')], missing: [], close: false });
    sessions.set('n2', false);
    expect(sink.missing).toEqual([
      't3: node host-n3 has no session with the managers',
      't2: node host-n2 lost its session with the managers',
    ]);
    expect(sink.ended).toBe(true);
  });

  it('a node with a session that never starts publishing is given up after the answer timeout', async () => {
    const { broker, clock } = await setup();
    const sink = new Sink();
    broker.subscribe({ selector: { serviceIds: [], taskIds: ['t1'] }, options: ALL }, sink);
    clock.advance(4999);
    expect(sink.ended).toBe(false);
    clock.advance(1);
    expect(sink.missing).toEqual(['t1: node host-n1 did not answer within 5 s']);
    expect(sink.ended).toBe(true);
  });

  it('a broken publish stream makes its tasks missing', async () => {
    const { broker, clock } = await setup();
    const sink = new Sink();
    broker.subscribe({ selector: { serviceIds: [], taskIds: ['t1'] }, options: ALL }, sink);
    broker.publish('n1', 'sub1').end(new Error('reset'));
    clock.advance(1000);
    expect(sink.missing).toEqual(['t1: node host-n1 stopped sending logs: reset']);
    expect(sink.ended).toBe(true);
  });

  it('follow: new tasks join, a lost node is missing, and when it is back it is asked from after its last line', async () => {
    const { store, sessions, broker } = await setup();
    const sink = new Sink();
    const cancel = broker.subscribe(
      { selector: { serviceIds: ['svc1'], taskIds: [] }, options: { ...ALL, follow: true, tail: 10 } },
      sink,
    );
    broker.publish('n1', 'sub1').push({
      subscriptionId: 'sub1',
      messages: [line('t1', 'x', '2026-12-02T10:00:07.25Z')],
      missing: [],
      close: false,
    });
    // A new task of the service: asked for once it has a container, all of its lines.
    await store.update((tx) => tx.create('task', makeTask('t4', 'svc1', 4, 'n2')));
    await settle();
    expect(sessions.to('n2').flatMap((s) => s.tasks.map((t) => t.taskId))).toEqual(['t2']);
    await store.update((tx) => {
      const t = tx.get('task', 't4')!;
      tx.update('task', { ...t, status: { ...t.status!, state: TaskState.TASK_STATE_RUNNING } });
    });
    await settle();
    expect(sessions.to('n2').at(-1)?.tasks).toEqual([
      { taskId: 't4', serviceId: 'svc1', tail: -1, since: 0 },
    ]);

    sessions.set('n1', false);
    expect(sink.missing.at(-1)).toBe('t1: node host-n1 lost its session with the managers');
    expect(sink.ended).toBe(false);
    sessions.set('n1', true);
    const again = sessions.to('n1').at(-1);
    expect(again?.tasks[0]?.taskId).toBe('t1');
    expect(again?.tasks[0]?.tail).toBe(-1);
    expect(again?.tasks[0]?.since).toBeCloseTo(Date.parse('2026-12-02T10:00:07.25Z') / 1000, 3);

    cancel();
    expect(sessions.to('n1').at(-1)?.close).toBe(true);
    expect(sessions.to('n2').at(-1)?.close).toBe(true);
    expect(broker.size).toBe(0);

    // The store watch stopped with the last followed subscription; the next one starts it again.
    broker.subscribe(
      { selector: { serviceIds: ['svc1'], taskIds: [] }, options: { ...ALL, follow: true } },
      new Sink(),
    );
    await store.update((tx) => tx.create('task', running('t5', 5, 'n1')));
    await settle();
    expect(
      sessions
        .to('n1')
        .at(-1)
        ?.tasks.map((t) => t.taskId),
    ).toEqual(['t5']);
  });

  it('follow ends when the service is removed; stop ends every subscription unavailable', async () => {
    const { store, broker } = await setup();
    const a = new Sink();
    broker.subscribe(
      { selector: { serviceIds: ['svc1'], taskIds: [] }, options: { ...ALL, follow: true } },
      a,
    );
    await store.update((tx) => tx.remove('service', 'svc1'));
    await settle();
    expect(a.ended).toBe(true);
    const b = new Sink();
    broker.subscribe({ selector: { serviceIds: [], taskIds: ['t1'] }, options: { ...ALL, follow: true } }, b);
    broker.stop();
    expect(isShoalError(b.error, 'unavailable')).toBe(true);
  });

  it('refuses an empty selector, no stream, and a manager that does not lead', async () => {
    const { broker } = await setup();
    const sink = new Sink();
    expect(() => broker.subscribe({ selector: { serviceIds: [], taskIds: [] }, options: ALL }, sink)).toThrow(
      /selector/,
    );
    expect(() =>
      broker.subscribe(
        {
          selector: { serviceIds: ['svc1'], taskIds: [] },
          options: { ...ALL, stdout: false, stderr: false },
        },
        sink,
      ),
    ).toThrow(/at least one stream/);
    broker.stop();
    expect(() =>
      broker.subscribe({ selector: { serviceIds: ['svc1'], taskIds: [] }, options: ALL }, sink),
    ).toThrow(/not the leader/);
    expect(sink.batches).toEqual([]);
  });
});
