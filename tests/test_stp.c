/* Semantic Tube Prediction (engine/stp.h, ALGORITHM.md §9, docs/STP.md):
 *  - the span rule: s uniform in [0, F), t uniform in (s, F], never the whole
 *    range, deterministic for a seed, nothing drawn when F < 2;
 *  - a hand-computed example (3-token user, 2-token assistant): the CSR rows
 *    of fixed spans written out by hand, and every span's value against an
 *    independent double computation of §9 (the content tokens split into runs
 *    of adjacent positions); deliberately wrong variants fail that check;
 *  - finite differences of the whole term w.r.t. h for each weight mode and
 *    e2e, and through a pico model (forward, STP on h, backward);
 *  - the CPU backend against the reference, skip rules, the batch's ranges. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "fd.h"
#include "model.h"
#include "model_config.h"
#include "pico.h"
#include "stp.h"

/* ---- the span rule ------------------------------------------------------------------ */

Test(stp_span, distribution) {
    static const int Fs[] = {2, 3, 5, 8};
    enum { N = 200000 };
    for (size_t f = 0; f < sizeof Fs / sizeof Fs[0]; f++) {
        int F = Fs[f];
        long cnt[9][9] = {{0}};
        Rng r = rng_stream(3, "stp");
        for (int i = 0; i < N; i++) {
            int s, t;
            cr_assert_eq(stp_draw_span(&r, F, &s, &t), 0);
            cr_assert(0 <= s && s < t && t <= F && t - s < F, "F %d: span [%d, %d)", F, s, t);
            cnt[s][t]++;
        }
        for (int s = 0; s < F; s++) {
            long ns = 0;
            for (int t = s + 1; t <= F; t++) ns += cnt[s][t];
            double ps = (double)ns / N; /* s uniform: 1/F, binomial sd sqrt(p(1−p)/N) */
            cr_expect(fabs(ps - 1.0 / F) < 5 * sqrt(1.0 / F / N), "F %d: P(s = %d) = %.4f", F, s, ps);
            int lo = s + 1, hi = s == 0 ? F - 1 : F; /* t uniform after s; t = F excluded when s = 0 */
            for (int t = lo; t <= hi; t++) {
                double q = 1.0 / (hi - lo + 1), pt = (double)cnt[s][t] / ns;
                cr_expect(fabs(pt - q) < 5 * sqrt(q / ns), "F %d: P(t = %d | s = %d) = %.4f, want %.4f", F, t, s,
                          pt, q);
            }
            if (s == 0) cr_expect_eq(cnt[0][F], 0, "F %d: the whole range was drawn", F);
        }
    }
}

Test(stp_span, deterministic_and_f_below_2) {
    Rng a = rng_stream(11, "stp"), b = rng_stream(11, "stp"), c = rng_stream(12, "stp");
    int diff = 0;
    for (int i = 0; i < 100; i++) {
        int s1, t1, s2, t2, s3, t3;
        stp_draw_span(&a, 7, &s1, &t1), stp_draw_span(&b, 7, &s2, &t2), stp_draw_span(&c, 7, &s3, &t3);
        cr_assert(s1 == s2 && t1 == t2, "same seed, different spans at draw %d", i);
        diff += s1 != s3 || t1 != t3;
    }
    cr_expect_gt(diff, 50, "another seed gives other spans");
    Rng before = a;
    int s = 9, t = 9;
    cr_expect_eq(stp_draw_span(&a, 1, &s, &t), -1);
    cr_expect_eq(stp_draw_span(&a, 0, &s, &t), -1);
    cr_expect(!memcmp(&before, &a, sizeof a) && s == 9 && t == 9, "F < 2 must not draw");
}

