#!/usr/bin/python3
"""Opt-in cross-check of our t-SNE (analysis/tsne.h, through bench_tsne) against
scikit-learn's TSNE on the same data. Not part of the build or the tests; the
project does not depend on scikit-learn.

usage: tsne_crosscheck.py BENCH_TSNE [n=2000] [d=128] [iters=1000] [perplexity=30]
                          [theta=0.5] [exact_max=5000] [threads=1] [k=10]

Data: 10 Gaussian clusters (centres 4·N(0, I), points centre + N(0, I),
numpy RandomState(1)), float32. Runs bench_tsne on it (in=/out= raw files),
then sklearn.manifold.TSNE on the same data standardised as ours (centred,
divided by max |x|) with the same schedule: perplexity, early exaggeration 12
for 250 steps, init N(0, 1e-4² I), method exact when n <= exact_max else
barnes_hut with angle theta, no early stop. Our gradient is a quarter of
sklearn's (van der Maaten's reference code), so our learning rate 200 is
sklearn's 50.

Prints time, KL and trustworthiness T(k) of both, and checks
  1. our tsne_trustworthiness of our embedding = sklearn's trustworthiness of
     it (to 1e-6);
  2. our T(k) is not below sklearn's by more than 0.02.
Exit 0 both hold, 1 otherwise, 77 skipped (numpy or scikit-learn missing).
"""
import os
import re
import subprocess
import sys
import tempfile
import time


def parse_args(argv):
    opts = {"n": 2000, "d": 128, "iters": 1000, "perplexity": 30.0, "theta": 0.5,
            "exact_max": 5000, "threads": 1, "k": 10}
    for a in argv:
        key, _, val = a.partition("=")
        if key not in opts:
            sys.exit(f"tsne_crosscheck: unknown option {a}")
        opts[key] = type(opts[key])(val)
    return opts


def make_data(np, n, d):
    rs = np.random.RandomState(1)
    c = 4 * rs.randn(10, d)
    return (c[np.arange(n) % 10] + rs.randn(n, d)).astype(np.float32)


def run_ours(bench, X, o, tmp):
    xin, yout = os.path.join(tmp, "X.f32"), os.path.join(tmp, "Y.f64")
    X.tofile(xin)
    keys = ("n", "d", "iters", "perplexity", "theta", "exact_max", "threads", "k")
    cmd = [bench] + [f"{k}={o[k]}" for k in keys] + [f"in={xin}", f"out={yout}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"tsne_run ([\d.]+) s \(cpu [\d.]+ s\), KL ([\d.]+), T\(\d+\) ([\d.]+)", out)
    if not m:
        sys.exit(f"tsne_crosscheck: cannot read bench_tsne output: {out!r}")
    return out.strip(), float(m[1]), float(m[2]), float(m[3]), yout


def run_sklearn(np, TSNE, X, o):
    Xs = X.astype(np.float64)
    Xs -= Xs.mean(axis=0)
    Xs /= np.abs(Xs).max()
    exact = o["n"] <= o["exact_max"]
    ts = TSNE(n_components=2, perplexity=o["perplexity"], early_exaggeration=12.0, learning_rate=50.0,
              max_iter=o["iters"], n_iter_without_progress=o["iters"], min_grad_norm=0.0, init="random",
              method="exact" if exact else "barnes_hut", angle=o["theta"], random_state=0)
    t0 = time.time()
    Y = ts.fit_transform(Xs)
    return time.time() - t0, ts.kl_divergence_, Y


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    bench, o = sys.argv[1], parse_args(sys.argv[2:])
    os.environ.setdefault("OMP_NUM_THREADS", str(o["threads"]))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(o["threads"]))
    try:
        import numpy as np
        from sklearn.manifold import TSNE, trustworthiness
    except ImportError as e:
        print(f"tsne_crosscheck: skipped ({e})")
        return 77
    X = make_data(np, o["n"], o["d"])
    with tempfile.TemporaryDirectory() as tmp:
        line, t_ours, kl_ours, tr_ours, yout = run_ours(bench, X, o, tmp)
        Y = np.fromfile(yout, dtype=np.float64).reshape(o["n"], 2)
    tr_check = trustworthiness(X, Y, n_neighbors=o["k"])
    t_sk, kl_sk, Y_sk = run_sklearn(np, TSNE, X, o)
    tr_sk = trustworthiness(X, Y_sk, n_neighbors=o["k"])
    print(line)
    print(f"ours:    {t_ours:8.2f} s  KL {kl_ours:.4f}  T({o['k']}) {tr_ours:.4f}"
          f"  (sklearn's trustworthiness of our Y: {tr_check:.6f})")
    print(f"sklearn: {t_sk:8.2f} s  KL {kl_sk:.4f}  T({o['k']}) {tr_sk:.4f}")
    ok = abs(tr_check - tr_ours) <= 1e-6 and tr_ours >= tr_sk - 0.02
    print("tsne_crosscheck:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
