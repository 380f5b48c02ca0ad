#!/usr/bin/env bash
# Copy the checkpoint of one finished grid run into models/ (a shipped model that grids start
# from with init = models/NAME) and record its content hashes in SHA256SUMS.
#   bash scripts/ship_base.sh [--force]                  grids/base.grid's run -> models/nlrx_base_nano
#   bash scripts/ship_base.sh GRID ARM DEST [--force]    the run of arm ARM of grids/GRID.grid -> DEST
#                                                        e.g. paraphrase ntp models/paraphrase_ntp_nano
# Run after `build/harness run grids/GRID.grid`. Without arguments the one finished run under
# results/base/runs is shipped; with GRID ARM, the one finished run (DONE saying ok) whose run_id
# results/GRID/runs.csv records with arm ARM. When a shipped copy exists and differs, says so
# and keeps the old one unless --force: a model that moves changes the run_id of every run
# recorded from it (init's content hash is part of the run identity).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GRID=base ARM='' DEST=models/nlrx_base_nano FORCE=''
case $# in
    0) ;;
    1) [ "$1" = "--force" ] || { echo "ship_base: expected --force or GRID ARM DEST [--force], got '$1'" >&2; exit 2; }
       FORCE=1 ;;
    3|4) GRID=$1 ARM=$2 DEST=$3
         [ $# -eq 3 ] || [ "$4" = "--force" ] || { echo "ship_base: expected --force after DEST, got '$4'" >&2; exit 2; }
         [ $# -eq 3 ] || FORCE=1 ;;
    *) echo "ship_base: usage: ship_base.sh [--force] | ship_base.sh GRID ARM DEST [--force]" >&2; exit 2 ;;
esac
RUNS=results/$GRID/runs
WHAT="under $RUNS"
if [ -z "$ARM" ]; then
    runs=("$RUNS"/*/DONE)
    [ -e "${runs[0]}" ] || runs=()
else
    WHAT="of arm $ARM under $RUNS"
    [ -f "results/$GRID/runs.csv" ] || { echo "ship_base: no results/$GRID/runs.csv (run: build/harness run grids/$GRID.grid)" >&2; exit 1; }
    # the run_ids results/GRID/runs.csv records with this arm, each once; run_id, grid and arm
    # are its first columns and never hold a comma or a quote (hex digits, grid and arm names)
    idlist=$(awk -F, -v arm="$ARM" '
        NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "run_id") r = i; if ($i == "arm") a = i }; next }
        r && a && $a == arm && !seen[$r]++ { print $r }' "results/$GRID/runs.csv")
    runs=()
    while IFS= read -r id; do # a finished run whose DONE says ok (not diverged)
        if [ -n "$id" ] && [ -f "$RUNS/$id/DONE" ] && [ "$(cat "$RUNS/$id/DONE")" = ok ]; then
            runs+=("$RUNS/$id/DONE")
        fi
    done <<< "$idlist"
fi
[ "${#runs[@]}" -gt 0 ] || { echo "ship_base: no finished run $WHAT (run: build/harness run grids/$GRID.grid)" >&2; exit 1; }
[ "${#runs[@]}" -eq 1 ] || { echo "ship_base: ${#runs[@]} finished runs $WHAT, expected 1" >&2; exit 1; }
run=$(dirname "${runs[0]}")
src=$run/checkpoint
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$src/config.json" "$src/model.safetensors" "$tmp/"
(cd "$tmp" && sha256sum config.json model.safetensors > SHA256SUMS)
if [ -f "$DEST/SHA256SUMS" ]; then
    if cmp -s "$DEST/SHA256SUMS" "$tmp/SHA256SUMS"; then
        echo "ship_base: $DEST is identical to run $(basename "$run") (bit-for-bit reproduced)"
        exit 0
    fi
    if [ "$(grep model.safetensors "$DEST/SHA256SUMS")" = "$(grep model.safetensors "$tmp/SHA256SUMS")" ]; then
        # config.json records every config key of the build that wrote it: a build with keys
        # added since (each at its neutral value) writes more of them, with the same weights.
        echo "ship_base: run $(basename "$run") reproduced the weights (model.safetensors) bit for bit;" \
             "config.json differs:" >&2
        diff <(python3 -m json.tool --sort-keys "$DEST/config.json") \
             <(python3 -m json.tool --sort-keys "$tmp/config.json") >&2 || true
        echo "ship_base: kept the shipped copy (its content hash is part of every fine-tuning run's identity)" >&2
        exit 0
    fi
    echo "ship_base: run $(basename "$run") differs from the shipped $DEST:" >&2
    diff "$DEST/SHA256SUMS" "$tmp/SHA256SUMS" >&2 || true
    [ -n "$FORCE" ] || { echo "ship_base: kept the shipped copy (--force replaces it)" >&2; exit 1; }
fi
mkdir -p "$DEST"
cp "$tmp/config.json" "$tmp/model.safetensors" "$tmp/SHA256SUMS" "$DEST/"
echo "ship_base: $DEST <- $src"
cat "$DEST/SHA256SUMS"
