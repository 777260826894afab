import { describe, expect, it } from 'vitest';
import { splitRepoTag } from './container-fs.js';
import { rebase } from './cp.js';

describe('rebase (docker cp renaming the top entry)', () => {
  it('renames the top component and what is under it, nothing else', () => {
    expect(rebase('d', 'd', 'new')).toBe('new');
    expect(rebase('d/', 'd', 'new')).toBe('new/');
    expect(rebase('d/sub/f', 'd', 'new')).toBe('new/sub/f');
    expect(rebase('./d/sub/f', 'd', 'new')).toBe('new/sub/f');
    expect(rebase('dd/f', 'd', 'new')).toBe('dd/f');
    expect(rebase('d/f', 'd', 'd')).toBe('d/f');
  });
  it('puts a directory content ("." entries) under the new name', () => {
    expect(rebase('.', '.', 'x')).toBe('x');
    expect(rebase('./', '.', 'x')).toBe('x');
    expect(rebase('./sub/f', '.', 'x')).toBe('x/sub/f');
  });
  it('puts the root\'s entries ("/", "/bin/…") under the new name, and leaves them to land in place', () => {
    expect(rebase('/', '/', 'x')).toBe('x/');
    expect(rebase('/bin/sh', '/', 'x')).toBe('x/bin/sh');
    expect(rebase('/bin/sh', '/', '/')).toBe('/bin/sh');
  });
});

describe('splitRepoTag', () => {
  it('takes the tag after the last colon past the last slash only', () => {
    expect(splitRepoTag('img')).toEqual({ repo: 'img' });
    expect(splitRepoTag('img:v1')).toEqual({ repo: 'img', tag: 'v1' });
    expect(splitRepoTag('127.0.0.1:5000/img')).toEqual({ repo: '127.0.0.1:5000/img' });
    expect(splitRepoTag('127.0.0.1:5000/img:v2')).toEqual({ repo: '127.0.0.1:5000/img', tag: 'v2' });
  });
});
