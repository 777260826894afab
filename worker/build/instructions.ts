// Pure: what the metadata instructions do to an image's config (ENV, LABEL, CMD, ENTRYPOINT, EXPOSE,
// VOLUME, WORKDIR, USER, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER), the command a RUN
// runs, and the history line (`created_by`) each step leaves, in the classic builder's words.
import path from 'node:path';
import { parseGoDuration } from '../../common/time.js';
import type { ContainerConfig } from '../images/index.js';
import type { Instruction } from './dockerfile.js';
import { expandWord, expandWords, parseKeyValues, splitRaw, type Vars } from './words.js';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** Build args every Dockerfile may use without declaring them; never written into history. */
export const PROXY_ARGS = [
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
];

export type BuildConfig = ContainerConfig & { Shell?: string[]; OnBuild?: string[] | null };

/** Go-style durations ("30s", "1m30s", "500ms") to ns; a Dockerfile has no negative ones. */
export function parseDurationNs(text: string, what: string): number {
  const ns = parseGoDuration(text);
  if (ns === undefined || ns < 0) throw new Error(`${what}: "${text}" is not a duration (e.g. 30s, 1m30s)`);
  return ns;
}

function envMap(env: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1));
  }
  return m;
}

/** The variables an instruction expands: the stage's ARGs, overridden by its ENV (as docker). */
export function varsOf(config: BuildConfig, args: ReadonlyMap<string, string>): Vars {
  const m = new Map(args);
  for (const [k, v] of envMap(config.Env)) m.set(k, v);
  return m;
}

function setEnv(env: readonly string[] | undefined, key: string, value: string): string[] {
  const out = (env ?? []).filter((e) => e.split('=')[0] !== key);
  out.push(`${key}=${value}`);
  return out;
}

/** The exec form as given, or the shell form wrapped in the current SHELL. */
export function commandOf(ins: Instruction, shell: readonly string[], args = ins.args): string[] {
  if (ins.json) return ins.json;
  return [...shell, args];
}

function nop(text: string): string {
  return `/bin/sh -c #(nop) ${text}`;
}

export interface MetaResult {
  config: BuildConfig;
  createdBy: string;
}

/**
 * Applies a metadata instruction (no filesystem change). Throws plain Errors; the caller adds the
 * Dockerfile line.
 */
