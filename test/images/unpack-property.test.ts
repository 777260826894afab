// Property: whatever sequence of (possibly hostile) entries a layer holds, unpacking either succeeds
// or fails with an error, and nothing outside the layer directory is created, changed or removed.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TarSource } from '../../worker/images/tar/writer.js';
import { unpackLayer } from '../../worker/images/unpack.js';
import { tarOf } from '../fixtures/steps/images-lib.js';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-unpack-prop-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const n of (await fs.readdir(d)).sort()) {
      const p = path.join(d, n);
      const st = await fs.lstat(p);
      out.push(
        `${path.relative(dir, p)} ${st.mode} ${st.size} ${st.isSymbolicLink() ? await fs.readlink(p) : ''}`,
      );
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

it('never touches anything outside the layer directory', async () => {
  const outside = path.join(tmp, 'outside');
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, 'victim'), 'untouched');
  const before = await snapshot(outside);
  const seg = fc.constantFrom('a', 'b', '..', '.', 'l', 'outside', 'victim', '.wh.a', '.wh..wh..opq');
  const name = fc
    .tuple(fc.boolean(), fc.array(seg, { minLength: 1, maxLength: 4 }))
    .map(([abs, parts]) => `${abs ? `${tmp}/` : ''}${parts.join('/')}`);
  const linkTarget = fc.oneof(
    name,
    fc.constantFrom(outside, '../outside', '../../outside/victim', '/etc', '.'),
  );
  const entry: fc.Arbitrary<TarSource> = fc.oneof(
    name.map((n) => ({ entry: { name: n, type: 'file' as const }, body: Buffer.from('pwned') })),
    name.map((n) => ({ entry: { name: `${n}/`, type: 'dir' as const } })),
    fc
      .tuple(name, linkTarget)
      .map(([n, t]) => ({ entry: { name: n, type: 'symlink' as const, linkname: t } })),
    fc
      .tuple(name, linkTarget)
      .map(([n, t]) => ({ entry: { name: n, type: 'hardlink' as const, linkname: t } })),
  );
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 8 }), async (entries) => {
      const dest = path.join(tmp, `layer-${run++}`);
      await fs.mkdir(dest);
      try {
        await unpackLayer(
          (async function* () {
            yield await tarOf(entries);
          })(),
          dest,
        );
      } catch {
        /* rejecting is fine; touching the outside is not */
      }
      expect(await snapshot(outside)).toEqual(before);
      expect((await fs.readdir(tmp)).sort()).toEqual(expect.arrayContaining(['outside']));
      expect((await fs.readdir(tmp)).filter((n) => !n.startsWith('layer-') && n !== 'outside')).toEqual([]);
      await fs.rm(dest, { recursive: true, force: true });
    }),
    { numRuns: 150 },
  );
});
