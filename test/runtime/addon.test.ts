// The addon through its one typed face, worker/engine/native.ts: async create and verbs,
// probe, and native failures turned into typed RuntimeErrors.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../worker/engine/errors.js';
import {
  probe,
  RuntimeError,
  runtimeCreate,
  runtimePath,
  runtimeRun,
  runtimeVerb,
} from '../../worker/engine/native.js';
import { ensureFixtures, leftovers, RUNTIME, Sandbox, until } from './helpers.js';

let sb: Sandbox;
beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
});

describe('shoal_native addon', () => {
  it('probes the machine and finds the runtime next to itself', () => {
    const p = probe();
    expect(['v1', 'v2', 'hybrid']).toContain(p.cgroup);
    expect(p.seccomp).toBe(true);
    expect(p.overlay).toBe(true);
    expect(runtimePath()).toBe(RUNTIME);
  });

  it('creates, starts, inspects and deletes through async calls', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sleep', '1000']);
    const pending = runtimeCreate(['--root', sb.root, 'create', '--bundle', bundle, id]);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    await runtimeVerb(['--root', sb.root, 'start', id]);
    const state = JSON.parse(await runtimeVerb(['--root', sb.root, 'state', id]));
    expect(state.status).toBe('running');
    const out = await runtimeRun(['--root', sb.root, 'delete', id]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/not stopped/);
    await runtimeVerb(['--root', sb.root, 'delete', '--force', id]);
    await until(() => leftovers(sb, id).length === 0);
  });

  it('turns runtime failures into typed errors', async () => {
    sb = new Sandbox();
    const missing = sb.bundle(['definitely-not-here']);
    const err = await runtimeCreate([
      '--root',
      sb.root,
      'create',
      '--bundle',
      missing.bundle,
      missing.id,
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.kind).toBe('exec-not-found');
    expect(err.message).toBe('exec "definitely-not-here": executable file not found in $PATH');
    expect(err.exitCode).toBe(1);
    expect(leftovers(sb, missing.id)).toEqual([]);

    const badCap = sb.bundle(['true'], (s) => {
      s.process.capabilities!.bounding = ['CAP_NOPE'];
    });
    const e2 = await runtimeCreate(['--root', sb.root, 'create', '--bundle', badCap.bundle, badCap.id]).catch(
      (e) => e,
    );
    expect(e2.kind).toBe('invalid-spec');
    expect(e2.httpStatus).toBe(400);

    const e3 = await runtimeVerb(['--root', sb.root, 'kill', 'no-such-container']).catch((e) => e);
    expect(e3.kind).toBe('not-found');
    expect(e3.httpStatus).toBe(404);
  });
});
