// Proposal forwarding (a follower hands its proposal to the leader over the raft service), the pending
// proposal timeout, and a restart after membership changes, on three in-process members with real gRPC
// servers on loopback.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  NotLeaderError,
  ProposalOutcomeUnknownError,
  RaftNode,
  type StateMachine,
} from '../../manager/raft/index.js';
import { freePort } from '../images/registry-harness.js';

/** Appends every entry; apply returns "member:index:data" so a test sees whose apply answered. */
class Journal implements StateMachine<string> {
  readonly entries: string[] = [];
  constructor(private readonly name: string) {}
  apply(data: Uint8Array, index: number): string {
    const text = Buffer.from(data).toString();
    this.entries.push(text);
    return `${this.name}:${index}:${text}`;
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify(this.entries));
  }
  restore(data: Uint8Array): void {
    this.entries.splice(0, this.entries.length, ...JSON.parse(Buffer.from(data).toString()));
  }
}

interface Member {
  id: number;
  node: RaftNode<string>;
  sm: Journal;
  server: grpc.Server;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const freePorts = (n: number) => Promise.all(Array.from({ length: n }, freePort));

async function member(
  dir: string,
  id: number,
  address: string,
  how: { bootstrap?: { id: number; address: string }[]; join?: boolean },
  over: { forwardProposals?: boolean; proposalTimeoutMs?: number } = {},
): Promise<Member> {
  const sm = new Journal(`m${id}`);
  const node = RaftNode.start<string>({
    id,
    dataDir: path.join(dir, String(id)),
    advertiseAddress: address,
    ...how,
    stateMachine: sm,
    credentials: grpc.credentials.createInsecure(),
    tickMs: 20,
    electionTicks: 10,
    ...over,
  });
  const server = new grpc.Server();
  const svc = node.raftService();
  server.addService(svc.definition, svc.implementation as unknown as grpc.UntypedServiceImplementation);
  await new Promise<void>((res, rej) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
  );
  const m = { id, node, sm, server };
  cleanups.push(() => stop(m));
  return m;
}

async function cluster(
  over: { forwardProposals?: boolean; proposalTimeoutMs?: number } = {},
): Promise<Member[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-forward-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ports = await freePorts(3);
  const peers = ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
  const members: Member[] = [];
  for (const p of peers) members.push(await member(dir, p.id, p.address, { bootstrap: peers }, over));
  return members;
}

function stop(m: Member): void {
  m.node.stop();
  m.server.forceShutdown();
}

async function leaderOf(ms: Member[]): Promise<Member> {
  for (let i = 0; i < 500; i++) {
    const l = ms.find((m) => m.node.isLeader);
    if (l && ms.every((m) => m.node.leader === l.id || m.node.isRemoved)) return l;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no leader');
}

describe('proposal forwarding', () => {
  it('a follower’s proposal commits through the leader and resolves with its own apply result', async () => {
    const ms = await cluster({ forwardProposals: true });
    const leader = await leaderOf(ms);
    const follower = ms.find((m) => m !== leader) as Member;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => follower.node.propose(Buffer.from(`w${i}`))),
    );
    for (const [i, r] of results.entries()) expect(r.result).toBe(`m${follower.id}:${r.index}:w${i}`);
    expect(new Set(results.map((r) => r.index)).size).toBe(20);
    // Every member applied the same entries in the same order.
    const last = Math.max(...results.map((r) => r.index));
    for (let i = 0; i < 300 && ms.some((m) => m.node.appliedIndex < last); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(ms[0].sm.entries).toEqual(ms[1].sm.entries);
    expect(ms[1].sm.entries).toEqual(ms[2].sm.entries);
    // Too large: refused by the follower itself, nothing sent.
    await expect(follower.node.propose(new Uint8Array(2 * 1024 * 1024))).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it('keeps the results of applied entries only while a forwarded proposal of its own is out', async () => {
    // A result holds the transaction's objects: kept for every recent entry, they were megabytes of memory.
    const ms = await cluster({ forwardProposals: true });
    const leader = await leaderOf(ms);
    const follower = ms.find((m) => m !== leader) as Member;
    const kept = (m: Member) =>
      (m.node as unknown as { recentlyApplied: Map<number, unknown> }).recentlyApplied.size;
    const written = await Promise.all(
      Array.from({ length: 20 }, (_, i) => leader.node.propose(Buffer.from(`l${i}`))),
    );
    const last = Math.max(...written.map((r) => r.index));
    for (let i = 0; i < 300 && follower.node.appliedIndex < last; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(follower.node.appliedIndex).toBeGreaterThanOrEqual(last);
    expect([kept(leader), kept(follower)]).toEqual([0, 0]);
    const forwarded = await Promise.all(
      Array.from({ length: 20 }, (_, i) => follower.node.propose(Buffer.from(`f${i}`))),
    );
    expect(forwarded.map((r) => r.result)).toEqual(
      forwarded.map((r, i) => `m${follower.id}:${r.index}:f${i}`),
    );
    expect(kept(follower)).toBe(0);
  });

  it('without forwarding a follower refuses with the leader it knows, and applies nothing', async () => {
    const ms = await cluster();
    const leader = await leaderOf(ms);
    const follower = ms.find((m) => m !== leader) as Member;
    const err = await follower.node.propose(Buffer.from('x')).catch((e) => e);
    expect(err).toBeInstanceOf(NotLeaderError);
    expect((err as NotLeaderError).leaderId).toBe(leader.id);
    expect(follower.sm.entries).not.toContain('x');
  });

  it('a proposal pending while quorum is lost times out as outcome unknown', async () => {
    const ms = await cluster({ forwardProposals: true, proposalTimeoutMs: 600 });
    const leader = await leaderOf(ms);
    await leader.node.propose(Buffer.from('before'));
    for (const m of ms) if (m !== leader) stop(m);
    const err = await leader.node.propose(Buffer.from('during')).catch((e) => e);
    // Either the leader noticed it lost quorum first (refused), or the entry waited and timed out.
    expect(err instanceof ProposalOutcomeUnknownError || err instanceof NotLeaderError).toBe(true);
    if (err instanceof NotLeaderError) expect(err.leaderId).toBe(0);
  });
});

describe('restart after membership changes', () => {
  it('a founder that grew the cluster restarts with the grown configuration, never as a sole voter', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-forward-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const [p1, p2, p3] = (await freePorts(3)).map((p) => `127.0.0.1:${p}`);
    const m1 = await member(dir, 1, p1, { bootstrap: [{ id: 1, address: p1 }] });
    await leaderOf([m1]);
    const m2 = await member(dir, 2, p2, { join: true });
    const m3 = await member(dir, 3, p3, { join: true });
    for (const [id, addr] of [
      [2, p2],
      [3, p3],
    ] as const) {
      await m1.node.addLearner(id, addr);
      await m1.node.promote(id);
    }
    for (let i = 0; i < 5; i++) await m1.node.propose(Buffer.from(`e${i}`));
    expect(m1.node.status().config.voters.sort()).toEqual([1, 2, 3]);
    stop(m1);
    const survivors = await leaderOf([m2, m3]);
    await survivors.node.propose(Buffer.from('while m1 was away'));
    // Restarted: the configuration comes back from its log up to the commit index it had written.
    const again = await member(dir, 1, p1, { join: true });
    expect(again.node.status().config.voters.sort()).toEqual([1, 2, 3]);
    const all = [again, m2, m3];
    const leader = await leaderOf(all);
    await leader.node.propose(Buffer.from('after'));
    for (let i = 0; i < 300 && all.some((m) => m.sm.entries.at(-1) !== 'after'); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(again.sm.entries).toEqual(m2.sm.entries);
    expect(again.sm.entries).toContain('while m1 was away');
  });
});
