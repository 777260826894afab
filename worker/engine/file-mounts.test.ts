// Files from memory on a real per-container tmpfs: mounted with the files' owners and modes, detached and
// removed again (also for a create that failed half-way, and for orphans found at open), nothing left.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkFileMounts, collectOrphanFiles, mountFiles, unmountFiles } from './file-mounts.js';

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) {
    for (const id of ['c1', 'c2', 'orphan']) await unmountFiles(r, id).catch(() => {});
    rmSync(join(r, '..'), { recursive: true, force: true });
  }
});

const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => (f[4] ?? '').startsWith(dir))
    .map((f) => ({ at: f[4]!, fstype: f[f.indexOf('-') + 1], opts: f[5] ?? '' }));

function root(): string {
  const r = join(mkdtempSync(join(tmpdir(), 'shoal-files-')), 'files');
  roots.push(r);
  return r;
}

const file = (target: string, data: string, uid = 0, gid = 0, mode = 0o444) => ({
  target,
  data: Buffer.from(data),
  uid,
  gid,
  mode,
});

describe('file mounts (a tmpfs per container)', () => {
  it('writes each file with its owner and mode on a tmpfs, returns read-only binds; unmount leaves nothing', async () => {
    const r = root();
    const binds = await mountFiles(r, 'c1', [
      file('/run/secrets/db', 'pw'),
      file('/etc/app.conf', 'k: v', 1000, 1001, 0o400),
    ]);
    const m = mountsUnder(r);
    expect(m).toHaveLength(1);
    expect(m[0]).toMatchObject({ at: join(r, 'c1'), fstype: 'tmpfs' });
    expect(m[0]!.opts).toMatch(/nosuid/);
    expect(m[0]!.opts).toMatch(/noexec/);
    expect(binds.map((b) => [b.destination, b.readOnly, b.type])).toEqual([
      ['/run/secrets/db', true, 'bind'],
      ['/etc/app.conf', true, 'bind'],
    ]);
    expect(readFileSync(binds[0]!.source, 'utf8')).toBe('pw');
    const st = statSync(binds[1]!.source);
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o400, 1000, 1001]);
    expect(statSync(join(r, 'c1')).mode & 0o777).toBe(0o700);
    await unmountFiles(r, 'c1');
    expect(mountsUnder(r)).toEqual([]);
    expect(() => statSync(join(r, 'c1'))).toThrow(/ENOENT/);
    await unmountFiles(r, 'c1'); // again: nothing to do
  });

  it('refuses bad files before anything is made, naming the field', () => {
    expect(() => checkFileMounts([file('run/x', 'a')])).toThrow(/files\[0\]\.target/);
    expect(() => checkFileMounts([file('/a/../b', 'a')])).toThrow(/without "\.\."/);
    expect(() => checkFileMounts([file('/a', 'a'), file('/a', 'b')])).toThrow(/mounted twice/);
    expect(() => checkFileMounts([file('/a', 'a', -1)])).toThrow(/files\[0\]\.uid/);
    expect(() => checkFileMounts([file('/a', 'a', 0, 0, 0o17777)])).toThrow(/files\[0\]\.mode/);
  });

  it('a failure half-way leaves no mount; orphans (no container record) are collected', async () => {
    const r = root();
    // The second file's chown fails (an id out of range) after the tmpfs was mounted and a file written.
    await expect(mountFiles(r, 'c2', [file('/a', 'x'), file('/b', 'y', 2 ** 32)])).rejects.toThrow(/uid/);
    expect(mountsUnder(r)).toEqual([]);
    await mountFiles(r, 'orphan', [file('/a', 'x')]);
    await mountFiles(r, 'c1', [file('/a', 'y')]);
    await collectOrphanFiles(r, (id) => id === 'c1');
    expect(mountsUnder(r).map((m) => m.at)).toEqual([join(r, 'c1')]);
  });
});
