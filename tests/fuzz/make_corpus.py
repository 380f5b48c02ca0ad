#!/usr/bin/env python3
"""Write the seed corpora of the libFuzzer targets into tests/fuzz/corpus/<target>/:
small valid inputs and near-valid ones (one thing wrong each). Deterministic; run from
anywhere: python3 tests/fuzz/make_corpus.py [TARGET ...] (no TARGET: every target). The
output is committed."""
import json, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")
ONLY = set(sys.argv[1:])  # the targets to write; empty: all


def put(target, name, data):
    if ONLY and target not in ONLY:
        return
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- grid
for g in ["demo.grid", "fig3.grid", "table1.grid", "stp.grid"]:
    with open(os.path.join(ROOT, "grids", g), "rb") as f:
        put("fuzz_grid", "shipped_" + g, f.read())
GRIDS = {
    "arms": "seeds = 1, 2\nepochs = 1\n[baseline]\nloss = ntp\n[jepa]\nloss = jepa\nk = 0, 1\nlambda = 0.5, 1\n",
    "quoted": 'lora_rank = 4\nlora_targets = "q,v", "q,k,v,o,gate,up,down"\n',
    "crlf_bom": "\ufeffepochs = 2\r\nlr = 1e-3, 2e-3 # comment\r\n",
    "dup_seed": "seeds = 1, 01\n",
    "dup_value": "lr = 0.5, .5\n",
    "dup_arm": "[a]\n[a]\n",
    "bad_key": "lamda = 1\n",
    "bad_int": "epochs = 2.5\n",
    "bad_float": "lr = nan\n",
    "unterminated": 'lora_targets = "q,v\n[x\n',
    "empty_item": "k = 0,,1\n",
    "seed_key": "seed = 3\n",
    "ntp_axis": "[baseline]\nloss = ntp\nlambda = 1, 2\n",
    "validate": "loss = jepa\njepa_metric = infonce\nbatch_size = 1\n",
}
for k, v in GRIDS.items():
    put("fuzz_grid", k, v)

# ---- jsonl
GOOD = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "ab"},
                     {"role": "assistant", "content": "xyz"}]}
with open(os.path.join(ROOT, "data", "synth_test.jsonl"), "rb") as f:
    put("fuzz_jsonl", "synth_test_head", b"".join(f.readlines()[:3]))
J = {
    "good": json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n",
    "crlf_blank": json.dumps(GOOD) + "\r\n\r\n" + json.dumps(GOOD) + "\r\n",
    "no_newline": json.dumps(GOOD),
    "not_json": json.dumps(GOOD) + "\n{not json}\n",
    "trailing": json.dumps(GOOD) + " x\n",
    "no_messages": '{"msgs": []}\n',
    "no_assistant": '{"messages": [{"role": "user", "content": "a"}]}\n',
    "content_number": '{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}]}\n',
    "escapes": '{"messages": [{"role": "user", "content": "\\u00e9\\n\\t\\"q\\""}, {"role": "assistant", "content": "\\ud83d\\ude00"}]}\n',
    "nul": json.dumps(GOOD) + "\n{\"messages\"\0: []}\n",
}
for k, v in J.items():
    put("fuzz_jsonl", k, v)

# ---- runs.csv
for g in ["fig3", "lr"]:
    p = os.path.join(ROOT, "results", g, "runs.csv")
    if os.path.exists(p):
        with open(p, "rb") as f:
            lines = f.readlines()
        put("fuzz_store", g + "_head", b"".join(lines[:3]))
        put("fuzz_store", g + "_header_only", lines[0])
        put("fuzz_store", g + "_partial_last", b"".join(lines[:2]) + lines[2][:40])
put("fuzz_store", "old_header", "run_id,grid,arm,model,seed,status,acc_exact\nabc,g,a,nano,82,ok,50.5\n")
put("fuzz_store", "not_runs", "a,b,c\n1,2,3\n4,5\n")
put("fuzz_store", "quoted", 'run_id,grid,arm,status\n"a,b","x ""y""",arm,ok\n"unterminated,g,a,ok\n')
put("fuzz_store", "no_run_id", "grid,arm\ng,a\n")


# ---- checkpoint: 2 bytes n, n bytes of config.json, then model.safetensors
def safetensors(tensors, align=True):
    """tensors: [(name, dtype, shape, bytes)]; a valid file with offsets in order."""
    header, data, off = {"__metadata__": {"format": "pt"}}, b"", 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    if align:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(n, v=0.01):
    return struct.pack("<%df" % n, *([v] * n))


