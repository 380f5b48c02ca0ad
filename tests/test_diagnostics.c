/* Collapse diagnostics (engine/diagnostics.h) against golden values.
 *
 * Golden values not given in closed form were computed independently with
 * numpy 1.24 (Debian python3-numpy) in float64: the mean cosine from the full
 * Gram matrix of the row-normalised X, (ΣG − trace G)/(n(n−1)), and the
 * effective rank from np.linalg.svd(X, compute_uv=False):
 *   p = s / s.sum(); exp(-(p * log p).sum()). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "config.h"
#include "data.h"
#include "diagnostics.h"
#include "pico.h"
#include "probe_run.h"
#include "train.h"

/* 6×4 with no structure (the numpy golden case). */
static const float RANDOM64[6 * 4] = {
    0.5f,  -1.25f, 2.0f,  0.75f,
    1.5f,  0.25f,  -0.5f, 1.0f,
    -0.75f, 2.0f,  1.25f, -1.5f,
    0.0f,  0.5f,   0.25f, 3.0f,
    2.25f, -0.5f,  0.0f,  -0.25f,
    1.0f,  1.0f,   1.0f,  1.0f,
};

/* 4×3 with orthogonal columns of norms 3, 2, 1: columns of a Hadamard matrix
 * /2 scaled, so the singular values are exactly 3, 2, 1. */
static const float SV321[4 * 3] = {
    1.5f, 1.0f, 0.5f,
    1.5f, -1.0f, 0.5f,
    1.5f, 1.0f, -0.5f,
    1.5f, -1.0f, -0.5f,
};

Test(diagnostics, singular_values_known) {
    double sv[3];
    cr_assert_eq(diag_singular_values(SV321, 4, 3, sv), 0);
    cr_expect_float_eq(sv[0], 3.0, 1e-12);
    cr_expect_float_eq(sv[1], 2.0, 1e-12);
    cr_expect_float_eq(sv[2], 1.0, 1e-12);
    /* the transpose has the same singular values */
    float T[3 * 4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) T[j * 4 + i] = SV321[i * 3 + j];
    cr_assert_eq(diag_singular_values(T, 3, 4, sv), 0);
    cr_expect_float_eq(sv[0], 3.0, 1e-12);
    cr_expect_float_eq(sv[2], 1.0, 1e-12);
}

Test(diagnostics, effective_rank_known_singular_values) {
    /* p = (1/2, 1/3, 1/6): exp(−Σ p log p) in closed form */
    double want = exp(-(0.5 * log(0.5) + log(1.0 / 3) / 3 + log(1.0 / 6) / 6)); /* 2.7494592739972052 */
    cr_expect_float_eq(diag_effective_rank(SV321, 4, 3), want, 1e-12);
    cr_expect_float_eq(want, 2.7494592739972048, 1e-14, "closed form vs numpy");
}

Test(diagnostics, effective_rank_rank_deficient) {
    /* rank 1: u vᵀ */
    float u[5] = {1, -2, 0.5f, 3, 0.25f}, v[4] = {0.5f, 1, -1, 2}, X[5 * 4];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) X[i * 4 + j] = u[i] * v[j];
    cr_expect_float_eq(diag_effective_rank(X, 5, 4), 1.0, 1e-6);
    /* rank 2 with equal singular values: two orthonormal rows, each repeated twice */
    float Y[4 * 3] = {1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0};
    cr_expect_float_eq(diag_effective_rank(Y, 4, 3), 2.0, 1e-9);
    /* full rank, equal singular values: the identity */
    float I[4 * 4] = {0};
    for (int i = 0; i < 4; i++) I[i * 4 + i] = 2.5f;
    cr_expect_float_eq(diag_effective_rank(I, 4, 4), 4.0, 1e-12);
}

Test(diagnostics, golden_numpy_random) {
    cr_expect_float_eq(diag_mean_cosine(RANDOM64, 6, 4), 0.15570636005581331, 1e-7);
    cr_expect_float_eq(diag_effective_rank(RANDOM64, 6, 4), 3.911722845369844, 1e-9);
    double sv[4], want[4] = {4.01318479, 2.94127584, 2.6308262, 2.30694555};
    cr_assert_eq(diag_singular_values(RANDOM64, 6, 4, sv), 0);
    for (int i = 0; i < 4; i++) cr_expect_float_eq(sv[i], want[i], 1e-7, "sv[%d] %.9g", i, sv[i]);
    cr_expect_float_eq(diag_mean_cosine(SV321, 4, 3), 0.52380952380952384, 1e-7);
}

