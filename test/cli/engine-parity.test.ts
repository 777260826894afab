// Engine commands as a docker user meets them, through the real docker CLI and shoal's: ps --filter
// before/since/exited/ancestor, container prune with until and label filters, image prune with a label
// filter, system df, 304s, -it without a terminal, and the pace of the streaming stats display.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  cleanup,
  type Daemon,
  docker,
  REPO,
  shoal,
  spawnShoal,
  startShoald,
} from '../daemon/harness.js';

const IMAGES = join(REPO, 'test/fixtures/out/images');
let d: Daemon;

beforeAll(async () => {
  d = await startShoald();
  expect((await docker(d, ['load', '-i', join(IMAGES, 'busybox.docker.tar')])).code).toBe(0);
});
afterAll(() => cleanup(d));

const names = async (args: string[]) =>
  (await docker(d, ['ps', '-a', '--format', '{{.Names}}', ...args])).stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .sort();

describe('ps filters', () => {
  it('before, since, exited and ancestor select as dockerd does; unknown anchors are a 404', async () => {
    for (const [name, code] of [
      ['f1', 0],
      ['f2', 3],
      ['f3', 0],
    ] as const)
      expect((await docker(d, ['run', '--name', name, 'busybox', 'sh', '-c', `exit ${code}`])).code).toBe(
        code,
      );
    expect(await names(['--filter', 'before=f2'])).toEqual(['f1']);
    expect(await names(['--filter', 'since=f1'])).toEqual(['f2', 'f3']);
    expect(await names(['--filter', 'exited=3'])).toEqual(['f2']);
    expect(await names(['--filter', 'exited=0', '--filter', 'since=f1'])).toEqual(['f3']);
    expect(await names(['--filter', 'ancestor=busybox'])).toEqual(['f1', 'f2', 'f3']);
    expect(await names(['--filter', 'ancestor=alpine'])).toEqual([]);
    const ghost = await docker(d, ['ps', '-a', '--filter', 'before=ghost']);
    expect(ghost.code).not.toBe(0);
    expect(ghost.stderr).toContain('No such container: ghost');
    const bad = await docker(d, ['ps', '-a', '--filter', 'exited=yes']);
    expect(bad.stderr).toContain("invalid filter 'exited=yes'");
    expect((await docker(d, ['rm', 'f1', 'f2', 'f3'])).code).toBe(0);
  });
});

