// Secrets at rest: the control API over a real raft node (WAL and snapshots on disk) writes a secret's data
// sealed, so neither the WAL nor the snapshot files hold the plaintext, nor the data key; a config's data,
// stored in the clear, is found by the same search (the search works). After a restart from the same
// directory (snapshot + WAL) the secret opens with the key, and with no other key.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlApi } from '../../manager/controlapi/index.js';
import { RaftNode } from '../../manager/raft/index.js';
import { DataKeyCipher, newDataKey } from '../../manager/secrets/index.js';
import { Store } from '../../manager/store/index.js';

const dirs: string[] = [];
const nodes: RaftNode<unknown>[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function filesContaining(dir: string, needle: Buffer | string): string[] {
  const hits: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath, e.name);
    if (e.isFile() && fs.readFileSync(p).includes(needle)) hits.push(p);
  }
  return hits;
}

async function member(dataDir: string): Promise<{ store: Store; raft: RaftNode<unknown> }> {
  const store = new Store();
  const raft = RaftNode.start<unknown>({
    id: 1,
    dataDir,
    advertiseAddress: '127.0.0.1:21391',
    bootstrap: [{ id: 1, address: '127.0.0.1:21391' }],
    stateMachine: store,
    credentials: grpc.credentials.createInsecure(),
    tickMs: 10,
    snapshotEvery: 5,
  });
  nodes.push(raft);
  store.connect(raft);
  for (let i = 0; i < 300 && !raft.isLeader; i++) await new Promise((r) => setTimeout(r, 10));
  expect(raft.isLeader).toBe(true);
  await raft.readBarrier();
  return { store, raft };
}

describe('secrets at rest', () => {
  it('the raft WAL and snapshots hold neither the plaintext nor the key; the secret opens after a restart', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-at-rest-'));
    dirs.push(dir);
    const key = newDataKey();
    const plain = `pw-${randomBytes(16).toString('hex')}`;
    const configText = `cfg-${randomBytes(16).toString('hex')}`;

    const { store, raft } = await member(dir);
    const control = new ControlApi(store, undefined, Math.random, Date.now, new DataKeyCipher(key));
    const secret = await control.createSecret({ name: 'db', labels: {}, data: Buffer.from(plain) });
    await control.createConfig({ name: 'app', labels: {}, data: Buffer.from(configText) });
    // Enough writes for a snapshot past the secret's entry.
    for (let i = 0; i < 8; i++)
      await control.createConfig({ name: `c${i}`, labels: {}, data: Buffer.from('x') });
    for (let i = 0; i < 100 && raft.status().snapshotIndex < secret.meta!.version; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(raft.status().snapshotIndex).toBeGreaterThanOrEqual(secret.meta!.version);
    raft.stop();
    nodes.pop();

    const snaps = fs
      .readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => f.includes('snap'));
    expect(snaps.length).toBeGreaterThan(0);
    // The search finds what is stored in the clear (a config), in the WAL and in the snapshot…
    const cfgHits = filesContaining(dir, configText);
    expect(cfgHits.some((f) => f.includes('wal'))).toBe(true);
    expect(cfgHits.some((f) => f.includes('snap'))).toBe(true);
    // …and finds neither the secret nor the key anywhere.
    expect(filesContaining(dir, plain)).toEqual([]);
    expect(filesContaining(dir, key.key)).toEqual([]);
    expect(filesContaining(dir, key.key.toString('base64'))).toEqual([]);

    // Restarted from the same directory: the sealed secret comes back and opens with the key only.
    const again = await member(dir);
    const stored = again.store.view((tx) => tx.getByName('secret', 'db'))!;
    expect(stored.spec?.data.length).toBe(0);
    expect(new DataKeyCipher(key).open(stored.id, stored.sealed!).toString()).toBe(plain);
    const other = { ...newDataKey(), id: key.id };
    expect(() => new DataKeyCipher(other).open(stored.id, stored.sealed!)).toThrow(/does not authenticate/);
  });
});
