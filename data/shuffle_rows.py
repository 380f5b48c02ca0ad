#!/usr/bin/env python3
"""Shuffle the rows of a vendored jsonl file in place, reproducibly.

Upstream rotten_tomatoes lists every positive review, then every negative one, so any prefix
(`train_limit`, `test_limit`, `epoch_eval_limit`) holds one label only. The vendored copies are
shuffled once with this script so that prefixes hold both labels in about equal numbers:

    python3 data/shuffle_rows.py data/rotten_tomatoes_train.jsonl data/rotten_tomatoes_test.jsonl

The permutation is Python's random.Random(SEED).shuffle on the list of lines (SEED = 0), so
running it on the upstream files gives the committed bytes; data/README.md records the result.
"""
import random
import sys

SEED = 0

for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    random.Random(SEED).shuffle(lines)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    print(f"{path}: {len(lines)} rows shuffled (random.Random({SEED}))")
