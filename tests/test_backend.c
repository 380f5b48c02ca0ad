/* Backend parity, in the spirit of ggml's test-backend-ops.
 *
 * Every backend of backend_all() but the reference (the CUDA backend when it
 * is built and a device is present; the test cuda_device says which), and
 * the profiling wrapper of the CPU backend, runs every op
 * of the table on random inputs (fixed seeds, several shapes: n = 1, odd
 * sizes, grouped-query heads, ragged and packed attention layouts, queries
 * that see no key) through its own alloc / upload / download, and every
 * buffer the op touches is compared with the reference backend's:
 *  - float outputs: max |got − ref| <= TOL · max |ref| over the buffer
 *    (TOL = 1e-5; dlogits: · max(max |ref|, dscale)), and no NaN / inf;
 *    on the CUDA backend the reductions (GEMM, linear, RMSNorm, attention,
 *    cross-entropy, row_combine), whose fp32 sums run in tiles and trees,
 *    get TOL_GPU_RED = 1e-4 (tol_red), AdamW's parameter increments 1e-3
 *    (tol_adamw); the other elementwise ops keep TOL;
 *    row_stats / row_axpby and sum_squares / scale (double results): 1e-6;
 *  - accumulated gradients (backward ops, started from non-zero random
 *    values): the increment got − start against ref − start, same tolerance,
 *    so "=" instead of "+=" fails; a gradient passed as NULL must stay as is;
 *  - assigned gradients (linear_backward's dx under DX_SET, swiglu_backward's
 *    dgu), started from NaN: compared as outputs, so "+=" instead of "="
 *    (or no write) leaves a NaN and fails;
 *  - inputs: bit-identical after the op; integer outputs (argmax), copies
 *    (gather) and dropout masks: exact.
 * The comparator itself is tested against deliberately broken backends.
 * Every backend under test gives the same bits when an op runs twice
 * (determinism), and the CUDA backend records no error (backend_cuda_error).
 *
 * The reference is anchored separately: finite-difference checks of each of
 * its backward ops (its device memory is host memory, so these call it on
 * host buffers), and a few known answers of its forward ops. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "fd.h"
#include "backend_prof.h"
#include "rng.h"
#ifdef HAVE_CUDA
#include "backend_cuda.h"
#endif

#define TOL 1e-5
#define TOL_GPU_RED 1e-4

/* The tolerance of a reduction op on be (TOL, or TOL_GPU_RED on the CUDA backend). */
static double tol_red(const Backend *be) { return strcmp(be->name, "cuda") ? TOL : TOL_GPU_RED; }

/* AdamW's parameters are compared by their increment, 1e-3 of a parameter or less here: one fp32 rounding of the
 * parameter is then up to ~1e-4 of the increment. The CPU backend rounds exactly as the reference (the same
 * compiler contracts the same multiply-adds); nvcc places its contractions elsewhere: 1e-3 there. */
static double tol_adamw(const Backend *be) { return strcmp(be->name, "cuda") ? TOL : 1e-3; }

/* ---- host buffers (freed at the end of each check) ------------------------------- */

enum { MAX_HOST = 4096 };
static void *g_host[MAX_HOST];
static int g_nhost;

static void *hnew(size_t bytes) {
    void *p = calloc(bytes ? bytes : 1, 1);
    cr_assert(p && g_nhost < MAX_HOST);
    return g_host[g_nhost++] = p;
}

static void hfree(void) {
    while (g_nhost) free(g_host[--g_nhost]);
}

static float *randn(Rng *r, size_t n, double scale) {
    float *x = hnew(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(r));
    return x;
}

static double *randd(Rng *r, size_t n, double scale) {
    double *x = hnew(n * sizeof(double));
    for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(r);
    return x;
}

static int *randi(Rng *r, size_t n, int below) {
    int *x = hnew(n * sizeof(int));
    for (size_t i = 0; i < n; i++) x[i] = (int)rng_below(r, (uint32_t)below);
    return x;
}

/* ---- buffers on a backend ---------------------------------------------------------- */

typedef struct Dev { Backend *be; void *p[32]; int n; } Dev;

static void *dnew(Dev *d, size_t bytes) {
    void *p = d->be->alloc(d->be, bytes ? bytes : 16);
    cr_assert(p && d->n < 32, "%s: alloc of %zu bytes failed", d->be->name, bytes);
    return d->p[d->n++] = p;
}

static void *dput(Dev *d, const void *h, size_t bytes) {
    void *p = dnew(d, bytes);
    if (bytes) d->be->upload(d->be, p, h, bytes);
    return p;
}

static void dfree(Dev *d) {
    while (d->n) d->be->free(d->be, d->p[--d->n]);
}

/* ---- the comparator ---------------------------------------------------------------- */

/* max |got − want| / max(max |want|, min_scale) (plain max |got − want| when that is 0);
 * INFINITY when either holds a NaN or inf. base (may be NULL) is subtracted
 * from both first: the increment of an accumulator. */
static double rel_err(const float *got, const float *want, const float *base, size_t n, double min_scale,
                      size_t *worst) {
    double e = 0, s = min_scale;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        double b = base ? base[i] : 0, g = got[i] - b, w = want[i] - b;
        if (!isfinite(got[i]) || !isfinite(want[i])) { *worst = i; return INFINITY; }
        if (fabs(g - w) > e) { e = fabs(g - w); *worst = i; }
        s = fmax(s, fabs(w));
    }
    return s > 0 ? e / s : e;
}

static double rel_err_d(const double *got, const double *want, size_t n, size_t *worst) {
    double e = 0, s = 0;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(want[i])) { *worst = i; return INFINITY; }
        if (fabs(got[i] - want[i]) > e) { e = fabs(got[i] - want[i]); *worst = i; }
        s = fmax(s, fabs(want[i]));
    }
    return s > 0 ? e / s : e;
}

/* How a buffer of an op is compared after the op ran on both backends. */
enum Role { IN, OUT, ACC, EXACT };
typedef struct Buf {
    const char *name;
    char type;      /* 'f' float, 'd' double, 'i' int, 'u' unsigned char */
    int role;       /* IN: bit-identical to its start; OUT: close to ref; ACC: increment close; EXACT: = ref */
    size_t n;       /* elements */
    const void *h;  /* start contents on the host */
    double min_scale; /* OUT/ACC floats: errors are relative to max(max |ref|, min_scale) */
} Buf;

static size_t elsize(char t) { return t == 'f' || t == 'i' ? 4 : t == 'd' ? 8 : 1; }

/* 1 when buffer b agrees (got against want); otherwise 0 and a message. */
static int buf_agrees(const Buf *b, const void *want, const void *got, double tol, char *msg, size_t cap) {
    size_t bytes = b->n * elsize(b->type), w = 0;
    if (b->role == IN || b->role == EXACT) {
        const char *ref = b->role == IN ? b->h : want, *g = got;
        size_t es = elsize(b->type);
        if (!bytes || !memcmp(ref, g, bytes)) return 1;
        while (!memcmp(ref + w * es, g + w * es, es)) w++; /* the first element that differs */
        snprintf(msg, cap, "%s%s: element %zu differs (must be %s)", b->name, b->role == IN ? " (input)" : "", w,
                 b->role == IN ? "unchanged" : "exact");
        return 0;
    }
    double e = b->type == 'd' ? rel_err_d(got, want, b->n, &w)
                              : rel_err(got, want, b->role == ACC ? b->h : NULL, b->n, b->min_scale, &w);
    if (e <= tol) return 1;
    if (b->type == 'd')
        snprintf(msg, cap, "%s: relative error %.3g > %.1g at %zu: got %.9g, ref %.9g", b->name, e, tol, w,
                 ((const double *)got)[w], ((const double *)want)[w]);
    else
        snprintf(msg, cap, "%s%s: relative error %.3g > %.1g at %zu: got %.9g, ref %.9g", b->name,
                 b->role == ACC ? " (increment)" : "", e, tol, w, ((const float *)got)[w], ((const float *)want)[w]);
    return 0;
}

/* An op under test: runs on device buffers d[] (in the order of its Buf list), returns a host value. */
typedef double (*OpFn)(Backend *be, void **d, const void *args);

enum { MAXB = 12 };
typedef struct Run { void *want[MAXB], *got[MAXB]; double want_ret, got_ret; } Run;

/* Uploads every buffer to be, runs op, downloads every buffer into fresh host copies. */
static double run_on(Backend *be, OpFn op, const void *args, const Buf *b, int nb, void **out) {
    Dev d = {be, {0}, 0};
    void *p[MAXB];
    for (int i = 0; i < nb; i++) p[i] = dput(&d, b[i].h, b[i].n * elsize(b[i].type));
    double ret = op(be, p, args);
    for (int i = 0; i < nb; i++) {
        out[i] = hnew(b[i].n * elsize(b[i].type));
        if (b[i].n) be->download(be, out[i], p[i], b[i].n * elsize(b[i].type));
    }
    dfree(&d);
    return ret;
}

/* Runs op on the reference and on be from the same inputs; 1 when every buffer and the return values agree. */
static int agree(Backend *be, OpFn op, const void *args, const Buf *b, int nb, double tol, Run *r, char *msg,
                 size_t cap) {
    Backend *ref = backend_ref();
    r->want_ret = run_on(ref, op, args, b, nb, r->want);
    r->got_ret = run_on(be, op, args, b, nb, r->got);
    for (int i = 0; i < nb; i++)
        if (!buf_agrees(&b[i], r->want[i], r->got[i], tol, msg, cap)) return 0;
    double de = fabs(r->got_ret - r->want_ret), ds = fabs(r->want_ret);
    if (isfinite(r->got_ret) && de <= tol * (ds > 0 ? ds : 1)) return 1;
    snprintf(msg, cap, "return value %.17g, ref %.17g", r->got_ret, r->want_ret);
    return 0;
}

/* agree() as a test expectation; what names the case. */
static void parity(Backend *be, OpFn op, const void *args, const Buf *b, int nb, double tol, Run *r,
                   const char *what) {
    char msg[512] = "";
    int ok = agree(be, op, args, b, nb, tol, r, msg, sizeof msg);
    cr_expect(ok, "[%s] %s: %s", be->name, what, msg);
}

/* ---- the backends under test ---------------------------------------------------------- */

/* Every backend but the reference, then the profiling wrapper of the CPU backend. */
static int targets(Backend **t, int cap) {
    int n, k = 0;
    Backend **all = backend_all(&n);
    for (int i = 1; i < n && k < cap - 1; i++) t[k++] = all[i];
    t[k++] = backend_profiled(backend_cpu());
    return k;
}

/* check(be) for every backend under test, with threads on (the parallel paths) and the host buffers freed after. */
static void each_target(void (*check)(Backend *be)) {
    Backend *t[8];
    int n = targets(t, 8);
    for (int i = 0; i < n; i++) {
        t[i]->set_threads(t[i], 3);
        check(t[i]);
        t[i]->set_threads(t[i], 1);
        hfree();
#ifdef HAVE_CUDA
        char err[256];
        if (!strcmp(t[i]->name, "cuda"))
            cr_expect_eq(backend_cuda_error(err, sizeof err), 0, "[cuda] an error was recorded: %s", err);
#endif
    }
}

/* Whether the CUDA backend is under test here, and why not. */
Test(backend, cuda_device) {
#ifdef HAVE_CUDA
    Backend *cuda = backend_by_name("cuda");
    const char *why = backend_unavailable("cuda");
    if (!cuda) {
        cr_expect(why && strstr(why, "no CUDA device found"), "reason: %s", why ? why : "(none)");
        cr_skip_test("cuda: skipped (no CUDA device): %s", why ? why : "");
    }
    cr_expect_null(why);
    int n, listed = 0;
    Backend **all = backend_all(&n);
    for (int i = 0; i < n; i++) listed += all[i] == cuda;
    cr_expect_eq(listed, 1, "the CUDA backend is listed once by backend_all");
#else
    cr_expect(strstr(backend_unavailable("cuda"), "not built"), "%s", backend_unavailable("cuda"));
    cr_skip_test("cuda: skipped (not built into this binary: configure with -DCUDA=ON or AUTO where nvcc exists)");
#endif
}

Test(backend, registry) {
    int n;
    Backend **all = backend_all(&n);
    cr_assert_geq(n, 2);
    cr_expect_eq(all[0], backend_ref(), "the reference comes first");
    cr_expect_eq(backend_by_name("ref"), backend_ref());
    cr_expect_eq(backend_by_name("cpu"), backend_cpu());
    cr_expect_null(backend_by_name("no-such-backend"));
    cr_expect_null(backend_unavailable("cpu"));
    cr_expect_null(backend_unavailable("ref"));
    cr_expect(strstr(backend_unavailable("no-such-backend"), "no such backend"), "%s", backend_unavailable("x"));
    for (int i = 0; i < n; i++) {
        cr_expect_eq(backend_by_name(all[i]->name), all[i], "%s is not found by name", all[i]->name);
        for (int j = 0; j < i; j++) cr_expect(strcmp(all[i]->name, all[j]->name), "duplicate name %s", all[i]->name);
    }
    Backend *p = backend_profiled(backend_cpu());
    cr_expect_eq(p, backend_profiled(backend_cpu()), "one wrapper per inner backend");
    cr_expect_str_eq(p->name, "prof:cpu");
}

/* ---- memory ------------------------------------------------------------------------------ */

/* alloc is zeroed and 64-byte aligned; upload / download / zero / copy at byte offsets. */
static void check_memory(Backend *be) {
    enum { N = 1001 };
    Rng rg = rng_stream(1, "memory");
    float *a = randn(&rg, N, 1), *h = hnew(N * sizeof(float)), zeros[N] = {0};
    Dev d = {be, {0}, 0};
    float *x = dnew(&d, N * sizeof(float)), *y = dnew(&d, N * sizeof(float));
    cr_expect_eq((uintptr_t)x % 64, 0, "[%s] alloc is not 64-byte aligned", be->name);
    be->download(be, h, x, N * sizeof(float));
    cr_expect(!memcmp(h, zeros, sizeof zeros), "[%s] alloc is not zeroed", be->name);
    be->upload(be, x, a, N * sizeof(float));
    be->copy(be, y + 3, x + 5, 700 * sizeof(float));
    be->zero(be, x + 10, 20 * sizeof(float));
    be->download(be, h, x, N * sizeof(float));
    for (int i = 0; i < N; i++)
        cr_expect_eq(h[i], i >= 10 && i < 30 ? 0.0f : a[i], "[%s] upload/zero/download at %d", be->name, i);
    be->download(be, h, y, N * sizeof(float));
    for (int i = 0; i < N; i++)
        cr_expect_eq(h[i], i >= 3 && i < 703 ? a[i + 2] : 0.0f, "[%s] copy at %d", be->name, i);
    dfree(&d);
}

