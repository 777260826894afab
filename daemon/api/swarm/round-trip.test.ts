// A spec the docker CLI reads back (`service inspect`) and sends again whole (`service scale`, `update
// --replicas`, a label change) must be the spec the tasks were made from: otherwise the orchestrator takes
// every task for dirty and replaces them all, one by one, at each scale (seen on the cluster before
// sameSpec took empty messages for absent ones).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withDefaults } from '../../../manager/controlapi/index.js';
import { sameEndpointSpec, sameSpec } from '../../../manager/orchestrator/task.js';
import { TRACES } from '../../../test/traces.js';
import { serviceSpecFromJson, serviceSpecJson } from './translate.js';

// biome-ignore lint/suspicious/noExplicitAny: recorded JSON
type J = any;
const createBodies = (name: string): J[] =>
  (JSON.parse(readFileSync(`${TRACES}/${name}.json`, 'utf8')) as J[])
    .filter((x) => x.method === 'POST' && /\/services\/create$/.test(x.path))
    .map((x) => x.requestBody);

/** Most of what `service create` can carry, as the docker CLI spells it. */
const RICH: J = {
  Name: 'rich',
  Labels: { a: 'b' },
  TaskTemplate: {
    ContainerSpec: {
      Image: 'busybox:latest',
      Labels: { c: 'd' },
      Command: ['sleep'],
      Args: ['1000'],
      Hostname: 'h',
      Env: ['A=1'],
      Dir: '/tmp',
      User: '1000',
      Mounts: [
        { Type: 'volume', Source: 'data', Target: '/data', VolumeOptions: { Labels: { x: 'y' } } },
        { Type: 'bind', Source: '/tmp', Target: '/host', ReadOnly: true },
        { Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 1048576 } },
      ],
      StopSignal: 'SIGINT',
      StopGracePeriod: 2000000000,
      Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 1000000000, Timeout: 1000000000, Retries: 3 },
      ReadOnly: true,
      Init: true,
      CapabilityAdd: ['CAP_NET_ADMIN'],
      Sysctls: { 'net.ipv4.ip_forward': '1' },
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
    },
    Resources: {
      Limits: { NanoCPUs: 500000000, MemoryBytes: 67108864, Pids: 100 },
      Reservations: { NanoCPUs: 100000000, MemoryBytes: 16777216 },
    },
    RestartPolicy: { Condition: 'on-failure', Delay: 1000000000, MaxAttempts: 3, Window: 10000000000 },
    Placement: {
      Constraints: ['node.role==worker'],
      Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
      MaxReplicas: 2,
    },
    ForceUpdate: 0,
  },
  Mode: { Replicated: { Replicas: 3 } },
  UpdateConfig: { Parallelism: 2, Delay: 1000000000, FailureAction: 'rollback', Order: 'start-first' },
  EndpointSpec: {
    Mode: 'vip',
    Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }],
  },
};

const MINIMAL: J = { Name: 'min', TaskTemplate: { ContainerSpec: { Image: 'busybox:latest' } } };

describe('a service spec sent back as it was read', () => {
  const bodies: [string, J][] = [
    ['minimal', MINIMAL],
    ['rich', RICH],
    ...['service-create-detach', 'service-create-secret-config-network', 'stack-deploy'].flatMap((n) =>
      createBodies(n).map((b, i): [string, J] => [`${n}#${i}`, b]),
    ),
  ];

  it.each(bodies)('%s: the same task spec and endpoint spec', (_name, body) => {
    const stored = withDefaults(serviceSpecFromJson(body));
    // What `service inspect` shows and `service scale` posts back (JSON in between, as on the wire).
    const again = withDefaults(serviceSpecFromJson(JSON.parse(JSON.stringify(serviceSpecJson(stored)))));
    expect(sameSpec(stored.taskTemplate, again.taskTemplate)).toBe(true);
    expect(sameEndpointSpec(stored.endpointSpec, again.endpointSpec)).toBe(true);
  });

  it('still tells a changed spec apart', () => {
    const stored = withDefaults(serviceSpecFromJson(RICH));
    const json = JSON.parse(JSON.stringify(serviceSpecJson(stored)));
    json.TaskTemplate.ContainerSpec.Env = ['A=2'];
    json.EndpointSpec.Ports[0].PublishedPort = 8081;
    const again = withDefaults(serviceSpecFromJson(json));
    expect(sameSpec(stored.taskTemplate, again.taskTemplate)).toBe(false);
    expect(sameEndpointSpec(stored.endpointSpec, again.endpointSpec)).toBe(false);
  });
});
