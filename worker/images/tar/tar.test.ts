import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lsetxattr } from '../../engine/native.js';
import { checksumOf, encodeHeader, padding, type TarEntry } from './header.js';
import { readTar } from './reader.js';
import { fullEntry, type TarSource, writeTar } from './writer.js';

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

  it("with lenientEnd, accepts a stream that ends in the last entry's padding (the docker CLI's build contexts)", async () => {
    const tar = await collect(writeTar([{ entry: { name: 'f', type: 'file' }, body: Buffer.alloc(700, 2) }]));
    const cut = tar.subarray(0, 512 + 700); // header + data, no padding, no end blocks
    await expect(entries(cut)).rejects.toThrow(/tar: truncated padding of "f"/);
    const got: Buffer[] = [];
    for await (const { body } of readTar(chunked(cut, 100), { lenientEnd: true }))
      got.push(await collect(body));
    expect(got).toEqual([Buffer.alloc(700, 2)]);
    // data itself cut short is still an error
    const short = tar.subarray(0, 512 + 600);
    await expect(
      (async () => {
        for await (const { body } of readTar(chunked(short, 100), { lenientEnd: true })) await collect(body);
      })(),
    ).rejects.toThrow(/truncated data/);
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

/** A PAX extended ('x') or global ('g') header block followed by its records, padded. */
function paxHeader(flag: 'x' | 'g', records: string[]): Buffer {
  const body = Buffer.concat(
    records.map((r) => {
      let len = r.length + 3;
      while (String(len).length + 2 + Buffer.byteLength(r) !== len)
        len = String(len).length + 2 + Buffer.byteLength(r);
      return Buffer.from(`${len} ${r}\n`);
    }),
  );
  const block = Buffer.from(encodeHeader(fullEntry({ name: 'PaxHeader', type: 'file' }, body.length)));
  block[156] = flag.charCodeAt(0);
  block.write('        ', 148, 'latin1');
  block.write(`${checksumOf(block).toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([block, body, Buffer.alloc(padding(body.length))]);
}

async function fileTar(name: string, body = 'a'): Promise<Buffer> {
  return collect(writeTar([{ entry: { name, type: 'file' }, body: Buffer.from(body) }]));
}

describe('PAX headers', () => {
  it('ignores global headers (as docker does) instead of copying them into every later entry', async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      // distinct keys, so merging them would make every later entry carry all of them
      parts.push(
        paxHeader('g', [`comment.${i}=${'c'.repeat(2000)}`, `SCHILY.xattr.user.g${i}=v`, 'path=evil']),
      );
      parts.push((await fileTar(`f${i}`)).subarray(0, 1024));
    }
    parts.push(Buffer.alloc(1024));
    const got = await entries(Buffer.concat(parts));
    expect(got.length).toBe(1000);
    expect(got[999].e.name).toBe('f999');
    expect(got.every((g) => Object.keys(g.e.xattrs).length === 0)).toBe(true);
  });

  it('refuses an archive with more than 1000 global headers, and malformed global records', async () => {
    const g = paxHeader('g', ['comment=x']);
    const tar = Buffer.concat([...Array.from({ length: 1001 }, () => g), await fileTar('f')]);
    await expect(entries(tar)).rejects.toThrow(/tar: more than 1000 PAX global headers at offset 1024000;/);
    const bad = paxHeader('g', ['comment=x']);
    bad.write('99', 512, 'latin1');
    await expect(entries(Buffer.concat([bad, await fileTar('f')]))).rejects.toThrow(/malformed PAX record/);
  });

  it('refuses a PAX header over 1 MiB', async () => {
    const big = paxHeader('x', [`comment=${'c'.repeat((1 << 20) + 1)}`]);
    await expect(entries(Buffer.concat([big, await fileTar('f')]))).rejects.toThrow(
      /tar: PAX header of 1048594 bytes is too large/,
    );
  });

  it('reads plain decimal size, uid, gid and mtime (with a fraction); an empty value keeps the header', async () => {
    const tar = Buffer.concat([
      paxHeader('x', ['uid=4000000000', 'gid=70000000', 'mtime=1700000000.5', 'size=', 'path=p']),
      await fileTar('f', 'abc'),
    ]);
    const [got] = await entries(tar);
    expect(got.e).toMatchObject({
      name: 'p',
      uid: 4_000_000_000,
      gid: 70_000_000,
      mtime: 1700000000.5,
      size: 3,
    });
    expect(got.data.toString()).toBe('abc');
  });

  it.each([
    ['size=1e3', /tar: PAX size is not a decimal number: "1e3"/],
    ['size=0x10', /PAX size is not a decimal number: "0x10"/],
    ['size= 3', /PAX size is not a decimal number: " 3"/],
    ['size=+3', /PAX size is not a decimal number: "\+3"/],
    ['size=-1', /PAX size is not a decimal number: "-1"/],
    ['size=99999999999999999999', /PAX size is out of range/],
    ['uid=1.5', /PAX uid is not a decimal number: "1.5"/],
    ['uid=4294967296', /PAX uid is out of range: "4294967296"/],
    ['gid=Infinity', /PAX gid is not a decimal number: "Infinity"/],
    ['mtime=1e9', /PAX mtime is not a decimal time: "1e9"/],
    ['mtime=0x10', /PAX mtime is not a decimal time/],
    ['mtime=1.2.3', /PAX mtime is not a decimal time/],
  ])('rejects %s', async (record, msg) => {
    const tar = Buffer.concat([paxHeader('x', [record]), await fileTar('f', 'x'.repeat(1000))]);
    await expect(entries(tar)).rejects.toThrow(msg);
  });
});
