/* The linear layers' matrix products alone, fp32 against the two bf16 paths
 * (engine/gemm_bf16.h): OpenBLAS sgemm at fp32, the bf16 fallback (rounded
 * copies of both operands, then sgemm) and the AVX512-BF16 kernel.
 *
 *   build/bench_gemm [key=value...]   run config keys (model=nano, hidden_size=..., threads=1), and
 *                                     tokens=N (3100: a nano batch of 32), reps=N (10),
 *                                     kernel=native|emulate (emulate: the C emulation of the
 *                                     kernel, to try the bench on a CPU without AVX512-BF16; slow)
 *
 * For each linear layer of one decoder layer (q/k/v as one product, o,
 * gate/up as one, down) and the LM head it times the three products of a
 * training step, as the CPU backend calls them: forward y = x·Wᵀ (M n, N out,
 * K in), dx = dy·W (n, in, out), dW += dyᵀ·x (out, in, n). Each is the median
 * of reps calls after one warm-up, in ms, with GFLOP/s (2·M·N·K per call);
 * then the step's total (decoder layers × num_hidden_layers + LM head) and
 * each bf16 path's speed-up over fp32. The kernel's column says "skipped" on
 * a CPU without AVX512-BF16. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "bench_util.h"
#include "config.h"
#include "gemm_bf16.h"
#include "model.h"
#include "model_config.h"
#include "rng.h"
#include "tokenizer.h"
#include "train.h" /* now_seconds */

typedef struct { const char *name; int in, out, per_layer; } Layer;
typedef struct { int tokens, reps, emulate; } Opts;
enum { FP32, BF16_SGEMM, BF16_KERNEL, NPATH };
enum { FWD, DX, DW, NPROD };

/* One product of one layer by one path: x (n,in), w (out,in), dy (n,out) in; y, dx, dw out. */
static void product(Backend *be, int path, int prod, const Layer *l, int n, const float *x, const float *w,
                    const float *dy, float *y, float *dx, float *dw, int emulate) {
    int in = l->in, out = l->out;
    if (path != BF16_KERNEL) {
        int dt = path == FP32 ? DTYPE_FP32 : DTYPE_BF16;
        if (prod == FWD) be->linear_forward(be, y, x, w, n, in, out, dt);
        else if (prod == DX) be->linear_backward(be, dx, NULL, dy, NULL, w, n, in, out, dt, DX_SET);
        else be->linear_backward(be, NULL, dw, dy, x, w, n, in, out, dt, DX_ADD);
        return;
    }
    int (*k)(int, int, int, int, int, const float *, int, const float *, int, float, float *, int) =
        emulate ? gemm_bf16_avx512_emu : gemm_bf16_avx512;
    int rc = prod == FWD  ? k(0, 1, n, out, in, x, in, w, in, 0.0f, y, out)
             : prod == DX ? k(0, 0, n, in, out, dy, out, w, in, 0.0f, dx, in)
                          : k(1, 0, out, in, n, dy, out, x, in, 1.0f, dw, in);
    if (rc) { fprintf(stderr, "bench_gemm: out of memory\n"); exit(1); }
}

/* Median ms of reps calls of one product, after a warm-up call. */
static double time_product(Backend *be, int path, int prod, const Layer *l, const Opts *o, float **buf) {
    double *t = malloc((size_t)o->reps * sizeof *t);
    for (int r = -1; r < o->reps; r++) {
        double t0 = now_seconds();
        product(be, path, prod, l, o->tokens, buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], o->emulate);
        if (r >= 0) t[r] = (now_seconds() - t0) * 1e3;
    }
    double m = bench_median(t, o->reps);
    free(t);
    return m;
}

static float *randn(size_t n, Rng *r) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)rng_normal(r);
    return p;
}

