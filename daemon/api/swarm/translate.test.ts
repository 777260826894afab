// Translation against the recorded Docker traces: the CLI's request bodies → proto → the JSON dockerd
// answered, field for field (names, types, enum spellings, nanosecond durations, RFC 3339 times).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../../common/errors.js';
import { withDefaults } from '../../../manager/controlapi/index.js';
import { Cluster, Node, Task } from '../../../proto/gen/shoal/swarm/v1/objects.js';
import {
  NodeAvailability,
  NodeRole,
  NodeState,
  Reachability,
  TaskState,
} from '../../../proto/gen/shoal/swarm/v1/types.js';
import { TRACES } from '../../../test/traces.js';
import {
  clusterJson,
  clusterSpecFromJson,
  durationFromNs,
  nodeJson,
  nodeSpecFromJson,
  nodeSpecJson,
  serviceJson,
  serviceSpecFromJson,
  taskJson,
} from './translate.js';

// biome-ignore lint/suspicious/noExplicitAny: recorded JSON, read field by field
type J = any;
type Exchange = { method: string; path: string; rawQuery: string; requestBody: J; responseBody: J };
const trace = (name: string): Exchange[] => JSON.parse(readFileSync(`${TRACES}/${name}.json`, 'utf8'));
const find = (name: string, method: string, path: RegExp) => {
  const e = trace(name).find((x) => x.method === method && path.test(x.path));
  if (!e) throw new Error(`${name}: no ${method} ${path}`);
  return e;
};

const ms = (rfc3339: string) => Math.floor(Date.parse(rfc3339));
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const withoutTimes = (o: Record<string, unknown>) => ({ ...o, CreatedAt: undefined, UpdatedAt: undefined });

