/* Collapse diagnostics: mean pairwise cosine and effective rank. */
#include "diagnostics.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

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
    /* row-major X (n, d) is column-major Xᵀ (d, n): same singular values, no transposition */
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', d, n, A, d, sv, NULL, 1, NULL, 1);
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

int diag_collapse(Model *m, const Example *ex, int n, const EncodeOpts *o, int with_pred, Collapse *out, char *err,
                  size_t errn) {
    memset(out, 0, sizeof *out);
    size_t len = (size_t)(n > 0 ? n : 1) * m->cfg.dim;
    float *et = malloc(len * sizeof(float)), *ec = malloc(len * sizeof(float));
    float *pr = with_pred ? malloc(len * sizeof(float)) : NULL;
    int rc = !et || !ec || (with_pred && !pr) ? errf(err, errn, "out of memory (embeddings of %d examples)", n)
                                               : encode(m, ex, n, o, et, pr, ec, err, errn);
    if (!rc) {
        out->n = n;
        out->enc_text = diag_stats(et, n, m->cfg.dim);
        out->enc_code = diag_stats(ec, n, m->cfg.dim);
        if ((out->has_pred = with_pred)) out->pred = diag_stats(pr, n, m->cfg.dim);
    }
    free(et); free(ec); free(pr);
    return rc;
}

/* ",%.6f" of v into buf at *used, or "," alone when skip or v is not finite. */
static void csv_field(char *buf, size_t n, size_t *used, int first, int skip, double v) {
    if (*used >= n) return;
    int w = skip || !isfinite(v) ? snprintf(buf + *used, n - *used, "%s", first ? "" : ",")
                                 : snprintf(buf + *used, n - *used, "%s%.6f", first ? "" : ",", v);
    *used += w > 0 ? (size_t)w : 0;
}

void diag_collapse_csv(const Collapse *c, char *buf, size_t n) {
    size_t used = 0;
    if (n) buf[0] = 0;
    int none = !c, nopred = !c || !c->has_pred;
    csv_field(buf, n, &used, 1, none, none ? 0 : c->enc_text.mean_cos);
    csv_field(buf, n, &used, 0, none, none ? 0 : c->enc_code.mean_cos);
    csv_field(buf, n, &used, 0, nopred, nopred ? 0 : c->pred.mean_cos);
    csv_field(buf, n, &used, 0, none, none ? 0 : c->enc_text.erank);
    csv_field(buf, n, &used, 0, none, none ? 0 : c->enc_code.erank);
    csv_field(buf, n, &used, 0, nopred, nopred ? 0 : c->pred.erank);
}
