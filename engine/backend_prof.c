/* Timing wrapper around a backend (backend_prof.h). */
#include "backend_prof.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROF_OPS(X)                                                                                                   \
    X(set_threads) X(alloc) X(free) X(zero) X(upload) X(download) X(copy) X(gemm) X(linear_forward)                    \
    X(linear_backward) X(rmsnorm_forward) X(rmsnorm_backward) X(rope) X(attention_saved) X(attention_forward)          \
    X(attention_backward) X(attention_cached) X(swiglu_forward) X(swiglu_backward) X(embedding_forward)                \
    X(embedding_backward) X(add) X(dropout_forward) X(dropout_backward) X(gather_rows) X(scatter_add_rows) X(row_combine) X(row_combine_backward)             \
    X(cross_entropy) X(row_stats) X(row_axpby) X(argmax_rows) X(sum_squares) X(scale) X(adamw)    \
    X(epps_pulley)

#define AS_ENUM(op) OP_##op,
#define AS_NAME(op) #op,
enum { PROF_OPS(AS_ENUM) OP_COUNT };
static const char *NAMES[OP_COUNT] = {PROF_OPS(AS_NAME)};

static double g_sec[OP_COUNT];
static long g_calls[OP_COUNT];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs `call` on the inner backend `in`, charging its wall time to op. */
#define TIMED(op, call)                                                                                               \
    do {                                                                                                              \
        Backend *in = be->ctx;                                                                                        \
        double t0 = now();                                                                                            \
        call;                                                                                                         \
        g_sec[OP_##op] += now() - t0;                                                                                 \
        g_calls[OP_##op]++;                                                                                           \
    } while (0)

/* ---- device, memory ---- */

static void set_threads(Backend *be, int threads) { TIMED(set_threads, in->set_threads(in, threads)); }
static void *alloc(Backend *be, size_t bytes) {
    void *p;
    TIMED(alloc, p = in->alloc(in, bytes));
    return p;
}
static void free_(Backend *be, void *p) { TIMED(free, in->free(in, p)); }
static void zero(Backend *be, void *p, size_t bytes) { TIMED(zero, in->zero(in, p, bytes)); }
static void upload(Backend *be, void *dst, const void *src, size_t bytes) {
    TIMED(upload, in->upload(in, dst, src, bytes));
}
static void download(Backend *be, void *dst, const void *src, size_t bytes) {
    TIMED(download, in->download(in, dst, src, bytes));
}
static void copy(Backend *be, void *dst, const void *src, size_t bytes) { TIMED(copy, in->copy(in, dst, src, bytes)); }

/* ---- dense algebra ---- */

static void gemm(Backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *Bm, int ldb, float beta, float *Cm, int ldc) {
    TIMED(gemm, in->gemm(in, ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, Cm, ldc));
}
static void linear_forward(Backend *be, float *y, const float *x, const float *w, int n, int i, int o, int dt) {
    TIMED(linear_forward, in->linear_forward(in, y, x, w, n, i, o, dt));
}
static void linear_backward(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w, int n,
                            int i, int o, int dt, int dx_acc) {
    TIMED(linear_backward, in->linear_backward(in, dx, dw, dy, x, w, n, i, o, dt, dx_acc));
}

/* ---- layers ---- */

static void rmsnorm_forward(Backend *be, float *y, float *rstd, const float *x, const float *w, int n, int c,
                            float eps) {
    TIMED(rmsnorm_forward, in->rmsnorm_forward(in, y, rstd, x, w, n, c, eps));
}
static void rmsnorm_backward(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w,
                             const float *rstd, int n, int c) {
    TIMED(rmsnorm_backward, in->rmsnorm_backward(in, dx, dw, dy, x, w, rstd, n, c));
}
static void rope(Backend *be, float *x, const int *pos, const float *cs, const float *sn, int n, int stride, int col0,
                 int nh, int hd, int inv) {
    TIMED(rope, in->rope(in, x, pos, cs, sn, n, stride, col0, nh, hd, inv));
}
static size_t attention_saved(Backend *be, const AttnLayout *L, int H, int KV, int hd) {
    size_t s;
    TIMED(attention_saved, s = in->attention_saved(in, L, H, KV, hd));
    return s;
}
static int attention_forward(Backend *be, float *out, float *saved, const float *qkv, const AttnLayout *L, int H,
                             int KV, int hd) {
    int rc;
    TIMED(attention_forward, rc = in->attention_forward(in, out, saved, qkv, L, H, KV, hd));
    return rc;
}
static int attention_backward(Backend *be, float *dqkv, const float *dout, const float *out, const float *saved,
                              const float *qkv, const AttnLayout *L, int H, int KV, int hd) {
    int rc;
    TIMED(attention_backward, rc = in->attention_backward(in, dqkv, dout, out, saved, qkv, L, H, KV, hd));
    return rc;
}
static void attention_cached(Backend *be, float *out, const float *qkv, const KVView *kv, int n, int H, int KV,
                             int hd) {
    TIMED(attention_cached, in->attention_cached(in, out, qkv, kv, n, H, KV, hd));
}
static void swiglu_forward(Backend *be, float *a, const float *gu, int n, int f) {
    TIMED(swiglu_forward, in->swiglu_forward(in, a, gu, n, f));
}
static void swiglu_backward(Backend *be, float *dgu, const float *da, const float *gu, int n, int f) {
    TIMED(swiglu_backward, in->swiglu_backward(in, dgu, da, gu, n, f));
}
static void embedding_forward(Backend *be, float *x, const int *ids, const float *E, int n, int c) {
    TIMED(embedding_forward, in->embedding_forward(in, x, ids, E, n, c));
}
static void embedding_backward(Backend *be, float *dE, const float *dx, const int *ids, int n, int c) {
    TIMED(embedding_backward, in->embedding_backward(in, dE, dx, ids, n, c));
}
static void add(Backend *be, float *y, const float *x, size_t len) { TIMED(add, in->add(in, y, x, len)); }
static void dropout_forward(Backend *be, float *y, const float *x, size_t len, float p, uint64_t key) {
    TIMED(dropout_forward, in->dropout_forward(in, y, x, len, p, key));
}
static void dropout_backward(Backend *be, float *dx, const float *dy, size_t len, float p, uint64_t key) {
    TIMED(dropout_backward, in->dropout_backward(in, dx, dy, len, p, key));
}

/* ---- rows ---- */

static void gather_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c) {
    TIMED(gather_rows, in->gather_rows(in, dst, src, rows, m, c));
}
static void scatter_add_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c) {
    TIMED(scatter_add_rows, in->scatter_add_rows(in, dst, src, rows, m, c));
}
static void row_combine(Backend *be, float *out, const float *src, const int *ptr, const int *idx, const float *w,
                        int m, int c) {
    TIMED(row_combine, in->row_combine(in, out, src, ptr, idx, w, m, c));
}
static void row_combine_backward(Backend *be, float *dsrc, const float *dout, const int *ptr, const int *idx,
                                 const float *w, int m, int c) {
    TIMED(row_combine_backward, in->row_combine_backward(in, dsrc, dout, ptr, idx, w, m, c));
}
static void cross_entropy(Backend *be, float *loss, float *dl, const float *l, const int *tgt, int M, int V,
                          float dscale) {
    TIMED(cross_entropy, in->cross_entropy(in, loss, dl, l, tgt, M, V, dscale));
}
static void row_stats(Backend *be, double *stats, const float *U, const float *Cc, int B, int D) {
    TIMED(row_stats, in->row_stats(in, stats, U, Cc, B, D));
}
static void row_axpby(Backend *be, float *y, const double *a, const float *x, const double *b, const float *z, int B,
                      int D) {
    TIMED(row_axpby, in->row_axpby(in, y, a, x, b, z, B, D));
}
static void argmax_rows(Backend *be, int *out, const float *x, int m, int V) {
    TIMED(argmax_rows, in->argmax_rows(in, out, x, m, V));
}