static int parse(int argc, char **argv, Config *c, Opts *o) {
    char err[512];
    config_defaults(c);
    config_set_kv(c, "model=nano", err, sizeof err);
    config_set_kv(c, "threads=1", err, sizeof err);
    *o = (Opts){3100, 10, 0};
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "tokens=", 7)) o->tokens = atoi(argv[i] + 7);
        else if (!strncmp(argv[i], "reps=", 5)) o->reps = atoi(argv[i] + 5);
        else if (!strcmp(argv[i], "kernel=emulate")) o->emulate = 1;
        else if (!strcmp(argv[i], "kernel=native")) o->emulate = 0;
        else if (config_set_kv(c, argv[i], err, sizeof err)) { fprintf(stderr, "bench_gemm: %s\n", err); return -1; }
    }
    if (o->tokens < 1 || o->reps < 1) { fprintf(stderr, "bench_gemm: tokens and reps must be >= 1\n"); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    if (!getenv("OMP_WAIT_POLICY")) { /* as harness/main.c: passive OpenMP threads leave the cores to OpenBLAS */
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
    }
    setenv("HARNESS_BF16_GEMM", "sgemm", 1); /* the backend's bf16 is the fallback; the kernel is called directly */
    Config c;
    Opts o;
    ModelConfig mc;
    char err[512];
    if (parse(argc, argv, &c, &o)) return 2;
    if (model_config_resolve(&c, NULL, TOK_VOCAB, &mc, err, sizeof err)) {
        fprintf(stderr, "bench_gemm: %s\n", err);
        return 2;
    }
    Backend *be = backend_by_name("cpu");
    be->set_threads(be, c.threads);
    int hd = mc.dim / mc.n_heads, kernel_ok = o.emulate || gemm_bf16_native_ok();
    Layer layers[] = {{"q/k/v", mc.dim, (mc.n_heads + 2 * mc.n_kv_heads) * hd, 1}, {"o", mc.n_heads * hd, mc.dim, 1},
                      {"gate/up", mc.dim, 2 * mc.ffn_dim, 1},   {"down", mc.ffn_dim, mc.dim, 1},
                      {"lm_head", mc.dim, mc.vocab_size, 0}};
    int nl = (int)(sizeof layers / sizeof *layers), maxd = 0;
    for (int i = 0; i < nl; i++) {
        if (layers[i].in > maxd) maxd = layers[i].in;
        if (layers[i].out > maxd) maxd = layers[i].out;
    }
    Rng r = rng_stream(1, "bench_gemm");
    size_t nt = (size_t)o.tokens * maxd;
    float *buf[6] = {randn(nt, &r), randn((size_t)maxd * maxd, &r), randn(nt, &r), randn(nt, &r), randn(nt, &r),
                     randn((size_t)maxd * maxd, &r)}; /* x, w, dy, y, dx, dw */
    printf("model %s (hidden %d, %d layers), %d tokens, threads %d, median of %d calls; bf16 kernel: %s\n\n", c.model,
           mc.dim, mc.n_layers, o.tokens, c.threads, o.reps,
           o.emulate ? "emulated (C)" : kernel_ok ? "AVX512-BF16" : "skipped (this CPU has no AVX512-BF16)");
    printf("| layer | product | M×N×K | fp32 ms (GFLOP/s) | bf16 sgemm ms (× fp32) | bf16 kernel ms (× fp32) |\n");
    printf("|---|---|---|---:|---:|---:|\n");
    static const char *pn[NPROD] = {"y = x·Wᵀ", "dx = dy·W", "dW += dyᵀ·x"};
    double total[NPATH] = {0};
    for (int i = 0; i < nl; i++)
        for (int p = 0; p < NPROD; p++) {
            const Layer *l = &layers[i];
            int M = p == DW ? l->out : o.tokens, N = p == FWD ? l->out : l->in;
            int K = p == FWD ? l->in : p == DX ? l->out : o.tokens;
            double ms[NPATH];
            for (int path = 0; path < NPATH; path++)
                ms[path] = path == BF16_KERNEL && !kernel_ok ? 0 : time_product(be, path, p, l, &o, buf);
            int times = l->per_layer ? mc.n_layers : 1;
            for (int path = 0; path < NPATH; path++) total[path] += times * ms[path];
            printf("| %s | %s | %d×%d×%d | %.3f (%.1f) | %.3f (%.2f×) |", l->name, pn[p], M, N, K, ms[FP32],
                   2.0 * M * N * K / ms[FP32] * 1e-6, ms[BF16_SGEMM], ms[FP32] / ms[BF16_SGEMM]);
            if (kernel_ok) printf(" %.3f (%.2f×) |\n", ms[BF16_KERNEL], ms[FP32] / ms[BF16_KERNEL]);
            else printf(" skipped |\n");
        }
    printf("\nper training step (%d layers + LM head): fp32 %.2f ms, bf16 sgemm %.2f ms (%.2f×)", mc.n_layers,
           total[FP32], total[BF16_SGEMM], total[FP32] / total[BF16_SGEMM]);
    if (kernel_ok) printf(", bf16 kernel %.2f ms (%.2f×)", total[BF16_KERNEL], total[FP32] / total[BF16_KERNEL]);
    printf("\n");
    for (int i = 0; i < 6; i++) free(buf[i]);
    return 0;
}
