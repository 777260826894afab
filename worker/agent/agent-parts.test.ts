import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../common/fake-clock.js';
import { SESSION_RETRY_MAX_MS } from '../../common/session-timing.js';
import {
  AssignmentAction,
  type Assignments,
  AssignmentsType,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import { Agent } from './agent.js';
import { AssignedTasks } from './assigned.js';
import type { TaskStatusReport } from './executor-port.js';
import { StatusReporter } from './reporter.js';
import { RetrySchedule, retryDelayMs } from './retry.js';
import { resumable, StateFile } from './state-file.js';
import { RecordingExecutor } from './testkit.js';

const task = (id: string, desired = TaskState.TASK_STATE_RUNNING, image = 'bb') =>
  Task.fromPartial({
    id,
    nodeId: 'n1',
    desiredState: desired,
    spec: { containerSpec: { image } },
    status: { state: TaskState.TASK_STATE_ASSIGNED },
  });
const msg = (type: AssignmentsType, ...changes: [Task, AssignmentAction][]): Assignments => ({
  type,
  appliesTo: '',
  resultsIn: '',
  changes: changes.map(([t, action]) => ({ assignment: { item: { $case: 'task', value: t } }, action })),
});
const UPDATE = AssignmentAction.ASSIGNMENT_ACTION_UPDATE;
const REMOVE = AssignmentAction.ASSIGNMENT_ACTION_REMOVE;
const status = (state: TaskState, timestamp = 1): TaskStatus => ({
  state,
  timestamp,
  message: '',
  err: '',
  containerStatus: undefined,
  portStatus: undefined,
});

describe('assigned tasks', () => {
  it('turn assignment messages into executor calls', () => {
    const ex = new RecordingExecutor();
    const set = new AssignedTasks(ex);
    set.apply(msg(AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE, [task('a'), UPDATE], [task('b'), UPDATE]));
    // Status-only change: nothing; spec change: update; desired SHUTDOWN: shutdown once; gone: remove.
    set.apply(
      msg(
        AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL,
        [{ ...task('a'), status: { ...status(TaskState.TASK_STATE_RUNNING) } }, UPDATE],
        [task('b', TaskState.TASK_STATE_RUNNING, 'bb:2'), UPDATE],
      ),
    );
    set.apply(
      msg(AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL, [task('a', TaskState.TASK_STATE_SHUTDOWN), UPDATE]),
    );
    set.apply(
      msg(AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL, [task('a', TaskState.TASK_STATE_REMOVE), UPDATE]),
    );
    set.apply(msg(AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL, [Task.fromPartial({ id: 'a' }), REMOVE]));
    expect(ex.calls).toEqual([
      ['run', 'a', TaskState.TASK_STATE_RUNNING],
      ['run', 'b', TaskState.TASK_STATE_RUNNING],
      ['update', 'b', TaskState.TASK_STATE_RUNNING],
      ['update', 'a', TaskState.TASK_STATE_SHUTDOWN],
      ['shutdown', 'a'],
      ['update', 'a', TaskState.TASK_STATE_REMOVE],
      ['remove', 'a'],
    ]);
  });

  it('a COMPLETE set removes what it does not list; a new task already meant to stop is run toward SHUTDOWN', () => {
    const ex = new RecordingExecutor();
    const set = new AssignedTasks(ex);
    set.restore({ tasks: [task('old'), task('kept')], statuses: new Map() });
    set.apply(
      msg(
        AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE,
        [task('kept'), UPDATE],
        [task('late', TaskState.TASK_STATE_SHUTDOWN), UPDATE],
      ),
    );
    expect(ex.calls).toEqual([
      ['run', 'old', TaskState.TASK_STATE_RUNNING],
      ['run', 'kept', TaskState.TASK_STATE_RUNNING],
      ['remove', 'old'],
      ['run', 'late', TaskState.TASK_STATE_SHUTDOWN],
    ]);
    expect(set.ids().sort()).toEqual(['kept', 'late']);
    expect(set.observe('old', status(TaskState.TASK_STATE_RUNNING))).toBe(false);
  });
});

describe('status reporter', () => {
  it('coalesces per task, keeps reports until acknowledged, and re-sends them over the next session', async () => {
    const clock = new FakeClock();
    const r = new StatusReporter(clock, { batchMs: 20, retryMs: 100 });
    r.push({ taskId: 't1', status: status(TaskState.TASK_STATE_STARTING) });
    r.push({ taskId: 't1', status: status(TaskState.TASK_STATE_RUNNING, 2) });
    r.push({ taskId: 't1', status: status(TaskState.TASK_STATE_PREPARING, 3) });
    r.push({ taskId: 't2', status: status(TaskState.TASK_STATE_FAILED) });
    const batches: string[][] = [];
    let fail = true;
    r.attach(async (b) => {
      batches.push(b.map((x) => `${x.taskId}:${TaskState[x.status.state]}`));
      if (fail) throw Object.assign(new Error('unavailable'), { code: 14 });
      return [];
    });
    clock.advance(0);
    await Promise.resolve();
    expect(batches).toEqual([['t1:TASK_STATE_RUNNING', 't2:TASK_STATE_FAILED']]);
    expect(r.size).toBe(2);
    r.detach();
    clock.advance(1000);
    expect(batches).toHaveLength(1); // nothing sent without a session
    fail = false;
    r.attach(async (b) => {
      batches.push(b.map((x) => `${x.taskId}:${TaskState[x.status.state]}`));
      return [];
    });
    clock.advance(0);
    await new Promise((res) => setImmediate(res));
    expect(batches[1]).toEqual(['t1:TASK_STATE_RUNNING', 't2:TASK_STATE_FAILED']);
    expect(r.size).toBe(0);
  });

  it('holds a passing state for holdMs: replaced by RUNNING meanwhile, only RUNNING goes; held ones ride along', async () => {
    const clock = new FakeClock();
    const r = new StatusReporter(clock, { batchMs: 2, holdMs: 100 });
    const batches: string[][] = [];
    r.attach(async (b) => {
      batches.push(b.map((x) => `${x.taskId}:${TaskState[x.status.state]}`));
      return [];
    });
    const settle = () => new Promise((res) => setImmediate(res));
    r.push({ taskId: 'fast', status: status(TaskState.TASK_STATE_PREPARING) });
    r.push({ taskId: 'slow', status: status(TaskState.TASK_STATE_PREPARING) });
    clock.advance(50);
    r.push({ taskId: 'fast', status: status(TaskState.TASK_STATE_STARTING) });
    clock.advance(30);
    expect(batches).toEqual([]);
    r.push({ taskId: 'fast', status: status(TaskState.TASK_STATE_RUNNING) });
    clock.advance(2);
    await settle();
    // The slow task's held report went with the batch RUNNING opened.
    expect(batches).toEqual([['fast:TASK_STATE_RUNNING', 'slow:TASK_STATE_PREPARING']]);
    // Held alone, a passing state still goes out after holdMs (counted afresh once the last one went).
    r.push({ taskId: 'slow', status: status(TaskState.TASK_STATE_STARTING) });
    clock.advance(99);
    await settle();
    expect(batches).toHaveLength(1);
    clock.advance(1);
    await settle();
    expect(batches[1]).toEqual(['slow:TASK_STATE_STARTING']);
    expect(r.size).toBe(0);
  });

  it('sends a newer report while a batch is out (two at most); after a failed batch, nothing for retryMs', async () => {
    const clock = new FakeClock();
    const r = new StatusReporter(clock, { batchMs: 2, holdMs: 100, retryMs: 500 });
    const calls: { names: string[]; answer: (fail?: boolean) => void }[] = [];
    r.attach(
      (b) =>
        new Promise((resolve, reject) => {
          calls.push({
            names: b.map((x) => `${x.taskId}:${TaskState[x.status.state]}`),
            answer: (fail) => (fail ? reject(new Error('unavailable')) : resolve([])),
          });
        }),
    );
    const settle = () => new Promise((res) => setImmediate(res));
    r.push({ taskId: 'a', status: status(TaskState.TASK_STATE_FAILED) });
    clock.advance(2);
    r.push({ taskId: 'b', status: status(TaskState.TASK_STATE_RUNNING) });
    clock.advance(2);
    r.push({ taskId: 'c', status: status(TaskState.TASK_STATE_RUNNING) });
    clock.advance(2);
    // Two out, the third waits for an answer.
    expect(calls.map((c) => c.names)).toEqual([['a:TASK_STATE_FAILED'], ['b:TASK_STATE_RUNNING']]);
    calls[0]?.answer(true);
    calls[1]?.answer();
    await settle();
    // After a failure nothing goes for retryMs; then a again, with c.
    clock.advance(499);
    expect(calls).toHaveLength(2);
    clock.advance(1);
    expect(calls[2]?.names).toEqual(['a:TASK_STATE_FAILED', 'c:TASK_STATE_RUNNING']);
    calls[2]?.answer();
    await settle();
    expect(r.size).toBe(0);
  });

  it('drops reports the dispatcher refuses for good', async () => {
    const clock = new FakeClock();
    const r = new StatusReporter(clock, { isPermanent: (e) => (e as { code?: number }).code === 7 });
    r.push({ taskId: 'x', status: status(TaskState.TASK_STATE_RUNNING) });
    r.attach(async () => {
      throw Object.assign(new Error('denied'), { code: 7 });
    });
    clock.advance(20);
    await new Promise((res) => setImmediate(res));
    expect(r.size).toBe(0);
  });
});

describe('state file', () => {
  let dir: string | undefined;
  /** The body of the newest copy on disk (the header line names its sequence number). */
  const newestBody = async (f: StateFile) => {
    const texts = await Promise.all(f.paths.map((p) => readFile(p, 'utf8').catch(() => '')));
    const seq = (t: string) => Number(/seq=(\d+)/.exec(t)?.[1] ?? -1);
    const newest = texts.reduce((a, b) => (seq(b) > seq(a) ? b : a));
    return JSON.parse(newest.slice(newest.indexOf('\n') + 1));
  };
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('round-trips tasks and statuses, atomically replaced; no file is an empty state', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    const f = new StateFile(join(dir, 'sub', 'agent-tasks.json'));
    expect((await f.load()).tasks).toEqual([]);
    const a = f.save({
      tasks: [task('a')],
      statuses: new Map([['a', status(TaskState.TASK_STATE_RUNNING)]]),
    });
    const b = f.save({ tasks: [task('a'), task('b')], statuses: new Map() });
    await Promise.all([a, b]);
    const back = await f.load();
    expect(back.tasks.map((t) => t.id)).toEqual(['a', 'b']);
    expect(back.tasks[1]?.spec?.containerSpec?.image).toBe('bb');
    expect((await newestBody(f)).version).toBe(1);
  });

  it('writes a later state after a write that failed', async () => {
    const base = await mkdtemp(join(tmpdir(), 'shoal-state-'));
    try {
      const dirPath = join(base, 'worker');
      await writeFile(dirPath, 'not a directory');
      const f = new StateFile(join(dirPath, 'agent-tasks.json'));
      const one = { tasks: [task('a')], statuses: new Map() };
      await expect(f.save(one)).rejects.toThrow();
      await rm(dirPath);
      await f.save({ tasks: [task('b')], statuses: new Map() });
      expect((await f.load()).tasks.map((t) => t.id)).toEqual(['b']);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it('keeps statuses, takes a state given as a function when its write starts, and remakes a removed directory', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    const f = new StateFile(join(dir, 'sub', 'agent-tasks.json'));
    const a = task('a');
    const running = status(TaskState.TASK_STATE_RUNNING);
    await f.save({ tasks: [a], statuses: new Map([['a', running]]) });
    let calls = 0;
    const later = () => {
      calls++;
      return { tasks: [a, task('b')], statuses: new Map([['a', running]]) };
    };
    await rm(join(dir, 'sub'), { recursive: true });
    await expect(f.save(later)).rejects.toThrow(/ENOENT/); // the directory went away under it
    await f.save(later); // made again
    expect(calls).toBe(2);
    const back = await f.load();
    expect(back.tasks.map((t) => t.id)).toEqual(['a', 'b']);
    expect(back.statuses.get('a')?.state).toBe(TaskState.TASK_STATE_RUNNING);
    // The same objects again (their JSON is kept): the file is what a fresh encoding gives.
    await f.save({ tasks: [a], statuses: new Map([['a', running]]) });
    expect(await newestBody(f)).toEqual({
      version: 1,
      tasks: [Task.toJSON(a)],
      statuses: { a: TaskStatus.toJSON(running) },
    });
  });

  it('notices a copy kept open whose directory was removed, and writes again after close()', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    const f = new StateFile(join(dir, 'sub', 'agent-tasks.json'));
    const state = (id: string) => ({ tasks: [task(id)], statuses: new Map() });
    await f.save(state('a'));
    await f.save(state('b')); // both copies written, both kept open
    await rm(join(dir, 'sub'), { recursive: true });
    // The next copy to write is the first one, open but unlinked: a write there would be lost.
    await expect(f.save(state('c'))).rejects.toThrow(/was removed/);
    await f.save(state('d'));
    expect((await new StateFile(f.path).load()).tasks.map((t) => t.id)).toEqual(['d']);
    await f.close();
    await f.save(state('e')); // opened again
    await f.close();
    expect((await new StateFile(f.path).load()).tasks.map((t) => t.id)).toEqual(['e']);
  });

  it('with a gap between writes, the changes made meanwhile go out in one write', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    const f = new StateFile(join(dir, 'agent-tasks.json'), 1000);
    let written = 0;
    const state = (ids: string[]) => () => {
      written++;
      return { tasks: ids.map((id) => task(id)), statuses: new Map() };
    };
    await f.save(state(['a']));
    const first = f.save(state(['a', 'b']));
    await new Promise((r) => setTimeout(r, 50)); // without a gap, ['a', 'b'] would be on disk by now
    const second = f.save(state(['c']));
    await Promise.all([first, second]);
    expect(written).toBe(2); // the first, then the latest of those made in its gap
    expect((await f.load()).tasks.map((t) => t.id)).toEqual(['c']);
  });

  it('refuses a corrupt or foreign file, naming it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    const path = join(dir, 'agent-tasks.json');
    await writeFile(path, '{"version": 1, "tasks": [');
    await expect(new StateFile(path).load()).rejects.toThrow(/agent-tasks\.json: is not JSON/);
    await writeFile(path, '{"version": 9, "tasks": []}');
    await expect(new StateFile(path).load()).rejects.toThrow(/format version 9/);
    await writeFile(path, '{"version": 1, "tasks": [{}]}');
    await expect(new StateFile(path).load()).rejects.toThrow(/without an id/);
  });

  it('writes its two copies in turn, in place; a copy cut short is passed over for the other', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    const path = join(dir, 'agent-tasks.json');
    // A file of the earlier format (plain JSON) is read, and kept until the next write's turn comes.
    await writeFile(path, JSON.stringify({ version: 1, tasks: [Task.toJSON(task('old'))], statuses: {} }));
    const f = new StateFile(path);
    expect((await f.load()).tasks.map((t) => t.id)).toEqual(['old']);
    const inodes = async () => Promise.all(f.paths.map(async (p) => (await stat(p)).ino));
    await f.save({ tasks: [task('a')], statuses: new Map() });
    expect(await readFile(`${path}.alt`, 'utf8')).toMatch(
      /^#shoal-agent-state seq=1 sha256=[0-9a-f]{64}\n\{/,
    );
    await f.save({ tasks: [task('b')], statuses: new Map() });
    const before = await inodes();
    await f.save({ tasks: [task('c')], statuses: new Map() });
    await f.save({ tasks: [task('d')], statuses: new Map() });
    // Overwritten in place: the same two files, no temporary one left.
    expect(await inodes()).toEqual(before);
    expect((await readdir(dir)).sort()).toEqual(['agent-tasks.json', 'agent-tasks.json.alt']);
    expect((await new StateFile(path).load()).tasks.map((t) => t.id)).toEqual(['d']);
    // The newest copy (d: a, b, c, d went to .alt, the first, .alt, the first) cut short by a crash: the one
    // before (c) is read.
    const cut = await readFile(path, 'utf8');
    await writeFile(path, cut.slice(0, cut.length - 20));
    const g = new StateFile(path);
    expect((await g.load()).tasks.map((t) => t.id)).toEqual(['c']);
    // The next write goes over the damaged copy, never over the only intact one.
    await g.save({ tasks: [task('e')], statuses: new Map() });
    expect((await new StateFile(path).load()).tasks.map((t) => t.id)).toEqual(['e']);
    await writeFile(`${path}.alt`, 'garbage');
    expect((await new StateFile(path).load()).tasks.map((t) => t.id)).toEqual(['e']);
    await writeFile(path, `${cut.slice(0, 30)}x${cut.slice(31)}`);
    await expect(new StateFile(path).load()).rejects.toThrow(
      /agent-tasks\.json(\.alt)?: (is damaged|is not JSON|has a damaged header)/,
    );
  });

  it('cuts a copy written over a longer one to its length; an old tail left by a crash is refused', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    const path = join(dir, 'agent-tasks.json');
    const f = new StateFile(path);
    const many = ['a', 'b', 'c', 'd', 'e'].map((id) => task(id));
    const [first, alt] = f.paths;
    await f.save({ tasks: many, statuses: new Map() }); // → the first (no copy yet)
    await f.save({ tasks: many, statuses: new Map() }); // → .alt
    const long = (await stat(first)).size;
    await f.save({ tasks: [task('x')], statuses: new Map() }); // over the first, much shorter
    const short = await readFile(first, 'utf8');
    expect(short.length).toBeLessThan(long / 2);
    expect((await new StateFile(path).load()).tasks.map((t) => t.id)).toEqual(['x']);
    // A crash between the write and the cut: the new copy with the old copy's tail behind it.
    const longer = await readFile(alt, 'utf8');
    await writeFile(first, short + longer.slice(short.length));
    expect((await new StateFile(path).load()).tasks.map((t) => t.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});

describe('agent start-up without any manager', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('adopts and resumes its persisted tasks and keeps their reports until a manager takes them', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    await new StateFile(join(dir, 'agent-tasks.json')).save({
      tasks: [task('a'), task('b', TaskState.TASK_STATE_SHUTDOWN)],
      statuses: new Map([['a', status(TaskState.TASK_STATE_RUNNING)]]),
    });
    const restored: string[][] = [];
    const resumedFrom: (TaskState | undefined)[] = [];
    const ex = new (class extends RecordingExecutor {
      async restore(known: Task[]): Promise<TaskStatusReport[]> {
        restored.push(known.map((t) => t.id));
        resumedFrom.push(...known.map((t) => t.status?.state));
        return [{ taskId: 'a', status: status(TaskState.TASK_STATE_FAILED, 5) }];
      }
    })();
    const clock = new FakeClock();
    const logs: string[] = [];
    const agent = new Agent({
      managers: ['127.0.0.1:1'],
      credentials: grpc.credentials.createInsecure(),
      executor: ex,
      describe: () => ({
        hostname: 'h',
        platform: undefined,
        resources: undefined,
        engine: undefined,
        tlsInfo: undefined,
      }),
      stateDir: dir,
      clock,
      log: (m) => logs.push(m),
    });
    await agent.start();
    expect(restored).toEqual([['a', 'b']]);
    // a resumes from what this node last saw of it (RUNNING), not the managers' older copy (ASSIGNED)
    expect(resumedFrom).toEqual([TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_ASSIGNED]);
    expect(ex.calls).toEqual([
      ['run', 'a', TaskState.TASK_STATE_RUNNING],
      ['run', 'b', TaskState.TASK_STATE_SHUTDOWN],
    ]);
    expect(agent.heldTasks().sort()).toEqual(['a', 'b']);
    // a: the container's FAILED beats the persisted RUNNING; b: SHUTDOWN as the executor reported it.
    expect(agent.unacknowledged).toBe(2);
    await agent.stop();
    expect(ex.calls.filter((c) => c[0] === 'remove' || c[0] === 'shutdown')).toEqual([]);
    const saved = await new StateFile(join(dir, 'agent-tasks.json')).load();
    expect(saved.statuses.get('a')?.state).toBe(TaskState.TASK_STATE_FAILED);
  });

  it('keeps what an adopted task reported while the agent was still restoring (a stopped one settled at once)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    // Asked to stop before the restart; its container had exited meanwhile: the executor settles it as
    // SHUTDOWN during restore itself, before the agent holds its tasks again.
    await new StateFile(join(dir, 'agent-tasks.json')).save({
      tasks: [task('gone', TaskState.TASK_STATE_REMOVE)],
      statuses: new Map([['gone', status(TaskState.TASK_STATE_RUNNING)]]),
    });
    const ex = new (class extends RecordingExecutor {
      async restore(): Promise<TaskStatusReport[]> {
        this.report('gone', TaskState.TASK_STATE_SHUTDOWN);
        this.report('stray', TaskState.TASK_STATE_RUNNING); // a container of a task not held: not taken
        return [{ taskId: 'gone', status: status(TaskState.TASK_STATE_RUNNING) }];
      }
    })();
    const agent = new Agent({
      managers: ['127.0.0.1:1'],
      credentials: grpc.credentials.createInsecure(),
      executor: ex,
      describe: () => ({
        hostname: 'h',
        platform: undefined,
        resources: undefined,
        engine: undefined,
        tlsInfo: undefined,
      }),
      stateDir: dir,
      clock: new FakeClock(),
      log: () => {},
    });
    await agent.start();
    expect(agent.heldTasks()).toEqual(['gone']);
    expect(agent.unacknowledged).toBe(1);
    await agent.stop();
    const saved = await new StateFile(join(dir, 'agent-tasks.json')).load();
    expect(saved.statuses.get('gone')?.state).toBe(TaskState.TASK_STATE_SHUTDOWN);
    expect(saved.statuses.has('stray')).toBe(false);
  });

  it('needs at least one manager address', () => {
    expect(
      () =>
        new Agent({
          managers: [],
          credentials: grpc.credentials.createInsecure(),
          executor: new RecordingExecutor(),
          describe: () => ({
            hostname: 'h',
            platform: undefined,
            resources: undefined,
            engine: undefined,
            tlsInfo: undefined,
          }),
          stateDir: '/nonexistent',
        }),
    ).toThrow(/managers: at least one/);
  });
});