Test(backend, memory) { each_target(check_memory); }

/* ---- gemm ----------------------------------------------------------------------------------- */

typedef struct GemmCase { int ta, tb, M, N, K, lda, ldb, ldc; float alpha, beta; } GemmCase;

static double op_gemm(Backend *be, void **d, const void *a) {
    const GemmCase *k = a;
    be->gemm(be, k->ta, k->tb, k->M, k->N, k->K, k->alpha, d[0], k->lda, d[1], k->ldb, k->beta, d[2], k->ldc);
    return 0;
}

/* Padded strides (the padding of C must stay as is); beta = 0 must not read C (BLAS convention: C starts as NaN). */
static void check_gemm(Backend *be) {
    static const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 1, 9}, {1, 40, 3}, {70, 66, 130}};
    static const float betas[3] = {0.0f, 1.0f, -0.5f};
    Rng rg = rng_stream(2, "gemm");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 12; t++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ta = t & 1, tb = (t >> 1) & 1;
            GemmCase k = {ta, tb, M, N, K, (ta ? M : K) + 3, (tb ? K : N) + 1, N + 2, 0.7f, betas[t >> 2]};
            size_t na = (size_t)(ta ? K : M) * k.lda, nb = (size_t)(tb ? N : K) * k.ldb, nc = (size_t)M * k.ldc;
            float *C = randn(&rg, nc, 1);
            for (size_t i = 0; i < nc && k.beta == 0.0f; i++) C[i] = (i % (size_t)k.ldc) < (size_t)N ? NAN : C[i];
            Buf b[] = {{"A", 'f', IN, na, randn(&rg, na, 1), 0}, {"B", 'f', IN, nb, randn(&rg, nb, 1), 0},
                       {"C", 'f', OUT, nc, C, 0}};
            char what[96];
            snprintf(what, sizeof what, "gemm M%d N%d K%d ta%d tb%d beta %g", M, N, K, ta, tb, k.beta);
            Run r;
            parity(be, op_gemm, &k, b, 3, tol_red(be), &r, what);
        }
}

Test(backend, gemm) { each_target(check_gemm); }

/* ---- linear ---------------------------------------------------------------------------------- */

typedef struct LinCase { int n, in, out, dx, dw, dtype, dx_acc; } LinCase;

static double op_linear(Backend *be, void **d, const void *a) {
    const LinCase *k = a;
    be->linear_forward(be, d[2], d[0], d[1], k->n, k->in, k->out, k->dtype);
    be->linear_backward(be, k->dx ? d[4] : NULL, k->dw ? d[5] : NULL, d[3], d[0], d[1], k->n, k->in, k->out, k->dtype,
                        k->dx_acc);
    return 0;
}

/* n (elements) NaNs: the start of a buffer an op must overwrite without reading it */
static float *nans(size_t n) {
    float *x = hnew(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = NAN;
    return x;
}

/* The six buffers of op_linear for case k: dx starts from random values under DX_ADD (its increment is compared)
 * and from NaN under DX_SET (compared as an output: a backend that adds to it, or leaves it, keeps the NaN). */
static void linear_bufs(Rng *rg, const LinCase *k, Buf *b) {
    size_t nx = (size_t)k->n * k->in, nw = (size_t)k->out * k->in, ny = (size_t)k->n * k->out;
    int set = k->dx_acc == DX_SET;
    Buf v[6] = {{"x", 'f', IN, nx, randn(rg, nx, 1), 0},
                {"w", 'f', IN, nw, randn(rg, nw, 1), 0},
                {"y", 'f', OUT, ny, randn(rg, ny, 1), 0},
                {"dy", 'f', IN, ny, randn(rg, ny, 1), 0},
                {"dx", 'f', set ? OUT : ACC, nx, set ? nans(nx) : randn(rg, nx, 1), 0},
                {"dw", 'f', ACC, nw, randn(rg, nw, 1), 0}};
    if (!k->dx) v[4] = (Buf){"dx", 'f', IN, nx, randn(rg, nx, 1), 0}; /* NULL: not passed, must stay */
    memcpy(b, v, sizeof v);
}

/* Both precisions against the reference at the same precision: under bf16 both round the same operands the same
 * way, so only the accumulation differs (the reference's double, the backend's fp32) and the fp32 tolerance holds;
 * an fp32 product where bf16 is asked for is off by ~2^-8 and fails. Both modes of dx (DX_SET from NaN, DX_ADD
 * from random values); out = 0 gives dx = 0 under DX_SET. */
static void check_linear(Backend *be) {
    static const int shapes[][3] = {{0, 5, 3},    {1, 1, 1},     {1, 8, 3}, {7, 5, 9},
                                    {33, 67, 29}, {130, 64, 96}, {4, 3, 0}};
    Rng rg = rng_stream(3, "linear");
    for (int dt = DTYPE_FP32; dt <= DTYPE_BF16; dt++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int f = 0; f < 3; f++)                   /* dx and dw, dw only, dx only */
                for (int acc = DX_SET; acc <= DX_ADD; acc++) {
                    if (f == 1 && acc == DX_SET) continue; /* dx NULL: the mode is moot */
                    LinCase k = {shapes[s][0], shapes[s][1], shapes[s][2], f != 1, f != 2, dt, acc};
                    Buf b[6];
                    linear_bufs(&rg, &k, b);
                    char what[112];
                    snprintf(what, sizeof what, "linear %s n%d in%d out%d dx%s%s dw%s",
                             dt == DTYPE_BF16 ? "bf16" : "fp32", k.n, k.in, k.out, k.dx ? "" : "=NULL",
                             !k.dx ? "" : acc == DX_SET ? " (DX_SET)" : " (DX_ADD)", k.dw ? "" : "=NULL");
                    Run r;
                    parity(be, op_linear, &k, b, 6, tol_red(be), &r, what);
                }
}

Test(backend, linear) { each_target(check_linear); }

/* ---- rmsnorm --------------------------------------------------------------------------------- */

typedef struct NormCase { int n, c; float eps; int dw; } NormCase;

static double op_rmsnorm(Backend *be, void **d, const void *a) {
    const NormCase *k = a;
    be->rmsnorm_forward(be, d[2], d[3], d[0], d[1], k->n, k->c, k->eps);
    be->rmsnorm_backward(be, d[5], k->dw ? d[6] : NULL, d[4], d[0], d[1], d[3], k->n, k->c);
    return 0;
}

static void check_rmsnorm(Backend *be) {
    static const NormCase cases[] = {{1, 1, 0.5f, 1}, {1, 8, 1e-5f, 1}, {5, 7, 1e-2f, 1}, {5, 7, 1e-2f, 0},
                                     {19, 130, 1e-5f, 1}, {4, 1024, 1e-6f, 0}};
    Rng rg = rng_stream(4, "rmsnorm");
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        const NormCase *k = &cases[s];
        size_t nx = (size_t)k->n * k->c;
        float *x = randn(&rg, nx, 1), *w = randn(&rg, (size_t)k->c, 0.5);
        for (int i = 0; i < k->c; i++) x[i] *= 0.05f, w[i] += 1.0f; /* row 0: eps matters */
        Buf b[] = {{"x", 'f', IN, nx, x, 0},     {"w", 'f', IN, (size_t)k->c, w, 0},
                   {"y", 'f', OUT, nx, randn(&rg, nx, 1), 0},
                   {"rstd", 'f', OUT, (size_t)k->n, randn(&rg, (size_t)k->n, 1), 0},
                   {"dy", 'f', IN, nx, randn(&rg, nx, 1), 0},  {"dx", 'f', ACC, nx, randn(&rg, nx, 1), 0},
                   {"dw", 'f', ACC, (size_t)k->c, randn(&rg, (size_t)k->c, 1), 0}};
        char what[96];
        snprintf(what, sizeof what, "rmsnorm n%d c%d eps %g dw%s", k->n, k->c, k->eps, k->dw ? "" : "=NULL");
        Run r;
        parity(be, op_rmsnorm, k, b, 7, tol_red(be), &r, what);
    }
}

Test(backend, rmsnorm) { each_target(check_rmsnorm); }

/* ---- rope ----------------------------------------------------------------------------------- */

typedef struct RopeCase { int n, stride, col0, nheads, hd, maxpos, inverse; } RopeCase;

static double op_rope(Backend *be, void **d, const void *a) {
    const RopeCase *k = a;
    be->rope(be, d[0], d[1], d[2], d[3], k->n, k->stride, k->col0, k->nheads, k->hd, k->inverse);
    return 0;
}

/* cos/sin (maxpos, hd/2) of theta = 10 (large angles) */
static void rope_tables(float *cs, float *sn, int maxpos, int hd) {
    for (int p = 0; p < maxpos; p++)
        for (int i = 0; i < hd / 2; i++) {
            double f = p * pow(10.0, -2.0 * i / hd);
            cs[p * (hd / 2) + i] = (float)cos(f);
            sn[p * (hd / 2) + i] = (float)sin(f);
        }
}

static void check_rope(Backend *be) {
    static const RopeCase cases[] = {{1, 8, 0, 1, 8, 4, 0},    {1, 8, 0, 1, 8, 4, 1},      {7, 64, 32, 2, 8, 16, 0},
                                     {7, 64, 0, 4, 8, 16, 1},  {5, 23, 2, 3, 6, 8, 0},     {5, 23, 2, 3, 6, 8, 1},
                                     {40, 512, 256, 4, 64, 64, 0}};
    Rng rg = rng_stream(5, "rope");
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        const RopeCase *k = &cases[s];
        size_t nx = (size_t)k->n * k->stride, nt = (size_t)k->maxpos * (k->hd / 2);
        float *cs = hnew(nt * sizeof(float)), *sn = hnew(nt * sizeof(float));
        rope_tables(cs, sn, k->maxpos, k->hd);
        Buf b[] = {{"x", 'f', OUT, nx, randn(&rg, nx, 1), 0},
                   {"pos", 'i', IN, (size_t)k->n, randi(&rg, (size_t)k->n, k->maxpos), 0},
                   {"cos", 'f', IN, nt, cs, 0}, {"sin", 'f', IN, nt, sn, 0}};
        char what[96];
        snprintf(what, sizeof what, "rope n%d stride%d col0 %d heads%d hd%d inverse%d", k->n, k->stride, k->col0,
                 k->nheads, k->hd, k->inverse);
        Run r;
        parity(be, op_rope, k, b, 4, TOL, &r, what);
    }
}

Test(backend, rope) { each_target(check_rope); }

/* ---- attention ------------------------------------------------------------------------------ */

enum { A_MAXR = 8, A_MAXN = 256 };
typedef struct AttnCase {
    const char *name;
    int H, KV, hd, nrows, nseg;
    int lens[A_MAXR];
    const int *seg;              /* NULL: every token in segment 0 */
    const unsigned char *vis;    /* NULL: {1} */
    int row_start[A_MAXR + 1];   /* filled by attn_case_init */
    int n;
} AttnCase;

static void attn_case_init(AttnCase *k) {
    k->row_start[0] = 0;
    for (int r = 0; r < k->nrows; r++) k->row_start[r + 1] = k->row_start[r] + k->lens[r];
    k->n = k->row_start[k->nrows];
    cr_assert_leq(k->n, A_MAXN);
}

/* Device layout from d[4] row_start, d[5] seg, d[6] vis. */
static AttnLayout attn_layout(const AttnCase *k, void **d) {
    AttnLayout L = {k->n, k->nrows, d[4], d[5], d[6], k->nseg, k->row_start};
    return L;
}

/* forward then backward; returns the two return codes (0 each). */
static double op_attention(Backend *be, void **d, const void *a) {
    const AttnCase *k = a;
    AttnLayout L = attn_layout(k, d);
    size_t ns = be->attention_saved(be, &L, k->H, k->KV, k->hd);
    float *saved = be->alloc(be, (ns ? ns : 1) * sizeof(float));
    cr_assert(saved);
    int rf = be->attention_forward(be, d[1], saved, d[0], &L, k->H, k->KV, k->hd);
    int rb = be->attention_backward(be, d[3], d[2], d[1], saved, d[0], &L, k->H, k->KV, k->hd);
    be->free(be, saved);
    return 10 * rf + rb;
}

/* Token t sees no key at all (not even itself). */
static int attn_dead(const AttnCase *k, const int *seg, const unsigned char *vis, int r, int t) {
    for (int j = k->row_start[r]; j <= t; j++)
        if (vis[seg[t] * k->nseg + seg[j]]) return 0;
    return 1;
}

/* Parity of out and dqkv; the out of a query that sees nothing must be exactly 0. */
static void check_attention_case(Backend *be, AttnCase *k, uint64_t seed) {
    attn_case_init(k);
    Rng rg = rng_stream(seed, "attention");
    size_t qs = (size_t)(k->H + 2 * k->KV) * k->hd, os = (size_t)k->H * k->hd, nq = k->n * qs, no = k->n * os;
    static const unsigned char all[1] = {1};
    const unsigned char *vis = k->vis ? k->vis : all;
    int *seg = hnew((size_t)k->n * sizeof(int));
    if (k->seg) memcpy(seg, k->seg, (size_t)k->n * sizeof(int));
    Buf b[] = {{"qkv", 'f', IN, nq, randn(&rg, nq, 1.5), 0},   {"out", 'f', OUT, no, randn(&rg, no, 1), 0},
               {"dout", 'f', IN, no, randn(&rg, no, 1), 0},    {"dqkv", 'f', ACC, nq, randn(&rg, nq, 0.3), 0},
               {"row_start", 'i', IN, (size_t)k->nrows + 1, k->row_start, 0}, {"seg", 'i', IN, (size_t)k->n, seg, 0},
               {"vis", 'u', IN, (size_t)k->nseg * k->nseg, vis, 0}};
    char what[128];
    snprintf(what, sizeof what, "attention %s H%d KV%d hd%d", k->name, k->H, k->KV, k->hd);
    Run r;
    parity(be, op_attention, k, b, 7, tol_red(be), &r, what);
    const float *out = r.got[1];
    for (int row = 0; row < k->nrows; row++)
        for (int t = k->row_start[row]; t < k->row_start[row + 1]; t++) {
            if (!attn_dead(k, seg, vis, row, t)) continue;
            size_t nz = 0;
            for (size_t e = 0; e < os; e++) nz += out[t * os + e] != 0.0f;
            cr_expect_eq(nz, 0, "[%s] %s: token %d sees no key but has %zu non-zero outputs", be->name, what, t, nz);
        }
}

