import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lsetxattr } from '../../engine/native.js';
import type { TarEntry } from './header.js';
import { readTar } from './reader.js';
import { type TarSource, writeTar } from './writer.js';

async function collect(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(c);
  return Buffer.concat(parts);
}

async function* chunked(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function entries(tar: Buffer, chunk = 7777): Promise<{ e: TarEntry; data: Buffer }[]> {
  const out: { e: TarEntry; data: Buffer }[] = [];
  for await (const { entry, body } of readTar(chunked(tar, chunk)))
    out.push({ e: entry, data: await collect(body) });
  return out;
}

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-tar-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const longName = `${'d'.repeat(120)}/${'f'.repeat(150)}.txt`;

describe('tar reader', () => {
  it('reads GNU tar archives with long names and long link targets', async () => {
    const root = path.join(tmp, 'src');
    await fs.mkdir(path.join(root, 'd'.repeat(120)), { recursive: true });
    await fs.writeFile(path.join(root, longName), 'long\n');
    await fs.symlink(`../${'t'.repeat(140)}`, path.join(root, 'sym'));
    await fs.link(path.join(root, longName), path.join(root, 'hard'));
    const tar = execFileSync('tar', ['--format=gnu', '-C', root, '-cf', '-', '.'], { maxBuffer: 1 << 24 });
    const got = await entries(tar, 100);
    const byName = new Map(got.map((g) => [g.e.name.replace(/^\.\//, ''), g]));
    expect(byName.get(longName)?.data.toString()).toBe('long\n');
    expect(byName.get('sym')?.e).toMatchObject({ type: 'symlink', linkname: `../${'t'.repeat(140)}` });
    const hard = [byName.get('hard'), byName.get(longName)].find((g) => g?.e.type === 'hardlink');
    expect(hard?.e.linkname.replace(/^\.\//, '')).toMatch(/^(hard|d+\/f+\.txt)$/);
  });

  it('reads PAX archives with long names, sub-second mtimes and SCHILY xattrs', async () => {
    const root = path.join(tmp, 'src');
    await fs.mkdir(path.join(root, 'd'.repeat(120)), { recursive: true });
    const f = path.join(root, longName);
    await fs.writeFile(f, 'pax\n');
    await lsetxattr(f, 'user.shoal', Buffer.from('hello\0bin'));
    const tar = execFileSync(
      'tar',
      ['--format=pax', '--xattrs', '--xattrs-include=user.*', '-C', root, '-cf', '-', '.'],
      {
        maxBuffer: 1 << 24,
      },
    );
    const got = (await entries(tar)).find((g) => g.e.name.endsWith(longName));
    expect(got?.data.toString()).toBe('pax\n');
    expect(got?.e.xattrs['user.shoal']).toEqual(Buffer.from('hello\0bin'));
  });

  it('round-trips entries through the writer, GNU tar agreeing on the result', async () => {
    const items: TarSource[] = [
      { entry: { name: 'dir/', type: 'dir', mode: 0o750, uid: 1000, gid: 1001, mtime: 1700000000 } },
      {
        entry: { name: longName, type: 'file', mode: 0o640, mtime: 1700000000.25 },
        body: Buffer.from('x'.repeat(1000)),
      },
      { entry: { name: 'dir/dev', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 } },
      { entry: { name: 'dir/l', type: 'symlink', linkname: 'x'.repeat(200) } },
      {
        entry: { name: 'dir/f', type: 'file', xattrs: { 'user.a': Buffer.from([0, 1, 2]) } },
        body: Buffer.alloc(0),
      },
      { entry: { name: 'big-uid', type: 'file', uid: 3_000_000, gid: 70_000_000 }, body: Buffer.from('u') },
    ];
    const tar = await collect(writeTar(items));
    const got = await entries(tar, 513);
    expect(got.map((g) => g.e.name)).toEqual(items.map((i) => i.entry.name));
    expect(got[0].e).toMatchObject({ type: 'dir', mode: 0o750, uid: 1000, gid: 1001, mtime: 1700000000 });
    expect(got[1].e.mtime).toBeCloseTo(1700000000.25, 5);
    expect(got[1].data.length).toBe(1000);
    expect(got[2].e).toMatchObject({ type: 'char', devmajor: 1, devminor: 3 });
    expect(got[3].e.linkname).toBe('x'.repeat(200));
    expect(got[4].e.xattrs['user.a']).toEqual(Buffer.from([0, 1, 2]));
    expect(got[5].e).toMatchObject({ uid: 3_000_000, gid: 70_000_000 });
    const listing = execFileSync('tar', ['-tvf', '-'], { input: tar }).toString();
    expect(listing).toContain(longName);
    expect(listing).toContain('3000000/70000000');
  });

  it('fails clearly on a truncated archive', async () => {
    const tar = await collect(
      writeTar([{ entry: { name: 'f', type: 'file' }, body: Buffer.alloc(5000, 1) }]),
    );
    await expect(entries(tar.subarray(0, 2000))).rejects.toThrow(/tar: truncated data of "f"/);
    await expect(entries(tar.subarray(0, 300))).rejects.toThrow(/tar: truncated header at offset 0/);
  });

  it('fails clearly on a corrupt header and on garbage', async () => {
    const tar = await collect(writeTar([{ entry: { name: 'f', type: 'file' }, body: Buffer.from('hi') }]));
    tar[10] ^= 0xff;
    await expect(entries(tar)).rejects.toThrow(/tar: invalid header checksum at offset 0/);
    await expect(entries(Buffer.alloc(1024, 0x41))).rejects.toThrow(/tar:/);
    await expect(entries(Buffer.alloc(0))).rejects.toThrow(/tar: empty archive/);
  });

  it('rejects malformed PAX records and unsupported entry types', async () => {
    const good = await collect(
      writeTar([
        {
          entry: { name: 'f', type: 'file', xattrs: { 'user.x': Buffer.from('y') } },
          body: Buffer.from('a'),
        },
      ]),
    );
    const bad = Buffer.from(good);
    // the PAX payload starts at 512: break its length prefix
    bad.write('99', 512, 'latin1');
    await expect(entries(bad)).rejects.toThrow(/tar: malformed PAX record/);
    const sparse = await collect(writeTar([{ entry: { name: 's', type: 'file' }, body: Buffer.from('a') }]));
    sparse[156] = 'S'.charCodeAt(0);
    // fix the checksum so only the type is wrong
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : sparse[i];
    sparse.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await expect(entries(sparse)).rejects.toThrow(/unsupported entry type 'S' for "s"/);
  });
});
