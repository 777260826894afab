import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../errors.js';
import { VolumeStore } from './store.js';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function open(dataRoot?: string, users: Record<string, string[]> = {}) {
  const root = dataRoot ?? mkdtempSync(join(tmpdir(), 'shoal-volstore-'));
  if (!dataRoot) dirs.push(root);
  let n = 0;
  const store = new VolumeStore({
    dataRoot: root,
    now: () => new Date('2026-12-02T10:00:00.123Z'),
    randomName: () => (++n).toString(16).padStart(64, '0'),
    usersOf: (name) => users[name] ?? [],
  });
  return { root, store };
}

describe('VolumeStore', () => {
  it('creates once per name (concurrent creates share it), with metadata on disk, and reloads it', async () => {
    const { root, store } = open();
    const [a, b] = await Promise.all([
      store.create({ name: 'data', labels: { k: 'v' } }),
      store.create({ name: 'data' }),
    ]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(a.volume).toEqual(b.volume);
    expect(a.volume).toMatchObject({
      name: 'data',
      driver: 'local',
      mountpoint: join(root, 'volumes/data/_data'),
      createdAt: '2026-12-02T10:00:00Z',
      labels: { k: 'v' },
      anonymous: false,
    });
    expect(statSync(join(root, 'volumes')).mode & 0o777).toBe(0o700);
    const anon = (await store.create()).volume;
    expect(anon).toMatchObject({ anonymous: true, labels: { 'com.docker.volume.anonymous': '' } });
    expect(anon.name).toMatch(/^[0-9a-f]{64}$/);
    // a create cut short before its metadata is cleared at the next open
    mkdirSync(join(root, 'volumes/halfmade/_data'), { recursive: true });
    mkdirSync(join(root, 'volumes/data/_data.copy-0a1b/etc'), { recursive: true });
    const again = open(root).store;
    expect(again.list().map((v) => v.name)).toEqual([anon.name, 'data']);
    expect(again.get('data').labels).toEqual({ k: 'v' });
    expect(existsSync(join(root, 'volumes/halfmade'))).toBe(false);
    expect(readdirSync(join(root, 'volumes/data')).sort()).toEqual(['_data', 'volume.json']);
  });

  it('refuses other drivers, options and bad names, and leaves nothing', async () => {
    const { root, store } = open();
    await expect(store.create({ name: 'v1', driver: 'nfs' })).rejects.toMatchObject({ field: 'Driver' });
    await expect(store.create({ name: 'v1', driverOpts: { type: 'tmpfs' } })).rejects.toMatchObject({
      field: 'DriverOpts',
    });
    await expect(store.create({ name: '../x' })).rejects.toMatchObject({ field: 'Name' });
    expect(readdirSync(join(root, 'volumes'))).toEqual([]);
  });

  it('refuses to remove a volume in use or held by a create; prune keeps those', async () => {
    const users: Record<string, string[]> = { used: ['c1', 'c2'] };
    const { store } = open(undefined, users);
    for (const name of ['used', 'held', 'free']) await store.create({ name });
    writeFileSync(join(store.get('free').mountpoint, 'f'), '12345');
    await expect(store.remove('used')).rejects.toThrow(
      new ConflictError('remove used: volume is in use - [c1, c2]'),
    );
    await expect(store.remove('used', { force: true })).rejects.toBeInstanceOf(ConflictError);
    const release = store.hold('held');
    await expect(store.remove('held')).rejects.toBeInstanceOf(ConflictError);
    expect(await store.prune()).toEqual({ deleted: ['free'], reclaimed: 5 });
    release();
    release(); // twice is harmless
    expect((await store.prune()).deleted).toEqual(['held']);
    await expect(store.remove('gone')).rejects.toBeInstanceOf(NotFoundError);
    await store.remove('gone', { force: true });
    users.used = [];
    await store.remove('used');
    expect(store.list()).toEqual([]);
  });

  it('runs exclusive work on one volume in order', async () => {
    const { store } = open();
    const order: string[] = [];
    const slow = store.exclusive('v', async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push('first');
    });
    const fast = store.exclusive('v', async () => {
      order.push('second');
    });
    await Promise.all([slow, fast]);
    expect(order).toEqual(['first', 'second']);
  });
});
