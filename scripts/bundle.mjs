// Bundles each entry point into one ESM file under dist/: one file to read means a fast CLI start-up.
import { existsSync } from 'node:fs';
import { build } from 'esbuild';

const entries = {
  shoal: 'cli/main.ts',
  shoald: 'daemon/main.ts',
  'shoald-sim': 'daemon/sim-main.ts',
};

for (const [name, entry] of Object.entries(entries)) {
  if (!existsSync(entry)) {
    console.warn(`bundle: ${entry} does not exist yet, skipping ${name}`);
    continue;
  }
  await build({
    entryPoints: [entry],
    outfile: `dist/${name}.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    packages: 'external',
    logLevel: 'warning',
  });
}
