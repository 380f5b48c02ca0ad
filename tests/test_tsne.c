/* Tests of analysis/tsne*.c: t-SNE (exact and Barnes-Hut) and
 * trustworthiness. Small problems only (the whole file runs in a few
 * seconds on one core). */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "tsne.h"
#include "tsne_impl.h"

#define NC 4  /* clusters */
#define NP 50 /* points per cluster */
#define NDIM 20
#define NPTS (NC * NP)

/* 4 Gaussian clusters of 50 points in 20-D: centres N(0, 10² I), points
 * centre + N(0, I). Centres are ~63 apart, clusters ~6 wide. Point i is in
 * cluster i / NP. */
static float *clusters(uint64_t seed) {
    float *X = malloc(sizeof(float) * NPTS * NDIM);
    double c[NC][NDIM];
    Rng r = rng_stream(seed, "test_clusters");
    for (int k = 0; k < NC; k++)
        for (int j = 0; j < NDIM; j++) c[k][j] = 10 * rng_normal(&r);
    for (int i = 0; i < NPTS; i++)
        for (int j = 0; j < NDIM; j++) X[i * NDIM + j] = (float)(c[i / NP][j] + rng_normal(&r));
    return X;
}

/* Number of points whose nearest neighbour in Y (n, 2) is in another cluster. */
static int mixed_neighbours(const double *Y, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int best = -1;
        double bd = INFINITY;
        for (int j = 0; j < n; j++) {
            double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1], d = dx * dx + dy * dy;
            if (j != i && d < bd) bd = d, best = j;
        }
        bad += best / NP != i / NP;
    }
    return bad;
}

static TsneOpts quick(int iters) {
    TsneOpts o = tsne_defaults();
    o.iters = iters;
    return o;
}

static double embed_and_trust(const TsneOpts *o, double *Y, int *bad) {
    float *X = clusters(1);
    char err[256] = "";
    double kl = NAN;
    cr_assert_eq(tsne_run(X, NPTS, NDIM, o, Y, &kl, err, sizeof err), 0, "%s", err);
    cr_assert(isfinite(kl) && kl > 0, "kl = %g", kl);
    double t = tsne_trustworthiness(X, NPTS, NDIM, Y, 2, 5);
    *bad = mixed_neighbours(Y, NPTS);
    free(X);
    return t;
}

Test(tsne, defaults_are_the_references) {
    TsneOpts o = tsne_defaults();
    cr_assert_eq(o.perplexity, 30);
    cr_assert_eq(o.iters, 1000);
    cr_assert_eq(o.seed, 82);
    cr_assert_eq(o.learning_rate, 200);
    cr_assert_eq(o.early_exaggeration, 12);
    cr_assert_eq(o.exact_max, 5000);
    cr_assert_eq(o.theta, 0.5);
    cr_assert_null(o.progress);
}

Test(tsne, exact_separates_clusters) {
    TsneOpts o = quick(500);
    double Y[2 * NPTS];
    int bad;
    double t = embed_and_trust(&o, Y, &bad);
    cr_assert(t >= 0.9, "trustworthiness %g", t);
    cr_assert_eq(bad, 0, "%d points have a nearest neighbour from another cluster", bad);
}

Test(tsne, barnes_hut_separates_clusters_like_exact) {
    TsneOpts o = quick(500);
    double Y[2 * NPTS];
    int bad_exact, bad_bh;
    double t_exact = embed_and_trust(&o, Y, &bad_exact);
    o.exact_max = 10; /* forces Barnes-Hut */
    double t_bh = embed_and_trust(&o, Y, &bad_bh);
    cr_assert(t_bh >= 0.9, "trustworthiness %g", t_bh);
    cr_assert_eq(bad_bh, 0, "%d points have a nearest neighbour from another cluster", bad_bh);
    cr_assert(fabs(t_bh - t_exact) <= 0.03, "Barnes-Hut %g, exact %g", t_bh, t_exact);
}

/* Y of a short run on the clusters, with the given seed, threads and path. */
static void short_run(uint64_t seed, int threads, int exact_max, double *Y) {
    float *X = clusters(2);
    TsneOpts o = quick(300);
    o.seed = seed;
    o.exact_max = exact_max;
    char err[256] = "";
    omp_set_num_threads(threads);
    int rc = tsne_run(X, NPTS, NDIM, &o, Y, NULL, err, sizeof err);
    omp_set_num_threads(1);
    free(X);
    cr_assert_eq(rc, 0, "%s", err);
}

