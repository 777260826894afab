#!/usr/bin/env bash
# The test command: type-check, lint, then every test (unit, integration, end-to-end) in one vitest run.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
bash test/fixtures/make-fixtures.sh >/dev/null
npx tsc --noEmit -p .
npx biome check . >/dev/null || { npx biome check . | tail -40; exit 1; }
exec npx vitest run "$@"
