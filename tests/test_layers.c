/* Per-op gradient checks of the CPU backend and the losses.
 *
 * Every backward is checked on EVERY coordinate against central finite
 * differences of its forward: loss = Σ r ⊙ y (in double) with a fixed random
 * r, analytic gradient = backward with dy = r. The numeric derivative uses
 * the step actually representable in float and one Richardson extrapolation
 * step (error O(h⁴)), so the tolerances can be tight: a 1% error in any single
 * term of a backward formula fails (checked by mutating a scratch copy of the
 * backend). Every backward is also called twice to check it ACCUMULATES
 * (swiglu_backward, which assigns, is called again on NaN to check it
 * overwrites).
 * Forward passes are compared with naive double-precision references. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "fd.h"
#include "batch.h"
#include "loss.h"
#include "model.h"
#include "rng.h"

static Backend *BE;

static void setup(void) {
    BE = backend_cpu();
    BE->set_threads(BE, 1);
}

/* ---- helpers ------------------------------------------------------------------ */

static float *randn(size_t n, Rng *r, double scale, double shift) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    cr_assert(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(shift + scale * rng_normal(r));
    return x;
}

static float *zeros(size_t n) {
    float *x = calloc(n ? n : 1, sizeof(float));
    cr_assert(x);
    return x;
}

static float *dup(const float *x, size_t n) {
    float *y = malloc((n ? n : 1) * sizeof(float));
    cr_assert(y);
    memcpy(y, x, n * sizeof(float));
    return y;
}

static double maxabs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

typedef FdLossFn LossFn;

static int verbose(void) { return getenv("TEST_LAYERS_VERBOSE") != NULL; }

/* Checks EVERY coordinate of x: ratio |an - num| / (atol + rtol max(|an|,|num|))
 * must be <= 1, where atol = atol_rel * max|an| (float round-off of the
 * forward scales with the gradients). Fails the test (expect) and prints the
 * worst coordinate. */
static void grad_check(LossFn f, void *ctx, float *x, const float *an, size_t len, double h, double rtol,
                       double atol_rel, const char *what) {
    double worst = 0, wa = 0, wn = 0, werr = 0, atol = atol_rel * maxabs(an, len);
    size_t wi = 0;
    for (size_t i = 0; i < len; i++) {
        double num = fd_richardson(f, ctx, x, i, h), a = an[i];
        double err = fabs(a - num), r = err / (atol + rtol * fmax(fabs(a), fabs(num)));
        if (r > worst) { worst = r; wi = i; wa = a; wn = num; werr = err; }
    }
    if (verbose() || worst > 1)
        fprintf(stderr, "%-28s worst ratio %.3g at %zu: analytic %.9g numeric %.9g (|err| %.3g, max|g| %.3g)\n",
                what, worst, wi, wa, wn, werr, maxabs(an, len));
    cr_expect_leq(worst, 1.0, "%s: gradient mismatch at %zu: analytic %.9g numeric %.9g (ratio %.3g)", what, wi, wa,
                  wn, worst);
}

/* The gradient must be non-trivial, so that the checks can fail. */
static void expect_nontrivial(const float *g, size_t n, const char *what) {
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) nz += g[i] != 0.0f;
    cr_expect_gt(nz, n / 2, "%s: only %zu of %zu gradient entries are non-zero", what, nz, n);
}

/* After a second backward into the same buffers: g2 == 2 g1. */
static void expect_doubled(const float *g2, const float *g1, size_t n, const char *what) {
    double worst = 0, floor = 1e-7 * maxabs(g1, n) + 1e-30;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)g2[i] - 2.0 * g1[i]) / (floor + 1e-6 * fabs(2.0 * g1[i]));
        if (e > worst) { worst = e; wi = i; }
    }
    cr_expect_leq(worst, 1.0, "%s: backward does not accumulate: at %zu got %.9g after two calls, %.9g after one",
                  what, wi, g2[wi], g1[wi]);
}

static void expect_close(const float *got, const double *ref, size_t n, double tol, const char *what) {
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]);
        if (!(e <= worst)) { worst = e; wi = i; } /* NaN counts as worst */
    }
    cr_expect_leq(worst, tol, "%s: at %zu got %.9g, reference %.9g (|err| %.3g)", what, wi, got[wi], ref[wi], worst);
}

static void expect_finite(const float *x, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            cr_expect_fail("%s: non-finite value %g at %zu", what, x[i], i);
            return;
        }
}

/* ---- Linear ------------------------------------------------------------------- */

typedef struct LinCtx { int n, in, out; float *x, *w, *r, *y; } LinCtx;

static double lin_loss(void *p) {
    LinCtx *c = p;
    BE->linear_forward(BE, c->y, c->x, c->w, c->n, c->in, c->out, DTYPE_FP32);
    return fd_dot(c->r, c->y, (size_t)c->n * c->out);
}

