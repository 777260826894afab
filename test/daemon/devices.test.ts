// Host devices through the real docker CLI (and shoal's) against a real shoald: `--device` maps a host
// node at a container path with its cgroup permissions, a node without a rule cannot be opened,
// `--device-cgroup-rule` allows a mknod'ed one; a swarm service's ContainerSpec.Devices reach its task's
// container. Bad inputs are refused naming the field, and nothing is created.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../images/registry-harness.js';
import {
  api,
  cleanupSwarm,
  type Daemon,
  docker,
  eventually,
  REPO,
  shoal,
  startShoald,
  stateEntries,
} from './harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
let d: Daemon;

beforeAll(async () => {
  d = await startShoald();
  expect((await docker(d, ['load', '-i', TARBALL])).stdout).toContain('Loaded image: busybox:latest');
}, 120_000);
afterAll(() => cleanupSwarm(d), 120_000);

// /dev/loop-control (char 10:237) is not among the default rules; opening it without an ioctl does nothing.
const LOOP_CONTROL = '/dev/loop-control';

describe('docker run --device', () => {
  it('maps /dev/null at /dev/xnull: a char 1,3 node that takes writes', async () => {
    const r = await docker(d, [
      'run',
      '--rm',
      '--device',
      '/dev/null:/dev/xnull',
      'busybox',
      'sh',
      '-c',
      'echo hi > /dev/xnull && ls -l /dev/xnull',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^crw-rw-rw-\s.*\b1,\s+3\s.*\/dev\/xnull$/m);
  });

  it('honours the permissions: r opens for reading only', async () => {
    const r = await docker(d, [
      'run',
      '--rm',
      '--device',
      `${LOOP_CONTROL}:/dev/lc:r`,
      'busybox',
      'sh',
      '-c',
      'ls -l /dev/lc; true < /dev/lc && echo read-ok; echo x > /dev/lc || echo write-denied',
    ]);
    expect(r.stdout).toMatch(/^c.*\b10,\s+237\s.*\/dev\/lc$/m);
    expect(r.stdout).toContain('read-ok');
    expect(r.stdout).toContain('write-denied');
    expect(r.stderr).toMatch(/Operation not permitted/);
  });

  it('a node made without --device cannot be opened; --device-cgroup-rule allows it', async () => {
    const script = 'mknod /tmp/lc c 10 237 && true < /tmp/lc && echo opened';
    const denied = await docker(d, ['run', '--rm', 'busybox', 'sh', '-c', script]);
    expect(denied.code).not.toBe(0);
    expect(denied.stdout).not.toContain('opened');
    expect(denied.stderr).toMatch(/Operation not permitted/);
    const allowed = await docker(d, [
      'run',
      '--rm',
      '--device-cgroup-rule',
      'c 10:237 rwm',
      'busybox',
      'sh',
      '-c',
      script,
    ]);
    expect(allowed.stderr).toBe('');
    expect(allowed.stdout).toBe('opened\n');
  });

  it('shoal run --device works too, and inspect shows Devices and DeviceCgroupRules', async () => {
    const r = await shoal(d, [
      'run',
      '--rm',
      '--device',
      '/dev/zero:/dev/z',
      'busybox',
      'sh',
      '-c',
      'head -c 3 /dev/z | od -An -tx1',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('00 00 00');
    const c = await docker(d, [
      'create',
      '--name',
      'devs',
      '--device',
      '/dev/null:/dev/xnull:rw',
      '--device',
      '/dev/zero',
      '--device-cgroup-rule',
      'c 10:237 r',
      'busybox',
      'true',
    ]);
    expect(c.code).toBe(0);
    const hc = JSON.parse((await docker(d, ['inspect', 'devs'])).stdout)[0].HostConfig;
    expect(hc.Devices).toEqual([
      { PathOnHost: '/dev/null', PathInContainer: '/dev/xnull', CgroupPermissions: 'rw' },
      { PathOnHost: '/dev/zero', PathInContainer: '/dev/zero', CgroupPermissions: 'rwm' },
    ]);
    expect(hc.DeviceCgroupRules).toEqual(['c 10:237 r']);
    expect((await docker(d, ['rm', 'devs'])).code).toBe(0);
  });

  it('bad inputs: refused naming the field, nothing created', async () => {
    const before = stateEntries(d).containers.length;
    const run = (...flags: string[]) => docker(d, ['run', '--rm', ...flags, 'busybox', 'true']);
    const missing = await run('--device', '/dev/nope-shoal');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/devices\[0\]\.pathOnHost: \/dev\/nope-shoal does not exist/);
    const file = await run('--device', '/dev/null', '--device', '/etc/hostname:/dev/h');
    expect(file.code).not.toBe(0);
    expect(file.stderr).toMatch(
      /devices\[1\]\.pathOnHost: \/etc\/hostname is not a character or block device/,
    );
    // What the docker CLI checks itself, another client may send: the API refuses it too.
    const create = (hc: Record<string, unknown>) =>
      api(d, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: hc });
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/x', CgroupPermissions: 'rwx' }] },
        /devices\[0\]\.cgroupPermissions: "rwx" is not a combination of r \(read\), w \(write\) and m \(mknod\)/,
      ],
      [
        { Devices: [{ PathOnHost: '/dev/null', PathInContainer: 'dev/x' }] },
        /devices\[0\]\.pathInContainer: "dev\/x" is not an absolute path/,
      ],
      [{ Devices: [{ PathOnHost: 'null' }] }, /devices\[0\]\.pathOnHost: "null" is not an absolute path/],
      [{ Devices: ['/dev/null'] }, /HostConfig\.Devices\[0\]: not an object/],
      [{ DeviceCgroupRules: ['c 1:3'] }, /deviceCgroupRules\[0\]: "c 1:3" is not TYPE MAJOR:MINOR ACCESS/],
      [{ DeviceCgroupRules: ['c 1:3 rwx'] }, /deviceCgroupRules\[0\]/],
    ];
    for (const [hc, msg] of cases) {
      const r = await create(hc);
      expect(r.status, JSON.stringify(hc)).toBe(400);
      expect(JSON.parse(r.body).message).toMatch(msg);
    }
    expect(stateEntries(d).containers.length).toBe(before);
  });
});

