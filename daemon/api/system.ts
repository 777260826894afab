// System endpoints: /_ping (version negotiation), /version, /info.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { API_VERSION, MIN_API_VERSION, SERVER_VERSION } from '../http/reply.js';
import type { Router } from '../http/router.js';
import type { ApiDeps } from './deps.js';
import { swarmInfoJson } from './swarm/info.js';

const PING_HEADERS = {
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
};

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' };

function osPrettyName(): { name: string; version: string } {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const field = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
    return { name: field('PRETTY_NAME') || 'Linux', version: field('VERSION_ID') };
  } catch {
    return { name: 'Linux', version: '' };
  }
}

/** "1" for cgroup v1 or hybrid (controllers on v1), "2" for a unified hierarchy. */
function cgroupVersion(): string {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}

export function versionBody(): Record<string, unknown> {
  const details = {
    ApiVersion: API_VERSION,
    Arch: GO_ARCH[process.arch] ?? process.arch,
    BuildTime: '',
    Experimental: 'false',
    GitCommit: '',
    GoVersion: `node${process.versions.node}`,
    KernelVersion: os.release(),
    MinAPIVersion: MIN_API_VERSION,
    Os: 'linux',
  };
  return {
    Platform: { Name: 'shoal' },
    Components: [{ Name: 'Engine', Version: SERVER_VERSION, Details: details }],
    Version: SERVER_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: '',
    GoVersion: details.GoVersion,
    Os: 'linux',
    Arch: details.Arch,
    KernelVersion: details.KernelVersion,
    BuildTime: '',
  };
}

export function infoBody(deps: ApiDeps): Record<string, unknown> {
  const all = deps.engine.list({ all: true });
  const count = (s: string) => all.filter((c) => c.state.status === s).length;
  const running = count('running');
  const paused = count('paused');
  const osInfo = osPrettyName();
  return {
    ID: '',
    Containers: all.length,
    ContainersRunning: running,
    ContainersPaused: paused,
    ContainersStopped: all.length - running - paused,
    Images: deps.images?.count?.() ?? 0,
    Driver: 'overlay',
    DriverStatus: [],
    Plugins: { Volume: ['local'], Network: ['host', 'null'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: true,
    KernelMemory: false,
    KernelMemoryTCP: false,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: true,
    BridgeNfIptables: false,
    BridgeNfIp6tables: false,
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: deps.now().toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: cgroupVersion(),
    NEventsListener: 0,
    KernelVersion: os.release(),
    OperatingSystem: osInfo.name,
    OSVersion: osInfo.version,
    OSType: 'linux',
    Architecture: os.machine(),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: {
      AllowNondistributableArtifactsCIDRs: [],
      AllowNondistributableArtifactsHostnames: [],
      InsecureRegistryCIDRs: ['127.0.0.0/8'],
      IndexConfigs: {},
      Mirrors: [],
    },
    NCPU: os.availableParallelism(),
    MemTotal: os.totalmem(),
    GenericResources: null,
    DockerRootDir: deps.config.dataRoot,
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Name: deps.config.hostname ?? os.hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: SERVER_VERSION,
    Runtimes: { 'shoal-runtime': { path: 'shoal-runtime' } },
    DefaultRuntime: 'shoal-runtime',
    Swarm: {
      NodeID: '',
      NodeAddr: '',
      LocalNodeState: 'inactive',
      ControlAvailable: false,
      Error: '',
      RemoteManagers: null,
    },
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: '',
    ContainerdCommit: { ID: '', Expected: '' },
    RuncCommit: { ID: '', Expected: '' },
    InitCommit: { ID: '', Expected: '' },
    SecurityOptions: ['name=seccomp,profile=default'],
    Warnings: null,
  };
}

export function registerSystem(router: Router, deps: ApiDeps): void {
  router.head('/_ping', (ctx) => ctx.reply.text(200, '', PING_HEADERS));
  router.get('/_ping', (ctx) => ctx.reply.text(200, 'OK', PING_HEADERS));
  router.get('/version', (ctx) => ctx.reply.json(200, versionBody()));
  router.get('/info', async (ctx) => {
    const body = infoBody(deps);
    if (deps.swarm) body.Swarm = await swarmInfoJson(deps.swarm);
    ctx.reply.json(200, body);
  });
}