Test(layers, linear, .init = setup) {
    Rng rg = rng_stream(1, "linear");
    LinCtx c = {3, 5, 4, NULL, NULL, NULL, NULL};
    size_t nx = (size_t)c.n * c.in, nw = (size_t)c.out * c.in, ny = (size_t)c.n * c.out;
    c.x = randn(nx, &rg, 1, 0);
    c.w = randn(nw, &rg, 1, 0);
    c.r = randn(ny, &rg, 1, 0);
    c.y = zeros(ny);
    /* forward: y = x·wᵀ with w (out, in) */
    lin_loss(&c);
    double *ref = malloc(ny * sizeof(double));
    for (int t = 0; t < c.n; t++)
        for (int o = 0; o < c.out; o++) {
            double s = 0;
            for (int i = 0; i < c.in; i++) s += (double)c.x[t * c.in + i] * c.w[o * c.in + i];
            ref[t * c.out + o] = s;
        }
    expect_close(c.y, ref, ny, 1e-6, "linear forward");
    float *dx = zeros(nx), *dw = zeros(nw);
    BE->linear_backward(BE, dx, dw, c.r, c.x, c.w, c.n, c.in, c.out, DTYPE_FP32, DX_ADD);
    expect_nontrivial(dx, nx, "linear dx");
    expect_nontrivial(dw, nw, "linear dw");
    grad_check(lin_loss, &c, c.x, dx, nx, 0.25, 1e-4, 1e-5, "linear dx");
    grad_check(lin_loss, &c, c.w, dw, nw, 0.25, 1e-4, 1e-5, "linear dw");
    /* dx may be NULL: dw alone is the same */
    float *dw_only = zeros(nw);
    BE->linear_backward(BE, NULL, dw_only, c.r, c.x, c.w, c.n, c.in, c.out, DTYPE_FP32, DX_ADD);
    float *dx1 = dup(dx, nx), *dw1 = dup(dw, nw);
    for (size_t i = 0; i < nw; i++)
        cr_expect_float_eq(dw_only[i], dw1[i], 1e-6 * (1 + fabs(dw1[i])), "dx=NULL changes dw at %zu", i);
    BE->linear_backward(BE, dx, dw, c.r, c.x, c.w, c.n, c.in, c.out, DTYPE_FP32, DX_ADD);
    expect_doubled(dx, dx1, nx, "linear dx");
    expect_doubled(dw, dw1, nw, "linear dw");
    free(c.x); free(c.w); free(c.r); free(c.y); free(ref); free(dx); free(dw); free(dw_only); free(dx1); free(dw1);
}

/* ---- RMSNorm ------------------------------------------------------------------ */

typedef struct NormCtx { int n, c; float eps; float *x, *w, *r, *y, *rstd; } NormCtx;

static double norm_loss(void *p) {
    NormCtx *c = p;
    BE->rmsnorm_forward(BE, c->y, c->rstd, c->x, c->w, c->n, c->c, c->eps);
    return fd_dot(c->r, c->y, (size_t)c->n * c->c);
}

Test(layers, rmsnorm, .init = setup) {
    Rng rg = rng_stream(2, "rmsnorm");
    NormCtx c = {3, 6, 1e-2f, NULL, NULL, NULL, NULL, NULL}; /* eps large enough to matter */
    size_t nx = (size_t)c.n * c.c;
    c.x = randn(nx, &rg, 1, 0);
    for (int i = 0; i < c.c; i++) c.x[i] *= 0.1f; /* a row where eps is significant */
    c.w = randn((size_t)c.c, &rg, 0.5, 1.0);
    c.r = randn(nx, &rg, 1, 0);
    c.y = zeros(nx);
    c.rstd = zeros((size_t)c.n);
    norm_loss(&c);
    double *ref = malloc(nx * sizeof(double));
    for (int t = 0; t < c.n; t++) {
        double ss = 0;
        for (int i = 0; i < c.c; i++) ss += (double)c.x[t * c.c + i] * c.x[t * c.c + i];
        double rs = 1.0 / sqrt(ss / c.c + c.eps);
        cr_expect_float_eq(c.rstd[t], rs, 1e-6 * rs, "rstd[%d] = %g, want %g", t, c.rstd[t], rs);
        for (int i = 0; i < c.c; i++) ref[t * c.c + i] = c.x[t * c.c + i] * rs * c.w[i];
    }
    expect_close(c.y, ref, nx, 1e-6, "rmsnorm forward");
    float *dx = zeros(nx), *dw = zeros((size_t)c.c);
    BE->rmsnorm_backward(BE, dx, dw, c.r, c.x, c.w, c.rstd, c.n, c.c);
    expect_nontrivial(dx, nx, "rmsnorm dx");
    expect_nontrivial(dw, (size_t)c.c, "rmsnorm dw");
    grad_check(norm_loss, &c, c.x, dx, nx, 1.0 / 32, 1e-4, 1e-5, "rmsnorm dx");
    grad_check(norm_loss, &c, c.w, dw, (size_t)c.c, 0.25, 1e-4, 1e-5, "rmsnorm dw");
    norm_loss(&c); /* restore rstd at the unperturbed x */
    float *dx1 = dup(dx, nx), *dw1 = dup(dw, (size_t)c.c);
    BE->rmsnorm_backward(BE, dx, dw, c.r, c.x, c.w, c.rstd, c.n, c.c);
    expect_doubled(dx, dx1, nx, "rmsnorm dx");
    expect_doubled(dw, dw1, (size_t)c.c, "rmsnorm dw");
    free(c.x); free(c.w); free(c.r); free(c.y); free(c.rstd); free(ref); free(dx); free(dw); free(dx1); free(dw1);
}

/* ---- RoPE ---------------------------------------------------------------------- */

enum { RP_N = 5, RP_HD = 6, RP_HALF = 3, RP_HEADS = 3, RP_COL0 = 2, RP_STRIDE = 2 + 3 * 6 + 3, RP_MAXPOS = 8 };

typedef struct RopeCtx { float *x, *g, *y, cs[RP_MAXPOS * RP_HALF], sn[RP_MAXPOS * RP_HALF]; int pos[RP_N]; } RopeCtx;