/* Rows of different lengths (one empty, one of length 1, long ones across tiles). */
static AttnCase attn_ragged(int H, int KV, int hd) {
    AttnCase k = {"ragged", H, KV, hd, 5, 1, {1, 0, 5, 12, 80}, NULL, NULL, {0}, 0};
    return k;
}

/* Two rows packed block-causally into one (segments 0 and 1 see only themselves), and a plain row. */
static const int PACK_SEG[13] = {0, 0, 0, 0, 1, 1, 1, 1, 1, /* row 1 */ 0, 0, 0, 0};
static const unsigned char PACK_VIS[4] = {1, 0, 0, 1};
static AttnCase attn_packed(int H, int KV, int hd) {
    AttnCase k = {"packed", H, KV, hd, 2, 2, {9, 4}, PACK_SEG, PACK_VIS, {0}, 0};
    return k;
}

/* Segment 3 sees nothing (its first token cannot see itself); 2 sees 1 but not the reverse; segments interleave. */
static const int DEAD_SEG[20] = {0, 0, 0, 0, /* row 1 */ 3, 1, 1, 1, 3, 2, 2, 2, 2, /* row 2 */ 1, 2, 1, 3, 2, 2, 1};
static const unsigned char DEAD_VIS[16] = {1, 0, 0, 0,
                                           0, 1, 0, 0,
                                           0, 1, 1, 0,
                                           0, 0, 0, 0};
static AttnCase attn_deadq(int H, int KV, int hd) {
    AttnCase k = {"dead-queries", H, KV, hd, 3, 4, {4, 9, 7}, DEAD_SEG, DEAD_VIS, {0}, 0};
    return k;
}

/* One row of 100 tokens packing blocks of 37 and 63 block-causally (across kernel tiles). */
static int PACK_LONG_SEG[100];
static AttnCase attn_packed_long(int H, int KV, int hd) {
    for (int t = 0; t < 100; t++) PACK_LONG_SEG[t] = t >= 37;
    AttnCase k = {"packed-long", H, KV, hd, 1, 2, {100}, PACK_LONG_SEG, PACK_VIS, {0}, 0};
    return k;
}

static void check_attention(Backend *be) {
    /* head sizes across the CUDA kernels' register layouts (chunks of 16 floats: 1, 2, 4, 8, 16), ragged last chunks */
    static const int heads[][3] = {{4, 2, 8}, {2, 2, 4}, {3, 1, 5}, {4, 2, 20}, {8, 2, 64}, {2, 1, 128}, {1, 1, 256}};
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
        int H = heads[h][0], KV = heads[h][1], hd = heads[h][2];
        AttnCase ks[4] = {attn_ragged(H, KV, hd), attn_packed(H, KV, hd), attn_deadq(H, KV, hd),
                          attn_packed_long(H, KV, hd)};
        for (int c = 0; c < 4; c++) check_attention_case(be, &ks[c], 10 + 4 * h + c);
    }
}

Test(backend, attention) { each_target(check_attention); }

/* ---- attention_cached ------------------------------------------------------------------------ */

enum { C_MAXCALLS = 4 };
typedef struct CacheCase { int H, KV, hd, max_len, ncalls, start[C_MAXCALLS + 1]; const int *pos; } CacheCase;

/* The calls in turn (prefill, then decoding steps): d[0] qkv, d[1] seq, d[2] pos, d[3] out, d[4] K, d[5] V. */
static double op_cached(Backend *be, void **d, const void *a) {
    const CacheCase *k = a;
    size_t qs = (size_t)(k->H + 2 * k->KV) * k->hd, os = (size_t)k->H * k->hd;
    for (int c = 0; c < k->ncalls; c++) {
        int t0 = k->start[c], nt = k->start[c + 1] - t0, mp = 0;
        for (int t = t0; t < t0 + nt; t++) mp = k->pos[t] + 1 > mp ? k->pos[t] + 1 : mp;
        KVView kv = {d[4], d[5], k->max_len, (const int *)d[1] + t0, (const int *)d[2] + t0, mp};
        be->attention_cached(be, (float *)d[3] + t0 * os, (const float *)d[0] + t0 * qs, &kv, nt, k->H, k->KV, k->hd);
    }
    return 0;
}

/* Three sequences in the cache (seq 2 never written: its random contents must stay); the cache is compared too. */
static void check_cached(Backend *be) {
    static const int heads[][3] = {{4, 2, 8}, {3, 1, 5}, {8, 2, 64}};
    static const int seq[11] = {1, 1, 0, 1, 0, 1, 0, 1, /* step */ 0, 1, /* step */ 1};
    static const int pos[11] = {0, 1, 0, 2, 1, 3, 2, 4, /* step */ 3, 5, /* step */ 6};
    Rng rg = rng_stream(30, "cached");
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
        CacheCase k = {heads[h][0], heads[h][1], heads[h][2], 9, 3, {0, 8, 10, 11}, pos};
        size_t qs = (size_t)(k.H + 2 * k.KV) * k.hd, os = (size_t)k.H * k.hd, nc = 3 * (size_t)k.max_len * k.KV * k.hd;
        Buf b[] = {{"qkv", 'f', IN, 11 * qs, randn(&rg, 11 * qs, 1.5), 0}, {"seq", 'i', IN, 11, seq, 0},
                   {"pos", 'i', IN, 11, pos, 0}, {"out", 'f', OUT, 11 * os, randn(&rg, 11 * os, 1), 0},
                   {"kcache", 'f', OUT, nc, randn(&rg, nc, 1), 0}, {"vcache", 'f', OUT, nc, randn(&rg, nc, 1), 0}};
        char what[96];
        snprintf(what, sizeof what, "attention_cached H%d KV%d hd%d", k.H, k.KV, k.hd);
        Run r;
        parity(be, op_cached, &k, b, 6, tol_red(be), &r, what);
    }
}

Test(backend, attention_cached) { each_target(check_cached); }

/* A token far into its sequence (pos 12300: more scores than a GPU block keeps in shared memory) next to a short
 * one; the unwritten slots before it hold random values, read by both backends alike. */
static void check_cached_long(Backend *be) {
    static const int seq[2] = {1, 0}, pos[2] = {12300, 5};
    Rng rg = rng_stream(31, "cached_long");
    CacheCase k = {2, 1, 8, 12301, 1, {0, 2}, pos};
    size_t qs = (size_t)(k.H + 2 * k.KV) * k.hd, os = (size_t)k.H * k.hd, nc = 2 * (size_t)k.max_len * k.KV * k.hd;
    Buf b[] = {{"qkv", 'f', IN, 2 * qs, randn(&rg, 2 * qs, 1.5), 0}, {"seq", 'i', IN, 2, seq, 0},
               {"pos", 'i', IN, 2, pos, 0}, {"out", 'f', OUT, 2 * os, randn(&rg, 2 * os, 1), 0},
               {"kcache", 'f', OUT, nc, randn(&rg, nc, 1), 0}, {"vcache", 'f', OUT, nc, randn(&rg, nc, 1), 0}};
    Run r;
    parity(be, op_cached, &k, b, 6, tol_red(be), &r, "attention_cached pos 12300");
}

Test(backend, attention_cached_long) { each_target(check_cached_long); }


/* ---- swiglu, embedding, add -------------------------------------------------------------------- */

typedef struct Shape { int n, c; } Shape;

static double op_swiglu(Backend *be, void **d, const void *a) {
    const Shape *k = a;
    be->swiglu_forward(be, d[1], d[0], k->n, k->c);
    be->swiglu_backward(be, d[3], d[2], d[0], k->n, k->c);
    return 0;
}

/* dgu starts as NaN: swiglu_backward assigns it (backend.h), so "+=" instead of "=" keeps the NaN and fails. */
static void check_swiglu(Backend *be) {
    static const Shape shapes[] = {{1, 1}, {3, 5}, {17, 130}, {2, 1000}};
    Rng rg = rng_stream(6, "swiglu");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t na = (size_t)shapes[s].n * shapes[s].c, ng = 2 * na;
        float *gu = randn(&rg, ng, 3);
        gu[0] = -30.0f; /* saturated gates */
        if (shapes[s].c > 1) gu[1] = 30.0f;
        Buf b[] = {{"gu", 'f', IN, ng, gu, 0}, {"a", 'f', OUT, na, randn(&rg, na, 1), 0},
                   {"da", 'f', IN, na, randn(&rg, na, 1), 0}, {"dgu", 'f', OUT, ng, nans(ng), 0}};
        char what[64];
        snprintf(what, sizeof what, "swiglu n%d f%d", shapes[s].n, shapes[s].c);
        Run r;
        parity(be, op_swiglu, &shapes[s], b, 4, TOL, &r, what);
    }
}

Test(backend, swiglu) { each_target(check_swiglu); }

static double op_embedding(Backend *be, void **d, const void *a) {
    const Shape *k = a;
    be->embedding_forward(be, d[2], d[0], d[1], k->n, k->c);
    be->embedding_backward(be, d[4], d[3], d[0], k->n, k->c);
    return 0;
}

/* Vocabulary 11: ids repeat (rows of dE add up). The forward is a copy: exact. */
static void check_embedding(Backend *be) {
    static const Shape shapes[] = {{1, 1}, {7, 3}, {40, 65}, {300, 8}};
    Rng rg = rng_stream(7, "embedding");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t nx = (size_t)shapes[s].n * shapes[s].c, nE = 11 * (size_t)shapes[s].c;
        Buf b[] = {{"ids", 'i', IN, (size_t)shapes[s].n, randi(&rg, (size_t)shapes[s].n, 11), 0},
                   {"E", 'f', IN, nE, randn(&rg, nE, 1), 0}, {"x", 'f', EXACT, nx, randn(&rg, nx, 1), 0},
                   {"dx", 'f', IN, nx, randn(&rg, nx, 1), 0}, {"dE", 'f', ACC, nE, randn(&rg, nE, 1), 0}};
        char what[64];
        snprintf(what, sizeof what, "embedding n%d c%d", shapes[s].n, shapes[s].c);
        Run r;
        parity(be, op_embedding, &shapes[s], b, 5, TOL, &r, what);
    }
}

Test(backend, embedding) { each_target(check_embedding); }

static double op_add(Backend *be, void **d, const void *a) {
    be->add(be, d[0], d[1], *(const size_t *)a);
    return 0;
}

static void check_add(Backend *be) {
    static const size_t lens[] = {1, 7, 1001, 65537};
    Rng rg = rng_stream(8, "add");
    for (size_t s = 0; s < sizeof lens / sizeof lens[0]; s++) {
        Buf b[] = {{"y", 'f', ACC, lens[s] + 3, randn(&rg, lens[s] + 3, 1), 0}, /* the 3 past len stay */
                   {"x", 'f', IN, lens[s] + 3, randn(&rg, lens[s] + 3, 1), 0}};
        char what[64];
        snprintf(what, sizeof what, "add len %zu", lens[s]);
        Run r;
        parity(be, op_add, &lens[s], b, 2, TOL, &r, what);
    }
}

Test(backend, add) { each_target(check_add); }

/* ---- dropout ------------------------------------------------------------------------------------ */

typedef struct DropCase { size_t len; float p; uint64_t key; } DropCase;

static double op_dropout(Backend *be, void **d, const void *a) {
    const DropCase *k = a;
    be->dropout_forward(be, d[1], d[0], k->len, k->p, k->key);
    be->dropout_backward(be, d[3], d[2], k->len, k->p, k->key);
    return 0;
}

/* Masks exact: y = 0 exactly where the reference drops (x has no zeros), dx unchanged bit for bit there. */
static void check_dropout_masks(Backend *be, const DropCase *k, const Buf *b, const Run *r, const char *what) {
    const float *yw = r->want[1], *yg = r->got[1], *dx0 = b[3].h, *dxw = r->want[3], *dxg = r->got[3];
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < k->len; i++) {
        int dropped = yw[i] == 0.0f;
        if ((yg[i] == 0.0f) != dropped || (dropped && memcmp(&dxg[i], &dx0[i], sizeof(float))) ||
            (dropped && memcmp(&dxw[i], &dx0[i], sizeof(float))))
            if (!bad++) first = i;
    }
    cr_expect_eq(bad, 0, "[%s] %s: %zu mask mismatches, first at %zu", be->name, what, bad, first);
}

static void check_dropout(Backend *be) {
    /* the last case has p = u(key, 5): element 5 sits exactly on the threshold and is kept (u >= p) */
    DropCase cases[] = {{1, 0.5f, 1}, {7, 0.1f, 2}, {1001, 0.0f, 3}, {1001, 0.5f, 3}, {4099, 0.9f, 4},
                        {65537, 0.25f, 0xFFFFFFFFFFFFULL}, {9, dropout_uniform(11, 5), 11}};
    Rng rg = rng_stream(9, "dropout");
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        size_t n = cases[s].len;
        float *x = randn(&rg, n, 1);
        for (size_t i = 0; i < n; i++) x[i] += x[i] >= 0 ? 0.01f : -0.01f; /* no zeros */
        Buf b[] = {{"x", 'f', IN, n, x, 0}, {"y", 'f', OUT, n, randn(&rg, n, 1), 0},
                   {"dy", 'f', IN, n, randn(&rg, n, 1), 0}, {"dx", 'f', ACC, n, randn(&rg, n, 1), 0}};
        char what[64];
        snprintf(what, sizeof what, "dropout len %zu p %g", n, cases[s].p);
        Run r;
        parity(be, op_dropout, &cases[s], b, 4, TOL, &r, what);
        check_dropout_masks(be, &cases[s], b, &r, what);
    }
}

