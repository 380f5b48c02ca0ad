/* Tests of harness/stats.c: summary, paired one-tailed t-test, Holm. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "stats.h"

#define REL_EQ(x, e, rel) cr_assert(fabs((x) - (e)) <= (rel) * fabs(e), "%s = %.10g, expected %.10g", #x, (double)(x), (double)(e))
#define ABS_EQ(x, e, tol) cr_assert(fabs((x) - (e)) <= (tol), "%s = %.10g, expected %.10g", #x, (double)(x), (double)(e))

Test(stats, summary_sample_sd) {
    double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    Summary s = stats_summary(x, 8);
    cr_assert_eq(s.n, 8);
    ABS_EQ(s.mean, 5.0, 1e-12);
    /* sum of squares 32, n - 1 = 7 */
    REL_EQ(s.sd, sqrt(32.0 / 7.0), 1e-12);
}

Test(stats, summary_small_n) {
    Summary s0 = stats_summary(NULL, 0);
    cr_assert_eq(s0.n, 0);
    cr_assert_eq(s0.mean, 0.0);
    cr_assert_eq(s0.sd, 0.0);
    double one = 3.5;
    Summary s1 = stats_summary(&one, 1);
    cr_assert_eq(s1.n, 1);
    cr_assert_eq(s1.mean, 3.5);
    cr_assert_eq(s1.sd, 0.0);
}

Test(stats, paired_t_golden) {
    double a[] = {.712, .698, .731, .705, .720};
    double b[] = {.701, .690, .716, .702, .709};
    PairedT r = stats_paired_t(a, b, 5);
    cr_assert_eq(r.n, 5);
    REL_EQ(r.t, 4.8242, 1e-4);
    REL_EQ(r.p, 0.0042486, 1e-4);
    ABS_EQ(r.df, 4.0, 0);
    REL_EQ(r.mean_diff, 0.0096, 1e-9);
    REL_EQ(r.sd_diff, sqrt(79.2e-6 / 4), 1e-9);
    cr_assert_null(r.note);
}

Test(stats, paired_t_is_one_tailed) {
    /* swapping the sides flips t and gives p' = 1 - p */
    double a[] = {.712, .698, .731, .705, .720};
    double b[] = {.701, .690, .716, .702, .709};
    PairedT r = stats_paired_t(b, a, 5);
    REL_EQ(r.t, -4.8242, 1e-4);
    REL_EQ(r.p, 1 - 0.0042486, 1e-6);
}

Test(stats, paired_t_percent_scale_invariant) {
    double a[] = {71.2, 69.8, 73.1, 70.5, 72.0};
    double b[] = {70.1, 69.0, 71.6, 70.2, 70.9};
    PairedT r = stats_paired_t(a, b, 5);
    REL_EQ(r.t, 4.8242, 1e-4);
    REL_EQ(r.p, 0.0042486, 1e-4);
}

Test(stats, paired_t_zero_variance_positive) {
    double a[] = {0.6, 0.7, 0.8};
    double b[] = {0.5, 0.6, 0.7}; /* d = 0.1 each, up to rounding */
    PairedT r = stats_paired_t(a, b, 3);
    cr_assert(isinf(r.t) && r.t > 0, "t = %g", r.t);
    cr_assert_eq(r.p, 0.0);
    cr_assert_str_eq(r.note, "zero variance");
    cr_assert(!isnan(r.mean_diff) && !isnan(r.df));
}

Test(stats, paired_t_zero_variance_negative) {
    double a[] = {50, 60, 70};
    double b[] = {52, 62, 72};
    PairedT r = stats_paired_t(a, b, 3);
    cr_assert(isinf(r.t) && r.t < 0, "t = %g", r.t);
    cr_assert_eq(r.p, 1.0);
    cr_assert_str_eq(r.note, "zero variance");
}

Test(stats, paired_t_identical) {
    double a[] = {50, 60, 70, 80};
    PairedT r = stats_paired_t(a, a, 4);
    cr_assert_eq(r.t, 0.0);
    cr_assert_eq(r.p, 0.5);
    cr_assert_eq(r.mean_diff, 0.0);
    cr_assert_str_eq(r.note, "identical");
}

