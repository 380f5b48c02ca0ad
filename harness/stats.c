/* Summary statistics, the paired t-test with d_z and its confidence
 * interval, and Holm's adjustment. See stats.h. */
#include "stats.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>

Summary stats_summary(const double *x, int n) {
    Summary s = {0.0, 0.0, n > 0 ? n : 0};
    if (n <= 0) return s;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += x[i];
    s.mean = sum / n;
    if (n < 2) return s;
    double ss = 0; /* two-pass: stable for values close to each other */
    for (int i = 0; i < n; i++) ss += (x[i] - s.mean) * (x[i] - s.mean);
    s.sd = sqrt(ss / (n - 1));
    return s;
}

double stats_t975(double df) {
    return df > 0 ? gsl_cdf_tdist_Pinv(0.975, df) : 0;
}

/* The zero-variance results of r (mean(d) = mean, max |d| = maxabs). */
static void zero_variance(PairedT *r, double mean, double maxabs, double scale, int tail) {
    r->sd_diff = 0;
    if (maxabs <= 1e-12 * scale || mean == 0) {
        r->mean_diff = 0;
        r->t = r->dz = 0;
        r->p = 0.5;
        r->ci_lo = r->ci_hi = 0;
        r->note = "identical";
        return;
    }
    r->t = r->dz = mean > 0 ? HUGE_VAL : -HUGE_VAL;
    r->p = (mean > 0) == (tail > 0) ? 0 : 1;
    r->ci_lo = r->ci_hi = mean;
    r->note = "zero variance";
}

PairedT stats_paired_t_tail(const double *a, const double *b, int n, int tail) {
    PairedT r = {n > 0 ? n : 0, 0, 0, 0, 0, 1, 0, 0, 0, NULL};
    if (n < 2) {
        if (n == 1) r.mean_diff = r.ci_lo = r.ci_hi = a[0] - b[0];
        r.note = "n<2";
        return r;
    }
    double maxabs = 0, sum = 0;
    for (int i = 0; i < n; i++) {
        double v = a[i] - b[i];
        sum += v;
        if (fabs(v) > maxabs) maxabs = fabs(v);
    }
    double mean = sum / n, ss = 0; /* two-pass: stable for close differences */
    for (int i = 0; i < n; i++) ss += (a[i] - b[i] - mean) * (a[i] - b[i] - mean);
    r.mean_diff = mean;
    r.sd_diff = sqrt(ss / (n - 1));
    r.df = n - 1;
    double scale = fmax(1.0, fmax(fabs(mean), maxabs));
    if (r.sd_diff <= 1e-12 * scale) {
        zero_variance(&r, mean, maxabs, scale, tail);
        return r;
    }
    double se = r.sd_diff / sqrt((double)n), half = stats_t975(r.df) * se;
    r.t = mean / se;
    r.dz = mean / r.sd_diff;
    r.ci_lo = mean - half;
    r.ci_hi = mean + half;
    r.p = tail < 0 ? gsl_cdf_tdist_P(r.t, r.df) : gsl_cdf_tdist_Q(r.t, r.df);
    if (!(r.p >= 0)) r.p = 1; /* NaN guard, should not happen */
    if (r.p > 1) r.p = 1;
    return r;
}

PairedT stats_paired_t(const double *a, const double *b, int n) {
    return stats_paired_t_tail(a, b, n, +1);
}

static double holm_clean(double p) {
    if (!(p >= 0)) return p < 0 ? 0 : 1; /* NaN → 1 */
    return p > 1 ? 1 : p;
}

void stats_holm(const double *p, int m, double *adj) {
    if (m <= 0) return;
    int *idx = malloc((size_t)m * sizeof *idx);
    double *pc = malloc((size_t)m * sizeof *pc);
    if (!idx || !pc) { /* no memory: Bonferroni needs none and is conservative */
        for (int i = 0; i < m; i++) adj[i] = fmin(1.0, holm_clean(p[i]) * m);
        free(idx);
        free(pc);
        return;
    }
    for (int i = 0; i < m; i++) {
        idx[i] = i;
        pc[i] = holm_clean(p[i]);
    }
    /* stable insertion sort of the indices by p (families are small) */
    for (int i = 1; i < m; i++) {
        int v = idx[i], j = i - 1;
        while (j >= 0 && pc[idx[j]] > pc[v]) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = v;
    }
    double run = 0;
    for (int r = 0; r < m; r++) {
        double v = fmin(1.0, (double)(m - r) * pc[idx[r]]);
        if (v > run) run = v;
        adj[idx[r]] = run;
    }
    free(idx);
    free(pc);
}
