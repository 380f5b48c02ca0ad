#!/usr/bin/env bash
# Quick start 1: set up, build, run the demo grid (NTP vs LLM-JEPA on
# NL-RX-SYNTH, 5 seeds each) and print its report. Resumes if interrupted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
GRID=${1:-grids/demo.grid}
start=$(date +%s)
build/harness run "$GRID" -j "$(nproc)"
build/harness report "$GRID"
echo "demo: wall time $(( $(date +%s) - start )) s"
