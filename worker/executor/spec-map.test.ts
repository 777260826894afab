// The ContainerSpec → engine create options mapping: swarm's command/args rule, names, labels,
// mounts, resources, and a refusal naming the field for everything the worker cannot honour.
import { describe, expect, it } from 'vitest';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { MountType, PortProtocol, PublishMode } from '../../proto/gen/shoal/swarm/v1/types.js';
import { checkTask, gracePeriodMs, LABEL, Refusal, taskName, toCreateOptions } from './spec-map.js';
import type { ResolvedImage } from './types.js';

const IMAGE: ResolvedImage = { id: 'sha256:1', reference: 'busybox:latest', layers: ['/l'], config: {} };

function task(container: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Task {
  return Task.fromPartial({
    id: 'abc',
    serviceId: 'svc',
    slot: 3,
    nodeId: 'node',
    serviceAnnotations: { name: 'web' },
    spec: { containerSpec: { image: 'busybox', ...container } },
    ...extra,
  });
}

const map = (container: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  toCreateOptions(task(container, extra), IMAGE);

function refusal(container: Record<string, unknown>, extra: Record<string, unknown> = {}): Refusal {
  try {
    checkTask(task(container, extra));
  } catch (e) {
    if (e instanceof Refusal) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('toCreateOptions', () => {
  it('passes --init on (the engine puts its init at PID 1)', () => {
    expect(map({ init: true }).init).toBe(true);
    expect(map({ init: false }).init).toBeUndefined();
    expect(map().init).toBeUndefined();
  });

  it('command replaces the entrypoint (args become its cmd); args alone replace the cmd', () => {
    expect(map({ command: ['sh', '-c'], args: ['echo hi'] })).toMatchObject({
      entrypoint: ['sh', '-c'],
      cmd: ['echo hi'],
    });
    // No args with a command: an empty cmd, so the image's Cmd is dropped (docker's rule).
    expect(map({ command: ['top'] })).toMatchObject({ entrypoint: ['top'], cmd: [] });
    const argsOnly = map({ args: ['-x'] });
    expect(argsOnly.cmd).toEqual(['-x']);
    expect(argsOnly.entrypoint).toBeUndefined();
    const neither = map();
    expect(neither.cmd).toBeUndefined();
    expect(neither.entrypoint).toBeUndefined();
  });

  it('names the container <service>.<slot>.<id> (node id for global tasks) and adds swarm labels over user ones', () => {
    const o = map({ labels: { a: 'b', [LABEL.taskId]: 'forged' } });
    expect(o.name).toBe('web.3.abc');
    expect(o.labels).toEqual({
      a: 'b',
      [LABEL.nodeId]: 'node',
      [LABEL.serviceId]: 'svc',
      [LABEL.serviceName]: 'web',
      [LABEL.task]: '',
      [LABEL.taskId]: 'abc',
      [LABEL.taskName]: 'web.3.abc',
    });
    expect(taskName(task({}, { slot: 0 }))).toBe('web.node.abc');
    expect(taskName(task({}, { annotations: { name: 'given' } }))).toBe('given');
    expect(o).toMatchObject({
      image: 'busybox:latest',
      imageId: 'sha256:1',
      rootfs: { layers: ['/l'], imageConfig: {} },
    });
  });

  it('maps the process, security and limit fields', () => {
    const full = toCreateOptions(
      Task.fromPartial({
        ...task(),
        spec: {
          containerSpec: {
            image: 'busybox',
            hostname: 'h',
            env: ['A=1'],
            dir: '/w',
            user: 'nobody',
            groups: ['wheel'],
            tty: true,
            openStdin: true,
            readOnly: true,
            stopSignal: 'SIGINT',
            stopGracePeriod: { seconds: 1, nanos: 500_000_000 },
            capabilityAdd: ['NET_ADMIN'],
            capabilityDrop: ['MKNOD'],
            ulimits: [{ name: 'nofile', soft: 100, hard: 200 }],
            sysctls: { 'net.ipv4.ip_forward': '1' },
            privileged: true,
            devices: [
              { pathOnHost: '/dev/fuse', pathInContainer: '', cgroupPermissions: '' },
              { pathOnHost: '/dev/null', pathInContainer: '/dev/xnull', cgroupPermissions: 'rw' },
            ],
          },
          resources: {
            limits: { nanoCpus: 1_500_000_000, memoryBytes: 64 << 20, pids: 50 },
            reservations: { nanoCpus: 500_000_000, memoryBytes: 32 << 20, pids: 0 },
          },
        },
      }),
      IMAGE,
    );
    expect(full).toMatchObject({
      hostname: 'h',
      env: ['A=1'],
      workingDir: '/w',
      user: 'nobody',
      groupAdd: ['wheel'],
      tty: true,
      openStdin: true,
      readOnly: true,
      stopSignal: 'SIGINT',
      stopTimeout: 2,
      capAdd: ['NET_ADMIN'],
      capDrop: ['MKNOD'],
      ulimits: [{ name: 'nofile', soft: 100, hard: 200 }],
      sysctls: { 'net.ipv4.ip_forward': '1' },
      privileged: true,
      devices: [
        { pathOnHost: '/dev/fuse' },
        { pathOnHost: '/dev/null', pathInContainer: '/dev/xnull', cgroupPermissions: 'rw' },
      ],
      nanoCpus: 1_500_000_000,
      memory: 64 << 20,
      pidsLimit: 50,
      memoryReservation: 32 << 20,
    });
    expect(full.init).toBeUndefined();
  });

  it('maps bind, tmpfs and (local) volume mounts', () => {
    const o = map({
      mounts: [
        { type: MountType.MOUNT_TYPE_BIND, source: '/srv', target: '/data', readOnly: true },
        {
          type: MountType.MOUNT_TYPE_BIND,
          source: '/a',
          target: '/b',
          bindOptions: { propagation: 'rslave', nonRecursive: false, createMountpoint: false },
          consistency: 'cached',
        },
        {
          type: MountType.MOUNT_TYPE_TMPFS,
          target: '/tmp',
          tmpfsOptions: { sizeBytes: 1 << 20, mode: 0o1777 },
        },
        { type: MountType.MOUNT_TYPE_TMPFS, target: '/ro', readOnly: true },
        {
          type: MountType.MOUNT_TYPE_VOLUME,
          source: 'cache',
          target: '/cache',
          volumeOptions: { noCopy: true, labels: { k: 'v' }, subpath: '', driverConfig: undefined },
        },
        { type: MountType.MOUNT_TYPE_VOLUME, target: '/anon' },
      ],
    });
    expect(o.binds).toBeUndefined();
    expect(o.mounts).toEqual([
      { type: 'bind', source: '/srv', target: '/data', readOnly: true },
      { type: 'bind', source: '/a', target: '/b', readOnly: false, propagation: 'rslave' },
      {
        type: 'volume',
        source: 'cache',
        target: '/cache',
        readOnly: false,
        noCopy: true,
        labels: { k: 'v' },
      },
      { type: 'volume', target: '/anon', readOnly: false },
    ]);
    expect(o.tmpfs).toEqual({ '/tmp': 'size=1048576,mode=1777', '/ro': 'ro' });
  });

  it("uses swarm's 10 s default grace period", () => {
    expect(gracePeriodMs(task())).toBe(10_000);
    expect(map().stopTimeout).toBe(10);
    expect(gracePeriodMs(task({ stopGracePeriod: { seconds: 0, nanos: 0 } }))).toBe(0);
  });
});

describe('refusals name the field', () => {
  const bind = (over: Record<string, unknown>) => ({
    mounts: [{ type: MountType.MOUNT_TYPE_BIND, source: '/s', target: '/t', ...over }],
  });
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string][] = [
    ['no image', { image: '' }, {}, 'spec.containerSpec.image'],
    ['hosts', { hosts: ['1.2.3.4 x'] }, {}, 'spec.containerSpec.hosts'],
    [
      'dns',
      { dnsConfig: { nameservers: ['1.1.1.1'], search: [], options: [] } },
      {},
      'spec.containerSpec.dns_config',
    ],
    [
      'secret without a file',
      { secrets: [{ secretId: 's', secretName: 'n' }] },
      {},
      'spec.containerSpec.secrets[0].file.name',
    ],
    [
      'config uid not numeric',
      {
        configs: [
          { configId: 'c', configName: 'n', file: { name: 'x', uid: 'root', gid: '0', mode: 0o444 } },
        ],
      },
      {},
      'spec.containerSpec.configs[0].file.uid',
    ],
    ['ulimit name', { ulimits: [{ name: '', soft: 1, hard: 1 }] }, {}, 'spec.containerSpec.ulimits[0].name'],
    [
      'negative grace',
      { stopGracePeriod: { seconds: -1, nanos: 0 } },
      {},
      'spec.containerSpec.stop_grace_period',
    ],
    [
      'volume driver',
      {
        mounts: [
          {
            type: MountType.MOUNT_TYPE_VOLUME,
            source: 'v',
            target: '/v',
            volumeOptions: {
              noCopy: false,
              labels: {},
              subpath: '',
              driverConfig: { name: 'nfs', options: {} },
            },
          },
        ],
      },
      {},
      'spec.containerSpec.mounts[0].volume_options.driver_config.name',
    ],
    [
      'volume subpath',
      {
        mounts: [
          {
            type: MountType.MOUNT_TYPE_VOLUME,
            source: 'v',
            target: '/v',
            volumeOptions: { noCopy: false, labels: {}, subpath: 'x', driverConfig: undefined },
          },
        ],
      },
      {},
      'spec.containerSpec.mounts[0].volume_options.subpath',
    ],
    [
      'mount type',
      { mounts: [{ type: MountType.MOUNT_TYPE_UNSPECIFIED, target: '/v' }] },
      {},
      'spec.containerSpec.mounts[0].type',
    ],
    ['relative target', bind({ target: 'rel' }), {}, 'spec.containerSpec.mounts[0].target'],
    ['relative bind source', bind({ source: 'named' }), {}, 'spec.containerSpec.mounts[0].source'],
    ['consistency', bind({ consistency: 'odd' }), {}, 'spec.containerSpec.mounts[0].consistency'],
    [
      'non-recursive bind',
      bind({ bindOptions: { propagation: '', nonRecursive: true, createMountpoint: false } }),
      {},
      'spec.containerSpec.mounts[0].bind_options.non_recursive',
    ],
    [
      'create mountpoint',
      bind({ bindOptions: { propagation: '', nonRecursive: false, createMountpoint: true } }),
      {},
      'spec.containerSpec.mounts[0].bind_options.create_mountpoint',
    ],
    [
      'tmpfs options on a bind',
      bind({ tmpfsOptions: { sizeBytes: 1, mode: 0 } }),
      {},
      'spec.containerSpec.mounts[0].tmpfs_options',
    ],
    [
      'tmpfs source',
      { mounts: [{ type: MountType.MOUNT_TYPE_TMPFS, source: '/x', target: '/t' }] },
      {},
      'spec.containerSpec.mounts[0].source',
    ],
    [
      'tmpfs twice',
      {
        mounts: [
          { type: MountType.MOUNT_TYPE_TMPFS, target: '/t' },
          { type: MountType.MOUNT_TYPE_TMPFS, target: '/t' },
        ],
      },
      {},
      'spec.containerSpec.mounts[1].target',
    ],
    ['network without id', {}, { networks: [{ addresses: ['10.0.0.2/24'] }] }, 'networks[0].network.id'],
    [
      'network without address',
      {},
      { networks: [{ network: { id: 'n1' }, addresses: [] }] },
      'networks[0].addresses',
    ],
    [
      'sctp host port',
      {},
      {
        endpoint: {
          ports: [
            {
              targetPort: 80,
              publishedPort: 8080,
              protocol: PortProtocol.PORT_PROTOCOL_SCTP,
              publishMode: PublishMode.PUBLISH_MODE_HOST,
            },
          ],
        },
      },
      'endpoint.ports[0].protocol',
    ],
    ['log driver', {}, { logDriver: { name: 'syslog', options: {} } }, 'log_driver.name'],
    [
      'log options',
      {},
      { logDriver: { name: 'json-file', options: { 'max-size': '1m' } } },
      'log_driver.options',
    ],
  ];
  for (const [what, container, extra, field] of cases)
    it(what, () => {
      const r = refusal(container, extra);
      expect(r.field).toBe(field);
      expect(r.message.startsWith(`${field}: `)).toBe(true);
    });

  it("networks: own networks first (ingress last) with the allocator's addresses and aliases; host ports bound", () => {
    const o = map(
      {},
      {
        networks: [
          { network: { id: 'ing', spec: { ingress: true } }, addresses: ['10.0.0.5/24'], aliases: [] },
          { network: { id: 'app' }, addresses: ['10.0.1.7/24'], aliases: ['db'] },
        ],
        endpoint: {
          ports: [
            { targetPort: 80, publishedPort: 8080, publishMode: PublishMode.PUBLISH_MODE_HOST },
            {
              targetPort: 53,
              protocol: PortProtocol.PORT_PROTOCOL_UDP,
              publishMode: PublishMode.PUBLISH_MODE_HOST,
            },
            { targetPort: 81, publishedPort: 9090, publishMode: PublishMode.PUBLISH_MODE_INGRESS },
          ],
        },
      },
    );
    expect(o.networkMode).toBe('app');
    expect(Object.keys(o.endpoints ?? {})).toEqual(['app', 'ing']);
    expect(o.endpoints?.app).toEqual({ aliases: ['db'], ipv4Address: '10.0.1.7' });
    expect(o.portBindings).toEqual({
      '80/tcp': [{ HostIp: '', HostPort: '8080' }],
      '53/udp': [{ HostIp: '', HostPort: '' }],
    });
  });

  it('task-level: no container spec, spec networks, negative and reservation-only resources', () => {
    expect(() => checkTask(Task.fromPartial({ id: 'x' }))).toThrow(/^spec\.containerSpec: /);
    const withSpec = (spec: Record<string, unknown>) =>
      Task.fromPartial({ id: 'x', spec: { containerSpec: { image: 'b' }, ...spec } });
    expect(() => checkTask(withSpec({ networks: [{ target: 'net' }] }))).toThrow(/^networks: /);
    expect(() => checkTask(withSpec({ resources: { limits: { memoryBytes: -1 } } }))).toThrow(
      /^spec\.resources\.limits\.memory_bytes: must not be negative/,
    );
    expect(() => checkTask(withSpec({ resources: { reservations: { pids: 5 } } }))).toThrow(
      /^spec\.resources\.reservations\.pids: /,
    );
  });
});
