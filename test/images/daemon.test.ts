// Images through shoald's Engine API, driven by the shoal CLI and the real docker CLI: load/save,
// import, images/inspect, pull/push against a local docker-registry, login/logout, tag/rmi/prune,
// bad input, and `shoal run IMAGE` with the image's config as container defaults.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, cleanup, type Daemon, docker, shoal, startShoald } from '../daemon/harness.js';
import { ensureImageFixtures, fixture } from './fixtures.js';
import { startRegistry, type TestRegistry } from './registry-harness.js';

let d: Daemon;
let reg: TestRegistry;
let authReg: TestRegistry;
let work: string;
beforeAll(async () => {
  ensureImageFixtures();
  work = mkdtempSync(join(tmpdir(), 'shoal-img-e2e-'));
  [d, reg, authReg] = await Promise.all([
    startShoald(),
    startRegistry(),
    startRegistry({ users: { carol: 's3cret' } }),
  ]);
});
afterAll(async () => {
  await cleanup(d);
  await reg?.stop();
  await authReg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const sh = (args: string[], input?: string) => shoal(d, args, input);
const cfg = () => ({ SHOAL_CONFIG: join(work, 'shoal-config') });
const repoTags = async () =>
  (await sh(['images'])).stdout
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => l.split(/\s+/).slice(0, 2).join(':'))
    .sort();

describe('load, images, inspect, save', () => {
  it('docker load -i and shoal load (OCI layout on stdin) register busybox', async () => {
    const r = await docker(d, ['load', '-i', fixture('busybox.docker.tar')]);
    expect(r).toMatchObject({ code: 0, stdout: 'Loaded image: busybox:latest\n' });
    const oci = await sh(['image', 'load', '-i', fixture('multilayer.docker.tar')]);
    expect(oci).toMatchObject({ code: 0, stdout: 'Loaded image: shoal/multilayer:latest\n' });
    const images = await docker(d, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.Size}}']);
    expect(images.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'busybox:latest 1.98MB',
      'shoal/multilayer:latest 1.98MB',
    ]);
    const inspect = JSON.parse((await docker(d, ['image', 'inspect', 'shoal/multilayer'])).stdout);
    expect(inspect[0]).toMatchObject({
      RepoTags: ['shoal/multilayer:latest'],
      Config: {
        Cmd: ['cat', 'data/replace'],
        Labels: { 'org.shoal.fixture': 'multilayer' },
        StopSignal: 'SIGINT',
      },
      RootFS: { Type: 'layers' },
    });
    expect(inspect[0].RootFS.Layers).toHaveLength(3);
    const history = await docker(d, [
      'image',
      'history',
      '--format',
      '{{.CreatedBy}}|{{.Size}}',
      'shoal/multilayer',
    ]);
    expect(history.stdout.split('\n').filter(Boolean)).toHaveLength(3);
    expect(history.stdout).toContain('shoal fixture|');
  });

  it('save then load round-trips (docker save -o, shoal rmi, docker load <)', async () => {
    const out = join(work, 'ml.tar');
    expect((await docker(d, ['save', '-o', out, 'shoal/multilayer'])).code).toBe(0);
    const id = (await sh(['image', 'inspect', '-f', '{{.Id}}', 'shoal/multilayer'])).stdout.trim();
    const rm = await sh(['rmi', 'shoal/multilayer']);
    expect(rm.stdout).toBe(`Untagged: shoal/multilayer:latest\nDeleted: ${id}\n`);
    expect((await docker(d, ['load', '-i', out])).stdout).toBe('Loaded image: shoal/multilayer:latest\n');
    expect((await sh(['image', 'inspect', '-f', '{{.Id}}', 'shoal/multilayer'])).stdout.trim()).toBe(id);
  });

  it('imports a rootfs tarball', async () => {
    const r = await sh(['image', 'import', fixture('busybox-rootfs.tar'), 'imported/bb:v1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expect(await repoTags()).toContain('imported/bb:v1');
  });

  it('bad input: missing file, junk archive, unknown image, bad reference; images unchanged', async () => {
    const before = await repoTags();
    const missing = await sh(['load', '-i', join(work, 'nope.tar')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no such file or directory');
    const junk = await docker(d, ['load', '-i', fixture('busybox-rootfs.tar')]);
    expect(junk.code).not.toBe(0);
    expect(junk.stderr).toMatch(/neither a docker save archive.*nor an OCI image layout/);
    const unknown = await docker(d, ['image', 'inspect', 'no/such:image']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/No such image: no\/such:image/);
    const bad = await sh(['pull', 'Bad/Name']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/must be lowercase/);
    expect(await repoTags()).toEqual(before);
  });
});

describe('registry', () => {
  it('shoal push, docker pull after rmi, shoal pull by digest', async () => {
    const ref = `${reg.host}/e2e/busybox:1`;
    expect((await sh(['tag', 'busybox', ref])).code).toBe(0);
    const push = await sh(['push', ref]);
    expect(push.code).toBe(0);
    expect(push.stdout).toMatch(/Pushed/);
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(push.stdout)?.[1];
    expect(digest).toBeDefined();
    const dist = await api(d, 'GET', `/v1.41/distribution/${ref}/json`);
    expect(dist.status).toBe(200);
    expect(JSON.parse(dist.body)).toMatchObject({
      Descriptor: { digest },
      Platforms: [{ architecture: 'amd64', os: 'linux' }],
    });
    expect((await sh(['rmi', ref])).code).toBe(0);
    const pull = await docker(d, ['pull', ref]);
    expect(pull.code).toBe(0);
    expect(pull.stdout).toContain(`Digest: ${digest}`);
    const byDigest = await sh(['pull', `${reg.host}/e2e/busybox@${digest}`]);
    expect(byDigest.code).toBe(0);
    const digests = await docker(d, ['images', '--digests', '--format', '{{.Repository}} {{.Digest}}']);
    expect(digests.stdout).toContain(`${reg.host}/e2e/busybox ${digest}`);
  });

  it('a missing image is a clear error and registers nothing', async () => {
    const before = await repoTags();
    const r = await docker(d, ['pull', `${reg.host}/e2e/nothing:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('manifest unknown');
    const s = await sh(['pull', `${reg.host}/e2e/nothing:1`]);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain(`manifest for ${reg.host}/e2e/nothing:1 not found`);
    expect(await repoTags()).toEqual(before);
  });

  it('login stores credentials 0600, push/pull use them, logout removes them', async () => {
    const env = cfg();
    const ref = `${authReg.host}/private/bb:2`;
    await sh(['tag', 'busybox', ref]);
    const withEnv = (args: string[], input?: string) => {
      const old = { ...process.env };
      Object.assign(process.env, env);
      try {
        return shoal(d, args, input);
      } finally {
        process.env = old;
      }
    };
    const denied = await withEnv(['push', ref]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/authentication required/);
    const badLogin = await withEnv(['login', '-u', 'carol', '--password-stdin', authReg.host], 'wrong\n');
    expect(badLogin.code).toBe(1);
    expect(badLogin.stderr).toMatch(/login attempt .* failed/);
    expect(existsSync(join(env.SHOAL_CONFIG, 'config.json'))).toBe(false);
    const ok = await withEnv(['login', '-u', 'carol', '--password-stdin', authReg.host], 's3cret\n');
    expect(ok).toMatchObject({ code: 0, stdout: 'Login Succeeded\n' });
    expect(statSync(join(env.SHOAL_CONFIG, 'config.json')).mode & 0o777).toBe(0o600);
    expect((await withEnv(['push', ref])).code).toBe(0);
    await sh(['rmi', ref]);
    expect((await withEnv(['pull', ref])).code).toBe(0);
    // run's implicit pull sends the stored credentials too
    await sh(['rmi', ref]);
    const run = await withEnv(['run', '--rm', ref, 'echo', 'private']);
    expect(run).toMatchObject({ code: 0, stdout: 'private\n' });
    const out = await withEnv(['logout', authReg.host]);
    expect(out.stdout).toBe(`Removing login credentials for ${authReg.host}\n`);
    expect(JSON.parse(readFileSync(join(env.SHOAL_CONFIG, 'config.json'), 'utf8')).auths).toEqual({});
    await sh(['rmi', ref]);
    const again = await withEnv(['pull', ref]);
    expect(again.code).toBe(1);
  });
});

describe('tag, rmi, prune', () => {
  it('tags, refuses an ambiguous id, untags, prunes dangling images', async () => {
    expect((await sh(['image', 'tag', 'busybox', 'mine:one'])).code).toBe(0);
    const id = (await sh(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).stdout.trim();
    const byId = await sh(['rmi', id.slice(7, 19)]);
    expect(byId.code).toBe(1);
    expect(byId.stderr).toMatch(/referenced in multiple repositories/);
    expect((await sh(['image', 'rm', 'mine:one'])).stdout).toBe('Untagged: mine:one\n');
    const imp = await sh(['import', fixture('busybox-rootfs.tar')]);
    expect(imp.code).toBe(0);
    const prune = await sh(['image', 'prune', '-f']);
    expect(prune.stdout).toContain(`deleted: ${imp.stdout.trim()}`);
    expect(prune.stdout).toMatch(/Total reclaimed space: /);
  });
});

describe('containers from images', () => {
  it('runs an image with its config as defaults; layers, whiteouts and opaque dirs as in the image', async () => {
    await sh(['load', '-i', fixture('multilayer.docker.tar')]);
    expect(await sh(['run', '--rm', 'shoal/multilayer'])).toMatchObject({ code: 0, stdout: 'new content\n' });
    const ls = await sh(['run', '--rm', 'shoal/multilayer', 'sh', '-c', 'ls /opq /data; echo "$PATH"']);
    expect(ls.stdout).toBe(
      '/data:\nadded\nhard-keep\nkeep\nlink-to-keep\nreplace\n\n/opq:\nc\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n',
    );
    // flags override the image's defaults, writes go to the container's own layer
    const w = await sh([
      'run',
      '--rm',
      '-w',
      '/data',
      '-e',
      'X=1',
      'shoal/multilayer',
      'sh',
      '-c',
      'echo $X > keep; cat keep; pwd',
    ]);
    expect(w.stdout).toBe('1\n/data\n');
    expect((await sh(['run', '--rm', 'shoal/multilayer', 'cat', '/data/keep'])).stdout).toBe(
      'kept from layer 1\n',
    );
    expect((await docker(d, ['run', '--rm', 'busybox', 'echo', 'hi'])).stdout).toBe('hi\n');
  });

  it('a missing image is 404 "No such image"; shoal run pulls it first', async () => {
    const missing = await api(d, 'POST', '/v1.41/containers/create', { Image: 'not/here:1', Cmd: ['true'] });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).message).toBe('No such image: not/here:1');
    const ref = `${reg.host}/e2e/runme:1`;
    await sh(['tag', 'busybox', ref]);
    expect((await sh(['push', ref])).code).toBe(0);
    await sh(['rmi', ref]);
    const r = await sh(['run', '--rm', ref, 'echo', 'pulled']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Unable to find image '${ref}' locally`);
    expect(r.stdout).toBe('pulled\n');
  });

  it('rmi refuses while a container uses the image, unless forced', async () => {
    expect((await sh(['import', fixture('busybox-rootfs.tar'), 'inuse:1'])).code).toBe(0);
    const c = await sh(['create', '--name', 'uses-image', 'inuse:1', '/bin/true']);
    expect(c.code).toBe(0);
    const refused = await sh(['rmi', 'inuse:1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/container is using its referenced image/);
    expect((await sh(['rmi', '-f', 'inuse:1'])).stdout).toBe('Untagged: inuse:1\n');
    // the container still starts from its (now untagged) image
    expect((await sh(['start', '-a', 'uses-image'])).code).toBe(0);
    await sh(['rm', 'uses-image']);
  });
});
