#!/usr/bin/env bash
# Side-by-side step throughput of two builds: the working tree and a git
# revision, run alternately on the same machine in one call.
#
#   bash bench/before_after.sh REV [ROUNDS] [bench_step key=value...]
#   BUILD=/tmp/bd bash bench/before_after.sh REV   # the working tree's build directory (default build)
#
# Builds bench_step at REV in a temporary worktree (Release) and the working
# tree's build/bench_step, then runs them alternately ROUNDS times (default
# 5) and prints the median NTP and JEPA tokens/s of each and the ratio.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REV=${1:?usage: bench/before_after.sh REV [ROUNDS] [key=value...]}
ROUNDS=${2:-5}
shift $(( $# >= 2 ? 2 : 1 ))
WT=$(mktemp -d /tmp/bench_before.XXXXXX)
trap 'git worktree remove --force "$WT" >/dev/null 2>&1 || true; rm -rf "$WT"' EXIT
git worktree add --detach "$WT" "$REV" >/dev/null 2>&1
cmake -S "$WT" -B "$WT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$WT/build" -j "$(nproc)" --target bench_step >/dev/null
BUILD=${BUILD:-build}
cmake --build "$BUILD" -j "$(nproc)" --target bench_step >/dev/null
: > "$WT/before.txt"; : > "$WT/after.txt"
for r in $(seq "$ROUNDS"); do
  "$WT/build/bench_step" "$@" 2>/dev/null | awk '/^## NTP step/ {n=$6} /^## JEPA step/ {j=$6} END {print n, j}' >> "$WT/before.txt"
  "$BUILD/bench_step" "$@" 2>/dev/null | awk '/^## NTP step/ {n=$6} /^## JEPA step/ {j=$6} END {print n, j}' >> "$WT/after.txt"
  echo "round $r/$ROUNDS: before $(tail -1 "$WT/before.txt"), after $(tail -1 "$WT/after.txt") (NTP, JEPA tokens/s)" >&2
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
bn=$(cut -d' ' -f1 "$WT/before.txt" | median); bj=$(cut -d' ' -f2 "$WT/before.txt" | median)
an=$(cut -d' ' -f1 "$WT/after.txt" | median); aj=$(cut -d' ' -f2 "$WT/after.txt" | median)
echo "| build | NTP tokens/s | JEPA tokens/s |"
echo "|---|---:|---:|"
echo "| $REV (before) | $bn | $bj |"
echo "| working tree (after) | $an | $aj |"
awk -v bn="$bn" -v an="$an" -v bj="$bj" -v aj="$aj" 'BEGIN {printf "| after / before | %.3f | %.3f |\n", an / bn, aj / bj}'
