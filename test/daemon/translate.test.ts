import { describe, expect, it } from 'vitest';
import { containerFilter, type FilterContext, parseFilters } from '../../daemon/api/containers/filters.js';
import { createOptionsFromBody, humanStatus, listEntryJson } from '../../daemon/api/containers/translate.js';
import { Router } from '../../daemon/http/router.js';
import type { Container } from '../../worker/engine/index.js';

// The create body the docker CLI 28.2.2 sent for `docker run -d --name c2 -e FOO=bar -l app=demo -m 64m …`
// (from the recorded traces), trimmed to the fields that are not defaults.
const dockerBody = {
  Hostname: '',
  User: '',
  AttachStdout: false,
  Tty: false,
  OpenStdin: false,
  Env: ['FOO=bar'],
  Cmd: ['sh', '-c', 'echo started'],
  Image: 'bb:latest',
  Volumes: {},
  WorkingDir: '',
  Entrypoint: null,
  Labels: { app: 'demo' },
  HostConfig: {
    Binds: null,
    NetworkMode: 'default',
    AutoRemove: false,
    CapAdd: null,
    CapDrop: null,
    Privileged: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    CpuShares: 0,
    Memory: 67108864,
    NanoCpus: 0,
    MemorySwap: 134217728,
    PidsLimit: 0,
    Ulimits: [],
  },
};

function container(over: Partial<Container> = {}, state: Partial<Container['state']> = {}): Container {
  return {
    id: 'f00d'.repeat(16),
    name: 'web',
    created: '2026-11-22T10:00:00.000000000Z',
    path: 'sh',
    args: ['-c', "echo 'hi'"],
    image: '',
    imageId: '',
    config: {
      hostname: 'f00df00df00d',
      domainname: '',
      user: '',
      env: [],
      cmd: ['sh'],
      entrypoint: [],
      workingDir: '/',
      labels: { app: 'demo', tier: 'web' },
      stopSignal: 'SIGTERM',
      stopTimeout: 10,
      tty: false,
      openStdin: false,
      stdinOnce: false,
      image: '',
    },
    hostConfig: { networkMode: 'none' },
    state: {
      status: 'running',
      running: true,
      paused: false,
      restarting: false,
      oomKilled: false,
      dead: false,
      pid: 42,
      exitCode: 0,
      signal: null,
      error: '',
      startedAt: '2026-11-22T10:00:01Z',
      finishedAt: '0001-01-01T00:00:00Z',
      ...state,
    },
    mounts: [],
    bundle: '/b',
    logPath: '/b/log.json',
    rootfs: { dir: '/rootfs' },
    restartCount: 0,
    execIds: [],
    ...over,
  };
}

describe('create body → engine options', () => {
  it('maps what the docker CLI sends, leaving defaults out', () => {
    const image = {
      id: 'sha256:abc',
      reference: 'bb:latest',
      layers: ['/l1', '/l0'],
      config: { Cmd: ['sh'] },
    };
    const o = createOptionsFromBody(dockerBody, 'c2', image);
    expect(o).toEqual({
      name: 'c2',
      image: 'bb:latest',
      imageId: 'sha256:abc',
      rootfs: { layers: ['/l1', '/l0'], imageConfig: { Cmd: ['sh'] } },
      cmd: ['sh', '-c', 'echo started'],
      env: ['FOO=bar'],
      labels: { app: 'demo' },
      tty: false,
      openStdin: false,
      stdinOnce: false,
      memory: 67108864,
      memorySwap: 134217728,
      readOnly: false,
      privileged: false,
      networkMode: 'default',
      autoRemove: false,
    });
  });

  it('uses the Rootfs extension and rejects a relative one or none at all', () => {
    expect(createOptionsFromBody({ Rootfs: '/r', Cmd: ['true'] }, undefined).rootfs).toEqual({ dir: '/r' });
    expect(() => createOptionsFromBody({ Rootfs: 'r' }, undefined)).toThrow(/invalid Rootfs "r"/);
    expect(() => createOptionsFromBody({ Cmd: ['true'] }, undefined)).toThrow(/no image given/);
  });

  it('passes HostConfig.Sysctls to the engine (which checks them), none when empty', () => {
    const body = (Sysctls: Record<string, string>) => ({
      Rootfs: '/r',
      Cmd: ['true'],
      HostConfig: { Sysctls },
    });
    expect(createOptionsFromBody(body({ 'net.core.somaxconn': '77' }), undefined).sysctls).toEqual({
      'net.core.somaxconn': '77',
    });
    expect(createOptionsFromBody(body({}), undefined)).not.toHaveProperty('sysctls');
  });

  it('turns HostConfig.Mounts into engine mounts and tmpfs, Config.Volumes and VolumesFrom into volumes', () => {
    const o = createOptionsFromBody(
      {
        Rootfs: '/r',
        Volumes: { '/anon': {} },
        HostConfig: {
          VolumesFrom: ['other:ro'],
          Mounts: [
            { Type: 'bind', Source: '/a', Target: '/b', ReadOnly: true },
            {
              Type: 'volume',
              Source: 'v',
              Target: '/v',
              VolumeOptions: { NoCopy: true, Labels: { k: 'x' } },
            },
            { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1024, Mode: 0o1777 } },
          ],
        },
      },
      undefined,
    );
    expect(o.binds).toBeUndefined();
    expect(o.mounts).toEqual([
      { type: 'bind', source: '/a', target: '/b', readOnly: true },
      { type: 'volume', source: 'v', target: '/v', readOnly: false, noCopy: true, labels: { k: 'x' } },
    ]);
    expect(o.volumes).toEqual(['/anon']);
    expect(o.volumesFrom).toEqual(['other:ro']);
    expect(o.tmpfs).toEqual({ '/t': 'size=1024,mode=1777' });
    const refuse = (hc: Record<string, unknown>) => () =>
      createOptionsFromBody({ Rootfs: '/r', HostConfig: hc }, undefined);
    expect(refuse({ Mounts: [{ Type: 'npipe', Target: '/v' }] })).toThrow(
      /mount type "npipe" is not supported/,
    );
    expect(refuse({ VolumeDriver: 'nfs' })).toThrow(/HostConfig.VolumeDriver/);
    expect(refuse({ Mounts: [{ Type: 'bind', Source: '/a', Target: '/b', VolumeOptions: {} }] })).toThrow(
      /Mounts\[0\].VolumeOptions/,
    );
  });
});

