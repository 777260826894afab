// `system prune` through the docker CLI and shoal's, and image events on /events (pull, push, tag, untag,
// delete, import, load, save) plus the container events of cp, export and commit, against a real shoald
// and a local registry.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../images/registry-harness.js';
import { cleanup, type Daemon, docker, REPO, shoal, startShoald } from './harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const ROOTFS_TAR = join(REPO, 'test/fixtures/out/images/busybox-rootfs.tar');
let d: Daemon;
let reg: TestRegistry;
const work = mkdtempSync(join(tmpdir(), 'shoal-sysprune-'));

beforeAll(async () => {
  [d, reg] = await Promise.all([startShoald(), startRegistry()]);
});
afterAll(async () => {
  await cleanup(d);
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const ok = async (args: string[]) => {
  const r = await docker(d, args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
};
const lines = (s: string) => s.split('\n').filter(Boolean);

describe('image events', () => {
  it('reports load, tag, save, push, pull, untag, delete, import and the cp/export/commit container events', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await ok(['load', '-i', TARBALL]);
    const id = (await ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim();
    const ref = `${reg.host}/ev/busybox:1`;
    await ok(['tag', 'busybox', ref]);
    await ok(['save', '-o', join(work, 'b.tar'), 'busybox']);
    expect((await docker(d, ['push', ref])).code).toBe(0);
    await ok(['rmi', ref]);
    expect((await docker(d, ['pull', ref])).code).toBe(0);
    const imported = (await ok(['import', ROOTFS_TAR])).trim();
    await ok(['rmi', imported]);
    await ok(['run', '-d', '--name', 'ev1', 'busybox', 'sleep', '600']);
    await ok(['cp', 'ev1:/etc/hostname', join(work, 'hn')]);
    await ok(['cp', join(work, 'hn'), 'ev1:/tmp/']);
    await ok(['export', '-o', join(work, 'ev1.tar'), 'ev1']);
    const committed = (await ok(['commit', '-m', 'note', 'ev1', 'evimg:1'])).trim();
    const until = Math.ceil(Date.now() / 1000) + 1;
    const fmt = '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}';
    const images = lines(
      await ok([
        'events',
        '--since',
        String(since),
        '--until',
        String(until),
        '--filter',
        'type=image',
        '--format',
        fmt,
      ]),
    );
    expect(images).toEqual(
      expect.arrayContaining([
        `image load ${id} ${id}`,
        `image tag ${id} ${ref}`,
        `image save ${id} ${id}`,
        `image push ${ref} ${reg.host}/ev/busybox`,
        `image untag ${id} ${id}`,
        `image pull ${ref} ${reg.host}/ev/busybox`,
        `image import ${imported} ${imported}`,
        `image delete ${imported} ${imported}`,
      ]),
    );
    expect(images.every((l) => l.startsWith('image '))).toBe(true);
    const containers = lines(
      await ok([
        'events',
        '--since',
        String(since),
        '--until',
        String(until),
        '--filter',
        'container=ev1',
        '--format',
        '{{.Action}} {{.Actor.Attributes.imageID}} {{.Actor.Attributes.comment}}',
      ]),
    );
    expect(containers).toEqual(
      expect.arrayContaining([
        'archive-path <no value> <no value>',
        'extract-to-dir <no value> <no value>',
        'export <no value> <no value>',
        `commit ${committed} note`,
      ]),
    );
    // the image filter matches an image event's name, with or without its tag
    const byImage = lines(
      await ok([
        'events',
        '--since',
        String(since),
        '--until',
        String(until),
        '--filter',
        `image=${reg.host}/ev/busybox`,
        '--format',
        '{{.Action}}',
      ]),
    );
    expect(byImage).toEqual(expect.arrayContaining(['push', 'pull']));
    // dockerode's getEvents with a type filter sees the same stream
    const dk = new Docker({ socketPath: d.sock });
    const stream = await dk.getEvents({ since, until, filters: { type: ['image'], event: ['tag'] } });
    let text = '';
    for await (const c of stream) text += c.toString();
    expect(lines(text).map((l) => JSON.parse(l).Action)).toEqual(['tag']);
    await ok(['rm', '-f', 'ev1']);
  });
});

describe('system prune', () => {
  it('docker system prune removes stopped containers and dangling images, keeps tagged images and volumes', async () => {
    await ok(['create', '--name', 'sp1', '-v', 'spvol:/data', 'busybox', 'true']);
    const dangling = (await ok(['import', ROOTFS_TAR])).trim();
    const out = await ok(['system', 'prune', '-f']);
    expect(out).toContain('Deleted Containers:');
    expect(out).toContain(`deleted: ${dangling}`);
    expect(out).toMatch(/Total reclaimed space: /);
    expect((await docker(d, ['inspect', 'sp1'])).code).not.toBe(0);
    expect((await ok(['images', '-q'])).trim()).not.toBe('');
    expect(lines(await ok(['volume', 'ls', '-q']))).toContain('spvol');
  });

  it('a label filter limits what goes', async () => {
    await ok(['create', '--name', 'keep1', '--label', 'keep=yes', 'busybox', 'true']);
    await ok(['create', '--name', 'go1', 'busybox', 'true']);
    const out = (await shoal(d, ['system', 'prune', '-f', '--filter', 'label!=keep'])).stdout;
    expect(out).toContain('Deleted Containers:');
    expect((await docker(d, ['inspect', 'go1'])).code).not.toBe(0);
    expect((await docker(d, ['inspect', 'keep1'])).code).toBe(0);
    await ok(['rm', 'keep1']);
  });

  it('shoal system prune -a --volumes removes unused images and volumes too', async () => {
    const r = await shoal(d, ['system', 'prune', '-a', '--volumes', '-f']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Deleted Volumes:\nspvol\n');
    expect(r.stdout).toContain('Deleted Images:\n');
    expect(r.stdout).toContain('untagged: busybox:latest\n');
    expect((await ok(['images', '-q'])).trim()).toBe('');
    expect((await ok(['volume', 'ls', '-q'])).trim()).toBe('');
  });

  it('refuses a bad filter, naming it, and removes nothing', async () => {
    await ok(['load', '-i', TARBALL]);
    await ok(['create', '--name', 'sp2', 'busybox', 'true']);
    const r = await docker(d, ['system', 'prune', '-f', '--filter', 'colour=red']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('colour');
    const s = await shoal(d, ['system', 'prune', '-f', '--filter', 'until=soon']);
    expect(s.code).not.toBe(0);
    expect(s.stderr).toContain('until=soon');
    expect((await docker(d, ['inspect', 'sp2'])).code).toBe(0);
    expect((await shoal(d, ['system', 'prune', '--bogus'])).code).toBe(125);
  });
});