Test(stats, paired_t_n_below_2) {
    double a[] = {0.9}, b[] = {0.1};
    PairedT r1 = stats_paired_t(a, b, 1);
    cr_assert_eq(r1.n, 1);
    cr_assert_eq(r1.t, 0.0);
    cr_assert_eq(r1.p, 1.0);
    cr_assert_str_eq(r1.note, "n<2");
    PairedT r0 = stats_paired_t(NULL, NULL, 0);
    cr_assert_eq(r0.n, 0);
    cr_assert_eq(r0.t, 0.0);
    cr_assert_eq(r0.p, 1.0);
    cr_assert_str_eq(r0.note, "n<2");
}

Test(stats, paired_t_never_nan) {
    double a[] = {1, 2, 3, 4, 5}, b[] = {1, 1, 1, 1, 1e-300};
    for (int n = 0; n <= 5; n++) {
        PairedT r = stats_paired_t(a, b, n);
        cr_assert(!isnan(r.t) && !isnan(r.p) && !isnan(r.mean_diff) && !isnan(r.sd_diff), "n=%d", n);
        cr_assert(r.p >= 0 && r.p <= 1, "n=%d p=%g", n, r.p);
    }
}

Test(stats, holm_golden) {
    double p[] = {0.01, 0.04, 0.03, 0.005}, adj[4];
    stats_holm(p, 4, adj);
    double want[] = {0.03, 0.06, 0.06, 0.02};
    for (int i = 0; i < 4; i++) ABS_EQ(adj[i], want[i], 1e-12);
}

Test(stats, holm_cap_and_monotone) {
    double p[] = {0.5, 0.2, 0.9, 0.01, NAN}, adj[5];
    stats_holm(p, 5, adj);
    /* sorted: .01*5=.05, .2*4=.8, .5*3=1.5→1, .9*2=1.8→1, NaN→1 */
    ABS_EQ(adj[3], 0.05, 1e-12);
    ABS_EQ(adj[1], 0.8, 1e-12);
    ABS_EQ(adj[0], 1.0, 0);
    ABS_EQ(adj[2], 1.0, 0);
    ABS_EQ(adj[4], 1.0, 0);
    for (int i = 0; i < 5; i++) cr_assert(adj[i] >= p[i] || isnan(p[i]));
}

Test(stats, holm_single_and_ties) {
    double p1[] = {0.03}, a1[1];
    stats_holm(p1, 1, a1);
    ABS_EQ(a1[0], 0.03, 1e-15);
    double p2[] = {0.02, 0.02}, a2[2];
    stats_holm(p2, 2, a2);
    ABS_EQ(a2[0], 0.04, 1e-15);
    ABS_EQ(a2[1], 0.04, 1e-15);
}

/* ---- d_z, the 95% confidence interval and the lower tail ----
 * Golden values computed independently of GSL: mean and sd with Python's
 * statistics module; t quantiles t(0.975, df) from closed forms of
 * Student's t CDF: df = 1: tan(0.475 pi) = 12.706204736; df = 2: t / sqrt(t^2
 * + 2) = 0.95, t = sqrt(1.805 / 0.0975) = 4.302652730; df = 4: F(t) = 1/2 +
 * (3/4) x (1 - x^2/3), x = t / sqrt(4 + t^2), solved by bisection:
 * 2.776445105 (tables: 12.706, 4.303, 2.776). */

Test(stats, t975_against_closed_forms) {
    REL_EQ(stats_t975(1), 12.706204736174696, 1e-9);
    REL_EQ(stats_t975(2), 4.302652729749464, 1e-9);
    REL_EQ(stats_t975(4), 2.776445105197793, 1e-9);
    cr_assert_eq(stats_t975(0), 0.0);
}

Test(stats, dz_and_ci_golden) {
    /* d = 1.1 0.8 1.5 0.3 1.1: mean 0.96, sd 0.44497190922574, d_z 2.15743956,
     * CI 0.96 -+ 2.776445105 * sd / sqrt(5) = [0.40749440, 1.51250560] */
    double a[] = {71.2, 69.8, 73.1, 70.5, 72.0};
    double b[] = {70.1, 69.0, 71.6, 70.2, 70.9};
    PairedT r = stats_paired_t(a, b, 5);
    REL_EQ(r.dz, 2.157439559882366, 1e-9);
    REL_EQ(r.ci_lo, 0.4074944001024031, 1e-8);
    REL_EQ(r.ci_hi, 1.5125055998975956, 1e-8);
    /* the same on the fraction scale: d_z is scale-free, the CI scales */
    double af[] = {.712, .698, .731, .705, .720};
    double bf[] = {.701, .690, .716, .702, .709};
    PairedT f = stats_paired_t(af, bf, 5);
    REL_EQ(f.dz, 2.157439559882366, 1e-8);
    REL_EQ(f.ci_lo, 0.004074944001024059, 1e-8);
    REL_EQ(f.ci_hi, 0.015125055998975956, 1e-8);
}

