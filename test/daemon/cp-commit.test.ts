// docker cp (both ways), export, diff and commit against a real shoald, through the real docker CLI and
// dockerode 5: running and stopped containers, docker's path rules ("/." and trailing "/", symlinks),
// and hostile input: symlinks and tar entries that try to leave the container, a missing container,
// bad --change lines. The host directory the escapes aim at must stay untouched.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTar } from '../../worker/images/index.js';
import { api, cleanup, type Daemon, docker, REPO, startShoald } from './harness.js';

let d: Daemon;
let dk: Docker;
const work = mkdtempSync(join(tmpdir(), 'shoal-cp-'));
/** A host directory the hostile paths aim at: nothing may appear in it, nothing of it may be read. */
const hostDir = join(work, 'host-secret');

beforeAll(async () => {
  mkdirSync(hostDir);
  writeFileSync(join(hostDir, 'secret'), 'host secret\n');
  d = await startShoald();
  expect(
    (await docker(d, ['load', '-i', join(REPO, 'test/fixtures/out/images/busybox.docker.tar')])).code,
  ).toBe(0);
  dk = new Docker({ socketPath: d.sock });
});
afterAll(async () => {
  await cleanup(d);
  rmSync(work, { recursive: true, force: true });
});

const sh = async (c: string, script: string) => {
  const r = await docker(d, ['exec', c, 'sh', '-c', script]);
  expect(r.stderr).toBe('');
  return r.stdout;
};
/** Every path under dir, symlinks not followed. */
const files = (dir: string): string[] =>
  execFileSync('find', [dir, '-mindepth', '1', '-printf', '%P\\n'])
    .toString()
    .split('\n')
    .filter(Boolean)
    .sort();

/** A raw PUT of a tar (what the docker CLI sends, but with entries no CLI would write). */
function putArchive(
  container: string,
  path: string,
  tar: Buffer,
  query = '',
): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(
      {
        socketPath: d.sock,
        method: 'PUT',
        path: `/v1.41/containers/${container}/archive?path=${encodeURIComponent(path)}${query}`,
        headers: { 'Content-Type': 'application/x-tar', 'Content-Length': tar.length },
      },
      (r) => {
        let body = '';
        r.on('data', (c: Buffer) => {
          body += c.toString();
        });
        r.on('end', () => res({ status: r.statusCode ?? 0, body }));
      },
    );
    req.on('error', rej);
    req.end(tar);
  });
}

