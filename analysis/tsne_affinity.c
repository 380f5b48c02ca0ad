/* t-SNE input affinities: per-point Gaussian precision by bisection on the
 * perplexity, dense (exact path) or over the K nearest neighbours
 * (Barnes-Hut path), symmetrised and normalised. Sources: van der Maaten &
 * Hinton 2008 §2-3; van der Maaten 2014 §4.1; sklearn.manifold._utils.
 * _binary_search_perplexity for the bisection. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsne_impl.h"

double tsne_sqdist(const double *a, const double *b, int d) {
    v4d s = {0};
    int k = 0;
    for (; k + 4 <= d; k += 4) {
        v4d u, v;
        v4d_load(&u, a + k), v4d_load(&v, b + k);
        u -= v;
        s += u * u;
    }
    for (; k < d; k++) s[0] += (a[k] - b[k]) * (a[k] - b[k]);
    return v4d_sum(&s);
}

void tsne_row_affinities(const double *d2, int m, double perplexity, double *p) {
    double beta = 1, lo = -INFINITY, hi = INFINITY, target = log(perplexity);
    for (int step = 0; step < 100; step++) {
        double sum = 0, sdp = 0;
        for (int j = 0; j < m; j++) {
            p[j] = exp(-d2[j] * beta);
            sum += p[j];
        }
        if (sum == 0) sum = 1e-8; /* sklearn's EPSILON_DBL */
        for (int j = 0; j < m; j++) {
            p[j] /= sum;
            sdp += d2[j] * p[j];
        }
        double diff = log(sum) + beta * sdp - target; /* entropy (nats) − log(perplexity) */
        if (fabs(diff) <= 1e-5) break;
        if (diff > 0) {
            lo = beta;
            beta = isinf(hi) ? beta * 2 : (beta + hi) / 2;
        } else {
            hi = beta;
            beta = isinf(lo) ? beta / 2 : (beta + lo) / 2;
        }
    }
}

/* Conditional row i of the dense P: p_{j|i} into P[i, j], 0 on the diagonal;
 * buf (2n) scratch. */
static void dense_row(const double *X, int n, int d, double perplexity, int i, double *P, double *buf) {
    double *d2 = buf, *p = buf + n;
    for (int j = 0, m = 0; j < n; j++)
        if (j != i) d2[m++] = tsne_sqdist(X + (size_t)i * d, X + (size_t)j * d, d);
    tsne_row_affinities(d2, n - 1, perplexity, p);
    double *row = P + (size_t)i * n;
    for (int j = 0, m = 0; j < n; j++) row[j] = j == i ? 0 : p[m++];
}

int tsne_dense_p(const double *X, int n, int d, double perplexity, double *P) {
    int fail = 0;
#pragma omp parallel
    {
        double *buf = malloc(2 * (size_t)n * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int i = 0; i < n; i++)
            if (buf) dense_row(X, n, d, perplexity, i, P, buf);
        free(buf);
    }
    if (fail) return -1;
    double sum = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double s = P[(size_t)i * n + j] + P[(size_t)j * n + i];
            P[(size_t)i * n + j] = P[(size_t)j * n + i] = s;
            sum += 2 * s;
        }
    if (sum > 0)
        for (size_t k = 0; k < (size_t)n * n; k++) P[k] /= sum;
    return 0;
}

/* The K nearest neighbours of point i (excluding i), ascending, in h (K);
 * d2 (n) scratch. */
static void knn_row(const double *X, int n, int d, int K, int i, double *d2, TsneNb *h) {
    for (int j = 0; j < n; j++) d2[j] = j == i ? 0 : tsne_sqdist(X + (size_t)i * d, X + (size_t)j * d, d);
    tsne_knn_select(d2, n, i, K, h);
}

/* Conditional affinities over the K nearest neighbours: nbr (n, K) indices,
 * pc (n, K) p_{j|i}. Returns -1 on out of memory. */
