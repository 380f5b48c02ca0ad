/* Statistics for the report (ARCHITECTURE.md "Statistics").
 *
 * mean ± sample standard deviation (n − 1 denominator), the paired
 * one-tailed t-test of a > b (or a < b) with Cohen's d_z and the 95%
 * confidence interval of the mean difference, and Holm's step-down adjustment of a family of
 * p-values. Every edge case (n < 2, zero variance) gives a stated result,
 * never NaN. */
#ifndef HARNESS_STATS_H
#define HARNESS_STATS_H

typedef struct {
    double mean, sd; /* sd: sample standard deviation, n − 1 denominator */
    int n;
} Summary;

/* Mean and sample sd of x[0..n). n <= 0 gives mean 0, sd 0; n == 1 gives
 * sd 0. x may be NULL when n <= 0. */
Summary stats_summary(const double *x, int n);

typedef struct {
    int n;            /* number of pairs */
    double mean_diff; /* mean of d = a − b */
    double sd_diff;   /* sample sd of d */
    double t;         /* mean(d) / (sd(d)/√n); ±HUGE_VAL when sd(d) = 0, mean(d) ≠ 0 */
    double df;        /* n − 1 (0 when n < 2) */
    double p;         /* one-tailed p in the direction tested (see stats_paired_t_tail) */
    double dz;        /* Cohen's d_z = mean(d)/sd(d); ±HUGE_VAL when sd(d) = 0, mean(d) ≠ 0 */
    double ci_lo, ci_hi; /* two-sided 95% confidence interval of mean(d):
                            mean(d) ± t_{0.975, n−1} · sd(d)/√n */
    const char *note; /* NULL, or a static string naming the edge case */
} PairedT;

/* Paired one-tailed t-test on the pairs (a[i], b[i]), i < n, of a > b
 * (tail = +1: p = P(T_df >= t)) or of a < b (tail = −1: p = P(T_df <= t)),
 * with Cohen's d_z and the 95% confidence interval of the mean difference
 * (t quantile from GSL's gsl_cdf_tdist_Pinv). Every field but p is the same
 * for both tails: d = a − b, t = mean(d)/(sd(d)/√n), df = n − 1.
 * Edge cases (never NaN; "better" = d > 0 for tail +1, d < 0 for tail −1):
 *   n < 2                       t = 0, p = 1, dz = 0, ci_lo = ci_hi = mean(d)
 *                               (0 when n = 0), note "n<2": no test, a
 *                               report shows "—" rather than these values
 *   sd(d) = 0, mean(d) better   t = dz = ±HUGE_VAL (sign of mean(d)), p = 0,
 *                               ci_lo = ci_hi = mean(d), note "zero variance"
 *   sd(d) = 0, mean(d) worse    the same with p = 1
 *   sd(d) = 0, mean(d) = 0      t = 0, dz = 0, p = 0.5, ci 0..0, note "identical"
 * sd(d) counts as 0 when it is below 1e-12 × max(1, |mean(d)|, max |d|), so
 * rounding noise in equal differences is not read as a huge t. tail other
 * than −1 counts as +1. */
PairedT stats_paired_t_tail(const double *a, const double *b, int n, int tail);

/* stats_paired_t_tail(a, b, n, +1): the one-tailed test of a > b. */
PairedT stats_paired_t(const double *a, const double *b, int n);

/* The two-sided 95% quantile t_{0.975, df} of Student's t (GSL), df > 0;
 * 0 for df <= 0. */
double stats_t975(double df);

/* Holm step-down adjusted p-values of the family p[0..m) into adj[0..m)
 * (adj may not alias p). adj follows the input order, is monotone in the
 * order of the raw p-values and capped at 1. NaN inputs count as 1. m <= 0
 * does nothing. */
void stats_holm(const double *p, int m, double *adj);

#endif