Test(stats, ci_df2_crosses_zero) {
    /* d = 1 1.5 0.5: mean 1, sd 0.5, d_z 2, CI 1 -+ 4.302652730 * 0.5/sqrt(3) */
    double a[] = {3.0, 5.0, 4.5}, b[] = {2.0, 3.5, 4.0};
    PairedT r = stats_paired_t(a, b, 3);
    REL_EQ(r.dz, 2.0, 1e-12);
    REL_EQ(r.ci_lo, -0.24206885587516558, 1e-8);
    REL_EQ(r.ci_hi, 2.2420688558751656, 1e-8);
    /* df = 2: P(T >= 2 sqrt 3) = 1/2 - t / (2 sqrt(t^2 + 2)), t = 3.4641016 */
    double t = 2 * sqrt(3.0);
    REL_EQ(r.t, t, 1e-12);
    REL_EQ(r.p, 0.5 - t / (2 * sqrt(t * t + 2)), 1e-9);
}

Test(stats, lower_tail) {
    /* tail -1 tests a < b: p = P(T <= t); every other field as tail +1 */
    double a[] = {3.0, 5.0, 4.5}, b[] = {2.0, 3.5, 4.0};
    PairedT up = stats_paired_t_tail(a, b, 3, +1), lo = stats_paired_t_tail(a, b, 3, -1);
    double t = 2 * sqrt(3.0);
    REL_EQ(lo.p, 0.5 + t / (2 * sqrt(t * t + 2)), 1e-9);
    REL_EQ(lo.p + up.p, 1.0, 1e-12);
    cr_assert_eq(lo.t, up.t);
    cr_assert_eq(lo.dz, up.dz);
    cr_assert_eq(lo.ci_lo, up.ci_lo);
    cr_assert_eq(lo.mean_diff, up.mean_diff);
    /* b < a is a success for tail -1 on (b, a) */
    PairedT sw = stats_paired_t_tail(b, a, 3, -1);
    REL_EQ(sw.p, up.p, 1e-12);
}

Test(stats, dz_ci_edge_cases) {
    double a[] = {0.6, 0.7, 0.8}, b[] = {0.5, 0.6, 0.7};
    PairedT z = stats_paired_t(a, b, 3); /* zero variance, better */
    cr_assert(isinf(z.dz) && z.dz > 0, "dz = %g", z.dz);
    REL_EQ(z.ci_lo, 0.1, 1e-9);
    cr_assert_eq(z.ci_lo, z.ci_hi);
    PairedT zl = stats_paired_t_tail(a, b, 3, -1); /* zero variance, worse for tail -1 */
    cr_assert_eq(zl.p, 1.0);
    PairedT zl2 = stats_paired_t_tail(b, a, 3, -1); /* better for tail -1 */
    cr_assert_eq(zl2.p, 0.0);
    cr_assert(isinf(zl2.t) && zl2.t < 0);
    PairedT id = stats_paired_t(a, a, 3);
    cr_assert_eq(id.dz, 0.0);
    cr_assert_eq(id.ci_lo, 0.0);
    cr_assert_eq(id.ci_hi, 0.0);
    PairedT one = stats_paired_t(a, b, 1);
    cr_assert_eq(one.dz, 0.0);
    REL_EQ(one.ci_lo, 0.1, 1e-12);
    cr_assert_eq(one.ci_lo, one.ci_hi);
    cr_assert_str_eq(one.note, "n<2");
    for (int n = 0; n <= 3; n++) {
        PairedT r = stats_paired_t_tail(a, b, n, -1);
        cr_assert(!isnan(r.dz) && !isnan(r.ci_lo) && !isnan(r.ci_hi), "n=%d", n);
    }
}
