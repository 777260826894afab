// Bundles each entry point under dist/: few files to read means a fast start-up. The CLI is one CommonJS
// file (dist/shoal.cjs, started by bin/shoal through require): Node's ESM loader alone costs a short command
// ~20 ms of resolving, async reads and linking that CommonJS does not pay. A command's module (and the
// packages only it needs: yaml, tar, ajv…) is still loaded lazily: the dynamic imports in
// cli/commands/index.ts become deferred module initialisers, so `shoal ps` evaluates only what ps runs.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';
import { generate as generateValidators } from './gen-validators.mjs';

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
  // The CLI minified: a short command reads and hashes its whole source before it runs, and on this kind of
  // machine (a VM, where first-touched pages are dear) the read and the string cost ~10 us a KB: ~1.5 ms less
  // at 225 KB than at 370. Nothing in it reads a function's or class's name; stack traces map back through
  // the .map file (--enable-source-maps).
  shoal: { entry: 'cli/main.ts', outfile: 'dist/shoal.cjs', format: 'cjs', minify: true },
  // Daemons without comments and indentation: V8 keeps a script's whole source in memory for as long
  // as it runs (~0.5 MB less of a daemon's RSS). Stack traces map back through the .map file with
  // NODE_OPTIONS=--enable-source-maps.
  shoald: { entry: 'daemon/main.ts', outfile: 'dist/shoald.mjs', minifyWhitespace: true },
  'shoald-sim': { entry: 'daemon/sim-main.ts', outfile: 'dist/shoald-sim.mjs', minifyWhitespace: true },
};

// Left by earlier builds (the split ESM CLI).
for (const old of ['dist/chunks', 'dist/shoal.mjs', 'dist/shoal.mjs.map'])
  rmSync(old, { recursive: true, force: true });
// The daemon's request body validators, compiled from their schemas (bundled into shoald below).
await generateValidators();
for (const [name, { entry, outfile, ...options }] of Object.entries(entries)) {
  if (!existsSync(entry)) {
    console.warn(`bundle: ${entry} does not exist yet, skipping ${name}`);
    continue;
  }
  await build({ ...common, ...options, entryPoints: [entry], outfile });
}
// Every bundle is ASCII: V8 then holds its source as a one-byte string (half the memory of a two-byte
// one), and bin/shoal reads the CLI's as latin1 (no UTF-8 decoding at start).
for (const { outfile } of Object.values(entries)) {
  if (!existsSync(outfile)) continue;
  const text = readFileSync(outfile);
  const wide = text.findIndex((b) => b > 0x7f);
  if (wide >= 0) {
    const line = text.subarray(0, wide).toString('latin1').split('\n').length;
    throw new Error(
      `bundle: ${outfile}:${line} has a non-ASCII character; write it as a \\u escape in the source`,
    );
  }
}
// a code cache made for the previous bundle would be rejected anyway; drop it
rmSync(`${entries.shoal.outfile}.v8cache`, { force: true });