/** Every key path of `expected` is in `actual` with the same JSON type (arrays: by their first element). */
function expectShape(actual: unknown, expected: unknown, path = '$'): void {
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  expect(kind(actual), path).toBe(kind(expected));
  if (Array.isArray(expected) && expected.length > 0)
    expectShape((actual as unknown[])[0], expected[0], `${path}[0]`);
  else if (expected && typeof expected === 'object' && !Array.isArray(expected)) {
    for (const [k, v] of Object.entries(expected))
      expectShape((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  }
}

describe('services', () => {
  const create = find('service-create-detach', 'POST', /\/services\/create$/);
  const inspect = find('service-inspect', 'GET', /\/services\/web$/).responseBody;

  it("translates the CLI's create body and answers inspect exactly as dockerd (insertDefaults=true)", () => {
    const spec = withDefaults(serviceSpecFromJson(create.requestBody));
    const json = serviceJson({
      id: inspect.ID,
      meta: {
        version: inspect.Version.Index,
        createdAt: ms(inspect.CreatedAt),
        updatedAt: ms(inspect.UpdatedAt),
      },
      spec,
      previousSpec: undefined,
      // What the allocator will have written: the published ports and a VIP on the ingress network.
      endpoint: {
        spec: spec.endpointSpec,
        ports: spec.endpointSpec!.ports,
        virtualIps: [{ networkId: inspect.Endpoint.VirtualIPs[0].NetworkID, addr: '10.0.0.3/24' }],
      },
      updateStatus: undefined,
      pendingDelete: false,
    });
    expect(withoutTimes(json)).toEqual(withoutTimes(inspect));
    expect(json.CreatedAt).toMatch(RFC3339);
    expect(Date.parse(json.CreatedAt as string)).toBe(ms(inspect.CreatedAt));
  });

  it('reads the update and scale bodies the CLI sends back (the whole spec)', () => {
    const update = find('service-update', 'POST', /\/update$/);
    const spec = serviceSpecFromJson(update.requestBody);
    expect(spec.taskTemplate!.containerSpec!.env).toEqual(['A=1', 'B=2']);
    expect(spec.mode).toEqual({ $case: 'replicated', value: { replicas: 5 } });
    expect(spec.updateConfig!.delay).toEqual(durationFromNs(2e9));
    const scale = find('service-scale', 'POST', /\/update$/);
    expect(serviceSpecFromJson(scale.requestBody).mode).toEqual({
      $case: 'replicated',
      value: { replicas: 5 },
    });
  });

  it('reads stack and secret/config/network bodies', () => {
    for (const name of ['service-create-secret-config-network', 'stack-deploy']) {
      for (const e of trace(name).filter(
        (x) => x.method === 'POST' && /\/services\/(create|.*\/update)$/.test(x.path),
      )) {
        const spec = serviceSpecFromJson(e.requestBody);
        expect(spec.taskTemplate!.containerSpec!.image).toBe(e.requestBody.TaskTemplate.ContainerSpec.Image);
        expect(spec.taskTemplate!.networks.map((n) => n.target)).toEqual(
          (e.requestBody.TaskTemplate.Networks ?? []).map((n: { Target: string }) => n.Target),
        );
      }
    }
  });

  it.each([
    [{ TaskTemplate: { ContainerSpec: { Image: 'bb', Env: 'A=1' } } }, 'TaskTemplate.ContainerSpec.Env'],
    [{ TaskTemplate: { ContainerSpec: { Image: 5 } } }, 'TaskTemplate.ContainerSpec.Image'],
    [
      { TaskTemplate: { ContainerSpec: { Image: 'bb' }, RestartPolicy: { Condition: 'sometimes' } } },
      'TaskTemplate.RestartPolicy.Condition',
    ],
    [
      { TaskTemplate: { ContainerSpec: { Image: 'bb' } }, Mode: { Replicated: { Replicas: 'three' } } },
      'Mode.Replicated.Replicas',
    ],
    [{ TaskTemplate: { ContainerSpec: { Image: 'bb' } }, Mode: { ReplicatedJob: {} } }, 'Mode'],
    [
      { TaskTemplate: { ContainerSpec: { Image: 'bb' } }, EndpointSpec: { Ports: [{ TargetPort: -1 }] } },
      'EndpointSpec.Ports[0].TargetPort',
    ],
    [{ Name: 'web' }, 'TaskTemplate'],
    [[], 'body'],
  ])('refuses a body of the wrong shape, naming the field (%j)', (body, field) => {
    try {
      serviceSpecFromJson(body);
      expect.unreachable();
    } catch (err) {
      expect(isShoalError(err, 'invalid_argument')).toBe(true);
      expect((err as { field: string }).field).toBe(field);
    }
  });
});

describe('tasks', () => {
  it("answers a task in dockerd's shape (lowercase states, RFC 3339 times)", () => {
    const want = find('service-ps', 'GET', /\/tasks$/).responseBody[0];
    const spec = withDefaults(
      serviceSpecFromJson(find('service-create-detach', 'POST', /create$/).requestBody),
    );
    const t = Task.fromPartial({
      id: want.ID,
      meta: { version: want.Version.Index, createdAt: ms(want.CreatedAt), updatedAt: ms(want.UpdatedAt) },
      serviceId: want.ServiceID,
      slot: want.Slot,
      nodeId: want.NodeID,
      spec: spec.taskTemplate,
      status: {
        state: TaskState.TASK_STATE_RUNNING,
        timestamp: ms(want.Status.Timestamp),
        message: 'started',
        containerStatus: { containerId: want.Status.ContainerStatus.ContainerID, pid: 12831, exitCode: 0 },
      },
      desiredState: TaskState.TASK_STATE_RUNNING,
      networks: [{ network: { id: want.NetworksAttachments[0].Network.ID }, addresses: ['10.0.0.6/24'] }],
    });
    const got = taskJson(t);
    expectShape(got, { ...want, NetworksAttachments: [{ Network: { ID: '' }, Addresses: [''] }] });
    expect({ ...(got.Status as object), Timestamp: undefined }).toEqual({
      ...want.Status,
      Timestamp: undefined,
    });
    expect(Date.parse((got.Status as { Timestamp: string }).Timestamp)).toBe(ms(want.Status.Timestamp));
    expect(got.DesiredState).toBe('running');
    expect(got.Slot).toBe(3);
  });
});

describe('nodes', () => {
  const want = find('node-ls', 'GET', /\/nodes$/).responseBody[0];

  it('answers a node exactly as dockerd', () => {
    const d = want.Description;
    const n = Node.fromPartial({
      id: want.ID,
      meta: { version: want.Version.Index, createdAt: ms(want.CreatedAt), updatedAt: ms(want.UpdatedAt) },
      spec: {
        annotations: { name: '', labels: {} },
        desiredRole: NodeRole.NODE_ROLE_MANAGER,
        availability: NodeAvailability.NODE_AVAILABILITY_ACTIVE,
      },
      description: {
        hostname: d.Hostname,
        platform: { architecture: d.Platform.Architecture, os: d.Platform.OS },
        resources: { nanoCpus: d.Resources.NanoCPUs, memoryBytes: d.Resources.MemoryBytes },
        engine: {
          engineVersion: d.Engine.EngineVersion,
          plugins: d.Engine.Plugins.map((p: J) => ({ type: p.Type, name: p.Name })),
        },
        tlsInfo: {
          trustRoot: Buffer.from(d.TLSInfo.TrustRoot),
          certIssuerSubject: Buffer.from(d.TLSInfo.CertIssuerSubject, 'base64'),
          certIssuerPublicKey: Buffer.from(d.TLSInfo.CertIssuerPublicKey, 'base64'),
        },
      },
      status: { state: NodeState.NODE_STATE_READY, addr: want.Status.Addr },
      managerStatus: {
        leader: true,
        reachability: Reachability.REACHABILITY_REACHABLE,
        addr: want.ManagerStatus.Addr,
      },
      role: NodeRole.NODE_ROLE_MANAGER,
    });
    expect(withoutTimes(nodeJson(n))).toEqual(withoutTimes(want));
  });

  it('reads node update bodies and writes them back the same', () => {
    for (const name of [
      'node-update-drain',
      'node-update-label',
      'node-update-label-rm',
      'node-update-active',
    ]) {
      const body = find(name, 'POST', /\/update$/).requestBody;
      expect(nodeSpecJson(nodeSpecFromJson(body))).toEqual(body);
    }
    expect(() => nodeSpecFromJson({ Role: 'boss' })).toThrow(/Role: "boss" is not one of worker, manager/);
  });
});

describe('the swarm', () => {
  const want = find('swarm-join-token-worker', 'GET', /\/swarm$/).responseBody;
  const nodeTls = find('node-ls', 'GET', /\/nodes$/).responseBody[0].Description.TLSInfo;

  it('answers GET /swarm exactly as dockerd', () => {
    const spec = clusterSpecFromJson(want.Spec, {} as never);
    const c = Cluster.fromPartial({
      id: want.ID,
      meta: { version: want.Version.Index, createdAt: ms(want.CreatedAt), updatedAt: ms(want.UpdatedAt) },
      spec: { ...spec, annotations: { name: 'default', labels: {} } },
      rootCa: {
        caCert: Buffer.from(want.TLSInfo.TrustRoot),
        joinTokens: { worker: want.JoinTokens.Worker, manager: want.JoinTokens.Manager },
      },
    });
    const tls = {
      trustRoot: Buffer.from(nodeTls.TrustRoot),
      certIssuerSubject: Buffer.from(nodeTls.CertIssuerSubject, 'base64'),
      certIssuerPublicKey: Buffer.from(nodeTls.CertIssuerPublicKey, 'base64'),
    };
    expect(withoutTimes(clusterJson(c, true, tls))).toEqual(withoutTimes(want));
    const info = find('node-ls', 'GET', /\/info$/).responseBody.Swarm.Cluster;
    expect(withoutTimes(clusterJson(c, false, tls))).toEqual(withoutTimes(info));
  });

  it('reads the init body (zeros keep the defaults)', () => {
    const body = find('swarm-init-again', 'POST', /\/swarm\/init$/).requestBody;
    const current = clusterSpecFromJson(want.Spec, {} as never);
    const spec = clusterSpecFromJson(body.Spec, current);
    expect(spec.raft!.electionTick).toBe(10);
    expect(spec.dispatcher!.heartbeatPeriod).toEqual({ seconds: 5, nanos: 0 });
    expect(spec.orchestration!.taskHistoryRetentionLimit).toBe(5);
  });
});

describe('ContainerSpec.Devices', () => {
  const spec = (dev: unknown) =>
    serviceSpecFromJson({ Name: 'd', TaskTemplate: { ContainerSpec: { Image: 'busybox', Devices: [dev] } } });
  it('reads a mapping; paths and permissions are checked naming the field', () => {
    expect(
      spec({ PathOnHost: '/dev/null', PathInContainer: '/dev/x', CgroupPermissions: 'r' }).taskTemplate
        ?.containerSpec?.devices,
    ).toEqual([{ pathOnHost: '/dev/null', pathInContainer: '/dev/x', cgroupPermissions: 'r' }]);
    const field = (dev: unknown) => {
      try {
        spec(dev);
      } catch (e) {
        expect(isShoalError(e)).toBe(true);
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(field({ PathOnHost: 'null' })).toContain('TaskTemplate.ContainerSpec.Devices[0].PathOnHost');
    expect(field({ PathOnHost: '/dev/null', PathInContainer: 'x' })).toContain('Devices[0].PathInContainer');
    expect(field({ PathOnHost: '/dev/null', CgroupPermissions: 'rww' })).toContain(
      'Devices[0].CgroupPermissions',
    );
    expect(field({ PathOnHost: 3 })).toContain('Devices[0].PathOnHost');
  });
});