Test(stp_span, length_weights) {
    cr_expect_float_eq(stp_length_weight(STP_W_NONE, 4, 1), 1.0, 1e-15);
    cr_expect_float_eq(stp_length_weight(STP_W_COSINE_LIKE, 4, 1), 0.6, 1e-15);  /* 2·3·1/(9+1) */
    cr_expect_float_eq(stp_length_weight(STP_W_JACCARD_LIKE, 4, 1), 0.5, 1e-15); /* 1 − 2/4 */
    cr_expect_float_eq(stp_length_weight(STP_W_COSINE_LIKE, 4, 2), 1.0, 1e-15);
    cr_expect_float_eq(stp_length_weight(STP_W_JACCARD_LIKE, 4, 2), 1.0, 1e-15);
    cr_expect_float_eq(stp_length_weight(STP_W_COSINE_LIKE, 10, 7), 42.0 / 58.0, 1e-15);
    cr_expect_eq(stp_weight_mode("none"), STP_W_NONE);
    cr_expect_eq(stp_weight_mode("cosine_like"), STP_W_COSINE_LIKE);
    cr_expect_eq(stp_weight_mode("jaccard_like"), STP_W_JACCARD_LIKE);
    cr_expect_eq(stp_weight_mode("cosine"), -1);
}

/* ---- the hand-computed example ------------------------------------------------------ *
 * One NTP row  ⟨bos⟩ ⟨user⟩ u u u ⟨assistant⟩ a a ⟨eos⟩  at tokens 0..8: U = [2, 5), A = [6, 8), F = 5. */

static const int HU[2] = {2, 5}, HA[2] = {6, 8};

/* expects term t to hold exactly the (idx, w) pairs given, in any order */
static void expect_term(const StpTerm *t, int n, const int *idx, const float *w, const char *what) {
    cr_expect_eq(t->n, n, "%s: %d entries, want %d", what, t->n, n);
    for (int k = 0; k < n && k < t->n; k++) {
        int found = 0;
        for (int j = 0; j < t->n; j++) found |= t->idx[j] == idx[k] && t->w[j] == w[k];
        cr_expect(found, "%s: no entry %+g·h[%d]", what, w[k], idx[k]);
    }
}

Test(stp_hand, csr_rows_of_fixed_spans) {
    StpTerm b, p, a, U, C;
    /* [1, 4): tokens 3, 4 | 6 across the gap: before h2−h1, patch h4−h2 + h6−h5, after h7−h6 */
    stp_span_pieces(HU, HA, 1, 4, &b, &p, &a);
    expect_term(&b, 2, (int[]){2, 1}, (float[]){1, -1}, "[1,4) before");
    expect_term(&p, 4, (int[]){4, 2, 6, 5}, (float[]){1, -1, 1, -1}, "[1,4) patch");
    expect_term(&a, 2, (int[]){7, 6}, (float[]){1, -1}, "[1,4) after");
    stp_pair(HU, HA, 0, 1, 4, &U, &C);
    expect_term(&U, 4, (int[]){2, 1, 7, 6}, (float[]){1, -1, 1, -1}, "[1,4) U = before + after");
    expect_term(&C, 4, (int[]){4, 2, 6, 5}, (float[]){1, -1, 1, -1}, "[1,4) C = patch");
    /* [0, 2): tokens 2, 3 in U: before 0, patch h3−h1, after h4−h3 + h7−h5 */
    stp_pair(HU, HA, 0, 0, 2, &U, &C);
    expect_term(&U, 4, (int[]){4, 3, 7, 5}, (float[]){1, -1, 1, -1}, "[0,2) U");
    expect_term(&C, 2, (int[]){3, 1}, (float[]){1, -1}, "[0,2) C");
    /* [3, 5): tokens 6, 7, all of A: before h4−h1, patch h7−h5, after 0 */
    stp_pair(HU, HA, 0, 3, 5, &U, &C);
    expect_term(&U, 2, (int[]){4, 1}, (float[]){1, -1}, "[3,5) U");
    expect_term(&C, 2, (int[]){7, 5}, (float[]){1, -1}, "[3,5) C");
    /* [1, 3): ends at |U|, mapped to a0 = 6 (stp.py): patch h4−h2, after h7−h5 */
    stp_pair(HU, HA, 0, 1, 3, &U, &C);
    expect_term(&U, 4, (int[]){2, 1, 7, 5}, (float[]){1, -1, 1, -1}, "[1,3) U");
    expect_term(&C, 2, (int[]){4, 2}, (float[]){1, -1}, "[1,3) C");
    /* e2e: user h4−h1, assistant h7−h5 */
    stp_pair(HU, HA, 1, -1, -1, &U, &C);
    expect_term(&U, 2, (int[]){4, 1}, (float[]){1, -1}, "e2e U");
    expect_term(&C, 2, (int[]){7, 5}, (float[]){1, -1}, "e2e C");
}

