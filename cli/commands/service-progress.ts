// Convergence progress of `service create|update|scale` without -d, as the docker CLI renders it:
// it polls GET /services/{ref}, GET /tasks?filters={"_up-to-date":…,"service":…} and GET /nodes,
// counts the newest task per slot (per node for global services) on nodes that are not down, and
// once all run, waits a verify window before "Service … converged". On a TTY the lines are redrawn
// in place with progress bars; otherwise each line is printed when its text changes.
// shoal's verify window is min(UpdateConfig.Monitor, 1 s) where docker waits the full Monitor (5 s).
import type { Cli } from '../context.js';
import type { NodeJson, ServiceJson, TaskJson } from './swarm-format.js';

const NUMBERED: Record<string, number> = {
  new: 1,
  allocated: 2,
  pending: 3,
  assigned: 4,
  accepted: 5,
  preparing: 6,
  ready: 7,
  starting: 8,
  running: 9,
};
const MAX_STATE = 9;
const LONGEST_STATE = Math.max(...Object.keys(NUMBERED).map((s) => s.length));

export interface ProgressLine {
  id: string;
  /** The state name (padded), an error, or "" before a task exists. */
  action: string;
  /** 0..MAX_STATE for a bar; undefined for no bar. */
  current?: number;
}

export interface Snapshot {
  lines: ProgressLine[];
  running: number;
  total: number;
  converged: boolean;
  /** Set when the rollout stopped (update paused): the command fails with it. */
  error?: string;
}

/** The newest relevant task per key (slot or node), as docker's tasksBySlot/tasksByNode choose it. */
function newestPer(
  tasks: TaskJson[],
  key: (t: TaskJson) => string,
  activeNodes: Set<string>,
): Map<string, TaskJson> {
  const out = new Map<string, TaskJson>();
  for (const t of tasks) {
    if (!NUMBERED[t.DesiredState] || !NUMBERED[t.Status.State]) continue;
    if (t.NodeID && !activeNodes.has(t.NodeID)) continue;
    const k = key(t);
    const cur = out.get(k);
    if (cur) {
      if (NUMBERED[cur.DesiredState] > NUMBERED[t.DesiredState]) continue;
      if (
        NUMBERED[cur.DesiredState] === NUMBERED[t.DesiredState] &&
        NUMBERED[cur.Status.State] >= NUMBERED[t.Status.State]
      )
        continue;
    }
    out.set(k, t);
  }
  return out;
}

function taskLine(id: string, t: TaskJson | undefined): ProgressLine {
  if (!t) return { id, action: '' };
  if (t.Status.Err) return { id, action: t.Status.Err.split('\n')[0] };
  return { id, action: t.Status.State.padEnd(LONGEST_STATE), current: NUMBERED[t.Status.State] };
}

export function snapshot(service: ServiceJson, tasks: TaskJson[], nodes: NodeJson[]): Snapshot {
  const state = service.UpdateStatus?.State;
  if (state === 'paused' || state === 'rollback_paused') {
    const what = state === 'paused' ? 'update' : 'rollback';
    return {
      lines: [],
      running: 0,
      total: 0,
      converged: false,
      error: `service ${what} paused: ${service.UpdateStatus?.Message ?? ''}`,
    };
  }
  const active = new Set(nodes.filter((n) => n.Status?.State !== 'down').map((n) => n.ID));
  const lines: ProgressLine[] = [];
  let running = 0;
  let total: number;
  if (service.Spec.Mode?.Global) {
    const byNode = newestPer(tasks, (t) => t.NodeID ?? '', active);
    total = byNode.size;
    for (const [node, t] of [...byNode].sort(([a], [b]) => a.localeCompare(b))) {
      if (t.Status.State === 'running') running++;
      lines.push(taskLine(node.slice(0, 12), t));
    }
  } else {
    total = service.Spec.Mode?.Replicated?.Replicas ?? 1;
    const bySlot = newestPer(tasks, (t) => String(t.Slot ?? 0), active);
    for (let i = 1; i <= total; i++) {
      const t = bySlot.get(String(i));
      if (t?.Status.State === 'running') running++;
      lines.push(taskLine(`${i}/${total}`, t));
    }
  }
  // A global service with no task yet is not converged: its orchestrator has not placed one per node yet
  // (the first poll after create usually comes before it has).
  const started = total > 0 || !service.Spec.Mode?.Global;
  return { lines, running, total, converged: started && running === total, error: undefined };
}

