import { describe, expect, it } from 'vitest';
import { checkVolumeName, labelMatches, parseVolumeFilters, volumeMatches } from './names.js';

describe('volume names', () => {
  it('follows the local driver rule', () => {
    for (const ok of ['ab', 'data', 'a.b-c_d', '0x']) expect(checkVolumeName(ok)).toBe(ok);
    for (const bad of ['', 'a', '-ab', '.ab', 'a/b', 'a b', 'ä1', '/abs'])
      expect(() => checkVolumeName(bad)).toThrow(/includes invalid characters for a local volume name/);
  });
});

describe('volume filters', () => {
  const v = { name: 'web-data', driver: 'local', labels: { team: 'blue', tier: '' } };
  it('parses both filter encodings and refuses unknown keys and bad JSON', () => {
    expect(parseVolumeFilters('{"label":{"team=blue":true},"dangling":["true"]}')).toEqual({
      label: ['team=blue'],
      dangling: true,
    });
    expect(parseVolumeFilters('{"name":["web"],"label!":["x"]}')).toEqual({ name: ['web'], labelNot: ['x'] });
    expect(() => parseVolumeFilters('{"colour":["red"]}')).toThrow(/invalid filter 'colour'/);
    expect(() => parseVolumeFilters('{"dangling":["maybe"]}')).toThrow(/dangling=maybe/);
    expect(() => parseVolumeFilters('nope')).toThrow(/not JSON/);
    expect(() => parseVolumeFilters('{"name":["x"]}', new Set(['label']))).toThrow(/invalid filter 'name'/);
  });
  it('matches as dockerd (name substring, all labels, dangling = unused)', () => {
    expect(labelMatches(v.labels, 'tier')).toBe(true);
    expect(labelMatches(v.labels, 'team=red')).toBe(false);
    expect(volumeMatches(v, false, { name: ['data'], driver: ['local'], label: ['team=blue', 'tier'] })).toBe(
      true,
    );
    expect(volumeMatches(v, false, { name: ['db'] })).toBe(false);
    expect(volumeMatches(v, true, { dangling: true })).toBe(false);
    expect(volumeMatches(v, true, { dangling: false })).toBe(true);
    expect(volumeMatches(v, false, { labelNot: ['team'] })).toBe(false);
  });
});