enum { HN = 9, HC = 5 };

/* Wrong variants the value check must reject. */
enum { OK = 0, PATCH_FLIPPED = 1, DELTA_OFF_BY_ONE = 2, GAP_BRIDGED = 3 };

/* Σ over runs of adjacent positions of the content tokens L[x..y) of h[last] − h[first − 1] (§9's
 * "summed piecewise"), in double; the variants break it on purpose. */
static void direct_disp(const float *h, int x, int y, int variant, double *out) {
    int L[5] = {2, 3, 4, 6, 7};
    memset(out, 0, HC * sizeof(double));
    for (int k = x; k < y;) {
        int e = k;
        while (e + 1 < y && L[e + 1] == L[e] + 1) e++;
        int first = L[k], last = L[e], sh = variant == DELTA_OFF_BY_ONE;
        if (variant == GAP_BRIDGED && e == 2 && y > 3) last = 5; /* a piece across the gap ends on ⟨assistant⟩ */
        for (int j = 0; j < HC; j++) out[j] += (double)h[(last + sh) * HC + j] - h[(first - 1 + sh) * HC + j];
        k = e + 1;
    }
}

/* 1 − cos(before + after, patch) of span [s, t) of the hand example, in double */
static double direct_value(const float *h, int s, int t, int variant) {
    double b[HC], p[HC], a[HC], uu = 0, cc = 0, uc = 0;
    direct_disp(h, 0, s, variant, b), direct_disp(h, s, t, variant, p), direct_disp(h, t, 5, variant, a);
    for (int j = 0; j < HC; j++) {
        double u = b[j] + a[j], c = variant == PATCH_FLIPPED ? -p[j] : p[j];
        uu += u * u, cc += c * c, uc += u * c;
    }
    return 1.0 - uc / sqrt(uu * cc);
}

/* A batch view of the hand example (only what stp reads). */
static Batch hand_batch(int *user, int *asst) {
    Batch b;
    memset(&b, 0, sizeof b);
    b.n = HN, b.nex = 1;
    user[0] = HU[0], user[1] = HU[1], asst[0] = HA[0], asst[1] = HA[1];
    b.ntp_user = user, b.ntp_asst = asst;
    return b;
}

/* stp_loss's value on the reference backend for every draw a seed gives, against §9 computed directly */
Test(stp_hand, value_against_direct_formula) {
    Backend *R = backend_ref();
    Rng rg = rng_stream(5, "h");
    float h[HN * HC];
    for (int i = 0; i < HN * HC; i++) h[i] = (float)rng_normal(&rg);
    int user[2], asst[2], seen[6][6] = {{0}}, nseen = 0;
    Batch b = hand_batch(user, asst);
    StpWork w = {0};
    Rng r = rng_stream(1, "stp");
    for (int it = 0; it < 400; it++) {
        double J;
        cr_assert_eq(stp_loss(R, &b, h, NULL, HC, 1.0, STP_W_NONE, 0, &r, &w, &J), 0);
        cr_assert_eq(w.plan.m, 1);
        int s = w.plan.s[0], t = w.plan.t[0];
        nseen += !seen[s][t]++;
        double want = direct_value(h, s, t, OK);
        cr_expect(fabs(J - want) <= 1e-6, "span [%d,%d): J %.9g, direct %.9g", s, t, J, want);
        for (int v = PATCH_FLIPPED; v <= GAP_BRIDGED; v++) {
            if (v == GAP_BRIDGED && (s == 3 || t == 3)) continue; /* no piece crosses the gap there */
            double bad = direct_value(h, s, t, v);
            cr_expect(fabs(J - bad) > 1e-3, "variant %d at [%d,%d) passes the check: %.9g vs %.9g", v, s, t, J, bad);
        }
    }
    cr_expect_eq(nseen, 14, "all 14 spans of F = 5 drawn (15 minus the whole range), got %d", nseen);
    /* e2e: 1 − cos(h4 − h1, h7 − h5) */
    double J, uc = 0, uu = 0, cc = 0;
    cr_assert_eq(stp_loss(R, &b, h, NULL, HC, 1.0, STP_W_COSINE_LIKE, 1, &r, &w, &J), 0);
    for (int j = 0; j < HC; j++) {
        double u = (double)h[4 * HC + j] - h[1 * HC + j], c = (double)h[7 * HC + j] - h[5 * HC + j];
        uc += u * c, uu += u * u, cc += c * c;
    }
    cr_expect(fabs(J - (1.0 - uc / sqrt(uu * cc))) <= 1e-6, "e2e J %.9g", J);
    stp_work_free(&w);
}

