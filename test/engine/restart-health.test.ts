// Restart policies and health checks at the engine's own API with real containers: the image's
// HEALTHCHECK runs (and NONE turns it off), a kill with another signal keeps `always` restarting but
// stops `unless-stopped`, and a manager closed mid back-off starts the container when opened again.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerManager, EngineEvent } from '../../worker/engine/index.js';
import { type Env, ensureFixture, makeEnv, ROOTFS } from './helpers.js';

ensureFixture();
let env: Env | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// SigCgt in /proc/PID/status is a hex mask of caught signals; SIGHUP is signal 1 (bit 0).
function catchesHup(pid: number): boolean {
  try {
    const m = /SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

const image = (Healthcheck?: object) => {
  const top = mkdtempSync('/tmp/se-top-');
  return { top, rootfs: { layers: [top, ROOTFS], imageConfig: { Healthcheck } } };
};

describe('engine health checks', () => {
  it("runs the image's HEALTHCHECK; the container's NONE turns it off", async () => {
    env = makeEnv();
    const m = await env.open();
    const events: EngineEvent[] = [];
    m.on('event', (e) => events.push(e));
    const img = image({ Test: ['CMD', 'true'], Interval: 100e6 });
    try {
      const a = await m.create({ rootfs: img.rootfs, cmd: ['sleep', '100'] });
      await m.start(a.id);
      expect(m.inspect(a.id).state.health?.status).toBe('starting');
      await until(() => m.inspect(a.id).state.health?.status === 'healthy', 'healthy');
      const log = m.inspect(a.id).state.health?.log ?? [];
      // Finished probes are not listed as the container's execs (as dockerd).
      expect(m.inspect(a.id).execIds.length).toBeLessThanOrEqual(1);
      expect(log[0]).toMatchObject({ exitCode: 0, output: '' });
      expect(
        events.filter((e) => e.id === a.id && e.action.startsWith('health_status')).map((e) => e.action),
      ).toEqual(['health_status: healthy']);

      const b = await m.create({
        rootfs: img.rootfs,
        cmd: ['sleep', '100'],
        healthcheck: { test: ['NONE'] },
      });
      await m.start(b.id);
      await new Promise((r) => setTimeout(r, 400));
      expect(m.inspect(b.id).state.health).toBeUndefined();
      expect(m.inspect(b.id).execIds).toEqual([]);
    } finally {
      for (const c of m.list({ all: true })) await m.remove(c.id, { force: true });
      rmSync(img.top, { recursive: true, force: true });
    }
  });
});

describe('engine restart policies', () => {
  const loop = (m: ContainerManager, name: string, policy: 'always' | 'unless-stopped') =>
    m.create({
      name,
      rootfs: { dir: ROOTFS },
      // Runs until signalled (a short-lived command could end on its own before the kill under load).
      cmd: ['sh', '-c', 'trap "exit 9" HUP; while :; do sleep 1 & wait; done'],
      restartPolicy: { name: policy, maximumRetryCount: 0 },
    });

  it('a kill with another signal: always restarts, unless-stopped does not', async () => {
    env = makeEnv();
    const m = await env.open();
    const a = await loop(m, 'alw', 'always');
    const u = await loop(m, 'unl', 'unless-stopped');
    await m.start(a.id);
    await m.start(u.id);
    for (const id of [a.id, u.id]) {
      // HUP only once the shell catches it, or it dies of the signal (129) instead of exiting 9.
      await until(() => catchesHup(m.inspect(id).state.pid), 'the trap set');
      const exited = m.wait(id, 'next-exit');
      await m.kill(id, 'HUP');
      expect((await exited).exitCode).toBe(9);
    }
    await until(() => m.inspect(a.id).restartCount >= 1, 'a restarted');
    await until(() => m.inspect(u.id).state.status === 'exited', 'u exited');
    expect(m.inspect(u.id).restartCount).toBe(0);
  });

  it('a manager closed during a back-off starts the container when it opens again, count kept', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sh', '-c', 'exit 4'],
      restartPolicy: { name: 'on-failure', maximumRetryCount: 50 },
    });
    await m.start(id);
    // After a few quick failures the back-off is long enough to close the manager inside one.
    await until(
      () => m.inspect(id).restartCount >= 4 && m.inspect(id).state.status === 'restarting',
      'a back-off',
    );
    const count = m.inspect(id).restartCount;
    await m.close();
    const m2 = await env.open();
    expect(m2.inspect(id).restartCount).toBeGreaterThanOrEqual(count);
    await until(() => m2.inspect(id).restartCount > count, 'restarted by the new manager');
    await m2.stop(id);
    expect(m2.inspect(id).state).toMatchObject({ status: 'exited', restarting: false });
  });
});
