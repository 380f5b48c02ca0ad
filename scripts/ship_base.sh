#!/usr/bin/env bash
# Copy the checkpoint of grids/base.grid's run into models/nlrx_base_nano/ (the shipped base
# that the fine-tuning grids start from) and record its content hashes in SHA256SUMS.
# Run after `build/harness run grids/base.grid`. When a shipped copy exists and differs,
# says so and keeps the old one unless --force: a base that moves changes the run_id of every
# fine-tuning run recorded from it (init's content hash is part of the run identity).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST=models/nlrx_base_nano
runs=(results/base/runs/*/DONE)
[ -e "${runs[0]}" ] || { echo "ship_base: no finished run under results/base/runs (run: build/harness run grids/base.grid)" >&2; exit 1; }
[ "${#runs[@]}" -eq 1 ] || { echo "ship_base: ${#runs[@]} finished runs under results/base/runs, expected 1" >&2; exit 1; }
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
    [ "${1:-}" = "--force" ] || { echo "ship_base: kept the shipped copy (--force replaces it)" >&2; exit 1; }
fi
mkdir -p "$DEST"
cp "$tmp/config.json" "$tmp/model.safetensors" "$tmp/SHA256SUMS" "$DEST/"
echo "ship_base: $DEST <- $src"
cat "$DEST/SHA256SUMS"
