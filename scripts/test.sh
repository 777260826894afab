#!/usr/bin/env bash
# The test command: build, type-check, lint, then every test (unit, integration, end-to-end) in one vitest
# run and the cgroup v2 bed (test/cgroup2/), closing with one plain "N passed, N failed, N skipped" line.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
bash test/fixtures/make-fixtures.sh >/dev/null
npx tsc --noEmit -p .
npx biome check . >/dev/null 2>&1 || { npx biome check . 2>&1 | tail -40; exit 1; }
npm run --silent lint:deps

report="$(mktemp -t shoal-vitest-XXXXXX.json)"
bed="$(mktemp -t shoal-cgroup2-XXXXXX.log)"
trap 'rm -f "$report" "$bed"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
counts="$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(r.numPassedTests, r.numFailedTests, r.numPendingTests + r.numTodoTests);
' "$report" 2>/dev/null || echo "0 1 0")"
read -r passed failed skipped <<<"$counts"

# A full run (no vitest arguments) adds the cgroup v2 bed (test/cgroup2/: a qemu VM, about a minute); its
# checks count in the closing line with the tests'.
if [ $# -eq 0 ]; then
  bash test/cgroup2/run.sh 2>&1 | tee "$bed" || status=1
  if line="$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$bed" | tail -1)"; then
    read -r p _ f _ s _ <<<"$line"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  else
    failed=$((failed + 1)) status=1
  fi
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$status"
