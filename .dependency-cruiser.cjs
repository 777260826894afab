// The architecture rules of DESIGN.md, checked in CI (`npm run lint:deps`, part of `npm test`).
// Each rule names the rule of the design it keeps; a violation fails the build with the offending import.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'manager-not-worker',
      comment: 'Manager and worker meet only through proto types: nothing in manager imports worker.',
      severity: 'error',
      from: { path: '^manager/' },
      to: { path: '^worker/' },
    },
    {
      name: 'worker-not-manager',
      comment: 'Manager and worker meet only through proto types: nothing in worker imports manager.',
      severity: 'error',
      from: { path: '^worker/' },
      to: { path: '^manager/' },
    },
    {
      name: 'cli-talks-http-only',
      comment: 'The CLI imports only common/ (and itself); it reaches the daemon over HTTP.',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^(daemon|manager|worker|native|proto)/' },
    },
    {
      name: 'only-engine-touches-native',
      comment:
        'Only the worker reaches the native addon, through worker/engine/native.ts (tests of the engine may too).',
      severity: 'error',
      from: { pathNot: '^(worker|test)/|\\.test\\.ts$' },
      to: { path: '^(native/|worker/engine/native\\.ts$)' },
    },
    {
      name: 'raft-knows-nothing-above',
      comment: 'manager/raft is a library: it knows nothing of the store, the orchestrator or shoald.',
      severity: 'error',
      from: { path: '^manager/raft/' },
      to: { path: '^(manager/(?!raft/)|daemon/|worker/|cli/)' },
    },
    {
      name: 'common-is-pure-and-shared',
      comment: 'common/ is what every side needs: it imports none of them.',
      severity: 'error',
      from: { path: '^common/' },
      to: { path: '^(cli|daemon|manager|worker|native)/' },
    },
    {
      name: 'only-daemon-composes',
      comment: 'The daemon composes manager and worker; nothing below it imports the daemon.',
      severity: 'error',
      from: { path: '^(manager|worker|common|proto)/' },
      to: { path: '^daemon/' },
    },
    {
      name: 'no-test-code-in-production',
      comment: 'Production code never imports test harnesses or fixtures.',
      severity: 'error',
      from: {
        path: '^(cli|daemon|manager|worker|common)/',
        pathNot: '\\.test\\.ts$|/sim/|/lincheck/|/testkit\\.ts$',
      },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve is a broken build waiting to happen.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|native/build|proto/gen)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    // packages' subpath exports (@bufbuild/protobuf/wire) resolve as Node resolves them for ESM
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
  },
};
