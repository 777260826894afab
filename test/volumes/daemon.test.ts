// Named volumes on one node, through a real shoald and the real docker CLI: volume create/ls/inspect/
// rm/prune, -v NAME:/path, --mount type=volume, anonymous volumes (-v /path, the image's VOLUME),
// --volumes-from, copy-up of the image's content, in-use refusal, data across a shoald restart,
// -v creating a missing host path while --mount refuses one, and bad input.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, cleanup, type Daemon, docker, shoal, startShoald, stopShoald } from '../daemon/harness.js';
import { dirTar, dockerSaveTar, makeImage, tarOf } from '../fixtures/steps/images-lib.js';
import { ensureImageFixtures, fixture, fixturesOut } from '../images/fixtures.js';

let d: Daemon;
let work: string;
beforeAll(async () => {
  ensureImageFixtures();
  work = mkdtempSync(join(tmpdir(), 'shoal-vol-e2e-'));
  // An image with a VOLUME whose directory has content, an owner and a mode of its own.
  const base = await dirTar(join(fixturesOut, 'rootfs'));
  const extra = await tarOf([
    { entry: { name: 'srv/', type: 'dir', mode: 0o755 } },
    { entry: { name: 'srv/data/', type: 'dir', mode: 0o750, uid: 1000, gid: 1000 } },
    {
      entry: { name: 'srv/data/seed', type: 'file', mode: 0o640, uid: 1000, gid: 1000 },
      body: Buffer.from('seeded\n'),
    },
  ]);
  const image = makeImage([base, extra], {
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    Cmd: ['sh'],
    Volumes: { '/srv/data': {} },
  });
  writeFileSync(join(work, 'withvol.tar'), await dockerSaveTar([{ image, tags: ['shoal/withvol:latest'] }]));
  d = await startShoald();
  for (const tar of [
    fixture('busybox.docker.tar'),
    fixture('multilayer.docker.tar'),
    join(work, 'withvol.tar'),
  ])
    expect((await docker(d, ['load', '-i', tar])).code).toBe(0);
});
afterAll(async () => {
  const dir = d?.dir;
  await cleanup(d);
  if (dir) expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(dir);
  rmSync(work, { recursive: true, force: true });
});

const dk = (args: string[]) => docker(d, args);
const volumes = async () => (await dk(['volume', 'ls', '-q'])).stdout.split('\n').filter(Boolean).sort();
const inspectMounts = async (ref: string) =>
  JSON.parse((await dk(['inspect', '-f', '{{json .Mounts}}', ref])).stdout) as Record<string, unknown>[];

