#!/usr/bin/env bash
# Builds the native addon and runtime. Incremental: `node-gyp configure` only when there is no Makefile or
# binding.gyp changed since, then make through `node-gyp build`, so a second `npm run build` (the test
# command after setup) recompiles nothing that did not change.
set -euo pipefail
cd "$(dirname "$0")/../native"
if [ ! -f build/Makefile ] || [ binding.gyp -nt build/Makefile ] || [ "${SHOAL_NATIVE_REBUILD:-}" = 1 ]; then
  npx --no-install node-gyp configure --loglevel=warn
fi
npx --no-install node-gyp build -j 2 --loglevel=warn