static double rope_loss(void *p) {
    RopeCtx *c = p;
    memcpy(c->y, c->x, sizeof(float) * RP_N * RP_STRIDE);
    BE->rope(BE, c->y, c->pos, c->cs, c->sn, RP_N, RP_STRIDE, RP_COL0, RP_HEADS, RP_HD, 0);
    return fd_dot(c->g, c->y, (size_t)RP_N * RP_STRIDE);
}

static void rope_tables(RopeCtx *c) {
    for (int p = 0; p < RP_MAXPOS; p++)
        for (int i = 0; i < RP_HALF; i++) {
            double f = p * pow(10.0, -2.0 * i / RP_HD); /* theta = 10: large angles */
            c->cs[p * RP_HALF + i] = (float)cos(f);
            c->sn[p * RP_HALF + i] = (float)sin(f);
        }
}

Test(layers, rope, .init = setup) {
    Rng rg = rng_stream(3, "rope");
    static RopeCtx c;
    size_t len = (size_t)RP_N * RP_STRIDE;
    rope_tables(&c);
    int pos[RP_N] = {0, 3, 1, 7, 2};
    memcpy(c.pos, pos, sizeof pos);
    c.x = randn(len, &rg, 1, 0);
    c.g = randn(len, &rg, 1, 0);
    c.y = zeros(len);
    /* forward: rotate-half on heads [col0, col0 + heads*hd); other columns untouched */
    rope_loss(&c);
    double *ref = malloc(len * sizeof(double));
    for (size_t i = 0; i < len; i++) ref[i] = c.x[i];
    for (int t = 0; t < RP_N; t++)
        for (int h = 0; h < RP_HEADS; h++)
            for (int i = 0; i < RP_HALF; i++) {
                size_t a = (size_t)t * RP_STRIDE + RP_COL0 + h * RP_HD + i, b = a + RP_HALF;
                double co = c.cs[pos[t] * RP_HALF + i], si = c.sn[pos[t] * RP_HALF + i];
                ref[a] = c.x[a] * co - c.x[b] * si;
                ref[b] = c.x[b] * co + c.x[a] * si;
            }
    expect_close(c.y, ref, len, 1e-6, "rope forward");
    for (int t = 0; t < RP_N; t++)
        for (int j = 0; j < RP_STRIDE; j++)
            if (j < RP_COL0 || j >= RP_COL0 + RP_HEADS * RP_HD)
                cr_expect_eq(c.y[t * RP_STRIDE + j], c.x[t * RP_STRIDE + j], "rope touched column %d", j);
    /* backward of y = rope(x) with upstream g is rope(g, inverse) */
    float *dx = dup(c.g, len);
    BE->rope(BE, dx, c.pos, c.cs, c.sn, RP_N, RP_STRIDE, RP_COL0, RP_HEADS, RP_HD, 1);
    grad_check(rope_loss, &c, c.x, dx, len, 0.25, 1e-4, 1e-5, "rope backward (inverse)");
    /* and inverse undoes forward */
    rope_loss(&c);
    float *z = dup(c.y, len);
    BE->rope(BE, z, c.pos, c.cs, c.sn, RP_N, RP_STRIDE, RP_COL0, RP_HEADS, RP_HD, 1);
    for (size_t i = 0; i < len; i++) ref[i] = c.x[i];
    expect_close(z, ref, len, 1e-6, "rope inverse(rope(x))");
    free(c.x); free(c.g); free(c.y); free(ref); free(dx); free(z);
}

/* ---- Attention ----------------------------------------------------------------- */

enum { A_H = 4, A_KV = 2, A_HD = 4, A_QKV = (A_H + 2 * A_KV) * A_HD, A_OUT = A_H * A_HD, A_MAXN = 32, A_MAXR = 8 };

typedef struct Layout {
    int n, nrows, nseg;
    int row_start[A_MAXR + 1], seg[A_MAXN];
    unsigned char vis[16];
    size_t probs_off[A_MAXR + 1];
    AttnLayout L;
} Layout;

/* rows: lengths; seg: segment of every token; vis: nseg*nseg. */
static void make_layout(Layout *y, int nrows, const int *lens, const int *seg, int nseg, const unsigned char *vis) {
    memset(y, 0, sizeof *y);
    y->nrows = nrows;
    y->nseg = nseg;
    y->row_start[0] = 0;
    y->probs_off[0] = 0;
    for (int r = 0; r < nrows; r++) {
        y->row_start[r + 1] = y->row_start[r] + lens[r];
        y->probs_off[r + 1] = y->probs_off[r] + (size_t)A_H * lens[r] * lens[r];
    }
    y->n = y->row_start[nrows];
    cr_assert_leq(y->n, A_MAXN);
    memcpy(y->seg, seg, (size_t)y->n * sizeof(int));
    memcpy(y->vis, vis, (size_t)nseg * nseg);
    AttnLayout L = {y->n, nrows, y->row_start, y->seg, y->vis, nseg, y->row_start};
    y->L = L;
}