/* ---- a multi-example batch and finite differences w.r.t. h --------------------------- */

/* Examples (absolute token indices): a gap of 2 template tokens, an empty user, F = 1 (skipped), no STP
 * (−1, skipped), an empty assistant, a long one. */
enum { MB = 6, MN = 60, MC = 7 };
static int MU[MB][2] = {{2, 6}, {11, 11}, {16, 17}, {-1, -1}, {22, 26}, {31, 40}};
static int MA[MB][2] = {{8, 10}, {12, 15}, {18, 18}, {-1, -1}, {27, 27}, {41, 58}};

static Batch multi_batch(void) {
    Batch b;
    memset(&b, 0, sizeof b);
    b.n = MN, b.nex = MB, b.ntp_user = &MU[0][0], b.ntp_asst = &MA[0][0];
    return b;
}

typedef struct FdCtx {
    Backend *be;
    Batch b;
    float *h;
    int mode, e2e;
    Rng r0;
    StpWork w;
} FdCtx;

static double fd_value(void *p) {
    FdCtx *c = p;
    Rng r = c->r0; /* the same spans at every evaluation */
    double J;
    cr_assert_eq(stp_loss(c->be, &c->b, c->h, NULL, MC, 1.0, c->mode, c->e2e, &r, &c->w, &J), 0);
    return J;
}

static void check_fd(int mode, int e2e) {
    FdCtx c = {backend_ref(), multi_batch(), NULL, mode, e2e, rng_stream(9, "stp"), {0}};
    Rng rg = rng_stream(21, "h");
    float *h = malloc(MN * MC * sizeof(float)), *dh = malloc(MN * MC * sizeof(float));
    float *base = malloc(MN * MC * sizeof(float));
    for (int i = 0; i < MN * MC; i++) h[i] = (float)rng_normal(&rg), base[i] = (float)rng_normal(&rg);
    memcpy(dh, base, MN * MC * sizeof(float));
    c.h = h;
    const double lambda = 0.37;
    Rng r = c.r0;
    double J;
    cr_assert_eq(stp_loss(c.be, &c.b, h, dh, MC, lambda, mode, e2e, &r, &c.w, &J), 0);
    cr_expect_eq(c.w.plan.m, e2e ? 2 : 4, "kept pairs");
    cr_expect(J > 0 && J < 2, "J = %g", J);
    double worst = 0, mx = 0;
    int wi = 0;
    double wn = 0;
    float *an = malloc(MN * MC * sizeof(float));
    for (int i = 0; i < MN * MC; i++) an[i] = (float)((dh[i] - base[i]) / lambda), mx = fmax(mx, fabs(an[i]));
    for (int i = 0; i < MN * MC; i++) {
        double num = fd_richardson(fd_value, &c, h, (size_t)i, 1.0 / 64);
        double e = fabs(an[i] - num) / (1e-5 * mx + 1e-4 * fmax(fabs(an[i]), fabs(num)) + 1e-300);
        if (e > worst) worst = e, wi = i, wn = num;
    }
    cr_expect_leq(worst, 1.0, "mode %d e2e %d: FD mismatch at h[%d][%d]: analytic %.9g numeric %.9g (ratio %.3g)",
                  mode, e2e, wi / MC, wi % MC, an[wi], wn, worst);
    fprintf(stderr, "stp_fd mode %d e2e %d: worst ratio %.3g (max |dJ/dh| %.3g)\n", mode, e2e, worst, mx);
    cr_expect_gt(mx, 0.0);
    for (int j = 0; j < MC; j++) /* rows no pair reads (the skipped examples) get no gradient */
        cr_expect(an[16 * MC + j] == 0 && an[17 * MC + j] == 0 && an[19 * MC + j] == 0, "skipped rows got gradient");
    stp_work_free(&c.w);
    free(h), free(dh), free(base), free(an);
}