describe('volume commands', () => {
  it('create, ls (filters), inspect, rm, prune with the docker CLI', async () => {
    expect(await dk(['volume', 'create', 'vol-a'])).toMatchObject({ code: 0, stdout: 'vol-a\n' });
    expect((await dk(['volume', 'create', '--label', 'team=blue', 'vol-b'])).code).toBe(0);
    // creating an existing name returns it (as dockerd)
    expect((await dk(['volume', 'create', 'vol-a'])).code).toBe(0);
    const ls = await dk(['volume', 'ls']);
    expect(ls.stdout).toMatch(/^DRIVER\s+VOLUME NAME\nlocal\s+vol-a\nlocal\s+vol-b\n$/);
    expect((await dk(['volume', 'ls', '-q', '--filter', 'label=team=blue'])).stdout).toBe('vol-b\n');
    expect((await dk(['volume', 'ls', '-q', '--filter', 'name=a'])).stdout).toBe('vol-a\n');
    expect((await dk(['volume', 'ls', '-q', '--filter', 'dangling=true'])).stdout).toBe('vol-a\nvol-b\n');
    const [v] = JSON.parse((await dk(['volume', 'inspect', 'vol-b'])).stdout);
    expect(v).toMatchObject({
      Name: 'vol-b',
      Driver: 'local',
      Scope: 'local',
      Labels: { team: 'blue' },
      Mountpoint: join(d.dataRoot, 'volumes/vol-b/_data'),
    });
    expect(statSync(join(d.dataRoot, 'volumes')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(d.dataRoot, 'volumes/vol-b/volume.json'), 'utf8')).toContain('"team": "blue"');
    expect((await dk(['volume', 'rm', 'vol-a'])).stdout).toBe('vol-a\n');
    const prune = await dk(['volume', 'prune', '-f', '--filter', 'label=team=red']);
    expect(prune.code).toBe(0);
    expect(await volumes()).toEqual(['vol-b']);
    const pruned = await dk(['volume', 'prune', '-f']);
    expect(pruned.stdout).toContain('Deleted Volumes:\nvol-b\n');
    expect(await volumes()).toEqual([]);
  });

  it('refuses bad names, other drivers, driver options, and unknown volumes', async () => {
    const bad = await dk(['volume', 'create', 'bad/name']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('"bad/name" includes invalid characters for a local volume name');
    expect((await dk(['volume', 'create', 'x'])).stderr).toContain('invalid characters');
    const drv = await dk(['volume', 'create', '--driver', 'nfs', 'vol-n']);
    expect(drv.stderr).toContain('plugin "nfs" not found');
    const opt = await dk(['volume', 'create', '-o', 'type=tmpfs', 'vol-o']);
    expect(opt.stderr).toContain('invalid DriverOpts');
    const missing = await dk(['volume', 'inspect', 'nosuch']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such volume');
    expect((await dk(['volume', 'rm', 'nosuch'])).code).toBe(1);
    expect((await dk(['volume', 'rm', '-f', 'nosuch'])).code).toBe(0);
    const r = await api(d, 'POST', '/volumes/create', { Name: 7 });
    expect(r.status).toBe(400);
    expect(r.body).toContain('Name');
    expect((await api(d, 'GET', '/volumes?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D')).status).toBe(400);
    expect(await volumes()).toEqual([]);
  });
});

describe('volumes in containers', () => {
  it('keeps a named volume’s data across containers and a shoald restart; in use it cannot be removed', async () => {
    expect(
      (await dk(['run', '--name', 'writer', '-v', 'data:/d', 'busybox', 'sh', '-c', 'echo x > /d/f'])).code,
    ).toBe(0);
    expect((await dk(['run', '--rm', '-v', 'data:/d', 'busybox', 'cat', '/d/f'])).stdout).toBe('x\n');
    const [m] = await inspectMounts('writer');
    expect(m).toMatchObject({
      Type: 'volume',
      Name: 'data',
      Source: join(d.dataRoot, 'volumes/data/_data'),
      Destination: '/d',
      Driver: 'local',
      RW: true,
    });
    const id = (await dk(['inspect', '-f', '{{.Id}}', 'writer'])).stdout.trim();
    expect((await dk(['ps', '-aq', '--no-trunc', '--filter', 'volume=data'])).stdout).toBe(`${id}\n`);
    expect((await dk(['ps', '-aq', '--filter', 'volume=/d'])).stdout).toBe(`${id.slice(0, 12)}\n`);
    expect((await dk(['ps', '-aq', '--filter', 'volume=other'])).stdout).toBe('');
    const rm = await dk(['volume', 'rm', 'data']);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toContain(`remove data: volume is in use - [${id}]`);
    expect((await api(d, 'DELETE', '/volumes/data?force=1')).status).toBe(409);
    expect((await dk(['volume', 'prune', '-f'])).stdout).not.toContain('data');
    expect((await dk(['volume', 'ls', '-q', '--filter', 'dangling=false'])).stdout).toBe('data\n');

    await stopShoald(d);
    d = await startShoald(d.dir);
    expect((await dk(['run', '--rm', '-v', 'data:/d:ro', 'busybox', 'cat', '/d/f'])).stdout).toBe('x\n');
    const ro = await dk(['run', '--rm', '-v', 'data:/d:ro', 'busybox', 'touch', '/d/g']);
    expect(ro.stderr).toContain('Read-only file system');
    expect((await dk(['volume', 'rm', 'data'])).code).toBe(1); // still used by writer
    // rm -v keeps a named volume
    expect((await dk(['rm', '-v', 'writer'])).code).toBe(0);
    expect(await volumes()).toEqual(['data']);
    expect((await dk(['volume', 'rm', 'data'])).code).toBe(0);
  });

  it('gives -v /path and the image VOLUME an anonymous volume (copy-up kept owner and mode); rm -v and --rm remove them', async () => {
    const run = await dk([
      'run',
      '--name',
      'anon',
      '-v',
      '/scratch',
      'shoal/withvol',
      'sh',
      '-c',
      'echo s > /scratch/s; ls -ln /srv/data; stat -c "%a %u:%g" /srv/data',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/-rw-r-----\s+1 1000\s+1000\s+7 .* seed\n750 1000:1000\n/);
    const vols = await dk(['inspect', '-f', '{{json .Config.Volumes}}', 'anon']);
    expect(JSON.parse(vols.stdout)).toEqual({ '/srv/data': {}, '/scratch': {} });
    const mounts = await inspectMounts('anon');
    expect(mounts.map((m) => m.Destination).sort()).toEqual(['/scratch', '/srv/data']);
    for (const m of mounts) {
      expect(m.Type).toBe('volume');
      expect(m.Name).toMatch(/^[0-9a-f]{64}$/);
    }
    expect((await volumes()).length).toBe(2);
    // the copied-up owner lets the image's user write, though the volumes root is root's only (0700)
    const asUser = await dk([
      'run',
      '--rm',
      '-u',
      '1000',
      '-v',
      'owned:/srv/data',
      'shoal/withvol',
      'sh',
      '-c',
      'echo mine > /srv/data/by-user && cat /srv/data/seed',
    ]);
    expect(asUser).toMatchObject({ code: 0, stdout: 'seeded\n' });
    expect((await dk(['volume', 'rm', 'owned'])).code).toBe(0);
    expect((await dk(['rm', '-v', 'anon'])).code).toBe(0);
    expect(await volumes()).toEqual([]);
    expect((await dk(['run', '--rm', '-v', '/tmp/x', 'busybox', 'true'])).code).toBe(0);
    expect(await volumes()).toEqual([]);
  });

  it('shares volumes and binds with --volumes-from (ro when asked)', async () => {
    const host = join(work, 'shared');
    expect(
      (
        await dk([
          'run',
          '--name',
          'source',
          '-v',
          'vf-named:/n',
          '-v',
          '/anon',
          '-v',
          `${host}:/h`,
          'busybox',
          'sh',
          '-c',
          'echo n > /n/f; echo a > /anon/f; echo h > /h/f',
        ])
      ).code,
    ).toBe(0);
    const r = await dk([
      'run',
      '--rm',
      '--volumes-from',
      'source',
      'busybox',
      'cat',
      '/n/f',
      '/anon/f',
      '/h/f',
    ]);
    expect(r.stdout).toBe('n\na\nh\n');
    const ro = await dk(['run', '--rm', '--volumes-from', 'source:ro', 'busybox', 'sh', '-c', 'touch /n/g']);
    expect(ro.stderr).toContain('Read-only file system');
    const missing = await dk(['run', '--rm', '--volumes-from', 'nosuch', 'busybox', 'true']);
    expect(missing.code).not.toBe(0);
    // the anonymous volume is shared, so `rm -v` of the source keeps it while a user is left
    expect((await dk(['create', '--name', 'user1', '--volumes-from', 'source', 'busybox'])).code).toBe(0);
    expect((await dk(['rm', '-v', 'source'])).code).toBe(0);
    expect((await volumes()).length).toBe(2);
    expect((await dk(['rm', '-v', 'user1'])).code).toBe(0);
    expect(await volumes()).toEqual(['vf-named']);
    expect((await dk(['volume', 'rm', 'vf-named'])).code).toBe(0);
  });

  it('copies the image content into a new named volume through the layers (whiteouts, opaque), not with nocopy or when not empty', async () => {
    const ls = await dk(['run', '--rm', '-v', 'ml-data:/data', 'shoal/multilayer', 'ls', '/data']);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'added',
      'hard-keep',
      'keep',
      'link-to-keep',
      'replace',
    ]);
    const mp = join(d.dataRoot, 'volumes/ml-data/_data');
    expect(readFileSync(join(mp, 'replace'), 'utf8')).toBe('new content\n');
    expect(statSync(join(mp, 'added')).mode & 0o777).toBe(0o755);
    const opq = await dk([
      'run',
      '--rm',
      '--mount',
      'type=volume,src=ml-opq,dst=/opq',
      'shoal/multilayer',
      'ls',
      '-R',
      '/opq',
    ]);
    expect(opq.stdout).toBe('/opq:\nc\n');
    const nocopy = await dk([
      'run',
      '--rm',
      '-v',
      'ml-nocopy:/data:nocopy',
      'shoal/multilayer',
      'ls',
      '/data',
    ]);
    expect(nocopy).toMatchObject({ code: 0, stdout: '' });
    // a volume with content is not filled again
    expect(
      (await dk(['run', '--rm', '-v', 'ml-nocopy:/data', 'busybox', 'sh', '-c', 'echo mine > /data/own']))
        .code,
    ).toBe(0);
    expect(
      (await dk(['run', '--rm', '-v', 'ml-nocopy:/data', 'shoal/multilayer', 'ls', '/data'])).stdout,
    ).toBe('own\n');
    expect((await dk(['volume', 'rm', 'ml-data', 'ml-opq', 'ml-nocopy'])).code).toBe(0);
  });

  it('-v creates a missing host path; --mount refuses it; bad mounts are refused with the field', async () => {
    const missing = join(work, 'made/by/run');
    expect(
      (await dk(['run', '--rm', '-v', `${missing}:/x`, 'busybox', 'sh', '-c', 'echo hi > /x/f'])).code,
    ).toBe(0);
    expect(readFileSync(join(missing, 'f'), 'utf8')).toBe('hi\n');
    const refused = await dk([
      'run',
      '--rm',
      '--mount',
      `type=bind,src=${join(work, 'absent')},dst=/x`,
      'busybox',
      'true',
    ]);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toContain('bind source path does not exist');
    const overFile = await dk(['run', '--rm', '-v', 'vfile:/etc/passwd', 'busybox', 'true']);
    expect(overFile.stderr).toContain('cannot mount volume over existing file');
    const drv = await dk([
      'run',
      '--rm',
      '--mount',
      'type=volume,src=vd,dst=/m,volume-driver=nfs',
      'busybox',
      'true',
    ]);
    expect(drv.stderr).toContain('volume driver "nfs" is not supported');
    const opt = await dk([
      'run',
      '--rm',
      '--mount',
      'type=volume,src=vd,dst=/m,volume-opt=type=tmpfs',
      'busybox',
      'true',
    ]);
    expect(opt.stderr).toContain('DriverConfig.Options');
    const vdrv = await dk(['run', '--rm', '--volume-driver', 'nfs', '-v', 'vd:/m', 'busybox', 'true']);
    expect(vdrv.stderr).toContain('VolumeDriver');
    const dup = await dk([
      'run',
      '--rm',
      '-v',
      'vd:/m',
      '--mount',
      'type=volume,src=vd2,dst=/m',
      'busybox',
      'true',
    ]);
    expect(dup.stderr).toContain('Duplicate mount point: /m');
    const badName = await api(d, 'POST', '/containers/create', {
      Image: 'busybox',
      HostConfig: { Binds: ['b@d:/m'] },
    });
    expect(badName.status).toBe(400);
    expect(badName.body).toContain('invalid characters for a local volume name');
    const badMode = await api(d, 'POST', '/containers/create', {
      Image: 'busybox',
      HostConfig: { Binds: ['vd:/m:bogus'] },
    });
    expect(badMode.status).toBe(400);
    // nothing was left behind by the refused creates (no volume made by a failed create)
    expect(await volumes()).toEqual([]);
    expect((await dk(['ps', '-aq'])).stdout).toBe('');
  });

  it('the shoal CLI manages volumes too', async () => {
    expect((await shoal(d, ['volume', 'create', '--label', 'k=v', 'cli-vol'])).stdout).toBe('cli-vol\n');
    expect((await shoal(d, ['volume', 'ls'])).stdout).toMatch(/^DRIVER\s+VOLUME NAME\nlocal\s+cli-vol\n$/);
    expect((await shoal(d, ['volume', 'inspect', '-f', '{{.Labels}}', 'cli-vol'])).stdout).toBe('map[k:v]\n');
    expect(
      (await shoal(d, ['run', '--rm', '-v', 'cli-vol:/c', 'busybox', 'sh', '-c', 'echo c > /c/f'])).code,
    ).toBe(0);
    expect(
      (
        await shoal(d, [
          'run',
          '--rm',
          '--mount',
          'type=volume,source=cli-vol,target=/c,readonly',
          'busybox',
          'cat',
          '/c/f',
        ])
      ).stdout,
    ).toBe('c\n');
    expect((await shoal(d, ['run', '--name', 'anon-cli', '-v', '/a', 'busybox', 'true'])).code).toBe(0);
    expect((await shoal(d, ['rm', '-v', 'anon-cli'])).code).toBe(0);
    const bad = await shoal(d, ['volume', 'create', 'no/pe']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid characters');
    expect((await shoal(d, ['volume', 'rm', 'cli-vol'])).stdout).toBe('cli-vol\n');
    expect((await shoal(d, ['volume', 'prune', '-f'])).code).toBe(0);
    expect(await volumes()).toEqual([]);
  });
});
