import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TRACES } from '../../test/traces.js';
import { parseFlags } from '../flags.js';
import { applyServiceUpdate, buildServiceSpec, CREATE_FLAGS, UPDATE_FLAGS } from './service-spec.js';
import { parseGoDuration, parseMount, parsePorts } from './service-values.js';

const responseSpec = (e: { responseBody: unknown } | undefined) => {
  if (!e) throw new Error('exchange missing from the trace');
  return (e.responseBody as { Spec: Record<string, unknown> }).Spec;
};
const trace = (name: string) =>
  JSON.parse(readFileSync(`${TRACES}/${name}.json`, 'utf8')) as {
    method: string;
    path: string;
    rawQuery?: string;
    requestBody: unknown;
    responseBody: unknown;
  }[];
const noEnv = { env: {}, readFile: () => '' };
const create = (argv: string[]) => buildServiceSpec(parseFlags(argv, CREATE_FLAGS, false), noEnv);
const update = (spec: Record<string, unknown>, argv: string[]) =>
  applyServiceUpdate(spec, parseFlags(argv, UPDATE_FLAGS), noEnv);

describe('service create flags → ServiceSpec (recorded docker 28.2 request bodies)', () => {
  it('matches the body of service-create-detach', () => {
    const body = trace('service-create-detach').find((e) => e.path.endsWith('/services/create'))?.requestBody;
    const spec = create(
      '-d --name web --label x=y -e A=1 --mount type=volume,src=data,dst=/data --limit-cpu 0.5 --limit-memory 64M --restart-condition on-failure --constraint node.role==manager --replicas 3 --update-delay 2s -p 8080:80 bb:latest httpd -f -p 80'.split(
        ' ',
      ),
    );
    expect(spec).toEqual(body);
    // Docker's key order, so the bytes on the wire are the same too.
    expect(JSON.stringify(spec)).toBe(JSON.stringify(body));
  });

  it('matches the healthcheck, global mode and file references of service-create-secret-config-network', () => {
    const body = trace('service-create-secret-config-network').find((e) =>
      e.path.endsWith('/services/create'),
    )?.requestBody as Record<string, Record<string, Record<string, unknown>>>;
    const spec = create(
      '--name svc2 --mode global --health-cmd true --health-interval 5s --secret s1 --config source=c1,target=/etc/c1.conf --network appnet bb:latest sleep 1000'.split(
        ' ',
      ),
    ) as Record<string, Record<string, Record<string, unknown>>>;
    // The CLI resolves names to IDs before sending (tested in test/cli/swarm-replay.test.ts).
    (spec.TaskTemplate.Networks as unknown as { Target: string }[])[0].Target = 'wc92q2ir8t46ylsj2esgq8mbu';
    (spec.TaskTemplate.ContainerSpec.Secrets as { SecretID: string }[])[0].SecretID =
      'ggw2axqak2ilqig9eesapmndr';
    (spec.TaskTemplate.ContainerSpec.Configs as { ConfigID: string }[])[0].ConfigID =
      'mvv3jdski6wurtm6dgwsdizly';
    expect(JSON.stringify(spec)).toBe(JSON.stringify(body));
  });

  it('defaults: Replicated {} without --replicas, vip endpoint, empty resources', () => {
    expect(create(['bb'])).toEqual({
      Name: '',
      Labels: {},
      TaskTemplate: {
        ContainerSpec: { Image: 'bb', Init: false, DNSConfig: {} },
        Resources: { Limits: {}, Reservations: {} },
        Placement: {},
        ForceUpdate: 0,
      },
      Mode: { Replicated: {} },
      EndpointSpec: { Mode: 'vip' },
    });
  });

  it('translates the rest of the flags', () => {
    const spec = create([
      '--rollback-parallelism=2',
      '--rollback-order',
      'start-first',
      '--restart-window',
      '1m30s',
      '--stop-grace-period',
      '3s',
      '--reserve-memory',
      '1g',
      '--reserve-cpu',
      '.25',
      '--placement-pref',
      'spread=node.labels.dc',
      '--max-replicas',
      '2',
      '--cap-add',
      'net_admin',
      '--sysctl',
      'net.core.somaxconn=1024',
      '--ulimit',
      'nofile=10:20',
      '--entrypoint',
      'sh -c',
      '-p',
      'published=53,target=53,protocol=udp,mode=host',
      '--endpoint-mode',
      'dnsrr',
      '--mount',
      'type=tmpfs,dst=/t,tmpfs-size=1m',
      '--read-only',
      '-u',
      'nobody',
      '-w',
      '/srv',
      'bb',
    ]) as Record<string, Record<string, unknown>>;
    const task = spec.TaskTemplate as Record<string, Record<string, unknown>>;
    expect(spec.RollbackConfig).toEqual({
      Parallelism: 2,
      FailureAction: 'pause',
      Monitor: 5e9,
      MaxFailureRatio: 0,
      Order: 'start-first',
    });
    expect(task.RestartPolicy).toEqual({ Condition: 'any', Delay: 5e9, MaxAttempts: 0, Window: 90e9 });
    expect(task.Resources).toEqual({
      Limits: {},
      Reservations: { NanoCPUs: 250000000, MemoryBytes: 1073741824 },
    });
    expect(task.Placement).toEqual({
      Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.dc' } }],
      MaxReplicas: 2,
    });
    expect(task.ContainerSpec).toMatchObject({
      Command: ['sh', '-c'],
      StopGracePeriod: 3e9,
      CapabilityAdd: ['CAP_NET_ADMIN'],
      Sysctls: { 'net.core.somaxconn': '1024' },
      Ulimits: [{ Name: 'nofile', Hard: 20, Soft: 10 }],
      Mounts: [{ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576 } }],
      ReadOnly: true,
      User: 'nobody',
      Dir: '/srv',
    });
    expect(spec.EndpointSpec).toEqual({
      Mode: 'dnsrr',
      Ports: [{ Protocol: 'udp', TargetPort: 53, PublishedPort: 53, PublishMode: 'host' }],
    });
  });

  it('carries shoal’s --privileged and --device in ContainerSpec', () => {
    const spec = create([
      '--privileged',
      '--device',
      '/dev/fuse',
      '--device',
      '/dev/null:/dev/x:r',
      'bb',
    ]) as Record<string, Record<string, Record<string, unknown>>>;
    expect(spec.TaskTemplate.ContainerSpec.Privileged).toBe(true);
    expect(spec.TaskTemplate.ContainerSpec.Devices).toEqual([
      { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' },
      { PathOnHost: '/dev/null', PathInContainer: '/dev/x', CgroupPermissions: 'r' },
    ]);
    expect(() => create(['--device', 'fuse', 'bb'])).toThrow(/"--device" flag/);
  });

  it('rejects bad values naming the flag', () => {
    expect(() => create(['--replicas', 'x', 'bb'])).toThrow(
      'invalid argument "x" for "--replicas" flag: strconv.ParseUint: parsing "x": invalid syntax',
    );
    expect(() => create(['--update-delay', '2', 'bb'])).toThrow(
      'invalid argument "2" for "--update-delay" flag: time: invalid duration "2"',
    );
    expect(() => create(['--restart-condition', 'sometimes', 'bb'])).toThrow(/"--restart-condition" flag/);
    expect(() => create(['--limit-memory', 'lots', 'bb'])).toThrow(/"--limit-memory" flag/);
    expect(() => create(['--mode', 'global', '--replicas', '2', 'bb'])).toThrow(/replicas can only be used/);
    expect(() => create(['--mount', 'type=bind,dst=/x', 'bb'])).toThrow(/source is required/);
    expect(() => create(['--mount', 'src=a', 'bb'])).toThrow(/target is required/);
    expect(() => create(['--placement-pref', 'pack=x', 'bb'])).toThrow(/only spread is supported/);
    expect(() => create(['-p', '80:x', 'bb'])).toThrow(/"-p, --publish" flag/);
    expect(() => create(['--no-healthcheck', '--health-cmd', 'x', 'bb'])).toThrow(/conflicts/);
    expect(() => create([])).toThrow(/requires at least 1 argument/);
    expect(() => parseFlags(['--bogus', 'bb'], CREATE_FLAGS)).toThrow('unknown flag: --bogus');
  });
});