Test(stp_fd, h_none) { check_fd(STP_W_NONE, 0); }
Test(stp_fd, h_cosine_like) { check_fd(STP_W_COSINE_LIKE, 0); }
Test(stp_fd, h_jaccard_like) { check_fd(STP_W_JACCARD_LIKE, 0); }
Test(stp_fd, h_e2e) { check_fd(STP_W_NONE, 1); }

/* The weighted value is 1 − Σ w cos / Σ w over the kept pairs, w from each drawn span. */
Test(stp_fd, weighted_value) {
    Backend *R = backend_ref();
    Batch b = multi_batch();
    Rng rg = rng_stream(22, "h");
    float h[MN * MC];
    for (int i = 0; i < MN * MC; i++) h[i] = (float)rng_normal(&rg);
    StpWork w = {0};
    for (int mode = 0; mode < 3; mode++) {
        Rng r = rng_stream(4, "stp");
        double J;
        cr_assert_eq(stp_loss(R, &b, h, NULL, MC, 1.0, mode, 0, &r, &w, &J), 0);
        double sw = 0, swc = 0;
        for (int k = 0; k < w.plan.m; k++) {
            int e = w.plan.ex[k], F = MU[e][1] - MU[e][0] + MA[e][1] - MA[e][0], p = w.plan.t[k] - w.plan.s[k];
            double wt = mode == 0 ? 1.0 : mode == 1 ? 2.0 * (F - p) * p / ((double)(F - p) * (F - p) + (double)p * p)
                                                    : 1.0 - fabs((double)F - 2 * p) / F;
            cr_expect_float_eq(w.plan.wt[k], wt, 1e-12, "weight of pair %d", k);
            StpTerm U, C;
            stp_pair(MU[e], MA[e], 0, w.plan.s[k], w.plan.t[k], &U, &C);
            double u[MC] = {0}, c[MC] = {0}, uu = 0, cc = 0, uc = 0;
            for (int q = 0; q < U.n; q++)
                for (int j = 0; j < MC; j++) u[j] += U.w[q] * (double)h[U.idx[q] * MC + j];
            for (int q = 0; q < C.n; q++)
                for (int j = 0; j < MC; j++) c[j] += C.w[q] * (double)h[C.idx[q] * MC + j];
            for (int j = 0; j < MC; j++) uu += u[j] * u[j], cc += c[j] * c[j], uc += u[j] * c[j];
            sw += wt, swc += wt * uc / sqrt(uu * cc);
        }
        cr_expect(fabs(J - (1 - swc / sw)) <= 1e-6, "mode %d: J %.9g want %.9g", mode, J, 1 - swc / sw);
    }
    stp_work_free(&w);
}

/* ---- skip rules, errors, the stream ------------------------------------------------------ */