/* Naive reference in double: softmax with the mask; out and probs. */
static void attn_ref(double *out, double *P, const float *qkv, const Layout *y) {
    int grp = A_H / A_KV;
    double scale = 1.0 / sqrt((double)A_HD);
    for (size_t i = 0; i < (size_t)y->n * A_OUT; i++) out[i] = 0;
    for (size_t i = 0; i < y->probs_off[y->nrows]; i++) P[i] = 0;
    for (int r = 0; r < y->nrows; r++) {
        int r0 = y->row_start[r], T = y->row_start[r + 1] - r0;
        for (int h = 0; h < A_H; h++) {
            int g = h / grp;
            for (int i = 0; i < T; i++) {
                double s[A_MAXN], mx = -INFINITY;
                int vis[A_MAXN], any = 0;
                for (int j = 0; j < T; j++) {
                    vis[j] = j <= i && y->vis[y->seg[r0 + i] * y->nseg + y->seg[r0 + j]];
                    if (!vis[j]) continue;
                    any = 1;
                    double d = 0;
                    for (int e = 0; e < A_HD; e++)
                        d += (double)qkv[(r0 + i) * A_QKV + h * A_HD + e] * qkv[(r0 + j) * A_QKV + (A_H + g) * A_HD + e];
                    s[j] = d * scale;
                    mx = fmax(mx, s[j]);
                }
                if (!any) continue;
                double z = 0;
                for (int j = 0; j < T; j++)
                    if (vis[j]) z += exp(s[j] - mx);
                for (int j = 0; j < T; j++) {
                    if (!vis[j]) continue;
                    double p = exp(s[j] - mx) / z;
                    P[y->probs_off[r] + ((size_t)h * T + i) * T + j] = p;
                    for (int e = 0; e < A_HD; e++)
                        out[(r0 + i) * A_OUT + h * A_HD + e] += p * qkv[(r0 + j) * A_QKV + (A_H + A_KV + g) * A_HD + e];
                }
            }
        }
    }
}

typedef struct AttnCtx { const Layout *y; float *qkv, *out, *probs, *r; } AttnCtx;

static double attn_loss(void *p) {
    AttnCtx *c = p;
    BE->attention_forward(BE, c->out, c->probs, c->qkv, &c->y->L, A_H, A_KV, A_HD);
    return fd_dot(c->r, c->out, (size_t)c->y->n * A_OUT);
}

/* Forward vs the naive reference (out and probs, 1e-6), FD of the backward on
 * every qkv coordinate, accumulation. Returns nothing; `dead` lists the
 * segments whose queries see nothing (their output must be exactly 0). */
static void check_attention(const Layout *y, uint64_t seed, const int *dead, int ndead, const char *what) {
    Rng rg = rng_stream(seed, "attention");
    size_t nq = (size_t)y->n * A_QKV, no = (size_t)y->n * A_OUT, np = y->probs_off[y->nrows];
    AttnCtx c = {y, randn(nq, &rg, 1.0, 0), zeros(no), zeros(np), randn(no, &rg, 1, 0)};
    attn_loss(&c);
    double *ro = malloc(no * sizeof(double)), *rp = malloc((np ? np : 1) * sizeof(double));
    attn_ref(ro, rp, c.qkv, y);
    char msg[128];
    snprintf(msg, sizeof msg, "%s: attention out vs reference", what);
    expect_close(c.out, ro, no, 1e-6, msg);
    /* probabilities: compare the causal part j <= i (the rest is never read) */
    double worst = 0;
    for (int r = 0; r < y->nrows; r++) {
        int T = y->row_start[r + 1] - y->row_start[r];
        for (int h = 0; h < A_H; h++)
            for (int i = 0; i < T; i++)
                for (int j = 0; j <= i; j++) {
                    size_t k = y->probs_off[r] + ((size_t)h * T + i) * T + j;
                    double e = fabs(c.probs[k] - rp[k]);
                    if (!(e <= worst)) worst = e;
                    if (rp[k] == 0) cr_expect_eq(c.probs[k], 0.0f, "%s: hidden key has probability %g", what, c.probs[k]);
                }
    }
    cr_expect_leq(worst, 1e-6, "%s: attention probs differ from reference by %g", what, worst);
    expect_finite(c.out, no, "attention out");
    expect_finite(c.probs, np, "attention probs");
    /* queries that see nothing: exactly 0 */
    int ndeadtok = 0;
    for (int t = 0; t < y->n; t++)
        for (int d = 0; d < ndead; d++)
            if (y->seg[t] == dead[d]) {
                ndeadtok++;
                for (int e = 0; e < A_OUT; e++)
                    cr_expect(c.out[t * A_OUT + e] == 0.0f, "%s: token %d sees nothing but out[%d] = %g", what, t, e,
                              c.out[t * A_OUT + e]);
            }
    cr_expect_eq(ndeadtok > 0, ndead > 0, "layout should contain a query that sees nothing");
    float *dq = zeros(nq);
    BE->attention_backward(BE, dq, c.r, c.out, c.probs, c.qkv, &y->L, A_H, A_KV, A_HD);
    expect_finite(dq, nq, "attention dqkv");
    expect_nontrivial(dq, nq, what);
    snprintf(msg, sizeof msg, "%s: attention dqkv", what);
    grad_check(attn_loss, &c, c.qkv, dq, nq, 1.0 / 16, 1e-4, 2e-5, msg);
    attn_loss(&c); /* probs at the unperturbed qkv */
    float *dq1 = dup(dq, nq);
    BE->attention_backward(BE, dq, c.r, c.out, c.probs, c.qkv, &y->L, A_H, A_KV, A_HD);
    expect_doubled(dq, dq1, nq, msg);
    free(c.qkv); free(c.out); free(c.probs); free(c.r); free(ro); free(rp); free(dq); free(dq1);
}

/* Rows of different lengths; a packed row with two blocks (segments 1 and 2)
 * under a block-diagonal visibility, and segment 3 whose visibility row is all
 * zero (including its first token, which cannot even see itself). */
Test(layers, attention_block_diagonal, .init = setup) {
    int lens[3] = {4, 2, 9};
    int seg[15] = {0, 0, 0, 0, /* row 0 */ 0, 0, /* row 1 */ 3, 1, 1, 1, 3, 2, 2, 2, 2 /* row 2: packed */};
    unsigned char vis[16] = {1, 0, 0, 0,
                             0, 1, 0, 0,
                             0, 0, 1, 0,
                             0, 0, 0, 0};
    Layout y;
    make_layout(&y, 3, lens, seg, 4, vis);
    int dead[1] = {3};
    check_attention(&y, 11, dead, 1, "block-diagonal");
}

