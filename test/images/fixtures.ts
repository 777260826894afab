// Paths of the image fixtures; builds them (test/fixtures/make-fixtures.sh) when missing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
export const fixturesOut = path.join(root, 'test/fixtures/out');
export const imagesDir = path.join(fixturesOut, 'images');

export function ensureImageFixtures(): void {
  if (
    existsSync(path.join(imagesDir, 'multilayer.docker.tar')) &&
    existsSync(path.join(imagesDir, 'busybox.oci.tar'))
  )
    return;
  execFileSync('bash', [path.join(root, 'test/fixtures/make-fixtures.sh')], { stdio: 'inherit' });
}

export const fixture = (name: string) => path.join(imagesDir, name);
