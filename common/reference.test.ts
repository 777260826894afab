import { describe, expect, it } from 'vitest';
import { familiarString, formatReference, parseReference } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox:x', 'docker.io/library/busybox:x', 'busybox:x'],
    ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['127.0.0.1:5000/foo/bar:1', '127.0.0.1:5000/foo/bar:1', '127.0.0.1:5000/foo/bar:1'],
    ['localhost/foo', 'localhost/foo:latest', 'localhost/foo:latest'],
    ['localhost:5000/a/b/c', 'localhost:5000/a/b/c:latest', 'localhost:5000/a/b/c:latest'],
    [
      'registry.example.com/a_b/c-d.e__f:v1.0-rc',
      'registry.example.com/a_b/c-d.e__f:v1.0-rc',
      'registry.example.com/a_b/c-d.e__f:v1.0-rc',
    ],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
  ])('%s', (input, canonical, familiar) => {
    const r = parseReference(input);
    expect(formatReference(r)).toBe(canonical);
    expect(familiarString(r)).toBe(familiar);
  });

  it('keeps the port apart from the tag', () => {
    const r = parseReference('127.0.0.1:5000/foo/bar');
    expect(r).toMatchObject({ domain: '127.0.0.1:5000', path: 'foo/bar', tag: 'latest' });
  });

  it.each([
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['foo/Bar', /lowercase/],
    ['foo bar', /whitespace/],
    ['foo:', /invalid tag/],
    ['foo:-x', /invalid tag/],
    [`foo:${'x'.repeat(129)}`, /invalid tag/],
    ['foo@sha256:abc', /invalid digest/],
    [`foo@md5:${'a'.repeat(32)}`, /unsupported digest algorithm/],
    ['foo//bar', /invalid path component ""/],
    ['foo/-bar', /invalid path component "-bar"/],
    ['a..b/c', /invalid registry host/],
    [':tag', /missing repository name/],
    [`x/${'a'.repeat(260)}`, /longer than 255/],
  ])('rejects %j', (input, msg) => {
    expect(() => parseReference(input)).toThrow(msg);
  });
});
