// The image config's container defaults in the form the engine's create takes
// (worker/engine ImageConfig: Docker's PascalCase Config fields); run flags override them there.
import type { ImageConfig as EngineImageConfig } from '../engine/types.js';
import type { ImageConfig } from './manifest.js';

const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;

export function containerDefaults(config: ImageConfig): EngineImageConfig & { Healthcheck?: unknown } {
  const c = config.config ?? {};
  const out: EngineImageConfig & { Healthcheck?: unknown } = {};
  const env = strings(c.Env);
  if (env) out.Env = env;
  const cmd = strings(c.Cmd);
  if (cmd) out.Cmd = cmd;
  const ep = strings(c.Entrypoint);
  if (ep) out.Entrypoint = ep;
  if (typeof c.WorkingDir === 'string' && c.WorkingDir) out.WorkingDir = c.WorkingDir;
  if (typeof c.User === 'string' && c.User) out.User = c.User;
  if (c.Labels && typeof c.Labels === 'object') out.Labels = { ...c.Labels };
  if (typeof c.StopSignal === 'string' && c.StopSignal) out.StopSignal = c.StopSignal;
  if (c.Volumes && typeof c.Volumes === 'object') out.Volumes = { ...c.Volumes };
  if (c.ExposedPorts && typeof c.ExposedPorts === 'object') out.ExposedPorts = { ...c.ExposedPorts };
  if (c.Healthcheck && typeof c.Healthcheck === 'object') out.Healthcheck = { ...c.Healthcheck };
  return out;
}
