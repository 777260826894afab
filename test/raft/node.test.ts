// The node API in-process: input validation, identity of the data directory, single-member proposals,
// restart from the same directory, automatic snapshots, and raftnode's flag parsing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePut, KvStateMachine } from '../../manager/raft/cmd/kv.js';
import { FlagError, parseFlags } from '../../manager/raft/cmd/raftnode.js';
import {
  IdentityMismatchError,
  InvalidArgumentError,
  type LeadershipEvent,
  NotLeaderError,
  RaftNode,
  type RaftNodeOptions,
  type ReplicatedLog,
} from '../../manager/raft/index.js';
import { DiskStorage } from '../../manager/raft/wal/disk-storage.js';
import { FakeClock, ManualScheduler } from './fake-time.js';

const dirs: string[] = [];
const nodes: RaftNode<void>[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-node-'));
  dirs.push(d);
  return d;
}

function opts(dataDir: string, over: Partial<RaftNodeOptions<void>> = {}): RaftNodeOptions<void> {
  return {
    id: 1,
    dataDir,
    advertiseAddress: '127.0.0.1:21301',
    bootstrap: [{ id: 1, address: '127.0.0.1:21301' }],
    stateMachine: new KvStateMachine(),
    credentials: grpc.credentials.createInsecure(),
    tickMs: 10,
    ...over,
  };
}

function start(o: RaftNodeOptions<void>): RaftNode<void> {
  const n = RaftNode.start(o);
  nodes.push(n);
  return n;
}

async function leaderOf(n: RaftNode<void>): Promise<void> {
  for (let i = 0; i < 300 && !n.isLeader; i++) await new Promise((r) => setTimeout(r, 10));
  expect(n.isLeader).toBe(true);
}

describe('RaftNode', () => {
  it('rejects bad options naming the field', () => {
    const d = tmp();
    expect(() => RaftNode.start(opts(d, { id: 0 }))).toThrow(/^id: must be a positive integer/);
    expect(() => RaftNode.start(opts(d, { advertiseAddress: 'nope' }))).toThrow(InvalidArgumentError);
    expect(() => RaftNode.start(opts(d, { advertiseAddress: 'nope' }))).toThrow(
      /advertiseAddress: must be host:port/,
    );
    expect(() => RaftNode.start(opts(d, { electionTicks: 1, heartbeatTicks: 1 }))).toThrow(/electionTicks/);
    expect(() =>
      RaftNode.start(
        opts(d, {
          bootstrap: [
            { id: 2, address: '127.0.0.2:1' },
            { id: 2, address: '127.0.0.3:1' },
          ],
        }),
      ),
    ).toThrow(/bootstrap: duplicate member ids/);
    expect(fs.readdirSync(d)).toEqual([]); // nothing left behind
  });

  it('commits and applies proposals, restarts from the same directory, and refuses another id', async () => {
    const d = tmp();
    const kv = new KvStateMachine();
    const n = start(opts(d, { stateMachine: kv }));
    await leaderOf(n);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => n.propose(encodePut(`k${i}`, Buffer.from(`v${i}`)))),
    );
    expect(new Set(results.map((r) => r.index)).size).toBe(50);
    expect(Buffer.from(kv.get('k42')!).toString()).toBe('v42');
    await expect(n.propose('x' as unknown as Uint8Array)).rejects.toThrow(/^data: must be a Uint8Array/);
    await expect(n.propose(new Uint8Array(2 * 1024 * 1024))).rejects.toBeInstanceOf(InvalidArgumentError);
    const read = await n.readIndex();
    expect(read).toBeGreaterThanOrEqual(results[49].index);
    n.stop();
    nodes.pop();

    expect(() => RaftNode.start(opts(d, { id: 2, advertiseAddress: '127.0.0.2:21301' }))).toThrow(
      IdentityMismatchError,
    );
    const kv2 = new KvStateMachine();
    const again = start(opts(d, { stateMachine: kv2, bootstrap: undefined }));
    await leaderOf(again);
    await again.propose(encodePut('after', Buffer.from('restart')));
    expect(kv2.map.size).toBe(51);
    expect(Buffer.from(kv2.get('k7')!).toString()).toBe('v7');
  });

  it('a member waiting to join is not the leader and says so', async () => {
    const n = start(opts(tmp(), { join: true, bootstrap: undefined }));
    await expect(n.propose(new Uint8Array([1]))).rejects.toBeInstanceOf(NotLeaderError);
    await expect(n.readIndex()).rejects.toBeInstanceOf(NotLeaderError);
    expect(n.status().members).toEqual([]);
  });

  it('snapshots every N entries, compacts the WAL, and restores from the snapshot', async () => {
    const d = tmp();
    const n = start(opts(d, { snapshotEvery: 100, keepEntries: 10, segmentBytes: 4096 }));
    await leaderOf(n);
    for (let i = 0; i < 400; i++) await n.propose(encodePut(`s${i}`, Buffer.alloc(64, i)));
    const st = n.status();
    expect(st.snapshotIndex).toBeGreaterThanOrEqual(300);
    n.stop();
    nodes.pop();
    const storage = DiskStorage.open(d);
    expect(storage.snapshot().metadata.index).toBe(st.snapshotIndex);
    expect(storage.firstIndex()).toBe(st.snapshotIndex + 1);
    // Segments wholly before the snapshot were removed: what remains starts close to it.
    expect(storage.walSegments().length).toBeLessThan(8);
    storage.close();
    const kv = new KvStateMachine();
    const again = start(opts(d, { stateMachine: kv, bootstrap: undefined }));
    await leaderOf(again);
    expect(kv.map.size).toBe(400);
    expect(Buffer.from(kv.get('s399')!)[0]).toBe(399 & 0xff);
  });
});

