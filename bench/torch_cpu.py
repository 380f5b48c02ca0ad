#!/usr/bin/env python3
"""The engine's training step in PyTorch on the CPU, replaying a bench_step dump (bench/compare.sh).

    build/bench_step only=ntp update=1 dump=D.json weights_out=W ...
    python3 bench/torch_cpu.py --dump D.json --weights W --threads 1 [--check]

The dump (bench_step.c, dump=) holds the model shape, the loss and AdamW settings, the engine's batches
token by token (id, RoPE position, segment, NTP target; row offsets; the segment visibility matrix; the
JEPA readouts), which batch each executed step used (warm-up steps first) with, under STP, the span plan
the engine drew, and the engine's losses at every step. W holds the engine's initial weights
(model.safetensors, Hugging Face names), read here with struct/json (no safetensors package).

One step = forward, loss, backward, gradient clipping to grad_clip, torch.optim.AdamW at the constant lr
(as bench_step update=1; without update in the dump, forward + backward only), on exactly the engine's
tokens:
- the model: Hugging Face Llama layout as the engine (engine/model.h), fp32: embedding; per layer
  RMSNorm, q/k/v projections (one fused GEMM, as the engine's adjacent q/k/v), rotate-half RoPE at each
  token's own position, attention, o projection, residual; RMSNorm, gate/up (one GEMM), SiLU(gate)*up,
  down projection, residual; final RMSNorm -> h; LM head (untied, or the embedding when tied).
- attention: the engine's rule (ALGORITHM.md section 3): token i sees token j iff j <= i, same row,
  vis[seg_i, seg_j]: causal for NTP rows, block-causal for packed Text||Code rows, the segment
  visibility of fused rows. The linear layers run on the flat token list (no padding); attention runs
  on rows padded to the longest row of their group (rows sorted by length, --groups groups), with a
  boolean mask, through F._scaled_dot_product_attention (torch 1.13's, the math path on the CPU) or
  written out (--attention math).
- losses (engine/loss.h): token-mean cross-entropy over the target tokens; JEPA: lambda * (1 - mean
  cos(h[enc_text], h[enc_code])), norms floored at 1e-8, Enc = h after the final norm; STP (engine/stp.h):
  lambda * (1 - sum w cos(U, C) / sum w), U and C the plan's sparse +-1 combinations of rows of h.
Timing: the warm-up steps, then the timed steps under time.perf_counter; the batches' tensors (indices,
masks) are built before timing. Prints "tokens/s: X" and, with --check, the step-0 losses of both sides
(the same weights, the same tokens): exit status 3 when they differ by more than --tol relative.
Says "skipped" and exits 0 without PyTorch.
"""
import argparse
import json
import os
import struct
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", required=True, help="bench_step dump= file")
    ap.add_argument("--weights", required=True, help="bench_step weights_out= directory")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check", action="store_true", help="compare the step-0 loss with the engine's")
    ap.add_argument("--tol", type=float, default=1e-4, help="relative tolerance of --check")
    ap.add_argument("--attention", default="sdpa", choices=["sdpa", "math"])
    ap.add_argument("--groups", type=int, default=4, help="row-length groups for padded attention")
    ap.add_argument("--foreach", type=int, default=0, help="AdamW foreach implementation (1) or the loop (0)")
    return ap.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # before torch loads its BLAS
        os.environ.setdefault(var, str(ARGS.threads))
try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("torch_cpu: skipped (PyTorch is not installed: apt-get install python3-torch)")
    sys.exit(0)