Test(stp_plan, skips_and_errors) {
    Backend *R = backend_ref();
    Batch b = multi_batch();
    StpWork w = {0};
    float h[MN * MC] = {0}, dh[MN * MC];
    for (int i = 0; i < MN * MC; i++) h[i] = (float)(i % 5) - 2.0f + 0.01f * i, dh[i] = 1.0f;
    Rng r = rng_stream(2, "stp"), r2 = r;
    double J;
    cr_assert_eq(stp_loss(R, &b, h, dh, MC, 1.0, STP_W_NONE, 0, &r, &w, &J), 0);
    cr_expect_eq(w.plan.m, 4);
    int want_ex[4] = {0, 1, 4, 5};
    for (int k = 0; k < 4; k++) cr_expect_eq(w.plan.ex[k], want_ex[k]);
    for (int k = 0; k < 4; k++) { /* one draw per kept example, in order */
        int e = want_ex[k], F = MU[e][1] - MU[e][0] + MA[e][1] - MA[e][0], s, t;
        stp_draw_span(&r2, F, &s, &t);
        cr_expect(s == w.plan.s[k] && t == w.plan.t[k], "pair %d: span [%d,%d), stream gives [%d,%d)", k,
                  w.plan.s[k], w.plan.t[k], s, t);
    }
    cr_expect(!memcmp(&r, &r2, sizeof r), "the stream advanced by the kept examples' draws only");
    /* e2e draws nothing */
    Rng r3 = rng_stream(2, "stp"), r4 = r3;
    cr_assert_eq(stp_loss(R, &b, h, NULL, MC, 1.0, STP_W_NONE, 1, &r3, &w, &J), 0);
    cr_expect(!memcmp(&r3, &r4, sizeof r3), "e2e drew from the stream");
    /* no ranges, nothing kept: 0, dh untouched */
    Batch none = b;
    none.ntp_user = none.ntp_asst = NULL;
    for (int i = 0; i < MN * MC; i++) dh[i] = 1.0f;
    cr_assert_eq(stp_loss(R, &none, h, dh, MC, 1.0, STP_W_NONE, 0, &r, &w, &J), 0);
    cr_expect(J == 0.0 && w.plan.m == 0);
    int u1[2] = {3, 4}, a1[2] = {6, 6}; /* F = 1 */
    Batch tiny = b;
    tiny.nex = 1, tiny.ntp_user = u1, tiny.ntp_asst = a1;
    cr_assert_eq(stp_loss(R, &tiny, h, dh, MC, 1.0, STP_W_NONE, 0, &r, &w, &J), 0);
    cr_expect(J == 0.0 && w.plan.m == 0);
    for (int i = 0; i < MN * MC; i++) cr_assert_eq(dh[i], 1.0f, "dh changed with nothing kept");
    /* inconsistent ranges: -2 */
    int bu[2] = {0, 3}, ba[2] = {4, 6}, cu[2] = {2, 5}, ca[2] = {4, 6}, du[2] = {2, 5}, da[2] = {6, MN + 1};
    int *bad[3][2] = {{bu, ba}, {cu, ca}, {du, da}};
    for (int i = 0; i < 3; i++) {
        tiny.ntp_user = bad[i][0], tiny.ntp_asst = bad[i][1];
        cr_expect_eq(stp_loss(R, &tiny, h, dh, MC, 1.0, STP_W_NONE, 0, &r, &w, &J), -2, "bad range %d", i);
    }
    stp_work_free(&w);
}

/* ---- the CPU backend against the reference --------------------------------------------- */

static void run_backend(Backend *be, const Batch *b, const float *hh, const float *dh0, int mode, int e2e,
                        float *dh_out, double *J) {
    size_t bytes = MN * MC * sizeof(float);
    float *h = be->alloc(be, bytes), *dh = be->alloc(be, bytes);
    cr_assert(h && dh);
    be->upload(be, h, hh, bytes), be->upload(be, dh, dh0, bytes);
    StpWork w = {0};
    Rng r = rng_stream(8, "stp");
    for (int rep = 0; rep < 2; rep++) { /* the second call reuses the buffers and accumulates */
        Rng rr = r;
        cr_assert_eq(stp_loss(be, b, h, dh, MC, 0.8, mode, e2e, &rr, &w, J), 0);
    }
    be->download(be, dh_out, dh, bytes);
    stp_work_free(&w);
    be->free(be, h), be->free(be, dh);
}

Test(stp_backend, cpu_matches_reference) {
    Batch b = multi_batch();
    Rng rg = rng_stream(23, "h");
    float h[MN * MC], dh0[MN * MC], want[MN * MC], got[MN * MC];
    for (int i = 0; i < MN * MC; i++) h[i] = (float)rng_normal(&rg), dh0[i] = (float)rng_normal(&rg);
    Backend *cpu = backend_cpu();
    cpu->set_threads(cpu, 3);
    for (int e2e = 0; e2e < 2; e2e++)
        for (int mode = 0; mode < 3; mode++) {
            double Jw, Jg, e = 0, s = 0;
            run_backend(backend_ref(), &b, h, dh0, mode, e2e, want, &Jw);
            run_backend(cpu, &b, h, dh0, mode, e2e, got, &Jg);
            cr_expect(fabs(Jg - Jw) <= 1e-6, "mode %d e2e %d: J %.9g, ref %.9g", mode, e2e, Jg, Jw);
            for (int i = 0; i < MN * MC; i++) e = fmax(e, fabs((got[i] - dh0[i]) - (want[i] - dh0[i]))),
                                              s = fmax(s, fabs(want[i] - dh0[i]));
            cr_expect(s > 0 && e <= 1e-5 * s, "mode %d e2e %d: dh increment error %.3g of %.3g", mode, e2e, e, s);
        }
    cpu->set_threads(cpu, 1);
}