async function tarOf(
  entries: { name: string; type: 'file' | 'dir' | 'symlink'; body?: string; linkname?: string }[],
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const src = entries.map((e) => ({
    entry: { name: e.name, type: e.type, linkname: e.linkname ?? '' },
    body: e.body === undefined ? undefined : Buffer.from(e.body),
  }));
  for await (const c of writeTar(src)) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('docker cp out of a container', () => {
  it('copies a directory, its content ("/."), a file through a symlinked directory, and -L', async () => {
    expect((await docker(d, ['run', '-d', '--name', 'cp1', 'busybox', 'sleep', '600'])).code).toBe(0);
    await sh('cp1', 'mkdir -p /d/sub && echo hi > /d/sub/f && ln -s /etc /d/etclink && ln -s sub/f /d/flink');
    const out = join(work, 'out');
    mkdirSync(out);
    expect((await docker(d, ['cp', 'cp1:/d', join(out, 'whole')])).code).toBe(0);
    expect(files(join(out, 'whole'))).toEqual(['etclink', 'flink', 'sub', 'sub/f']);
    expect(readFileSync(join(out, 'whole/sub/f'), 'utf8')).toBe('hi\n');
    // "/." is the content: copied into an existing directory without a "d" level
    mkdirSync(join(out, 'content'));
    expect((await docker(d, ['cp', 'cp1:/d/.', join(out, 'content')])).code).toBe(0);
    expect(files(join(out, 'content'))).toEqual(['etclink', 'flink', 'sub', 'sub/f']);
    // a symlinked directory on the way is followed inside the container
    expect((await docker(d, ['cp', 'cp1:/d/etclink/passwd', join(out, 'passwd')])).code).toBe(0);
    expect(readFileSync(join(out, 'passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    // the last component is the link itself, unless -L
    expect((await docker(d, ['cp', 'cp1:/d/flink', join(out, 'link')])).code).toBe(0);
    expect(
      execFileSync('readlink', [join(out, 'link')])
        .toString()
        .trim(),
    ).toBe('sub/f');
    expect((await docker(d, ['cp', '-L', 'cp1:/d/flink', join(out, 'followed')])).code).toBe(0);
    expect(readFileSync(join(out, 'followed'), 'utf8')).toBe('hi\n');
    // the whole root of a running container (its root is /proc/<pid>/root, a magic link), new name and into
    expect((await docker(d, ['cp', 'cp1:/', join(out, 'root')])).code).toBe(0);
    expect(readFileSync(join(out, 'root/d/sub/f'), 'utf8')).toBe('hi\n');
    expect(existsSync(join(out, 'root/bin/busybox'))).toBe(true);
    mkdirSync(join(out, 'into'));
    expect((await docker(d, ['cp', 'cp1:/', join(out, 'into')])).code).toBe(0);
    expect(readFileSync(join(out, 'into/d/sub/f'), 'utf8')).toBe('hi\n');
  });

  it('answers HEAD with the path stat header (dockerode infoArchive) and GET with a tar (getArchive)', async () => {
    const c = dk.getContainer('cp1');
    const info = (await c.infoArchive({ path: '/d/flink' })) as unknown as {
      headers: Record<string, string>;
    };
    const header = info.headers['x-docker-container-path-stat'];
    const stat = JSON.parse(Buffer.from(header, 'base64').toString());
    expect(stat).toMatchObject({ name: 'flink', linkTarget: '/d/sub/f' });
    expect(stat.mode & (2 ** 27)).toBeTruthy(); // Go's os.ModeSymlink
    const stream = await c.getArchive({ path: '/d/sub' });
    const names = execFileSync('tar', ['t'], {
      input: await new Promise<Buffer>((res) => {
        const chunks: Buffer[] = [];
        stream.on('data', (x: Buffer) => chunks.push(x));
        stream.on('end', () => res(Buffer.concat(chunks)));
      }),
    })
      .toString()
      .split('\n')
      .filter(Boolean);
    expect(names).toEqual(['sub/', 'sub/f']);
  });

  it('never leaves the container: absolute and ".." symlinks resolve inside its root', async () => {
    await sh('cp1', `ln -s ${hostDir} /d/abs && ln -s ../../../../../../..${hostDir} /d/rel`);
    for (const p of ['/d/abs/secret', '/d/rel/secret', `/../../..${hostDir}/secret`]) {
      const r = await docker(d, ['cp', `cp1:${p}`, join(work, 'stolen')]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`Could not find the file ${p} in container cp1`);
    }
    expect(existsSync(join(work, 'stolen'))).toBe(false);
    const missing = await docker(d, ['cp', 'nosuch:/etc/passwd', join(work, 'x')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No such container: nosuch');
    const noPath = await api(d, 'GET', '/containers/cp1/archive');
    expect(noPath.status).toBe(400);
    expect(noPath.body).toContain('path');
  });
});

describe('docker cp into a container', () => {
  it('copies a file and a directory into a running container, content with "/.", -a owns by the user', async () => {
    const src = join(work, 'src');
    mkdirSync(join(src, 'tree/x'), { recursive: true });
    writeFileSync(join(src, 'one.txt'), 'one\n');
    writeFileSync(join(src, 'tree/x/y'), 'y\n');
    expect((await docker(d, ['cp', join(src, 'one.txt'), 'cp1:/tmp/'])).code).toBe(0);
    expect((await docker(d, ['cp', join(src, 'tree'), 'cp1:/tmp/newtree'])).code).toBe(0);
    expect((await docker(d, ['cp', `${join(src, 'tree')}/.`, 'cp1:/tmp/'])).code).toBe(0);
    expect(await sh('cp1', 'cat /tmp/one.txt /tmp/newtree/x/y /tmp/x/y')).toBe('one\ny\ny\n');
    expect(
      (await docker(d, ['run', '-d', '--name', 'cpu', '-u', 'nobody', 'busybox', 'sleep', '600'])).code,
    ).toBe(0);
    expect((await docker(d, ['cp', '-a', join(src, 'one.txt'), 'cpu:/tmp/a.txt'])).code).toBe(0);
    expect((await docker(d, ['cp', join(src, 'one.txt'), 'cpu:/tmp/b.txt'])).code).toBe(0);
    expect(await sh('cpu', 'stat -c "%n %u:%g" /tmp/a.txt /tmp/b.txt')).toBe(
      '/tmp/a.txt 65534:65534\n/tmp/b.txt 0:0\n',
    );
  });

  it('refuses a file over a directory (noOverwriteDirNonDir), a missing or non-directory destination', async () => {
    await sh('cp1', 'mkdir -p /tmp/isdir');
    const f = join(work, 'isdir');
    writeFileSync(f, 'file\n');
    const over = await docker(d, ['cp', f, 'cp1:/tmp/']);
    expect(over.code).not.toBe(0);
    expect(over.stderr).toContain('cannot overwrite directory');
    expect(await sh('cp1', 'test -d /tmp/isdir && echo dir')).toBe('dir\n');
    const r1 = await putArchive('cp1', '/nonexistent', await tarOf([{ name: 'a', type: 'file', body: 'a' }]));
    expect(r1.status).toBe(404);
    const r2 = await putArchive('cp1', '/tmp/one.txt', await tarOf([{ name: 'a', type: 'file', body: 'a' }]));
    expect(r2.status).toBe(400);
    expect(r2.body).toContain('not a directory');
  });

  it('keeps hostile archives and symlinks inside the container', async () => {
    // ".." in an entry name: refused, nothing written
    const dotdot = await putArchive(
      'cp1',
      '/tmp',
      await tarOf([{ name: '../../../../../../../..' + hostDir + '/evil', type: 'file', body: 'x' }]),
    );
    expect(dotdot.status).toBe(400);
    expect(dotdot.body).toContain('escapes');
    // a symlink in the archive, then a file through it: lands under the container's root
    const viaLink = await putArchive(
      'cp1',
      '/',
      await tarOf([
        { name: 'escape', type: 'symlink', linkname: hostDir },
        { name: 'escape/evil', type: 'file', body: 'x' },
      ]),
    );
    expect(viaLink.status).toBe(200);
    expect(await sh('cp1', `cat ${hostDir}/evil`)).toBe('x');
    // a destination through the container's own symlink to the host path
    const viaDest = await docker(d, ['cp', join(work, 'isdir'), 'cp1:/d/abs/']);
    expect(viaDest.code).toBe(0);
    expect(await sh('cp1', `cat ${hostDir}/isdir`)).toBe('file\n');
    expect(readdirSync(hostDir)).toEqual(['secret']);
    const missing = await putArchive('nosuch', '/', await tarOf([{ name: 'a', type: 'file', body: 'a' }]));
    expect(missing.status).toBe(404);
  });

  it('refuses a read-only root filesystem but writes its volumes', async () => {
    expect(
      (
        await docker(d, [
          'run',
          '-d',
          '--name',
          'cpro',
          '--read-only',
          '-v',
          'cpvol:/data',
          'busybox',
          'sleep',
          '600',
        ])
      ).code,
    ).toBe(0);
    const ro = await docker(d, ['cp', join(work, 'isdir'), 'cpro:/tmp/']);
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toContain('read-only');
    expect((await docker(d, ['cp', join(work, 'isdir'), 'cpro:/data/'])).code).toBe(0);
    expect(await sh('cpro', 'cat /data/isdir')).toBe('file\n');
  });

  it('works on a stopped container, its volumes included, and the next start sees the files', async () => {
    expect(
      (
        await docker(d, [
          'create',
          '--name',
          'cps',
          '-v',
          'cpvol:/data',
          'busybox',
          'cat',
          '/in.txt',
          '/data/isdir',
        ])
      ).code,
    ).toBe(0);
    expect((await docker(d, ['cp', join(work, 'src/one.txt'), 'cps:/in.txt'])).code).toBe(0);
    const out = join(work, 'stopped-out');
    expect((await docker(d, ['cp', 'cps:/data/isdir', out])).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('file\n');
    const r = await docker(d, ['start', '-a', 'cps']);
    expect(r).toMatchObject({ code: 0, stdout: 'one\nfile\n' });
    // dockerode putArchive into the stopped container
    const c = dk.getContainer('cps');
    await c.putArchive(await tarOf([{ name: 'dk.txt', type: 'file', body: 'from dockerode\n' }]), {
      path: '/tmp',
    });
    const back = join(work, 'dk.txt');
    expect((await docker(d, ['cp', 'cps:/tmp/dk.txt', back])).code).toBe(0);
    expect(readFileSync(back, 'utf8')).toBe('from dockerode\n');
  });
});

describe('docker export and diff', () => {
  it('exports the root filesystem without volumes or the kernel filesystems', async () => {
    const tarFile = join(work, 'export.tar');
    expect((await docker(d, ['export', '-o', tarFile, 'cpro'])).code).toBe(0);
    const names = execFileSync('tar', ['tf', tarFile]).toString().split('\n');
    expect(names).toContain('bin/busybox');
    expect(names).toContain('data/');
    expect(names.some((n) => n.startsWith('data/isdir'))).toBe(false);
    expect(names.some((n) => n.startsWith('proc/1'))).toBe(false);
    // dockerode export of a stopped container
    const stream = await dk.getContainer('cps').export();
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const stopped = execFileSync('tar', ['t'], { input: Buffer.concat(chunks) })
      .toString()
      .split('\n');
    expect(stopped).toContain('in.txt');
    expect(stopped).toContain('bin/busybox');
  });

  it('lists added, changed and deleted paths, not the runtime mount points', async () => {
    expect((await docker(d, ['run', '-d', '--name', 'df1', 'busybox', 'sleep', '600'])).code).toBe(0);
    expect((await docker(d, ['diff', 'df1'])).stdout).toBe('');
    await sh('df1', 'rm /bin/ls && mkdir /new && touch /new/f && echo x >> /etc/group');
    expect((await docker(d, ['diff', 'df1'])).stdout).toBe(
      'C /bin\nD /bin/ls\nC /etc\nC /etc/group\nA /new\nA /new/f\n',
    );
    const changes = await dk.getContainer('df1').changes();
    expect(changes).toContainEqual({ Path: '/bin/ls', Kind: 2 });
    expect((await docker(d, ['diff', 'nosuch'])).stderr).toContain('No such container: nosuch');
  });
});

describe('docker commit', () => {
  it('makes an image of a running container with changes, author and message', async () => {
    const r = await docker(d, [
      'commit',
      '-a',
      'Ann <ann@example.org>',
      '-m',
      'added /new',
      '-c',
      'CMD ["busybox", "ls", "/new"]',
      '-c',
      'ENV COMMITTED=yes',
      '-c',
      'LABEL stage=two',
      '-c',
      'EXPOSE 8080',
      '-c',
      'WORKDIR /new',
      'df1',
      'committed:v1',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const img = JSON.parse((await docker(d, ['image', 'inspect', 'committed:v1'])).stdout)[0];
    expect(img.Author).toBe('Ann <ann@example.org>');
    expect(img.Config.Cmd).toEqual(['busybox', 'ls', '/new']);
    expect(img.Config.Env).toContain('COMMITTED=yes');
    expect(img.Config.Labels).toMatchObject({ stage: 'two' });
    expect(img.Config.WorkingDir).toBe('/new');
    expect(Object.keys(img.Config.ExposedPorts)).toEqual(['8080/tcp']);
    expect(img.RootFS.Layers.length).toBe(2);
    const hist = (await docker(d, ['history', '--format', '{{.Comment}}', 'committed:v1'])).stdout;
    expect(hist.split('\n')[0]).toBe('added /new');
    // the container keeps running (paused only while its layer was read)
    expect(JSON.parse((await docker(d, ['inspect', 'df1'])).stdout)[0].State.Status).toBe('running');
    const run = await docker(d, ['run', '--rm', 'committed:v1']);
    expect(run).toMatchObject({ code: 0, stdout: 'f\n' });
    const gone = await docker(d, ['run', '--rm', 'committed:v1', 'ls', '/bin/ls']);
    expect(gone.code).not.toBe(0);
    // the runtime's mount points are not in the layer
    const layer = await docker(d, [
      'run',
      '--rm',
      '--entrypoint',
      'sh',
      'committed:v1',
      '-c',
      'cat /etc/group | tail -1',
    ]);
    expect(layer.stdout).toBe('x\n');
  });

  it('commits a stopped container through dockerode', async () => {
    expect((await docker(d, ['stop', '-t', '0', 'df1'])).code).toBe(0);
    const c = dk.getContainer('df1');
    const res = (await c.commit({ repo: 'committed', tag: 'dk', changes: 'CMD ["cat", "/etc/group"]' })) as {
      Id: string;
    };
    expect(res.Id).toMatch(/^sha256:/);
    const run = await docker(d, ['run', '--rm', 'committed:dk']);
    expect(run.stdout.endsWith('x\n')).toBe(true);
  });

  it('refuses bad changes, references and containers, and makes no image', async () => {
    const before = (await docker(d, ['images', '-q', '--no-trunc'])).stdout;
    const run = await docker(d, ['commit', '-c', 'RUN echo hi', 'df1', 'bad:1']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('RUN is not a valid change command');
    const unknown = await docker(d, ['commit', '-c', 'FOO bar', 'df1', 'bad:2']);
    expect(unknown.stderr).toContain('FOO is not a valid change command');
    const badJson = await docker(d, ['commit', '-c', 'ENV', 'df1', 'bad:3']);
    expect(badJson.code).not.toBe(0);
    expect(badJson.stderr).toContain('invalid change');
    const ref = await api(d, 'POST', '/commit?container=df1&repo=Bad%20Name');
    expect(ref.status).toBe(400);
    expect(ref.body).toContain('invalid reference format');
    const none = await docker(d, ['commit', 'nosuch', 'bad:4']);
    expect(none.stderr).toContain('No such container: nosuch');
    const body = await api(d, 'POST', '/commit?container=df1', { Cmd: ['true'] });
    expect(body.status).toBe(400);
    expect(body.body).toContain('Cmd');
    expect((await docker(d, ['images', '-q', '--no-trunc'])).stdout).toBe(before);
  });
});