def tiny_model(C=8, L=1, H=2, KV=1, F=16, V=300, tie=False):
    hd = C // H
    t = [("model.embed_tokens.weight", "F32", [V, C], f32(V * C))]
    for l in range(L):
        p = "model.layers.%d." % l
        t += [(p + "input_layernorm.weight", "F32", [C], f32(C, 1.0)),
              (p + "self_attn.q_proj.weight", "F32", [H * hd, C], f32(H * hd * C)),
              (p + "self_attn.k_proj.weight", "F32", [KV * hd, C], f32(KV * hd * C)),
              (p + "self_attn.v_proj.weight", "F32", [KV * hd, C], f32(KV * hd * C)),
              (p + "self_attn.o_proj.weight", "F32", [C, H * hd], f32(C * H * hd)),
              (p + "post_attention_layernorm.weight", "F32", [C], f32(C, 1.0)),
              (p + "mlp.gate_proj.weight", "F32", [F, C], f32(F * C)),
              (p + "mlp.up_proj.weight", "F32", [F, C], f32(F * C)),
              (p + "mlp.down_proj.weight", "F32", [C, F], f32(C * F))]
    t += [("model.norm.weight", "F32", [C], f32(C, 1.0))]
    if not tie:
        t += [("lm_head.weight", "F32", [V, C], f32(V * C))]
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": C, "num_hidden_layers": L,
           "num_attention_heads": H, "num_key_value_heads": KV, "head_dim": hd, "intermediate_size": F,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None, "vocab_size": V,
           "max_position_embeddings": 64, "tie_word_embeddings": tie, "hidden_act": "silu"}
    return cfg, t


def ck(name, cfg, st):
    c = (json.dumps(cfg) if isinstance(cfg, dict) else cfg).encode()
    put("fuzz_checkpoint", name, struct.pack("<H", len(c)) + c + st)


cfg, t = tiny_model()
ck("tiny_model", cfg, safetensors(t))
cfg_t, t_t = tiny_model(tie=True)
ck("tiny_tied", cfg_t, safetensors(t_t))
ck("tiny_bf16_header_only", cfg, safetensors([("x", "BF16", [2, 2], b"\x80\x3f" * 4)]))
ck("f16_i64", cfg, safetensors([("h", "F16", [3], b"\x00\x3c\x00\xc0\x01\x00"), ("pad", "U8", [2], b"\0\0"),
                                 ("ids", "I64", [1], struct.pack("<q", 7))]))
ck("empty_header", cfg, struct.pack("<Q", 0))
hdr = b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}'
ck("overlap", cfg, struct.pack("<Q", len(hdr)) + hdr + f32(4))
hdr = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}'
ck("negative_offset", cfg, struct.pack("<Q", len(hdr)) + hdr + f32(2))
hdr = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}}'
ck("unaligned", cfg, struct.pack("<Q", len(hdr)) + hdr + f32(3))
hdr = b'{"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,1e300]}}'
ck("huge", cfg, struct.pack("<Q", len(hdr)) + hdr + f32(2))
ck("header_too_long", cfg, struct.pack("<Q", 1 << 40) + b"{}")
bad = dict(cfg, rms_norm_eps=1e300, rope_theta=-1)
ck("bad_numbers", bad, safetensors(t[:2]))
ck("head_dim", dict(cfg, head_dim=1 << 30), b"")
ck("llama3", dict(cfg, rope_scaling={"rope_type": "llama3", "factor": 8, "low_freq_factor": 1,
                                     "high_freq_factor": 4, "original_max_position_embeddings": 32}), safetensors(t))
ck("extras", dict(cfg, bos_token_id=256, eos_token_id=[257, 258], pad_token_id=None,
                  tokenizer={"kind": "byte", "bos": 256, "eos": 257, "pad": 258, "system": 259, "user": 260,
                             "assistant": 261, "pred": [262, 263]}, llm_jepa={"loss": "jepa", "k": "2"}),
   safetensors(t))
ck("not_json", "{\"hidden_size\": ", b"")