describe('list entries and status', () => {
  const now = new Date('2026-11-22T10:00:31Z');
  it('shapes a ps entry as dockerd', () => {
    const e = listEntryJson(container(), now);
    expect(e).toMatchObject({
      Names: ['/web'],
      Image: '/rootfs',
      Command: "sh -c 'echo '\"'\"'hi'\"'\"''",
      Created: 1795341600,
      State: 'running',
      Status: 'Up 30 seconds',
      HostConfig: { NetworkMode: 'none' },
    });
  });

  it('words exited, paused and created containers as docker ps', () => {
    expect(
      humanStatus(
        container({}, { status: 'exited', running: false, exitCode: 3, finishedAt: '2026-11-22T09:57:31Z' }),
        now,
      ),
    ).toBe('Exited (3) 3 minutes ago');
    expect(humanStatus(container({}, { status: 'paused', paused: true }), now)).toBe(
      'Up 30 seconds (Paused)',
    );
    expect(humanStatus(container({}, { status: 'created', running: false }), now)).toBe('Created');
  });
});

const noLookups: FilterContext = { container: () => undefined, imageId: () => undefined };
const matchesFilters = (c: Container, f: ReturnType<typeof parseFilters>, ctx = noLookups) =>
  containerFilter(f, ctx)(c);

describe('list filters', () => {
  it('parses both filter encodings and matches name, id, status and label', () => {
    const c = container();
    expect(matchesFilters(c, parseFilters('{"name":{"we":true},"status":{"running":true}}'))).toBe(true);
    expect(matchesFilters(c, parseFilters('{"name":["^/web$"]}'))).toBe(true);
    expect(matchesFilters(c, parseFilters('{"id":{"f00d":true}}'))).toBe(true);
    expect(matchesFilters(c, parseFilters('{"label":{"app=demo":true,"tier":true}}'))).toBe(true);
    expect(matchesFilters(c, parseFilters('{"label":{"app=other":true}}'))).toBe(false);
    expect(matchesFilters(c, parseFilters('{"status":{"exited":true}}'))).toBe(false);
  });

  it('before/since by another container, exited=N, ancestor by name or id, is-task', () => {
    const older = container({ id: 'a'.repeat(64), name: 'old', created: '2026-11-22T09:00:00Z' });
    const newer = container({ id: 'b'.repeat(64), name: 'new', created: '2026-11-22T11:00:00Z' });
    const ctx: FilterContext = {
      container: (ref) => [older, newer].find((c) => c.name === ref || c.id.startsWith(ref)),
      imageId: (ref) => (ref === 'busybox' ? 'sha256:bb' : undefined),
    };
    const c = container({ image: 'busybox', imageId: 'sha256:bb' });
    expect(matchesFilters(c, parseFilters('{"before":{"new":true}}'), ctx)).toBe(true);
    expect(matchesFilters(c, parseFilters('{"before":{"old":true}}'), ctx)).toBe(false);
    expect(matchesFilters(c, parseFilters('{"since":{"aaaa":true}}'), ctx)).toBe(true);
    expect(matchesFilters(c, parseFilters('{"since":{"new":true}}'), ctx)).toBe(false);
    expect(() => matchesFilters(c, parseFilters('{"since":{"ghost":true}}'), ctx)).toThrow(
      'No such container: ghost',
    );
    expect(matchesFilters(c, parseFilters('{"ancestor":{"busybox":true}}'), ctx)).toBe(true);
    expect(matchesFilters(c, parseFilters('{"ancestor":{"alpine":true}}'), ctx)).toBe(false);
    const exited = container({}, { status: 'exited', exitCode: 3 });
    expect(matchesFilters(exited, parseFilters('{"exited":{"3":true}}'))).toBe(true);
    expect(matchesFilters(exited, parseFilters('{"exited":{"0":true}}'))).toBe(false);
    expect(matchesFilters(c, parseFilters('{"exited":{"3":true}}'))).toBe(false);
    expect(() => parseFilters('{"exited":{"x":true}}')).toThrow("invalid filter 'exited=x'");
    expect(matchesFilters(c, parseFilters('{"is-task":{"false":true}}'))).toBe(true);
    expect(matchesFilters(c, parseFilters('{"is-task":{"true":true}}'))).toBe(false);
    expect(() => parseFilters('{"is-task":{"maybe":true}}')).toThrow("invalid filter 'is-task=maybe'");
  });

  it('rejects unknown keys and statuses by name', () => {
    expect(() => parseFilters('{"color":{"red":true}}')).toThrow("invalid filter 'color'");
    expect(() => parseFilters('{"status":{"sleepy":true}}')).toThrow("invalid filter 'status=sleepy'");
    expect(() => parseFilters('{')).toThrow(/not JSON/);
  });
});