Test(backend, dropout) { each_target(check_dropout); }

/* ---- rows: gather, scatter, cross-entropy, stats, axpby, argmax ------------------------------------------ */

typedef struct RowsCase { int m, c, nsrc; } RowsCase;

static double op_rows(Backend *be, void **d, const void *a) {
    const RowsCase *k = a;
    be->gather_rows(be, d[2], d[0], d[1], k->m, k->c);
    be->scatter_add_rows(be, d[4], d[3], d[1], k->m, k->c);
    return 0;
}

/* Repeated rows (scatter adds them up in row order); gather is a copy: exact. */
static void check_rows(Backend *be) {
    static const RowsCase cases[] = {{0, 3, 2}, {1, 1, 1}, {5, 7, 3}, {40, 65, 9}, {300, 16, 50}};
    Rng rg = rng_stream(10, "rows");
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        const RowsCase *k = &cases[s];
        size_t ns = (size_t)k->nsrc * k->c, nm = (size_t)k->m * k->c;
        Buf b[] = {{"src", 'f', IN, ns, randn(&rg, ns, 1), 0},
                   {"rows", 'i', IN, (size_t)k->m, randi(&rg, (size_t)k->m, k->nsrc), 0},
                   {"gathered", 'f', EXACT, nm, randn(&rg, nm, 1), 0}, {"src2", 'f', IN, nm, randn(&rg, nm, 1), 0},
                   {"scattered", 'f', ACC, ns, randn(&rg, ns, 1), 0}};
        char what[64];
        snprintf(what, sizeof what, "gather/scatter m%d c%d", k->m, k->c);
        Run r;
        parity(be, op_rows, k, b, 5, TOL, &r, what);
    }
}

Test(backend, gather_scatter_rows) { each_target(check_rows); }

typedef struct CeCase { int M, V; float dscale; int mode; } CeCase; /* mode 0: loss only; 1: dlogits; 2: aliased */

static double op_ce(Backend *be, void **d, const void *a) {
    const CeCase *k = a;
    float *dl = k->mode == 0 ? NULL : k->mode == 1 ? d[3] : d[0];
    be->cross_entropy(be, d[2], dl, d[0], d[1], k->M, k->V, k->dscale);
    return 0;
}

static void check_ce(Backend *be) {
    static const int shapes[][2] = {{0, 5}, {1, 1}, {1, 2}, {5, 7}, {9, 1001}, {3, 32000}};
    Rng rg = rng_stream(11, "cross_entropy");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int mode = 0; mode < 3; mode++) {
            CeCase k = {shapes[s][0], shapes[s][1], 0.37f, mode};
            size_t nl = (size_t)k.M * k.V;
            float *l = randn(&rg, nl, 3);
            if (nl > 2) l[1] = 80.0f, l[2] = -80.0f; /* stability */
            /* |dlogits| <= dscale: its errors are relative to dscale at least (softmax − 1 cancels in float) */
            Buf b[] = {{"logits", 'f', mode == 2 ? OUT : IN, nl, l, k.dscale},
                       {"tgt", 'i', IN, (size_t)k.M, randi(&rg, (size_t)k.M, k.V), 0},
                       {"loss", 'f', OUT, (size_t)k.M, randn(&rg, (size_t)k.M, 1), 0},
                       {"dlogits", 'f', mode == 0 ? IN : OUT, nl, randn(&rg, nl, 1), k.dscale}};
            char what[64];
            snprintf(what, sizeof what, "cross_entropy M%d V%d %s", k.M, k.V,
                     mode == 0 ? "dlogits=NULL" : mode == 1 ? "" : "dlogits=logits");
            Run r;
            parity(be, op_ce, &k, b, 4, tol_red(be), &r, what);
        }
}

Test(backend, cross_entropy) { each_target(check_ce); }

static double op_rowstats(Backend *be, void **d, const void *a) {
    const Shape *k = a;
    be->row_stats(be, d[2], d[0], d[1], k->n, k->c);
    be->row_axpby(be, d[5], d[3], d[0], d[4], d[1], k->n, k->c);
    return 0;
}

/* Row 0 has u == c, row 1 u ≈ c: |u − c|² is compared per element there (relative 1e-6). */
static void check_rowstats(Backend *be) {
    static const Shape shapes[] = {{1, 1}, {3, 5}, {8, 257}, {2, 4096}};
    Rng rg = rng_stream(12, "row_stats");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int B = shapes[s].n, D = shapes[s].c;
        size_t n = (size_t)B * D;
        float *U = randn(&rg, n, 1), *C = randn(&rg, n, 1);
        for (int i = 0; i < D; i++) C[i] = U[i];
        for (int i = 0; B > 1 && i < D; i++) C[D + i] = U[D + i] + 1e-3f * C[D + i];
        Buf b[] = {{"U", 'f', IN, n, U, 0}, {"C", 'f', IN, n, C, 0},
                   {"stats", 'd', OUT, 4 * (size_t)B, randd(&rg, 4 * (size_t)B, 1), 0},
                   {"a", 'd', IN, (size_t)B, randd(&rg, (size_t)B, 1), 0},
                   {"b", 'd', IN, (size_t)B, randd(&rg, (size_t)B, 1), 0},
                   {"y", 'f', ACC, n, randn(&rg, n, 1), 0}};
        char what[64];
        snprintf(what, sizeof what, "row_stats/row_axpby B%d D%d", B, D);
        Run r;
        parity(be, op_rowstats, &shapes[s], b, 6, 1e-6, &r, what);
        const double *sw = r.want[2], *sg = r.got[2];
        cr_expect_eq(sg[3], 0.0, "[%s] %s: |u - u|² = %g", be->name, what, sg[3]);
        if (B > 1)
            cr_expect(fabs(sg[7] - sw[7]) <= 1e-6 * sw[7], "[%s] %s: |u - c|² of a close pair %.12g, ref %.12g",
                      be->name, what, sg[7], sw[7]);
    }
}

Test(backend, row_stats_axpby) { each_target(check_rowstats); }

static double op_argmax(Backend *be, void **d, const void *a) {
    const Shape *k = a;
    be->argmax_rows(be, d[1], d[0], k->n, k->c);
    return 0;
}

/* Ties: a constant row (→ 0), a repeated maximum (the first), the maximum last, ties far apart. */
static void check_argmax(Backend *be) {
    static const Shape shapes[] = {{1, 1}, {4, 7}, {6, 1001}, {3, 32000}};
    Rng rg = rng_stream(13, "argmax");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s].n, V = shapes[s].c;
        float *x = randn(&rg, (size_t)m * V, 1);
        if (m >= 4) {
            for (int v = 0; v < V; v++) x[v] = -2.5f;
            x[V + 3] = x[V + V - 1] = 9.0f;
            x[2 * V + V - 1] = 9.0f;
            x[3 * V + V / 10] = x[3 * V + V - V / 10 - 1] = 7.0f;
        }
        Buf b[] = {{"x", 'f', IN, (size_t)m * V, x, 0},
                   {"argmax", 'i', EXACT, (size_t)m, randi(&rg, (size_t)m, 100), 0}};
        char what[64];
        snprintf(what, sizeof what, "argmax_rows m%d V%d", m, V);
        Run r;
        parity(be, op_argmax, &shapes[s], b, 2, 0, &r, what);
    }
}

Test(backend, argmax_rows) { each_target(check_argmax); }

/* ---- optimizer ops ------------------------------------------------------------------------------- */

static double op_sumsq(Backend *be, void **d, const void *a) {
    double s = be->sum_squares(be, d[0], *(const size_t *)a);
    be->scale(be, d[1], *(const size_t *)a, -0.37f);
    return s;
}

static void check_sumsq_scale(Backend *be) {
    static const size_t lens[] = {1, 7, 1001, 100003};
    Rng rg = rng_stream(14, "sum_squares");
    for (size_t s = 0; s < sizeof lens / sizeof lens[0]; s++) {
        size_t n = lens[s];
        Buf b[] = {{"x", 'f', IN, n + 1, randn(&rg, n + 1, 2), 0},
                   {"scaled", 'f', OUT, n + 1, randn(&rg, n + 1, 1), 0}};
        char what[64];
        snprintf(what, sizeof what, "sum_squares/scale n %zu", n);
        Run r;
        parity(be, op_sumsq, &lens[s], b, 2, 1e-6, &r, what);
    }
}

Test(backend, sum_squares_scale) { each_target(check_sumsq_scale); }

typedef struct AdamCase { size_t n; double lr, b1, b2, eps, wd; long t0; int steps; } AdamCase;

/* steps updates from t0 on, gradient s is g + s·n */
static double op_adamw(Backend *be, void **d, const void *a) {
    const AdamCase *k = a;
    for (int s = 0; s < k->steps; s++)
        be->adamw(be, d[0], (const float *)d[1] + s * k->n, d[2], d[3], k->n, k->lr, k->b1, k->b2, k->eps, k->wd,
                  k->t0 + s);
    return 0;
}

/* p is compared by its change (ACC); m, v start non-zero when t0 > 1. */
static void check_adamw(Backend *be) {
    static const AdamCase cases[] = {{1, 0.1, 0.9, 0.999, 1e-8, 0.01, 1, 3},
                                     {7, 1e-3, 0.9, 0.95, 1e-6, 0.1, 1, 4},
                                     {1001, 0.05, 0.8, 0.99, 1e-8, 0.0, 1000, 2},
                                     {65537, 0.01, 0.9, 0.999, 1e-8, 0.01, 5, 2}};
    Rng rg = rng_stream(15, "adamw");
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        const AdamCase *k = &cases[s];
        size_t n = k->n;
        float *m = randn(&rg, n, 0.1), *v = randn(&rg, n, 0.1);
        for (size_t i = 0; i < n; i++) {
            v[i] = k->t0 > 1 ? v[i] * v[i] : 0.0f;
            m[i] = k->t0 > 1 ? m[i] : 0.0f;
        }
        Buf b[] = {{"p", 'f', ACC, n, randn(&rg, n, 1), 0},
                   {"g", 'f', IN, n * k->steps, randn(&rg, n * k->steps, 0.5), 0},
                   {"m", 'f', OUT, n, m, 0}, {"v", 'f', OUT, n, v, 0}};
        char what[64];
        snprintf(what, sizeof what, "adamw n %zu t0 %ld", n, k->t0);
        Run r;
        parity(be, op_adamw, k, b, 4, tol_adamw(be), &r, what);
    }
}

Test(backend, adamw) { each_target(check_adamw); }

/* ---- determinism: an op run twice gives the same bits ------------------------------------------ */

/* Runs op twice on be from the same inputs; every buffer and the return value must be bit-identical. */
static void expect_same_bits(Backend *be, OpFn op, const void *args, const Buf *b, int nb, const char *what) {
    void *x[MAXB], *y[MAXB];
    double rx = run_on(be, op, args, b, nb, x), ry = run_on(be, op, args, b, nb, y);
    cr_expect(!memcmp(&rx, &ry, sizeof rx), "[%s] %s: return value differs between runs", be->name, what);
    for (int i = 0; i < nb; i++)
        cr_expect(!memcmp(x[i], y[i], b[i].n * elsize(b[i].type)), "[%s] %s: %s differs between runs", be->name, what,
                  b[i].name);
}

/* The ops whose CUDA kernels reduce across threads or scatter into repeated rows. */
static void check_determinism(Backend *be) {
    AttnCase k = attn_packed_long(8, 2, 64);
    attn_case_init(&k);
    Rng rg = rng_stream(77, "determinism");
    size_t nq = k.n * (size_t)(k.H + 2 * k.KV) * k.hd, no = k.n * (size_t)k.H * k.hd;
    Buf ab[] = {{"qkv", 'f', IN, nq, randn(&rg, nq, 1.5), 0},   {"out", 'f', OUT, no, randn(&rg, no, 1), 0},
                {"dout", 'f', IN, no, randn(&rg, no, 1), 0},    {"dqkv", 'f', ACC, nq, randn(&rg, nq, 0.3), 0},
                {"row_start", 'i', IN, 2, k.row_start, 0},      {"seg", 'i', IN, 100, PACK_LONG_SEG, 0},
                {"vis", 'u', IN, 4, PACK_VIS, 0}};
    expect_same_bits(be, op_attention, &k, ab, 7, "attention");
    Shape es = {3000, 64};
    size_t nx = (size_t)es.n * es.c, nE = 11 * (size_t)es.c;
    Buf eb[] = {{"ids", 'i', IN, (size_t)es.n, randi(&rg, (size_t)es.n, 11), 0}, {"E", 'f', IN, nE, randn(&rg, nE, 1), 0},
                {"x", 'f', OUT, nx, randn(&rg, nx, 1), 0}, {"dx", 'f', IN, nx, randn(&rg, nx, 1), 0},
                {"dE", 'f', ACC, nE, randn(&rg, nE, 1), 0}};
    expect_same_bits(be, op_embedding, &es, eb, 5, "embedding_backward");
    size_t n = 1000003;
    Buf sb[] = {{"x", 'f', IN, n + 1, randn(&rg, n + 1, 2), 0}, {"scaled", 'f', OUT, n + 1, randn(&rg, n + 1, 1), 0}};
    expect_same_bits(be, op_sumsq, &n, sb, 2, "sum_squares");
    NormCase nk = {300, 96, 1e-5f, 1};
    size_t nn = (size_t)nk.n * nk.c;
    Buf nb[] = {{"x", 'f', IN, nn, randn(&rg, nn, 1), 0}, {"w", 'f', IN, (size_t)nk.c, randn(&rg, (size_t)nk.c, 1), 0},
                {"y", 'f', OUT, nn, randn(&rg, nn, 1), 0}, {"rstd", 'f', OUT, (size_t)nk.n, randn(&rg, (size_t)nk.n, 1), 0},
                {"dy", 'f', IN, nn, randn(&rg, nn, 1), 0}, {"dx", 'f', ACC, nn, randn(&rg, nn, 1), 0},
                {"dw", 'f', ACC, (size_t)nk.c, randn(&rg, (size_t)nk.c, 1), 0}};
    expect_same_bits(be, op_rmsnorm, &nk, nb, 7, "rmsnorm");
    LinCase lk = {300, 96, 160, 1, 1, DTYPE_BF16, DX_ADD};
    size_t lx = (size_t)lk.n * lk.in, lw = (size_t)lk.out * lk.in, ly = (size_t)lk.n * lk.out;
    Buf lb[] = {{"x", 'f', IN, lx, randn(&rg, lx, 1), 0},   {"w", 'f', IN, lw, randn(&rg, lw, 1), 0},
                {"y", 'f', OUT, ly, randn(&rg, ly, 1), 0},  {"dy", 'f', IN, ly, randn(&rg, ly, 1), 0},
                {"dx", 'f', ACC, lx, randn(&rg, lx, 1), 0}, {"dw", 'f', ACC, lw, randn(&rg, lw, 1), 0}};
    expect_same_bits(be, op_linear, &lk, lb, 6, "linear bf16");
}