/* Asymmetric visibility (segment 2 sees segment 1, not the reverse): catches a
 * transposed vis lookup. Segments interleave in row 1, so hidden keys lie
 * between visible ones. */
Test(layers, attention_asymmetric, .init = setup) {
    int lens[2] = {3, 8};
    int seg[11] = {0, 0, 0, /* row 0 */ 1, 2, 1, 1, 2, 2, 1, 2};
    unsigned char vis[9] = {1, 0, 0,
                            0, 1, 0,
                            0, 1, 1};
    Layout y;
    make_layout(&y, 2, lens, seg, 3, vis);
    check_attention(&y, 12, NULL, 0, "asymmetric");
    /* the transposed rule would give a different answer here: make sure the reference distinguishes them */
    unsigned char visT[9] = {1, 0, 0, 0, 1, 1, 0, 0, 1};
    Layout yT;
    make_layout(&yT, 2, lens, seg, 3, visT);
    Rng rg = rng_stream(12, "attention");
    float *qkv = randn((size_t)y.n * A_QKV, &rg, 1, 0);
    double *o1 = malloc(sizeof(double) * y.n * A_OUT), *o2 = malloc(sizeof(double) * y.n * A_OUT);
    double *p1 = malloc(sizeof(double) * y.probs_off[2]), *p2 = malloc(sizeof(double) * y.probs_off[2]);
    attn_ref(o1, p1, qkv, &y);
    attn_ref(o2, p2, qkv, &yT);
    double d = 0;
    for (int i = 0; i < y.n * A_OUT; i++) d = fmax(d, fabs(o1[i] - o2[i]));
    cr_expect_gt(d, 1e-3, "layouts should differ");
    free(qkv); free(o1); free(o2); free(p1); free(p2);
}

/* A packed row [block A | block B] under block-diagonal visibility with RoPE
 * positions restarting per block equals the two blocks as separate rows:
 * outputs and gradients (through RoPE and attention). */
Test(layers, attention_packed_equals_separate, .init = setup) {
    enum { TA = 3, TB = 4, N = TA + TB };
    Rng rg = rng_stream(13, "packed");
    float cs[8 * A_HD / 2], sn[8 * A_HD / 2];
    for (int p = 0; p < 8; p++)
        for (int i = 0; i < A_HD / 2; i++) {
            double f = p * pow(10.0, -2.0 * i / A_HD);
            cs[p * A_HD / 2 + i] = (float)cos(f);
            sn[p * A_HD / 2 + i] = (float)sin(f);
        }
    int pos[N] = {0, 1, 2, 0, 1, 2, 3};
    float *raw = randn((size_t)N * A_QKV, &rg, 1, 0), *dout = randn((size_t)N * A_OUT, &rg, 1, 0);
    int lp[1] = {N}, sp[N] = {1, 1, 1, 2, 2, 2, 2};
    unsigned char vp[9] = {0, 0, 0, 0, 1, 0, 0, 0, 1};
    int ls[2] = {TA, TB}, ss[N] = {0, 0, 0, 0, 0, 0, 0};
    unsigned char vs[1] = {1};
    Layout yp, ys;
    make_layout(&yp, 1, lp, sp, 3, vp);
    make_layout(&ys, 2, ls, ss, 1, vs);
    float *out[2], *dq[2];
    for (int k = 0; k < 2; k++) {
        const Layout *y = k ? &ys : &yp;
        float *qkv = dup(raw, (size_t)N * A_QKV), *probs = zeros(y->probs_off[y->nrows]);
        out[k] = zeros((size_t)N * A_OUT);
        dq[k] = zeros((size_t)N * A_QKV);
        BE->rope(BE, qkv, pos, cs, sn, N, A_QKV, 0, A_H, A_HD, 0);
        BE->rope(BE, qkv, pos, cs, sn, N, A_QKV, A_H * A_HD, A_KV, A_HD, 0);
        BE->attention_forward(BE, out[k], probs, qkv, &y->L, A_H, A_KV, A_HD);
        BE->attention_backward(BE, dq[k], dout, out[k], probs, qkv, &y->L, A_H, A_KV, A_HD);
        BE->rope(BE, dq[k], pos, cs, sn, N, A_QKV, 0, A_H, A_HD, 1);
        BE->rope(BE, dq[k], pos, cs, sn, N, A_QKV, A_H * A_HD, A_KV, A_HD, 1);
        free(qkv); free(probs);
    }
    double d = 0, g = 0;
    for (int i = 0; i < N * A_OUT; i++) d = fmax(d, fabs(out[0][i] - out[1][i]));
    for (int i = 0; i < N * A_QKV; i++) g = fmax(g, fabs(dq[0][i] - dq[1][i]));
    cr_expect_leq(d, 1e-6, "packed vs separate outputs differ by %g", d);
    cr_expect_leq(g, 1e-6, "packed vs separate gradients differ by %g", g);
    expect_nontrivial(out[0], (size_t)N * A_OUT, "packed out");
    for (int k = 0; k < 2; k++) { free(out[k]); free(dq[k]); }
    free(raw); free(dout);
}

/* attention_cached (decoding): prefill in one call, then one token at a time,
 * equals causal attention_forward over the row. */
