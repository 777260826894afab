// Issue 7 through a real shoald: (A) the image store and the container dirs are unreachable by other
// users — checked AS AN UNPRIVILEGED USER (setpriv to 65534 with no groups), also after a restart on
// a data root whose modes were opened up — while a container running as 65534 still works; (C) an
// image holding the same layer twice runs, with the topmost occurrence's content; a load of an empty
// manifest.json answers with an error instead of pinning the connection.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, shoal, startShoald, stopShoald } from '../daemon/harness.js';
import { dockerSaveTar, makeImage, tarOf } from '../fixtures/steps/images-lib.js';
import { ensureImageFixtures, fixture } from './fixtures.js';

let d: Daemon;
let base: string;
beforeAll(async () => {
  ensureImageFixtures();
  // a world-traversable parent: only the data root's own modes may keep other users out
  base = mkdtempSync(join(tmpdir(), 'shoal-hardening-'));
  chmodSync(base, 0o755);
  d = await startShoald(base);
}, 60_000);
afterAll(async () => {
  await cleanup(d);
});

const sh = (args: string[]) => shoal(d, args);

/** Runs argv as uid/gid 65534 without supplementary groups. */
function asNobody(argv: string[]) {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the data root is unreachable by other users (CVE-2021-41091 class)', () => {
  let suidPath: string;
  let targets: string[];
  let cid: string;

  beforeAll(async () => {
    // an image with a setuid-root copy of cat and a 0666 block device node, as images legitimately have
    const layer = await tarOf([
      { entry: { name: 'bin/', type: 'dir' } },
      {
        entry: { name: 'bin/suidcat', type: 'file', mode: 0o4755, uid: 0, gid: 0 },
        body: readFileSync('/bin/cat'),
      },
      { entry: { name: 'dev/', type: 'dir' } },
      { entry: { name: 'dev/blk', type: 'block', mode: 0o666, devmajor: 7, devminor: 250 } },
    ]);
    const archive = join(base, 'suid.tar');
    writeFileSync(archive, await dockerSaveTar([{ image: makeImage([layer]), tags: ['suid:1'] }]));
    expect((await sh(['load', '-i', archive])).code).toBe(0);
    expect((await sh(['load', '-i', fixture('busybox.docker.tar')])).code).toBe(0);
    const run = await sh(['run', '-d', 'busybox', 'sleep', '600']);
    expect(run.code).toBe(0);
    cid = run.stdout.trim();
    const images = join(d.dataRoot, 'images');
    const index = JSON.parse(readFileSync(join(images, 'images.json'), 'utf8'));
    const suid = Object.values(index.images as Record<string, { layers: { diffId: string }[] }>).find(
      (i) =>
        i.layers.length === 1 &&
        readdirSync(join(images, 'layers', i.layers[0].diffId.slice(7), 'diff')).includes('bin'),
    )!;
    const diff = join(images, 'layers', suid.layers[0].diffId.slice(7), 'diff');
    suidPath = join(diff, 'bin/suidcat');
    const blob = readdirSync(join(images, 'blobs/sha256'))[0];
    const container = join(d.dataRoot, 'containers', cid);
    // stat of a directory itself needs only its parents' search bit: `DIR/.` needs DIR's own
    targets = [
      `${images}/.`,
      join(images, 'images.json'),
      join(images, 'blobs/sha256', blob),
      join(images, 'layers'),
      diff,
      suidPath,
      join(diff, 'dev/blk'),
      `${d.dataRoot}/containers/.`,
      container,
      join(container, `${cid}-json.log`),
      join(container, 'rootfs'),
      join(container, 'upper'),
      `${d.execRoot}/.`,
      join(d.execRoot, 'runtime'),
    ];
    // the targets exist (as root) and are what an attacker wants
    for (const t of targets) lstatSync(t);
    expect(lstatSync(suidPath).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(diff, 'dev/blk')).isBlockDevice()).toBe(true);
  }, 120_000);

  const check = () => {
    for (const t of targets) {
      const r = asNobody(['stat', t]);
      expect(r.code, t).not.toBe(0);
      expect(r.stderr, t).toMatch(/Permission denied/);
    }
    // through a shell: setpriv execs its own argv before its capabilities are gone
    const exec = asNobody(['sh', '-c', 'exec "$0" /etc/shadow', suidPath]);
    expect(exec.code).not.toBe(0);
    expect(exec.stdout).not.toMatch(/^root:/m);
    const open = asNobody(['cat', join(d.dataRoot, 'images/images.json')]);
    expect(open.code).not.toBe(0);
    // control: other users do reach the data root itself (0711, as dockerd's)
    expect(asNobody(['stat', '-c', '%a', d.dataRoot])).toMatchObject({ code: 0, stdout: '711\n' });
    for (const dir of ['images', 'containers'])
      expect(asNobody(['ls', join(d.dataRoot, dir)]).code, dir).not.toBe(0);
  };

  it('a local user can neither stat, open nor exec anything under images/, layers/, containers/ or the exec root', () => {
    check();
  });

  it('containers running as a non-root user still work (the kernel, not the user, walks to the rootfs)', async () => {
    const r = await sh([
      'run',
      '--rm',
      '--user',
      '65534',
      'busybox',
      'sh',
      '-c',
      'id -u; cat /bin/busybox >/dev/null && echo read; echo hi >/tmp/x 2>/dev/null; ls / | wc -l',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 2)).toEqual(['65534', 'read']);
    const logs = await sh(['logs', cid]);
    expect(logs.code).toBe(0);
  });

  it('modes opened up on an existing data root are fixed when shoald starts', async () => {
    await stopShoald(d);
    const images = join(d.dataRoot, 'images');
    for (const p of [
      images,
      join(images, 'layers'),
      join(d.dataRoot, 'containers'),
      join(d.dataRoot, 'containers', cid),
      d.execRoot,
    ])
      chmodSync(p, 0o755);
    chmodSync(d.dataRoot, 0o755);
    // reachable now, as on the old code: the setuid binary gives root
    expect(asNobody(['sh', '-c', 'exec "$0" /etc/shadow', suidPath]).stdout).toMatch(/^root:/m);
    d = await startShoald(base);
    check();
    expect(lstatSync(suidPath).mode & 0o7777).toBe(0o4755); // image content itself unchanged
  }, 60_000);
});

