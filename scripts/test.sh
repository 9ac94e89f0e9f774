#!/usr/bin/env bash
# `npm test`: the typecheck and the lint run beside the tests rather than before them, so that the whole run
# fits in 90 s on 2 cores. Their output shows only when they fail; a passing run ends with the tests' summary.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

node_modules/.bin/tsc --noEmit -p tsconfig.json >"$out/typecheck" 2>&1 &
typecheck=$!
node_modules/.bin/eslint . >"$out/lint" 2>&1 &
lint=$!

status=0
# The package's own test packs and installs it into consumer apps: `npm run test:package`.
node_modules/.bin/vitest run --exclude test/package-entry.test.ts "$@" || status=1

for check in typecheck lint; do
  if wait "${!check}"; then
    echo "$check: passed"
  else
    echo "$check: FAILED"
    cat "$out/$check"
    status=1
  fi
done
exit "$status"