static void check_deterministic(int exact_max) {
    double a[2 * NPTS], b[2 * NPTS], c[2 * NPTS], t2[2 * NPTS];
    short_run(82, 1, exact_max, a);
    short_run(82, 1, exact_max, b);
    short_run(83, 1, exact_max, c);
    short_run(82, 2, exact_max, t2);
    cr_assert(memcmp(a, b, sizeof a) == 0, "same seed, different bits");
    cr_assert(memcmp(a, t2, sizeof a) == 0, "1 and 2 threads give different bits");
    cr_assert(memcmp(a, c, sizeof a) != 0, "another seed gave the same embedding");
}

Test(tsne, deterministic_exact) { check_deterministic(5000); }
Test(tsne, deterministic_barnes_hut) { check_deterministic(10); }

typedef struct Calls { int n, iter[8]; double kl[8]; } Calls;

static void record(int iter, int iters, double kl, void *ctx) {
    Calls *c = ctx;
    cr_assert_eq(iters, 120);
    if (c->n < 8) c->iter[c->n] = iter, c->kl[c->n] = kl;
    c->n++;
}

Test(tsne, progress_every_50_steps_and_at_the_end) {
    float *X = clusters(3);
    Calls c = {0};
    TsneOpts o = quick(120);
    o.progress = record;
    o.progress_ctx = &c;
    double Y[2 * NPTS], kl = NAN;
    char err[256] = "";
    cr_assert_eq(tsne_run(X, NPTS, NDIM, &o, Y, &kl, err, sizeof err), 0, "%s", err);
    free(X);
    cr_assert_eq(c.n, 3);
    cr_assert_eq(c.iter[0], 50);
    cr_assert_eq(c.iter[1], 100);
    cr_assert_eq(c.iter[2], 120);
    cr_assert_eq(c.kl[2], kl, "last progress kl %g, returned %g", c.kl[2], kl);
    cr_assert(c.kl[0] > 0 && isfinite(c.kl[0]));
}

/* ---- affinities and gradients (tsne_impl.h) ---- */

/* n points of N(0, I) in d dims, doubles. */
static double *gauss(int n, int d, uint64_t seed) {
    double *X = malloc(sizeof(double) * n * d);
    Rng r = rng_stream(seed, "test_gauss");
    for (int k = 0; k < n * d; k++) X[k] = rng_normal(&r);
    return X;
}

Test(tsne, row_affinities_hit_the_perplexity) {
    /* perplexity = exp(entropy in nats) of the returned distribution */
    double d2[40], p[40];
    Rng r = rng_stream(5, "test_d2");
    for (int j = 0; j < 40; j++) d2[j] = 10 * rng_uniform(&r);
    for (double perp = 2; perp <= 20; perp *= 2) {
        tsne_row_affinities(d2, 40, perp, p);
        double h = 0, s = 0;
        for (int j = 0; j < 40; j++) {
            s += p[j];
            if (p[j] > 0) h -= p[j] * log(p[j]);
        }
        cr_assert(fabs(s - 1) < 1e-12, "sum %g", s);
        cr_assert(fabs(h - log(perp)) <= 1e-5, "entropy %g, want log(%g) = %g", h, perp, log(perp));
    }
}

Test(tsne, dense_p_is_symmetric_and_normalised) {
    int n = 30;
    double *X = gauss(n, 5, 1), *P = malloc(sizeof(double) * n * n);
    cr_assert_eq(tsne_dense_p(X, n, 5, 5, P), 0);
    double s = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(P[i * n + i], 0);
        for (int j = 0; j < n; j++) {
            cr_assert_eq(P[i * n + j], P[j * n + i]);
            s += P[i * n + j];
        }
    }
    cr_assert(fabs(s - 1) < 1e-12, "sum %g", s);
    free(X);
    free(P);
}

/* Dense (n, n) copy of a sparse P; also checks symmetry and Σ = 1. */
static double *densify(const TsneSparseP *sp, int n) {
    double *P = calloc((size_t)n * n, sizeof *P), s = 0;
    for (int i = 0; i < n; i++)
        for (int k = sp->row[i]; k < sp->row[i + 1]; k++) {
            cr_assert(sp->col[k] != i);
            if (k > sp->row[i]) cr_assert(sp->col[k] > sp->col[k - 1], "columns not increasing");
            P[i * n + sp->col[k]] = sp->val[k];
            s += sp->val[k];
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) cr_assert_eq(P[i * n + j], P[j * n + i]);
    cr_assert(fabs(s - 1) < 1e-12, "sum %g", s);
    return P;
}