describe('router', () => {
  it('strips the version prefix and matches parameters, including multi-segment ones', () => {
    const r = new Router();
    const h = () => {};
    r.get('/containers/:id/json', h).get('/images/*name/json', h);
    expect(Router.splitVersion('/v1.41/containers/x/json')).toEqual({
      version: '1.41',
      path: '/containers/x/json',
    });
    expect(Router.splitVersion('/_ping')).toEqual({ version: undefined, path: '/_ping' });
    expect(r.match('GET', '/containers/abc/json')?.params).toEqual({ id: 'abc' });
    expect(r.match('GET', '/images/localhost:5000/a/b:1/json')?.params).toEqual({
      name: 'localhost:5000/a/b:1',
    });
    expect(r.match('POST', '/containers/abc/json')).toBeUndefined();
  });
});

describe('top', () => {
  it('keeps the container pids and the spaces of the command column', async () => {
    const { parsePs } = await import('../../daemon/api/containers/top.js');
    const out = 'UID   PID  PPID CMD\nroot    1     0 /sbin/init splash\nroot   42     1 sh -c echo  hi\n';
    expect(parsePs(out, new Set([42]))).toEqual({
      Titles: ['UID', 'PID', 'PPID', 'CMD'],
      Processes: [['root', '42', '1', 'sh -c echo hi']],
    });
    expect(() => parsePs('USER COMMAND\nroot x\n', new Set([1]))).toThrow(/Couldn't find PID field/);
  });
});

describe('restart policy and health in the Engine JSON', () => {
  const now = new Date('2026-11-22T10:00:04Z');
  const health = (status: 'starting' | 'healthy' | 'unhealthy') => ({ status, failingStreak: 0, log: [] });

  it('ps status carries the health, as docker: "(health: starting)", "(healthy)", "(unhealthy)"', () => {
    expect(humanStatus(container({}, { health: health('starting') }), now)).toBe(
      'Up 3 seconds (health: starting)',
    );
    expect(humanStatus(container({}, { health: health('healthy') }), now)).toBe('Up 3 seconds (healthy)');
    expect(humanStatus(container({}, { health: health('unhealthy') }), now)).toBe('Up 3 seconds (unhealthy)');
    expect(
      humanStatus(
        container(
          {},
          { status: 'restarting', restarting: true, exitCode: 3, finishedAt: '2026-11-22T10:00:02Z' },
        ),
        now,
      ),
    ).toBe('Restarting (3) 2 seconds ago');
  });

  it('ps --filter health=… (none: no health check); bad values refused', () => {
    const f = parseFilters('{"health":{"healthy":true}}');
    expect(matchesFilters(container({}, { health: health('healthy') }), f)).toBe(true);
    expect(matchesFilters(container({}, { health: health('starting') }), f)).toBe(false);
    expect(matchesFilters(container(), parseFilters('{"health":["none"]}'))).toBe(true);
    expect(() => parseFilters('{"health":{"sick":true}}')).toThrow(/health: sick/);
  });

  it('RestartPolicy and Healthcheck from the create body', () => {
    const o = createOptionsFromBody(
      {
        Rootfs: '/r',
        Cmd: ['x'],
        Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 2e8, Timeout: 0, Retries: 2 },
        HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
      },
      undefined,
    );
    expect(o.restartPolicy).toEqual({ name: 'on-failure', maximumRetryCount: 2 });
    expect(o.healthcheck).toEqual({ test: ['CMD-SHELL', 'true'], interval: 2e8, timeout: 0, retries: 2 });
  });
});
