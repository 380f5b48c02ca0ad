#!/usr/bin/python3
"""Independent float64 reference for `harness loss` (ALGORITHM.md §1-§3).

usage: ref_loss.py CHECKPOINT_DIR JSONL N [key=value...]

Reads CHECKPOINT_DIR/model.safetensors (or the shards of model.safetensors.index.json) and
CHECKPOINT_DIR/config.json (Hugging Face LlamaForCausalLM layout; rope_scaling of type llama3
is applied as HF's _compute_llama3_parameters), builds for each of the first N examples of JSONL (N = 0: all)
the NTP sequence and the Text / Code views of ALGORITHM.md §2, runs every sequence on its
own through a plain causal Llama forward pass written after Hugging Face's
modeling_llama.py (LlamaRMSNorm, rotate_half / apply_rotary_pos_emb, repeat_kv, LlamaMLP),
and prints JSON with

  ntp_loss   token-mean cross-entropy over all NTP target tokens of the N examples
  jepa_dist  the JEPA metric between Enc(Text view) and Enc(Code view), where Enc is the
             final-RMSNorm output at the last token before <eos> (null when loss=ntp)

The loss options (loss, lambda, gamma, k, jepa_metric, system_prompt, ntp_targets) are
taken from config.json's "llm_jepa" object and overridden by key=value arguments.
jepa_pass is accepted and ignored: every pass mode must compute the same loss, and this
reference always runs the sequences separately.

Only numpy is used; it shares no code with the C engine.
"""
import json
import math
import os
import struct
import sys

import numpy as np

DEFAULTS = {
    "loss": "ntp",
    "lambda": "1",
    "gamma": "1",
    "k": "1",
    "jepa_metric": "cosine",
    "jepa_pass": "packed",
    "system_prompt": "include",
    "ntp_targets": "all",
}
CHOICES = {
    "loss": ("ntp", "jepa"),
    "jepa_metric": ("cosine", "l2", "mse"),
    "jepa_pass": ("separate", "packed"),
    "system_prompt": ("include", "omit"),
    "ntp_targets": ("all", "assistant"),
}
NORM_EPS = 1e-8  # clamp of vector norms in the cosine metric (as torch cosine_similarity)


def die(msg, code=1):
    sys.stderr.write("ref_loss: %s\n" % msg)
    sys.exit(code)


# ---- checkpoint ------------------------------------------------------------------------

