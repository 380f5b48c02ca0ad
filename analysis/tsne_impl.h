/* Internal pieces of analysis/tsne.c shared by its files (affinities, exact
 * and Barnes-Hut gradients); not a public interface.
 *
 * Letters: n points, d input dimensions, K = ⌊3·perplexity⌋ neighbours.
 * X is the standardised input (n, d) in double, Y the embedding (n, 2).
 *
 * Gradients follow van der Maaten's reference implementation (bhtsne,
 * tsne.py): dY_i = Σ_j (α·p_ij − q_ij)·w_ij·(y_i − y_j), w_ij = 1/(1 + |y_i − y_j|²),
 * q_ij = w_ij / Z, Z = Σ_{k≠l} w_kl: a quarter of ∂KL/∂y_i (sklearn multiplies
 * by 4, so its learning rate 50 is our 200). α is the early exaggeration.
 *
 * Determinism: every parallel loop runs over points, each point's sums in a
 * fixed order, and sums over points are taken sequentially afterwards, so one
 * build gives the same bits at any thread count. (Builds for different CPUs,
 * -march=native, may contract to FMA differently.) */
#ifndef ANALYSIS_TSNE_IMPL_H
#define ANALYSIS_TSNE_IMPL_H

#include <stddef.h>
#include <string.h>

/* Four lanes of doubles (GCC/Clang vector extension). Sums over j kept in
 * lane j mod 4 and added as (l0 + l1) + (l2 + l3): vectorised, and the same
 * bits whatever the vector width, the alignment or the thread count. */
typedef double v4d __attribute__((vector_size(32)));

/* Helpers take pointers: vectors passed by value change the ABI without AVX
 * (-Wpsabi). */
static inline void v4d_load(v4d *v, const double *p) { memcpy(v, p, sizeof *v); }

static inline double v4d_sum(const v4d *v) { return ((*v)[0] + (*v)[1]) + ((*v)[2] + (*v)[3]); }

/* Symmetric sparse joint affinities, CSR: row i holds columns col[row[i] ..
 * row[i+1]) in increasing order with values val[...]; Σ val = 1. */
typedef struct TsneSparseP {
    int n;
    int *row;     /* (n + 1) */
    int *col;     /* (nnz) */
    double *val;  /* (nnz) */
} TsneSparseP;

/* Squared Euclidean distance of two rows of length d, in four lanes. */
double tsne_sqdist(const double *a, const double *b, int d);

/* A neighbour: squared (or plain) distance and index. */
typedef struct TsneNb { double d2; int j; } TsneNb;

/* The K smallest entries of dist (n) other than index skip, ordered by
 * (distance, index) ascending, into h (K); fewer when n − 1 < K. O(n log K). */
void tsne_knn_select(const double *dist, int n, int skip, int K, TsneNb *h);

/* 1 when a comes before b in that order. */
int tsne_nb_before(TsneNb a, TsneNb b);

/* Conditional affinities p_{j|i} = exp(−β·d2[j]) / Σ exp(−β·d2) over m
 * candidate neighbours, β found by bisection so that the entropy (nats)
 * is log(perplexity) within 1e-5, at most 100 steps (sklearn's
 * _binary_search_perplexity). d2 (m) squared distances; p (m) out. */
void tsne_row_affinities(const double *d2, int m, double perplexity, double *p);

/* Dense joint affinities P (n, n): P = (P_cond + P_condᵀ) / Σ, P_ii = 0
 * (van der Maaten & Hinton 2008, eq. 1 and §3.1). X (n, d). Returns 0, or
 * -1 on out of memory. */
int tsne_dense_p(const double *X, int n, int d, double perplexity, double *P);

/* Sparse joint affinities over the K = ⌊3·perplexity⌋ exact nearest
 * neighbours of each point (brute force, O(n²·d); van der Maaten 2014 §4.1),
 * symmetrised and normalised as the dense ones. Needs 1 ≤ K < n. Returns 0,
 * or -1 on out of memory (P zeroed). Free with tsne_sparse_free. */
int tsne_sparse_p(const double *X, int n, int d, double perplexity, TsneSparseP *P);
void tsne_sparse_free(TsneSparseP *P);

/* Exact gradient at Y (n, 2) into dY (n, 2) with P (n, n) multiplied by
 * alpha; work (5n) scratch. O(n²). */
void tsne_exact_grad(const double *P, int n, double alpha, const double *Y, double *dY, double *work);

/* KL(P‖Q) at Y (n, 2), with 0·log 0 = 0; work (3n) scratch. O(n²). */
double tsne_exact_kl(const double *P, int n, const double *Y, double *work);

/* Barnes-Hut workspace: the quadtree of the embedding, rebuilt every step. */
typedef struct TsneBh TsneBh;

/* Workspace for n points; NULL on out of memory. */
TsneBh *tsne_bh_new(int n);
void tsne_bh_free(TsneBh *b);

/* Barnes-Hut gradient at Y (n, 2) into dY (n, 2): attractive forces over
 * the sparse P (times alpha), repulsive forces through the quadtree with
 * opening angle theta (a cell of side s at distance r is summarised when
 * s / r < theta, sklearn's rule). *kl (may be NULL) gets the estimate of
 * KL(P‖Q) over the entries of P with Z from the tree. Returns 0, or -1 on
 * out of memory. */
int tsne_bh_grad(TsneBh *b, const TsneSparseP *P, double alpha, double theta, const double *Y, double *dY,
                 double *kl);

#endif
