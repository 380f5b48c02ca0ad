#!/usr/bin/env python3
"""Build data/paraphrase_{train,test}.jsonl, the paraphrase pairs of paper Table 4.

NL-RX-SYNTH and NL-RX-TURK state the same regexes in the same order (line i of synth_SPLIT and
turk_SPLIT have the same assistant message, checked here) in different English: SYNTH's
templated request and a crowd-sourced rewording of it. Line i of paraphrase_SPLIT pairs them:
user = the SYNTH request, assistant = the TURK request of the same regex, system = a constant
instruction. The engine's views then make the two requests the JEPA pair (Text = the SYNTH
request, Code = the TURK request) and NTP learns to write the paraphrase. The paper's own
paraphrase_train file was never published (data/README.md).

usage: python3 data/make_paraphrase.py   (from anywhere; rewrites both files)
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM = "Paraphrase the request."


def messages(line):
    return {m["role"]: m["content"] for m in json.loads(line)["messages"]}


def build(split):
    with open(os.path.join(HERE, f"synth_{split}.jsonl"), encoding="utf-8") as f:
        synth = [messages(l) for l in f if l.strip()]
    with open(os.path.join(HERE, f"turk_{split}.jsonl"), encoding="utf-8") as f:
        turk = [messages(l) for l in f if l.strip()]
    if len(synth) != len(turk):
        raise SystemExit(f"{split}: {len(synth)} SYNTH lines but {len(turk)} TURK lines")
    with open(os.path.join(HERE, f"paraphrase_{split}.jsonl"), "w", encoding="utf-8") as out:
        for i, (s, t) in enumerate(zip(synth, turk), 1):
            if s["assistant"] != t["assistant"]:
                raise SystemExit(f"{split}: line {i}: SYNTH and TURK regexes differ")
            pair = {"messages": [{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": s["user"]},
                                 {"role": "assistant", "content": t["user"]}]}
            out.write(json.dumps(pair, ensure_ascii=False) + "\n")
    print(f"paraphrase_{split}.jsonl: {len(synth)} pairs")


if __name__ == "__main__":
    build("train")
    build("test")
