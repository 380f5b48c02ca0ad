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

#include "config.h"
#include "diagnostics.h"
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
    char buf[256];
    Collapse c = {{0.5, 3.25}, {-0.125, 1.0}, {1.0, 1.0}, 1, 4};
    diag_collapse_csv(&c, buf, sizeof buf);
    cr_expect_str_eq(buf, "0.500000,-0.125000,1.000000,3.250000,1.000000,1.000000");
    c.has_pred = 0;
    c.enc_code.mean_cos = NAN;
    diag_collapse_csv(&c, buf, sizeof buf);
    cr_expect_str_eq(buf, "0.500000,,,3.250000,1.000000,", "no Pred, and a NaN: empty fields");
    diag_collapse_csv(NULL, buf, sizeof buf);
    cr_expect_str_eq(buf, ",,,,,");
    /* one field per header column */
    int commas = 0;
    for (const char *p = DIAG_CSV_HEADER; *p; p++) commas += *p == ',';
    cr_expect_eq(commas, 5);
}

/* ---- curve.csv of a whole run ---- */

/* Runs a tiny training run with loss `loss` and returns curve.csv's text. */
static char *tiny_run_curve(const char *loss, char *dir) {
    Config c;
    char err[512];
    config_defaults(&c);
    const char *kv[][2] = {{"model", "pico"}, {"train_limit", "32"}, {"test_limit", "5"}, {"epochs", "2"},
                           {"batch_size", "8"}, {"max_new_tokens", "8"}, {"epoch_eval_limit", "4"},
                           {"threads", "1"}, {"loss", loss}, {"k", "2"}};
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

/* Checks the epoch rows' six diagnostic fields: numbers, Pred's empty when !pred. */
static void check_epoch_rows(const char *curve, int pred) {
    const char *want_header = "acc_exact,acc_startswith,acc_dfa," DIAG_CSV_HEADER "\n"; /* NL-RX's metrics */
    cr_assert(strstr(curve, want_header), "header lacks the columns at its end: %.300s", curve);
    int rows = 0;
    for (const char *l = strstr(curve, "\nepoch,"); l; l = strstr(l + 1, "\nepoch,"), rows++) {
        const char *f = l + 1;
        for (int i = 0; i < 12; i++) f = strchr(f, ',') + 1; /* the 13th field: enc_text_cos */
        double v[6];
        int got = sscanf(f, "%lf,%lf", &v[0], &v[1]);
        cr_expect_eq(got, 2, "enc_text_cos, enc_code_cos: %.120s", f);
        cr_expect(v[0] >= -1 && v[0] <= 1.000001, "cos %g", v[0]);
        const char *p = strchr(strchr(f, ',') + 1, ',') + 1; /* pred_text_cos */
        if (pred) cr_expect(*p != ',', "pred_text_cos present: %.120s", f);
        else cr_expect(*p == ',', "pred_text_cos empty: %.120s", f);
    }
    cr_expect_eq(rows, 2, "one row per evaluated epoch, and the final one");
}

Test(diagnostics, curve_columns_jepa_and_ntp, .timeout = 120) {
    char d1[] = "/tmp/jepa_diag1_XXXXXX", d2[] = "/tmp/jepa_diag2_XXXXXX";
    check_epoch_rows(tiny_run_curve("jepa", d1), 1);
    check_epoch_rows(tiny_run_curve("ntp", d2), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", d1, d2);
    cr_expect_eq(system(cmd), 0);
}