Test(tsne, exact_gradient_is_a_quarter_of_finite_differences) {
    /* central differences of KL(P‖Q) in each coordinate, h = 1e-5 */
    int n = 30;
    double *X = gauss(n, 5, 2), *Y = gauss(n, 2, 3), P[30 * 30], dY[60], work[150];
    cr_assert_eq(tsne_dense_p(X, n, 5, 5, P), 0);
    tsne_exact_grad(P, n, 1, Y, dY, work);
    for (int k = 0; k < 2 * n; k++) {
        double y = Y[k], h = 1e-5;
        Y[k] = y + h;
        double up = tsne_exact_kl(P, n, Y, work);
        Y[k] = y - h;
        double dn = tsne_exact_kl(P, n, Y, work);
        Y[k] = y;
        double fd = (up - dn) / (2 * h);
        cr_assert(fabs(4 * dY[k] - fd) <= 1e-6 + 1e-5 * fabs(fd), "coord %d: 4*grad %g, fd %g", k, 4 * dY[k], fd);
    }
    free(X);
    free(Y);
}

/* Barnes-Hut gradient and KL against the exact ones on the same (sparse) P. */
static void bh_vs_exact(double *Y, int n, double theta, double tol) {
    double *X = gauss(n, 6, 4), *dYb = malloc(sizeof(double) * 2 * n), *dYe = malloc(sizeof(double) * 2 * n);
    double *work = malloc(sizeof(double) * 5 * n);
    TsneSparseP sp;
    cr_assert_eq(tsne_sparse_p(X, n, 6, 10, &sp), 0);
    double *P = densify(&sp, n), klb, gmax = 0, emax = 0;
    TsneBh *b = tsne_bh_new(n);
    cr_assert_eq(tsne_bh_grad(b, &sp, 3, theta, Y, dYb, &klb), 0);
    tsne_exact_grad(P, n, 3, Y, dYe, work);
    double kle = tsne_exact_kl(P, n, Y, work);
    for (int k = 0; k < 2 * n; k++) gmax = fmax(gmax, fabs(dYe[k])), emax = fmax(emax, fabs(dYb[k] - dYe[k]));
    cr_assert(emax <= tol * gmax, "theta %g: max |BH - exact| %g, max |exact| %g", theta, emax, gmax);
    cr_assert(fabs(klb - kle) <= tol * fabs(kle), "theta %g: KL BH %g, exact %g", theta, klb, kle);
    tsne_bh_free(b);
    tsne_sparse_free(&sp);
    free(P), free(X), free(dYb), free(dYe), free(work);
}

Test(tsne, barnes_hut_theta_0_is_exact) {
    int n = 80;
    double *Y = gauss(n, 2, 5);
    bh_vs_exact(Y, n, 0, 1e-12);
    /* duplicated points: a leaf holding a point and its copies */
    Y[2 * 7] = Y[2 * 3], Y[2 * 7 + 1] = Y[2 * 3 + 1];
    Y[2 * 9] = Y[2 * 3], Y[2 * 9 + 1] = Y[2 * 3 + 1];
    bh_vs_exact(Y, n, 0, 1e-12);
    free(Y);
}

Test(tsne, barnes_hut_theta_half_is_close) {
    int n = 400;
    double *Y = gauss(n, 2, 6);
    for (int k = 0; k < 2 * n; k++) Y[k] *= 10; /* spread: many cells get summarised */
    bh_vs_exact(Y, n, 0.5, 0.02); /* measured 0.012 */
    free(Y);
}

Test(tsne, sparse_p_uses_3_perplexity_neighbours) {
    /* each row holds its own ⌊3·perplexity⌋ = 30 neighbours, plus the points
     * that have it among theirs: between 30 and n − 1 entries, 2·n·30 in all
     * at most */
    int n = 100;
    double *X = gauss(n, 4, 7);
    TsneSparseP sp;
    cr_assert_eq(tsne_sparse_p(X, n, 4, 10, &sp), 0);
    for (int i = 0; i < n; i++) cr_assert(sp.row[i + 1] - sp.row[i] >= 30 && sp.row[i + 1] - sp.row[i] <= n - 1);
    cr_assert(sp.row[n] <= 2 * n * 30 && sp.row[n] > n * 30);
    double *P = densify(&sp, n);
    free(P);
    tsne_sparse_free(&sp);
    free(X);
}

/* ---- trustworthiness ---- */

Test(tsne, trustworthiness_golden_by_hand) {
    /* 1-D, k = 2. Ranks in X and embedded neighbours worked out by hand: only
     * point 3 (x = 7, e = 7) has strangers among its 2 embedded neighbours,
     * point 1 (rank 3) and point 5 (rank 5): penalty (3−2)+(5−2) = 4, so
     * T = 1 − 4·2/(6·2·(12 − 6 − 1)) = 13/15. sklearn 1.9.1 agrees:
     *   trustworthiness(np.array([0,1,3,7,12,20.])[:,None],
     *                   np.array([0,3,1,7,20,12.])[:,None], n_neighbors=2)
     *   = 0.8666666666666667 */
    float X[] = {0, 1, 3, 7, 12, 20};
    double E[] = {0, 3, 1, 7, 20, 12};
    cr_assert(fabs(tsne_trustworthiness(X, 6, 1, E, 1, 2) - 13.0 / 15) < 1e-12);
}