describe('retryDelayMs', () => {
  it('doubles from 100 ms per failure in a row, randomised to half or more', () => {
    expect([1, 2, 3, 4].map((f) => retryDelayMs(f, undefined, 1))).toEqual([100, 200, 400, 800]);
    expect(retryDelayMs(3, undefined, 0)).toBe(200);
    expect(retryDelayMs(2, { initialMs: 50, maxMs: 500 }, 1)).toBe(100);
  });

  it('never waits longer than the ceiling the dispatcher counts on, whatever the options say', () => {
    expect(retryDelayMs(30, undefined, 1)).toBe(SESSION_RETRY_MAX_MS);
    expect(retryDelayMs(30, { maxMs: 60_000 }, 1)).toBe(SESSION_RETRY_MAX_MS);
    expect(retryDelayMs(30, { maxMs: 500 }, 1)).toBe(500);
    expect(retryDelayMs(0, undefined, 1)).toBe(100);
  });
});

describe('RetrySchedule', () => {
  it('walks the list with short waits; only a whole pass that failed makes the wait grow', () => {
    const r = new RetrySchedule();
    const waits = Array.from({ length: 9 }, () => r.next(3, false, 1));
    expect(waits).toEqual([100, 100, 100, 100, 100, 200, 100, 100, 400]);
    // A session that had started: afresh, whatever came before.
    expect(r.next(3, true, 1)).toBe(100);
    // (that session's end was the first attempt of a pass)
    expect(Array.from({ length: 5 }, () => r.next(3, false, 1))).toEqual([100, 100, 100, 100, 200]);
    // One manager: every attempt is a pass.
    const one = new RetrySchedule({ initialMs: 50 });
    expect([1, 2, 3].map(() => one.next(1, false, 0))).toEqual([25, 50, 100]);
  });

  it('tries every manager of the list within one ceiling wait plus one pass, whatever failed before', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 40, maxLength: 200 }),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 200 }),
        (n, randoms, starts) => {
          // Every attempt fails at once (a refused connection), some after a session had started; the
          // cursor moves one manager on each time, as the agent's does.
          const r = new RetrySchedule();
          const last = new Map<number, number>();
          let now = 0;
          for (const [i, random] of randoms.entries()) {
            const m = i % n;
            const prev = last.get(m);
            if (prev !== undefined)
              // (a thousandth of a millisecond for the sums of fractional waits: 8000.000000000002)
              expect(now - prev).toBeLessThanOrEqual(SESSION_RETRY_MAX_MS + (n - 1) * 100 + 1e-3);
            last.set(m, now);
            now += r.next(n, starts[i] ?? false, random);
          }
        },
      ),
    );
  });
});

