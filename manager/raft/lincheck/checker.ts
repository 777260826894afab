/**
 * Linearizability checking after Wing & Gong with Lowe's memoization (the approach of Porcupine): search for
 * an order of operations that respects real time and the sequential model, caching (linearized set, state)
 * pairs already explored so equivalent branches are cut.
 */

export interface Operation<I, O> {
  clientId: number;
  input: I;
  /** Invocation time. */
  call: number;
  /** Response time; Infinity when the client never learned the outcome (timeout, crash). */
  return: number;
  /** undefined when the outcome is unknown: the model must accept any outcome. */
  output: O | undefined;
}

export interface Model<S, I, O> {
  init(): S;
  /** Whether applying input in state s can produce output; and the state after. */
  step(s: S, input: I, output: O | undefined): [boolean, S];
  /** A canonical key of a state, for memoization. */
  key(s: S): string;
  /** Split a history into independent sub-histories (e.g. per key): each is checked on its own. */
  partition?(ops: Operation<I, O>[]): Operation<I, O>[][];
}

export type CheckResult =
  | { linearizable: true }
  | { linearizable: false /** The sub-history that has no linearization. */; ops: number[] }
  | { linearizable: 'unknown'; reason: string };

interface Node {
  op: number; // index in ops
  isCall: boolean;
  time: number;
  match?: Node; // call → its return
  prev?: Node;
  next?: Node;
}

function buildList(times: { call: number; ret: number }[]): Node {
  const events: Node[] = [];
  times.forEach((t, op) => {
    const call: Node = { op, isCall: true, time: t.call };
    const ret: Node = { op, isCall: false, time: t.ret };
    call.match = ret;
    events.push(call, ret);
  });
  // Calls before returns at equal times: touching operations count as concurrent.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Node = { op: -1, isCall: false, time: -Infinity };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return head;
}

function unlink(n: Node): void {
  n.prev!.next = n.next;
  if (n.next) n.next.prev = n.prev;
}

function relink(n: Node): void {
  n.prev!.next = n;
  if (n.next) n.next.prev = n;
}

/** Checks one independent history. maxSteps bounds the search (the problem is NP-complete). */
function checkSingle<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  maxSteps: number,
): boolean | 'unknown' {
  const head = buildList(ops.map((o) => ({ call: o.call, ret: o.return })));
  let state = model.init();
  let linearized = 0n;
  const cache = new Set<string>();
  const stack: { node: Node; state: S }[] = [];
  let node = head.next;
  let steps = 0;
  while (head.next) {
    if (++steps > maxSteps) return 'unknown';
    if (!node) return false; // cannot happen: a return always precedes the end
    if (node.isCall) {
      const op = ops[node.op];
      const [ok, next] = model.step(state, op.input, op.output);
      if (ok) {
        const lin = linearized | (1n << BigInt(node.op));
        const key = `${lin.toString(36)}|${model.key(next)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ node, state });
          state = next;
          linearized = lin;
          unlink(node);
          unlink(node.match!);
          node = head.next;
          continue;
        }
      }
      node = node.next;
    } else {
      // An operation returned before any order could place it: backtrack.
      const top = stack.pop();
      if (!top) return false;
      relink(top.node.match!);
      relink(top.node);
      linearized &= ~(1n << BigInt(top.node.op));
      state = top.state;
      node = top.node.next;
    }
  }
  return true;
}

export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  maxSteps = 5_000_000,
): CheckResult {
  for (const [i, o] of history.entries()) {
    if (!(o.call <= o.return))
      throw new RangeError(`history[${i}]: return ${o.return} before call ${o.call}`);
  }
  const parts = model.partition ? model.partition(history) : [history];
  for (const part of parts) {
    const r = checkSingle(model, part, maxSteps);
    if (r === 'unknown') return { linearizable: 'unknown', reason: `search exceeded ${maxSteps} steps` };
    if (!r) return { linearizable: false, ops: part.map((o) => history.indexOf(o)) };
  }
  return { linearizable: true };
}
