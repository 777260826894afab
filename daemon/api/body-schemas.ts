// JSON schemas of the request bodies shoald reads. As dockerd (Go's encoding/json): unknown fields are
// ignored (the docker CLI sends many shoal does not use), while a known field of the wrong type is refused,
// naming the field. Lists and maps carry count limits so that one request cannot make the daemon work for
// minutes. Plain data, imported by nothing at run time but schemas.ts: the build compiles these into
// daemon/api/gen/validators.js (scripts/gen-validators.mjs), so the daemon carries no schema compiler
// and its first request of each kind does not wait for one (~100 ms for the create body).

/** Count limits: far above what a real container needs, far below what ties up the daemon. */
export const LIMITS = {
  /** Env, Cmd, Entrypoint entries (an argv or environment this long does not fit execve anyway). */
  list: 10_000,
  labels: 10_000,
  /** Binds, Mounts, Tmpfs, GroupAdd. */
  mounts: 1_000,
  /** CapAdd, CapDrop, SecurityOpt, Ulimits, Dns… */
  small: 256,
} as const;

export type Schema = Record<string, unknown>;

/** A NUL-free string: the kernel cuts strings at their first NUL, so "tr\0ue" would run `tr`. */
export const NUL_FREE = '^[^\\u0000]*$';
const str: Schema = { type: 'string', pattern: NUL_FREE };
const bool: Schema = { type: 'boolean' };
/** Go's int64 as far as a JSON number can carry it exactly. */
const int: Schema = { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };
const nullable = (s: Schema): Schema => ({ ...s, type: [s.type as string, 'null'] });
const strList = (max: number): Schema => ({ type: ['array', 'null'], items: str, maxItems: max });
const strMap = (max: number): Schema => ({
  type: ['object', 'null'],
  propertyNames: str,
  additionalProperties: str,
  maxProperties: max,
});
/** Docker's StrSlice: a string or a list of strings. */
const strSlice: Schema = {
  type: ['string', 'array', 'null'],
  pattern: NUL_FREE,
  items: str,
  maxItems: LIMITS.list,
};
const object: Schema = { type: ['object', 'null'] };
const array: Schema = { type: ['array', 'null'] };
/** [height, width] of the client's terminal. */
const consoleSize: Schema = {
  type: ['array', 'null'],
  items: { type: 'integer', minimum: 0, maximum: 65535 },
  minItems: 2,
  maxItems: 2,
};

const mount: Schema = {
  type: 'object',
  properties: {
    Type: str,
    Source: str,
    Target: str,
    ReadOnly: bool,
    Consistency: str,
    BindOptions: { type: ['object', 'null'], properties: { Propagation: str, NonRecursive: bool } },
    VolumeOptions: {
      type: ['object', 'null'],
      properties: {
        NoCopy: bool,
        Labels: strMap(LIMITS.labels),
        DriverConfig: { type: ['object', 'null'], properties: { Name: str, Options: strMap(LIMITS.small) } },
      },
    },
    TmpfsOptions: {
      type: ['object', 'null'],
      properties: { SizeBytes: int, Mode: { type: 'integer', minimum: 0, maximum: 0o7777 } },
    },
  },
};

/** Docker's HealthConfig: durations in nanoseconds. */
const healthcheck: Schema = {
  type: ['object', 'null'],
  properties: {
    Test: strList(LIMITS.list),
    Interval: int,
    Timeout: int,
    StartPeriod: int,
    StartInterval: int,
    Retries: int,
  },
};

const restartPolicy: Schema = { type: ['object', 'null'], properties: { Name: str, MaximumRetryCount: int } };

const hostConfig: Schema = {
  type: ['object', 'null'],
  properties: {
    Binds: strList(LIMITS.mounts),
    Tmpfs: strMap(LIMITS.mounts),
    Mounts: { type: ['array', 'null'], items: mount, maxItems: LIMITS.mounts },
    ContainerIDFile: str,
    LogConfig: { type: ['object', 'null'], properties: { Type: str, Config: strMap(LIMITS.small) } },
    NetworkMode: str,
    PortBindings: object,
    RestartPolicy: restartPolicy,
    AutoRemove: bool,
    VolumeDriver: str,
    VolumesFrom: strList(LIMITS.small),
    ConsoleSize: consoleSize,
    Annotations: strMap(LIMITS.labels),
    CapAdd: strList(LIMITS.small),
    CapDrop: strList(LIMITS.small),
    CgroupnsMode: str,
    Dns: strList(LIMITS.small),
    DnsOptions: strList(LIMITS.small),
    DnsSearch: strList(LIMITS.small),
    ExtraHosts: strList(LIMITS.mounts),
    GroupAdd: strList(LIMITS.mounts),
    IpcMode: str,
    Cgroup: str,
    Links: strList(LIMITS.small),
    OomScoreAdj: int,
    PidMode: str,
    Privileged: bool,
    PublishAllPorts: bool,
    ReadonlyRootfs: bool,
    SecurityOpt: strList(LIMITS.small),
    StorageOpt: strMap(LIMITS.small),
    Sysctls: strMap(LIMITS.small),
    UTSMode: str,
    UsernsMode: str,
    ShmSize: int,
    Runtime: str,
    Isolation: str,
    CpuShares: int,
    Memory: int,
    NanoCpus: int,
    CgroupParent: str,
    BlkioWeight: { type: 'integer', minimum: 0, maximum: 1000 },
    BlkioWeightDevice: array,
    BlkioDeviceReadBps: array,
    BlkioDeviceWriteBps: array,
    BlkioDeviceReadIOps: array,
    BlkioDeviceWriteIOps: array,
    CpuPeriod: int,
    CpuQuota: int,
    CpuRealtimePeriod: int,
    CpuRealtimeRuntime: int,
    CpusetCpus: str,
    CpusetMems: str,
    Devices: array,
    DeviceCgroupRules: strList(LIMITS.small),
    DeviceRequests: array,
    KernelMemory: int,
    KernelMemoryTCP: int,
    MemoryReservation: int,
    MemorySwap: int,
    MemorySwappiness: nullable(int),
    OomKillDisable: nullable(bool),
    PidsLimit: nullable(int),
    Ulimits: {
      type: ['array', 'null'],
      items: { type: 'object', properties: { Name: str, Soft: int, Hard: int } },
      maxItems: LIMITS.small,
    },
    CpuCount: int,
    CpuPercent: int,
    IOMaximumIOps: int,
    IOMaximumBandwidth: int,
    MaskedPaths: strList(LIMITS.mounts),
    ReadonlyPaths: strList(LIMITS.mounts),
    Init: nullable(bool),
  },
};