# ---- tokenizer.json (engine/bpe_load.c): small files as tests/test_bpe.c builds them, files
# whose vocab holds every byte symbol (so decode(encode(s)) == s), options one at a time, and
# the tokenizers-made fixtures.
def byte_symbols():
    """GPT-2's bytes_to_unicode: the symbol of each byte, in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    extra = 0
    out = []
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return out


def tok_doc(model, added=(), pre=None, post=None, **extra):
    d = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": list(added),
         "normalizer": None,
         "pre_tokenizer": pre or {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
         "post_processor": post, "decoder": {"type": "ByteLevel"}, "model": model}
    d.update(extra)
    return json.dumps(d, ensure_ascii=False)


def added(i, content, special=True, normalized=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": normalized, "special": special}


TINY_VOCAB = {"a": 0, "b": 1, "ab": 2, "\u0120": 3}
TINY = {"type": "BPE", "vocab": TINY_VOCAB, "merges": ["a b"]}
put("fuzz_tokenizer", "tiny", tok_doc(TINY, [added(4, "<s>")]))
put("fuzz_tokenizer", "tiny_array_merges", tok_doc(dict(TINY, merges=[["a", "b"]]), [added(4, "<s>")]))
put("fuzz_tokenizer", "tiny_no_regex", tok_doc(TINY, pre={"type": "ByteLevel", "add_prefix_space": True,
                                                          "use_regex": False}))

SYM = byte_symbols()
FULL_VOCAB = {s: i for i, s in enumerate(SYM)}
FULL_MERGES = []
for a, b in [("\u0120", "t"), ("h", "e"), ("\u0120t", "he"), ("i", "n"), ("a", "b"), ("ab", "ab"), ("0", "1")]:
    FULL_VOCAB.setdefault(a + b, len(FULL_VOCAB))
    FULL_MERGES.append(a + " " + b)
FULL = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
        "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
        "vocab": FULL_VOCAB, "merges": FULL_MERGES}
NV = len(FULL_VOCAB)
SPECIALS = [added(NV, "<|begin_of_text|>"), added(NV + 1, "<|eot_id|>"), added(NV + 2, "<pad>", special=False)]
TEMPLATE = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "<|eot_id|>", "type_id": 0}}],
            "pair": [], "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [NV]},
                                           "<|eot_id|>": {"id": "<|eot_id|>", "ids": [NV + 1]}}}
LLAMA3_RE = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
             "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
SEQ = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
put("fuzz_tokenizer", "bytes_gpt2", tok_doc(FULL, SPECIALS))
put("fuzz_tokenizer", "bytes_llama3", tok_doc(dict(FULL, ignore_merges=True), SPECIALS, SEQ,
                                              {"type": "Sequence", "processors": [
                                                  {"type": "ByteLevel", "trim_offsets": False}, TEMPLATE]}))
put("fuzz_tokenizer", "bytes_prefix_space", tok_doc(
    FULL, SPECIALS, {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    {"type": "ByteLevel"}))
put("fuzz_tokenizer", "bytes_string_split", tok_doc(FULL, [], {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated", "invert": False},
    {"type": "Split", "pattern": {"Regex": "\\d|(?=x)"}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}))
put("fuzz_tokenizer", "unk_fuse", tok_doc(dict(TINY, vocab=dict(TINY_VOCAB, **{"<unk>": 4}), unk_token="<unk>",
                                               fuse_unk=True, dropout=0, ignore_merges=True),
                                          [added(5, "<s>"), added(2, "ab", special=False, normalized=True)]))
put("fuzz_tokenizer", "added_in_vocab", tok_doc(TINY, [added(4, "<x>"), added(1, "b"), added(3, "\u0120")]))
put("fuzz_tokenizer", "bad_added_id", tok_doc(TINY, [added(9, "<s>")]))
put("fuzz_tokenizer", "bad_merge", tok_doc(dict(TINY, merges=["a  b"])))
put("fuzz_tokenizer", "bad_regex", tok_doc(TINY, [], {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(\\p{L"}, "behavior": "Isolated"},
    {"type": "ByteLevel", "add_prefix_space": False}]}))
put("fuzz_tokenizer", "bad_template", tok_doc(TINY, [added(4, "<s>")], None, dict(
    TEMPLATE, special_tokens={"<|begin_of_text|>": {"ids": [99]}, "<|eot_id|>": {"ids": [4]}})))
put("fuzz_tokenizer", "sparse_ids", tok_doc(dict(TINY, vocab={"a": 3, "b": 70000, "ab": 9, "\u0120": 0}),
                                            [added(4, "<s>"), added(9, "ab", normalized=True),
                                             added(10, "</s>")]))
for f in ["handmade", "handmade_nim", "gpt2_prefix", "splits"]:
    with open(os.path.join(ROOT, "tests", "fixtures", "bpe", f + ".json"), "rb") as fh:
        put("fuzz_tokenizer", "fixture_" + f, fh.read())

# ---- NL-RX regexes (engine/regex_nlrx.c): targets of data/synth_test.jsonl (the first 24
# distinct ones), the dialect's corners, and malformed texts.
regexes = []
with open(os.path.join(ROOT, "data", "synth_test.jsonl"), encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)["messages"][-1]["content"].strip()
        if r not in regexes:
            regexes.append(r)
        if len(regexes) == 24:
            break
for i, r in enumerate(regexes):
    put("fuzz_regex", "synth_%02d" % i, r)
CORNERS = {
    "empty_set": "#", "any_string": "@", "compl": "~(a)*", "neg_class": "[^a-z0-9]", "quoted": '"a|b"x',
    "braces": "(ab){2,3}c{3,}d{2}", "braces_empty": "a{3,2}|[z-a]", "epsilon": "()|\"\"",
    "boundary": "\\b(cat)\\b", "inter": "(.*a.*)&(.*b.*)&~(.*c.*)", "awkward_class": "[\\]\\^\\-\\\\]",
    "dash_last": "[a-]", "escapes": "\\.\\*\\(", "high_bytes": "~(.)&[^ -~]", "nested": "((((a|b)))*)+",
    "bad_unclosed": "(a", "bad_brace": "a{", "bad_class": "[a", "bad_count": "a{99999999999}",
    "bad_interval": "<1-5>", "bad_end": "a)",
}
for k, v in CORNERS.items():
    put("fuzz_regex", k, v)
