#!/usr/bin/env python3
"""Build data/nlrx_base_train.jsonl, the corpus the shipped base models are pretrained on.

NL-RX-TURK's train split with every example removed whose regex (the assistant message) is
also a test-split answer of NL-RX-SYNTH or NL-RX-TURK (the two test splits hold the same 1,985
regexes). Lines are copied byte for byte, in order. See data/README.md and ALGORITHM.md §10.

usage: python3 data/make_nlrx_base.py   (from the repository root; rewrites the file)
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def answer(line):
    msgs = json.loads(line)["messages"]
    return next(m["content"] for m in msgs if m["role"] == "assistant")


def main():
    held_out = set()
    for split in ("synth_test", "turk_test"):
        with open(os.path.join(HERE, split + ".jsonl"), encoding="utf-8") as f:
            held_out.update(answer(l) for l in f if l.strip())
    kept = dropped = 0
    with open(os.path.join(HERE, "turk_train.jsonl"), encoding="utf-8") as f, \
         open(os.path.join(HERE, "nlrx_base_train.jsonl"), "w", encoding="utf-8") as out:
        for line in f:
            if not line.strip():
                continue
            if answer(line) in held_out:
                dropped += 1
            else:
                out.write(line if line.endswith("\n") else line + "\n")
                kept += 1
    print(f"nlrx_base_train.jsonl: {kept} examples kept, {dropped} dropped "
          f"(regex in a test split; {len(held_out)} distinct test regexes)")


if __name__ == "__main__":
    main()
