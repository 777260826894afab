// zstd-compressed layers (OCI `tar+zstd`): an image whose layers zstd(1) compressed is pushed to a local
// docker-registry, pulled by the real docker CLI through shoald and run; a layer whose zstd stream is
// corrupt (the blob digest matching the corrupt bytes, so only decoding can tell) is refused by name
// and registers nothing.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Of } from '../../common/digest.js';
import { MT } from '../../worker/images/mediatypes.js';
import { RegistryClient } from '../../worker/images/registry/client.js';
import { cleanup, type Daemon, docker, ROOTFS, startShoald } from '../daemon/harness.js';
import { dirTar, tarOf } from '../fixtures/steps/images-lib.js';
import { ensureImageFixtures } from './fixtures.js';
import { startRegistry, type TestRegistry } from './registry-harness.js';

let d: Daemon;
let reg: TestRegistry;
beforeAll(async () => {
  ensureImageFixtures();
  [d, reg] = await Promise.all([startShoald(), startRegistry()]);
});
afterAll(async () => {
  if (d) await cleanup(d);
  await reg?.stop();
});

const zstdOf = (data: Buffer) => execFileSync('zstd', ['-q', '-c'], { input: data, maxBuffer: 1 << 28 });

/** Pushes an image of these (uncompressed layer, blob) pairs, all typed tar+zstd; returns its reference. */
async function pushZstdImage(repo: string, layers: { tar: Buffer; blob: Buffer }[]): Promise<string> {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['cat', '/hello.txt'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256Of(l.tar)) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha256Of(config), size: config.length },
      layers: layers.map((l) => ({
        mediaType: MT.ociLayerZstd,
        digest: sha256Of(l.blob),
        size: l.blob.length,
      })),
    }),
  );
  const client = new RegistryClient(reg.host, repo);
  for (const blob of [...layers.map((l) => l.blob), config]) {
    const loc = await client.startUpload();
    await client.putBlob(loc, sha256Of(blob), blob);
  }
  await client.putManifest('1', MT.ociManifest, manifest);
  return `${reg.host}/${repo}:1`;
}

describe('zstd layers from a registry', () => {
  it('docker pull of an image with zstd layers through shoald, then docker run', async () => {
    const base = await dirTar(ROOTFS);
    const top = await tarOf([
      { entry: { name: 'hello.txt', type: 'file', mode: 0o644 }, body: Buffer.from('hello from zstd\n') },
    ]);
    const ref = await pushZstdImage('zstd/ok', [
      { tar: base, blob: zstdOf(base) },
      { tar: top, blob: zstdOf(top) },
    ]);
    const pull = await docker(d, ['pull', ref]);
    expect(pull).toMatchObject({ code: 0 });
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${ref}`);
    const run = await docker(d, ['run', '--rm', '--network', 'none', ref]);
    expect(run).toMatchObject({ code: 0, stdout: 'hello from zstd\n' });
    const sh = await docker(d, ['run', '--rm', '--network', 'none', ref, 'sh', '-c', 'echo $((6*7))']);
    expect(sh).toMatchObject({ code: 0, stdout: '42\n' });
  });

  it('a corrupt zstd layer is refused with a clear error and registers nothing', async () => {
    const top = await tarOf([
      { entry: { name: 'hello.txt', type: 'file', mode: 0o644 }, body: Buffer.alloc(100_000, 'corrupt me ') },
    ]);
    const blob = Buffer.from(zstdOf(top));
    // the first block header follows the frame header; make its type the reserved one (3)
    const descriptor = blob[4];
    const single = (descriptor >> 5) & 1;
    const headerLen =
      1 + (single ? 0 : 1) + [0, 1, 2, 4][descriptor & 3] + [single, 2, 4, 8][descriptor >> 6];
    blob[4 + headerLen] |= 0b110;
    const ref = await pushZstdImage('zstd/bad', [{ tar: top, blob }]);
    const pull = await docker(d, ['pull', ref]);
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toContain('corrupt zstd stream: block header: reserved block type');
    const images = await docker(d, ['images', '--format', '{{.Repository}}']);
    expect(images.stdout).not.toContain('zstd/bad');
  });
});
