// WAL faults against a real raftnode process: a torn final write is truncated and the member starts;
// a damaged record in the middle stops it with an error naming the file and offset; a full disk (a
// small tmpfs) fails proposals with a storage error and the member recovers once space is freed.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { KvConn, KvError } from '../../manager/raft/cmd/client.js';
import { putBatchStart, RECORD_HEADER } from '../../manager/raft/wal/record.js';
import { segmentDataEnd } from '../../manager/raft/wal/wal.js';
import { Cluster, missingKeys, waitUntil } from './harness.js';

let cluster: Cluster | null = null;
let mount = '';
afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
  if (mount) {
    execFileSync('umount', [mount]);
    fs.rmSync(mount, { recursive: true, force: true });
    mount = '';
  }
});

function lastSegment(dataDir: string): string {
  const dir = path.join(dataDir, 'wal');
  const names = fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort();
  return path.join(dir, names[names.length - 1]);
}

async function singleNode(port: number, baseDir?: string): Promise<{ c: Cluster; conn: KvConn }> {
  const c = new Cluster({ port, baseDir });
  cluster = c;
  await c.start(1, { bootstrap: [1] });
  await c.waitLeader();
  return { c, conn: new KvConn(c.address(1)) };
}

async function putMany(conn: KvConn, prefix: string, n: number, acked: Map<string, string>): Promise<void> {
  for (let i = 0; i < n; i++) {
    const k = `${prefix}-${i}`;
    // A (re-)election may be running on a starved machine: only "not leader" is retried.
    await waitUntil(
      async () => {
        try {
          await conn.put(k, Buffer.from(`v-${k}`));
          return true;
        } catch (err) {
          if (err instanceof KvError && err.code === grpc.status.FAILED_PRECONDITION) return undefined;
          throw err;
        }
      },
      10_000,
      `write ${k}`,
    );
    acked.set(k, `v-${k}`);
  }
}

describe('WAL faults (raftnode process)', () => {
  it('truncates a torn final write on restart and keeps every acknowledged write', async () => {
    const { c, conn } = await singleNode(21101);
    const acked = new Map<string, string>();
    await putMany(conn, 'torn', 30, acked);
    await c.kill(1);
    // The start of a batch that never finished: a valid batch header promising 200 bytes, 50 of them written.
    const seg = lastSegment(c.dataDir(1));
    const sizeBefore = segmentDataEnd(seg);
    const partial = Buffer.alloc(RECORD_HEADER + 4 + 50, 0xab);
    putBatchStart(partial, 0, 200);
    const fd = fs.openSync(seg, 'r+');
    fs.writeSync(fd, partial, 0, partial.length, sizeBefore);
    fs.closeSync(fd);

    await c.start(1, 'restart');
    await c.waitLeader();
    expect(c.log(1)).toMatch(new RegExp(`truncating torn tail of ${seg} at offset ${sizeBefore}`));
    expect(await missingKeys(conn, acked)).toEqual([]);
    await putMany(conn, 'after', 10, acked);
    await c.kill(1);
    await c.start(1, 'restart');
    await c.waitLeader();
    expect(await missingKeys(conn, acked)).toEqual([]);
    conn.close();
  });

  it('refuses to start when a record in the middle of the WAL is damaged, naming the file and offset', async () => {
    const { c, conn } = await singleNode(21102);
    await putMany(conn, 'flip', 40, new Map());
    conn.close();
    await c.kill(1, 'SIGTERM');
    const seg = lastSegment(c.dataDir(1));
    const buf = fs.readFileSync(seg);
    const at = Math.floor(segmentDataEnd(seg) / 2);
    buf[at] ^= 0x10;
    fs.writeFileSync(seg, buf);

    const n = c.spawn(1, ['--id', '1', '--listen', c.address(1), '--data', c.dataDir(1)]);
    const { code } = await n.exited;
    expect(code).toBe(1);
    const log = c.log(1);
    const m = new RegExp(`WAL corrupt in ${seg} at offset (\\d+): `).exec(log);
    expect(m, log).not.toBeNull();
    const offset = Number(m![1]);
    expect(offset).toBeLessThanOrEqual(at);
    expect(offset).toBeGreaterThan(at - 300); // the record holding the flipped byte
    expect(fs.statSync(seg).size).toBe(buf.length); // nothing was truncated or rewritten
  });

  it('fails proposals with a storage error on a full disk and recovers when space returns', async () => {
    mount = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-raft-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]);
    const { c, conn } = await singleNode(21103, mount);
    const acked = new Map<string, string>();
    await putMany(conn, 'ok', 20, acked);

    const filler = path.join(mount, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k', 'count=1000'], { stdio: 'ignore' });
    } catch {
      // dd ends with ENOSPC: the disk is full.
    }
    const failed: string[] = [];
    const errors = new Set<string>();
    // Writes first use up the space the WAL preallocated (at most 1 MiB), then must fail.
    const big = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 40; i++) {
      try {
        await conn.put(`full-${i}`, big);
        acked.set(`full-${i}`, big.toString());
      } catch (err) {
        expect(err).toBeInstanceOf(KvError);
        failed.push(`full-${i}`);
        errors.add((err as KvError).details.split(':')[0]);
      }
    }
    expect(failed.length).toBeGreaterThan(0);
    expect([...errors].some((e) => /DiskFullError/.test(e))).toBe(true);
    expect(c.log(1)).toMatch(/ENOSPC/);
    expect(c.running()).toEqual([1]); // no crash

    fs.rmSync(filler);
    await waitUntil(
      async () => {
        try {
          await conn.put('recovered', Buffer.from('yes'));
          return true;
        } catch {
          return undefined;
        }
      },
      15_000,
      'a successful write after freeing space',
    );
    acked.set('recovered', 'yes');
    await putMany(conn, 'later', 10, acked);
    const check = async () => {
      expect(await missingKeys(conn, new Map([...acked].filter(([k]) => !k.startsWith('full-'))))).toEqual(
        [],
      );
      for (const k of failed) expect(await conn.get(k)).toBeUndefined(); // a failed write never commits
    };
    await check();
    // The WAL written across the failures replays cleanly.
    await c.kill(1);
    await c.start(1, 'restart');
    await c.waitLeader();
    expect(c.log(1)).not.toMatch(/corrupt/i);
    await check();
    conn.close();
    if (process.env.SHOW_LOG) console.log(c.log(1));
  });
});
