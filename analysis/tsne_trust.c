/* Trustworthiness of an embedding (Venna & Kaski 2001), computed as
 * sklearn.manifold.trustworthiness (Euclidean): ranks r(i, j) from 1 among
 * i's neighbours in X, the penalty Σ max(0, r(i, j) − k) over the k nearest
 * neighbours j of i in the embedding. Ties in distance are broken by index
 * (sklearn's argsort leaves their order unspecified). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "tsne.h"
#include "tsne_impl.h"

/* Squared Euclidean distance of two float rows of length d, in double. */
static double sqdist_f(const float *a, const float *b, int d) {
    double s = 0;
    for (int k = 0; k < d; k++) {
        double t = (double)a[k] - b[k];
        s += t * t;
    }
    return s;
}

/* Penalty of point i: Σ over its k embedded neighbours j of max(0, r(i, j) − k).
 * buf (n) scratch, h (k) scratch. */
static int64_t trust_row(const float *X, int n, int d, const double *E, int e, int k, int i, double *buf, TsneNb *h) {
    for (int j = 0; j < n; j++) buf[j] = tsne_sqdist(E + (size_t)i * e, E + (size_t)j * e, e);
    tsne_knn_select(buf, n, i, k, h);
    for (int j = 0; j < n; j++) buf[j] = sqdist_f(X + (size_t)i * d, X + (size_t)j * d, d);
    int64_t pen = 0;
    for (int m = 0; m < k; m++) {
        TsneNb t = {buf[h[m].j], h[m].j};
        int64_t r = 1; /* rank of j among i's neighbours in X */
        for (int l = 0; l < n; l++)
            if (l != i && tsne_nb_before((TsneNb){buf[l], l}, t)) r++;
        if (r > k) pen += r - k;
    }
    return pen;
}

static int all_finite_f(const float *a, size_t m) {
    for (size_t k = 0; k < m; k++)
        if (!isfinite(a[k])) return 0;
    return 1;
}

static int all_finite_d(const double *a, size_t m) {
    for (size_t k = 0; k < m; k++)
        if (!isfinite(a[k])) return 0;
    return 1;
}

double tsne_trustworthiness(const float *X, int n, int d, const double *E, int e, int k) {
    if (!X || !E || n < 2 || d < 1 || e < 1 || k < 1 || !(2.0 * k < n)) return NAN;
    if (!all_finite_f(X, (size_t)n * d) || !all_finite_d(E, (size_t)n * e)) return NAN;
    int64_t *pen = malloc((size_t)n * sizeof *pen);
    if (!pen) return NAN;
    int fail = 0;
#pragma omp parallel
    {
        double *buf = malloc((size_t)n * sizeof *buf);
        TsneNb *h = malloc((size_t)k * sizeof *h);
        if (!buf || !h) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int i = 0; i < n; i++)
            if (buf && h) pen[i] = trust_row(X, n, d, E, e, k, i, buf, h);
        free(buf);
        free(h);
    }
    if (fail) {
        free(pen);
        return NAN;
    }
    int64_t t = 0;
    for (int i = 0; i < n; i++) t += pen[i];
    free(pen);
    return 1.0 - (double)t * (2.0 / ((double)n * k * (2.0 * n - 3.0 * k - 1.0)));
}
