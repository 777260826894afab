// The engine's public interface: the daemon and the executor import only from here.

export * from './errors.js';
export type { ManagerEvents } from './manager.js';
export { ContainerManager } from './manager.js';
export type * from './types.js';
