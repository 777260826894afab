import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { bar, ProgressWriter, snapshot, waitForConvergence } from './service-progress.js';
import type { NodeJson, ServiceJson, TaskJson } from './swarm-format.js';
import { taskRows } from './swarm-format.js';

const svc = (mode: ServiceJson['Spec']['Mode'], update?: ServiceJson['UpdateStatus']): ServiceJson => ({
  ID: 's1',
  Version: { Index: 1 },
  Spec: { Name: 'web', Mode: mode },
  UpdateStatus: update,
});
const node = (ID: string, state = 'ready'): NodeJson => ({
  ID,
  Version: { Index: 1 },
  Spec: {},
  Status: { State: state },
});
let n = 0;
const task = (slot: number, state: string, extra: Partial<TaskJson> = {}): TaskJson => ({
  ID: `t${++n}`,
  Version: { Index: n },
  ServiceID: 's1',
  Slot: slot,
  NodeID: 'n1',
  DesiredState: 'running',
  Status: { State: state },
  ...extra,
});

describe('convergence snapshot (docker’s task counting)', () => {
  it('counts the most advanced live task per slot, ignoring shutdown and extra slots', () => {
    const s = snapshot(
      svc({ Replicated: { Replicas: 2 } }),
      [
        task(1, 'running'),
        task(1, 'failed', { DesiredState: 'shutdown' }),
        task(2, 'preparing'),
        task(2, 'starting'),
        task(3, 'running'),
      ],
      [node('n1')],
    );
    expect(s).toMatchObject({ running: 1, total: 2, converged: false });
    expect(s.lines.map((l) => [l.id, l.action.trim(), l.current])).toEqual([
      ['1/2', 'running', 9],
      ['2/2', 'starting', 8],
    ]);
  });

  it('ignores tasks on down nodes and reports task errors', () => {
    const s = snapshot(
      svc({ Replicated: { Replicas: 2 } }),
      [
        task(1, 'running', { NodeID: 'gone' }),
        task(2, 'pending', { Status: { State: 'pending', Err: 'no suitable node' } }),
      ],
      [node('n1'), node('gone', 'down')],
    );
    expect(s.running).toBe(0);
    expect(s.lines).toEqual([
      { id: '1/2', action: '' },
      { id: '2/2', action: 'no suitable node' },
    ]);
  });

  it('global services count one task per node', () => {
    const s = snapshot(
      svc({ Global: {} }),
      [task(0, 'running', { NodeID: 'aaaaaaaaaaaaaaaa' }), task(0, 'ready', { NodeID: 'bbbbbbbbbbbbbbbb' })],
      [node('aaaaaaaaaaaaaaaa'), node('bbbbbbbbbbbbbbbb')],
    );
    expect(s).toMatchObject({ running: 1, total: 2, converged: false });
    expect(s.lines.map((l) => l.id)).toEqual(['aaaaaaaaaaaa', 'bbbbbbbbbbbb']);
  });

  it('a global service with no task yet is not converged (0 of 0 is a look too early)', () => {
    expect(snapshot(svc({ Global: {} }), [], [node('n1')])).toMatchObject({ total: 0, converged: false });
    expect(snapshot(svc({ Replicated: { Replicas: 0 } }), [], [node('n1')]).converged).toBe(true);
  });

  it('a paused update is an error', () => {
    expect(
      snapshot(svc({ Replicated: { Replicas: 1 } }, { State: 'paused', Message: 'task failed' }), [], [])
        .error,
    ).toBe('service update paused: task failed');
  });
});

describe('progress rendering', () => {
  it('draws docker’s bar and redraws in place on a TTY', () => {
    expect(bar(9)).toBe(`[${'='.repeat(50)}>]`);
    expect(bar(0)).toBe(`[>${' '.repeat(50)}]`);
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const w = new ProgressWriter(out, true);
    w.update('overall progress', '0 out of 1 tasks');
    w.update('1/1', 'running  ', 9);
    w.flush();
    w.update('overall progress', '1 out of 1 tasks');
    w.flush();
    expect(text).toBe(
      '\x1b[2K\roverall progress: 0 out of 1 tasks\n' +
        `\x1b[2K\r1/1: running   [${'='.repeat(50)}>] \n` +
        '\x1b[2A' +
        '\x1b[2K\roverall progress: 1 out of 1 tasks\n' +
        `\x1b[2K\r1/1: running   [${'='.repeat(50)}>] \n`,
    );
  });

  it('prints plain lines only when they change without a TTY', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const w = new ProgressWriter(out, false);
    w.update('1/1', 'preparing', 6);
    w.update('1/1', 'preparing', 6);
    w.update('1/1', 'running  ', 9);
    expect(text).toBe('1/1: preparing\n1/1: running\n');
  });
});