def read_safetensors(path):
    """{name: float32 tensor} of a safetensors file: u64 header length, JSON header, little-endian data."""
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    if hlen > len(raw) - 8:
        raise ValueError(f"{path}: header length {hlen} beyond the file")
    header = json.loads(raw[8:8 + hlen])
    data = memoryview(raw)[8 + hlen:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: {name}: dtype {t['dtype']}, expected F32")
        b, e = t["data_offsets"]
        n = 1
        for d in t["shape"]:
            n *= d
        if not 0 <= b <= e <= len(data) or e - b != 4 * n:
            raise ValueError(f"{path}: {name}: bad data_offsets {b}, {e}")
        out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(t["shape"]).clone() \
            if n else torch.zeros(t["shape"])
    return out


class Llama:
    """The engine's model on the engine's weights; parameters in a list for the optimizer."""

    def __init__(self, md, w):
        self.C, self.L = md["hidden_size"], md["num_hidden_layers"]
        self.H, self.KV = md["num_attention_heads"], md["num_key_value_heads"]
        self.hd = self.C // self.H
        self.eps = float(md["rms_norm_eps"])
        if md.get("rope_scaling"):
            raise ValueError("rope_scaling is not implemented here")
        P = lambda t: torch.nn.Parameter(t.contiguous())
        self.embed = P(w["model.embed_tokens.weight"])
        self.layers = []
        for l in range(self.L):
            p = f"model.layers.{l}."
            self.layers.append({
                "n1": P(w[p + "input_layernorm.weight"]),
                "qkv": P(torch.cat([w[p + f"self_attn.{x}_proj.weight"] for x in "qkv"])),
                "o": P(w[p + "self_attn.o_proj.weight"]),
                "n2": P(w[p + "post_attention_layernorm.weight"]),
                "gu": P(torch.cat([w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"]])),
                "down": P(w[p + "mlp.down_proj.weight"]),
            })
        self.norm = P(w["model.norm.weight"])
        self.head = self.embed if md.get("tie_word_embeddings") else P(w["lm_head.weight"])
        self.params = [self.embed] + [t for ly in self.layers for t in ly.values()] + [self.norm]
        if self.head is not self.embed:
            self.params.append(self.head)
        theta, half = float(md["rope_theta"]), self.hd // 2
        inv = torch.tensor([theta ** (-2.0 * i / self.hd) for i in range(half)], dtype=torch.float64)
        ang = torch.outer(torch.arange(4096, dtype=torch.float64), inv)  # as rope.c: angles in double
        self.cos, self.sin = ang.cos().float(), ang.sin().float()

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, cos, sin):  # x (n, heads, hd); cos, sin (n, 1, hd/2)
        a, b = x[..., : self.hd // 2], x[..., self.hd // 2:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)

    def attention(self, q, k, v, bt, kind):
        """q (n, H, hd), k, v (n, KV, hd) -> (n, H*hd) over the batch's padded row groups. A padding slot
        gathers token 0: masked as a key, and its query's output is dropped (no gradient flows back)."""
        if self.KV != self.H:
            k = k.repeat_interleave(self.H // self.KV, dim=1)
            v = v.repeat_interleave(self.H // self.KV, dim=1)
        outs = []
        for g in bt["groups"]:
            R, T = g["R"], g["T"]
            qg, kg, vg = (t[g["gather"]].view(R, T, self.H, self.hd).transpose(1, 2) for t in (q, k, v))
            if kind == "sdpa":
                og = F._scaled_dot_product_attention(qg, kg, vg, g["mask"], 0.0, False, False)[0]
            else:
                s = torch.matmul(qg, kg.transpose(-1, -2)) * (self.hd ** -0.5)
                og = torch.matmul(torch.softmax(s.masked_fill(~g["mask"], float("-inf")), -1), vg)
            outs.append(og.transpose(1, 2).reshape(R * T, self.H * self.hd)[g["dst"]])
        return (torch.cat(outs) if len(outs) > 1 else outs[0])[bt["inv"]]

    def forward(self, bt, kind):
        x = self.embed[bt["ids"]]
        cos, sin = self.cos[bt["pos"]].unsqueeze(1), self.sin[bt["pos"]].unsqueeze(1)
        n, H, KV, hd = x.shape[0], self.H, self.KV, self.hd
        for ly in self.layers:
            qkv = F.linear(self.rms(x, ly["n1"]), ly["qkv"])
            qk = self.rope(qkv[:, : (H + KV) * hd].reshape(n, H + KV, hd), cos, sin)  # q and k in one pass
            q, k = qk.split([H, KV], dim=1)
            x = x + F.linear(self.attention(q, k, qkv[:, (H + KV) * hd:].reshape(n, KV, hd), bt, kind), ly["o"])
            g, u = F.linear(self.rms(x, ly["n2"]), ly["gu"]).chunk(2, dim=1)
            x = x + F.linear(F.silu(g) * u, ly["down"])
        return self.rms(x, self.norm)


def cosine(u, c):
    """cos of row pairs, norms floored at 1e-8 (engine/loss.c)."""
    nu = u.norm(dim=1).clamp_min(1e-8)
    nc = c.norm(dim=1).clamp_min(1e-8)
    return (u * c).sum(1) / (nu * nc)


def losses(model, bt, plan, cfg, attention):
    """(total, ntp, jepa) of one step, as engine/loss.c loss_step."""
    h = model.forward(bt, attention)
    ntp = F.cross_entropy(F.linear(h[bt["rows"]], model.head), bt["tgt"])
    lo = cfg["loss"]
    jepa = h.new_zeros(())
    if cfg["kind"] == "jepa":
        jepa = 1.0 - cosine(h[bt["enc_text"]], h[bt["enc_code"]]).mean()
    elif cfg["kind"] == "stp" and plan is not None:
        m = plan["m"]
        uc = h.new_zeros(2 * m, h.shape[1]).index_add(0, plan["row"], h[plan["idx"]] * plan["w"].unsqueeze(1))
        wt = plan["wt"]
        jepa = 1.0 - (wt * cosine(uc[:m], uc[m:])).sum() / wt.sum()
    return lo["gamma"] * ntp + lo["lambda"] * jepa, ntp, jepa


def row_groups(starts, groups):
    """Rows sorted by length, split into groups of consecutive rows of about equal count."""
    lens = [starts[r + 1] - starts[r] for r in range(len(starts) - 1)]
    order = sorted(range(len(lens)), key=lambda r: -lens[r])
    G = max(1, min(groups, len(order)))
    cuts = [round(i * len(order) / G) for i in range(G + 1)]
    return [order[cuts[i]:cuts[i + 1]] for i in range(G) if cuts[i + 1] > cuts[i]], lens


def prepare(b, groups):
    """Tensors of one dumped batch: flat tokens, targets, readouts, padded attention groups."""
    n, starts, nseg, vis = len(b["ids"]), b["row_start"], b["nseg"], b["vis"]
    seg = torch.tensor(b["seg"])
    V = torch.tensor(vis, dtype=torch.bool).view(nseg, nseg)
    bt = {"ids": torch.tensor(b["ids"]), "pos": torch.tensor(b["pos"]), "n": n}
    tg = torch.tensor(b["tgt"])
    bt["rows"] = (tg >= 0).nonzero().squeeze(1)
    bt["tgt"] = tg[bt["rows"]]
    bt["enc_text"], bt["enc_code"] = torch.tensor(b["enc_text"]), torch.tensor(b["enc_code"])
    rgs, lens = row_groups(starts, groups)
    bt["groups"], src = [], []
    for rows in rgs:
        R, T = len(rows), max(lens[r] for r in rows)
        gather = torch.zeros(R, T, dtype=torch.long)  # padding slots: token 0, masked off
        valid = torch.zeros(R, T, dtype=torch.bool)
        for i, r in enumerate(rows):
            gather[i, : lens[r]] = torch.arange(starts[r], starts[r + 1])
            valid[i, : lens[r]] = True
        sg = seg[gather]
        tri = torch.ones(T, T, dtype=torch.bool).tril()
        mask = tri & V[sg.unsqueeze(2), sg.unsqueeze(1)] & valid.unsqueeze(2) & valid.unsqueeze(1)
        mask |= torch.eye(T, dtype=torch.bool)  # padding queries see themselves: no empty softmax row
        flat = gather.view(-1)
        dst = valid.view(-1).nonzero().squeeze(1)
        src.append(flat[dst])
        bt["groups"].append({"R": R, "T": T, "gather": flat, "mask": mask.unsqueeze(1), "dst": dst})
    bt["inv"] = torch.argsort(torch.cat(src))
    return bt


def prepare_plan(p):
    if p is None or not p["ptr"]:
        return None
    ptr = p["ptr"]
    m = (len(ptr) - 1) // 2
    row = [r for r in range(2 * m) for _ in range(ptr[r + 1] - ptr[r])]
    return {"m": m, "row": torch.tensor(row), "idx": torch.tensor(p["idx"]),
            "w": torch.tensor(p["w"], dtype=torch.float32), "wt": torch.tensor(p["wt"], dtype=torch.float32)}


def main(args):
    torch.set_num_threads(args.threads)
    with open(args.dump) as f:
        cfg = json.load(f)
    lo = cfg["loss"]
    if cfg["kind"] == "jepa" and (lo["metric"], lo["pooling"], lo["predictor"], lo["direction"]) != \
            ("cosine", "last", "tokens", "text2code"):
        sys.exit("torch_cpu: only jepa_metric=cosine pooling=last predictor=tokens direction=text2code")
    if lo.get("lora_rank"):
        sys.exit("torch_cpu: LoRA is not implemented here")
    model = Llama(cfg["model"], read_safetensors(os.path.join(args.weights, "model.safetensors")))
    batches = [prepare(b, args.groups) for b in cfg["batches"]]
    sched = [(e["batch"], prepare_plan(e.get("stp"))) for e in cfg["schedule"]]
    op = cfg["optim"]
    opt = torch.optim.AdamW(model.params, lr=op["lr"], betas=(op["beta1"], op["beta2"]), eps=op["eps"],
                            weight_decay=op["weight_decay"], foreach=bool(args.foreach))

    def step(i):
        bi, plan = sched[i]
        for p in model.params:
            p.grad = None
        total, ntp, jepa = losses(model, batches[bi], plan, cfg, args.attention)
        total.backward()
        if op["update"]:
            if op["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.params, op["grad_clip"])
            opt.step()
        return total.detach(), ntp.detach(), jepa.detach()

    W = cfg["warmup"]
    got = [step(i) for i in range(W)]
    t0 = time.perf_counter()
    got += [step(i) for i in range(W, len(sched))]
    sec = time.perf_counter() - t0
    tokens = sum(batches[sched[i][0]]["n"] for i in range(W, len(sched)))
    print(f"torch {torch.__version__}, {args.threads} thread(s), attention {args.attention}, "
          f"AdamW foreach={bool(args.foreach)}: {len(sched) - W} steps after {W}")
    print(f"tokens/s: {tokens / sec:.1f}  ({sec / (len(sched) - W) * 1e3:.1f} ms per step)")
    eng = cfg.get("losses", [])
    rel = [abs(float(g[0]) - e["total"]) / abs(e["total"]) for g, e in zip(got, eng)]
    if rel:
        e, g = eng[0], got[0]
        parts = lambda t, n, j: "" if cfg["kind"] == "ntp" else f" (ntp {n:.9f}, {cfg['kind']} {j:.9f})"
        print(f"step-0 loss: engine {e['total']:.9f}{parts(e['total'], e['ntp'], e['jepa'])}, "
              f"pytorch {float(g[0]):.9f}{parts(*map(float, g))}, rel {rel[0]:.2e}; "
              f"largest rel over the {len(rel)} steps (AdamW updates between them) {max(rel):.2e}")
    if args.check:
        if not rel:
            sys.exit("torch_cpu: --check: the dump has no engine losses")
        if not rel[0] <= args.tol:
            print(f"torch_cpu: step-0 loss mismatch: rel {rel[0]:.2e} > {args.tol:g}")
            sys.exit(3)


if __name__ == "__main__":
    main(ARGS)