Test(backend, deterministic) { each_target(check_determinism); }

/* ---- the comparator can fail ------------------------------------------------------------------------- */

Test(comparator, rel_err) {
    float want[4] = {1, -2, 4, 0.5f}, got[4];
    size_t w;
    memcpy(got, want, sizeof got);
    cr_expect_eq(rel_err(got, want, NULL, 4, 0, &w), 0.0);
    got[3] += 4 * 2e-5f; /* 2e-5 of the scale 4 */
    cr_expect_gt(rel_err(got, want, NULL, 4, 0, &w), TOL);
    cr_expect_eq(w, 3);
    got[3] = want[3] + 4 * 5e-6f;
    cr_expect_leq(rel_err(got, want, NULL, 4, 0, &w), TOL);
    got[3] = NAN;
    cr_expect(isinf(rel_err(got, want, NULL, 4, 0, &w)), "NaN must be rejected");
    got[3] = INFINITY;
    cr_expect(isinf(rel_err(got, want, NULL, 4, 0, &w)), "inf must be rejected");
    float base[4] = {100, 100, 100, 100}, a[4] = {101, 101, 101, 101}, b[4] = {101, 101, 101, 101.01f};
    cr_expect_gt(rel_err(b, a, base, 4, 0, &w), TOL, "increments 1 and 1.01 differ by 1%%");
}

/* Broken copies of the reference: each mistake must be caught by the same check the real backends go through. */
static Backend g_broken;

static void bad_swiglu_fwd(Backend *be, float *a, const float *gu, int n, int f) {
    float mx = 0;
    backend_ref()->swiglu_forward(be, a, gu, n, f);
    for (int i = 0; i < n * f; i++) mx = fmaxf(mx, fabsf(a[i]));
    a[n * f - 1] += 1e-4f * mx; /* one element off by 1e-4 of the scale */
}
static void bad_swiglu_bwd(Backend *be, float *dgu, const float *da, const float *gu, int n, int f) {
    size_t len = (size_t)n * 2 * f;
    float *t = malloc(len * sizeof *t);
    backend_ref()->swiglu_backward(be, t, da, gu, n, f);
    for (size_t i = 0; i < len; i++) dgu[i] += t[i]; /* "+=" instead of "=" */
    free(t);
}
static void bad_linear_bwd(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w, int n,
                           int in, int out, int dtype, int dx_acc) {
    if (!dx) return; /* a NULL dx skips dw too */
    backend_ref()->linear_backward(be, dx, dw, dy, x, w, n, in, out, dtype, dx_acc);
}
static void linear_bwd_add(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w, int n,
                           int in, int out, int dtype, int dx_acc) {
    (void)dx_acc; /* always "+=" */
    backend_ref()->linear_backward(be, dx, dw, dy, x, w, n, in, out, dtype, DX_ADD);
}
static void linear_bwd_set(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w, int n,
                           int in, int out, int dtype, int dx_acc) {
    (void)dx_acc; /* always "=" */
    backend_ref()->linear_backward(be, dx, dw, dy, x, w, n, in, out, dtype, DX_SET);
}
static void bad_dropout_fwd(Backend *be, float *y, const float *x, size_t len, float p, uint64_t key) {
    backend_ref()->dropout_forward(be, y, x, len, p, key + 1); /* another mask */
}
static void bad_argmax(Backend *be, int *out, const float *x, int m, int V) {
    backend_ref()->argmax_rows(be, out, x, m, V);
    for (int r = 0; r < m; r++) /* last on ties */
        for (int v = out[r] + 1; v < V; v++)
            if (x[(size_t)r * V + v] == x[(size_t)r * V + out[r]]) out[r] = v;
}
static void bad_ce(Backend *be, float *loss, float *dl, const float *l, const int *tgt, int M, int V, float ds) {
    backend_ref()->cross_entropy(be, loss, dl, l, tgt, M, V, ds);
    if (dl && dl != l) ((float *)l)[0] += 1e-3f; /* touches an input */
}

Test(comparator, rejects_broken_backends) {
    g_broken = *backend_ref();
    g_broken.name = "broken";
    Rng rg = rng_stream(99, "broken");
    char msg[512];
    Run r;
    Shape sh = {3, 5};
    Buf sw[] = {{"gu", 'f', IN, 30, randn(&rg, 30, 2), 0}, {"a", 'f', OUT, 15, randn(&rg, 15, 1), 0},
                {"da", 'f', IN, 15, randn(&rg, 15, 1), 0}, {"dgu", 'f', OUT, 30, nans(30), 0}};
    cr_assert(agree(&g_broken, op_swiglu, &sh, sw, 4, TOL, &r, msg, sizeof msg), "the unbroken copy agrees: %s", msg);
    g_broken.swiglu_forward = bad_swiglu_fwd;
    cr_expect(!agree(&g_broken, op_swiglu, &sh, sw, 4, TOL, &r, msg, sizeof msg), "a 1e-4 error passed");
    g_broken = *backend_ref();
    g_broken.swiglu_backward = bad_swiglu_bwd;
    cr_expect(!agree(&g_broken, op_swiglu, &sh, sw, 4, TOL, &r, msg, sizeof msg), "+= instead of = passed");
    g_broken = *backend_ref();
    g_broken.linear_backward = bad_linear_bwd;
    LinCase lk = {3, 4, 5, 0, 1, DTYPE_FP32, DX_ADD};
    Buf lb[6];
    linear_bufs(&rg, &lk, lb);
    cr_expect(!agree(&g_broken, op_linear, &lk, lb, 6, TOL, &r, msg, sizeof msg), "dx = NULL dropping dw passed");
    for (int acc = DX_SET; acc <= DX_ADD; acc++) { /* a backend that ignores dx_acc */
        LinCase ak = {3, 4, 5, 1, 1, DTYPE_FP32, acc};
        linear_bufs(&rg, &ak, lb);
        g_broken = *backend_ref();
        cr_assert(agree(&g_broken, op_linear, &ak, lb, 6, TOL, &r, msg, sizeof msg), "the unbroken copy agrees: %s",
                  msg);
        g_broken.linear_backward = acc == DX_SET ? linear_bwd_add : linear_bwd_set;
        cr_expect(!agree(&g_broken, op_linear, &ak, lb, 6, TOL, &r, msg, sizeof msg), "linear dx: %s passed",
                  acc == DX_SET ? "+= under DX_SET" : "= under DX_ADD");
    }
    g_broken = *backend_ref();
    g_broken.dropout_forward = bad_dropout_fwd;
    DropCase dk = {64, 0.5f, 7};
    Buf db[] = {{"x", 'f', IN, 64, randn(&rg, 64, 1), 0}, {"y", 'f', OUT, 64, randn(&rg, 64, 1), 0},
                {"dy", 'f', IN, 64, randn(&rg, 64, 1), 0}, {"dx", 'f', ACC, 64, randn(&rg, 64, 1), 0}};
    cr_expect(!agree(&g_broken, op_dropout, &dk, db, 4, TOL, &r, msg, sizeof msg), "another dropout mask passed");
    g_broken = *backend_ref();
    g_broken.argmax_rows = bad_argmax;
    Shape ak = {1, 4};
    float ax[4] = {1, 3, 3, 2};
    int a0[1] = {0};
    Buf ab[] = {{"x", 'f', IN, 4, ax, 0}, {"argmax", 'i', EXACT, 1, a0, 0}};
    cr_expect(!agree(&g_broken, op_argmax, &ak, ab, 2, 0, &r, msg, sizeof msg), "last-on-ties passed");
    g_broken = *backend_ref();
    g_broken.cross_entropy = bad_ce;
    CeCase ck = {2, 5, 1.0f, 1};
    Buf cb[] = {{"logits", 'f', IN, 10, randn(&rg, 10, 1), 0}, {"tgt", 'i', IN, 2, randi(&rg, 2, 5), 0},
                {"loss", 'f', OUT, 2, randn(&rg, 2, 1), 0}, {"dlogits", 'f', OUT, 10, randn(&rg, 10, 1), 0}};
    cr_expect(!agree(&g_broken, op_ce, &ck, cb, 4, TOL, &r, msg, sizeof msg), "writing an input passed");
    hfree();
}

/* ---- the profiling wrapper counts ---------------------------------------------------------------- */

Test(backend, profiler_counts) {
    Backend *p = backend_profiled(backend_cpu());
    backend_prof_reset();
    float *x = p->alloc(p, 64 * sizeof(float));
    p->scale(p, x, 64, 2.0f);
    p->scale(p, x, 64, 2.0f);
    p->free(p, x);
    cr_expect_geq(backend_prof_total(), 0.0);
    char buf[4096] = "";
    FILE *f = tmpfile();
    cr_assert(f);
    backend_prof_print(f);
    rewind(f);
    buf[fread(buf, 1, sizeof buf - 1, f)] = 0;
    fclose(f);
    cr_expect(strstr(buf, "| scale | 2 |") != NULL, "profile table: %s", buf);
    cr_expect(strstr(buf, "| alloc | 1 |") != NULL, "profile table: %s", buf);
    cr_expect(strstr(buf, "gemm") == NULL, "ops never called are not listed: %s", buf);
    backend_prof_reset();
    cr_expect_eq(backend_prof_total(), 0.0);
}

/* ==== the reference, anchored ====================================================================== *
 * Finite differences (as tests/test_layers.c): loss = Σ r ⊙ forward(x) in double, analytic gradient =
 * backward with upstream r; central differences over the steps representable in float, one Richardson
 * step; EVERY coordinate; ratio |an − num| / (atol + rtol·max(|an|, |num|)) <= 1, atol = atol_rel·max|an|. */

static Backend *R;

typedef FdLossFn LossFn;

static void grad_check(LossFn f, void *ctx, float *x, const float *an, size_t len, double h, double rtol,
                       double atol_rel, const char *what) {
    double worst = 0, wa = 0, wn = 0, mx = 0;
    size_t wi = 0, nz = 0;
    for (size_t i = 0; i < len; i++) mx = fmax(mx, fabs(an[i])), nz += an[i] != 0.0f;
    for (size_t i = 0; i < len; i++) {
        double num = fd_richardson(f, ctx, x, i, h), a = an[i];
        double r = fabs(a - num) / (atol_rel * mx + rtol * fmax(fabs(a), fabs(num)) + 1e-300);
        if (r > worst) { worst = r; wi = i; wa = a; wn = num; }
    }
    cr_expect_leq(worst, 1.0, "%s: gradient mismatch at %zu: analytic %.9g numeric %.9g (ratio %.3g)", what, wi, wa,
                  wn, worst);
    cr_expect_gt(nz, len / 2, "%s: only %zu of %zu gradient entries are non-zero", what, nz, len);
}