export function applyMeta(config: BuildConfig, ins: Instruction, vars: Vars, esc = '\\'): MetaResult {
  const c: BuildConfig = structuredClone(config);
  const shell = c.Shell?.length ? c.Shell : DEFAULT_SHELL;
  switch (ins.keyword) {
    case 'ENV': {
      const pairs = parseKeyValues(ins.args, vars, { legacy: true, what: 'ENV', esc });
      let env = c.Env ?? [];
      for (const [k, v] of pairs) env = setEnv(env, k, v);
      c.Env = env;
      return { config: c, createdBy: nop(` ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`) };
    }
    case 'LABEL': {
      const pairs = parseKeyValues(ins.args, vars, { what: 'LABEL', esc });
      c.Labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of pairs) c.Labels[k] = v;
      return { config: c, createdBy: nop(` LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`) };
    }
    case 'MAINTAINER':
      return { config: c, createdBy: nop(` MAINTAINER ${ins.args}`) };
    case 'CMD':
      c.Cmd = commandOf(ins, shell);
      return { config: c, createdBy: nop(` CMD ${JSON.stringify(c.Cmd)}`) };
    case 'ENTRYPOINT':
      c.Entrypoint = ins.json ?? (ins.args ? [...shell, ins.args] : null);
      // as docker: a new ENTRYPOINT drops an inherited CMD
      c.Cmd = null;
      return { config: c, createdBy: nop(` ENTRYPOINT ${JSON.stringify(c.Entrypoint)}`) };
    case 'EXPOSE': {
      const ports = expandWords(ins.args, vars, esc);
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of ports) {
        const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
        if (!m) throw new Error(`EXPOSE: invalid port "${p}" (PORT[-END][/PROTO])`);
        const lo = Number(m[1]);
        const hi = m[2] ? Number(m[2]) : lo;
        if (lo < 1 || hi > 65535 || hi < lo) throw new Error(`EXPOSE: invalid port range "${p}"`);
        for (let n = lo; n <= hi; n++) c.ExposedPorts[`${n}/${(m[3] ?? 'tcp').toLowerCase()}`] = {};
      }
      return { config: c, createdBy: nop(` EXPOSE ${Object.keys(c.ExposedPorts).sort().join(' ')}`) };
    }
    case 'VOLUME': {
      const vols = ins.json ?? expandWords(ins.args, vars, esc);
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of vols) {
        if (!v.trim()) throw new Error('VOLUME: empty path');
        c.Volumes[v] = {};
      }
      return { config: c, createdBy: nop(` VOLUME ${JSON.stringify(vols)}`) };
    }
    case 'WORKDIR': {
      const dir = expandWord(ins.args, vars, esc);
      c.WorkingDir = path.posix.resolve(c.WorkingDir || '/', dir);
      return { config: c, createdBy: nop(`WORKDIR ${c.WorkingDir}`) };
    }
    case 'USER':
      c.User = expandWord(ins.args, vars, esc);
      return { config: c, createdBy: nop(` USER ${c.User}`) };
    case 'STOPSIGNAL': {
      const s = expandWord(ins.args, vars, esc);
      if (!/^(SIG)?[A-Z0-9+-]+$/i.test(s)) throw new Error(`STOPSIGNAL: invalid signal "${s}"`);
      c.StopSignal = s;
      return { config: c, createdBy: nop(` STOPSIGNAL ${s}`) };
    }
    case 'SHELL':
      if (!ins.json || ins.json.length === 0)
        throw new Error('SHELL requires the arguments to be in JSON form');
      c.Shell = ins.json;
      return { config: c, createdBy: nop(` SHELL ${JSON.stringify(ins.json)}`) };
    case 'ONBUILD': {
      const trigger = ins.args.trim();
      const kw = trigger.split(/\s+/)[0].toUpperCase();
      if (kw === 'ONBUILD') throw new Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (kw === 'FROM' || kw === 'MAINTAINER') throw new Error(`${kw} isn't allowed as an ONBUILD trigger`);
      c.OnBuild = [...(c.OnBuild ?? []), trigger];
      return { config: c, createdBy: nop(` ONBUILD ${trigger}`) };
    }
    case 'HEALTHCHECK': {
      const rest = ins.args.trim();
      if (/^NONE$/i.test(rest)) {
        if (Object.keys(ins.flags).length) throw new Error('HEALTHCHECK NONE takes no options');
        c.Healthcheck = { Test: ['NONE'] };
        return { config: c, createdBy: nop(' HEALTHCHECK NONE') };
      }
      const m = /^CMD\s+([\s\S]+)$/i.exec(rest);
      if (!m) throw new Error('HEALTHCHECK: expected "CMD command" or "NONE"');
      const hc: NonNullable<ContainerConfig['Healthcheck']> & { StartInterval?: number } = {
        Test: ins.json ? ['CMD', ...ins.json] : ['CMD-SHELL', m[1]],
      };
      const dur = (flag: string) =>
        ins.flags[flag] !== undefined ? parseDurationNs(ins.flags[flag], `HEALTHCHECK --${flag}`) : undefined;
      const interval = dur('interval');
      const timeout = dur('timeout');
      const startPeriod = dur('start-period');
      const startInterval = dur('start-interval');
      if (interval !== undefined) hc.Interval = interval;
      if (timeout !== undefined) hc.Timeout = timeout;
      if (startPeriod !== undefined) hc.StartPeriod = startPeriod;
      if (startInterval !== undefined) hc.StartInterval = startInterval;
      if (ins.flags.retries !== undefined) {
        const r = Number(ins.flags.retries);
        if (!Number.isInteger(r) || r < 0)
          throw new Error(`HEALTHCHECK --retries: "${ins.flags.retries}" is not a count`);
        hc.Retries = r;
      }
      c.Healthcheck = hc;
      return { config: c, createdBy: nop(` HEALTHCHECK &{${JSON.stringify(hc.Test)}}`) };
    }
    default:
      throw new Error(`${ins.keyword} is not a metadata instruction`);
  }
}

/** `ARG A=1 B` → the names and defaults (expanded with what is known so far). */
export function parseArgDecls(ins: Instruction, vars: Vars, esc = '\\'): [string, string | undefined][] {
  return splitRaw(ins.args, esc).map((w) => {
    const eq = w.indexOf('=');
    const name = eq < 0 ? w : w.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`ARG: invalid name "${name}"`);
    return [name, eq < 0 ? undefined : expandWord(w.slice(eq + 1), vars, esc)];
  });
}