Test(diagnostics, mean_cosine_extremes) {
    /* all rows equal (up to a positive scale): every cosine is 1 */
    float E[5 * 3];
    for (int i = 0; i < 5; i++) E[i * 3] = 1.0f * (i + 1), E[i * 3 + 1] = -2.0f * (i + 1), E[i * 3 + 2] = 0.5f * (i + 1);
    cr_expect_float_eq(diag_mean_cosine(E, 5, 3), 1.0, 1e-7);
    cr_expect_float_eq(diag_effective_rank(E, 5, 3), 1.0, 1e-6);
    /* orthonormal rows: every cosine is 0 */
    float O[4 * 4] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, -0.5f, 0.5f, -0.5f, 0.5f, 0.5f, -0.5f, -0.5f, 0.5f, -0.5f, -0.5f, 0.5f};
    cr_expect_float_eq(diag_mean_cosine(O, 4, 4), 0.0, 1e-7);
    cr_expect_float_eq(diag_effective_rank(O, 4, 4), 4.0, 1e-9);
    /* two opposite rows: cosine −1 */
    float P[2 * 2] = {1, 2, -3, -6};
    cr_expect_float_eq(diag_mean_cosine(P, 2, 2), -1.0, 1e-7);
}

Test(diagnostics, edge_cases) {
    /* a zero row counts as cosine 0 with every other row: pairs (0,1),(1,0) = 1, the rest 0 */
    float Z[3 * 2] = {1, 1, 2, 2, 0, 0};
    cr_expect_float_eq(diag_mean_cosine(Z, 3, 2), 2.0 / 6.0, 1e-7);
    cr_expect(isnan(diag_mean_cosine(Z, 1, 2)), "one row: no pairs");
    float zero[6] = {0};
    cr_expect_eq(diag_effective_rank(zero, 3, 2), 0.0);
    cr_expect_eq(diag_effective_rank(zero, 0, 2), 0.0);
    float bad[4] = {1, NAN, 0, 1};
    cr_expect(isnan(diag_mean_cosine(bad, 2, 2)));
    cr_expect(isnan(diag_effective_rank(bad, 2, 2)));
    DiagStats s = diag_stats(SV321, 4, 3);
    cr_expect_float_eq(s.erank, 2.7494592739972048, 1e-12);
    cr_expect_float_eq(s.mean_cos, 0.52380952380952384, 1e-7);
}

Test(diagnostics, collapse_csv_fields) {
    char buf[512];
    Collapse c = {{0.5, 3.25}, {-0.125, 1.0}, {1.0, 1.0}, 1, 4, 0.25, -0.5, 50, 100, 25, 75, 25, 100, 0.875};
    diag_collapse_csv(&c, buf, sizeof buf);
    cr_expect_str_eq(buf, "0.500000,-0.125000,1.000000,3.250000,1.000000,1.000000,0.250000,-0.500000,50.000000,"
                          "100.000000,25.000000,75.000000,25.000000,100.000000,0.875000");
    c.has_pred = 0;
    c.enc_code.mean_cos = NAN;
    diag_collapse_csv(&c, buf, sizeof buf);
    cr_expect_str_eq(buf, "0.500000,,,3.250000,1.000000,,,-0.500000,,,25.000000,75.000000,25.000000,100.000000,",
                     "no Pred, and a NaN: empty fields");
    diag_collapse_csv(NULL, buf, sizeof buf);
    cr_expect_str_eq(buf, ",,,,,,,,,,,,,,");
    /* one field per header column, named in diag_csv_names */
    int commas = 0;
    for (const char *p = DIAG_CSV_HEADER; *p; p++) commas += *p == ',';
    cr_expect_eq(commas, DIAG_CSV_FIELDS - 1);
    char joined[512] = "";
    for (int i = 0; i < DIAG_CSV_FIELDS; i++) strcat(strcat(joined, i ? "," : ""), diag_csv_names[i]);
    cr_expect_str_eq(joined, DIAG_CSV_HEADER);
}

