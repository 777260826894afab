// bin/shoal compiles the CLI bundle from a V8 code cache beside it (dist/shoal.cjs.v8cache). A cache that
// does not fit (another Node.js, another bundle, a damaged file) is ignored and replaced; none at all is
// made by the first command. No daemon is needed: --help and usage errors stay in the CLI.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO } from '../daemon/harness.js';

const cache = join(REPO, 'dist/shoal.cjs.v8cache');
const saved = `${cache}.test-${process.pid}`;
const run = (...args: string[]) =>
  spawnSync(process.execPath, [join(REPO, 'bin/shoal'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, SHOAL_HOST: '' },
  });

beforeAll(() => {
  if (existsSync(cache)) renameSync(cache, saved);
});
afterAll(() => {
  if (existsSync(saved)) renameSync(saved, cache);
});

it('is made by the first command, then used; a damaged one is ignored and replaced', () => {
  rmSync(cache, { force: true });
  const first = run('--help');
  expect(first.status).toBe(0);
  expect(first.stdout).toContain('Usage:');
  expect(readFileSync(cache).length).toBeGreaterThan(10_000);

  const again = run('--help');
  expect(again.status).toBe(0);
  expect(again.stdout).toBe(first.stdout);

  writeFileSync(cache, Buffer.alloc(4096, 7)); // not a cache V8 accepts
  const damaged = run('ps', '--bogus');
  expect(damaged.status).toBe(125);
  expect(damaged.stderr).toContain('--bogus');
  expect(readFileSync(cache).subarray(0, 4096).equals(Buffer.alloc(4096, 7))).toBe(false);
});