describe('task table rows', () => {
  it('names tasks by slot, newest first, history rows indented', () => {
    const base = { ServiceID: 's1', NodeID: 'n1', Spec: { ContainerSpec: { Image: 'bb:1@sha256:abcd' } } };
    const rows = taskRows(
      [
        {
          ...base,
          ID: 'old0000000000000',
          Version: { Index: 1 },
          Slot: 1,
          CreatedAt: '2026-01-01T00:00:00Z',
          DesiredState: 'shutdown',
          Status: {
            State: 'failed',
            Err: 'task: non-zero exit (1): something went badly wrong',
            Timestamp: '2026-01-01T00:00:00Z',
          },
        },
        {
          ...base,
          ID: 'new0000000000000',
          Version: { Index: 2 },
          Slot: 1,
          CreatedAt: '2026-01-01T00:01:00Z',
          DesiredState: 'running',
          Status: { State: 'running', Timestamp: '2026-01-01T00:01:00Z' },
        },
      ],
      {
        serviceNames: new Map([['s1', 'web']]),
        globalServices: new Set(),
        nodeNames: new Map([['n1', 'vm']]),
        now: Date.parse('2026-01-01T00:01:05Z'),
        table: true,
        trunc: true,
      },
    );
    expect(rows.map((r) => [r.ID, r.Name, r.Image, r.Node, r.DesiredState, r.CurrentState, r.Error])).toEqual(
      [
        ['new000000000', 'web.1', 'bb:1', 'vm', 'Running', 'Running 5 seconds ago', ''],
        [
          'old000000000',
          ' \\_ web.1',
          'bb:1',
          'vm',
          'Shutdown',
          'Failed About a minute ago',
          '"task: non-zero exit (1): some…"',
        ],
      ],
    );
  });
});

describe('waitForConvergence follows the rollout', () => {
  /** A daemon whose answers follow a script: one service state per poll, tasks as given. */
  function fakeCli(states: { update?: ServiceJson['UpdateStatus']; running: number }[]) {
    let i = 0;
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const client = {
      async get<T>(path: string): Promise<T> {
        const s = states[Math.min(i, states.length - 1)];
        if (path.startsWith('/services/')) return svc({ Replicated: { Replicas: 2 } }, s.update) as T;
        if (path === '/tasks') {
          i++;
          return [1, 2].map((slot) => task(slot, slot <= s.running ? 'running' : 'starting')) as T;
        }
        return [node('n1')] as T;
      },
    };
    return { cli: { client, out } as unknown as Parameters<typeof waitForConvergence>[0], text: () => text };
  }

  it('an automatic rollback is announced, counted as rolling back, and its completion closes the display', async () => {
    const rolledBack = 'update rolled back due to failure or early termination of task t9';
    const { cli, text } = fakeCli([
      { update: { State: 'updating', Message: 'update in progress' }, running: 1 },
      { update: { State: 'rollback_started', Message: rolledBack }, running: 1 },
      { update: { State: 'rollback_completed', Message: 'rollback completed' }, running: 2 },
    ]);
    let t = 0;
    await waitForConvergence(cli, 'web', {
      quiet: false,
      tty: false,
      now: () => t,
      sleep: async () => {
        t += 600;
      },
    });
    const lines = text().trim().split('\n');
    expect(lines).toContain(`rollback: ${rolledBack}`);
    expect(lines).toContain('overall progress: rolling back update: 1 out of 2 tasks');
    expect(lines).toContain('overall progress: rolling back update: 2 out of 2 tasks');
    expect(lines.slice(-2)).toEqual(['verify: Service web converged', 'rollback: rollback completed']);
  });

  it('a paused update fails with docker’s message; a completed one seen before convergence ends quietly', async () => {
    const paused = fakeCli([{ update: { State: 'paused', Message: 'update paused due to x' }, running: 1 }]);
    await expect(
      waitForConvergence(paused.cli, 'web', { quiet: false, tty: false, sleep: async () => {} }),
    ).rejects.toThrow('service update paused: update paused due to x');
    const done = fakeCli([{ update: { State: 'completed', Message: 'update completed' }, running: 2 }]);
    await waitForConvergence(done.cli, 'web', { quiet: false, tty: false, sleep: async () => {} });
    expect(done.text()).toBe('');
  });
});
