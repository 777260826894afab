import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../errors.js';
import type { MountPoint } from '../types.js';
import { parseVolumeSpec, parseVolumesFrom, planMounts, shouldCopyUp } from './mounts.js';

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as { field?: string }).field;
  }
  return 'no error';
};

describe('parseVolumeSpec (-v / Binds)', () => {
  it('tells binds, named volumes and anonymous volumes apart', () => {
    expect(parseVolumeSpec('/h/:/c/:ro,rslave')).toMatchObject({
      kind: 'bind',
      source: '/h',
      destination: '/c',
      readOnly: true,
      propagation: 'rslave',
      createSource: true,
    });
    expect(parseVolumeSpec('data:/d')).toMatchObject({
      kind: 'volume',
      name: 'data',
      destination: '/d',
      mode: 'z',
    });
    expect(parseVolumeSpec('data:/d:ro,nocopy')).toMatchObject({
      readOnly: true,
      noCopy: true,
      mode: 'ro,nocopy',
    });
    const anon = parseVolumeSpec('/only');
    expect(anon).toMatchObject({ kind: 'volume', destination: '/only', mode: '' });
    expect('name' in anon).toBe(false);
  });

  it.each([
    'a:b:c:d',
    ':/x',
    'data:rel',
    'data:/',
    'x:/d', // one character: not a volume name
    'bad/name:/d', // relative path: not a volume name either
    'data:/d:bogus',
    'data:/d:ro,ro',
    'data:/d:rshared', // propagation is for binds
    '/h:/c:nocopy', // nocopy is for volumes
  ])('refuses %j naming the binds field', (raw) => {
    expect(fieldOf(() => parseVolumeSpec(raw))).toBe('binds');
  });

  it('parses --volumes-from', () => {
    expect(parseVolumesFrom('web')).toEqual({ ref: 'web', mode: '' });
    expect(parseVolumesFrom('web:ro')).toEqual({ ref: 'web', mode: 'ro' });
    for (const bad of ['', 'web:', 'web:x', ':ro'])
      expect(fieldOf(() => parseVolumesFrom(bad))).toBe('volumesFrom');
  });
});

describe('planMounts', () => {
  const other: MountPoint[] = [
    {
      type: 'volume',
      name: 'shared',
      source: '/vols/shared/_data',
      destination: '/s',
      rw: true,
      options: [],
      mode: 'z',
    },
    { type: 'bind', source: '/host', destination: '/h', rw: false, options: ['rbind', 'rslave', 'ro'] },
    { type: 'tmpfs', source: 'tmpfs', destination: '/t', rw: true, options: [] },
  ];
  const ctx = {
    mountsOf: (ref: string) => {
      if (ref !== 'other') throw new NotFoundError(`No such container: ${ref}`);
      return other;
    },
  };

  it('orders volumes-from, then binds and mounts over them, then anonymous volumes where nothing is mounted', () => {
    const plan = planMounts(
      {
        volumesFrom: ['other'],
        binds: ['mine:/s'],
        mounts: [{ type: 'volume', target: '/m', noCopy: true, labels: { a: 'b' } }],
        volumes: ['/anon', '/m'],
        tmpfs: { '/img-tmp': '' },
      },
      { Volumes: { '/img': {}, '/h': {}, '/img-tmp': {} } },
      ctx,
    );
    const byDest = Object.fromEntries(plan.map((r) => [r.destination, r]));
    expect(Object.keys(byDest).sort()).toEqual(['/anon', '/h', '/img', '/m', '/s']);
    expect(byDest['/s']).toMatchObject({ kind: 'volume', name: 'mine' });
    expect(byDest['/h']).toMatchObject({
      kind: 'bind',
      source: '/host',
      readOnly: true,
      propagation: 'rslave',
      createSource: false,
    });
    expect(byDest['/m']).toMatchObject({ kind: 'volume', noCopy: true, labels: { a: 'b' } });
    expect(byDest['/img']).toMatchObject({ kind: 'volume', noCopy: false });
    expect('name' in byDest['/img']).toBe(false);
  });

  it('applies :ro / :rw of --volumes-from and shares the same volume without copying again', () => {
    const [s, h] = planMounts({ volumesFrom: ['other:rw'] }, undefined, ctx);
    expect(s).toMatchObject({ kind: 'volume', name: 'shared', readOnly: false, noCopy: true });
    expect(h).toMatchObject({ kind: 'bind', readOnly: false });
    expect(planMounts({ volumesFrom: ['other:ro'] }, undefined, ctx)[0].readOnly).toBe(true);
    expect(() => planMounts({ volumesFrom: ['gone'] }, undefined, ctx)).toThrow(NotFoundError);
  });

  it('refuses duplicates, bad --mount entries and other drivers, naming the field', () => {
    expect(
      fieldOf(() =>
        planMounts({ binds: ['a1:/d'], mounts: [{ type: 'volume', target: '/d/' }] }, undefined, ctx),
      ),
    ).toBe('mounts[0]');
    expect(fieldOf(() => planMounts({ binds: ['a1:/d'], tmpfs: ['/d'] }, undefined, ctx))).toBe('tmpfs');
    const m = (o: object) =>
      fieldOf(() =>
        planMounts({ mounts: [{ type: 'volume', target: '/x', ...o }] as never }, undefined, ctx),
      );
    expect(m({ driver: 'nfs' })).toBe('mounts[0].VolumeOptions.DriverConfig.Name');
    expect(m({ driver: 'local' })).toBe('no error');
    expect(m({ driverOptions: { type: 'tmpfs' } })).toBe('mounts[0].VolumeOptions.DriverConfig.Options');
    expect(m({ source: 'a/b' })).toBe('mounts[0].Source');
    expect(m({ propagation: 'rshared' })).toBe('mounts[0].BindOptions');
    expect(m({ type: 'npipe' })).toBe('mounts[0].Type');
    expect(m({ target: 'rel' })).toBe('mounts[0].Target');
    const b = (o: object) =>
      fieldOf(() => planMounts({ mounts: [{ type: 'bind', target: '/x', ...o }] as never }, undefined, ctx));
    expect(b({})).toBe('mounts[0].Source');
    expect(b({ source: 'rel' })).toBe('mounts[0].Source');
    expect(b({ source: '/h', noCopy: true })).toBe('mounts[0].VolumeOptions');
    expect(b({ source: '/h', propagation: 'sideways' })).toBe('mounts[0].BindOptions.Propagation');
    // --mount never creates a host path
    expect(
      planMounts({ mounts: [{ type: 'bind', source: '/h', target: '/x' }] }, undefined, ctx)[0],
    ).toMatchObject({
      createSource: false,
    });
    expect(fieldOf(() => planMounts({ volumes: ['rel'] }, undefined, ctx))).toBe('volumes');
    expect(fieldOf(() => planMounts({}, { Volumes: { rel: {} } }, ctx))).toBe('image config Volumes');
  });
});

describe('shouldCopyUp', () => {
  it('copies only into an empty volume, without nocopy, from an image directory', () => {
    expect(shouldCopyUp({ noCopy: false, volumeEmpty: true, imagePath: 'dir' })).toBe(true);
    expect(shouldCopyUp({ noCopy: true, volumeEmpty: true, imagePath: 'dir' })).toBe(false);
    expect(shouldCopyUp({ noCopy: false, volumeEmpty: false, imagePath: 'dir' })).toBe(false);
    expect(shouldCopyUp({ noCopy: false, volumeEmpty: true, imagePath: 'missing' })).toBe(false);
    expect(shouldCopyUp({ noCopy: false, volumeEmpty: true, imagePath: 'file' })).toBe(false);
  });
});