/* After a second backward into the same buffer: g2 = 2·g1 (backward ops accumulate). */
static void expect_doubled(const float *g2, const float *g1, size_t n, const char *what) {
    double worst = 0, mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(g1[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(g2[i] - 2.0 * g1[i]));
    cr_expect_leq(worst, 1e-6 * mx, "%s: backward does not accumulate (error %g)", what, worst);
}

static float *hdup(const float *x, size_t n) {
    float *y = hnew(n * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}

static void fd_setup(void) { R = backend_ref(); }
static void fd_teardown(void) { hfree(); }

typedef struct LinCtx { int n, in, out; float *x, *w, *r, *y; } LinCtx;
static double lin_loss(void *p) {
    LinCtx *c = p;
    R->linear_forward(R, c->y, c->x, c->w, c->n, c->in, c->out, DTYPE_FP32);
    return fd_dot(c->r, c->y, (size_t)c->n * c->out);
}

Test(reference, fd_linear, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(40, "fd");
    LinCtx c = {3, 5, 4, randn(&rg, 15, 1), randn(&rg, 20, 1), randn(&rg, 12, 1), hnew(12 * sizeof(float))};
    float *dx = hnew(15 * sizeof(float)), *dw = hnew(20 * sizeof(float));
    R->linear_backward(R, dx, dw, c.r, c.x, c.w, c.n, c.in, c.out, DTYPE_FP32, DX_ADD);
    grad_check(lin_loss, &c, c.x, dx, 15, 0.25, 1e-4, 1e-5, "ref linear dx");
    grad_check(lin_loss, &c, c.w, dw, 20, 0.25, 1e-4, 1e-5, "ref linear dw");
    float *dx1 = hdup(dx, 15), *dw1 = hdup(dw, 20);
    R->linear_backward(R, dx, dw, c.r, c.x, c.w, c.n, c.in, c.out, DTYPE_FP32, DX_ADD);
    expect_doubled(dx, dx1, 15, "ref linear dx");
    expect_doubled(dw, dw1, 20, "ref linear dw");
    float *dx2 = nans(15);
    R->linear_backward(R, dx2, NULL, c.r, c.x, c.w, c.n, c.in, c.out, DTYPE_FP32, DX_SET);
    for (int i = 0; i < 15; i++) cr_expect_eq(dx2[i], dx1[i], "ref linear dx (DX_SET over NaN) at %d", i);
}

/* bf16_round against bit patterns worked out by hand: round to nearest, ties to even, on the 16 bits dropped. */
Test(reference, bf16_round) {
    static const uint32_t cases[][2] = {
        {0x3F800000u, 0x3F800000u}, /* 1 stays */
        {0x3F808000u, 0x3F800000u}, /* 1 + 2^-8: a tie, to the even 1 */
        {0x3F818000u, 0x3F820000u}, /* 1 + 3·2^-8: a tie, to the even 1 + 2^-6 */
        {0x3F808001u, 0x3F810000u}, /* just above the tie: up */
        {0x3F807FFFu, 0x3F800000u}, /* just below: down */
        {0xBF808001u, 0xBF810000u}, /* the sign is kept: -(1 + 2^-8 + 2^-23) */
        {0x7F7FFFFFu, 0x7F800000u}, /* FLT_MAX rounds past the largest bf16: inf */
        {0x7F7F7FFFu, 0x7F7F0000u}, /* the largest bf16 */
        {0x7F800000u, 0x7F800000u}, /* inf */
        {0xFF800000u, 0xFF800000u}, /* -inf */
        {0x80000000u, 0x80000000u}, /* -0 */
        {0x00018000u, 0x00020000u}, /* a subnormal tie, to even */
        {0x3FFFFFFFu, 0x40000000u}, /* a carry into the exponent */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float x, y;
        uint32_t got;
        memcpy(&x, &cases[i][0], 4);
        y = bf16_round(x);
        memcpy(&got, &y, 4);
        cr_expect_eq(got, cases[i][1], "bf16_round(0x%08X) = 0x%08X, want 0x%08X", cases[i][0], got, cases[i][1]);
    }
    uint32_t nanbits[2] = {0x7F800001u, 0xFFC00000u}; /* a signalling NaN whose payload is in the low bits; -qNaN */
    for (int i = 0; i < 2; i++) {
        float x, y;
        memcpy(&x, &nanbits[i], 4);
        y = bf16_round(x);
        cr_expect(isnan(y), "bf16_round(0x%08X) is not a NaN", nanbits[i]);
    }
}

/* The reference's bf16 linear against its fp32: each rounded operand is within 2^-9 relative of the original, so
 * each product within (1 + 2^-9)² − 1 < 2^-8 + 2^-17, and |y_bf16 − y_fp32| <= (2^-8 + 2^-17 + 2^-22) Σ |x||w|
 * (2^-22: the final fp32 rounding of both, double accumulation adding nothing visible); and bf16 does change the
 * result (the path is taken). */
Test(reference, linear_bf16_bound, .init = fd_setup, .fini = fd_teardown) {
    enum { N = 9, IN = 70, OUT = 11 };
    Rng rg = rng_stream(42, "bf16");
    float *x = randn(&rg, N * IN, 1), *w = randn(&rg, OUT * IN, 1), *dy = randn(&rg, N * OUT, 1);
    float *y32 = hnew(N * OUT * sizeof(float)), *y16 = hnew(N * OUT * sizeof(float));
    float *dx32 = hnew(N * IN * sizeof(float)), *dx16 = hnew(N * IN * sizeof(float));
    float *dw32 = hnew(OUT * IN * sizeof(float)), *dw16 = hnew(OUT * IN * sizeof(float));
    R->linear_forward(R, y32, x, w, N, IN, OUT, DTYPE_FP32);
    R->linear_forward(R, y16, x, w, N, IN, OUT, DTYPE_BF16);
    R->linear_backward(R, dx32, dw32, dy, x, w, N, IN, OUT, DTYPE_FP32, DX_ADD);
    R->linear_backward(R, dx16, dw16, dy, x, w, N, IN, OUT, DTYPE_BF16, DX_ADD);
    const double u = ldexp(1, -8) + ldexp(1, -17) + ldexp(1, -22);
    int differs = 0;
    for (int t = 0; t < N; t++)
        for (int o = 0; o < OUT; o++) {
            double b = 0;
            for (int i = 0; i < IN; i++) b += fabs((double)x[t * IN + i] * w[o * IN + i]);
            double d = fabs((double)y16[t * OUT + o] - y32[t * OUT + o]);
            cr_expect_leq(d, u * b, "y[%d,%d]: |bf16 - fp32| %g > bound %g", t, o, d, u * b);
            differs |= d > 0;
        }
    for (int t = 0; t < N; t++)
        for (int i = 0; i < IN; i++) {
            double b = 0;
            for (int o = 0; o < OUT; o++) b += fabs((double)dy[t * OUT + o] * w[o * IN + i]);
            double d = fabs((double)dx16[t * IN + i] - dx32[t * IN + i]);
            cr_expect_leq(d, u * b, "dx[%d,%d]: |bf16 - fp32| %g > bound %g", t, i, d, u * b);
            differs |= d > 0;
        }
    for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++) {
            double b = 0;
            for (int t = 0; t < N; t++) b += fabs((double)dy[t * OUT + o] * x[t * IN + i]);
            double d = fabs((double)dw16[o * IN + i] - dw32[o * IN + i]);
            cr_expect_leq(d, u * b, "dw[%d,%d]: |bf16 - fp32| %g > bound %g", o, i, d, u * b);
            differs |= d > 0;
        }
    cr_expect(differs, "bf16 gave the fp32 results bit for bit");
}

typedef struct NormCtx { int n, c; float eps; float *x, *w, *r, *y, *rstd; } NormCtx;
static double norm_loss(void *p) {
    NormCtx *c = p;
    R->rmsnorm_forward(R, c->y, c->rstd, c->x, c->w, c->n, c->c, c->eps);
    return fd_dot(c->r, c->y, (size_t)c->n * c->c);
}

Test(reference, fd_rmsnorm, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(41, "fd");
    NormCtx c = {3, 6, 1e-2f, randn(&rg, 18, 1), randn(&rg, 6, 0.5), randn(&rg, 18, 1), hnew(18 * 4), hnew(3 * 4)};
    for (int i = 0; i < 6; i++) c.x[i] *= 0.1f, c.w[i] += 1.0f; /* a row where eps matters */
    norm_loss(&c);
    float *dx = hnew(18 * 4), *dw = hnew(6 * 4);
    R->rmsnorm_backward(R, dx, dw, c.r, c.x, c.w, c.rstd, c.n, c.c);
    grad_check(norm_loss, &c, c.x, dx, 18, 1.0 / 32, 1e-4, 1e-5, "ref rmsnorm dx");
    grad_check(norm_loss, &c, c.w, dw, 6, 0.25, 1e-4, 1e-5, "ref rmsnorm dw");
    norm_loss(&c); /* rstd at the unperturbed x */
    float *dx1 = hdup(dx, 18), *dw1 = hdup(dw, 6);
    R->rmsnorm_backward(R, dx, dw, c.r, c.x, c.w, c.rstd, c.n, c.c);
    expect_doubled(dx, dx1, 18, "ref rmsnorm dx");
    expect_doubled(dw, dw1, 6, "ref rmsnorm dw");
}

enum { RP_N = 5, RP_HD = 6, RP_HEADS = 3, RP_COL0 = 2, RP_STRIDE = 23, RP_MAXPOS = 8 };
typedef struct RopeCtx {
    float *x, *g, *y, cs[RP_MAXPOS * RP_HD / 2], sn[RP_MAXPOS * RP_HD / 2];
    int pos[RP_N];
} RopeCtx;
static double rope_loss(void *p) {
    RopeCtx *c = p;
    memcpy(c->y, c->x, sizeof(float) * RP_N * RP_STRIDE);
    R->rope(R, c->y, c->pos, c->cs, c->sn, RP_N, RP_STRIDE, RP_COL0, RP_HEADS, RP_HD, 0);
    return fd_dot(c->g, c->y, (size_t)RP_N * RP_STRIDE);
}

/* backward of rope = rope(inverse); inverse ∘ forward = identity; other columns untouched */
Test(reference, fd_rope_inverse, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(42, "fd");
    static RopeCtx c;
    size_t len = RP_N * RP_STRIDE;
    rope_tables(c.cs, c.sn, RP_MAXPOS, RP_HD);
    int pos[RP_N] = {0, 3, 1, 7, 2};
    memcpy(c.pos, pos, sizeof pos);
    c.x = randn(&rg, len, 1), c.g = randn(&rg, len, 1), c.y = hnew(len * 4);
    float *dx = hnew(len * 4);
    memcpy(dx, c.g, len * 4);
    R->rope(R, dx, c.pos, c.cs, c.sn, RP_N, RP_STRIDE, RP_COL0, RP_HEADS, RP_HD, 1);
    grad_check(rope_loss, &c, c.x, dx, len, 0.25, 1e-4, 1e-5, "ref rope inverse");
    rope_loss(&c);
    R->rope(R, c.y, c.pos, c.cs, c.sn, RP_N, RP_STRIDE, RP_COL0, RP_HEADS, RP_HD, 1);
    for (size_t i = 0; i < len; i++) cr_expect(fabsf(c.y[i] - c.x[i]) <= 1e-6f, "inverse(rope(x)) != x at %zu", i);
    memcpy(c.y, c.x, len * 4);
    R->rope(R, c.y, c.pos, c.cs, c.sn, RP_N, RP_STRIDE, RP_COL0, RP_HEADS, RP_HD, 0);
    for (int t = 0; t < RP_N; t++)
        for (int j = 0; j < RP_STRIDE; j++)
            if (j < RP_COL0 || j >= RP_COL0 + RP_HEADS * RP_HD)
                cr_expect_eq(c.y[t * RP_STRIDE + j], c.x[t * RP_STRIDE + j], "rope touched column %d", j);
}

typedef struct AttnCtx { AttnCase *k; AttnLayout L; float *qkv, *out, *saved, *r; } AttnCtx;
static double attn_loss(void *p) {
    AttnCtx *c = p;
    cr_assert_eq(R->attention_forward(R, c->out, c->saved, c->qkv, &c->L, c->k->H, c->k->KV, c->k->hd), 0);
    return fd_dot(c->r, c->out, (size_t)c->k->n * c->k->H * c->k->hd);
}

/* GQA, a packed row, interleaved asymmetric segments and queries that see nothing */
static void fd_attention_case(AttnCase *k, uint64_t seed) {
    attn_case_init(k);
    Rng rg = rng_stream(seed, "fd");
    size_t nq = (size_t)k->n * (k->H + 2 * k->KV) * k->hd, no = (size_t)k->n * k->H * k->hd;
    static const unsigned char all[1] = {1};
    int *seg = hnew((size_t)k->n * sizeof(int));
    if (k->seg) memcpy(seg, k->seg, (size_t)k->n * sizeof(int));
    AttnCtx c = {k, {k->n, k->nrows, k->row_start, seg, k->vis ? k->vis : all, k->nseg, k->row_start},
                 randn(&rg, nq, 1), hnew(no * 4), NULL, randn(&rg, no, 1)};
    c.saved = hnew((R->attention_saved(R, &c.L, k->H, k->KV, k->hd) + 1) * 4);
    attn_loss(&c);
    float *dq = hnew(nq * 4);
    cr_assert_eq(R->attention_backward(R, dq, c.r, c.out, c.saved, c.qkv, &c.L, k->H, k->KV, k->hd), 0);
    char what[64];
    snprintf(what, sizeof what, "ref attention %s dqkv", k->name);
    grad_check(attn_loss, &c, c.qkv, dq, nq, 1.0 / 16, 1e-4, 2e-5, what);
    attn_loss(&c); /* saved state at the unperturbed qkv */
    float *dq1 = hdup(dq, nq);
    cr_assert_eq(R->attention_backward(R, dq, c.r, c.out, c.saved, c.qkv, &c.L, k->H, k->KV, k->hd), 0);
    expect_doubled(dq, dq1, nq, what);
}

Test(reference, fd_attention, .init = fd_setup, .fini = fd_teardown) {
    AttnCase a = attn_packed(4, 2, 4), b = attn_deadq(4, 2, 4), r = attn_ragged(2, 1, 3);
    r.lens[3] = 4, r.lens[4] = 3;
    fd_attention_case(&a, 43);
    fd_attention_case(&b, 44);
    fd_attention_case(&r, 45);
}

typedef struct SwiCtx { int n, f; float *gu, *a, *r; } SwiCtx;
static double swi_loss(void *p) {
    SwiCtx *c = p;
    R->swiglu_forward(R, c->a, c->gu, c->n, c->f);
    return fd_dot(c->r, c->a, (size_t)c->n * c->f);
}

Test(reference, fd_swiglu, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(46, "fd");
    SwiCtx c = {3, 5, randn(&rg, 30, 2), hnew(15 * 4), randn(&rg, 15, 1)};
    float *dgu = hnew(30 * 4);
    R->swiglu_backward(R, dgu, c.r, c.gu, c.n, c.f);
    grad_check(swi_loss, &c, c.gu, dgu, 30, 1.0 / 16, 1e-4, 1e-5, "ref swiglu dgu");
    float *d2 = nans(30);
    R->swiglu_backward(R, d2, c.r, c.gu, c.n, c.f); /* assigns: the same values over NaN */
    for (int i = 0; i < 30; i++) cr_expect_eq(d2[i], dgu[i], "ref swiglu dgu (over NaN) at %d", i);
}

typedef struct CeCtx { int M, V; float dscale; float *l, *loss; const int *tgt; } CeCtx;
static double ce_loss(void *p) {
    CeCtx *c = p;
    R->cross_entropy(R, c->loss, NULL, c->l, c->tgt, c->M, c->V, c->dscale);
    double s = 0;
    for (int i = 0; i < c->M; i++) s += c->loss[i];
    return c->dscale * s;
}

/* dlogits = ∂(dscale·Σ loss)/∂logits; the aliased call gives the same */
Test(reference, fd_cross_entropy, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(47, "fd");
    static const int tgt[4] = {3, 0, 6, 3};
    CeCtx c = {4, 7, 0.7f, randn(&rg, 28, 2), hnew(4 * 4), tgt};
    float *dl = hnew(28 * 4), *al = hnew(28 * 4), *loss2 = hnew(4 * 4);
    R->cross_entropy(R, c.loss, dl, c.l, tgt, c.M, c.V, c.dscale);
    grad_check(ce_loss, &c, c.l, dl, 28, 1.0 / 16, 1e-4, 1e-5, "ref cross_entropy dlogits");
    R->cross_entropy(R, c.loss, dl, c.l, tgt, c.M, c.V, c.dscale); /* at the unperturbed logits */
    memcpy(al, c.l, 28 * 4);
    R->cross_entropy(R, loss2, al, al, tgt, c.M, c.V, c.dscale);
    cr_expect(!memcmp(al, dl, 28 * 4) && !memcmp(loss2, c.loss, 4 * 4), "aliased dlogits differ");
}

typedef struct DropCtx { size_t n; float p; float *x, *y, *r; } DropCtx;
static double drop_loss(void *p) {
    DropCtx *c = p;
    R->dropout_forward(R, c->y, c->x, c->n, c->p, 5);
    return fd_dot(c->r, c->y, c->n);
}

Test(reference, fd_dropout, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(48, "fd");
    DropCtx c = {40, 0.3f, randn(&rg, 40, 1), hnew(40 * 4), randn(&rg, 40, 1)};
    float *dx = hnew(40 * 4);
    R->dropout_backward(R, dx, c.r, c.n, c.p, 5);
    grad_check(drop_loss, &c, c.x, dx, 40, 0.25, 1e-4, 1e-5, "ref dropout");
    float *d1 = hdup(dx, 40);
    R->dropout_backward(R, dx, c.r, c.n, c.p, 5);
    expect_doubled(dx, d1, 40, "ref dropout");
}

typedef struct GatherCtx { int m, c; float *src, *dst, *r; const int *rows; } GatherCtx;
static double gather_loss(void *p) {
    GatherCtx *c = p;
    R->gather_rows(R, c->dst, c->src, c->rows, c->m, c->c);
    return fd_dot(c->r, c->dst, (size_t)c->m * c->c);
}

/* the backward of gather_rows is scatter_add_rows (and of embedding_forward, embedding_backward) */
Test(reference, fd_gather_scatter_embedding, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(49, "fd");
    static const int rows[6] = {2, 0, 2, 3, 2, 0};
    GatherCtx c = {6, 3, randn(&rg, 15, 1), hnew(18 * 4), randn(&rg, 18, 1), rows};
    float *ds = hnew(15 * 4), *dE = hnew(15 * 4);
    R->scatter_add_rows(R, ds, c.r, rows, c.m, c.c);
    grad_check(gather_loss, &c, c.src, ds, 15, 0.25, 1e-4, 1e-5, "ref scatter_add_rows");
    R->embedding_backward(R, dE, c.r, rows, c.m, c.c);
    cr_expect(!memcmp(dE, ds, 15 * 4), "embedding_backward differs from scatter_add_rows");
    float *ds1 = hdup(ds, 15), *dE1 = hdup(dE, 15);
    R->scatter_add_rows(R, ds, c.r, rows, c.m, c.c);
    R->embedding_backward(R, dE, c.r, rows, c.m, c.c);
    expect_doubled(ds, ds1, 15, "ref scatter_add_rows");
    expect_doubled(dE, dE1, 15, "ref embedding_backward");
    float *x = hnew(18 * 4);
    R->embedding_forward(R, x, rows, c.src, c.m, c.c);
    cr_expect(!memcmp(x, c.dst, 18 * 4), "embedding_forward differs from gather_rows");
}

/* JEPA metrics built from row_stats (forward) and row_axpby (gradient): cosine and l2 */
typedef struct MetCtx { int B, D, l2; float *U, *C; const double *w; } MetCtx;
static double met_loss(void *p) {
    MetCtx *c = p;
    double st[16], s = 0;
    R->row_stats(R, st, c->U, c->C, c->B, c->D);
    for (int b = 0; b < c->B; b++) {
        const double *t = st + 4 * b;
        s += c->w[b] * (c->l2 ? sqrt(t[3]) : t[0] / sqrt(t[1] * t[2]));
    }
    return s;
}

/* cos: ∂/∂u = c/(|u||c|) − cos·u/|u|² ; l2: ∂/∂u = (u − c)/|u − c| (and symmetric for c) */
static void met_grads(const MetCtx *c, float *dU, float *dC) {
    double st[16], a[4], b[4], a2[4], b2[4];
    R->row_stats(R, st, c->U, c->C, c->B, c->D);
    for (int i = 0; i < c->B; i++) {
        double uc = st[4 * i], uu = st[4 * i + 1], cc = st[4 * i + 2], d = sqrt(st[4 * i + 3]), w = c->w[i];
        double cs = uc / sqrt(uu * cc);
        a[i] = c->l2 ? w / d : -w * cs / uu, b[i] = c->l2 ? -w / d : w / sqrt(uu * cc);
        a2[i] = c->l2 ? w / d : -w * cs / cc, b2[i] = c->l2 ? -w / d : w / sqrt(uu * cc);
    }
    R->row_axpby(R, dU, a, c->U, b, c->C, c->B, c->D);
    R->row_axpby(R, dC, a2, c->C, b2, c->U, c->B, c->D);
}

Test(reference, fd_row_stats_axpby_metrics, .init = fd_setup, .fini = fd_teardown) {
    static const double w[4] = {0.7, -1.3, 0.4, 1.1};
    for (int l2 = 0; l2 < 2; l2++) {
        Rng rg = rng_stream(50 + l2, "fd");
        MetCtx c = {4, 5, l2, randn(&rg, 20, 1), randn(&rg, 20, 1), w};
        float *dU = hnew(20 * 4), *dC = hnew(20 * 4);
        met_grads(&c, dU, dC);
        grad_check(met_loss, &c, c.U, dU, 20, 1.0 / 64, 1e-6, 1e-7, l2 ? "ref l2 dU (row_axpby)" : "ref cosine dU");
        grad_check(met_loss, &c, c.C, dC, 20, 1.0 / 64, 1e-6, 1e-7, l2 ? "ref l2 dC (row_axpby)" : "ref cosine dC");
        float *dU1 = hdup(dU, 20), *dC1 = hdup(dC, 20);
        met_grads(&c, dU, dC);
        expect_doubled(dU, dU1, 20, "ref row_axpby dU");
        expect_doubled(dC, dC1, 20, "ref row_axpby dC");
    }
}

/* ---- known answers of the reference's forward ops ------------------------------------------------------ */

Test(reference, known_answers, .init = fd_setup, .fini = fd_teardown) {
    /* gemm: [1 2; 3 4]·[5 6; 7 8] = [19 22; 43 50]; Aᵀ·B = [26 30; 38 44] */
    float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8}, C[4] = {NAN, NAN, NAN, NAN};
    R->gemm(R, 0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    cr_expect(C[0] == 19 && C[1] == 22 && C[2] == 43 && C[3] == 50, "gemm %g %g %g %g", C[0], C[1], C[2], C[3]);
    R->gemm(R, 1, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    cr_expect(C[0] == 26 && C[1] == 30 && C[2] == 38 && C[3] == 44, "gemm ta %g %g %g %g", C[0], C[1], C[2], C[3]);
    /* rmsnorm [3 4], eps 0: rms = sqrt(12.5) */
    float x[2] = {3, 4}, w[2] = {1, 2}, y[2], rstd;
    R->rmsnorm_forward(R, y, &rstd, x, w, 1, 2, 0.0f);
    cr_expect(fabs(y[0] - 3 / sqrt(12.5)) < 1e-6 && fabs(y[1] - 8 / sqrt(12.5)) < 1e-6, "rmsnorm %g %g", y[0], y[1]);
    /* cross-entropy of equal logits: log V; dlogits = s·(1/V − onehot) */
    float l[4] = {2, 2, 2, 2}, loss, dl[4];
    int tgt = 1;
    R->cross_entropy(R, &loss, dl, l, &tgt, 1, 4, 2.0f);
    cr_expect(fabs(loss - log(4.0)) < 1e-6 && fabs(dl[1] + 1.5) < 1e-6 && fabs(dl[0] - 0.5) < 1e-6, "ce %g", loss);
    /* argmax: first on ties */
    float am[5] = {1, 7, 3, 7, 7};
    int o;
    R->argmax_rows(R, &o, am, 1, 5);
    cr_expect_eq(o, 1);
    /* swiglu: silu(0) = 0; silu(20)·u ≈ 20u */
    float gu[4] = {0, 20, 5, 0.5f}, a[2];
    R->swiglu_forward(R, a, gu, 1, 2);
    cr_expect(a[0] == 0.0f && fabs(a[1] - 10.0) < 1e-6, "swiglu %g %g", a[0], a[1]);
    /* dropout p = 0: identity; p = 0.5: about half kept, kept ones doubled */
    float dx[1000], dy[1000];
    for (int i = 0; i < 1000; i++) dx[i] = 1.0f;
    R->dropout_forward(R, dy, dx, 1000, 0.0f, 9);
    cr_expect(!memcmp(dx, dy, sizeof dx), "dropout p = 0 is not the identity");
    R->dropout_forward(R, dy, dx, 1000, 0.5f, 9);
    int kept = 0;
    for (int i = 0; i < 1000; i++) {
        kept += dy[i] == 2.0f;
        cr_expect(dy[i] == 0.0f || dy[i] == 2.0f, "dropout value %g", dy[i]);
    }
    cr_expect(kept > 440 && kept < 560, "dropout kept %d of 1000 at p = 0.5", kept);
    R->dropout_forward(R, dy, dx, 8, dropout_uniform(9, 4), 9); /* u = p exactly: kept */
    cr_expect_neq(dy[4], 0.0f, "an element with u = p must be kept");
    /* adamw: the golden first step of tests/test_optim.c */
    float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.0f}, m[2] = {0}, v[2] = {0};
    R->adamw(R, p, g, m, v, 2, 0.1, 0.9, 0.999, 1e-8, 0.01, 1);
    cr_expect(fabs(p[0] - 0.899) < 1e-6 && fabs(p[1] + 2 * 0.999) < 1e-6, "adamw %.9g %.9g", p[0], p[1]);
    /* where eps matters: g = eps gives m^ = eps, sqrt(v^) = eps, a step of lr/2 */
    float pe = 0, ge = 1e-8f, me = 0, ve = 0;
    R->adamw(R, &pe, &ge, &me, &ve, 1, 0.1, 0.9, 0.999, 1e-8, 0.0, 1);
    cr_expect(fabs(pe + 0.05) < 1e-4, "adamw with g = eps: %.9g, want -0.05", pe);
    /* sum_squares */
    cr_expect_eq(R->sum_squares(R, x, 2), 25.0);
}

/* Attention with q = 0 (equal scores): each query averages the values it sees. Segments 0, 1, 0, 2 in one
 * row; segment 1 sees 0 but not the reverse; segment 2 sees nothing. */
Test(reference, attention_visibility_known_answers, .init = fd_setup, .fini = fd_teardown) {
    enum { T = 4, QS = 3 }; /* H = KV = 1, hd = 1: [q | k | v] */
    float qkv[T * QS] = {0, 1, 10, /* t0 */ 0, 1, 20, /* t1 */ 0, 1, 30, /* t2 */ 0, 1, 40};
    int rs[2] = {0, T}, seg[T] = {0, 1, 0, 2};
    unsigned char vis[9] = {1, 0, 0, /* seg 1 */ 1, 1, 0, /* seg 2 */ 0, 0, 0};
    AttnLayout L = {T, 1, rs, seg, vis, 3, rs};
    float out[T], saved[T * T], want[T] = {10, 15, 20, 0};
    cr_assert_eq(R->attention_saved(R, &L, 1, 1, 1), T * T);
    cr_assert_eq(R->attention_forward(R, out, saved, qkv, &L, 1, 1, 1), 0);
    for (int t = 0; t < T; t++) cr_expect(fabsf(out[t] - want[t]) < 1e-5f, "token %d: %g, want %g", t, out[t], want[t]);
}

/* Softmax weights with the 1/sqrt(hd) scale; grouped heads: query head h uses kv head h / (H/KV). */
Test(reference, attention_scores_and_groups, .init = fd_setup, .fini = fd_teardown) {
    /* one row of 2 tokens, H = KV = 1, hd = 2; query 1 = (1, 2), keys (1, 0) and (0, 1), values 1 and 3 */
    float qkv[12] = {0, 0, 1, 0, 1, 0, /* t1 */ 1, 2, 0, 1, 0, 3};
    int rs[2] = {0, 2}, seg[2] = {0, 0};
    unsigned char vis[1] = {1};
    AttnLayout L = {2, 1, rs, seg, vis, 1, rs};
    float out[4], saved[4];
    cr_assert_eq(R->attention_forward(R, out, saved, qkv, &L, 1, 1, 2), 0);
    double s0 = 1 / sqrt(2.0), s1 = 2 / sqrt(2.0), p0 = exp(s0) / (exp(s0) + exp(s1));
    cr_expect(fabs(out[2] - p0) < 1e-6 && fabs(out[3] - (1 - p0) * 3) < 1e-6, "softmax: %g %g", out[2], out[3]);
    /* one token, H = 4, KV = 2, hd = 1: out = [v0, v0, v1, v1] */
    float q1[8] = {1, 1, 1, 1, /* k */ 1, 1, /* v */ 5, 7}, o1[4], sv[4];
    int r1[2] = {0, 1}, s1g[1] = {0};
    AttnLayout L1 = {1, 1, r1, s1g, vis, 1, r1};
    cr_assert_eq(R->attention_forward(R, o1, sv, q1, &L1, 4, 2, 1), 0);
    cr_expect(o1[0] == 5 && o1[1] == 5 && o1[2] == 7 && o1[3] == 7, "groups: %g %g %g %g", o1[0], o1[1], o1[2], o1[3]);
}

/* RoPE rotates (x_i, x_{i+hd/2}) by the angle of pos: (1, 0) -> (cos, sin), (0, 1) -> (-sin, cos) */
Test(reference, rope_known_answers, .init = fd_setup, .fini = fd_teardown) {
    float cs[2] = {1, 0.6f}, sn[2] = {0, 0.8f}, x[4] = {1, 0, 0, 1};
    int pos[2] = {1, 1};
    R->rope(R, x, pos, cs, sn, 2, 2, 0, 1, 2, 0);
    cr_expect(x[0] == 0.6f && x[1] == 0.8f && x[2] == -0.8f && x[3] == 0.6f, "rope %g %g %g %g", x[0], x[1], x[2],
              x[3]);
}

/* attention_cached: a prefill of 4 tokens, then one token at a time, equals causal attention_forward over
 * the row; the cache of sequence 1 holds the tokens' k, v, sequence 0 stays empty. */
Test(reference, attention_cached_matches_forward, .init = fd_setup, .fini = fd_teardown) {
    enum { T = 6, H = 4, KV = 2, HD = 4, QS = (H + 2 * KV) * HD, OS = H * HD, KVD = KV * HD };
    Rng rg = rng_stream(60, "cached");
    float *qkv = randn(&rg, T * QS, 1), *want = hnew(T * OS * 4), *out = hnew(T * OS * 4), saved[H * T * T];
    float *K = hnew(2 * T * KVD * 4), *V = hnew(2 * T * KVD * 4);
    int rs[2] = {0, T}, seg[T] = {0}, sq[T], ps[T];
    unsigned char vis[1] = {1};
    AttnLayout L = {T, 1, rs, seg, vis, 1, rs};
    cr_assert_eq(R->attention_forward(R, want, saved, qkv, &L, H, KV, HD), 0);
    for (int t = 0; t < T; t++) sq[t] = 1, ps[t] = t;
    KVView kv = {K, V, T, sq, ps, 4};
    R->attention_cached(R, out, qkv, &kv, 4, H, KV, HD);
    for (int t = 4; t < T; t++) {
        KVView k1 = {K, V, T, sq + t, ps + t, t + 1};
        R->attention_cached(R, out + t * OS, qkv + t * QS, &k1, 1, H, KV, HD);
    }
    for (int i = 0; i < T * OS; i++) cr_expect(fabsf(out[i] - want[i]) < 1e-6f, "cached != forward at %d", i);
    for (int t = 0; t < T; t++)
        for (int e = 0; e < KVD; e++) {
            cr_expect_eq(K[t * KVD + e], 0.0f, "sequence 0 of the cache was written");
            cr_expect_eq(K[(T + t) * KVD + e], qkv[t * QS + H * HD + e], "cached k of token %d", t);
            cr_expect_eq(V[(T + t) * KVD + e], qkv[t * QS + (H + KV) * HD + e], "cached v of token %d", t);
        }
}

/* ==== row_combine / row_combine_backward (CSR readouts, STP displacements) ============================ *
 * Parity on every backend: rows with no entry, repeated source rows inside a row and across rows, ±1
 * weights whose entries cancel (STP's displacements), wide rows; then finite differences and known
 * answers on the reference. */

typedef struct CombCase { int m, c, nsrc, maxk, pm1; } CombCase; /* pm1: weights ±1 (else N(0, 1)) */

static double op_combine(Backend *be, void **d, const void *a) {
    const CombCase *k = a;
    be->row_combine(be, d[4], d[0], d[1], d[2], d[3], k->m, k->c);
    be->row_combine_backward(be, d[6], d[5], d[1], d[2], d[3], k->m, k->c);
    return 0;
}

/* A random CSR of k->m rows of 0..maxk entries (ptr (m+1), idx, w (ptr[m]) as hnew'd buffers). */
static int comb_csr(Rng *rg, const CombCase *k, int **ptr, int **idx, float **w) {
    *ptr = hnew((size_t)(k->m + 1) * sizeof(int));
    for (int i = 0; i < k->m; i++) (*ptr)[i + 1] = (*ptr)[i] + (int)rng_below(rg, (uint32_t)k->maxk + 1);
    int nz = (*ptr)[k->m];
    *idx = randi(rg, (size_t)nz, k->nsrc);
    *w = randn(rg, (size_t)nz, 1);
    for (int e = 0; k->pm1 && e < nz; e++) (*w)[e] = (*w)[e] < 0 ? -1.0f : 1.0f;
    for (int i = 0; i < k->m; i++) /* an entry and its negation on the same source row: they cancel */
        if (k->pm1 && (*ptr)[i + 1] - (*ptr)[i] >= 2) {
            int e = (*ptr)[i];
            (*idx)[e + 1] = (*idx)[e], (*w)[e + 1] = -(*w)[e];
        }
    return nz;
}

static void check_combine(Backend *be) {
    static const CombCase cases[] = {{0, 3, 2, 2, 0}, {1, 1, 1, 1, 0}, {4, 5, 3, 0, 0}, {7, 9, 4, 5, 0},
                                     {12, 33, 20, 6, 1}, {64, 257, 40, 6, 1}, {300, 64, 50, 3, 0}, {6, 4096, 9, 4, 1}};
    Rng rg = rng_stream(13, "row_combine");
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        const CombCase *k = &cases[s];
        int *ptr, *idx;
        float *w;
        int nz = comb_csr(&rg, k, &ptr, &idx, &w);
        size_t ns = (size_t)k->nsrc * k->c, nm = (size_t)k->m * k->c;
        Buf b[] = {{"src", 'f', IN, ns, randn(&rg, ns, 1), 0},    {"ptr", 'i', IN, (size_t)k->m + 1, ptr, 0},
                   {"idx", 'i', IN, (size_t)nz, idx, 0},          {"w", 'f', IN, (size_t)nz, w, 0},
                   {"out", 'f', OUT, nm, randn(&rg, nm, 1), 0},   {"dout", 'f', IN, nm, randn(&rg, nm, 1), 0},
                   {"dsrc", 'f', ACC, ns, randn(&rg, ns, 1), 0}};
        char what[80];
        snprintf(what, sizeof what, "row_combine m%d c%d nsrc%d nnz%d%s", k->m, k->c, k->nsrc, nz,
                 k->pm1 ? " ±1" : "");
        Run r;
        parity(be, op_combine, k, b, 7, tol_red(be), &r, what);
    }
}

