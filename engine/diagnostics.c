/* Collapse diagnostics: mean pairwise cosine and effective rank. */
#include "diagnostics.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>

/* 1 when every element of X (len) is finite. */
static int all_finite(const float *X, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!isfinite(X[i])) return 0;
    return 1;
}

double diag_mean_cosine(const float *X, int n, int d) {
    if (n < 2 || !all_finite(X, (size_t)n * d)) return NAN;
    double *s = calloc(d > 0 ? (size_t)d : 1, sizeof(double)), self = 0;
    if (!s) return NAN;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        double nn = 0;
        for (int j = 0; j < d; j++) nn += (double)x[j] * x[j];
        if (nn == 0) continue;               /* zero row: x̂ = 0 */
        double inv = 1.0 / sqrt(nn);
        for (int j = 0; j < d; j++) s[j] += x[j] * inv;
        self += nn * inv * inv;              /* |x̂_i|², 1 up to rounding */
    }
    double tot = 0;
    for (int j = 0; j < d; j++) tot += s[j] * s[j];
    free(s);
    return (tot - self) / ((double)n * (n - 1));
}

int diag_singular_values(const float *X, int n, int d, double *sv) {
    int k = n < d ? n : d;
    if (k <= 0) return 0;
    double *A = malloc((size_t)n * d * sizeof(double));
    if (!A) return -1;
    for (size_t i = 0; i < (size_t)n * d; i++) A[i] = X[i];
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', n, d, A, d, sv, NULL, 1, NULL, 1);
    free(A);
    return info == 0 ? 0 : -1;
}

double diag_effective_rank(const float *X, int n, int d) {
    int k = n < d ? n : d;
    if (k <= 0) return 0.0;
    if (!all_finite(X, (size_t)n * d)) return NAN;
    double *sv = malloc((size_t)k * sizeof(double));
    if (!sv || diag_singular_values(X, n, d, sv)) { free(sv); return NAN; }
    double sum = 0, h = 0;
    for (int i = 0; i < k; i++) sum += sv[i];
    for (int i = 0; i < k && sum > 0; i++) {
        double p = sv[i] / sum;
        if (p > 0) h -= p * log(p);
    }
    free(sv);
    return sum > 0 ? exp(h) : 0.0;
}

DiagStats diag_stats(const float *X, int n, int d) {
    DiagStats s = {diag_mean_cosine(X, n, d), diag_effective_rank(X, n, d)};
    return s;
}