Test(layers, attention_cached_matches_forward, .init = setup) {
    enum { T = 6, KVD = A_KV * A_HD };
    Rng rg = rng_stream(14, "cached");
    float *qkv = randn((size_t)T * A_QKV, &rg, 1, 0), *ref = zeros((size_t)T * A_OUT);
    int lens[1] = {T}, seg[T] = {0};
    unsigned char vis[1] = {1};
    Layout y;
    make_layout(&y, 1, lens, seg, 1, vis);
    float *probs = zeros(y.probs_off[1]);
    BE->attention_forward(BE, ref, probs, qkv, &y.L, A_H, A_KV, A_HD);
    /* two sequences in the cache; ours is sequence 1 */
    float *K = zeros(2 * (size_t)T * KVD), *V = zeros(2 * (size_t)T * KVD), *out = zeros((size_t)T * A_OUT);
    int sq[T], ps[T];
    for (int t = 0; t < T; t++) { sq[t] = 1; ps[t] = t; }
    KVView kv = {K, V, T, sq, ps, 4};
    BE->attention_cached(BE, out, qkv, &kv, 4, A_H, A_KV, A_HD); /* prefill 4 tokens */
    for (int t = 4; t < T; t++) {
        KVView k1 = {K, V, T, sq + t, ps + t, t + 1};
        BE->attention_cached(BE, out + (size_t)t * A_OUT, qkv + (size_t)t * A_QKV, &k1, 1, A_H, A_KV, A_HD);
    }
    double d = 0;
    for (int i = 0; i < T * A_OUT; i++) d = fmax(d, fabs(out[i] - ref[i]));
    cr_expect_leq(d, 1e-6, "cached attention differs from attention_forward by %g", d);
    for (size_t i = 0; i < (size_t)T * KVD; i++) cr_expect_eq(K[i], 0.0f, "sequence 0 of the cache was written");
    free(qkv); free(ref); free(probs); free(K); free(V); free(out);
}

/* ---- SwiGLU -------------------------------------------------------------------- */

typedef struct SwiCtx { int n, f; float *gu, *a, *r; } SwiCtx;

static double swi_loss(void *p) {
    SwiCtx *c = p;
    BE->swiglu_forward(BE, c->a, c->gu, c->n, c->f);
    return fd_dot(c->r, c->a, (size_t)c->n * c->f);
}

Test(layers, swiglu, .init = setup) {
    Rng rg = rng_stream(4, "swiglu");
    SwiCtx c = {3, 5, NULL, NULL, NULL};
    size_t ng = (size_t)c.n * 2 * c.f, na = (size_t)c.n * c.f;
    c.gu = randn(ng, &rg, 2.0, 0);
    c.a = zeros(na);
    c.r = randn(na, &rg, 1, 0);
    swi_loss(&c);
    double *ref = malloc(na * sizeof(double));
    for (int t = 0; t < c.n; t++)
        for (int i = 0; i < c.f; i++) {
            double g = c.gu[t * 2 * c.f + i], u = c.gu[t * 2 * c.f + c.f + i];
            ref[t * c.f + i] = g / (1 + exp(-g)) * u;
        }
    expect_close(c.a, ref, na, 1e-6, "swiglu forward");
    float *dgu = zeros(ng);
    BE->swiglu_backward(BE, dgu, c.r, c.gu, c.n, c.f);
    expect_nontrivial(dgu, ng, "swiglu dgu");
    grad_check(swi_loss, &c, c.gu, dgu, ng, 1.0 / 16, 1e-4, 1e-5, "swiglu dgu");
    float *d1 = dup(dgu, ng);
    for (size_t i = 0; i < ng; i++) dgu[i] = NAN;
    BE->swiglu_backward(BE, dgu, c.r, c.gu, c.n, c.f); /* assigns: the same values over NaN */
    for (size_t i = 0; i < ng; i++) cr_expect_eq(dgu[i], d1[i], "swiglu dgu does not overwrite at %zu", i);
    free(c.gu); free(c.a); free(c.r); free(ref); free(dgu); free(d1);
}

/* ---- Embedding ----------------------------------------------------------------- */

typedef struct EmbCtx { int n, c, V; const int *ids; float *E, *x, *r; } EmbCtx;

static double emb_loss(void *p) {
    EmbCtx *c = p;
    BE->embedding_forward(BE, c->x, c->ids, c->E, c->n, c->c);
    return fd_dot(c->r, c->x, (size_t)c->n * c->c);
}

Test(layers, embedding, .init = setup) {
    Rng rg = rng_stream(5, "embedding");
    static const int ids[7] = {1, 3, 1, 4, 1, 0, 3}; /* repeats; row 2 unused */
    EmbCtx c = {7, 3, 5, ids, NULL, NULL, NULL};
    size_t nE = (size_t)c.V * c.c, nx = (size_t)c.n * c.c;
    c.E = randn(nE, &rg, 1, 0);
    c.x = zeros(nx);
    c.r = randn(nx, &rg, 1, 0);
    emb_loss(&c);
    for (int t = 0; t < c.n; t++)
        for (int i = 0; i < c.c; i++)
            cr_expect_eq(c.x[t * c.c + i], c.E[ids[t] * c.c + i], "embedding forward at token %d", t);
    float *dE = zeros(nE);
    BE->embedding_backward(BE, dE, c.r, ids, c.n, c.c);
    for (int i = 0; i < c.c; i++) cr_expect_eq(dE[2 * c.c + i], 0.0f, "unused row 2 got a gradient");
    expect_nontrivial(dE, nE, "embedding dE");
    grad_check(emb_loss, &c, c.E, dE, nE, 0.25, 1e-4, 1e-5, "embedding dE");
    float *d1 = dup(dE, nE);
    BE->embedding_backward(BE, dE, c.r, ids, c.n, c.c);
    expect_doubled(dE, d1, nE, "embedding dE");
    free(c.E); free(c.x); free(c.r); free(dE); free(d1);
}

