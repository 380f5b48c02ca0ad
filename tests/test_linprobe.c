/* Linear probes (analysis/linprobe.c) against golden values obtained
 * independently: singular values known by construction (Householder
 * factors), fixed matrices checked with numpy, least-squares problems whose
 * residual and rank are exact by construction (Hadamard columns), and the
 * input errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linprobe.h"

static char err[512];

/* ---- helpers ---- */

/* Orthogonal Q (m, m), row-major, in double: the product of three Householder
 * reflections I − 2 v vᵀ / vᵀv with v_i = sin(1 + i + 7 r + m) (r = 0, 1, 2). */
static void householder_q(double *Q, int m) {
    for (int i = 0; i < m * m; i++) Q[i] = i % (m + 1) == 0;
    double *v = malloc((size_t)m * sizeof(double));
    for (int r = 0; r < 3; r++) {
        double vv = 0;
        for (int i = 0; i < m; i++) v[i] = sin(1.0 + i + 7.0 * r + m), vv += v[i] * v[i];
        for (int i = 0; i < m; i++) { /* row i of Q ← Q_i − 2 (Q_i·v) vᵀ / vv */
            double dot = 0;
            for (int j = 0; j < m; j++) dot += Q[i * m + j] * v[j];
            for (int j = 0; j < m; j++) Q[i * m + j] -= 2 * dot * v[j] / vv;
        }
    }
    free(v);
}

/* Sylvester Hadamard matrix entry (i, j) of order a power of two: ±1. */
static double hadamard(int i, int j) { return __builtin_popcount((unsigned)(i & j)) % 2 ? -1.0 : 1.0; }

static double frob(const float *A, size_t len) {
    double s = 0;
    for (size_t i = 0; i < len; i++) s += (double)A[i] * A[i];
    return sqrt(s);
}

/* ---- (a) singular values known by construction ---- */

/* X − Y = U[:, :k] diag(s) V[:, :k]ᵀ with U (n, n), V (d, d) orthogonal, so the
 * singular values of the exact difference are s. X and Y are floats, so the
 * difference actually probed is D + E with E the rounding of X = fl(Y + D);
 * by Weyl's inequality |σ_i − s_i| ≤ ‖E‖_2 ≤ ‖E‖_F, computed here in double.
 * On top of that dgesdd is backward stable: 1e-13·s_1 is allowed for it. */
static void check_known_sv(int n, int d) {
    int k = n < d ? n : d;
    double *U = malloc((size_t)n * n * sizeof(double)), *V = malloc((size_t)d * d * sizeof(double));
    double *s = malloc((size_t)k * sizeof(double)), *sv = malloc((size_t)k * sizeof(double));
    float *X = malloc((size_t)n * d * sizeof(float)), *Y = malloc((size_t)n * d * sizeof(float));
    householder_q(U, n), householder_q(V, d);
    for (int i = 0; i < k; i++) s[i] = 10.0 * pow(0.8, i); /* decreasing */
    double e2 = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double D = 0;
            for (int t = 0; t < k; t++) D += U[i * n + t] * s[t] * V[j * d + t];
            Y[(size_t)i * d + j] = (float)cos(0.3 * i + 0.7 * j);
            X[(size_t)i * d + j] = (float)(Y[(size_t)i * d + j] + D);
            double E = ((double)X[(size_t)i * d + j] - Y[(size_t)i * d + j]) - D;
            e2 += E * E;
        }
    double tol = sqrt(e2) + 1e-13 * s[0];
    int nsv = -1;
    cr_assert_eq(linprobe_diff_sv(X, Y, n, d, PROBE_TOP_SV, sv, &nsv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(nsv, k);
    for (int i = 0; i < k; i++)
        cr_expect(fabs(sv[i] - s[i]) <= tol, "(%d, %d) sv[%d] = %.15g, by construction %.15g (tol %.3g)", n, d, i,
                  sv[i], s[i], tol);
    /* top < min(n, d): the first top values only */
    double sv3[3];
    cr_assert_eq(linprobe_diff_sv(X, Y, n, d, 3, sv3, &nsv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(nsv, 3);
    for (int i = 0; i < 3; i++) cr_expect_eq(sv3[i], sv[i], "top = 3 gives other bits at %d", i);
    free(U), free(V), free(s), free(sv), free(X), free(Y);
}

Test(linprobe, diff_sv_known_by_construction_n_gt_d) { check_known_sv(30, 12); }
Test(linprobe, diff_sv_known_by_construction_n_lt_d) { check_known_sv(12, 30); }
Test(linprobe, diff_sv_known_by_construction_square) { check_known_sv(16, 16); }

/* ---- (b) fixed matrices checked with numpy ---- */

/* X[i][j] = ((5i + 3j + 1) mod 7 − 3) / 2, Y[i][j] = ((2i + 7j + 3) mod 5 − 2) / 4: exact in float. */
static void fixed_xy(float *X, float *Y, int n, int d) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            X[i * d + j] = (float)(((i * 5 + j * 3 + 1) % 7 - 3) * 0.5);
            Y[i * d + j] = (float)(((i * 2 + j * 7 + 3) % 5 - 2) * 0.25);
        }
}

/* Rank 2: X = a bᵀ + c eᵀ, a_i = i − 3, b_j = j − 1, c_i = i mod 3 − 1, e_j = 1 (j odd) or −2. */
static void rank2_x(float *X, int n, int d) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) X[i * d + j] = (float)((i - 3) * (j - 1) + (i % 3 - 1) * (j % 2 ? 1 : -2));
}

