// shoald as a process: flags, socket permissions, pid file, stale sockets, two daemons side by side,
// clean shutdown; and the system endpoints as the docker CLI negotiates them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spreadsSubdirs } from '../fixtures/topdir.js';
import { api, cleanup, type Daemon, docker, REPO, shoal, startShoald, stopShoald } from './harness.js';

const shoald = (args: string[]) =>
  spawnSync(process.execPath, [join(REPO, 'bin/shoald'), ...args], { encoding: 'utf8' });

describe('shoald process', () => {
  it('prints usage for --help and rejects bad flags', () => {
    const help = shoald(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--data-root');
    const bad = shoald(['--frobnicate']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('unknown flag: --frobnicate');
    const host = shoald(['-H', 'tcp://0.0.0.0:2375']);
    expect(host.stderr).toContain('only unix://PATH is supported');
  });

  it('listens on a root-only socket, writes a pid file and removes both on SIGTERM', async () => {
    const d = await startShoald();
    try {
      expect(statSync(d.sock).mode & 0o777).toBe(0o600);
      const pidFile = join(d.execRoot, 'shoald.pid');
      expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(d.proc.pid));
      expect(await stopShoald(d, 'SIGTERM')).toBe(0);
      expect(existsSync(d.sock)).toBe(false);
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      await cleanup(d);
    }
  });

  it('replaces a stale socket file but refuses a socket another process serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-e2-'));
    try {
      const sock = join(dir, 'shoald.sock');
      writeFileSync(sock, '');
      const d = await startShoald(dir);
      expect(statSync(d.sock).isSocket()).toBe(true);
      await stopShoald(d);

      const other = createServer();
      await new Promise<void>((r) => other.listen(sock, r));
      try {
        const r = shoald([
          '--data-root',
          join(dir, 'data'),
          '--exec-root',
          join(dir, 'exec'),
          '-H',
          `unix://${sock}`,
        ]);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`socket ${sock} is in use`);
      } finally {
        await new Promise((r) => other.close(r));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a second shoald on the same exec-root, while two on different roots coexist', async () => {
    const a = await startShoald();
    const b = await startShoald();
    try {
      const clash = shoald([
        '--data-root',
        join(a.dir, 'data2'),
        '--exec-root',
        a.execRoot,
        '-H',
        `unix://${join(a.dir, 'other.sock')}`,
      ]);
      expect(clash.status).toBe(1);
      expect(clash.stderr).toContain(`another shoald (pid ${a.proc.pid})`);
      expect((await shoal(a, ['version'])).code).toBe(0);
      expect((await shoal(b, ['version'])).code).toBe(0);
      await stopShoald(a);
      expect((await shoal(b, ['ps', '-a'])).code).toBe(0);
    } finally {
      await cleanup(a);
      await cleanup(b);
    }
  });
});

describe('system endpoints', () => {
  let d: Daemon;
  beforeAll(async () => {
    d = await startShoald();
  });
  afterAll(() => cleanup(d));

  it('answers the ping with Api-Version 1.41 on unversioned paths', async () => {
    const head = await api(d, 'HEAD', '/_ping');
    expect(head.status).toBe(200);
    expect(head.headers['api-version']).toBe('1.41');
    const get = await api(d, 'GET', '/_ping');
    expect(get.body).toBe('OK');
  });

  it('serves /version and /info to the docker CLI (negotiated down to 1.41)', async () => {
    const v = await docker(d, ['version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('1.41 (downgraded from');
    expect(v.stdout).toMatch(/Server: shoal/);
    const info = await docker(d, ['info', '--format', '{{json .}}']);
    expect(info.code).toBe(0);
    const j = JSON.parse(info.stdout);
    expect(j.DockerRootDir).toBe(d.dataRoot);
    expect(j.Swarm.LocalNodeState).toBe('inactive');
    const mine = await shoal(d, ['info']);
    expect(mine.stdout).toContain(`Shoal Root Dir: ${d.dataRoot}`);
  });

  it('spreads the directories made per container (layers, containers, their network files) where ext4 can', () => {
    const root = spreadsSubdirs(d.dataRoot);
    if (root === undefined) return; // a file system without inode flags
    expect(root).toBe(false);
    for (const sub of ['containers', 'network/files', 'images/layers'])
      expect([sub, spreadsSubdirs(join(d.dataRoot, sub))]).toEqual([sub, true]);
  });

  it('finds the daemon through SHOAL_HOST, and ignores DOCKER_HOST', () => {
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [join(REPO, 'bin/shoal'), 'version'], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
    const ok = run({ SHOAL_HOST: `unix://${d.sock}`, DOCKER_HOST: 'unix:///nonexistent.sock' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('Server: shoal');
    const none = run({ SHOAL_HOST: 'unix:///nonexistent/shoald.sock', DOCKER_HOST: `unix://${d.sock}` });
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('Cannot connect to the shoal daemon at unix:///nonexistent/shoald.sock');
  });

  it('answers unknown containers and paths with docker-shaped errors', async () => {
    const r = await api(d, 'GET', '/v1.41/containers/nosuch/json');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).message).toMatch(/No such container: nosuch/);
    const p = await api(d, 'GET', '/v1.41/frobnicate');
    expect(p.status).toBe(404);
    expect(JSON.parse(p.body)).toEqual({ message: 'page not found' });
    const bad = await api(d, 'GET', '/v1.41/containers/json?filters=%7B');
    expect(bad.status).toBe(400);
    const di = await docker(d, ['inspect', 'nosuch']);
    expect(di.code).toBe(1);
    expect(di.stderr).toContain('No such object: nosuch');
  });
});