describe('container prune', () => {
  it('removes stopped containers the filters select and keeps running ones and the rest', async () => {
    expect((await docker(d, ['run', '-d', '--name', 'up', 'busybox', 'sleep', '60'])).code).toBe(0);
    expect((await docker(d, ['run', '--name', 'keep', '-l', 'keep=yes', 'busybox', 'true'])).code).toBe(0);
    expect(
      (await docker(d, ['run', '--name', 'junk', '-l', 'tier=junk', 'busybox', 'sh', '-c', 'echo x > /big']))
        .code,
    ).toBe(0);
    // until=1h: everything here is younger than an hour, so nothing is old enough.
    const none = await docker(d, ['container', 'prune', '-f', '--filter', 'until=1h']);
    expect(none.stdout).toBe('Total reclaimed space: 0B\n');
    const r = await docker(d, ['container', 'prune', '-f', '--filter', 'label!=keep']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: \d+B\n$/);
    expect(await names([])).toEqual(['keep', 'up']);
    const ours = await shoal(d, ['container', 'prune', '-f']);
    expect(ours.code).toBe(0);
    expect(ours.stdout).toMatch(/^Deleted Containers:\n[0-9a-f]{64}\n/);
    expect(await names([])).toEqual(['up']);
    const bad = await docker(d, ['container', 'prune', '-f', '--filter', 'until=whenever']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("invalid filter 'until=whenever'");
    const unknown = await shoal(d, ['container', 'prune', '-f', '--filter', 'colour=red']);
    expect(unknown.stderr).toContain("invalid filter 'colour'");
    expect(await names([])).toEqual(['up']);
  });
});

describe('system df', () => {
  it('counts images, containers and volumes as the docker CLI shows them', async () => {
    expect((await docker(d, ['volume', 'create', 'dfvol'])).code).toBe(0);
    const theirs = (await docker(d, ['system', 'df'])).stdout;
    expect(theirs).toMatch(/^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE\n/);
    expect(theirs).toMatch(/\nImages +1 +1 +\S+ +0B \(0%\)\n/);
    expect(theirs).toMatch(/\nContainers +1 +1 +/);
    expect(theirs).toMatch(/\nLocal Volumes +1 +0 +0B +0B\n/);
    const ours = (await shoal(d, ['system', 'df'])).stdout;
    expect(ours.split('\n').map((l) => l.split(/ +/).slice(0, 3).join(' '))).toEqual(
      theirs.split('\n').map((l) => l.split(/ +/).slice(0, 3).join(' ')),
    );
    expect((await docker(d, ['rm', '-f', 'up'])).code).toBe(0);
    expect((await docker(d, ['volume', 'rm', 'dfvol'])).code).toBe(0);
    expect((await docker(d, ['system', 'df'])).stdout).toMatch(/\nImages +1 +0 +(\S+) +\1 \(100%\)\n/);
  });
});

describe('image filters and prune', () => {
  it('image prune -a keeps what the label filter spares; before/since name images that must exist', async () => {
    expect((await docker(d, ['load', '-i', join(IMAGES, 'multilayer.docker.tar')])).code).toBe(0);
    const all = (await docker(d, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout
      .trim()
      .split('\n');
    expect(all.length).toBe(2);
    const missing = await docker(d, ['images', '--filter', 'since=nosuch:1']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No such image');
    // Nothing carries the label: nothing is pruned.
    const spared = await docker(d, ['image', 'prune', '-a', '-f', '--filter', 'label=never']);
    expect(spared.stdout).toBe('Total reclaimed space: 0B\n');
    expect((await docker(d, ['images', '-q'])).stdout.trim().split('\n').length).toBe(2);
    const bad = await docker(d, ['image', 'prune', '-f', '--filter', 'until=soon']);
    expect(bad.stderr).toContain("invalid filter 'until=soon'");
  });
});

describe('304 Not Modified', () => {
  it('start of a running and stop of a stopped container answer 304; both CLIs print the name and exit 0', async () => {
    expect((await docker(d, ['run', '-d', '--name', 'nm', 'busybox', 'sleep', '60'])).code).toBe(0);
    expect((await api(d, 'POST', '/containers/nm/start')).status).toBe(304);
    expect(await docker(d, ['start', 'nm'])).toMatchObject({ code: 0, stdout: 'nm\n' });
    expect(await shoal(d, ['start', 'nm'])).toMatchObject({ code: 0, stdout: 'nm\n' });
    expect((await api(d, 'POST', '/containers/nm/stop?t=0')).status).toBe(204);
    expect((await api(d, 'POST', '/containers/nm/stop?t=0')).status).toBe(304);
    expect(await docker(d, ['stop', 'nm'])).toMatchObject({ code: 0, stdout: 'nm\n' });
    expect(await shoal(d, ['stop', 'nm'])).toMatchObject({ code: 0, stdout: 'nm\n' });
    expect((await api(d, 'POST', '/containers/nm/start')).status).toBe(204);
    expect((await docker(d, ['rm', '-f', 'nm'])).code).toBe(0);
  });
});

describe('-it without a terminal', () => {
  it('run -it and exec -it with piped stdin are refused before anything is made, as the docker CLI does', async () => {
    const before = (await docker(d, ['ps', '-aq'])).stdout;
    for (const cli of [docker, shoal]) {
      const r = await cli(d, ['run', '-it', 'busybox', 'true'], 'x\n');
      expect(r).toMatchObject({ code: 1, stderr: 'the input device is not a TTY\n' });
    }
    expect((await docker(d, ['ps', '-aq'])).stdout).toBe(before);
    expect((await docker(d, ['run', '-d', '--name', 'ex', 'busybox', 'sleep', '60'])).code).toBe(0);
    for (const cli of [docker, shoal])
      expect(await cli(d, ['exec', '-it', 'ex', 'true'], 'x\n')).toMatchObject({
        code: 1,
        stderr: 'the input device is not a TTY\n',
      });
    // -t alone (no stdin) and -i alone still run.
    expect((await shoal(d, ['exec', '-t', 'ex', 'echo', 'ok'])).stdout).toBe('ok\r\n');
    expect((await shoal(d, ['exec', '-i', 'ex', 'cat'], 'piped\n')).stdout).toBe('piped\n');
    expect((await docker(d, ['rm', '-f', 'ex'])).code).toBe(0);
  });
});

describe('stats', () => {
  it('the streaming display follows one stream per container and redraws about twice a second', async () => {
    expect((await docker(d, ['run', '-d', '--name', 'st', 'busybox', 'sleep', '60'])).code).toBe(0);
    const p = spawnShoal(d, ['stats', 'st']);
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 2600));
    p.kill('SIGINT');
    await new Promise((r) => p.once('close', r));
    const frames = out.split('\x1b[2J').length - 1;
    const elapsed = Date.now() - started;
    expect(frames).toBeGreaterThanOrEqual(2);
    // Not a timing check: the display must not spin (it redrew ~400 times a second before).
    expect(frames).toBeLessThanOrEqual(Math.ceil(elapsed / 500) + 2);
    expect(out).toMatch(/CONTAINER ID +NAME +CPU %/);
    expect(out).toMatch(/\n[0-9a-f]{12} +st +\d+\.\d+% /);
    expect((await docker(d, ['rm', '-f', 'st'])).code).toBe(0);
  });
});
