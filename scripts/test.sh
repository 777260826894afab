#!/usr/bin/env bash
# The test command: build, type-check, lint, then every test (unit, integration, end-to-end) in one vitest
# run, closing with one plain "N passed, N failed, N skipped" line.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
bash test/fixtures/make-fixtures.sh >/dev/null
npx tsc --noEmit -p .
npx biome check . >/dev/null 2>&1 || { npx biome check . 2>&1 | tail -40; exit 1; }
npm run --silent lint:deps

report="$(mktemp -t shoal-vitest-XXXXXX.json)"
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$report" 2>/dev/null || true
exit "$status"