Test(backend, row_combine) { each_target(check_combine); }

typedef struct CombCtx { int m, c; float *src, *out, *r; const int *ptr, *idx; const float *w; } CombCtx;
static double comb_loss(void *p) {
    CombCtx *c = p;
    R->row_combine(R, c->out, c->src, c->ptr, c->idx, c->w, c->m, c->c);
    return fd_dot(c->r, c->out, (size_t)c->m * c->c);
}

/* the backward of row_combine is row_combine_backward (a repeated source row, an empty row, a row that
 * reads one source row twice) */
Test(reference, fd_row_combine, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(61, "fd");
    static const int ptr[5] = {0, 3, 3, 5, 7}, idx[7] = {2, 0, 3, 1, 1, 4, 0};
    static const float w[7] = {0.5f, -1.25f, 2.0f, 1.0f, 0.75f, -1.0f, 3.0f};
    CombCtx c = {4, 3, randn(&rg, 15, 1), hnew(12 * 4), randn(&rg, 12, 1), ptr, idx, w};
    float *ds = hnew(15 * 4);
    R->row_combine_backward(R, ds, c.r, ptr, idx, w, c.m, c.c);
    grad_check(comb_loss, &c, c.src, ds, 15, 0.25, 1e-4, 1e-5, "ref row_combine_backward");
    float *d1 = hdup(ds, 15);
    R->row_combine_backward(R, ds, c.r, ptr, idx, w, c.m, c.c);
    expect_doubled(ds, d1, 15, "ref row_combine_backward");
}

