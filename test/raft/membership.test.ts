// Membership changes on real raftnode processes while writes continue: grow 1 → 3 → 5 (each new member
// joins as a learner and is promoted once caught up), remove two members, then replace a dead member
// with a new one. No acknowledged write may be lost along the way.
import { afterEach, describe, expect, it } from 'vitest';
import { KvConn } from '../../manager/raft/cmd/client.js';
import { Cluster, missingKeys, Writer, waitUntil } from './harness.js';

let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
});

describe('raft membership (processes on loopback)', () => {
  it('grows 1 → 3 → 5, removes two, replaces a dead member, while writes continue', async () => {
    // A longer election timeout keeps leadership stable when the test machine is starved for CPU.
    const c = new Cluster({ port: 21201, flags: ['--election-ticks', '20'] });
    cluster = c;
    await c.start(1, { bootstrap: [1] });
    await c.waitLeader();
    const client = c.client([1, 2, 3, 4, 5, 6]);
    const writer = new Writer(client, 'm').start(4);
    const progress = async (n: number) => {
      const target = writer.acked.size + n;
      await waitUntil(() => writer.acked.size >= target || undefined, 20_000, `${n} more writes`);
    };
    const voters = async () => {
      const l = await c.waitLeader();
      return (await c.status(l))!.config;
    };
    // The config a leader reports is the one it has applied: a member that has just won an election (the
    // machine starved the old leader) or one that still believes it leads reports an older one for a
    // moment, so the test waits for the change to show rather than looking once.
    type Config = Awaited<ReturnType<typeof voters>>;
    const configShows = (what: string, ok: (cfg: Config) => boolean) =>
      waitUntil(
        async () => {
          const cfg = await voters();
          return ok(cfg) ? cfg : undefined;
        },
        10_000,
        what,
      );

    const add = async (id: number) => {
      await c.start(id, 'join');
      await client.member('add-learner', id, c.address(id));
      await configShows(`${id} a learner`, (cfg) => cfg.learners.includes(id));
      await client.member('promote', id);
      await progress(20);
    };

    await progress(50);
    await add(2);
    await add(3);
    await configShows('voters 1, 2, 3', (cfg) => cfg.voters.sort().join() === '1,2,3');
    await add(4);
    await add(5);
    await configShows('voters 1 to 5', (cfg) => cfg.voters.sort().join() === '1,2,3,4,5');

    // Remove two members, one of them the current leader.
    const leader = await c.waitLeader();
    const other = [1, 2, 3, 4, 5].find((id) => id !== leader)!;
    await client.member('remove', other);
    await client.member('remove', leader);
    await waitUntil(
      async () => ((await c.status(leader))?.removed ? true : undefined),
      10_000,
      'leader sees its removal',
    );
    await c.kill(other);
    await c.kill(leader);
    const remaining = [1, 2, 3, 4, 5].filter((id) => id !== leader && id !== other);
    await configShows('three voters left', (cfg) => cfg.voters.sort().join() === remaining.join());
    await progress(30);

    // A member dies for good and is replaced by a new one (6).
    const current = await c.waitLeader();
    const dead = remaining.find((id) => id !== current)!;
    await c.kill(dead);
    await progress(20); // two of three voters still form a majority
    await client.member('remove', dead);
    await add(6);
    const wanted = remaining
      .filter((id) => id !== dead)
      .concat(6)
      .sort()
      .join();
    await configShows(
      `voters ${wanted}, no learner`,
      (cfg) => cfg.voters.sort().join() === wanted && cfg.learners.length === 0,
    );

    await writer.stop();
    const finalLeader = await c.waitLeader();
    expect(writer.acked.size).toBeGreaterThan(150);
    const conn = new KvConn(c.address(finalLeader));
    expect(await missingKeys(conn, writer.acked)).toEqual([]);
    // The newest member has everything too.
    const commit = (await c.status(finalLeader))!.commit;
    await waitUntil(
      async () => ((await c.status(6))?.applied ?? 0) >= commit || undefined,
      10_000,
      'member 6 caught up',
    );
    const conn6 = new KvConn(c.address(6));
    expect(await missingKeys(conn6, writer.acked, false)).toEqual([]);
    conn.close();
    conn6.close();
    client.close();
  });
});
