// `run IMAGE` the docker way, with images from helper I's store: an image loaded from a tarball runs
// through both CLIs; a missing image is pulled from a registry on 127.0.0.1 and the create retried.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, docker, REPO, shoal, startShoald } from '../daemon/harness.js';
import { startRegistry, type TestRegistry } from '../images/registry-harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
let d: Daemon;
let registry: TestRegistry | undefined;

beforeAll(async () => {
  d = await startShoald();
  expect((await docker(d, ['load', '-i', TARBALL])).stdout).toContain('Loaded image: busybox:latest');
});
afterAll(async () => {
  await cleanup(d);
  await registry?.stop();
});

describe('run IMAGE', () => {
  it('docker run --rm: output, exit status, and the container is gone', async () => {
    const r = await docker(d, ['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 4']);
    expect(r).toMatchObject({ code: 4, stdout: 'out\n', stderr: 'err\n' });
    expect((await docker(d, ['ps', '-aq'])).stdout).toBe('');
  });

  it('docker run in the foreground without --rm (wait next-exit), and with -t', async () => {
    expect(await docker(d, ['run', '--name', 'fg', 'busybox', 'sh', '-c', 'echo fg; exit 2'])).toMatchObject({
      code: 2,
      stdout: 'fg\n',
    });
    expect((await docker(d, ['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).stdout).toMatch(
      /^fg Exited \(2\) /,
    );
    expect((await docker(d, ['rm', 'fg'])).code).toBe(0);
    expect(await docker(d, ['run', '--rm', '-t', 'busybox', 'echo', 'tty'])).toMatchObject({
      code: 0,
      stdout: 'tty\r\n',
    });
  });

  it('docker run -i feeds stdin; docker run -d --name runs in the background', async () => {
    expect(await docker(d, ['run', '--rm', '-i', 'busybox', 'cat'], 'piped\n')).toMatchObject({
      code: 0,
      stdout: 'piped\n',
    });
    const id = (
      await docker(d, ['run', '-d', '--name', 'bg', '-e', 'X=1', 'busybox', 'sleep', '60'])
    ).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const i = JSON.parse((await docker(d, ['inspect', 'bg'])).stdout)[0];
    expect(i).toMatchObject({
      Id: id,
      Name: '/bg',
      State: { Running: true },
      Config: { Image: 'busybox:latest' },
    });
    expect(i.Config.Env).toContain('X=1');
    expect((await shoal(d, ['ps'])).stdout).toMatch(/busybox:latest +"sleep 60" .* bg\n/);
    expect((await docker(d, ['rm', '-f', 'bg'])).code).toBe(0);
  });

  it('docker create, start -a, start again, wait, logs', async () => {
    const id = (
      await docker(d, ['create', '--name', 'cr', 'busybox', 'sh', '-c', 'echo ran; exit 6'])
    ).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await docker(d, ['ps', '-a', '-f', 'status=created', '-q', '--no-trunc'])).stdout).toBe(
      `${id}\n`,
    );
    expect(await docker(d, ['start', '-a', 'cr'])).toMatchObject({ code: 6, stdout: 'ran\n' });
    expect((await docker(d, ['start', 'cr'])).stdout).toBe('cr\n');
    expect((await docker(d, ['wait', 'cr'])).stdout).toBe('6\n');
    expect((await docker(d, ['logs', 'cr'])).stdout).toBe('ran\nran\n');
    expect((await docker(d, ['rm', 'cr'])).code).toBe(0);
  });

  it('uses the image config: default command and environment', async () => {
    const r = await shoal(d, ['run', '--rm', 'busybox', 'sh', '-c', 'echo $PATH']);
    expect(r.stdout).toMatch(/\/bin/);
  });

  it('pulls a missing image from a registry, then creates the container (shoal and docker CLIs)', async () => {
    registry = await startRegistry();
    const ref = `${registry.host}/e2/busybox:1`;
    expect((await shoal(d, ['tag', 'busybox:latest', ref])).code).toBe(0);
    expect((await shoal(d, ['push', ref])).code).toBe(0);
    expect((await shoal(d, ['rmi', ref])).code).toBe(0);

    const mine = await shoal(d, ['run', '--rm', ref, 'echo', 'pulled']);
    expect(mine.stderr).toContain(`Unable to find image '${ref}' locally`);
    expect(mine).toMatchObject({ code: 0, stdout: 'pulled\n' });

    expect((await shoal(d, ['rmi', ref])).code).toBe(0);
    const theirs = await docker(d, ['run', '--rm', ref, 'echo', 'pulled-by-docker']);
    expect(theirs.stdout).toBe('pulled-by-docker\n');
    expect(theirs.code).toBe(0);
  });

  it('fails with 125 and a clear message for an image that exists nowhere', async () => {
    registry ??= await startRegistry();
    const r = await shoal(d, ['run', '--rm', `${registry.host}/e2/nothing:1`, 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/nothing/);
    expect((await shoal(d, ['ps', '-aq'])).stdout).toBe('');
  });
});