Test(tsne, trustworthiness_golden_sklearn) {
    /* rs = np.random.RandomState(7); X = np.round(rs.randn(10, 3), 2);
     * E = np.round(X[:, :2] + 0.8 * rs.randn(10, 2), 2);
     * sklearn 1.9.1 trustworthiness(X, E, n_neighbors=k) for k = 1..4 */
    float X[] = {1.69f, -0.47f, 0.03f, 0.41f, -0.79f, 0.0f, -0.0f, -1.75f, 1.02f, 0.6f, -0.63f, -0.17f,
                 0.51f, -0.26f, -0.24f, -1.45f, 0.55f, 0.12f, 0.27f, -1.53f, 1.65f, 0.15f, -0.39f, 2.03f,
                 -0.05f, -1.45f, -0.41f, -2.29f, 1.05f, -0.42f};
    double E[] = {1.1, 0.39, -0.91, -0.36, -1.65, -2.28, -0.36, 0.54, 1.92, -0.52,
                  -0.78, 0.41, 0.72, -2.13, -1.22, -1.83, 0.26, 0.35, -2.07, 0.63};
    double want[] = {0.6499999999999999, 0.7538461538461538, 0.8, 0.7642857142857142};
    for (int k = 1; k <= 4; k++) {
        double t = tsne_trustworthiness(X, 10, 3, E, 2, k);
        cr_assert(fabs(t - want[k - 1]) < 1e-12, "k = %d: %.16g, sklearn %.16g", k, t, want[k - 1]);
    }
}

Test(tsne, trustworthiness_identity_and_random) {
    float *X = clusters(4);
    double *E = malloc(sizeof(double) * NPTS * NDIM), R[2 * NPTS];
    for (int k = 0; k < NPTS * NDIM; k++) E[k] = X[k];
    cr_assert_eq(tsne_trustworthiness(X, NPTS, NDIM, E, NDIM, 5), 1.0);
    Rng r = rng_stream(9, "test_random_embedding");
    for (int k = 0; k < 2 * NPTS; k++) R[k] = rng_normal(&r);
    double t = tsne_trustworthiness(X, NPTS, NDIM, R, 2, 5);
    cr_assert(t < 0.7, "random embedding of clustered data: %g", t);
    free(E);
    free(X);
}

Test(tsne, trustworthiness_bad_arguments) {
    float X[] = {0, 1, 3, 7, 12, 20};
    double E[] = {0, 3, 1, 7, 20, 12};
    cr_assert(isnan(tsne_trustworthiness(X, 6, 1, E, 1, 3)), "k = n/2");
    cr_assert(isnan(tsne_trustworthiness(X, 6, 1, E, 1, 0)), "k = 0");
    cr_assert(isnan(tsne_trustworthiness(NULL, 6, 1, E, 1, 2)), "NULL X");
    E[2] = NAN;
    cr_assert(isnan(tsne_trustworthiness(X, 6, 1, E, 1, 2)), "NaN in E");
}

/* ---- errors ---- */

static void expect_error(const float *X, int n, int d, const TsneOpts *o, const char *what) {
    char err[256] = "";
    double Y[2 * 100];
    cr_assert_eq(tsne_run(X, n, d, o, Y, NULL, err, sizeof err), -1, "%s: accepted", what);
    cr_assert(strlen(err) > 0, "%s: no message", what);
    cr_assert(strstr(err, "tsne") != NULL, "%s: message '%s'", what, err);
}

Test(tsne, errors) {
    float X[100 * 3];
    for (int k = 0; k < 300; k++) X[k] = (float)(k % 7);
    TsneOpts o = tsne_defaults();
    o.perplexity = 5;
    expect_error(X, 1, 3, &o, "n = 1");
    expect_error(X, 15, 3, &o, "3·perplexity = n");
    o.perplexity = 0.5;
    expect_error(X, 100, 3, &o, "perplexity < 1");
    o.perplexity = 5;
    o.iters = -1;
    expect_error(X, 100, 3, &o, "iters < 0");
    o.iters = 10;
    X[40] = NAN;
    expect_error(X, 100, 3, &o, "NaN in X");
    X[40] = INFINITY;
    expect_error(X, 100, 3, &o, "inf in X");
    X[40] = 1;
    char err[256] = "";
    double Y[200];
    cr_assert_eq(tsne_run(X, 16, 3, &o, Y, NULL, err, sizeof err), 0, "%s", err); /* 3·5 < 16 */
}
