/* The linear probes of ALGORITHM.md §8 (paper Table 10 and Figure 7) on the
 * embeddings of N examples: X = Enc(Text) (or Pred(Enc(Text))) and
 * Y = Enc(Code), both host (n, d) row-major float matrices, n examples of
 * hidden size d. Everything is computed in double through LAPACKE. */
#ifndef ANALYSIS_LINPROBE_H
#define ANALYSIS_LINPROBE_H

#include <stddef.h>

/* How many singular values Figure 7 and Table 10 use. */
#define PROBE_TOP_SV 100

/* Singular values of X − Y (n, d) in decreasing order: the first
 * min(top, n, d) into sv[0..*nsv) (LAPACKE_dgesdd, jobz = 'N', on a double
 * copy of X − Y). Paper Figure 7 plots them, Table 10 reports their mean.
 * Returns 0, or -1 with err (n or d < 1, out of memory, the SVD did not
 * converge, a NaN or infinity in X or Y). */
int linprobe_diff_sv(const float *X, const float *Y, int n, int d, int top, double *sv, int *nsv, char *err,
                     size_t errn);

/* Least squares min over d×d matrices W of ‖X·W − Y‖_F (paper Table 10),
 * by LAPACKE_dgelsd (SVD-based, minimum-norm W) with rcond: singular values
 * of X below rcond·σ_max count as zero (rcond < 0: eps·max(n, d), the
 * default of numpy.linalg.lstsq). The residual ‖X·W − Y‖_F is computed explicitly from the
 * returned W in double (not read from dgelsd's output rows, which do not hold
 * it when X is rank-deficient) into *resid; the effective rank of X that
 * dgelsd found into *rank. Works for n < d, n = d, n > d. Returns 0, or -1
 * with err (n or d < 1, out of memory, no convergence, NaN/inf input). */
int linprobe_lsq(const float *X, const float *Y, int n, int d, double rcond, double *resid, int *rank, char *err,
                 size_t errn);

#endif
