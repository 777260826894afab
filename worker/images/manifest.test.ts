import { describe, expect, it } from 'vitest';
import { parseImageConfig, parseManifest, selectPlatform } from './manifest.js';
import { MT } from './mediatypes.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (mediaType: string, c: string, extra = {}) => ({ mediaType, digest: d(c), size: 10, ...extra });

describe('parseManifest', () => {
  it('reads an OCI manifest, with or without its mediaType field', () => {
    const doc = { schemaVersion: 2, config: desc(MT.ociConfig, 'a'), layers: [desc(MT.ociLayerGzip, 'b')] };
    const m = parseManifest(JSON.stringify(doc));
    expect(m).toMatchObject({ kind: 'manifest', mediaType: MT.ociManifest, config: { digest: d('a') } });
    const m2 = parseManifest(JSON.stringify({ ...doc, mediaType: MT.ociManifest }), 'application/json');
    expect(m2.kind).toBe('manifest');
  });

  it('reads a Docker schema 2 manifest by Content-Type', () => {
    const doc = {
      schemaVersion: 2,
      config: desc(MT.dockerConfig, 'a'),
      layers: [desc(MT.dockerLayerGzip, 'b')],
    };
    const m = parseManifest(JSON.stringify(doc), `${MT.dockerManifest}; charset=utf-8`);
    expect(m).toMatchObject({ kind: 'manifest', mediaType: MT.dockerManifest });
  });

  it('picks linux/amd64 from an OCI index and a Docker manifest list', () => {
    for (const [mt, child] of [
      [MT.ociIndex, MT.ociManifest],
      [MT.dockerList, MT.dockerManifest],
    ]) {
      const doc = {
        schemaVersion: 2,
        mediaType: mt,
        manifests: [
          desc(child, '1', { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
          desc('application/vnd.in-toto+json', '3', { platform: { os: 'unknown', architecture: 'unknown' } }),
          desc(child, '2', { platform: { os: 'linux', architecture: 'amd64' } }),
        ],
      };
      const idx = parseManifest(JSON.stringify(doc));
      if (idx.kind !== 'index') throw new Error('expected an index');
      expect(selectPlatform(idx).digest).toBe(d('2'));
    }
  });

  it('says which platforms exist when linux/amd64 is missing', () => {
    const idx = parseManifest(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: [desc(MT.ociManifest, '1', { platform: { os: 'linux', architecture: 's390x' } })],
      }),
    );
    if (idx.kind !== 'index') throw new Error('expected an index');
    expect(() => selectPlatform(idx)).toThrow(/no manifest for linux\/amd64.*linux\/s390x/);
  });

  it.each([
    [
      { schemaVersion: 2, mediaType: 'application/vnd.example+json' },
      /unsupported media type "application\/vnd.example\+json"/,
    ],
    [{ schemaVersion: 1, name: 'x', fsLayers: [] }, /schema 1/],
    [
      {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: desc(MT.ociConfig, 'a'),
        layers: [desc('text/plain', 'b')],
      },
      /layers\[0\]\.mediaType: unsupported layer media type "text\/plain"/,
    ],
    [
      {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { ...desc(MT.ociConfig, 'a'), digest: 'sha256:xyz' },
        layers: [],
      },
      /manifest\.config\.digest: invalid digest/,
    ],
    [
      {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { ...desc(MT.ociConfig, 'a'), size: -1 },
        layers: [],
      },
      /manifest\.config\.size/,
    ],
    [
      { schemaVersion: 2, mediaType: MT.ociManifest, config: desc(MT.ociConfig, 'a') },
      /manifest\.layers: expected an array/,
    ],
  ])('rejects %j', (doc, msg) => {
    expect(() => parseManifest(JSON.stringify(doc))).toThrow(msg);
  });

  it('rejects non-JSON', () => {
    expect(() => parseManifest('{nope')).toThrow(/manifest: not valid JSON/);
  });
});

describe('parseImageConfig', () => {
  it('requires rootfs.diff_ids of sha256 digests', () => {
    expect(
      parseImageConfig(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [d('a')] } })).rootfs.diff_ids,
    ).toEqual([d('a')]);
    expect(() => parseImageConfig('{}')).toThrow(/image config\.rootfs: expected an object/);
    expect(() => parseImageConfig(JSON.stringify({ rootfs: { type: 'layers', diff_ids: ['x'] } }))).toThrow(
      /diff_ids\[0\]: invalid digest/,
    );
  });
});