static int knn_affinities(const double *X, int n, int d, double perplexity, int K, int *nbr, double *pc) {
    int fail = 0;
#pragma omp parallel
    {
        TsneNb *h = malloc((size_t)K * sizeof *h);
        double *d2 = malloc((size_t)n * sizeof *d2);
        if (!h || !d2) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int i = 0; i < n; i++) {
            if (!h || !d2) continue;
            knn_row(X, n, d, K, i, d2, h);
            for (int k = 0; k < K; k++) {
                d2[k] = h[k].d2;
                nbr[(size_t)i * K + k] = h[k].j;
            }
            tsne_row_affinities(d2, K, perplexity, pc + (size_t)i * K);
        }
        free(h);
        free(d2);
    }
    return fail ? -1 : 0;
}

typedef struct Ent { int col; double val; } Ent;

static int ent_cmp(const void *a, const void *b) {
    int x = ((const Ent *)a)->col, y = ((const Ent *)b)->col;
    return (x > y) - (x < y);
}

/* The entries of P_cond + P_condᵀ grouped by row (start (n + 1) offsets into
 * e): (i, j, p_{j|i}) and (j, i, p_{j|i}) for every neighbour j of i. */
static void scatter(int n, int K, const int *nbr, const double *pc, const size_t *start, size_t *fill, Ent *e) {
    memcpy(fill, start, (size_t)n * sizeof *fill);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            int j = nbr[(size_t)i * K + k];
            double v = pc[(size_t)i * K + k];
            e[fill[i]++] = (Ent){j, v};
            e[fill[j]++] = (Ent){i, v};
        }
}

/* Sort each row by column, sum the (at most two) entries of a pair, and
 * write the CSR P normalised to Σ = 1. */
static void compact(int n, const size_t *start, Ent *e, TsneSparseP *P) {
    size_t nnz = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        qsort(e + start[i], start[i + 1] - start[i], sizeof *e, ent_cmp);
        P->row[i] = (int)nnz;
        for (size_t k = start[i]; k < start[i + 1]; k++) {
            if (nnz > (size_t)P->row[i] && P->col[nnz - 1] == e[k].col) {
                P->val[nnz - 1] += e[k].val; /* a + b = b + a: the sort's order of a pair does not matter */
                continue;
            }
            P->col[nnz] = e[k].col;
            P->val[nnz++] = e[k].val;
        }
        for (size_t k = (size_t)P->row[i]; k < nnz; k++) sum += P->val[k];
    }
    P->row[n] = (int)nnz;
    if (sum > 0)
        for (size_t k = 0; k < nnz; k++) P->val[k] /= sum;
}

static int symmetrise(int n, int K, const int *nbr, const double *pc, TsneSparseP *P) {
    size_t total = 2 * (size_t)n * K;
    size_t *start = calloc((size_t)n + 1, sizeof *start), *fill = malloc((size_t)n * sizeof *fill);
    Ent *e = malloc(total * sizeof *e);
    P->n = n;
    P->row = malloc(((size_t)n + 1) * sizeof *P->row);
    P->col = malloc(total * sizeof *P->col);
    P->val = malloc(total * sizeof *P->val);
    int ok = start && fill && e && P->row && P->col && P->val && total <= 0x7fffffff;
    if (ok) {
        for (size_t k = 0; k < (size_t)n * K; k++) start[nbr[k] + 1]++;
        for (int i = 0; i < n; i++) start[i + 1] += start[i] + (size_t)K;
        scatter(n, K, nbr, pc, start, fill, e);
        compact(n, start, e, P);
    }
    free(start);
    free(fill);
    free(e);
    if (!ok) tsne_sparse_free(P);
    return ok ? 0 : -1;
}

int tsne_sparse_p(const double *X, int n, int d, double perplexity, TsneSparseP *P) {
    memset(P, 0, sizeof *P);
    int K = (int)floor(3 * perplexity);
    int *nbr = malloc((size_t)n * K * sizeof *nbr);
    double *pc = malloc((size_t)n * K * sizeof *pc);
    int rc = nbr && pc ? knn_affinities(X, n, d, perplexity, K, nbr, pc) : -1;
    if (rc == 0) rc = symmetrise(n, K, nbr, pc, P);
    free(nbr);
    free(pc);
    return rc;
}

void tsne_sparse_free(TsneSparseP *P) {
    free(P->row);
    free(P->col);
    free(P->val);
    memset(P, 0, sizeof *P);
}
