// `npm run bench -- many-files [COUNT] [PER_DIR] [--discard]`: unpacking and removing a layer of COUNT
// empty files (default 200,000, PER_DIR files per directory, default 1000; 0 puts them all in one
// directory), through LayerStore like a pull and an rmi do (--discard: removal by discardTree instead).
//   unpack_s, remove_s   wall time of the unpack and of the removal (until it returns)
//   gone_s               until the layer's files are actually gone from the disk
//   peak_rss_mb          the process's peak RSS over the whole run (the tar is generated as a stream)
// Prints one JSON object on its last line. Removes its temp directory.
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../../common/digest.js';
import { LayerStore } from '../../worker/images/layers.js';
import { discardTree } from '../../worker/images/remove-tree.js';
import { writeTar } from '../../worker/images/tar/writer.js';
import { unpackLayer } from '../../worker/images/unpack.js';
import { round } from './lib.js';

const count = Number(process.argv[2] ?? 200_000);
const perDir = Number(process.argv[3] ?? 1000);
const discard = process.argv.includes('--discard');
const log = (s: string) => process.stderr.write(`bench many-files: ${s}\n`);

async function* entries() {
  for (let i = 0; i < count; i++) {
    const dir = perDir > 0 ? `d${Math.floor(i / perDir)}/` : '';
    if (perDir > 0 && i % perDir === 0) yield { entry: { name: dir, type: 'dir' as const } };
    yield { entry: { name: `${dir}f${i}`, type: 'file' as const }, body: Buffer.alloc(0) };
  }
}

/** writeTar yields one buffer per header: batch them into 64 KiB chunks as a decompressor would. */
async function* chunked(src: AsyncIterable<Buffer>) {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const b of src) {
    parts.push(b);
    n += b.length;
    if (n >= 1 << 16) {
      yield Buffer.concat(parts);
      parts = [];
      n = 0;
    }
  }
  if (n) yield Buffer.concat(parts);
}

const root = mkdtempSync(join(tmpdir(), 'shoal-bench-many-'));
try {
  const layers = new LayerStore(root);
  await layers.init();
  const diffId = `sha256:${'ab'.repeat(32)}` as Digest;
  let t = performance.now();
  await layers.ensure(diffId, async (dir) => {
    await unpackLayer(chunked(writeTar(entries())), dir);
    return { diffId, tarSize: 0, contentSize: 0 };
  });
  const unpack_s = (performance.now() - t) / 1000;
  log(`unpacked ${count} files in ${round(unpack_s, 2)} s`);
  t = performance.now();
  if (discard) await discardTree(join(layers.dir, 'ab'.repeat(32)), join(layers.dir, '.tmp-trash'));
  else await layers.remove(diffId);
  const remove_s = (performance.now() - t) / 1000;
  // whatever removal left running in the background: wait until the layers dir is empty
  const gone = async () => {
    for (const n of await fs.readdir(layers.dir))
      if (n !== '.tmp-trash' || (await fs.readdir(join(layers.dir, n))).length > 0) return false;
    return true;
  };
  while (!(await gone())) await new Promise((r) => setTimeout(r, 50));
  const gone_s = (performance.now() - t) / 1000;
  const peak_rss_mb = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      count,
      per_dir: perDir,
      removal: discard ? 'discardTree' : 'LayerStore.remove',
      unpack_s: round(unpack_s, 2),
      remove_s: round(remove_s, 2),
      gone_s: round(gone_s, 2),
      peak_rss_mb: round(peak_rss_mb, 0),
    }),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