/* out_0 = src_2 − src_0 (a displacement), out_1 = 0 (no entry), out_2 = 2·src_1 (merged by the sum),
 * out_3 = src_1 − src_1 = 0 exactly */
Test(reference, row_combine_known_answers, .init = fd_setup, .fini = fd_teardown) {
    static const int ptr[5] = {0, 2, 2, 4, 6}, idx[6] = {2, 0, 1, 1, 1, 1};
    static const float w[6] = {1, -1, 1, 1, 1, -1}, src[6] = {1, 2, 3, 5, 7, 11};
    float out[8] = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN}, ds[6] = {0}, dout[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    R->row_combine(R, out, src, ptr, idx, w, 4, 2);
    static const float want[8] = {6, 9, 0, 0, 6, 10, 0, 0};
    for (int i = 0; i < 8; i++) cr_expect_eq(out[i], want[i], "out[%d] = %g, want %g", i, out[i], want[i]);
    R->row_combine_backward(R, ds, dout, ptr, idx, w, 4, 2);
    static const float dwant[6] = {-1, -2, 10, 12, 1, 2}; /* src_1: 2·dout_2 + dout_3 − dout_3 */
    for (int i = 0; i < 6; i++) cr_expect_eq(ds[i], dwant[i], "dsrc[%d] = %g, want %g", i, ds[i], dwant[i]);
}

/* ==== regularisers: epps_pulley (SIGReg's Epps–Pulley statistic, engine/jepa_reg.h) ================== *
 * Parity on every backend (statistic and dY, dY = NULL leaves it alone), finite differences of dY on the
 * reference, and the reference's statistic against LeJEPA's Algorithm 1 written out here: the 17-point
 * trapezoid on [−5, 5] with weight exp(−t²/2), no folding. */

typedef struct EpCase { int B, S, grad; double dscale; } EpCase;

static double op_ep(Backend *be, void **d, const void *a) {
    const EpCase *k = a;
    be->epps_pulley(be, d[1], k->grad ? d[2] : NULL, d[0], k->B, k->S, k->dscale);
    return 0;
}

static void check_ep(Backend *be) {
    cr_assert_not_null(be->epps_pulley, "[%s] has no epps_pulley", be->name);
    static const int shapes[][2] = {{0, 3}, {1, 1}, {3, 5}, {7, 33}, {32, 256}, {257, 17}};
    Rng rg = rng_stream(14, "epps_pulley");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int grad = 0; grad < 2; grad++) {
            EpCase k = {shapes[s][0], shapes[s][1], grad, 0.37};
            size_t n = (size_t)k.B * k.S;
            float *Y = randn(&rg, n, s % 2 ? 1.0 : 0.3); /* near and far from N(0, 1) */
            Buf b[] = {{"Y", 'f', IN, n, Y, 0},
                       {"stat", 'd', OUT, (size_t)k.S, randd(&rg, (size_t)k.S, 1), 0},
                       {"dY", 'f', grad ? OUT : IN, n, randn(&rg, n, 1), 0}};
            char what[64];
            snprintf(what, sizeof what, "epps_pulley B%d S%d%s", k.B, k.S, grad ? "" : " dY=NULL");
            Run r;
            parity(be, op_ep, &k, b, 3, 1e-6, &r, what);
        }
}

Test(backend, epps_pulley) { each_target(check_ep); }

typedef struct EpCtx { int B, S; double dscale; float *Y; double *stat; } EpCtx;
static double ep_loss(void *p) {
    EpCtx *c = p;
    R->epps_pulley(R, c->stat, NULL, c->Y, c->B, c->S, 1.0);
    double s = 0;
    for (int i = 0; i < c->S; i++) s += c->stat[i];
    return c->dscale * s;
}

/* dY = ∂(dscale·Σ_s stat_s)/∂Y on every coordinate, samples spread and clustered */
Test(reference, fd_epps_pulley, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(62, "fd");
    EpCtx c = {6, 4, 0.7, randn(&rg, 24, 1), hnew(4 * sizeof(double))};
    for (int i = 0; i < 6; i++) c.Y[i * 4 + 3] = 0.2f + 0.01f * c.Y[i * 4 + 3]; /* a near-collapsed column */
    float *dY = hnew(24 * 4);
    R->epps_pulley(R, c.stat, dY, c.Y, c.B, c.S, c.dscale);
    grad_check(ep_loss, &c, c.Y, dY, 24, 1.0 / 64, 1e-4, 1e-5, "ref epps_pulley dY");
}

/* LeJEPA's Algorithm 1 as written (17 points on [−5, 5], torch.trapz of |ecf − φ|²·φ, times N), per column */
static double ep_algorithm1(const float *Y, int B, int S, int s) {
    double t[17], err[17], T = 0;
    for (int k = 0; k < 17; k++) {
        t[k] = -5.0 + 10.0 * k / 16;
        double re = 0, im = 0, phi = exp(-0.5 * t[k] * t[k]);
        for (int b = 0; b < B; b++) re += cos(t[k] * Y[(size_t)b * S + s]), im += sin(t[k] * Y[(size_t)b * S + s]);
        re /= B, im /= B;
        err[k] = ((re - phi) * (re - phi) + im * im) * phi;
    }
    for (int k = 0; k < 16; k++) T += 0.5 * (err[k] + err[k + 1]) * (t[k + 1] - t[k]);
    return T * B;
}

Test(reference, epps_pulley_known_answers, .init = fd_setup, .fini = fd_teardown) {
    Rng rg = rng_stream(63, "ep");
    enum { B = 50, S = 6 };
    float *Y = randn(&rg, B * S, 1);
    for (int b = 0; b < B; b++) Y[b * S + 4] *= 3.0f, Y[b * S + 5] = 0.0f; /* a wide column; a collapsed one at 0 */
    double st[S];
    R->epps_pulley(R, st, NULL, Y, B, S, 1.0);
    for (int s = 0; s < S; s++) {
        double want = ep_algorithm1(Y, B, S, s);
        cr_expect(fabs(st[s] - want) <= 1e-12 * fabs(want), "column %d: %.15g, Algorithm 1 %.15g", s, st[s], want);
    }
    /* every sample at 0: φ̂ = 1, so stat = B·∫(1 − φ)²φ on the quadrature (≈ 0.41·B in the limit) */
    double t[EP_NODES], om[EP_NODES], phi[EP_NODES], want = 0;
    ep_quadrature(t, om, phi);
    for (int k = 0; k < EP_NODES; k++) want += om[k] * (1 - phi[k]) * (1 - phi[k]);
    cr_expect(fabs(st[5] - B * want) <= 1e-12 * B * want, "collapsed column %.12g, want %.12g", st[5], B * want);
    cr_expect(fabs(want - 0.4089231) < 1e-5, "∫(1 − φ)²φ = √(2π) − 2√π + √(2π/3) = 0.4089231, quadrature %.7f", want);
    cr_expect(st[4] > 3 * st[0] && st[5] > 3 * st[0], "the wide and collapsed columns test far from N(0, 1)");
    /* B = 0: no statistic; S = 0: nothing written */
    double z[2] = {NAN, NAN};
    R->epps_pulley(R, z, NULL, Y, 0, 2, 1.0);
    cr_expect(z[0] == 0.0 && z[1] == 0.0, "B = 0 gives 0");
}