/* Golden values from numpy 1.24.2 (float64), with the same fixed_xy / rank2_x:
 *   s = np.linalg.svd(X - Y, compute_uv=False)
 *   W, _, rank, _ = np.linalg.lstsq(X, Y, rcond=None)
 *   resid = np.linalg.norm(X @ W - Y)
 * printed with "%.17g". Tolerances: singular values relative 1e-12, residual
 * relative 1e-10 (or absolute 1e-12·‖Y‖_F where numpy's is 0 up to rounding). */
static void check_numpy(const float *X, const float *Y, int n, int d, const double *gsv, double gres, int grank) {
    int k = n < d ? n : d, nsv = -1, rank = -1;
    double sv[8], res = -1;
    cr_assert_eq(linprobe_diff_sv(X, Y, n, d, PROBE_TOP_SV, sv, &nsv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(nsv, k);
    for (int i = 0; i < k; i++)
        cr_expect(fabs(sv[i] - gsv[i]) <= 1e-12 * gsv[i], "(%d, %d) sv[%d] = %.17g, numpy %.17g", n, d, i, sv[i],
                  gsv[i]);
    cr_assert_eq(linprobe_lsq(X, Y, n, d, -1, &res, &rank, err, sizeof err), 0, "%s", err);
    cr_expect_eq(rank, grank, "(%d, %d) rank %d, numpy %d", n, d, rank, grank);
    double tol = fmax(1e-10 * gres, 1e-12 * frob(Y, (size_t)n * d));
    cr_expect(fabs(res - gres) <= tol, "(%d, %d) residual %.17g, numpy %.17g", n, d, res, gres);
}

Test(linprobe, numpy_6x4) {
    float X[24], Y[24];
    fixed_xy(X, Y, 6, 4);
    const double sv[] = {4.0495242960197881, 2.7903429340173993, 2.5461585424203288, 1.18106560502988};
    check_numpy(X, Y, 6, 4, sv, 0.6458724044195554, 4);
}

Test(linprobe, numpy_4x6) {
    float X[24], Y[24];
    fixed_xy(X, Y, 4, 6);
    const double sv[] = {3.8722609388999576, 2.846642186089956, 2.1635927848208079, 1.2383819067290769};
    check_numpy(X, Y, 4, 6, sv, 1.8727816268117312e-15, 4);
}

Test(linprobe, numpy_8x5_rank2) {
    float X[40], Y[40];
    fixed_xy(X, Y, 8, 5);
    rank2_x(X, 8, 5);
    const double sv[] = {25.690582191435688, 7.4895927912151841, 1.3122707814928656, 0.87432434753606059,
                         0.64303096209343658};
    check_numpy(X, Y, 8, 5, sv, 2.0593366844468814, 2);
}

/* A rank-2 difference: singular values 3.. are zero up to rounding (≤ 1e-13·σ_1). */
Test(linprobe, diff_sv_rank_deficient_difference) {
    float X[40], Y[40] = {0};
    rank2_x(X, 8, 5);
    double sv[5];
    int nsv;
    cr_assert_eq(linprobe_diff_sv(X, Y, 8, 5, 5, sv, &nsv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(nsv, 5);
    cr_expect(sv[1] > 1, "σ_2 = %g", sv[1]);
    for (int i = 2; i < 5; i++) cr_expect(sv[i] <= 1e-13 * sv[0], "σ_%d = %g of a rank-2 matrix", i + 1, sv[i]);
}

/* ---- (c) least squares exact by construction ---- */

/* Columns of the Sylvester Hadamard matrix H (n, n) are orthogonal with norm
 * √n. X = H[:, 0:r] · B (B (r, d) small integers) has rank r and column space
 * span H[:, 0:r]; Y = X · W0 + H[:, r:r+q] · C (C (q, d)) then has least-squares
 * residual exactly ‖H[:, r:r+q] C‖_F = √n ‖C‖_F, since that part is orthogonal
 * to the column space of X. Every entry is a small integer: exact in float. */
typedef struct {
    int n, d, r, q;
    float *X, *Y;
    double resid; /* √n ‖C‖_F */
} Hcase;

static Hcase hadamard_case(int n, int d, int r, int q) {
    Hcase h = {n, d, r, q, calloc((size_t)n * d, sizeof(float)), calloc((size_t)n * d, sizeof(float)), 0};
    double c2 = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double x = 0, y = 0;
            for (int t = 0; t < r; t++) x += hadamard(i, t) * ((t == j) + (t < j) * ((t + j) % 3 - 1)); /* B */
            for (int t = 0; t < q; t++) {
                double c = (t + 2 * j) % 5 - 2; /* C[t][j] */
                y += hadamard(i, r + t) * c;
                if (i == 0) c2 += c * c;
            }
            h.X[i * d + j] = (float)x;
            h.Y[i * d + j] = (float)y;
        }
    for (int i = 0; i < n; i++) /* Y += X · W0, W0[t][j] = (t + j) mod 4 − 1 */
        for (int j = 0; j < d; j++)
            for (int t = 0; t < d; t++) h.Y[i * d + j] += h.X[i * d + t] * (float)((t + j) % 4 - 1);
    h.resid = sqrt(n * c2);
    return h;
}

static void check_hadamard(int n, int d, int r, int q) {
    Hcase h = hadamard_case(n, d, r, q);
    double res = -1;
    int rank = -1;
    cr_assert_eq(linprobe_lsq(h.X, h.Y, n, d, -1, &res, &rank, err, sizeof err), 0, "%s", err);
    cr_expect_eq(rank, r, "(%d, %d) rank %d, by construction %d", n, d, rank, r);
    double tol = 1e-12 * frob(h.Y, (size_t)n * d); /* relative to ‖Y‖_F */
    cr_expect(fabs(res - h.resid) <= tol, "(%d, %d, r %d) residual %.17g, by construction %.17g", n, d, r, res,
              h.resid);
    free(h.X), free(h.Y);
}

Test(linprobe, lsq_exact_fit) { check_hadamard(16, 5, 5, 0); }
Test(linprobe, lsq_orthogonal_residual) { check_hadamard(16, 5, 5, 3); }
Test(linprobe, lsq_rank_deficient) { check_hadamard(16, 5, 2, 2); }
Test(linprobe, lsq_square_full_rank) { check_hadamard(8, 8, 8, 0); }
Test(linprobe, lsq_sizes_past_eight) { check_hadamard(64, 20, 12, 30); }

/* n < d with X = B · H[0:n, :] (n, d), B unit lower triangular: full row rank
 * n, so every Y is fitted exactly (residual 0 up to 1e-12·‖Y‖_F). */
Test(linprobe, lsq_wide_full_row_rank) {
    enum { N = 4, D = 8 };
    float X[N * D], Y[N * D];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            double x = 0;
            for (int t = 0; t <= i; t++) x += (t == i ? 1 : (i + t) % 3 - 1) * hadamard(t, j);
            X[i * D + j] = (float)x;
            Y[i * D + j] = (float)((3 * i + 5 * j) % 7 - 3);
        }
    double res = -1;
    int rank = -1;
    cr_assert_eq(linprobe_lsq(X, Y, N, D, -1, &res, &rank, err, sizeof err), 0, "%s", err);
    cr_expect_eq(rank, N);
    cr_expect(res <= 1e-12 * frob(Y, N * D), "residual %.3g of a full-row-rank wide X", res);
}

/* rcond: X = H[:, 0:5] diag(1, 1, 1, 1, 2⁻¹⁰) (16, 5) has singular values
 * 4, 4, 4, 4, 2⁻⁸; Y = X (W0 = I). The default rcond keeps all five (residual
 * 0); rcond = 1e-2 drops the last (threshold 0.04 > 2⁻⁸), leaving exactly the
 * component of Y along it, ‖X[:, 4]‖ = 4·2⁻¹⁰, as residual. */
Test(linprobe, lsq_rcond_truncates) {
    enum { N = 16, D = 5 };
    float X[N * D];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) X[i * D + j] = (float)(hadamard(i, j) * (j == 4 ? ldexp(1, -10) : 1));
    double res;
    int rank;
    cr_assert_eq(linprobe_lsq(X, X, N, D, -1, &res, &rank, err, sizeof err), 0, "%s", err);
    cr_expect_eq(rank, 5);
    cr_expect(res <= 1e-12 * frob(X, N * D), "default rcond: residual %.3g", res);
    cr_assert_eq(linprobe_lsq(X, X, N, D, 1e-2, &res, &rank, err, sizeof err), 0, "%s", err);
    cr_expect_eq(rank, 4);
    cr_expect(fabs(res - 4 * ldexp(1, -10)) <= 1e-12, "rcond 1e-2: residual %.17g, expected 2^-8", res);
}

/* Same input, same bits (the determinism contract). */
Test(linprobe, deterministic) {
    Hcase h = hadamard_case(64, 20, 12, 30);
    double a[20], b[20], ra, rb;
    int na, nb, ka, kb;
    cr_assert_eq(linprobe_diff_sv(h.X, h.Y, 64, 20, 20, a, &na, err, sizeof err), 0, "%s", err);
    cr_assert_eq(linprobe_diff_sv(h.X, h.Y, 64, 20, 20, b, &nb, err, sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_eq(linprobe_lsq(h.X, h.Y, 64, 20, -1, &ra, &ka, err, sizeof err), 0, "%s", err);
    cr_assert_eq(linprobe_lsq(h.X, h.Y, 64, 20, -1, &rb, &kb, err, sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(&ra, &rb, sizeof ra), 0);
    cr_assert_eq(ka, kb);
    free(h.X), free(h.Y);
}

/* ---- errors ---- */

Test(linprobe, refuses_nan_inf_and_empty) {
    float X[6] = {1, 2, 3, 4, 5, 6}, Y[6] = {0};
    double sv[3], res;
    int nsv, rank;
    X[4] = NAN;
    cr_expect_eq(linprobe_diff_sv(X, Y, 2, 3, 3, sv, &nsv, err, sizeof err), -1);
    cr_expect(strstr(err, "X[1][1] is not finite"), "%s", err);
    cr_expect_eq(linprobe_lsq(X, Y, 2, 3, -1, &res, &rank, err, sizeof err), -1);
    cr_expect(strstr(err, "X[1][1] is not finite"), "%s", err);
    X[4] = 5, Y[2] = -INFINITY;
    cr_expect_eq(linprobe_diff_sv(X, Y, 2, 3, 3, sv, &nsv, err, sizeof err), -1);
    cr_expect(strstr(err, "Y[0][2] is not finite"), "%s", err);
    cr_expect_eq(linprobe_lsq(X, Y, 2, 3, -1, &res, &rank, err, sizeof err), -1);
    cr_expect(strstr(err, "Y[0][2] is not finite"), "%s", err);
    Y[2] = 0;
    cr_expect_eq(linprobe_diff_sv(X, Y, 0, 3, 3, sv, &nsv, err, sizeof err), -1);
    cr_expect(strstr(err, "n = 0"), "%s", err);
    cr_expect_eq(linprobe_lsq(X, Y, 0, 3, -1, &res, &rank, err, sizeof err), -1);
    cr_expect(strstr(err, "n = 0"), "%s", err);
    cr_expect_eq(linprobe_lsq(X, Y, 2, 0, -1, &res, &rank, err, sizeof err), -1);
    cr_expect(strstr(err, "d = 0"), "%s", err);
    cr_expect_eq(linprobe_diff_sv(X, Y, 2, 3, -1, sv, &nsv, err, sizeof err), -1);
    cr_expect(strstr(err, "top"), "%s", err);
}
