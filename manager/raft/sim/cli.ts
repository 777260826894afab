// npm run raft:sim -- --seeds N [--from S] [--nodes 3|5] [--steps K] [--verbose]
//   test-the-tester flags: [--lying-disk N] (fsync is a no-op except every N-th) [--no-durability-check]
import { runSeed } from './run.js';

function parseArgs(argv: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[key] = true;
    else {
      out[key] = next;
      i++;
    }
  }
  return out;
}

function intArg(args: Record<string, string | boolean>, name: string, def: number, min: number): number {
  const v = args[name];
  if (v === undefined) return def;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`--${name}: must be an integer >= ${min}, got ${String(v)}`);
  }
  return n;
}

function main(): number {
  let args: Record<string, string | boolean>;
  let seeds: number;
  let from: number;
  let nodes: number;
  let steps: number;
  let lie: number;
  try {
    args = parseArgs(process.argv.slice(2));
    const known = new Set([
      'seeds',
      'from',
      'nodes',
      'steps',
      'verbose',
      'lying-disk',
      'no-durability-check',
    ]);
    for (const k of Object.keys(args)) if (!known.has(k)) throw new Error(`unknown option --${k}`);
    seeds = intArg(args, 'seeds', 100, 1);
    from = intArg(args, 'from', 1, 0);
    nodes = intArg(args, 'nodes', 3, 1);
    if (nodes !== 3 && nodes !== 5) throw new Error(`--nodes: must be 3 or 5, got ${nodes}`);
    steps = intArg(args, 'steps', 600, 1);
    lie = intArg(args, 'lying-disk', 0, 0);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const verbose = args.verbose === true;
  const started = Date.now();
  let totalSteps = 0;
  let acked = 0;
  const totals: Record<string, number> = {};
  const failures: { seed: number; kind: string; step: number; detail: string }[] = [];
  for (let seed = from; seed < from + seeds; seed++) {
    const r = runSeed({
      seed,
      nodes,
      steps,
      verbose,
      lyingDiskEvery: lie || undefined,
      checkDurability: args['no-durability-check'] !== true,
    });
    totalSteps += r.steps;
    acked += r.acked;
    for (const k of ['earlyMessages', 'earlyApplies', 'writeFaults', 'crashes', 'snapshotsMade'])
      totals[k] = (totals[k] ?? 0) + (r.stats[k] ?? 0);
    if (r.violation) {
      const v = r.violation;
      failures.push({ seed, kind: v.kind, step: v.step, detail: v.detail.split('\n')[0] });
      console.log(`seed ${seed}: ${v.kind} at step ${v.step}: ${v.detail}`);
      const extra =
        (lie ? ` --lying-disk ${lie}` : '') + (args['no-durability-check'] ? ' --no-durability-check' : '');
      console.log(
        `  replay: npm run raft:sim -- --seeds 1 --from ${seed} --nodes ${nodes} --steps ${steps}${extra} --verbose`,
      );
    }
  }
  const summary = {
    seeds,
    from,
    nodes,
    steps: totalSteps,
    acked,
    violations: failures.length,
    ...totals,
    failures: failures.slice(0, 20),
    ms: Date.now() - started,
  };
  console.log(JSON.stringify(summary));
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = main();
