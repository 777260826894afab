// The compose file format (3.x, as `docker stack deploy` reads it) as a JSON schema, checked by ajv. Written
// for shoal from the compose file reference (docs.docker.com/compose/compose-file/compose-file-v3), not
// copied from docker's config_schema_v3.x.json: the same keys and types, with two differences that make the
// errors clearer — list-or-map fields are one schema with a type union (items apply to lists,
// additionalProperties to mappings) instead of oneOf branches, whose failures ajv reports once per branch;
// and every mapping is closed (an unknown key is an error naming it), `x-` keys excepted.

type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const strList: Schema = { type: 'array', items: str };
const strOrList: Schema = { type: ['string', 'array'], items: str };
const int: Schema = { type: 'integer' };
const uint: Schema = { type: 'integer', minimum: 0 };
const bool: Schema = { type: 'boolean' };
const strOrNum: Schema = { type: ['string', 'number'] };
const duration: Schema = { type: 'string', format: 'duration' };
/** A list of KEY=VALUE strings, or a mapping of KEY to a scalar (environment, labels, sysctls…). */
const listOrDict: Schema = {
  type: ['object', 'array'],
  items: str,
  additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
};

/** A closed mapping: these keys, plus any `x-` extension key. */
const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  patternProperties: { '^x-': {} },
  additionalProperties: false,
  ...extra,
});

const resources = obj({
  cpus: strOrNum,
  memory: strOrNum,
  pids: int,
  generic_resources: { type: 'array' },
  devices: { type: 'array' },
});

const updateConfig = obj({
  parallelism: uint,
  delay: duration,
  failure_action: { type: 'string', enum: ['continue', 'rollback', 'pause'] },
  monitor: duration,
  max_failure_ratio: { type: 'number', minimum: 0, maximum: 1 },
  order: { type: 'string', enum: ['start-first', 'stop-first'] },
});

const deploy = obj({
  mode: { type: 'string', enum: ['replicated', 'global'] },
  replicas: uint,
  endpoint_mode: { type: 'string', enum: ['vip', 'dnsrr'] },
  labels: listOrDict,
  resources: obj({ limits: resources, reservations: resources }),
  restart_policy: obj({
    condition: { type: 'string', enum: ['none', 'on-failure', 'any'] },
    delay: duration,
    max_attempts: uint,
    window: duration,
  }),
  placement: obj({
    constraints: strList,
    preferences: { type: 'array', items: obj({ spread: str }, { required: ['spread'] }) },
    max_replicas_per_node: uint,
  }),
  update_config: updateConfig,
  rollback_config: updateConfig,
});

const fileRefs: Schema = {
  type: 'array',
  items: {
    type: ['string', 'object'],
    properties: { source: str, target: str, uid: str, gid: str, mode: { type: 'integer', minimum: 0 } },
    patternProperties: { '^x-': {} },
    additionalProperties: false,
    required: ['source'],
  },
};

const ports: Schema = {
  type: 'array',
  items: {
    type: ['string', 'integer', 'object'],
    properties: {
      target: { type: 'integer', minimum: 1, maximum: 65535 },
      published: { type: ['integer', 'string'] },
      protocol: { type: 'string', enum: ['tcp', 'udp', 'sctp'] },
      mode: { type: 'string', enum: ['ingress', 'host'] },
      host_ip: str,
    },
    patternProperties: { '^x-': {} },
    additionalProperties: false,
    required: ['target'],
  },
};

const volumes: Schema = {
  type: 'array',
  items: {
    type: ['string', 'object'],
    properties: {
      type: { type: 'string', enum: ['volume', 'bind', 'tmpfs', 'npipe', 'cluster'] },
      source: str,
      target: str,
      read_only: bool,
      consistency: str,
      bind: obj({ propagation: str, create_host_path: bool }),
      volume: obj({ nocopy: bool, subpath: str }),
      tmpfs: obj({ size: strOrNum, mode: uint }),
    },
    patternProperties: { '^x-': {} },
    additionalProperties: false,
    required: ['type', 'target'],
  },
};

const healthcheck = obj({
  disable: bool,
  test: strOrList,
  interval: duration,
  timeout: duration,
  retries: uint,
  start_period: duration,
  start_interval: duration,
});

