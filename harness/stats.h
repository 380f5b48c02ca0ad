/* Statistics for the report (ARCHITECTURE.md "Statistics").
 *
 * mean ± sample standard deviation (n − 1 denominator), the paired
 * one-tailed t-test of a > b, and Holm's step-down adjustment of a family of
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
    double p;         /* one-tailed P(T >= t) under H0 */
    const char *note; /* NULL, or a static string naming the edge case */
} PairedT;

/* Paired one-tailed t-test of a > b on the pairs (a[i], b[i]), i < n.
 * d = a − b, t = mean(d)/(sd(d)/√n), df = n − 1, p = P(T_df >= t).
 * Edge cases (never NaN):
 *   n < 2                       t = 0, p = 1, note "n<2"
 *   sd(d) = 0, mean(d) > 0      t = +HUGE_VAL, p = 0, note "zero variance"
 *   sd(d) = 0, mean(d) < 0      t = −HUGE_VAL, p = 1, note "zero variance"
 *   sd(d) = 0, mean(d) = 0      t = 0, p = 0.5, note "identical"
 * sd(d) counts as 0 when it is below 1e-12 × max(1, |mean(d)|, max |d|), so
 * rounding noise in equal differences is not read as a huge t. */
PairedT stats_paired_t(const double *a, const double *b, int n);

/* Holm step-down adjusted p-values of the family p[0..m) into adj[0..m)
 * (adj may not alias p). adj follows the input order, is monotone in the
 * order of the raw p-values and capped at 1. NaN inputs count as 1. m <= 0
 * does nothing. */
void stats_holm(const double *p, int m, double *adj);

#endif
