// What a swarm member keeps under <data-root>/swarm/ besides raft and its certificates: who it is and where
// it listens, so a restarted shoald resumes its membership. Written atomically; a bad file is an error
// naming it, never silently ignored. Also the address rules of `swarm init` (ADDR[:PORT], default 2377).
import { randomInt } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { ShoalError } from '../../common/errors.js';

export const SWARM_PORT = 2377;

export interface SwarmPaths {
  root: string;
  state: string;
  certs: string;
  raft: string;
  worker: string;
  /** The cluster data key secrets are sealed with (managers only; manager/secrets). */
  dataKey: string;
}

export function swarmPaths(dataRoot: string): SwarmPaths {
  const root = path.join(dataRoot, 'swarm');
  return {
    root,
    state: path.join(root, 'state.json'),
    certs: path.join(root, 'certificates'),
    raft: path.join(root, 'raft'),
    worker: path.join(root, 'worker'),
    dataKey: path.join(root, 'data-key.json'),
  };
}

export interface SwarmState {
  nodeId: string;
  clusterId: string;
  role: 'manager' | 'worker';
  /** Raft member id (managers). */
  raftId: number;
  /** host:port this node's gRPC endpoint listens on (managers). */
  listenAddr: string;
  /** host:port other nodes reach this one at. */
  advertiseAddr: string;
  /** host:port of the managers the agent starts from. */
  managers: string[];
}

export async function loadSwarmState(file: string): Promise<SwarmState | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const s = JSON.parse(text) as SwarmState;
    if (typeof s.nodeId !== 'string' || typeof s.clusterId !== 'string' || !Array.isArray(s.managers))
      throw new Error('missing fields');
    return s;
  } catch (e) {
    throw new ShoalError('internal', `${file}: not a valid swarm state file (${(e as Error).message})`);
  }
}

export async function saveSwarmState(file: string, s: SwarmState): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  const fh = await fs.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(s, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
}

/** A raft member id: random, non-zero, within a JS safe integer. */
export const newRaftId = (): number => randomInt(1, 2 ** 47);

/** "ADDR[:PORT]" (IPv4, [IPv6] or a host name) → host and port, the port defaulting to `defaultPort`. */
export function parseHostPort(
  value: string,
  field: string,
  defaultPort = SWARM_PORT,
): { host: string; port: number } {
  const v = value.trim();
  let host = v;
  let port = defaultPort;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(v) ?? /^([^:]+)(?::(\d+))?$/.exec(v);
  if (m) {
    host = m[1];
    if (m[2] !== undefined) port = Number(m[2]);
  } else if (isIP(v) !== 6) {
    throw new ShoalError('invalid_argument', `${field}: invalid address "${value}" (want ADDR[:PORT])`, {
      field,
    });
  }
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new ShoalError('invalid_argument', `${field}: invalid address "${value}" (want ADDR[:PORT])`, {
      field,
    });
  return { host, port };
}

export const joinHostPort = (host: string, port: number) =>
  isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