/* add: y += x */
Test(layers, add, .init = setup) {
    float y[5] = {1, 2, 3, 4, 5}, x[5] = {0.5f, -1, 2, 0, 10};
    BE->add(BE, y, x, 4);
    float want[5] = {1.5f, 1, 5, 4, 5};
    for (int i = 0; i < 5; i++) cr_expect_eq(y[i], want[i], "add at %d: %g", i, y[i]);
}

/* ---- JEPA metrics -------------------------------------------------------------- */

typedef struct MetCtx { const JepaMetric *m; int B, D; float *U, *C; double scale, tau; LossWork w; } MetCtx;

/* d through the backend (row_stats + the table row); with dU, dC its gradient. */
static double met_apply(MetCtx *c, float *dU, float *dC) {
    double d;
    cr_assert_eq(jepa_metric_apply(BE, c->m, c->U, c->C, dU, dC, c->B, c->D, c->scale, c->tau, &c->w, &d), 0);
    return d;
}

static double met_loss(void *p) {
    MetCtx *c = p;
    return c->scale * met_apply(c, NULL, NULL);
}

static double metric_ref(const char *name, const float *U, const float *C, int B, int D) {
    double s = 0;
    for (int b = 0; b < B; b++) {
        double uu = 0, cc = 0, uc = 0, dd = 0;
        for (int i = 0; i < D; i++) {
            double u = U[b * D + i], c = C[b * D + i];
            uu += u * u; cc += c * c; uc += u * c; dd += (u - c) * (u - c);
        }
        if (!strcmp(name, "cosine")) s += uc / sqrt(uu * cc);
        else if (!strcmp(name, "l2")) s += sqrt(dd);
        else s += dd / D;
    }
    return !strcmp(name, "cosine") ? 1.0 - s / B : s / B;
}

/* InfoNCE in double: S_ij = cos(u_i, c_j)/τ, mean_i (logsumexp_j S_ij − S_ii). */
static double infonce_ref(const float *U, const float *C, int B, int D, double tau) {
    double s = 0;
    for (int i = 0; i < B; i++) {
        double row[16], mx = -INFINITY, z = 0;
        for (int j = 0; j < B; j++) {
            double uc = 0, uu = 0, cc = 0;
            for (int k = 0; k < D; k++) {
                double u = U[i * D + k], c = C[j * D + k];
                uc += u * c, uu += u * u, cc += c * c;
            }
            row[j] = uc / sqrt(uu * cc) / tau;
            mx = fmax(mx, row[j]);
        }
        for (int j = 0; j < B; j++) z += exp(row[j] - mx);
        s += log(z) + mx - row[i];
    }
    return s / B;
}

/* InfoNCE: value against the double reference (and a transposed, wrong
 * reference that must disagree), finite differences of both sides. */
Test(layers, jepa_infonce, .init = setup) {
    static MetCtx c;
    memset(&c, 0, sizeof c);
    Rng rg = rng_stream(6, "infonce");
    c.m = jepa_metric("infonce"), c.B = 4, c.D = 6, c.scale = 0.7, c.tau = 0.3;
    cr_assert(c.m);
    size_t n = (size_t)c.B * c.D;
    c.U = randn(n, &rg, 1, 0);
    c.C = randn(n, &rg, 1, 0);
    double d = met_apply(&c, NULL, NULL), ref = infonce_ref(c.U, c.C, c.B, c.D, c.tau);
    double wrong = infonce_ref(c.C, c.U, c.B, c.D, c.tau); /* roles swapped: softmax over the other axis */
    cr_expect(fabs(d - ref) <= 1e-6 * (1 + fabs(ref)), "infonce %.12g, reference %.12g", d, ref);
    cr_expect(fabs(d - wrong) > 1e-4, "the check must tell the axis of the softmax (%.9g vs %.9g)", d, wrong);
    float *dU = zeros(n), *dC = zeros(n);
    met_apply(&c, dU, dC);
    expect_nontrivial(dU, n, "infonce dU");
    expect_nontrivial(dC, n, "infonce dC");
    /* the cross-entropy op returns float row losses: FD tolerances as for the NTP loss */
    grad_check(met_loss, &c, c.U, dU, n, 1.0 / 16, 1e-4, 1e-5, "infonce dU");
    grad_check(met_loss, &c, c.C, dC, n, 1.0 / 16, 1e-4, 1e-5, "infonce dC");
    float *dU1 = dup(dU, n);
    met_apply(&c, dU, dC);
    expect_doubled(dU, dU1, n, "infonce");
    loss_work_free(&c.w);
    free(c.U); free(c.C); free(dU); free(dC); free(dU1);
}

