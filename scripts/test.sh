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
# Two tests run on their own: the package's packs and installs it into consumer apps (`npm run test:package`),
# and the cdk deploy test runs the CDK CLI against moto (`npm run test:deploy`).
node_modules/.bin/vitest run --project handlers --project infrastructure "$@" || status=1

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