/* ---- optimizer ---- */

static double sum_squares(Backend *be, const float *x, size_t n) {
    double s;
    TIMED(sum_squares, s = in->sum_squares(in, x, n));
    return s;
}
static void scale(Backend *be, float *x, size_t n, float s) { TIMED(scale, in->scale(in, x, n, s)); }
static void adamw(Backend *be, float *p, const float *g, float *m, float *v, size_t n, double lr, double beta1,
                  double beta2, double eps, double wd, long t) {
    TIMED(adamw, in->adamw(in, p, g, m, v, n, lr, beta1, beta2, eps, wd, t));
}

/* ---- regularisers ---- */

static void epps_pulley(Backend *be, double *stat, float *dY, const float *Y, int B, int S, double dscale) {
    TIMED(epps_pulley, in->epps_pulley(in, stat, dY, Y, B, S, dscale));
}

static const Backend PROF = {
    .name = "prof",
    .set_threads = set_threads, .alloc = alloc, .free = free_, .zero = zero, .upload = upload,
    .download = download, .copy = copy, .gemm = gemm, .linear_forward = linear_forward,
    .linear_backward = linear_backward, .rmsnorm_forward = rmsnorm_forward, .rmsnorm_backward = rmsnorm_backward,
    .rope = rope, .attention_saved = attention_saved, .attention_forward = attention_forward,
    .attention_backward = attention_backward, .attention_cached = attention_cached,
    .swiglu_forward = swiglu_forward, .swiglu_backward = swiglu_backward, .embedding_forward = embedding_forward,
    .embedding_backward = embedding_backward, .add = add, .dropout_forward = dropout_forward,
    .dropout_backward = dropout_backward, .gather_rows = gather_rows, .scatter_add_rows = scatter_add_rows,
    .row_combine = row_combine, .row_combine_backward = row_combine_backward,
    .cross_entropy = cross_entropy, .row_stats = row_stats, .row_axpby = row_axpby, .argmax_rows = argmax_rows,
    .sum_squares = sum_squares, .scale = scale, .adamw = adamw, .epps_pulley = epps_pulley,
};

