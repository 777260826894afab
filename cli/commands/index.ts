// The command table. Each group lives in its own module and is loaded only when one of its commands
// runs (start-up time matters). To add a group: write cli/commands/<group>.ts exporting one
// CommandFn per command and add its rows here.
import type { CommandFn } from '../context.js';

export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<CommandFn>;
}

export const commands: CommandEntry[] = [
  {
    name: 'run',
    summary: 'Create and run a new container',
    load: async () => (await import('./run.js')).run,
  },
  { name: 'create', summary: 'Create a new container', load: async () => (await import('./run.js')).create },
  {
    name: 'start',
    summary: 'Start one or more stopped containers',
    load: async () => (await import('./start.js')).start,
  },
  {
    name: 'attach',
    summary: 'Attach local standard input, output, and error streams to a running container',
    load: async () => (await import('./attach.js')).attach,
  },
  { name: 'ps', summary: 'List containers', load: async () => (await import('./ps.js')).ps },
  {
    name: 'logs',
    summary: 'Fetch the logs of a container',
    load: async () => (await import('./logs.js')).logs,
  },
  {
    name: 'exec',
    summary: 'Execute a command in a running container',
    load: async () => (await import('./exec.js')).exec,
  },
  {
    name: 'stop',
    summary: 'Stop one or more running containers',
    load: async () => (await import('./lifecycle.js')).stop,
  },
  {
    name: 'kill',
    summary: 'Kill one or more running containers',
    load: async () => (await import('./lifecycle.js')).kill,
  },
  {
    name: 'restart',
    summary: 'Restart one or more containers',
    load: async () => (await import('./lifecycle.js')).restart,
  },
  {
    name: 'update',
    summary: 'Update configuration of one or more containers',
    load: async () => (await import('./lifecycle.js')).update,
  },
  {
    name: 'rm',
    summary: 'Remove one or more containers',
    load: async () => (await import('./lifecycle.js')).rm,
  },
  {
    name: 'rename',
    summary: 'Rename a container',
    load: async () => (await import('./lifecycle.js')).rename,
  },
  {
    name: 'pause',
    summary: 'Pause all processes within one or more containers',
    load: async () => (await import('./lifecycle.js')).pause,
  },
  {
    name: 'unpause',
    summary: 'Unpause all processes within one or more containers',
    load: async () => (await import('./lifecycle.js')).unpause,
  },
  {
    name: 'wait',
    summary: 'Block until one or more containers stop, then print their exit codes',
    load: async () => (await import('./lifecycle.js')).wait,
  },
  {
    name: 'inspect',
    summary: 'Return low-level information on containers',
    load: async () => (await import('./inspect.js')).inspect,
  },
  {
    name: 'stats',
    summary: 'Display a live stream of container(s) resource usage statistics',
    load: async () => (await import('./stats.js')).stats,
  },
  {
    name: 'top',
    summary: 'Display the running processes of a container',
    load: async () => (await import('./top.js')).top,
  },
  // a container's files (cli/commands/cp.ts, container-fs.ts)
  {
    name: 'cp',
    summary: 'Copy files/folders between a container and the local filesystem',
    load: async () => (await import('./cp.js')).cp,
  },
  {
    name: 'export',
    summary: "Export a container's filesystem as a tar archive",
    load: async () => (await import('./container-fs.js')).exportContainer,
  },
  {
    name: 'diff',
    summary: "Inspect changes to files or directories on a container's filesystem",
    load: async () => (await import('./container-fs.js')).diff,
  },
  {
    name: 'commit',
    summary: "Create a new image from a container's changes",
    load: async () => (await import('./container-fs.js')).commit,
  },
  {
    name: 'events',
    summary: 'Get real time events from the daemon',
    load: async () => (await import('./events.js')).events,
  },
  {
    name: 'version',
    summary: 'Show the shoal version information',
    load: async () => (await import('./system.js')).version,
  },
  {
    name: 'info',
    summary: 'Display system-wide information',
    load: async () => (await import('./system.js')).info,
  },
  // images (cli/commands/images.ts, image-transfer.ts)
  {
    name: 'build',
    summary: 'Build an image from a Dockerfile',
    load: async () => (await import('./build.js')).build,
  },
  { name: 'builder', summary: 'Manage builds', load: async () => (await import('./build.js')).builder },
  { name: 'image', summary: 'Manage images', load: async () => (await import('./images.js')).image },
  { name: 'images', summary: 'List images', load: async () => (await import('./images.js')).ls },
  { name: 'rmi', summary: 'Remove one or more images', load: async () => (await import('./images.js')).rm },
  {
    name: 'tag',
    summary: 'Create a tag that refers to an image',
    load: async () => (await import('./images.js')).tag,
  },
  {
    name: 'pull',
    summary: 'Download an image from a registry',
    load: async () => (await import('./image-transfer.js')).pull,
  },
  {
    name: 'push',
    summary: 'Upload an image to a registry',
    load: async () => (await import('./image-transfer.js')).push,
  },
  {
    name: 'load',
    summary: 'Load an image from a tar archive or STDIN',
    load: async () => (await import('./image-transfer.js')).load,
  },
  {
    name: 'save',
    summary: 'Save one or more images to a tar archive',
    load: async () => (await import('./image-transfer.js')).save,
  },
  {
    name: 'import',
    summary: 'Import a root filesystem tarball as an image',
    load: async () => (await import('./image-transfer.js')).importImage,
  },
  {
    name: 'login',
    summary: 'Log in to a registry',
    load: async () => (await import('./image-transfer.js')).login,
  },
  {
    name: 'logout',
    summary: 'Log out from a registry',
    load: async () => (await import('./image-transfer.js')).logout,
  },
  // networks (cli/commands/network.ts)
  { name: 'network', summary: 'Manage networks', load: async () => (await import('./network.js')).network },
  {
    name: 'port',
    summary: 'List port mappings or a specific mapping for the container',
    load: async () => (await import('./network.js')).port,
  },
  // volumes (cli/commands/volume.ts)
  {
    name: 'container prune',
    summary: 'Remove all stopped containers',
    load: async () => (await import('./prune.js')).containerPrune,
  },
  { name: 'system', summary: 'Manage shoal', load: async () => (await import('./prune.js')).system },
  { name: 'volume', summary: 'Manage volumes', load: async () => (await import('./volume.js')).volume },
  // swarm (cli/commands/swarm.ts, node.ts, service.ts)
  { name: 'swarm', summary: 'Manage Swarm', load: async () => (await import('./swarm.js')).swarm },
  { name: 'node', summary: 'Manage Swarm nodes', load: async () => (await import('./node.js')).node },
  {
    name: 'stack',
    summary: 'Manage Swarm stacks',
    load: async () => (await import('./stack.js')).stack,
  },
  {
    name: 'service',
    summary: 'Manage Swarm services',
    load: async () => (await import('./service.js')).service,
  },
  // secrets and configs (cli/commands/secret.ts)
  { name: 'secret', summary: 'Manage Swarm secrets', load: async () => (await import('./secret.js')).secret },
  { name: 'config', summary: 'Manage Swarm configs', load: async () => (await import('./secret.js')).config },
];

/** `shoal container ls` etc.: docker's management-command spellings of the same commands. */
export const containerAliases: Record<string, string> = { ls: 'ps', list: 'ps', prune: 'container prune' };

export function findCommand(name: string): CommandEntry | undefined {
  return commands.find((c) => c.name === name);
}
