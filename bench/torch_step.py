#!/usr/bin/env python3
"""Training-step throughput of a PyTorch Llama (LlamaForCausalLM's layout) for comparison with the engine.

    python3 bench/torch_step.py                      # every shape below, bf16, on the GPU
    python3 bench/torch_step.py --shape llama1b --dtype fp32 --steps 5

One step is forward + backward of the mean next-token cross-entropy over batch x seq random tokens,
without the optimizer update (as build/bench_step), after warm-up steps; CUDA events time it. The model
is written out here (no transformers needed): embedding, per layer RMSNorm -> q/k/v/o projections
with rotate-half RoPE and grouped-query attention through torch's scaled_dot_product_attention
(causal), RMSNorm -> SwiGLU MLP, final RMSNorm, tied LM head; no biases.

MFU = achieved FLOP/s / the GPU's peak: FLOPs per token = 6 x (parameters excluding the embedding
table, the tied LM head counted once) + 6 x layers x seq x hidden (the causal attention products,
QK^T and PV, forward and backward, half the square); peak = --peak TFLOP/s, by default the
H100/H200 SXM datasheet's dense figure for the dtype (bf16 989, tf32 494, fp32 67).

Shapes: the engine's presets (engine/model_config.c; vocabulary 278, the byte tokenizer's, batch 32
x seq 100, about a bench_step batch) and Llama-3.2-1B (hidden 2048, 16 layers, 32 heads / 8 KV,
intermediate 8192, vocabulary 128256, tied embeddings; batch 8 x seq 512), and that shape with the
byte vocabulary and bench_step's batch (llama1b_bytes), which bench/gpu.sh runs the engine on.
Prints one markdown row per shape; says "skipped" and exits 0 without torch or without a GPU.
"""
import argparse
import sys
import time

SHAPES = {
    # name: hidden, layers, heads, kv heads, intermediate, vocab, batch, seq
    "pico": (32, 2, 4, 2, 64, 278, 32, 100),
    "nano": (128, 3, 4, 4, 320, 278, 32, 100),
    "micro": (192, 6, 6, 2, 512, 278, 32, 100),
    "llama1b": (2048, 16, 32, 8, 8192, 128256, 8, 512),
    "llama1b_bytes": (2048, 16, 32, 8, 8192, 278, 32, 100),  # the engine's bench_step at the 1B shape
}
PEAK_TFLOPS = {"bf16": 989.0, "tf32": 494.0, "fp32": 67.0}


def skip(msg):
    print(f"torch_step: skipped ({msg})")
    sys.exit(0)


try:
    import torch
    import torch.nn.functional as F
except ImportError:
    skip("PyTorch is not installed")


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.w


def rope_tables(seq, hd, theta, device):
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, device=device, dtype=torch.float32) / hd))
    f = torch.outer(torch.arange(seq, device=device, dtype=torch.float32), inv)
    emb = torch.cat([f, f], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, C, H, KV, Fd):
        super().__init__()
        self.H, self.KV, self.hd = H, KV, C // H
        self.n1, self.n2 = RMSNorm(C), RMSNorm(C)
        self.q = torch.nn.Linear(C, H * self.hd, bias=False)
        self.k = torch.nn.Linear(C, KV * self.hd, bias=False)
        self.v = torch.nn.Linear(C, KV * self.hd, bias=False)
        self.o = torch.nn.Linear(H * self.hd, C, bias=False)
        self.gate = torch.nn.Linear(C, Fd, bias=False)
        self.up = torch.nn.Linear(C, Fd, bias=False)
        self.down = torch.nn.Linear(Fd, C, bias=False)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        h = self.n1(x)
        q = self.q(h).view(B, T, self.H, self.hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.KV, self.hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.KV, self.hd).transpose(1, 2)
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if self.KV != self.H:
            k = k.repeat_interleave(self.H // self.KV, dim=1)
            v = v.repeat_interleave(self.H // self.KV, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(B, T, C))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(torch.nn.Module):
    def __init__(self, C, L, H, KV, Fd, V):
        super().__init__()
        self.embed = torch.nn.Embedding(V, C)
        self.layers = torch.nn.ModuleList(Layer(C, H, KV, Fd) for _ in range(L))
        self.norm = RMSNorm(C)
        self.hd = C // H

    def forward(self, ids, tgt, cos, sin):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        logits = F.linear(self.norm(x), self.embed.weight)  # tied LM head
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), tgt.view(-1))


def flops_per_token(C, L, H, KV, Fd, V, seq):
    hd = C // H
    per_layer = C * H * hd + 2 * C * KV * hd + H * hd * C + 3 * C * Fd + 2 * C
    params = L * per_layer + C + V * C  # the tied head's matmul counted once; the embedding lookup costs no FLOPs
    return 6 * params + 6 * L * seq * C


def bench(name, args, device):
    C, L, H, KV, Fd, V, B, T = SHAPES[name]
    B, T = args.batch or B, args.seq or T
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32, "tf32": torch.float32}[args.dtype]
    torch.backends.cuda.matmul.allow_tf32 = args.dtype == "tf32"
    torch.backends.cudnn.allow_tf32 = args.dtype == "tf32"
    torch.manual_seed(0)
    model = Llama(C, L, H, KV, Fd, V).to(device=device, dtype=dtype)
    for p in model.parameters():
        if p.dim() == 2:
            torch.nn.init.normal_(p, std=0.02)
    cos, sin = rope_tables(T, C // H, 500000.0, device)
    ids = torch.randint(0, V, (B, T), device=device)
    tgt = torch.randint(0, V, (B, T), device=device)

    def step():
        model.zero_grad(set_to_none=True)
        loss = model(ids, tgt, cos, sin)
        loss.backward()
        return loss

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0.record()
        for _ in range(args.steps):
            loss = step()
        t1.record()
        torch.cuda.synchronize()
        sec = t0.elapsed_time(t1) / 1e3 / args.steps
    else:
        s = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        sec = (time.perf_counter() - s) / args.steps
    tok = B * T / sec
    fl = flops_per_token(C, L, H, KV, Fd, V, T) * tok
    peak = (args.peak or PEAK_TFLOPS[args.dtype]) * 1e12
    nparams = sum(p.numel() for p in model.parameters())
    print(f"| torch {args.dtype} | {name} | {nparams / 1e6:.2f}M | {B}x{T} | {sec * 1e3:.2f} ms | {tok:,.0f} | "
          f"{fl / 1e12:.1f} | {100 * fl / peak:.1f}% | loss {loss.item():.3f} |")
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", default="all", choices=["all"] + list(SHAPES))
    ap.add_argument("--dtype", default="bf16", choices=list(PEAK_TFLOPS))
    ap.add_argument("--batch", type=int, default=0, help="override the shape's batch")
    ap.add_argument("--seq", type=int, default=0, help="override the shape's sequence length")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--peak", type=float, default=0.0, help="peak TFLOP/s for MFU (default: H100/H200 SXM, per dtype)")
    ap.add_argument("--device", default="cuda", help="cuda, or cpu (slow; small shapes)")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        skip("no CUDA device")
    device = torch.device(args.device)
    names = list(SHAPES) if args.shape == "all" else [args.shape]
    gpu = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {gpu}; forward + backward per step, {args.steps} steps after {args.warmup}")
    print("| what | shape | params | batch x seq | step | tokens/s | TFLOP/s | MFU | |")
    print("|---|---|---:|---|---:|---:|---:|---:|---|")
    for n in names:
        bench(n, args, device)


if __name__ == "__main__":
    main()
