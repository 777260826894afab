// What the convergence scenarios need from a cluster under test, whichever orchestrator runs it: the
// nodes' Engine API sockets (shoald and dockerd answer the same Docker JSON), their swarm roles, and
// the means to SIGKILL and restart one node's daemon and to read the daemons' memory.
import { readFileSync } from 'node:fs';
import { ApiClient } from '../lib.js';

export type Role = 'manager' | 'worker';

export interface BedNode {
  /** m1, m2…, w1…: the same names on both beds. */
  name: string;
  /** The node's role in the swarm as formed (a manager that could not join as one is a worker). */
  role: Role;
  socket: string;
  api: ApiClient;
}

export interface Bed {
  kind: 'shoal' | 'swarm';
  nodes: BedNode[];
  /** The image reference tasks run (already on every node: nothing is pulled). */
  image: string;
  /** Why a manager-only measurement cannot run on this bed (fewer than 3 managers joined), or null. */
  managerGap: string | null;
  /** SIGKILL of the node's daemon; returns once the process is gone. Its containers keep running. */
  kill(node: string): Promise<void>;
  /** Starts the node's daemon again on the same state; returns once its API answers. */
  start(node: string): Promise<void>;
  /** Resident memory of each live node's daemon processes, MiB (node name → MiB). */
  rssMiB(): Promise<Map<string, number>>;
  /** Tears the bed down; idempotent, never throws. */
  down(): Promise<void>;
}

/** Per-call time limit: a poll must not hang on a daemon that lost its leader. */
export const CALL_TIMEOUT_MS = 5_000;

export function bedNode(name: string, role: Role, socket: string): BedNode {
  return { name, role, socket, api: new ApiClient(socket, CALL_TIMEOUT_MS) };
}

/** VmRSS of a process in MiB, or null when it is gone. */
export function vmRssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const log = (...a: unknown[]) =>
  console.error(`[${new Date().toISOString().slice(11, 23)}] converge:`, ...a);

/**
 * Once teardown begins (a signal), no daemon may be started or killed any more, and teardown waits for
 * the ones under way: a node started after `down` read its pid files would be left running.
 */
const lifecycle = { stopping: false, inflight: new Set<Promise<unknown>>() };

export function guarded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  if (lifecycle.stopping) return Promise.reject(new Error(`${what}: the benchmark is stopping`));
  const p = fn();
  lifecycle.inflight.add(p);
  const done = () => lifecycle.inflight.delete(p);
  p.then(done, done);
  return p;
}

/** Refuses further kills/starts and resolves when the ones under way have finished. */
export async function quiesce(): Promise<void> {
  lifecycle.stopping = true;
  await Promise.allSettled([...lifecycle.inflight]);
}