describe('a swarm service with devices', () => {
  const taskContainer = async (service: string) => {
    const r = await docker(d, [
      'ps',
      '-q',
      '--filter',
      `label=com.docker.swarm.service.name=${service}`,
      '--filter',
      'status=running',
    ]);
    return r.stdout.trim();
  };

  it('runs its task with the device (shoal service create --device and the API)', async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    const init = await shoal(d, ['swarm', 'init', '--advertise-addr', addr, '--listen-addr', addr]);
    expect(init.stdout).toContain('Swarm initialized');
    const c = await shoal(d, [
      'service',
      'create',
      '--detach',
      '--name',
      'devsvc',
      '--device',
      `${LOOP_CONTROL}:/dev/lc:r`,
      'busybox',
      'sleep',
      '600',
    ]);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    let id = '';
    await eventually(
      async () => {
        id = await taskContainer('devsvc');
        return !!id;
      },
      'the devsvc task to run',
      600,
    );
    const e = await docker(d, [
      'exec',
      id,
      'sh',
      '-c',
      'ls -l /dev/lc; true < /dev/lc && echo read-ok; echo x > /dev/lc || echo write-denied',
    ]);
    expect(e.stdout).toMatch(/^c.*\b10,\s+237\s.*\/dev\/lc$/m);
    expect(e.stdout).toContain('read-ok');
    expect(e.stdout).toContain('write-denied');
    // The docker CLI drops fields its types lack (Devices is shoal's): ask the API.
    const spec = JSON.parse((await api(d, 'GET', '/v1.41/services/devsvc')).body).Spec;
    expect(spec.TaskTemplate.ContainerSpec.Devices).toEqual([
      { PathOnHost: LOOP_CONTROL, PathInContainer: '/dev/lc', CgroupPermissions: 'r' },
    ]);

    // Through the API, as a client other than the docker CLI (which has no --device for services) sends it.
    const r = await api(d, 'POST', '/v1.41/services/create', {
      Name: 'apidev',
      TaskTemplate: {
        ContainerSpec: {
          Image: 'busybox',
          Command: ['sleep', '600'],
          Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/xnull', CgroupPermissions: 'rwm' }],
        },
      },
    });
    expect(r.status).toBe(201);
    await eventually(
      async () => {
        id = await taskContainer('apidev');
        return !!id;
      },
      'the apidev task to run',
      600,
    );
    const x = await docker(d, ['exec', id, 'sh', '-c', 'echo hi > /dev/xnull && ls -l /dev/xnull']);
    expect(x.stdout).toMatch(/^crw-rw-rw-\s.*\b1,\s+3\s.*\/dev\/xnull$/m);
    expect((await docker(d, ['service', 'rm', 'devsvc', 'apidev'])).code).toBe(0);
  }, 120_000);

  it('bad devices: refused at create naming the field; a missing host node rejects the task', async () => {
    const create = (dev: Record<string, unknown>, name = 'baddev') =>
      api(d, 'POST', '/v1.41/services/create', {
        Name: name,
        TaskTemplate: { ContainerSpec: { Image: 'busybox', Command: ['sleep', '600'], Devices: [dev] } },
      });
    for (const [dev, msg] of [
      [{ PathOnHost: '/dev/null', CgroupPermissions: 'rwx' }, /Devices\[0\]\.CgroupPermissions: "rwx"/],
      [{ PathOnHost: 'null' }, /Devices\[0\]\.PathOnHost: "null" is not an absolute path/],
      [{ PathOnHost: '/dev/null', PathInContainer: 'x' }, /Devices\[0\]\.PathInContainer: "x"/],
    ] as const) {
      const r = await create(dev);
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body).message).toMatch(msg);
    }
    expect((await docker(d, ['service', 'ls', '-q'])).stdout.trim()).toBe('');
    const s = await shoal(d, ['service', 'create', '--device', 'null', 'busybox']);
    expect(s.code).not.toBe(0);
    expect(s.stderr).toMatch(/--device/);

    // The host path is the worker's to check: the task is rejected with the engine's message.
    expect((await create({ PathOnHost: '/dev/nope-shoal' }, 'gone')).status).toBe(201);
    await eventually(
      async () =>
        /does not exist/.test(
          (await docker(d, ['service', 'ps', 'gone', '--no-trunc', '--format', '{{.Error}}'])).stdout,
        ),
      'the task to be rejected',
      600,
    );
    const err = (await docker(d, ['service', 'ps', 'gone', '--no-trunc', '--format', '{{.Error}}'])).stdout;
    expect(err).toMatch(/devices\[0\]\.pathOnHost: \/dev\/nope-shoal does not exist/);
    expect(await taskContainer('gone')).toBe('');
    expect((await docker(d, ['service', 'rm', 'gone'])).code).toBe(0);
  }, 120_000);
});