describe('images that used to load but not run, or not answer', () => {
  it('an image with the same layer twice runs and shows the topmost occurrence', async () => {
    const file = (content: string) =>
      tarOf([{ entry: { name: 'which', type: 'file' }, body: Buffer.from(content) }]);
    const busybox = JSON.parse(
      execFileSync('tar', ['-xOf', fixture('busybox.docker.tar'), 'manifest.json'], { encoding: 'utf8' }),
    );
    const baseLayer = execFileSync('tar', ['-xOf', fixture('busybox.docker.tar'), busybox[0].Layers[0]], {
      maxBuffer: 64 << 20,
    });
    const a = await file('a\n');
    const b = await file('b\n');
    // bottom first: busybox, a, b, a  →  "which" reads "a" (the topmost layer)
    const archive = join(base, 'dup.tar');
    writeFileSync(
      archive,
      await dockerSaveTar([
        { image: makeImage([baseLayer, a, b, a], { Cmd: ['cat', '/which'] }), tags: ['dup:1'] },
      ]),
    );
    expect((await sh(['load', '-i', archive])).code).toBe(0);
    const r = await sh(['run', '--rm', 'dup:1']);
    expect(r).toMatchObject({ code: 0, stdout: 'a\n' });
    // and the other order: busybox, b, a, b → "b"
    writeFileSync(
      archive,
      await dockerSaveTar([
        { image: makeImage([baseLayer, b, a, b], { Cmd: ['cat', '/which'] }), tags: ['dup:2'] },
      ]),
    );
    expect((await sh(['load', '-i', archive])).code).toBe(0);
    expect(await sh(['run', '--rm', 'dup:2'])).toMatchObject({ code: 0, stdout: 'b\n' });
  }, 120_000);

  it('POST /images/load of an archive with manifest.json [] answers with an error', async () => {
    const tar = await tarOf([{ entry: { name: 'manifest.json', type: 'file' }, body: Buffer.from('[]') }]);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { socketPath: d.sock, method: 'POST', path: '/images/load', timeout: 30_000 },
        (r) => {
          let body = '';
          r.on('data', (c: Buffer) => {
            body += c.toString();
          });
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
      req.on('error', reject);
      req.end(tar);
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.body).toMatch(/manifest\.json lists no images/);
    writeFileSync(join(base, 'empty.tar'), tar);
    const cli = await sh(['load', '-i', join(base, 'empty.tar')]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/manifest\.json lists no images/);
  }, 60_000);
});
