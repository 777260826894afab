// dockerode 5 against shoald: buildImage (the classic builder's stream, read with followProgress), the built
// image inspected and run through dockerode too, and a failing build reported in the stream as dockerd does.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, REPO, shoal, startShoald } from '../daemon/harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
let d: Daemon;
let docker: Docker;
const ctx = mkdtempSync(join(tmpdir(), 'shoal-dockerode-'));

beforeAll(async () => {
  d = await startShoald();
  expect((await shoal(d, ['load', '-i', TARBALL])).code).toBe(0);
  docker = new Docker({ socketPath: d.sock });
});
afterAll(async () => {
  await cleanup(d);
  rmSync(ctx, { recursive: true, force: true });
});

type Event = { stream?: string; error?: string; errorDetail?: { message: string }; aux?: { ID: string } };

async function build(dockerfile: string, tag: string): Promise<Event[]> {
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
  writeFileSync(join(ctx, 'hello.txt'), 'hello from the context\n');
  const stream = await docker.buildImage({ context: ctx, src: ['Dockerfile', 'hello.txt'] }, { t: tag });
  return new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, out: Event[]) =>
      err ? reject(err) : resolve(out),
    ),
  );
}

describe('dockerode', () => {
  it('buildImage streams the classic builder; the image inspects and runs through dockerode', async () => {
    const out = await build(
      'FROM busybox\nCOPY hello.txt /hello.txt\nENV GREETING=hi\nCMD ["cat", "/hello.txt"]\n',
      'dk:1',
    );
    const text = out.map((e) => e.stream ?? '').join('');
    expect(text).toMatch(/Step 1\/4 : FROM busybox/);
    expect(text).toMatch(/Step 2\/4 : COPY hello.txt \/hello.txt/);
    expect(text).toMatch(/Successfully built [0-9a-f]{12}/);
    expect(text).toContain('Successfully tagged dk:1');
    const img = await docker.getImage('dk:1').inspect();
    expect(img.Config.Env).toContain('GREETING=hi');
    expect(img.Config.Cmd).toEqual(['cat', '/hello.txt']);
    const c = await docker.createContainer({ Image: 'dk:1' });
    await c.start();
    expect((await c.wait()).StatusCode).toBe(0);
    const logs = (await c.logs({ stdout: true })) as unknown as Buffer;
    expect(logs.toString()).toContain('hello from the context');
    await c.remove();
    // An unchanged rebuild is all cache hits.
    const again = (
      await build(
        'FROM busybox\nCOPY hello.txt /hello.txt\nENV GREETING=hi\nCMD ["cat", "/hello.txt"]\n',
        'dk:1',
      )
    )
      .map((e) => e.stream ?? '')
      .join('');
    expect(again.match(/Using cache/g)?.length).toBe(3);
  });

  it('a failing RUN ends the stream with the error, names the step, and leaves no image', async () => {
    const out = await build('FROM busybox\nRUN echo about to fail && exit 7\n', 'dk:bad');
    const err = out.find((e) => e.error);
    expect(err?.errorDetail?.message ?? err?.error).toMatch(/returned a non-zero code: 7/);
    await expect(docker.getImage('dk:bad').inspect()).rejects.toThrow(/No such image/);
  });
});