const service = obj({
  deploy,
  image: str,
  command: strOrList,
  entrypoint: strOrList,
  environment: listOrDict,
  env_file: strOrList,
  labels: listOrDict,
  ports,
  expose: { type: 'array', items: strOrNum },
  networks: {
    type: ['array', 'object'],
    items: str,
    additionalProperties: {
      type: ['object', 'null'],
      properties: { aliases: strList, ipv4_address: str, ipv6_address: str },
      patternProperties: { '^x-': {} },
      additionalProperties: false,
    },
  },
  volumes,
  tmpfs: strOrList,
  secrets: fileRefs,
  configs: fileRefs,
  healthcheck,
  stop_grace_period: duration,
  stop_signal: str,
  user: str,
  working_dir: str,
  hostname: str,
  domainname: str,
  cap_add: strList,
  cap_drop: strList,
  ulimits: {
    type: 'object',
    additionalProperties: {
      type: ['integer', 'object'],
      properties: { soft: int, hard: int },
      additionalProperties: false,
      required: ['soft', 'hard'],
    },
  },
  sysctls: listOrDict,
  devices: strList,
  privileged: bool,
  read_only: bool,
  init: bool,
  tty: bool,
  stdin_open: bool,
  dns: strOrList,
  dns_search: strOrList,
  extra_hosts: listOrDict,
  depends_on: {
    type: ['array', 'object'],
    items: str,
    additionalProperties: obj(
      {
        condition: {
          type: 'string',
          enum: ['service_started', 'service_healthy', 'service_completed_successfully'],
        },
      },
      { required: ['condition'] },
    ),
  },
  // Keys docker's stack deploy ignores with a warning (loader.go's unsupported list): accepted by the
  // schema, warned by name (load.ts), never converted.
  build: { type: ['string', 'object'] },
  cgroup_parent: str,
  container_name: str,
  credential_spec: { type: 'object' },
  external_links: strList,
  ipc: str,
  isolation: str,
  links: strList,
  logging: { type: 'object' },
  mac_address: str,
  network_mode: str,
  pid: { type: ['string', 'null'] },
  restart: str,
  security_opt: strList,
  shm_size: strOrNum,
  userns_mode: str,
});

const external: Schema = {
  type: ['boolean', 'object'],
  properties: { name: str },
  additionalProperties: false,
};

const network = {
  type: ['object', 'null'],
  properties: {
    name: str,
    driver: str,
    driver_opts: { type: 'object', additionalProperties: strOrNum },
    ipam: obj({
      driver: str,
      config: { type: 'array', items: obj({ subnet: str, gateway: str, ip_range: str }) },
    }),
    external,
    internal: bool,
    attachable: bool,
    labels: listOrDict,
  },
  patternProperties: { '^x-': {} },
  additionalProperties: false,
};

const volume = {
  type: ['object', 'null'],
  properties: {
    name: str,
    driver: str,
    driver_opts: { type: 'object', additionalProperties: strOrNum },
    external,
    labels: listOrDict,
  },
  patternProperties: { '^x-': {} },
  additionalProperties: false,
};

const fileObject = obj({
  name: str,
  file: str,
  external,
  labels: listOrDict,
  template_driver: str,
});

const NAME_KEY = '^[a-zA-Z0-9._-]+$';

export const COMPOSE_SCHEMA: Schema = obj(
  {
    version: str,
    services: { type: 'object', patternProperties: { [NAME_KEY]: service }, additionalProperties: false },
    networks: { type: 'object', additionalProperties: network },
    volumes: { type: 'object', additionalProperties: volume },
    secrets: { type: 'object', additionalProperties: fileObject },
    configs: { type: 'object', additionalProperties: fileObject },
  },
  { required: ['services'] },
);

/** Service keys a swarm cannot honour: docker stack deploy warns "Ignoring unsupported options: …". */
export const UNSUPPORTED_SERVICE_KEYS = [
  'build',
  'cgroup_parent',
  'container_name',
  'credential_spec',
  'domainname',
  'expose',
  'external_links',
  'ipc',
  'isolation',
  'links',
  'logging',
  'mac_address',
  'network_mode',
  'pid',
  'restart',
  'security_opt',
  'shm_size',
  'userns_mode',
] as const;