/* ---- through a pico model ---------------------------------------------------------------- */

#define EX PICO_EX

/* The content ranges read off the tokens of each example's NTP row (rows 0..nex−1): U between ⟨user⟩ and
 * ⟨assistant⟩, A between ⟨assistant⟩ and ⟨eos⟩. */
static void ranges_from_tokens(const Batch *b, int *user, int *asst) {
    for (int i = 0; i < b->nex; i++) {
        int r0 = b->row_start[i], r1 = b->row_start[i + 1], tu = -1, ta = -1;
        for (int t = r0; t < r1; t++) {
            if (b->ids[t] == TOK_USER) tu = t;
            if (b->ids[t] == TOK_ASSISTANT) ta = t;
        }
        cr_assert(tu >= 0 && ta > tu && b->ids[r1 - 1] == TOK_EOS);
        user[2 * i] = tu + 1, user[2 * i + 1] = ta, asst[2 * i] = ta + 1, asst[2 * i + 1] = r1 - 1;
    }
}

typedef struct ModelCtx {
    Model m;
    Batch b;
    int mode, e2e;
    Rng r0;
    StpWork w;
    int *own_user, *own_asst; /* set when the batch did not fill its ranges */
} ModelCtx;

static double model_value(void *p) {
    ModelCtx *c = p;
    float *h = model_forward(&c->m, &c->b);
    cr_assert(h);
    Rng r = c->r0;
    double J;
    cr_assert_eq(stp_loss(c->m.be, &c->b, h, NULL, c->m.cfg.dim, 1.0, c->mode, c->e2e, &r, &c->w, &J), 0);
    return J;
}

static void model_setup(ModelCtx *c, int include_system) {
    memset(c, 0, sizeof *c);
    pico_model(&c->m, NULL, 0, 7, 0.2f, 0);
    ViewOpts vo = {.include_system = include_system, .targets_all = 1};
    int idx[3] = {0, 1, 2};
    cr_assert_eq(batch_build(&c->b, EX, idx, 3, &vo, 0), 0);
    int *u = malloc(6 * sizeof(int)), *a = malloc(6 * sizeof(int));
    ranges_from_tokens(&c->b, u, a);
    if (c->b.ntp_user && c->b.ntp_asst) { /* batch.c fills them: they must be these */
        for (int i = 0; i < 6; i++)
            cr_expect(c->b.ntp_user[i] == u[i] && c->b.ntp_asst[i] == a[i], "batch ranges differ at %d", i);
        free(u), free(a);
    } else {
        c->b.ntp_user = c->own_user = u, c->b.ntp_asst = c->own_asst = a;
    }
}

static void model_teardown(ModelCtx *c) {
    if (c->own_user) c->b.ntp_user = c->b.ntp_asst = NULL;
    free(c->own_user), free(c->own_asst);
    stp_work_free(&c->w);
    batch_free(&c->b);
    model_free(&c->m);
}

static void check_model_fd(int mode, int e2e) {
    ModelCtx c;
    model_setup(&c, 1);
    c.mode = mode, c.e2e = e2e, c.r0 = rng_stream(13, "stp");
    Backend *be = c.m.be;
    size_t nh = (size_t)c.b.n * c.m.cfg.dim;
    float *dh = be->alloc(be, nh * sizeof(float));
    cr_assert(dh);
    model_zero_grads(&c.m);
    float *h = model_forward(&c.m, &c.b);
    Rng r = c.r0;
    double J;
    cr_assert_eq(stp_loss(be, &c.b, h, dh, c.m.cfg.dim, 1.0, mode, e2e, &r, &c.w, &J), 0);
    cr_assert_eq(c.w.plan.m, 3);
    cr_assert_eq(model_backward(&c.m, &c.b, dh), 0);
    double worst = 0;
    for (int t = 0; t < c.m.ntensors; t++) {
        Tensor *T = &c.m.tensors[t];
        size_t idx[6];
        for (int s = 0; s < 6; s++) idx[s] = T->offset + (size_t)((s * 7919u + t * 104729u) % T->numel);
        double wr = fd_check(model_value, &c, c.m.params, c.m.grads, idx, 6, 1e-2, 3e-2, 2e-4, T->name);
        if (wr > worst) worst = wr;
    }
    cr_expect_leq(worst, 1.0, "pico model FD (mode %d e2e %d): ratio %.3g", mode, e2e, worst);
    be->free(be, dh);
    model_teardown(&c);
}