enum { MAX_WRAPPED = 8 };
static Backend g_wrap[MAX_WRAPPED];
static char g_name[MAX_WRAPPED][48];

Backend *backend_profiled(Backend *inner) {
    for (int i = 0; i < MAX_WRAPPED; i++) {
        if (g_wrap[i].ctx == inner) return &g_wrap[i];
        if (g_wrap[i].ctx) continue;
        g_wrap[i] = PROF;
        g_wrap[i].ctx = inner;
        if (!inner->epps_pulley) g_wrap[i].epps_pulley = NULL; /* an optional op stays absent */
        snprintf(g_name[i], sizeof g_name[i], "prof:%s", inner->name);
        g_wrap[i].name = g_name[i];
        return &g_wrap[i];
    }
    return NULL;
}

void backend_prof_reset(void) {
    memset(g_sec, 0, sizeof g_sec);
    memset(g_calls, 0, sizeof g_calls);
}

double backend_prof_total(void) {
    double s = 0;
    for (int i = 0; i < OP_COUNT; i++) s += g_sec[i];
    return s;
}

void backend_prof_print(FILE *f) {
    int idx[OP_COUNT];
    for (int i = 0; i < OP_COUNT; i++) idx[i] = i;
    for (int i = 0; i < OP_COUNT; i++) /* slowest first */
        for (int j = i + 1; j < OP_COUNT; j++)
            if (g_sec[idx[j]] > g_sec[idx[i]]) { int t = idx[i]; idx[i] = idx[j]; idx[j] = t; }
    double tot = backend_prof_total();
    fprintf(f, "| op | calls | seconds | share |\n|---|---:|---:|---:|\n");
    for (int k = 0; k < OP_COUNT; k++) {
        int i = idx[k];
        if (!g_calls[i]) continue;
        double share = tot > 0 ? 100 * g_sec[i] / tot : 0;
        fprintf(f, "| %s | %ld | %.3f | %.1f%% |\n", NAMES[i], g_calls[i], g_sec[i], share);
    }
}
