// `shoal version` and `shoal info`.
import type { Cli } from '../context.js';
import { parseCommand } from './common.js';

const CLIENT_VERSION = '0.1.0';

export async function version(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'version',
      usage: 'shoal version',
      description: 'Show the shoal version information',
      flags: [],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  cli.out.write(
    `Client:\n Version:           ${CLIENT_VERSION}\n API version:       1.41\n Node version:      ${process.versions.node}\n OS/Arch:           linux/${process.arch === 'x64' ? 'amd64' : process.arch}\n\n`,
  );
  const v = await cli.client.get<{
    Version: string;
    ApiVersion: string;
    MinAPIVersion: string;
    Os: string;
    Arch: string;
    KernelVersion: string;
    GoVersion: string;
  }>('/version');
  cli.out.write(
    `Server: shoal\n Engine:\n  Version:          ${v.Version}\n  API version:      ${v.ApiVersion} (minimum version ${v.MinAPIVersion})\n  Runtime:          ${v.GoVersion}\n  OS/Arch:          ${v.Os}/${v.Arch}\n  Kernel:           ${v.KernelVersion}\n`,
  );
  return 0;
}

export async function info(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'info',
      usage: 'shoal info',
      description: 'Display system-wide information',
      flags: [],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const i = await cli.client.get<
    Record<string, unknown> & { Swarm?: { LocalNodeState?: string; NodeID?: string } }
  >('/info');
  const lines = [
    'Server:',
    ` Containers: ${i.Containers}`,
    `  Running: ${i.ContainersRunning}`,
    `  Paused: ${i.ContainersPaused}`,
    `  Stopped: ${i.ContainersStopped}`,
    ` Images: ${i.Images}`,
    ` Server Version: ${i.ServerVersion}`,
    ` Storage Driver: ${i.Driver}`,
    ` Logging Driver: ${i.LoggingDriver}`,
    ` Cgroup Driver: ${i.CgroupDriver}`,
    ` Cgroup Version: ${i.CgroupVersion}`,
    ` Swarm: ${i.Swarm?.LocalNodeState ?? 'inactive'}`,
    ...(i.Swarm?.NodeID ? [`  NodeID: ${i.Swarm.NodeID}`] : []),
    ` Default Runtime: ${i.DefaultRuntime}`,
    ` Live Restore Enabled: ${i.LiveRestoreEnabled}`,
    ` Kernel Version: ${i.KernelVersion}`,
    ` Operating System: ${i.OperatingSystem}`,
    ` OSType: ${i.OSType}`,
    ` Architecture: ${i.Architecture}`,
    ` CPUs: ${i.NCPU}`,
    ` Total Memory: ${(Number(i.MemTotal) / 1024 ** 3).toFixed(2)}GiB`,
    ` Name: ${i.Name}`,
    ` Shoal Root Dir: ${i.DockerRootDir}`,
  ];
  cli.out.write(`${lines.join('\n')}\n`);
  return 0;
}
