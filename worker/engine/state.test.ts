import { describe, expect, it } from 'vitest';
import {
  createdState,
  exitedState,
  isAlive,
  rfc3339Nano,
  runningState,
  waitResult,
  ZERO_TIME,
} from './state.js';

const now = new Date('2026-01-02T03:04:05.678Z');

describe('container state', () => {
  it('formats times as docker does', () => {
    expect(rfc3339Nano(now)).toBe('2026-01-02T03:04:05.678000000Z');
  });
  it('moves created → running → exited', () => {
    const c = createdState();
    expect(c).toMatchObject({
      status: 'created',
      running: false,
      startedAt: ZERO_TIME,
      finishedAt: ZERO_TIME,
    });
    expect(isAlive(c)).toBe(false);
    const r = runningState(42, 'T1');
    expect(r).toMatchObject({ status: 'running', running: true, pid: 42, startedAt: 'T1', exitCode: 0 });
    expect(isAlive(r)).toBe(true);
    expect(isAlive({ ...r, status: 'paused', paused: true })).toBe(true);
    const e = exitedState(
      { ...r, paused: true },
      { exitCode: 3, signal: null, oomKilled: false, finishedAt: 'T2' },
      now,
    );
    expect(e).toMatchObject({
      status: 'exited',
      running: false,
      paused: false,
      pid: 0,
      exitCode: 3,
      startedAt: 'T1',
      finishedAt: 'T2',
    });
    expect(waitResult(e)).toEqual({ exitCode: 3, signal: null, oomKilled: false });
  });
  it('reports a signal death as 128+N and keeps errors', () => {
    const r = runningState(1, 'T1');
    expect(
      exitedState(r, { exitCode: 0, signal: 'SIGKILL', oomKilled: true, finishedAt: '' }, now),
    ).toMatchObject({
      exitCode: 137,
      oomKilled: true,
      finishedAt: rfc3339Nano(now),
    });
    expect(
      exitedState(r, { exitCode: 143, signal: 'SIGTERM', oomKilled: false, finishedAt: 'x' }, now).exitCode,
    ).toBe(143);
    const lost = exitedState(
      r,
      { exitCode: 255, signal: null, oomKilled: false, finishedAt: 'x', error: 'gone' },
      now,
    );
    expect(waitResult(lost)).toEqual({ exitCode: 255, signal: null, oomKilled: false, error: 'gone' });
  });
});
