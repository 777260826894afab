// A zstd-compressed root filesystem (the compression of OCI `+zstd` layers) imported through the docker CLI
// and run: the layer is decoded by fzstd on this Node.js (or its zlib where it has zstd).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanup, type Daemon, docker, REPO, startShoald } from './harness.js';

let d: Daemon;
const work = mkdtempSync(join(tmpdir(), 'shoal-zstd-'));
beforeAll(async () => {
  d = await startShoald();
});
afterAll(async () => {
  await cleanup(d);
  rmSync(work, { recursive: true, force: true });
});

it('imports and runs a zstd root filesystem; a corrupt one is refused and leaves no image', async () => {
  const tar = join(REPO, 'test/fixtures/out/images/busybox-rootfs.tar');
  const zst = join(work, 'rootfs.tar.zst');
  execFileSync('zstd', ['-q', '-19', '-o', zst, tar]);
  expect((await docker(d, ['import', zst, 'zst:1'])).code).toBe(0);
  const r = await docker(d, ['run', '--rm', 'zst:1', '/bin/busybox', 'echo', 'from zstd']);
  expect(r).toMatchObject({ code: 0, stdout: 'from zstd\n' });
  writeFileSync(join(work, 'bad.zst'), readFileSync(zst).subarray(0, 5000)); // cut short
  const refused = await docker(d, ['import', join(work, 'bad.zst'), 'zst:bad']);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/zstd stream/);
  expect((await docker(d, ['images', '-q', 'zst:bad'])).stdout).toBe('');
});
