/* Summary statistics, the paired t-test and Holm's adjustment. See stats.h. */
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

PairedT stats_paired_t(const double *a, const double *b, int n) {
    PairedT r = {n > 0 ? n : 0, 0, 0, 0, 0, 1, NULL};
    if (n < 2) {
        if (n == 1) r.mean_diff = a[0] - b[0];
        r.note = "n<2";
        return r;
    }
    double *d = malloc((size_t)n * sizeof *d);
    double maxabs = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double v = a[i] - b[i];
        if (d) d[i] = v;
        sum += v;
        if (fabs(v) > maxabs) maxabs = fabs(v);
    }
    double mean = sum / n, ss = 0;
    for (int i = 0; i < n; i++) {
        double v = d ? d[i] : a[i] - b[i];
        ss += (v - mean) * (v - mean);
    }
    free(d);
    r.mean_diff = mean;
    r.sd_diff = sqrt(ss / (n - 1));
    r.df = n - 1;
    double scale = fmax(1.0, fmax(fabs(mean), maxabs));
    if (r.sd_diff <= 1e-12 * scale) {
        r.sd_diff = 0;
        if (maxabs <= 1e-12 * scale || mean == 0) {
            r.mean_diff = 0;
            r.t = 0;
            r.p = 0.5;
            r.note = "identical";
        } else if (mean > 0) {
            r.t = HUGE_VAL;
            r.p = 0;
            r.note = "zero variance";
        } else {
            r.t = -HUGE_VAL;
            r.p = 1;
            r.note = "zero variance";
        }
        return r;
    }
    r.t = mean / (r.sd_diff / sqrt((double)n));
    r.p = gsl_cdf_tdist_Q(r.t, r.df);
    if (!(r.p >= 0)) r.p = 1; /* NaN guard, should not happen */
    if (r.p > 1) r.p = 1;
    return r;
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