describe('value parsers', () => {
  it('reads Go durations', () => {
    expect(parseGoDuration('1h2m3.5s')).toBe(3723.5e9);
    expect(parseGoDuration('500ms')).toBe(5e8);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('5')).toBeUndefined();
    expect(parseGoDuration('s')).toBeUndefined();
  });
  it('reads mounts and port ranges', () => {
    expect(parseMount('type=bind,source=/a,target=/b,readonly,bind-propagation=rslave')).toEqual({
      Type: 'bind',
      Source: '/a',
      Target: '/b',
      ReadOnly: true,
      BindOptions: { Propagation: 'rslave' },
    });
    expect(parsePorts('8000-8001:80-81/udp').map((p) => [p.PublishedPort, p.TargetPort, p.Protocol])).toEqual(
      [
        [8000, 80, 'udp'],
        [8001, 81, 'udp'],
      ],
    );
    expect(parsePorts('80')).toEqual([{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress' }]);
  });
});

describe('service update flags applied to the current spec (recorded bodies)', () => {
  it('--env-add B=2 gives the body of service-update', () => {
    const t = trace('service-update');
    const current = responseSpec(t.find((e) => e.method === 'GET' && e.path.endsWith('/services/web')));
    const post = t.find((e) => e.method === 'POST');
    expect(JSON.stringify(update(current, ['--no-resolve-image', '--env-add', 'B=2']))).toBe(
      JSON.stringify(post?.requestBody),
    );
  });

  it('--replicas 5 gives the body of service-scale', () => {
    const t = trace('service-scale');
    const current = responseSpec(t.find((e) => e.method === 'GET'));
    expect(JSON.stringify(update(current, ['--replicas', '5']))).toBe(
      JSON.stringify(t.find((e) => e.method === 'POST')?.requestBody),
    );
  });

  it('adds and removes labels, constraints, ports, mounts; --force bumps ForceUpdate', () => {
    const base = create([
      '--label',
      'a=1',
      '--constraint',
      'x==1',
      '-p',
      '80:80',
      '--mount',
      'src=v,dst=/v',
      'bb',
    ]);
    const next = update(base, [
      '--label-add',
      'b=2',
      '--label-rm',
      'a',
      '--constraint-rm',
      'x==1',
      '--constraint-add',
      'y==2',
      '--publish-rm',
      '80',
      '--publish-add',
      '81:81',
      '--mount-rm',
      '/v',
      '--image',
      'bb:2',
      '--force',
    ]) as Record<string, Record<string, Record<string, unknown>>>;
    expect(next.Labels).toEqual({ b: '2' });
    expect(next.TaskTemplate.Placement).toEqual({ Constraints: ['y==2'] });
    expect(next.TaskTemplate.ContainerSpec.Mounts).toBeUndefined();
    expect(next.TaskTemplate.ContainerSpec.Image).toBe('bb:2');
    expect(next.TaskTemplate.ForceUpdate).toBe(1);
    expect(next.EndpointSpec.Ports).toEqual([
      { Protocol: 'tcp', TargetPort: 81, PublishedPort: 81, PublishMode: 'ingress' },
    ]);
    expect(() => update(create(['--mode', 'global', 'bb']), ['--replicas', '2'])).toThrow(
      /replicas can only/,
    );
  });
});