describe('resumable', () => {
  it('gives each saved task the last status observed when it is further on than the managers’ copy', () => {
    const stopped = task('stopped', TaskState.TASK_STATE_SHUTDOWN);
    const behind = { ...task('behind'), status: status(TaskState.TASK_STATE_RUNNING) };
    const got = resumable({
      tasks: [stopped, behind, task('unseen')],
      statuses: new Map([
        ['stopped', status(TaskState.TASK_STATE_SHUTDOWN)],
        ['behind', status(TaskState.TASK_STATE_PREPARING)], // an older observation never wins
        ['gone', status(TaskState.TASK_STATE_RUNNING)], // a status of a task no longer held adds nothing
      ]),
    });
    expect(got.map((t) => [t.id, t.status?.state])).toEqual([
      ['stopped', TaskState.TASK_STATE_SHUTDOWN],
      ['behind', TaskState.TASK_STATE_RUNNING],
      ['unseen', TaskState.TASK_STATE_ASSIGNED],
    ]);
    expect(got[0].desiredState).toBe(TaskState.TASK_STATE_SHUTDOWN);
  });
});

describe('a session that does not start', () => {
  it('is given up after the start timeout, and the next attempt opens a new connection', async () => {
    // A manager whose packets vanish: it takes the connection and never answers.
    const sockets: Socket[] = [];
    const server = createServer((sock) => {
      sockets.push(sock);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const dir = await mkdtemp(join(tmpdir(), 'shoal-agent-'));
    const clock = new FakeClock();
    const logs: string[] = [];
    const agent = new Agent({
      managers: [`127.0.0.1:${port}`],
      credentials: grpc.credentials.createInsecure(),
      executor: new RecordingExecutor(),
      describe: () => ({
        hostname: 'h',
        platform: undefined,
        resources: undefined,
        engine: undefined,
        tlsInfo: undefined,
      }),
      stateDir: dir,
      clock,
      random: () => 1,
      sessionStartTimeoutMs: 3000,
      log: (m, e) => logs.push(`${m}: ${(e as Error)?.message ?? ''}`),
    });
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
      if (!ok()) throw new Error(`no ${what}`);
    };
    try {
      await agent.start();
      await until('first connection', () => sockets.length === 1);
      clock.advance(2900);
      await new Promise((r) => setTimeout(r, 100));
      expect(sockets.length).toBe(1);
      expect(agent.state).toBe('connecting');
      clock.advance(100); // the start timeout
      await until('the attempt given up', () => logs.some((l) => /no session with .* after 3000 ms/.test(l)));
      clock.advance(100); // the backoff
      await until('a second connection', () => sockets.length === 2);
    } finally {
      await agent.stop();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
