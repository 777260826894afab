// The compose loader and converter on their own: docker's conversion of the recorded stack file, variables,
// anchors and merge keys, several files merged, and every kind of bad input reported with the key path and
// file:line:col (all problems of a file at once).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRACES } from '../../test/traces.js';
import { DEPENDS_ON_LABEL } from '../depends-on.js';
import { convertStack, loadStack, StackFileError } from './index.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests read into the Engine API's JSON freely
type Json = Record<string, any>;

const io = (files: Record<string, string> = {}, env: Record<string, string> = {}) => ({
  workingDir: '/srv/app',
  env,
  readFile: (p: string) => {
    if (!(p in files)) throw new Error('no such file');
    return files[p];
  },
});

const problems = (f: () => unknown): string[] => {
  try {
    f();
  } catch (err) {
    if (err instanceof StackFileError) return err.problems.map(String);
    throw err;
  }
  throw new Error('expected a StackFileError');
};

const load = (text: string, vars: Record<string, string> = {}) =>
  loadStack([{ name: 'stack.yml', text }], vars);

describe('compose → service specs', () => {
  it("converts the recorded stack file as docker 28's stack deploy did", () => {
    const text = readFileSync(join(TRACES, 'stack.yml'), 'utf8');
    const plan = convertStack(load(text), 'demo', io());
    const web = plan.services.find((s) => s.key === 'web')!.spec as Json;
    expect(web.Name).toBe('demo_web');
    expect(web.Labels).toEqual({
      'com.example.service': 'web',
      'com.docker.stack.namespace': 'demo',
      'com.docker.stack.image': 'bb:latest',
    });
    const c = web.TaskTemplate.ContainerSpec;
    expect(c.Args).toEqual(['httpd', '-f', '-p', '80', '-h', '/www']);
    expect(c.Env).toEqual(['APP_MODE=production', 'LOG_LEVEL=debug']);
    expect(c.Mounts).toEqual([
      {
        Type: 'volume',
        Source: 'demo_webdata',
        Target: '/www',
        VolumeOptions: { Labels: { 'com.docker.stack.namespace': 'demo' } },
      },
    ]);
    expect(c.Healthcheck).toEqual({
      Test: ['CMD', 'sh', '-c', 'test -d /www'],
      Interval: 10e9,
      Timeout: 3e9,
      Retries: 3,
      StartPeriod: 5e9,
    });
    expect(c.Secrets).toEqual([
      {
        File: { Name: 'db_password', UID: '0', GID: '0', Mode: 0o444 },
        SecretID: '',
        SecretName: 'demo_db_password',
      },
    ]);
    expect(c.Configs[0].File.Name).toBe('/etc/app.conf');
    expect(web.TaskTemplate.Resources).toEqual({
      Limits: { NanoCPUs: 250000000, MemoryBytes: 33554432 },
      Reservations: { MemoryBytes: 8388608 },
    });
    expect(web.TaskTemplate.RestartPolicy).toEqual({
      Condition: 'on-failure',
      Delay: 3e9,
      MaxAttempts: 3,
      Window: 30e9,
    });
    expect(web.TaskTemplate.Networks).toEqual([{ Target: 'demo_backend', Aliases: ['web'] }]);
    expect(web.UpdateConfig).toEqual({
      Parallelism: 1,
      Delay: 2e9,
      FailureAction: 'rollback',
      Order: 'start-first',
    });
    expect(web.EndpointSpec.Ports).toEqual([
      { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8081, PublishMode: 'ingress' },
      { Protocol: 'tcp', TargetPort: 81, PublishedPort: 8082, PublishMode: 'ingress' },
    ]);
    const worker = plan.services.find((s) => s.key === 'worker')!.spec as Json;
    expect(worker.TaskTemplate.ContainerSpec.Args).toEqual([
      'sh',
      '-c',
      'while true; do echo working; sleep 5; done',
    ]);
    expect(plan.networks.map((n) => [n.name, n.create.Driver, n.create.Attachable])).toEqual([
      ['demo_backend', 'overlay', true],
    ]);
    expect(plan.secrets).toEqual([
      {
        key: 'db_password',
        name: 'demo_db_password',
        external: false,
        file: '/srv/app/db_password.txt',
        labels: { 'com.docker.stack.namespace': 'demo' },
      },
    ]);
  });

  it('variables (env over .env defaults), anchors and merge keys, x- fields, depends_on, default network', () => {
    const text = `
x-common: &common
  image: busybox:\${TAG:-latest}
  environment:
    MODE: \${MODE}
services:
  web:
    <<: *common
    command: httpd -f -p \${PORT:?set PORT}
    depends_on:
      cache:
        condition: service_healthy
      db:
        condition: service_started
    deploy:
      replicas: \${REPLICAS}
  cache: *common
  db: { image: busybox }
`;
    const plan = convertStack(load(text, { MODE: 'prod', PORT: '8080', REPLICAS: '3' }), 'app', io());
    const web = plan.services[0].spec as Json;
    expect(web.TaskTemplate.ContainerSpec.Image).toBe('busybox:latest');
    expect(web.TaskTemplate.ContainerSpec.Env).toEqual(['MODE=prod']);
    expect(web.TaskTemplate.ContainerSpec.Args).toEqual(['httpd', '-f', '-p', '8080']);
    expect(web.Mode).toEqual({ Replicated: { Replicas: 3 } });
    expect(web.Labels[DEPENDS_ON_LABEL]).toBe('app_cache:healthy,app_db');
    expect(web.TaskTemplate.Networks).toEqual([{ Target: 'app_default', Aliases: ['web'] }]);
    expect(plan.networks.map((n) => n.name)).toEqual(['app_default']);
  });

  it('several files merge in order: services key by key, environment maps, ports and volumes by target', () => {
    const a = `services:
  web:
    image: busybox
    environment: [A=1, B=2]
    ports: ["8080:80"]
    command: ["a"]
    deploy: { replicas: 1, labels: { x: "1" } }
`;
    const b = `services:
  web:
    environment: { B: "3" }
    ports: [{ target: 80, published: 8080, protocol: udp }]
    command: ["b"]
    deploy: { replicas: 4 }
  extra: { image: busybox }
`;
    const loaded = loadStack(
      [
        { name: 'a.yml', text: a },
        { name: 'b.yml', text: b },
      ],
      {},
    );
    const plan = convertStack(loaded, 's', io());
    const web = plan.services.find((x) => x.key === 'web')!.spec as Json;
    expect(web.TaskTemplate.ContainerSpec.Env).toEqual(['A=1', 'B=3']);
    expect(web.TaskTemplate.ContainerSpec.Args).toEqual(['b']);
    expect(web.Mode).toEqual({ Replicated: { Replicas: 4 } });
    expect(web.Labels.x).toBe('1');
    expect(web.EndpointSpec.Ports).toEqual([
      { Protocol: 'udp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
    ]);
    expect(plan.services.map((s) => s.name)).toEqual(['s_web', 's_extra']);
  });
});

describe('bad input', () => {
  it('a wrong type names the key path and file:line:col', () => {
    const text = `services:
  web:
    image: busybox
    deploy:
      replicas: three
`;
    expect(problems(() => load(text))).toEqual([
      'services.web.deploy.replicas: expected an integer, got "three" (stack.yml:5:17)',
    ]);
  });

  it('every problem of a file at once: unknown keys, enums, durations, lists', () => {
    const text = `services:
  web:
    image: busybox
    imagee: typo
    deploy:
      mode: everywhere
      update_config: { delay: soon }
    ports: 80
`;
    expect(problems(() => load(text))).toEqual([
      'services.web: unknown key "imagee" (stack.yml:4:5)',
      'services.web.deploy.mode: expected one of replicated, global, got "everywhere" (stack.yml:6:13)',
      'services.web.deploy.update_config.delay: expected a duration (e.g. 10s, 1m30s, 500ms), got "soon" (stack.yml:7:31)',
      'services.web.ports: expected a list, got 80 (stack.yml:8:12)',
    ]);
  });

  it('malformed YAML, an undefined required variable, a bad interpolation', () => {
    expect(problems(() => load('services:\n  web: [unclosed\n'))[0]).toMatch(
      /^invalid YAML: .*\(stack\.yml:\d+:\d+\)$/,
    );
    expect(problems(() => load('services:\n  web:\n    image: "${IMG:?give an image}"\n'))).toEqual([
      'services.web.image: required variable IMG is missing or empty: give an image (stack.yml:3:12)',
    ]);
    expect(problems(() => load('services:\n  web:\n    image: "${IMG"\n'))[0]).toMatch(
      /^services\.web\.image: invalid interpolation format .*unclosed/,
    );
  });

  it('conversion problems: missing secret, port published twice, bad volume names, undefined network, bad stack name', () => {
    const text = `services:
  web:
    image: busybox
    ports: ["8080:80"]
    secrets: [nope]
    volumes: ["data:/d", "bad name:/e"]
    networks: [front]
  api:
    image: busybox
    ports: [{ target: 81, published: 8080 }]
    depends_on: [ghost]
volumes:
  "da ta": {}
`;
    expect(problems(() => convertStack(load(text), 'app', io()))).toEqual([
      "volumes.da ta: invalid volume name \"da ta\": letters, digits, '_', '.' and '-' only (stack.yml:13:3)",
      'services.web.volumes[0]: undefined volume "data": declare it under the top-level volumes (stack.yml:6:15)',
      "services.web.volumes[1]: invalid volume name \"bad name\": letters, digits, '_', '.' and '-' only (stack.yml:6:26)",
      'services.web.secrets[0]: undefined secret "nope": declare it under the top-level secrets (stack.yml:5:15)',
      'services.web.networks[0]: undefined network "front": declare it under the top-level networks (stack.yml:7:16)',
      'services.api.depends_on[0]: service "ghost" is not defined in the stack (stack.yml:11:18)',
      'services.api.ports[0]: port 8080/tcp is already published by service web (stack.yml:10:13)',
    ]);
    expect(problems(() => convertStack(load('services: {}\n'), 'bad.name', io()))).toEqual([
      "invalid stack name \"bad.name\": letters and digits, joined by '-' or '_', at most 40 characters",
    ]);
  });

  it('keys a swarm cannot honour are warned by name, not dropped silently', () => {
    const l = load(
      'services:\n  web:\n    image: busybox\n    build: .\n    restart: always\n    container_name: w\n',
    );
    expect(l.warnings).toEqual([
      'Ignoring unsupported options in stack.yml, service web: build, container_name, restart',
    ]);
  });
});
