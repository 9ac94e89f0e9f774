#!/usr/bin/env bash
# `npm test`: the typecheck and the lint (one process, one TypeScript program: scripts/check.ts) run beside the
# tests rather than before them, so that the whole run fits in 90 s on 2 cores. Their output shows only when
# they fail; a passing run ends with the tests' summary and their two lines.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT

node_modules/.bin/tsx scripts/check.ts >"$out" 2>&1 &
check=$!

status=0
# Two tests run on their own: the package's packs and installs it into consumer apps (`npm run test:package`),
# and the CLI tests run the CDK CLI against moto and on bad settings (`npm run test:deploy`).
node_modules/.bin/vitest run --project handlers --project infrastructure "$@" || status=1

wait "$check" || status=1
cat "$out"
exit "$status"
