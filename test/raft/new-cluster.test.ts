// A forced new cluster at the node level: a member's applied state seeds a fresh raft directory whose only
// voter is that member; it elects itself with the data, the members it lost are gone, and ids marked removed
// cannot be added again.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePut, KvStateMachine } from '../../manager/raft/cmd/kv.js';
import { RaftNode, type RaftNodeOptions, seedNewCluster } from '../../manager/raft/index.js';

const dirs: string[] = [];
const nodes: RaftNode<void>[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-newcluster-'));
  dirs.push(d);
  return d;
}

const ADDR = '127.0.0.1:21381';
function start(over: Partial<RaftNodeOptions<void>>): { node: RaftNode<void>; kv: KvStateMachine } {
  const kv = new KvStateMachine();
  const node = RaftNode.start<void>({
    id: 1,
    dataDir: '',
    advertiseAddress: ADDR,
    stateMachine: kv,
    credentials: grpc.credentials.createInsecure(),
    tickMs: 10,
    ...over,
  });
  nodes.push(node);
  return { node, kv };
}

async function leads(n: RaftNode<void>): Promise<void> {
  for (let i = 0; i < 300 && !n.isLeader; i++) await new Promise((r) => setTimeout(r, 10));
  expect(n.isLeader).toBe(true);
}

describe('seedNewCluster', () => {
  it('keeps the applied data, drops the other members, and elects the one left', async () => {
    const old = tmp();
    const a = start({ dataDir: old, bootstrap: [{ id: 1, address: ADDR }] });
    await leads(a.node);
    for (const k of ['a', 'b', 'c']) await a.node.propose(encodePut(k, Buffer.from(k.toUpperCase())));
    await a.node.addLearner(7, '127.0.0.1:21387'); // a member that is lost
    const state = a.node.exportState();
    expect(state.index).toBeGreaterThan(3);
    a.node.stop();

    const fresh = path.join(tmp(), 'raft');
    seedNewCluster(fresh, { id: 1, address: ADDR }, state);
    expect(() => seedNewCluster(fresh, { id: 1, address: ADDR }, state)).toThrow(/already holds raft state/);
    const b = start({ dataDir: fresh, join: true });
    await leads(b.node);
    expect(Buffer.from(b.kv.get('b') ?? []).toString()).toBe('B');
    expect(b.node.status().config).toEqual({ voters: [1], learners: [] });
    const r = await b.node.propose(encodePut('d', Buffer.from('D')));
    expect(r.index).toBeGreaterThan(state.index);
    b.node.markRemoved([7]);
    await expect(b.node.addLearner(7, '127.0.0.1:21387')).rejects.toThrow(/member 7 was removed/);
    await b.node.addLearner(8, '127.0.0.1:21388');
    expect(b.node.status().config.learners).toEqual([8]);
  });
});
