import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ContainerRecord, containerDir, loadRecords, saveRecord, writeFileAtomic } from './store.js';

const root = mkdtempSync(join(tmpdir(), 'shoal-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('record store', () => {
  it('writes atomically and leaves no temp files, also under concurrent writes', async () => {
    const p = join(root, 'f.json');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => writeFileAtomic(p, JSON.stringify({ i }), i % 2 === 0)),
    );
    expect(JSON.parse(readFileSync(p, 'utf8')).i).toBeGreaterThanOrEqual(0);
    expect(readdirSync(root)).toEqual(['f.json']);
  });

  it('loads records and reports directories without one as orphans', async () => {
    const data = join(root, 'data');
    const id = 'a'.repeat(64);
    const orphan = 'b'.repeat(64);
    mkdirSync(containerDir(data, id), { recursive: true });
    mkdirSync(containerDir(data, orphan), { recursive: true });
    mkdirSync(containerDir(data, 'not-an-id'), { recursive: true });
    writeFileSync(join(containerDir(data, orphan), 'container.json'), '{"torn');
    await saveRecord(data, { id, name: 'x' } as ContainerRecord);
    const { records, orphans } = loadRecords(data);
    expect(records.map((r) => r.id)).toEqual([id]);
    expect(orphans).toEqual([orphan]);
    expect(loadRecords(join(root, 'missing'))).toEqual({ records: [], orphans: [] });
  });

  it('skips a record nested too deep to handle (neither loaded nor removed as an orphan)', () => {
    const data = join(root, 'deep');
    const id = 'c'.repeat(64);
    mkdirSync(containerDir(data, id), { recursive: true });
    const deep = `{"id":"${id}","config":{"labels":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    writeFileSync(join(containerDir(data, id), 'container.json'), deep);
    expect(loadRecords(data)).toEqual({ records: [], orphans: [] });
  });
});