/* ---- alignment ---- */

/* The matched-minus-mismatched cosine by brute force over all pairs. */
static double brute_gap(const float *P, const float *C, int n, int d) {
    double m = 0, mm = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double pc = 0, pp = 0, cc = 0;
            for (int k = 0; k < d; k++) pc += (double)P[i * d + k] * C[j * d + k], pp += (double)P[i * d + k] * P[i * d + k],
                                        cc += (double)C[j * d + k] * C[j * d + k];
            double cs = pp > 0 && cc > 0 ? pc / sqrt(pp * cc) : 0;
            if (i == j) m += cs;
            else mm += cs;
        }
    return m / n - mm / ((double)n * (n - 1));
}

Test(diagnostics, matched_gap_golden) {
    /* identical rows everywhere: matched and mismatched are both 1 */
    float E[4 * 3];
    for (int i = 0; i < 12; i++) E[i] = (float)(i % 3 + 1);
    cr_expect_float_eq(diag_matched_gap(E, E, 4, 3), 0.0, 1e-12);
    /* orthonormal matched pairs: 1 − 0 */
    float O[4 * 4] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, -0.5f, 0.5f, -0.5f, 0.5f, 0.5f, -0.5f, -0.5f, 0.5f, -0.5f, -0.5f, 0.5f};
    cr_expect_float_eq(diag_matched_gap(O, O, 4, 4), 1.0, 1e-7);
    /* P_i = −C_i of orthonormal rows: −1 − 0 */
    float N[16];
    for (int i = 0; i < 16; i++) N[i] = -O[i];
    cr_expect_float_eq(diag_matched_gap(N, O, 4, 4), -1.0, 1e-7);
    /* no structure: the O(n·d) identity equals the O(n²·d) definition */
    cr_expect_float_eq(diag_matched_gap(RANDOM64, SV321 + 0, 3, 4), brute_gap(RANDOM64, SV321, 3, 4), 1e-12);
    cr_expect_float_eq(diag_matched_gap(RANDOM64, RANDOM64 + 4, 5, 4), brute_gap(RANDOM64, RANDOM64 + 4, 5, 4), 1e-12);
    cr_expect(isnan(diag_matched_gap(E, E, 1, 3)), "one example: no mismatched pair");
}

Test(diagnostics, retrieval_golden) {
    double t1, t5;
    /* every Code row identical: all tied, exactly the chance levels 1/n and 5/n */
    float E[10 * 3], P[10 * 3];
    for (int i = 0; i < 30; i++) E[i] = (float)(i % 3 + 1), P[i] = (float)((i * 7) % 5 - 2);
    cr_assert_eq(diag_retrieval(P, E, 10, 3, &t1, &t5), 0);
    cr_expect_float_eq(t1, 10.0, 1e-12, "top-1 %g", t1);
    cr_expect_float_eq(t5, 50.0, 1e-12, "top-5 %g", t5);
    /* orthogonal matched pairs: always found */
    float O[4 * 4] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, -0.5f, 0.5f, -0.5f, 0.5f, 0.5f, -0.5f, -0.5f, 0.5f, -0.5f, -0.5f, 0.5f};
    cr_assert_eq(diag_retrieval(O, O, 4, 4, &t1, &t5), 0);
    cr_expect_float_eq(t1, 100.0, 1e-12);
    cr_expect_float_eq(t5, 100.0, 1e-12);
    /* a cyclic shift: every query's best row is its neighbour's, its own ranks second */
    float S[4 * 4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) S[i * 4 + j] = O[((i + 1) % 4) * 4 + j] + 0.5f * O[i * 4 + j];
    cr_assert_eq(diag_retrieval(S, O, 4, 4, &t1, &t5), 0);
    cr_expect_float_eq(t1, 0.0, 1e-12);
    cr_expect_float_eq(t5, 100.0, 1e-12, "second of four is within the top 5");
    /* one tie between two Code rows: the query of row 0 gets half a top-1 */
    float C2[3 * 2] = {1, 0, 1, 0, 0, 1}, P2[3 * 2] = {1, 0, 0.1f, 1, 0, 1};
    cr_assert_eq(diag_retrieval(P2, C2, 3, 2, &t1, &t5), 0);
    /* query 0: C0 = C1 tie -> 1/2; query 1: C2 closer than C1 -> 0; query 2: own exact, C0/C1 orthogonal -> 1 */
    cr_expect_float_eq(t1, 100.0 * 1.5 / 3, 1e-12, "top-1 %g", t1);
    float bad[2] = {NAN, 1};
    cr_expect_eq(diag_retrieval(bad, bad, 1, 2, &t1, &t5), -1);
    cr_expect(isnan(t1));
}

