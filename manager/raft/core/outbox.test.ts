// Which messages may leave before a Ready's write is durable (Ready.messages, RawNode.takeMessages) and which
// must wait (Ready.messagesAfterAppend): the core's decision, so no driver re-derives it.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../sim/prng.js';
import { newMessage } from './raft.js';
import { RawNode } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import type { Config, Entry, Message, Ready } from './types.js';

function node(id: number, storage = new MemoryStorage(), extra: Partial<Config> = {}): RawNode {
  return new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    preVote: false,
    checkQuorum: false,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 16,
    maxUncommittedEntriesSize: 0,
    random: mulberry32(id),
    ...extra,
  });
}

function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState) s.setHardState(rd.hardState);
}

/** Persists and advances every Ready the node has. */
function settle(n: RawNode, s: MemoryStorage): Message[] {
  const out: Message[] = [];
  while (n.hasReady()) {
    const rd = n.ready();
    persist(s, rd);
    out.push(...rd.messages, ...rd.messagesAfterAppend);
    n.advance();
  }
  return out;
}

const types = (ms: Message[]) => ms.map((m) => `${m.type}>${m.to}`);
const ent = (index: number, term: number): Entry => ({
  index,
  term,
  type: 'normal',
  data: new Uint8Array([index]),
});

describe('the outbox split', () => {
  it('a new candidate sends its vote requests only after its term and vote are durable', () => {
    const s = new MemoryStorage();
    const n = node(1, s);
    n.bootstrap([1, 2, 3]);
    settle(n, s);
    n.campaign();
    const rd = n.ready();
    expect(rd.hardState).toMatchObject({ term: 2, vote: 1 });
    expect(rd.messages).toEqual([]);
    expect(types(rd.messagesAfterAppend)).toEqual(['vote>2', 'vote>3']);
  });

  it('a follower acknowledges and votes only after the write; a leader appends at once', () => {
    const s = new MemoryStorage();
    const f = node(2, s);
    f.bootstrap([1, 2, 3]);
    settle(f, s);
    f.step(newMessage({ type: 'vote', to: 2, from: 1, term: 2, index: 3, logTerm: 1 }));
    let rd = f.ready();
    expect(types(rd.messagesAfterAppend)).toEqual(['voteResp>1']);
    persist(s, rd);
    f.advance();
    f.step(newMessage({ type: 'app', to: 2, from: 1, term: 2, index: 3, logTerm: 1, entries: [ent(4, 2)] }));
    f.step(newMessage({ type: 'heartbeat', to: 2, from: 1, term: 2, commit: 3 }));
    rd = f.ready();
    expect(types(rd.messages)).toEqual(['heartbeatResp>1']);
    expect(rd.messagesAfterAppend.map((m) => [m.type, m.index])).toEqual([['appResp', 4]]);

    // The leader: its appends leave before its own write (it counts itself only on advance()).
    const ls = new MemoryStorage();
    const l = node(1, ls);
    l.bootstrap([1, 2, 3]);
    settle(l, ls);
    l.campaign();
    settle(l, ls);
    l.step(newMessage({ type: 'voteResp', to: 1, from: 2, term: 2 }));
    settle(l, ls);
    expect(l.status().role).toBe('leader');
    for (const from of [2, 3]) l.step(newMessage({ type: 'appResp', to: 1, from, term: 2, index: 4 }));
    settle(l, ls);
    l.propose(new Uint8Array([7]));
    rd = l.ready();
    expect(rd.entries.length).toBe(1);
    expect(types(rd.messages)).toEqual(['app>2', 'app>3']);
    expect(rd.messagesAfterAppend).toEqual([]);
    // While that write is pending: new proposals go out at once through takeMessages; nothing else does.
    l.propose(new Uint8Array([8]));
    const early = l.takeMessages();
    expect(types(early)).toEqual(['app>2', 'app>3']);
    expect(early[0].entries.map((e) => e.index)).toEqual([6]);
    l.step(newMessage({ type: 'appResp', to: 1, from: 2, term: 2, index: 6 }));
    expect(l.status().commit).toBe(4); // the leader's own write is not durable yet: 5 and 6 wait
    persist(ls, rd);
    l.advance();
    expect(l.status().commit).toBe(5);
  });

  it('issue 8: an ack for term T and a term T+1 append that truncates it come out of one Ready, both after the write', () => {
    const s = new MemoryStorage();
    const f = node(1, s);
    f.bootstrap([1, 2, 3, 4, 5]);
    settle(f, s);
    // Leader 3 of term 2 replicates 6 and 7 (not committed).
    f.step(newMessage({ type: 'app', to: 1, from: 3, term: 2, index: 5, logTerm: 1, entries: [ent(6, 2)] }));
    settle(f, s);
    f.step(newMessage({ type: 'app', to: 1, from: 3, term: 2, index: 6, logTerm: 2, entries: [ent(7, 2)] }));
    // Before that Ready is taken, leader 4 of term 3 (elected without us) overwrites from 6.
    f.step(newMessage({ type: 'app', to: 1, from: 4, term: 3, index: 5, logTerm: 1, entries: [ent(6, 3)] }));
    const rd = f.ready();
    expect(rd.entries.map((e) => `${e.index}@${e.term}`)).toEqual(['6@3']);
    expect(rd.messages).toEqual([]); // the term changed: nothing leaves before the write
    expect(rd.messagesAfterAppend.map((m) => `${m.type}>${m.to} t${m.term} i${m.index}`)).toEqual([
      'appResp>3 t2 i7',
      'appResp>4 t3 i6',
    ]);
    // The disk after this write: term 3, log ..6@3. The ack of 7 at term 2 is honoured by a later state
    // of the same log (the simulator's durability check accepts exactly this; see sim-checker.test.ts).
  });

  it('committed entries already durable may be applied during the write; new ones wait', () => {
    const s = new MemoryStorage();
    const f = node(2, s);
    f.bootstrap([1, 2, 3]);
    const rd0 = f.ready();
    expect(rd0.committedEntries.length).toBe(3);
    expect(rd0.applyBeforeAppend).toBe(0); // they arrive in this very Ready
    persist(s, rd0);
    f.advance();
    f.step(newMessage({ type: 'app', to: 2, from: 1, term: 2, index: 3, logTerm: 1, entries: [ent(4, 2)] }));
    settle(f, s);
    // Commit 4 (durable already) and append 5 in one Ready.
    f.step(
      newMessage({
        type: 'app',
        to: 2,
        from: 1,
        term: 2,
        index: 4,
        logTerm: 2,
        entries: [ent(5, 2)],
        commit: 5,
      }),
    );
    const rd = f.ready();
    expect(rd.committedEntries.map((e) => e.index)).toEqual([4, 5]);
    expect(rd.applyBeforeAppend).toBe(1);
  });
});
