/* Linear probes of Enc(Text) and Enc(Code): see linprobe.h. */
#include "linprobe.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>

#include "errmsg.h"

/* -1 with err unless n, d >= 1 and every value of X and Y (n, d) is finite. */
static int check_inputs(const float *X, const float *Y, int n, int d, const char *who, char *err, size_t errn) {
    if (n < 1 || d < 1) return errf(err, errn, "%s: need n, d >= 1 (got n = %d, d = %d)", who, n, d);
    size_t len = (size_t)n * (size_t)d;
    for (size_t i = 0; i < len; i++) {
        if (!isfinite(X[i])) return errf(err, errn, "%s: X[%zu][%zu] is not finite (%g)", who, i / d, i % d, X[i]);
        if (!isfinite(Y[i])) return errf(err, errn, "%s: Y[%zu][%zu] is not finite (%g)", who, i / d, i % d, Y[i]);
    }
    return 0;
}

int linprobe_diff_sv(const float *X, const float *Y, int n, int d, int top, double *sv, int *nsv, char *err,
                     size_t errn) {
    *nsv = 0;
    if (check_inputs(X, Y, n, d, "linprobe_diff_sv", err, errn)) return -1;
    if (top < 0) return errf(err, errn, "linprobe_diff_sv: top = %d < 0", top);
    int k = n < d ? n : d;
    size_t len = (size_t)n * (size_t)d;
    double *A = malloc(len * sizeof(double)), *s = malloc((size_t)k * sizeof(double));
    if (!A || !s) { free(A); free(s); return errf(err, errn, "linprobe_diff_sv: out of memory (%d x %d)", n, d); }
    for (size_t i = 0; i < len; i++) A[i] = (double)X[i] - (double)Y[i];
    /* row-major (n, d) is column-major (d, n), the transpose: same singular values */
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', d, n, A, d, s, NULL, 1, NULL, 1);
    free(A);
    if (info != 0) { free(s); return errf(err, errn, "linprobe_diff_sv: dgesdd failed (info = %d)", (int)info); }
    int m = top < k ? top : k;
    for (int i = 0; i < m; i++) sv[i] = s[i];
    *nsv = m;
    free(s);
    return 0;
}

/* ‖X·W − Y‖_F in double: Xc column-major (n, d), W column-major (d, d) with
 * leading dimension ldw, Y row-major float (n, d). R is (n, d) scratch. */
static double residual(const double *Xc, const double *W, int ldw, const float *Y, int n, int d, double *R) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) R[i + (size_t)j * n] = Y[(size_t)i * d + j];
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, d, d, 1.0, Xc, n, W, ldw, -1.0, R, n);
    double s = 0;
    for (size_t i = 0; i < (size_t)n * d; i++) s += R[i] * R[i];
    return sqrt(s);
}

int linprobe_lsq(const float *X, const float *Y, int n, int d, double rcond, double *resid, int *rank, char *err,
                 size_t errn) {
    *resid = NAN, *rank = 0;
    if (check_inputs(X, Y, n, d, "linprobe_lsq", err, errn)) return -1;
    int ldb = n > d ? n : d, k = n < d ? n : d;
    size_t len = (size_t)n * d;
    double *A = malloc(len * sizeof(double)), *Xc = malloc(len * sizeof(double)), *R = malloc(len * sizeof(double));
    double *B = calloc((size_t)ldb * d, sizeof(double)), *s = malloc((size_t)k * sizeof(double));
    int rc = 0;
    if (!A || !Xc || !R || !B || !s) rc = errf(err, errn, "linprobe_lsq: out of memory (%d x %d)", n, d);
    if (!rc) {
        /* column-major: A = X (n, d) with lda = n; B = Y padded to (max(n, d), d), dgelsd's ldb */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) {
                Xc[i + (size_t)j * n] = A[i + (size_t)j * n] = X[(size_t)i * d + j];
                B[i + (size_t)j * ldb] = Y[(size_t)i * d + j];
            }
        double rc_eff = rcond < 0 ? DBL_EPSILON * ldb : rcond; /* numpy.linalg.lstsq's default */
        lapack_int r = 0;
        lapack_int info = LAPACKE_dgelsd(LAPACK_COL_MAJOR, n, d, d, A, n, B, ldb, s, rc_eff, &r);
        if (info != 0) rc = errf(err, errn, "linprobe_lsq: dgelsd failed (info = %d)", (int)info);
        else {
            *rank = (int)r; /* W = B[0..d, 0..d), column-major with leading dimension ldb */
            *resid = residual(Xc, B, ldb, Y, n, d, R);
        }
    }
    free(A); free(Xc); free(R); free(B); free(s);
    return rc;
}