Test(diagnostics, cosine) {
    double a[3] = {1, 2, 2}, b[3] = {2, 4, 4}, c[3] = {-2, 1, 0}, z[3] = {0};
    cr_expect_float_eq(diag_cosine(a, b, 3), 1.0, 1e-15);
    cr_expect_float_eq(diag_cosine(a, c, 3), 0.0, 1e-15);
    cr_expect(isnan(diag_cosine(a, z, 3)));
}

/* ---- the <eos>-predicting state, against an oracle that finds it by its target ---- */

Test(diagnostics, eos_state_oracle) {
    Model m;
    pico_model(&m, NULL, 0, 7, 0.2f, 0.3);
    ViewOpts vo = {.include_system = 1, .targets_all = 1, .k = 1, .packed = 1};
    int C = m.cfg.dim;
    double got[64], want[64] = {0};
    char err[256];
    cr_assert_eq(diag_eos_state(&m, PICO_EX, 3, &vo, got, err, sizeof err), 0, "%s", err);
    Batch b = {0};
    int idx[3] = {0, 1, 2};
    cr_assert_eq(batch_build(&b, PICO_EX, idx, 3, &vo, 0), 0);
    model_set_training(&m, 0, 0);
    const float *h = model_forward(&m, &b);
    float *hh = malloc((size_t)b.n * C * sizeof(float));
    m.be->download(m.be, hh, h, (size_t)b.n * C * sizeof(float));
    int found = 0;
    for (int t = 0; t < b.n; t++) /* the positions whose next-token target is <eos>: one per NTP row */
        if (b.tgt[t] == TOK_EOS) {
            found++;
            for (int j = 0; j < C; j++) want[j] += hh[(size_t)t * C + j] / 3.0;
        }
    cr_assert_eq(found, 3);
    double worst = 0;
    for (int j = 0; j < C; j++) worst = fmax(worst, fabs(got[j] - want[j]));
    cr_expect_lt(worst, 1e-6, "max difference %g", worst);
    /* the position before it is another state: the oracle can fail */
    for (int j = 0; j < C; j++) want[j] = 0;
    for (int t = 1; t < b.n; t++)
        if (b.tgt[t] == TOK_EOS)
            for (int j = 0; j < C; j++) want[j] += hh[(size_t)(t - 1) * C + j] / 3.0;
    worst = 0;
    for (int j = 0; j < C; j++) worst = fmax(worst, fabs(got[j] - want[j]));
    cr_expect_gt(worst, 1e-3);
    free(hh);
    batch_free(&b);
    model_free(&m);
}

/* diag_collapse is the parts above applied to encode's three matrices and the <eos> state
 * (24 test examples through an untrained pico model: Pred and Enc(Text) rank differently). */
