import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rootfsReader } from './rootfs-files.js';

const root = mkdtempSync(join(tmpdir(), 'shoal-rootfs-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function layer(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('rootfsReader', () => {
  it('reads a plain directory and follows symlinks inside the rootfs', () => {
    const d = layer('plain', { 'etc/real-passwd': 'root:x:0:0::/:/bin/sh\n', 'etc/group': 'g' });
    symlinkSync('/etc/real-passwd', join(d, 'etc/passwd'));
    symlinkSync('../../../../etc', join(d, 'escape'));
    const read = rootfsReader([d]);
    expect(read('/etc/passwd')).toBe('root:x:0:0::/:/bin/sh\n');
    expect(read('/escape/group')).toBe('g'); // ".." stops at the rootfs' "/"
    expect(read('/etc/missing')).toBeUndefined();
    expect(read('/etc')).toBeUndefined();
  });
  it('looks through layers top first and honours whiteouts', () => {
    const lower = layer('lower', { 'etc/passwd': 'lower', 'etc/group': 'lower-group', 'etc/shadow': 'x' });
    const upper = layer('upper', { 'etc/passwd': 'upper' });
    execFileSync('mknod', [join(upper, 'etc/group'), 'c', '0', '0']);
    writeFileSync(join(upper, 'etc/.wh.shadow'), '');
    const read = rootfsReader([upper, lower]);
    expect(read('/etc/passwd')).toBe('upper');
    expect(read('/etc/group')).toBeUndefined();
    expect(read('/etc/shadow')).toBeUndefined();
    expect(rootfsReader([lower])('/etc/group')).toBe('lower-group');
  });
});
