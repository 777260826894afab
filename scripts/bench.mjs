// `npm run bench -- NAME`: runs test/bench/NAME.ts; the benchmark prints one JSON object on its last line.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const name = process.argv[2];
const file = `test/bench/${name}.ts`;
if (!name || !existsSync(file)) {
  const known = existsSync('test/bench')
    ? readdirSync('test/bench')
        .filter((f) => f.endsWith('.ts') && !f.includes('/'))
        .map((f) => f.replace(/\.ts$/, ''))
    : [];
  console.error(`usage: npm run bench -- NAME   (known: ${known.join(', ') || 'none'})`);
  process.exit(2);
}
const r = spawnSync('npx', ['tsx', file, ...process.argv.slice(3)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
