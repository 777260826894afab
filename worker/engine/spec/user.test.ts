import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { resolveUser } from './user.js';

const files: Record<string, string> = {
  '/etc/passwd': [
    'root:x:0:0:root:/root:/bin/sh',
    '# comment',
    'app:x:1000:1000:app:/home/app:/bin/sh',
    'broken:line',
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  ].join('\n'),
  '/etc/group': [
    'root:x:0:',
    'wheel:x:10:app',
    'audio:x:29:app,other',
    'app:x:1000:',
    'nogroup:x:65534:',
  ].join('\n'),
};
const read = (p: string) => files[p];
const none = () => undefined;

describe('resolveUser', () => {
  it('defaults to root with its passwd entry', () => {
    expect(resolveUser('', read)).toEqual({
      uid: 0,
      gid: 0,
      additionalGids: [],
      home: '/root',
      username: 'root',
    });
  });
  it('resolves a name with its primary and supplementary groups', () => {
    expect(resolveUser('app', read)).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [10, 29],
      home: '/home/app',
      username: 'app',
    });
  });
  it('takes a known numeric uid with its passwd gid, an unknown one with gid 0', () => {
    expect(resolveUser('1000', read)).toMatchObject({ uid: 1000, gid: 1000, additionalGids: [10, 29] });
    expect(resolveUser('4242', read)).toEqual({ uid: 4242, gid: 0, additionalGids: [], home: '/' });
    expect(resolveUser('4242:77', none)).toEqual({ uid: 4242, gid: 77, additionalGids: [], home: '/' });
  });
  it('an explicit group replaces the primary gid and skips implicit supplementary groups (as runc)', () => {
    expect(resolveUser('app:wheel', read)).toMatchObject({ uid: 1000, gid: 10, additionalGids: [] });
    expect(resolveUser('app:5', read)).toMatchObject({ uid: 1000, gid: 5, additionalGids: [] });
  });
  it('adds --group-add groups by name or id', () => {
    expect(resolveUser('nobody', read, ['audio', '777']).additionalGids).toEqual([29, 777]);
  });
  it('names what it could not find', () => {
    expect(() => resolveUser('ghost', read)).toThrow(/unable to find user ghost/);
    expect(() => resolveUser('app:ghosts', read)).toThrow(/unable to find group ghosts/);
    expect(() => resolveUser('app', none)).toThrow(/unable to find user app/);
    expect(() => resolveUser('root', read, ['nope'])).toThrow(/nope/);
    for (const bad of ['a:b:c', ':5', '5:', '99999999999']) {
      try {
        resolveUser(bad, read);
        throw new Error(`accepted ${bad}`);
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidArgumentError);
        expect((e as InvalidArgumentError).field).toBe('user');
      }
    }
  });
});