/** POST /containers/create: Docker's Config with HostConfig and NetworkingConfig, plus shoal's Rootfs. */
export const containerCreateSchema: Schema = {
  type: 'object',
  properties: {
    Hostname: str,
    Domainname: str,
    User: str,
    AttachStdin: bool,
    AttachStdout: bool,
    AttachStderr: bool,
    ExposedPorts: object,
    Tty: bool,
    OpenStdin: bool,
    StdinOnce: bool,
    Env: strList(LIMITS.list),
    Cmd: strSlice,
    Healthcheck: healthcheck,
    ArgsEscaped: bool,
    Image: str,
    Volumes: object,
    WorkingDir: str,
    Entrypoint: strSlice,
    NetworkDisabled: bool,
    MacAddress: str,
    OnBuild: strList(LIMITS.small),
    Labels: strMap(LIMITS.labels),
    StopSignal: str,
    StopTimeout: nullable(int),
    Shell: strList(LIMITS.small),
    Rootfs: str,
    HostConfig: hostConfig,
    NetworkingConfig: object,
  },
};

/** POST /containers/{id}/update: the restart policy (resource fields are refused by the route for now). */
export const containerUpdateSchema: Schema = {
  type: 'object',
  properties: {
    RestartPolicy: restartPolicy,
    Memory: int,
    MemorySwap: int,
    MemoryReservation: int,
    NanoCpus: int,
    CpuShares: int,
    CpuPeriod: int,
    CpuQuota: int,
    CpusetCpus: str,
    CpusetMems: str,
    PidsLimit: nullable(int),
  },
};

/** POST /containers/{id}/exec. */
export const execCreateSchema: Schema = {
  type: 'object',
  properties: {
    User: str,
    Privileged: bool,
    Tty: bool,
    ConsoleSize: consoleSize,
    AttachStdin: bool,
    AttachStdout: bool,
    AttachStderr: bool,
    Detach: bool,
    DetachKeys: str,
    Env: strList(LIMITS.list),
    WorkingDir: str,
    Cmd: strList(LIMITS.list),
  },
};

/** POST /volumes/create. */
export const volumeCreateSchema: Schema = {
  type: 'object',
  properties: {
    Name: str,
    Driver: str,
    DriverOpts: strMap(LIMITS.small),
    Labels: strMap(LIMITS.labels),
  },
};

/** POST /networks/create (swarm and local networks alike: what the docker CLI sends). */
export const networkCreateSchema: Schema = {
  type: 'object',
  properties: {
    Name: str,
    Driver: str,
    Scope: str,
    CheckDuplicate: bool,
    Internal: bool,
    Attachable: bool,
    Ingress: bool,
    ConfigOnly: bool,
    EnableIPv6: bool,
    Options: strMap(LIMITS.small),
    Labels: strMap(LIMITS.labels),
    IPAM: {
      type: ['object', 'null'],
      properties: {
        Driver: str,
        Options: strMap(LIMITS.small),
        Config: {
          type: ['array', 'null'],
          maxItems: LIMITS.small,
          items: {
            type: 'object',
            properties: { Subnet: str, IPRange: str, Gateway: str, AuxiliaryAddresses: strMap(LIMITS.small) },
          },
        },
      },
    },
  },
};

/** POST /exec/{id}/start. */
export const execStartSchema: Schema = {
  type: 'object',
  properties: { Detach: bool, Tty: bool, ConsoleSize: consoleSize },
};

/** POST /auth. */
export const authSchema: Schema = {
  type: 'object',
  properties: {
    username: str,
    password: str,
    email: str,
    serveraddress: str,
    identitytoken: str,
    registrytoken: str,
  },
};

/** What the build compiles, by the name of the validator it exports. */
export const BODY_SCHEMAS = {
  containerCreate: containerCreateSchema,
  containerUpdate: containerUpdateSchema,
  execCreate: execCreateSchema,
  execStart: execStartSchema,
  volumeCreate: volumeCreateSchema,
  networkCreate: networkCreateSchema,
  auth: authSchema,
} as const;
