// Issue 7 C: archives that used to hang a load, load wrongly, or load images that can never run.
// Each case loads the hostile archive into a real store and checks the clear error and that the
// store is as it was; the memory case measures RSS while a 200 × 4 MiB archive streams through.
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Of } from '../../common/digest.js';
import { loadArchive, MAX_ARCHIVE_ENTRIES } from '../../worker/images/load.js';
import { MAX_JSON_DEPTH, MAX_LAYERS, parseImageConfig, parseManifest } from '../../worker/images/manifest.js';
import { MT } from '../../worker/images/mediatypes.js';
import { ImageStore } from '../../worker/images/store.js';
import { type TarSource, writeTar } from '../../worker/images/tar/writer.js';
import { dockerSaveTar, makeImage, ociImage, tarOf } from '../fixtures/steps/images-lib.js';
import { ensureImageFixtures, fixture } from './fixtures.js';

let tmp: string;
let store: ImageStore;
beforeAll(() => ensureImageFixtures());
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-load-integrity-'));
  store = await ImageStore.open(path.join(tmp, 'images'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}
const snapshot = async () => ({
  list: await store.list(),
  blobs: (await store.blobs.list()).sort(),
  layers: (await store.layers.list()).sort(),
});
const fileEntry = (name: string, body: Buffer | string): TarSource => ({
  entry: { name, type: 'file' },
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
});
const layerOf = (name: string, content: string) => tarOf([fileEntry(name, content)]);

/** An OCI layout archive from hand-made index entries and blobs (so that they can be wrong). */
function ociLayout(blobs: Buffer[], manifests: unknown[]): Promise<Buffer> {
  return tarOf([
    fileEntry('oci-layout', '{"imageLayoutVersion":"1.0.0"}'),
    ...blobs.map((b) => fileEntry(`blobs/sha256/${sha256Of(b).slice(7)}`, b)),
    fileEntry('index.json', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests })),
  ]);
}
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('archives that used to never answer', () => {
  it('a docker-save manifest.json of [] is refused', async () => {
    const tar = await tarOf([fileEntry('manifest.json', '[]')]);
    await expect(loadArchive(store, once(tar))).rejects.toThrow(/manifest\.json lists no images/);
    expect(await snapshot()).toEqual({ list: [], blobs: [], layers: [] });
  });

  it('an OCI index.json without manifests is refused', async () => {
    const tar = await ociLayout([], []);
    await expect(loadArchive(store, once(tar))).rejects.toThrow(/index\.json lists no images/);
    const empty = await tarOf([fileEntry('oci-layout', '{}'), fileEntry('index.json', '')]);
    await expect(loadArchive(store, once(empty))).rejects.toThrow(/index\.json.*not valid JSON/);
    expect(await snapshot()).toEqual({ list: [], blobs: [], layers: [] });
  });
});

describe('load-time integrity', () => {
  it('an OCI layer descriptor whose size differs from the blob is refused', async () => {
    const img = makeImage([await layerOf('a', 'a\n')]);
    const o = ociImage(img, { gzip: false });
    const m = JSON.parse(o.manifest.toString());
    m.layers[0].size += 1;
    const bad = Buffer.from(JSON.stringify(m));
    const tar = await ociLayout(
      [img.config, img.layers[0], bad],
      [
        {
          mediaType: MT.ociManifest,
          digest: sha256Of(bad),
          size: bad.length,
          annotations: { 'io.containerd.image.name': 'docker.io/library/sized:1' },
        },
      ],
    );
    await expect(loadArchive(store, once(tar))).rejects.toThrow(
      /layer sha256:[0-9a-f]{64}: the descriptor says \d+ bytes, the blob has \d+/,
    );
    expect(await store.list()).toEqual([]);
  });

  it('a manifest descriptor whose size differs from the blob is refused', async () => {
    const img = makeImage([await layerOf('a', 'a\n')]);
    const o = ociImage(img, { gzip: false });
    const tar = await ociLayout(
      [img.config, img.layers[0], o.manifest],
      [{ mediaType: MT.ociManifest, digest: o.manifestDigest, size: o.manifest.length - 1 }],
    );
    await expect(loadArchive(store, once(tar))).rejects.toThrow(/manifest .*the descriptor says/);
  });

  it('a docker-save manifest naming manifest.json as a layer of an already present layer is refused', async () => {
    // the layer and some blob exist already: the old fast path registered the pair unchecked
    await loadArchive(store, createReadStream(fixture('busybox.docker.tar')) as AsyncIterable<Buffer>);
    const busybox = store.get('busybox');
    const before = await snapshot();
    const cfg = JSON.parse((await store.blobs.read(busybox.configDigest)).toString());
    const config = Buffer.from(JSON.stringify(cfg).replace('"sh"', '"evil"'));
    const manifest = JSON.stringify([
      { Config: 'config.json', RepoTags: ['evil:latest'], Layers: ['manifest.json'] },
    ]);
    const tar = await tarOf([fileEntry('config.json', config), fileEntry('manifest.json', manifest)]);
    await expect(loadArchive(store, once(tar))).rejects.toThrow(/diff-id \(uncompressed\)/);
    expect(await snapshot()).toEqual(before);
    expect(store.resolve('evil')).toBeUndefined();
  });

  it('reloading an image whose blob and layer exist verifies the pairing once, then trusts it', async () => {
    const load = () =>
      loadArchive(store, createReadStream(fixture('busybox.docker.tar')) as AsyncIterable<Buffer>);
    await load();
    const { diffId, digest } = store.get('busybox').layers[0];
    expect(await store.layers.paired(diffId, digest)).toBe(true);
    const second = await load();
    expect(second.loaded.map((l) => l.ref)).toEqual(['busybox:latest']);
  });
});