static void check_metric(const char *name) {
    Rng rg = rng_stream(6, name);
    static MetCtx c;
    memset(&c, 0, sizeof c);
    c.m = jepa_metric(name), c.B = 3, c.D = 5, c.scale = 0.7, c.tau = 0.5;
    cr_assert(c.m, "metric %s missing", name);
    size_t n = (size_t)c.B * c.D;
    c.U = randn(n, &rg, 1, 0);
    c.C = randn(n, &rg, 1, 0);
    for (size_t i = 0; i < (size_t)c.D; i++) c.C[i] = c.U[i] + 0.3f * c.C[i]; /* one close pair */
    double d = met_apply(&c, NULL, NULL), ref = metric_ref(name, c.U, c.C, c.B, c.D);
    cr_expect(fabs(d - ref) <= 1e-9 * (1 + fabs(ref)), "%s forward %.12g, reference %.12g", name, d, ref);
    float *dU = zeros(n), *dC = zeros(n);
    met_apply(&c, dU, dC);
    char w[64];
    snprintf(w, sizeof w, "%s dU", name);
    expect_nontrivial(dU, n, w);
    grad_check(met_loss, &c, c.U, dU, n, 1.0 / 64, 1e-6, 1e-7, w);
    float *dU1 = dup(dU, n), *dC1 = dup(dC, n);
    snprintf(w, sizeof w, "%s dC", name);
    expect_nontrivial(dC, n, w);
    grad_check(met_loss, &c, c.C, dC, n, 1.0 / 64, 1e-6, 1e-7, w);
    met_apply(&c, dU, dC);
    expect_doubled(dU, dU1, n, name);
    expect_doubled(dC, dC1, n, name);
    /* u == c: finite (l2 takes the subgradient 0 there) */
    memcpy(c.C, c.U, n * sizeof(float));
    memset(dU, 0, n * sizeof(float));
    memset(dC, 0, n * sizeof(float));
    met_apply(&c, dU, dC);
    expect_finite(dU, n, name);
    expect_finite(dC, n, name);
    cr_expect(fabs(met_apply(&c, NULL, NULL)) < 1e-6, "%s(u, u) should be 0", name);
    loss_work_free(&c.w);
    free(c.U); free(c.C); free(dU); free(dC); free(dU1); free(dC1);
}

Test(layers, jepa_cosine, .init = setup) { check_metric("cosine"); }
Test(layers, jepa_l2, .init = setup) { check_metric("l2"); }
Test(layers, jepa_mse, .init = setup) { check_metric("mse"); }

/* ---- NTP loss ------------------------------------------------------------------ */

typedef struct NtpCtx { Model m; Batch b; LossWork w; float *h; double scale; } NtpCtx;

static double ntp_val(void *p) {
    NtpCtx *c = p;
    double loss;
    cr_assert_eq(ntp_loss(&c->m, &c->b, c->h, NULL, c->scale, &c->w, &loss), 0);
    return c->scale * loss;
}

Test(layers, ntp_loss, .init = setup) {
    static NtpCtx c;
    memset(&c, 0, sizeof c);
    ModelConfig mc = {.dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 8, .vocab_size = 13, .max_pos = 16, .rms_eps = 1e-5f, .rope_theta = 10000.0f};
    char err[256];
    cr_assert_eq(model_init(&c.m, &mc, NULL, BE, err, sizeof err), 0, "%s", err);
    Rng rg = rng_stream(8, "ntp");
    model_init_weights(&c.m, &rg, 0.5f);
    enum { N = 5, C = 8, V = 13 };
    int tgt[N] = {3, -1, 12, 0, 3};
    c.b.n = N;
    c.b.tgt = tgt;
    c.b.ntargets = 4;
    c.h = randn((size_t)N * C, &rg, 1, 0);
    c.scale = 0.7;
    /* forward: token-mean cross-entropy at the targets */
    const float *W = model_param(&c.m, c.m.tid_lm_head);
    double ref = 0;
    for (int t = 0; t < N; t++) {
        if (tgt[t] < 0) continue;
        double lg[V], mx = -INFINITY, z = 0;
        for (int v = 0; v < V; v++) {
            lg[v] = 0;
            for (int k = 0; k < C; k++) lg[v] += (double)c.h[t * C + k] * W[v * C + k];
            mx = fmax(mx, lg[v]);
        }
        for (int v = 0; v < V; v++) z += exp(lg[v] - mx);
        ref += log(z) + mx - lg[tgt[t]];
    }
    ref /= 4;
    double loss = ntp_val(&c) / c.scale;
    cr_expect(fabs(loss - ref) < 1e-6, "ntp loss %.9g, reference %.9g", loss, ref);
    float *dh = zeros((size_t)N * C);
    model_zero_grads(&c.m);
    cr_assert_eq(ntp_loss(&c.m, &c.b, c.h, dh, c.scale, &c.w, &loss), 0);
    float *dW = model_grad(&c.m, c.m.tid_lm_head);
    size_t nW = (size_t)V * C;
    for (int k = 0; k < C; k++) cr_expect_eq(dh[1 * C + k], 0.0f, "token without target got dh");
    expect_nontrivial(dh, (size_t)N * C, "ntp dh");
    expect_nontrivial(dW, nW, "ntp dW");
    for (size_t i = 0; i < c.m.ntrainable; i++)
        if (i < c.m.tensors[c.m.tid_lm_head].goff || i >= c.m.tensors[c.m.tid_lm_head].goff + nW)
            cr_assert_eq(c.m.grads[i], 0.0f, "ntp_loss wrote a gradient outside lm_head");
    grad_check(ntp_val, &c, c.h, dh, (size_t)N * C, 1.0 / 16, 1e-4, 1e-5, "ntp dh");
    grad_check(ntp_val, &c, model_param(&c.m, c.m.tid_lm_head), dW, nW, 1.0 / 16, 1e-4, 1e-5, "ntp dlm_head");
    float *dh1 = dup(dh, (size_t)N * C), *dW1 = dup(dW, nW);
    cr_assert_eq(ntp_loss(&c.m, &c.b, c.h, dh, c.scale, &c.w, &loss), 0);
    expect_doubled(dh, dh1, (size_t)N * C, "ntp dh");
    expect_doubled(dW, dW1, nW, "ntp dlm_head");
    free(c.h); free(dh); free(dh1); free(dW1);
    loss_work_free(&c.w);
    model_free(&c.m);
}
