/* t-SNE (van der Maaten & Hinton 2008, JMLR 9) of n points in d dimensions
 * to 2-D, for paper Figure 6 (Enc(Text) and Enc(Code) of N examples, 2N
 * points). Exact O(n²) gradient up to TsneOpts.exact_max points; above it
 * Barnes-Hut (van der Maaten 2014, JMLR 15) with sparse input affinities
 * over the ⌊3·perplexity⌋ nearest neighbours and a quadtree with
 * opening angle theta. Deterministic: the same input, options and seed give
 * the same bits at any thread count. */
#ifndef ANALYSIS_TSNE_H
#define ANALYSIS_TSNE_H

#include <stddef.h>
#include <stdint.h>

typedef struct TsneOpts {
    double perplexity;          /* effective neighbours (default 30); must satisfy 3·perplexity < n */
    int iters;                  /* gradient steps (default 1000) */
    uint64_t seed;              /* initial positions N(0, 1e-4 I) from this seed (default 82) */
    double learning_rate;       /* default 200 */
    double early_exaggeration;  /* P multiplied by this for the first 250 steps (default 12) */
    int exact_max;              /* exact gradient up to this many points (default 5000) */
    double theta;               /* Barnes-Hut opening angle (default 0.5) */
    /* progress: called every 50 steps and at the end with the KL divergence
     * (exact) or its estimate (Barnes-Hut); may be NULL */
    void (*progress)(int iter, int iters, double kl, void *ctx);
    void *progress_ctx;
} TsneOpts;

/* The defaults above. */
TsneOpts tsne_defaults(void);

/* Embed X (n, d) row-major into Y (n, 2) row-major doubles. Inputs are
 * standardised as in the reference implementation (centre, divide by the max
 * |x|); momentum 0.5 for 250 steps then 0.8; gains as in the reference.
 * Returns 0, or -1 with err: n < 2, perplexity out of range for n, NaN/inf
 * in X, out of memory. *kl (may be NULL) gets the final KL(P‖Q). */
int tsne_run(const float *X, int n, int d, const TsneOpts *o, double *Y, double *kl, char *err, size_t errn);

/* Trustworthiness T(k) of an embedding (Venna & Kaski 2001; as
 * sklearn.manifold.trustworthiness): 1 − 2/(n·k·(2n − 3k − 1)) ·
 * Σ_i Σ_{j ∈ U_k(i)} (r(i, j) − k), U_k(i) the k nearest neighbours of i in
 * the embedding E (n, e) that are not among its k nearest in X (n, d),
 * r(i, j) the rank of j among i's neighbours in X (Euclidean). In [0, 1], 1 =
 * every embedded neighbourhood is a true one. Needs k < n/2. Returns NaN on
 * bad arguments or out of memory. */
double tsne_trustworthiness(const float *X, int n, int d, const double *E, int e, int k);

#endif