Test(diagnostics, collapse_combines_the_parts) {
    enum { N = 24 };
    Model m;
    pico_model(&m, NULL, 0, 9, 0.2f, 0.3);
    Config c;
    config_defaults(&c);
    char err[256];
    cr_assert_eq(config_set_kv(&c, "loss=jepa", err, sizeof err), 0);
    Dataset d;
    cr_assert_eq(dataset_load(SOURCE_DIR "/data/synth_test.jsonl", N, &d, err, sizeof err), 0, "%s", err);
    EncodeOpts eo = encode_opts(&c);
    Collapse cl;
    cr_assert_eq(diag_collapse(&m, d.ex, N, &eo, 1, &cl, err, sizeof err), 0, "%s", err);
    int C = m.cfg.dim;
    float et[N * 64], pr[N * 64], ec[N * 64];
    cr_assert_eq(encode(&m, d.ex, N, &eo, et, pr, ec, err, sizeof err), 0, "%s", err);
    double p1, p5, t1, t5, e[64], mean[64] = {0};
    cr_expect_eq(cl.pred_gap, diag_matched_gap(pr, ec, N, C));
    cr_expect_eq(cl.text_gap, diag_matched_gap(et, ec, N, C));
    diag_retrieval(pr, ec, N, C, &p1, &p5);
    diag_retrieval(et, ec, N, C, &t1, &t5);
    cr_expect(cl.pred_top1 == p1 && cl.pred_top5 == p5, "Pred: %g %g vs %g %g", cl.pred_top1, cl.pred_top5, p1, p5);
    cr_expect(cl.text_top1 == t1 && cl.text_top5 == t5, "Enc(Text): %g %g vs %g %g", cl.text_top1, cl.text_top5, t1, t5);
    cr_expect(p1 != t1 || p5 != t5, "the two retrievals must differ here for the check to bite (%g %g)", p5, t5);
    cr_expect(cl.chance_top1 == 100.0 / N && cl.chance_top5 == 500.0 / N, "chance %g %g", cl.chance_top1,
              cl.chance_top5);
    cr_assert_eq(diag_eos_state(&m, d.ex, N, &eo.vo, e, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) mean[j] += pr[i * C + j];
    cr_expect(fabs(cl.pred_eos_cos - diag_cosine(mean, e, C)) < 1e-12, "%.12g vs %.12g", cl.pred_eos_cos,
              diag_cosine(mean, e, C));
    for (int i = 0; i < N; i++) /* Enc(Text) is another direction: the check can fail */
        for (int j = 0; j < C; j++) mean[j] += et[i * C + j] - pr[i * C + j];
    cr_expect(fabs(cl.pred_eos_cos - diag_cosine(mean, e, C)) > 1e-6);
    cr_assert_eq(diag_collapse(&m, d.ex, N, &eo, 0, &cl, err, sizeof err), 0, "%s", err);
    cr_expect(!cl.has_pred && isnan(cl.pred_eos_cos) && isnan(cl.pred_top1), "no Pred: its numbers are NaN");
    dataset_free(&d);
    model_free(&m);
}

/* ---- curve.csv of a whole run ---- */

/* Runs a tiny training run with loss `loss` (and regulariser reg) and returns curve.csv's text. */
static char *tiny_run_curve(const char *loss, const char *reg, char *dir) {
    Config c;
    char err[512];
    config_defaults(&c);
    const char *kv[][2] = {{"model", "pico"}, {"train_limit", "32"}, {"test_limit", "5"}, {"epochs", "2"},
                           {"batch_size", "8"}, {"max_new_tokens", "8"}, {"epoch_eval_limit", "4"},
                           {"threads", "1"}, {"loss", loss}, {"k", "2"}, {"jepa_reg", reg}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) cr_assert_eq(config_set(&c, kv[i][0], kv[i][1], err, sizeof err), 0, "%s", err);
    cr_assert_not_null(mkdtemp(dir));
    TrainResult r;
    cr_assert_eq(train_run(&c, dir, NULL, &r, err, sizeof err), 0, "%s", err);
    char path[512];
    snprintf(path, sizeof path, "%s/curve.csv", dir);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Field i (0-based) of the CSV line at l into f (size n); -1 when the line has fewer fields. */
static int field(const char *l, int i, char *f, size_t n) {
    for (int k = 0; k < i; k++) {
        l = strpbrk(l, ",\n");
        if (!l || *l == '\n') return -1;
        l++;
    }
    size_t len = strcspn(l, ",\n");
    snprintf(f, n, "%.*s", (int)len, l);
    return 0;
}

/* Checks every row of curve.csv: 13 + DIAG_CSV_FIELDS fields; epoch rows' diagnostics numbers (Pred's
 * empty when !pred, retrieval within [0, 100], chance 100/n), step rows' empty; jepa_reg, the last field,
 * set exactly when reg. */
static void check_rows(const char *curve, int pred, int reg) {
    const char *want_header = "acc_exact,acc_startswith,acc_dfa," DIAG_CSV_HEADER ",jepa_reg\n"; /* NL-RX's metrics */
    cr_assert(strstr(curve, want_header), "header lacks the columns at its end: %.600s", curve);
    int rows = 0, last = 12 + DIAG_CSV_FIELDS;
    char f[64];
    for (const char *l = strchr(curve, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
        int epoch = !strncmp(l, "epoch,", 6);
        rows += epoch;
        cr_expect_eq(field(l, last, f, sizeof f), 0, "a field per column: %.200s", l);
        cr_expect_eq(field(l, last + 1, f, sizeof f), -1, "no field beyond the header: %.200s", l);
        field(l, last, f, sizeof f);
        cr_expect_eq(f[0] != 0, reg, "jepa_reg '%s' (regulariser %d): %.200s", f, reg, l);
        for (int i = 0; i < DIAG_CSV_FIELDS; i++) {
            field(l, 12 + i, f, sizeof f);
            int is_pred = strstr(diag_csv_names[i], "pred") != NULL;
            if (!epoch || (is_pred && !pred)) {
                cr_expect_eq(f[0], 0, "%s empty: %.200s", diag_csv_names[i], l);
                continue;
            }
            char *end;
            double v = strtod(f, &end);
            cr_expect(f[0] && !*end, "%s is a number: '%s'", diag_csv_names[i], f);
            if (strstr(diag_csv_names[i], "top")) cr_expect(v >= 0 && v <= 100, "%s = %g", diag_csv_names[i], v);
            if (strstr(diag_csv_names[i], "_cos") || strstr(diag_csv_names[i], "_gap"))
                cr_expect(v >= -2 && v <= 2, "%s = %g", diag_csv_names[i], v);
        }
        if (!epoch) continue;
        field(l, 12 + 12, f, sizeof f); /* chance_top1: 4 examples per epoch, then the 5 of the test split */
        cr_expect(!strcmp(f, "25.000000") || !strcmp(f, "20.000000"), "chance_top1 %s", f);
    }
    cr_expect_eq(rows, 2, "one row per evaluated epoch, and the final one");
}

Test(diagnostics, curve_columns_jepa_and_ntp, .timeout = 120) {
    char d1[] = "/tmp/jepa_diag1_XXXXXX", d2[] = "/tmp/jepa_diag2_XXXXXX", d3[] = "/tmp/jepa_diag3_XXXXXX";
    check_rows(tiny_run_curve("jepa", "none", d1), 1, 0);
    check_rows(tiny_run_curve("ntp", "none", d2), 0, 0);
    check_rows(tiny_run_curve("jepa", "sigreg", d3), 1, 1);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", d1, d2, d3);
    cr_expect_eq(system(cmd), 0);
}

/* harness probe writes the same diagnostics into probe.json under "collapse". */
Test(diagnostics, probe_json_collapse, .timeout = 60) {
    char dir[] = "/tmp/jepa_diagp_XXXXXX", out[128], err[512], warn[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/probe", dir);
    Config c;
    config_defaults(&c);
    char *set[] = {"model=pico", "loss=jepa", "threads=1"};
    for (int i = 0; i < 3; i++) cr_assert_eq(config_set_kv(&c, set[i], err, sizeof err), 0, "%s", err);
    ProbeTarget t = {NULL, NULL, 12, out, 0};
    ProbeOpts po = probe_defaults();
    po.tsne = 0, po.draw = 0, po.quiet = 1;
    ProbeResult r;
    FILE *log = fopen("/dev/null", "w");
    cr_assert_eq(probe_target(&t, &c, NULL, 0, &po, log, &r, warn, sizeof warn, err, sizeof err), 0, "%s", err);
    fclose(log);
    char path[160], text[8192];
    snprintf(path, sizeof path, "%s/probe.json", out);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    const char *col = strstr(text, "\"collapse\"");
    cr_assert_not_null(col, "%s", text);
    for (int i = 0; i < DIAG_CSV_FIELDS; i++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\":", diag_csv_names[i]);
        const char *k = strstr(col, key);
        cr_expect(k && strncmp(k + strlen(key), "\tnull", 5) && strncmp(k + strlen(key), " null", 5),
                  "%s is a number in probe.json", diag_csv_names[i]);
    }
    cr_expect_not_null(strstr(col, "\"chance_top1\":\t8.33333"), "12 examples: chance 100/12 %%: %s", col);
    cr_expect_not_null(strstr(text, "\"lsq_resid\""), "the probe's own numbers are kept");
    snprintf(path, sizeof path, "rm -rf %s", dir);
    cr_expect_eq(system(path), 0);
}
