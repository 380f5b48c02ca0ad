#!/usr/bin/env bash
# Reproducing the paper at CPU scale (README "Reproducing the paper"): every grid behind
# paper/, in the protocol's order, then `harness paper`. Each `harness run` skips the runs
# already recorded in results/<grid>/runs.csv, so on a clone with the committed results this
# only regenerates paper/; delete a grid's runs.csv to run it again. Resumes if interrupted.
#   bash scripts/reproduce.sh [GRID...]     (default: all, in order)
# The learning rates and the best fig3 cell are written into the grid files by hand from the
# reports of grids/lr.grid, grids/lr_scratch.grid and grids/fig3.grid (the protocol's steps).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x build/harness ] || bash scripts/setup.sh
ORDER=(base lr fig3 lr_scratch table1 probes demo table3 ablations table5 loss_dropout stp fig4 paraphrase table4)
GRIDS=("$@")
[ $# -gt 0 ] || GRIDS=("${ORDER[@]}")
for g in "${GRIDS[@]}"; do
    start=$(date +%s)
    build/harness run "grids/$g.grid" -j "$(nproc)" --reuse
    build/harness report "grids/$g.grid" > /dev/null
    echo "reproduce: grids/$g.grid done in $(( $(date +%s) - start )) s"
    if [ "$g" = paraphrase ]; then  # Table 4's pretrained checkpoints, which grids/table4.grid starts from
        bash scripts/ship_base.sh paraphrase ntp models/paraphrase_ntp_nano
        bash scripts/ship_base.sh paraphrase jepa models/paraphrase_jepa_nano
    fi
done
build/harness paper