describe('images that would load but never run', () => {
  it('refuses more than 125 layers', async () => {
    const layers = await Promise.all(
      Array.from({ length: MAX_LAYERS + 1 }, (_, i) => layerOf(`f${i}`, `${i}\n`)),
    );
    const tar = await dockerSaveTar([{ image: makeImage(layers), tags: ['deep:1'] }]);
    await expect(loadArchive(store, once(tar))).rejects.toThrow(
      /rootfs\.diff_ids: 126 layers, more than the 125 allowed/,
    );
    expect(await snapshot()).toEqual({ list: [], blobs: [], layers: [] });
    // 125 is fine
    const ok = await dockerSaveTar([{ image: makeImage(layers.slice(0, MAX_LAYERS)), tags: ['deep:2'] }]);
    await loadArchive(store, once(ok));
    expect(store.get('deep:2').layers).toHaveLength(MAX_LAYERS);
  }, 120_000);

  it('refuses a deeply nested config (it used to break run/create/inspect with a stack overflow)', async () => {
    const img = makeImage([await layerOf('a', 'a\n')]);
    const cfg = JSON.parse(img.config.toString());
    const config = Buffer.from(JSON.stringify(cfg).replace(/}$/, `,"x":${nested(100_000)}}`));
    const tar = await dockerSaveTar([{ image: { config, layers: img.layers }, tags: ['nest:1'] }]);
    await expect(loadArchive(store, once(tar))).rejects.toThrow(
      new RegExp(`image config: nested more than ${MAX_JSON_DEPTH} levels deep`),
    );
    expect(await store.list()).toEqual([]);
  });

  it('the JSON bounds: depth counts brackets outside strings only, and size is limited', () => {
    const cfg = (extra: string) =>
      `{"rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"a":"${extra}"}}}`;
    expect(parseImageConfig(cfg('[[[[{{{{'.repeat(100))).config?.Labels?.a).toHaveLength(800);
    expect(parseImageConfig(cfg('\\"[[')).config?.Labels?.a).toBe('"[[');
    expect(() => parseImageConfig(`{"x":${nested(MAX_JSON_DEPTH)}}`)).toThrow(/nested more than/);
    expect(() =>
      parseImageConfig(`{"x":${nested(MAX_JSON_DEPTH - 2)},"rootfs":{"type":"layers","diff_ids":[]}}`),
    ).not.toThrow();
    expect(() => parseManifest(`{"x":"${'a'.repeat(9 << 20)}"}`)).toThrow(/manifest: \d+ bytes, more than/);
    const layers = Array.from({ length: 126 }, () => ({
      mediaType: MT.ociLayer,
      digest: `sha256:${'a'.repeat(64)}`,
      size: 1,
    }));
    const m = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { ...layers[0], mediaType: MT.ociConfig },
      layers,
    };
    expect(() => parseManifest(JSON.stringify(m))).toThrow(/manifest\.layers: 126 layers, more than the 125/);
  });
});

describe('memory', () => {
  it('refuses an archive with more entries than any image archive has (names are what stays in memory)', async () => {
    async function* items(): AsyncGenerator<TarSource> {
      for (let i = 0; i <= MAX_ARCHIVE_ENTRIES; i++)
        yield { entry: { name: `l/${i}`, type: 'symlink', linkname: 'x' } };
      yield fileEntry('manifest.json', '[]');
    }
    await expect(loadArchive(store, writeTar(items()))).rejects.toThrow(/more than 65536 files/);
    expect(await snapshot()).toEqual({ list: [], blobs: [], layers: [] });
  }, 120_000);

  it('streams archive entries: 200 × 4 MiB files do not stay in memory', async () => {
    const img = makeImage([await layerOf('a', 'a\n')]);
    const chunk = Buffer.alloc(4 << 20, 7); // one buffer, 200 entries: the archive is never in memory
    async function* items(): AsyncGenerator<TarSource> {
      for (let i = 0; i < 200; i++) yield { entry: { name: `junk/${i}`, type: 'file' }, body: chunk };
      yield fileEntry('config.json', img.config);
      yield fileEntry('layer.tar', img.layers[0]);
      yield fileEntry(
        'manifest.json',
        JSON.stringify([{ Config: 'config.json', RepoTags: ['mem:1'], Layers: ['layer.tar'] }]),
      );
    }
    const archive = () => writeTar(items());
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      const r = await loadArchive(store, archive());
      expect(r.loaded.map((l) => l.ref)).toEqual(['mem:1']);
    } finally {
      clearInterval(timer);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const mb = (n: number) => Math.round(n / 1e6);
    console.log(`load of 200 × 4 MiB entries: RSS before ${mb(before)} MB, peak ${mb(peak)} MB`);
    // the old code kept every entry ≤ 4 MiB: 800 MiB more
    expect(peak - before).toBeLessThan(300e6);
  }, 300_000);
});
