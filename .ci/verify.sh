#!/usr/bin/env bash
# The reproducibility check CI runs on every change (and .github/workflows/nightly.yml every
# night): `harness verify` runs grids/nightly.grid into a temporary directory and compares every
# run with results/nightly/reference.csv. Prints the Markdown verdict and keeps it in
# $VERIFY_OUT (default build/verify.md); exits 1 when a run differs. Builds first if
# build/harness is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x build/harness ] || bash scripts/setup.sh
out=${VERIFY_OUT:-build/verify.md}
start=$(date +%s)
build/harness verify grids/nightly.grid -j "$(nproc)" | tee "$out"
echo "verify: passed in $(($(date +%s) - start)) s; verdict in $out"