def _half_to_f64(raw, kind):
    u16 = np.frombuffer(raw, dtype="<u2")
    if kind == "BF16":
        return (u16.astype(np.uint32) << 16).view("<f4").astype(np.float64)
    return u16.view("<f2").astype(np.float64)


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        die("%s: too short for a safetensors header" % path)
    (hl,) = struct.unpack("<Q", buf[:8])
    if hl > len(buf) - 8:
        die("%s: header length %d exceeds the file" % (path, hl))
    header = json.loads(buf[8:8 + hl].decode("utf-8"))
    data = buf[8 + hl:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        shape = tuple(int(s) for s in e["shape"])
        n = int(np.prod(shape)) if shape else 1
        raw = data[a:b]
        dt = e["dtype"]
        if dt == "F32":
            if len(raw) != 4 * n:
                die("%s: tensor %s: bad data_offsets" % (path, name))
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dt in ("BF16", "F16"):
            if len(raw) != 2 * n:
                die("%s: tensor %s: bad data_offsets" % (path, name))
            arr = _half_to_f64(raw, dt)
        elif dt == "F64":
            arr = np.frombuffer(raw, dtype="<f8").astype(np.float64)
        else:
            die("%s: tensor %s: unsupported dtype %s" % (path, name, dt))
        out[name] = arr.reshape(shape)
    return out


def read_weights(ckpt):
    """model.safetensors, else every shard named in model.safetensors.index.json."""
    single = os.path.join(ckpt, "model.safetensors")
    index = os.path.join(ckpt, "model.safetensors.index.json")
    if os.path.exists(single) or not os.path.exists(index):
        return read_safetensors(single)
    with open(index) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    w = {}
    for s in shards:
        if "/" in s or ".." in s:
            die("%s: bad shard name %s" % (index, s))
        w.update(read_safetensors(os.path.join(ckpt, s)))
    return w


def llama3_inv_freq(inv_freq, rs):
    """HF modeling_rope_utils._compute_llama3_parameters: frequencies whose wavelength is
    longer than original_max_position_embeddings / low_freq_factor are divided by factor,
    those shorter than original / high_freq_factor are kept, and those in between are
    interpolated linearly in original / wavelength."""
    factor, low, high = float(rs["factor"]), float(rs["low_freq_factor"]), float(rs["high_freq_factor"])
    old = float(rs["original_max_position_embeddings"])
    wavelen = 2 * math.pi / inv_freq
    scaled = np.where(wavelen > old / low, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) & ~(wavelen > old / low)
    return np.where(medium, smoothed, scaled)


class Llama:
    """Causal Llama forward in float64, following HF modeling_llama.py."""

    def __init__(self, ckpt):
        with open(os.path.join(ckpt, "config.json")) as f:
            self.cfg = json.load(f)
        c = self.cfg
        self.C = int(c["hidden_size"])
        self.L = int(c["num_hidden_layers"])
        self.H = int(c["num_attention_heads"])
        self.KV = int(c.get("num_key_value_heads", self.H))
        self.hd = int(c.get("head_dim", self.C // self.H))
        self.eps = float(c.get("rms_norm_eps", 1e-6))
        self.theta = float(c.get("rope_theta", 10000.0))
        self.V = int(c["vocab_size"])
        act = c.get("hidden_act", "silu")
        if act != "silu":
            die("hidden_act %s is not supported (silu)" % act)
        if c.get("attention_bias") or c.get("mlp_bias"):
            die("biases are not supported")
        w = read_weights(ckpt)
        self.w = w
        self.embed = w["model.embed_tokens.weight"]
        if c.get("tie_word_embeddings", False):
            self.lm_head = self.embed
        else:
            self.lm_head = w["lm_head.weight"]
        assert self.embed.shape == (self.V, self.C), self.embed.shape
        assert self.lm_head.shape == (self.V, self.C), self.lm_head.shape
        # HF LlamaRotaryEmbedding: inv_freq = 1 / base^(arange(0, dim, 2) / dim)
        self.inv_freq = 1.0 / (self.theta ** (np.arange(0, self.hd, 2, dtype=np.float64) / self.hd))
        rs = c.get("rope_scaling")
        if rs:
            kind = rs.get("rope_type", rs.get("type"))
            if kind == "llama3":
                self.inv_freq = llama3_inv_freq(self.inv_freq, rs)
            elif kind != "default":
                die("rope_scaling type %s is not supported (llama3)" % kind)

    def rmsnorm(self, x, weight):
        # LlamaRMSNorm: x * rsqrt(mean(x^2) + eps), then * weight
        var = np.mean(x * x, axis=-1, keepdims=True)
        return weight * (x / np.sqrt(var + self.eps))

    @staticmethod
    def rotate_half(x):
        half = x.shape[-1] // 2
        return np.concatenate((-x[..., half:], x[..., :half]), axis=-1)

    def rope(self, x, pos):
        # x: (heads, T, hd); apply_rotary_pos_emb with emb = cat(freqs, freqs)
        freqs = np.outer(pos.astype(np.float64), self.inv_freq)  # (T, hd/2)
        emb = np.concatenate((freqs, freqs), axis=-1)  # (T, hd)
        cos, sin = np.cos(emb)[None], np.sin(emb)[None]
        return x * cos + self.rotate_half(x) * sin

    def attention(self, x, l, pos):
        p = "model.layers.%d.self_attn." % l
        T = x.shape[0]
        q = x @ self.w[p + "q_proj.weight"].T  # Linear weights are (out, in)
        k = x @ self.w[p + "k_proj.weight"].T
        v = x @ self.w[p + "v_proj.weight"].T
        # view(bsz, q_len, heads, head_dim).transpose(1, 2)
        q = q.reshape(T, self.H, self.hd).transpose(1, 0, 2)
        k = k.reshape(T, self.KV, self.hd).transpose(1, 0, 2)
        v = v.reshape(T, self.KV, self.hd).transpose(1, 0, 2)
        q = self.rope(q, pos)
        k = self.rope(k, pos)
        # repeat_kv: (kv, T, hd) -> (kv, n_rep, T, hd) -> (kv * n_rep, T, hd);
        # query head h reads key/value head h // n_rep
        n_rep = self.H // self.KV
        k = np.repeat(k, n_rep, axis=0)
        v = np.repeat(v, n_rep, axis=0)
        s = (q @ k.transpose(0, 2, 1)) / math.sqrt(self.hd)  # (H, T, T)
        mask = np.triu(np.ones((T, T), dtype=bool), 1)  # j > i is masked
        s = np.where(mask[None], -np.inf, s)
        s = s - s.max(axis=-1, keepdims=True)
        pr = np.exp(s)
        pr = pr / pr.sum(axis=-1, keepdims=True)
        o = pr @ v  # (H, T, hd)
        o = o.transpose(1, 0, 2).reshape(T, self.H * self.hd)
        return o @ self.w[p + "o_proj.weight"].T

    def mlp(self, x, l):
        p = "model.layers.%d.mlp." % l
        g = x @ self.w[p + "gate_proj.weight"].T
        u = x @ self.w[p + "up_proj.weight"].T
        silu = g / (1.0 + np.exp(-g))
        return (silu * u) @ self.w[p + "down_proj.weight"].T

    def forward(self, ids):
        """Final-RMSNorm hidden states (T, C) of one causal sequence, positions 0..T-1."""
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.arange(len(ids))
        x = self.embed[ids]
        for l in range(self.L):
            p = "model.layers.%d." % l
            x = x + self.attention(self.rmsnorm(x, self.w[p + "input_layernorm.weight"]), l, pos)
            x = x + self.mlp(self.rmsnorm(x, self.w[p + "post_attention_layernorm.weight"]), l)
        return self.rmsnorm(x, self.w["model.norm.weight"])


# ---- data and views (ALGORITHM.md §2) ----------------------------------------------------

def load_examples(path, limit):
    """(system, user, assistant) as UTF-8 bytes: last system message, first user and
    first assistant message of each non-empty line."""
    out = []
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            if limit > 0 and len(out) >= limit:
                break
            try:
                obj = json.loads(line.decode("utf-8"))
                msgs = obj["messages"]
            except Exception:
                die("%s:%d: expected an object with a \"messages\" array" % (path, lineno))
            s, u, a = "", None, None
            for m in msgs:
                role, content = m.get("role"), m.get("content")
                if not isinstance(role, str) or not isinstance(content, str):
                    die("%s:%d: each message needs string \"role\" and \"content\"" % (path, lineno))
                if role == "system":
                    s = content
                elif role == "user" and u is None:
                    u = content
                elif role == "assistant" and a is None:
                    a = content
            if u is None or a is None:
                die("%s:%d: expected a \"user\" and an \"assistant\" message" % (path, lineno))
            out.append(tuple(x.encode("utf-8") for x in (s, u, a)))
    if not out:
        die("%s: no examples" % path)
    return out


class Tok:
    def __init__(self, cfg):
        t = cfg.get("tokenizer", {})
        if t.get("kind", "byte") != "byte":
            die("tokenizer kind %r is not supported" % t.get("kind"))
        self.bos = int(t.get("bos", cfg.get("bos_token_id", 256)))
        self.eos = int(t.get("eos", cfg.get("eos_token_id", 257)))
        self.system = int(t.get("system", 259))
        self.user = int(t.get("user", 260))
        self.assistant = int(t.get("assistant", 261))
        self.pred = [int(p) for p in t.get("pred", list(range(262, 278)))]  # pred[i-1] = pred_i


def ntp_sequence(tok, ex, opts):
    """⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ A ⟨eos⟩ and the positions t whose
    next token ids[t+1] is a target."""
    s, u, a = ex
    ids = [tok.bos]
    if opts["system_prompt"] == "include":
        ids += [tok.system] + list(s)
    ids += [tok.user] + list(u) + [tok.assistant]
    asst = len(ids) - 1
    ids += list(a) + [tok.eos]
    # all: every token after ⟨bos⟩ is a target (incl. ⟨eos⟩); assistant: A and ⟨eos⟩
    first = 0 if opts["ntp_targets"] == "all" else asst
    return ids, list(range(first, len(ids) - 1))


def text_view(tok, ex, k):
    """⟨bos⟩ ⟨user⟩ U ⟨pred_k⟩ … ⟨pred_1⟩ ⟨eos⟩ and the index of the token before ⟨eos⟩."""
    _, u, _ = ex
    ids = [tok.bos, tok.user] + list(u) + [tok.pred[i - 1] for i in range(k, 0, -1)] + [tok.eos]
    return ids, len(ids) - 2


def code_view(tok, ex):
    """⟨bos⟩ ⟨assistant⟩ A ⟨eos⟩ and the index of the last answer token."""
    _, _, a = ex
    ids = [tok.bos, tok.assistant] + list(a) + [tok.eos]
    return ids, len(ids) - 2


# ---- losses ------------------------------------------------------------------------------

def jepa_distance(U, Cm, metric):
    """U, Cm: (B, D) float64."""
    if metric == "cosine":
        nu = np.maximum(np.linalg.norm(U, axis=1), NORM_EPS)
        nc = np.maximum(np.linalg.norm(Cm, axis=1), NORM_EPS)
        return float(1.0 - np.mean(np.sum(U * Cm, axis=1) / (nu * nc)))
    if metric == "l2":
        return float(np.mean(np.linalg.norm(U - Cm, axis=1)))
    if metric == "mse":
        return float(np.mean((U - Cm) ** 2))
    die("unknown jepa_metric %s" % metric)


def main(argv):
    if len(argv) >= 1 and argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0
    if len(argv) < 3:
        die("usage: ref_loss.py CHECKPOINT_DIR JSONL N [key=value...]", 2)
    ckpt, jsonl = argv[0], argv[1]
    try:
        n = int(argv[2])
        assert n >= 0
    except Exception:
        die("N must be a non-negative integer, got '%s'" % argv[2], 2)
    model = Llama(ckpt)
    opts = dict(DEFAULTS)
    run = model.cfg.get("llm_jepa")
    if isinstance(run, dict):
        opts.update({key: str(v) for key, v in run.items()})
    for kv in argv[3:]:
        if "=" not in kv:
            die("'%s': expected key=value" % kv, 2)
        key, v = kv.split("=", 1)
        opts[key] = v
    for key, ch in CHOICES.items():
        if opts[key] not in ch:
            die("%s must be one of %s, got '%s'" % (key, "|".join(ch), opts[key]), 2)
    k = int(opts["k"])
    lam, gamma = float(opts["lambda"]), float(opts["gamma"])
    tok = Tok(model.cfg)
    if not 0 <= k <= len(tok.pred):
        die("k must be in 0..%d" % len(tok.pred), 2)
    exs = load_examples(jsonl, n)
    jepa = opts["loss"] == "jepa"

    ce_sum, ntok = 0.0, 0
    U, Cm = [], []
    for ex in exs:
        ids, tpos = ntp_sequence(tok, ex, opts)
        h = model.forward(ids)
        if tpos:
            logits = h[tpos] @ model.lm_head.T  # (M, V)
            mx = logits.max(axis=1, keepdims=True)
            lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))
            y = np.asarray([ids[t + 1] for t in tpos])
            ce_sum += float(np.sum(lse - logits[np.arange(len(tpos)), y]))
            ntok += len(tpos)
        if jepa:
            tids, te = text_view(tok, ex, k)
            cids, ce = code_view(tok, ex)
            U.append(model.forward(tids)[te])
            Cm.append(model.forward(cids)[ce])
    ntp = ce_sum / ntok if ntok else 0.0
    jd = jepa_distance(np.stack(U), np.stack(Cm), opts["jepa_metric"]) if jepa else None
    out = {
        "checkpoint": ckpt,
        "data": jsonl,
        "n": len(exs),
        "ntp_tokens": ntok,
        "ntp_loss": ntp,
        "jepa_dist": jd,
        "total": gamma * ntp + (lam * jd if jepa else 0.0),
    }
    for key in ("loss", "lambda", "gamma", "k", "jepa_metric", "jepa_pass", "system_prompt", "ntp_targets"):
        out[key] = opts[key]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