/** docker's progress bar at full width: "[=====>    ] ". */
export function bar(current: number, total = MAX_STATE): string {
  const filled = Math.floor((current / total) * 50);
  return `[${'='.repeat(filled)}>${' '.repeat(50 - filled)}]`;
}

/** Keeps the printed block: redraws it on a TTY, prints changed lines otherwise. */
export class ProgressWriter {
  private readonly order: string[] = [];
  private readonly texts = new Map<string, string>();
  private drawn = 0;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly tty: boolean,
  ) {}

  update(id: string, action: string, current?: number): void {
    const text = this.tty && current !== undefined ? `${action} ${bar(current)} ` : action;
    if (!this.texts.has(id)) this.order.push(id);
    const changed = this.texts.get(id) !== text;
    this.texts.set(id, text);
    if (!this.tty && changed) this.out.write(`${id}: ${text}`.trimEnd() + '\n');
  }

  /** On a TTY: rewrites the whole block in place. */
  flush(): void {
    if (!this.tty) return;
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const id of this.order) s += `\x1b[2K\r${id}: ${this.texts.get(id)}\n`;
    this.drawn = this.order.length;
    this.out.write(s);
  }
}

export interface WaitOptions {
  quiet: boolean;
  tty: boolean;
  pollMs?: number;
  verifyCapMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls until the service converged; throws the daemon's error or the rollout's pause message. Follows the
 * rollout as docker's does: a rollback announces itself ("rollback: <message>") and counts "rolling back
 * update: n out of m tasks"; a rollout the daemon marks completed before the tasks were seen converged ends
 * quietly; a completed rollback's message follows "Service … converged".
 */
export async function waitForConvergence(cli: Cli, ref: string, opts: WaitOptions): Promise<void> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? defaultSleep;
  const sink = opts.quiet ? { write: () => true } : cli.out;
  const w = new ProgressWriter(sink as NodeJS.WritableStream, opts.tty);
  let convergedAt: number | undefined;
  let converged = false;
  let rollback = false;
  let closing: string | undefined;
  for (;;) {
    const service = await cli.client.get<ServiceJson>(`/services/${encodeURIComponent(ref)}`, {
      insertDefaults: 'false',
    });
    const window =
      Math.min(service.Spec.UpdateConfig?.Monitor ?? 5e9, (opts.verifyCapMs ?? 1000) * 1e6) / 1e6;
    const u = service.UpdateStatus;
    switch (u?.State) {
      case 'updating':
        rollback = false;
        break;
      case 'completed':
        if (!converged) {
          w.flush();
          return;
        }
        break;
      case 'rollback_started':
        if (!rollback && u.Message) w.update('rollback', u.Message);
        rollback = true;
        break;
      case 'rollback_completed':
        if (!converged) closing = u.Message;
        rollback = true;
        break;
    }
    if (converged && convergedAt !== undefined && now() - convergedAt >= window) {
      w.update('verify', `Service ${ref} converged`);
      if (closing) w.update('rollback', closing);
      w.flush();
      return;
    }
    const filters = JSON.stringify({ '_up-to-date': { true: true }, service: { [service.ID]: true } });
    const tasks = await cli.client.get<TaskJson[]>('/tasks', { filters });
    const nodes = await cli.client.get<NodeJson[]>('/nodes');
    const snap = snapshot(service, tasks, nodes);
    if (snap.error) throw new Error(snap.error);
    const counted = `${snap.running} out of ${snap.total} tasks`;
    w.update('overall progress', rollback ? `rolling back update: ${counted}` : counted);
    for (const line of snap.lines) w.update(line.id, line.action, line.current);
    converged = snap.converged;
    if (converged) {
      convergedAt ??= now();
      const left = window - (now() - convergedAt);
      w.update(
        'verify',
        `Waiting ${Math.max(1, Math.ceil(left / 1000))} seconds to verify that tasks are stable...`,
      );
    } else if (convergedAt !== undefined) {
      convergedAt = undefined;
      w.update('verify', 'Detected task failure');
    }
    w.flush();
    await sleep(opts.pollMs ?? 200);
  }
}
