/* Exact t-SNE gradient and KL divergence, O(n²) per call (van der Maaten &
 * Hinton 2008 eq. 5; the reference bhtsne's computeExactGradient, without
 * the factor 4, see tsne_impl.h). Rows run in parallel; each row's sums use
 * four explicit lanes, and rows are combined sequentially, so the bits do
 * not depend on the thread count or on memory alignment. */
#include <math.h>

#include "tsne_impl.h"

/* Row i: attractive sum a = Σ_j p_ij·w_ij·(y_i − y_j), repulsive sum
 * r = Σ_j w_ij²·(y_i − y_j), and z = Σ_{j≠i} w_ij. Pi (n) row of P; yx, yy
 * (n) the embedding's coordinates apart. */
static void exact_row(const double *Pi, int n, const double *yx, const double *yy, int i, double a[2], double r[2],
                      double *z) {
    v4d ax = {0}, ay = {0}, rx = {0}, ry = {0}, zs = {0};
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        v4d xj, yj, pj;
        v4d_load(&xj, yx + j), v4d_load(&yj, yy + j), v4d_load(&pj, Pi + j);
        v4d dx = yx[i] - xj, dy = yy[i] - yj;
        v4d w = 1.0 / (1.0 + dx * dx + dy * dy), pw = pj * w, ww = w * w;
        ax += pw * dx, ay += pw * dy;
        rx += ww * dx, ry += ww * dy;
        zs += w;
    }
    for (; j < n; j++) {
        double dx = yx[i] - yx[j], dy = yy[i] - yy[j];
        double w = 1.0 / (1.0 + dx * dx + dy * dy), pw = Pi[j] * w, ww = w * w;
        ax[0] += pw * dx, ay[0] += pw * dy;
        rx[0] += ww * dx, ry[0] += ww * dy;
        zs[0] += w;
    }
    a[0] = v4d_sum(&ax), a[1] = v4d_sum(&ay), r[0] = v4d_sum(&rx), r[1] = v4d_sum(&ry);
    *z = v4d_sum(&zs) - 1.0; /* the j = i term: w = 1, no force */
}

void tsne_exact_grad(const double *P, int n, double alpha, const double *Y, double *dY, double *work) {
    double *z = work, *rep = work + n, *yx = work + 3 * n, *yy = work + 4 * n;
    for (int i = 0; i < n; i++) yx[i] = Y[2 * i], yy[i] = Y[2 * i + 1];
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        double a[2];
        exact_row(P + (size_t)i * n, n, yx, yy, i, a, rep + 2 * i, z + i);
        dY[2 * i] = alpha * a[0];
        dY[2 * i + 1] = alpha * a[1];
    }
    double Z = 0;
    for (int i = 0; i < n; i++) Z += z[i];
    for (int i = 0; i < n; i++) {
        dY[2 * i] -= rep[2 * i] / Z;
        dY[2 * i + 1] -= rep[2 * i + 1] / Z;
    }
}

/* Row i of the KL sums: z = Σ_{j≠i} w_ij, s = Σ_{p_ij>0} p_ij·log(p_ij / w_ij),
 * sp = Σ_j p_ij. */
static void kl_row(const double *Pi, int n, const double *Y, int i, double *z, double *s, double *sp) {
    double zi = 0, si = 0, spi = 0;
    for (int j = 0; j < n; j++) {
        if (j == i) continue;
        double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
        double w = 1.0 / (1.0 + dx * dx + dy * dy);
        zi += w;
        if (Pi[j] > 0) {
            si += Pi[j] * log(Pi[j] / w);
            spi += Pi[j];
        }
    }
    *z = zi, *s = si, *sp = spi;
}

double tsne_exact_kl(const double *P, int n, const double *Y, double *work) {
    /* KL = Σ p·log(p / (w / Z)) = Σ p·log(p / w) + (Σ p)·log Z, over p > 0 */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) kl_row(P + (size_t)i * n, n, Y, i, work + i, work + n + i, work + 2 * n + i);
    double Z = 0, s = 0, sp = 0;
    for (int i = 0; i < n; i++) {
        Z += work[i];
        s += work[n + i];
        sp += work[2 * n + i];
    }
    return s + sp * log(Z);
}
