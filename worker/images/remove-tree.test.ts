import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { discardTree, removeTree } from './remove-tree.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-rmtree-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

it('removes a tree with read-only directories, without following symlinks out of it', async () => {
  const outside = path.join(tmp, 'outside');
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, 'keep'), 'k');
  const t = path.join(tmp, 'tree');
  await fs.mkdir(path.join(t, 'a/b'), { recursive: true });
  for (let i = 0; i < 100; i++) await fs.writeFile(path.join(t, 'a/b', `f${i}`), '');
  await fs.symlink(outside, path.join(t, 'a/out'));
  await fs.chmod(path.join(t, 'a/b'), 0o500);
  await fs.chmod(path.join(t, 'a'), 0o000);
  await removeTree(t);
  await expect(fs.lstat(t)).rejects.toThrow(/ENOENT/);
  expect(await fs.readdir(outside)).toEqual(['keep']);
  await removeTree(path.join(tmp, 'absent')); // like rm -f: nothing there is not an error
});

it('refuses a relative path and the root', async () => {
  await expect(removeTree('tree')).rejects.toThrow(/removeTree: refusing "tree"/);
  await expect(removeTree('/')).rejects.toThrow(/refusing "\/"/);
  await expect(removeTree('/tmp/..')).rejects.toThrow(/refusing/);
});

it('discards a tree at once (renamed into the trash) and removes it in the background', async () => {
  const t = path.join(tmp, 'layer');
  await fs.mkdir(path.join(t, 'd'), { recursive: true });
  await fs.writeFile(path.join(t, 'd/f'), 'x');
  const { done } = await discardTree(t, path.join(tmp, 'trash'));
  await expect(fs.lstat(t)).rejects.toThrow(/ENOENT/);
  await done;
  expect(await fs.readdir(path.join(tmp, 'trash'))).toEqual([]);
  await expect(discardTree(t, path.join(tmp, 'trash'))).rejects.toThrow(/ENOENT/);
});
