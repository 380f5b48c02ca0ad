/* Timing wrapper around a backend op table. */
#include "backend_prof.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OP_LINEAR_F, OP_LINEAR_B, OP_RMS_F, OP_RMS_B, OP_ROPE, OP_ATT_F, OP_ATT_B, OP_ATT_C, OP_SWI_F, OP_SWI_B,
       OP_EMB_F, OP_EMB_B, OP_ADD, OP_COUNT };
static const char *NAMES[OP_COUNT] = {"linear_forward", "linear_backward", "rmsnorm_forward", "rmsnorm_backward",
                                      "rope", "attention_forward", "attention_backward", "attention_cached",
                                      "swiglu_forward", "swiglu_backward", "embedding_forward", "embedding_backward",
                                      "add"};
static double g_sec[OP_COUNT];
static long g_calls[OP_COUNT];
static const Backend *g_in;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define TIMED(op, call) do { double t0 = now(); call; g_sec[op] += now() - t0; g_calls[op]++; } while (0)

static void linear_forward(float *y, const float *x, const float *w, int n, int in, int out) {
    TIMED(OP_LINEAR_F, g_in->linear_forward(y, x, w, n, in, out));
}
static void linear_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, int n, int in,
                            int out) {
    TIMED(OP_LINEAR_B, g_in->linear_backward(dx, dw, dy, x, w, n, in, out));
}
static void rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int n, int c, float eps) {
    TIMED(OP_RMS_F, g_in->rmsnorm_forward(y, rstd, x, w, n, c, eps));
}
static void rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd,
                             int n, int c) {
    TIMED(OP_RMS_B, g_in->rmsnorm_backward(dx, dw, dy, x, w, rstd, n, c));
}
static void rope(float *x, const int *pos, const float *cs, const float *sn, int n, int stride, int col0, int nh, int hd,
                 int inv) {
    TIMED(OP_ROPE, g_in->rope(x, pos, cs, sn, n, stride, col0, nh, hd, inv));
}
static int attention_forward(float *out, float *probs, const float *qkv, const AttnLayout *L, int H, int KV, int hd) {
    int rc;
    TIMED(OP_ATT_F, rc = g_in->attention_forward(out, probs, qkv, L, H, KV, hd));
    return rc;
}
static int attention_backward(float *dqkv, const float *dout, const float *probs, const float *qkv, const AttnLayout *L,
                              int H, int KV, int hd) {
    int rc;
    TIMED(OP_ATT_B, rc = g_in->attention_backward(dqkv, dout, probs, qkv, L, H, KV, hd));
    return rc;
}
static void attention_cached(float *out, const float *qkv, const KVView *kv, int n, int H, int KV, int hd) {
    TIMED(OP_ATT_C, g_in->attention_cached(out, qkv, kv, n, H, KV, hd));
}
static void swiglu_forward(float *a, const float *gu, int n, int f) { TIMED(OP_SWI_F, g_in->swiglu_forward(a, gu, n, f)); }
static void swiglu_backward(float *dgu, const float *da, const float *gu, int n, int f) {
    TIMED(OP_SWI_B, g_in->swiglu_backward(dgu, da, gu, n, f));
}
static void embedding_forward(float *x, const int *ids, const float *E, int n, int c) {
    TIMED(OP_EMB_F, g_in->embedding_forward(x, ids, E, n, c));
}
static void embedding_backward(float *dE, const float *dx, const int *ids, int n, int c) {
    TIMED(OP_EMB_B, g_in->embedding_backward(dE, dx, ids, n, c));
}
static void add(float *y, const float *x, size_t len) { TIMED(OP_ADD, g_in->add(y, x, len)); }

static Backend PROF = {"profiled", linear_forward, linear_backward, rmsnorm_forward, rmsnorm_backward, rope,
                       attention_forward, attention_backward, attention_cached, swiglu_forward, swiglu_backward,
                       embedding_forward, embedding_backward, add};

const Backend *backend_profiled(const Backend *inner) {
    g_in = inner;
    return &PROF;
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
    for (int i = 0; i < OP_COUNT; i++)
        for (int j = i + 1; j < OP_COUNT; j++)
            if (g_sec[idx[j]] > g_sec[idx[i]]) { int t = idx[i]; idx[i] = idx[j]; idx[j] = t; }
    double tot = backend_prof_total();
    fprintf(f, "| op | calls | seconds | share |\n|---|---:|---:|---:|\n");
    for (int k = 0; k < OP_COUNT; k++) {
        int i = idx[k];
        if (!g_calls[i]) continue;
        fprintf(f, "| %s | %ld | %.3f | %.1f%% |\n", NAMES[i], g_calls[i], g_sec[i], tot > 0 ? 100 * g_sec[i] / tot : 0);
    }
}
