// `npm run bench -- lb [--services N] [--backends M] [--changes K]`: how long a backend change takes to
// reach the kernel through the nftables load balancer (worker/network/lb), measured in a network
// namespace of its own with N services of M backends each. `LbController.update` resolves once nft has
// committed the transaction, i.e. once new connections use the new backend set. Root only.
// Figures: apply_ms_p50/p95/max (one backend leaving or joining one service: one map + one rule, plus
// conntrack forgetting the leaver's UDP flows), nft_ms_p50/p95 (the nft transaction alone),
// sync_ms (the whole state from scratch, as on start), script_bytes (the update's size).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  type Backend,
  buildLbUpdate,
  LbController,
  type LbState,
  nftCommand,
} from '../../worker/network/lb/index.js';
import { percentile, round } from './lib.js';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '100' },
    backends: { type: 'string', default: '10' },
    changes: { type: 'string', default: '50' },
  },
});
const services = Number(values.services);
const perService = Number(values.backends);
const changes = Number(values.changes);

const netns = `lbbench${randomBytes(3).toString('hex')}`;
const table = { family: 'inet' as const, name: 'shoalbench' };

const backendsOf = (i: number, n: number): Backend[] =>
  Array.from({ length: n }, (_, j) => ({
    address: `10.${100 + (i >> 8)}.${i & 255}.${j + 2}`,
    local: j % 2 === 0,
  }));

const stateWith = (first: Backend[]): LbState => ({
  services: Array.from({ length: services }, (_, i) => ({
    id: `svc${i}`,
    vip: `10.99.${i >> 8}.${(i & 255) + 1}`,
    ports: [
      { protocol: 'tcp' as const, port: 80 },
      { protocol: 'udp' as const, port: 53 },
    ],
    backends: i === 0 ? first : backendsOf(i, perService),
  })),
  published: [{ protocol: 'tcp', published: 8080, target: 80, mode: 'ingress', backends: first }],
  hairpinSubnets: ['10.100.0.0/16'],
});

async function main() {
  execFileSync('ip', ['netns', 'add', netns]);
  try {
    const prefix = ['nsenter', `--net=/run/netns/${netns}`, '--'];
    execFileSync(prefix[0], [...prefix.slice(1), 'nft', 'add', 'table', table.family, table.name]);
    // Time the nft transaction alone too: `update` also runs conntrack when a backend leaves.
    const nft = nftCommand({ prefix });
    const nftSamples: number[] = [];
    const timed = {
      ...nft,
      run: async (script: string) => {
        const t = performance.now();
        await nft.run(script);
        nftSamples.push(performance.now() - t);
      },
    };
    const lb = new LbController(table, timed);
    const full = backendsOf(0, perService);
    const t0 = performance.now();
    await lb.sync(stateWith(full));
    const syncMs = performance.now() - t0;
    const samples: number[] = [];
    let current = stateWith(full);
    let bytes = 0;
    for (let k = 0; k < changes; k++) {
      // Alternate: one backend leaves, then comes back.
      const next = stateWith(k % 2 === 0 ? full.filter((_, j) => j !== k % perService) : full);
      bytes = Math.max(bytes, buildLbUpdate(table, current, next).length);
      const t = performance.now();
      await lb.update(next);
      samples.push(performance.now() - t);
      current = next;
    }
    process.stderr.write(`samples (ms): ${samples.map((s) => s.toFixed(1)).join(' ')}\n`);
    console.log(
      JSON.stringify({
        bench: 'lb',
        services,
        backends_per_service: perService,
        changes,
        apply_ms_p50: round(percentile(samples, 50)),
        apply_ms_p95: round(percentile(samples, 95)),
        apply_ms_max: round(Math.max(...samples)),
        nft_ms_p50: round(percentile(nftSamples.slice(1), 50)),
        nft_ms_p95: round(percentile(nftSamples.slice(1), 95)),
        sync_ms: round(syncMs),
        script_bytes: bytes,
      }),
    );
  } finally {
    execFileSync('ip', ['netns', 'del', netns]);
  }
}

await main();