describe('RaftNode as the ReplicatedLog, on fake time', () => {
  it('elects itself, applies proposals at their index, answers the read barrier and reports leadership', async () => {
    const sched = new ManualScheduler();
    const clock = new FakeClock(sched);
    const kv = new KvStateMachine();
    const n: ReplicatedLog<void> & RaftNode<void> = start(
      opts(tmp(), { stateMachine: kv, clock, scheduler: sched, fsync: false }),
    );
    const events: LeadershipEvent[] = [];
    const off = n.onLeadershipChange((e) => events.push(e));
    expect(n.leadership()).toEqual({ isLeader: false, term: 1, leaderId: 0 }); // bootstrapped, no leader yet
    clock.advance(10 * 8 * 3); // three election timeouts of fake time
    expect(n.leadership()).toMatchObject({ isLeader: true, leaderId: 1 });
    expect(events.at(-1)).toEqual(n.leadership());
    const p1 = n.propose(encodePut('a', Buffer.from('1')));
    const p2 = n.propose(encodePut('b', Buffer.from('2')));
    sched.run();
    const [r1, r2] = await Promise.all([p1, p2]);
    expect(r2.index).toBe(r1.index + 1);
    expect(Buffer.from(kv.get('b')!).toString()).toBe('2');
    const barrier = n.readBarrier();
    sched.run();
    expect(await barrier).toBeGreaterThanOrEqual(r2.index);
    off();
    n.stop();
    expect(events.length).toBe(1); // unsubscribed: stop() reported nothing more
  });
});

describe('raftnode flags', () => {
  it('parses a bootstrap member and rejects bad flags with the flag name', () => {
    const f = parseFlags([
      '--id',
      '3',
      '--listen',
      '127.0.0.3:7000',
      '--data',
      '/tmp/x',
      '--bootstrap',
      '1=127.0.0.1:7000,3=127.0.0.3:7000',
    ]);
    expect(f.bootstrap).toEqual([
      { id: 1, address: '127.0.0.1:7000' },
      { id: 3, address: '127.0.0.3:7000' },
    ]);
    expect(() => parseFlags(['--id', 'x'])).toThrow(/--id: expected a positive integer/);
    expect(() => parseFlags(['--id', '1', '--listen', 'nope'])).toThrow(/--listen: expected host:port/);
    expect(() =>
      parseFlags(['--id', '1', '--listen', '127.0.0.1:1', '--data', 'd', '--bootstrap', '1:2']),
    ).toThrow(/--bootstrap: bad member/);
    expect(() => parseFlags(['--id', '1', '--listen', '127.0.0.1:1'])).toThrow(/--data is required/);
    expect(() => parseFlags(['--frobnicate'])).toThrow(FlagError);
    expect(() =>
      parseFlags([
        '--id',
        '1',
        '--listen',
        '127.0.0.1:1',
        '--data',
        'd',
        '--join',
        '--bootstrap',
        '1=127.0.0.1:1',
      ]),
    ).toThrow(/mutually exclusive/);
  });
});
