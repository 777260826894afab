// Bundles each entry point under dist/: few files to read means a fast start-up. The CLI is split: a
// command's module (and the packages only it needs: yaml, tar, ajv…) is a chunk of its own, loaded by
// the dynamic import in cli/commands/index.ts, so `shoal ps` reads and compiles only what ps runs.
import { existsSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  packages: 'external',
  logLevel: 'warning',
};

const entries = {
  shoal: { entry: 'cli/main.ts', split: true },
  shoald: { entry: 'daemon/main.ts' },
  'shoald-sim': { entry: 'daemon/sim-main.ts' },
};

rmSync('dist/chunks', { recursive: true, force: true });
for (const [name, { entry, split }] of Object.entries(entries)) {
  if (!existsSync(entry)) {
    console.warn(`bundle: ${entry} does not exist yet, skipping ${name}`);
    continue;
  }
  if (split) {
    await build({
      ...common,
      entryPoints: { [name]: entry },
      outdir: 'dist',
      outExtension: { '.js': '.mjs' },
      splitting: true,
      chunkNames: `chunks/${name}-[name]-[hash]`,
    });
  } else {
    await build({ ...common, entryPoints: [entry], outfile: `dist/${name}.mjs` });
  }
}