Test(stp_model, fd_random_none) { check_model_fd(STP_W_NONE, 0); }
Test(stp_model, fd_random_cosine_like) { check_model_fd(STP_W_COSINE_LIKE, 0); }
Test(stp_model, fd_random_jaccard_like) { check_model_fd(STP_W_JACCARD_LIKE, 0); }
Test(stp_model, fd_e2e) { check_model_fd(STP_W_NONE, 1); }

/* The batch's ranges (or the ones read off its tokens) delimit the content: ⟨user⟩ before U, ⟨assistant⟩
 * between, ⟨eos⟩ after A, with and without the system prompt. */
Test(stp_model, ranges_delimit_content) {
    for (int sys = 0; sys < 2; sys++) {
        ModelCtx c;
        model_setup(&c, sys);
        for (int i = 0; i < c.b.nex; i++) {
            const int *u = c.b.ntp_user + 2 * i, *a = c.b.ntp_asst + 2 * i;
            cr_expect_eq(c.b.ids[u[0] - 1], TOK_USER);
            cr_expect_eq(c.b.ids[u[1]], TOK_ASSISTANT);
            cr_expect_eq(a[0], u[1] + 1);
            cr_expect_eq(c.b.ids[a[1]], TOK_EOS);
            cr_expect_eq(u[1] - u[0], (int)strlen(EX[i].user));
            cr_expect_eq(a[1] - a[0], (int)strlen(EX[i].assistant));
        }
        model_teardown(&c);
    }
}

/* r = NULL: the same spans at every call (what a finite-difference check through loss_step needs). */
Test(stp_plan, null_stream_is_fixed) {
    Batch b = multi_batch();
    StpWork w = {0};
    float h[MN * MC];
    Rng rg = rng_stream(24, "h");
    for (int i = 0; i < MN * MC; i++) h[i] = (float)rng_normal(&rg);
    double J1, J2;
    cr_assert_eq(stp_loss(backend_ref(), &b, h, NULL, MC, 1.0, STP_W_NONE, 0, NULL, &w, &J1), 0);
    int s0 = w.plan.s[3], t0 = w.plan.t[3];
    cr_assert_eq(stp_loss(backend_ref(), &b, h, NULL, MC, 1.0, STP_W_NONE, 0, NULL, &w, &J2), 0);
    cr_expect(J1 == J2 && s0 == w.plan.s[3] && t0 == w.plan.t[3]);
    Rng r = rng_stream(0, "stp");
    cr_assert_eq(stp_loss(backend_ref(), &b, h, NULL, MC, 1.0, STP_W_NONE, 0, &r, &w, &J2), 0);
    cr_expect(J1 == J2, "NULL is stream (0, \"stp\")");
    stp_work_free(&w);
}

/* One StpWork used on two backends in turn: its device buffers move, the values stay. */
Test(stp_backend, work_moves_between_backends) {
    Batch b = multi_batch();
    StpWork w = {0};
    Rng rg = rng_stream(25, "h");
    float hh[MN * MC];
    for (int i = 0; i < MN * MC; i++) hh[i] = (float)rng_normal(&rg);
    Backend *bes[3] = {backend_ref(), backend_cpu(), backend_ref()};
    double J[3];
    for (int k = 0; k < 3; k++) {
        Backend *be = bes[k];
        float *h = be->alloc(be, sizeof hh);
        cr_assert(h);
        be->upload(be, h, hh, sizeof hh);
        cr_assert_eq(stp_loss(be, &b, h, NULL, MC, 1.0, STP_W_JACCARD_LIKE, 0, NULL, &w, &J[k]), 0);
        cr_expect_eq(w.be, be);
        be->free(be, h);
    }
    cr_expect(fabs(J[1] - J[0]) <= 1e-6 && J[2] == J[0], "J %.9g %.9g %.9g", J[0], J[1], J[2]);
    stp_work_free(&w);
}
