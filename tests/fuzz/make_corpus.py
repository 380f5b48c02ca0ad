#!/usr/bin/env python3
"""Write the seed corpora of the libFuzzer targets into tests/fuzz/corpus/<target>/:
small valid inputs and near-valid ones (one thing wrong each). Deterministic; run from
anywhere: python3 tests/fuzz/make_corpus.py. The output is committed."""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")


def put(target, name, data):
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
