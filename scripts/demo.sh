#!/usr/bin/env bash
# Quick start 1: set up, build, run the demo grid (NTP vs LLM-JEPA on
# NL-RX-SYNTH, 5 seeds each) and print its report. Resumes if interrupted.
#
#   bash scripts/demo.sh [GRID]            # results under results/local (git-ignored)
#   RESULTS=results bash scripts/demo.sh   # into the committed results: recorded runs are skipped
#
# The committed results/demo/runs.csv already holds these runs, so by default the demo trains
# its own copies under results/local, and the report beside it is the committed one's to compare.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
GRID=${1:-grids/demo.grid}
RESULTS=${RESULTS:-results/local}
start=$(date +%s)
build/harness run "$GRID" --results "$RESULTS"
build/harness report "$GRID" --results "$RESULTS"
echo "demo: wall time $(( $(date +%s) - start )) s (runs in $RESULTS; the committed ones: build/harness report $GRID)"
