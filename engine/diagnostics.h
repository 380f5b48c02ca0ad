/* Collapse diagnostics of a set of embeddings (README "Collapse diagnostics").
 *
 * X is a host (n, d) row-major float matrix, one embedding per row (Enc(Text),
 * Pred(Enc(Text)) or Enc(Code) of n examples, engine/encode.h). Two numbers
 * say whether the rows still spread out or have collapsed onto one direction:
 *  - the mean pairwise cosine over the n(n−1) ordered pairs of distinct rows
 *    (1: every row points the same way; ~0: no shared direction);
 *  - the effective rank exp(H(p)), p_i = σ_i / Σσ, σ the singular values of X
 *    (Roy & Vetterli 2007; the RankMe measure): 1 for a rank-1 matrix, r for r
 *    equal singular values, at most min(n, d).
 * X is not centred: a common offset shared by every row counts as collapse
 * (it raises the cosine and pulls the effective rank towards 1). Every
 * reduction is in double. */
#ifndef ENGINE_DIAGNOSTICS_H
#define ENGINE_DIAGNOSTICS_H

#include <stddef.h>

#include "encode.h"

/* Mean of cos(x_i, x_j) over the ordered pairs i ≠ j of rows of X (n, d),
 * exact, in O(n·d): with x̂_i = x_i/|x_i| (a zero row gives x̂_i = 0, so its
 * cosines count as 0), Σ_{i≠j} x̂_i·x̂_j = |Σ_i x̂_i|² − Σ_i |x̂_i|², divided
 * by n(n−1). NaN when n < 2 or X holds a NaN or infinity. */
double diag_mean_cosine(const float *X, int n, int d);

/* The min(n, d) singular values of X (n, d) into sv (decreasing), computed
 * by LAPACKE_dgesdd (jobz = 'N': values only) on a double copy of X.
 * Returns 0, or -1 (out of memory, or the SVD did not converge). */
int diag_singular_values(const float *X, int n, int d, double *sv);

/* Effective rank exp(−Σ p_i log p_i) with p_i = σ_i / Σσ over the singular
 * values σ of X (n, d) (diag_singular_values; terms with p_i = 0 are 0).
 * 0 for an all-zero X or n = 0 or d = 0; NaN when X holds a NaN or infinity,
 * when out of memory or when the SVD fails. */
double diag_effective_rank(const float *X, int n, int d);

/* Both measures of one embedding matrix. */
typedef struct DiagStats {
    double mean_cos;   /* diag_mean_cosine */
    double erank;      /* diag_effective_rank */
} DiagStats;

/* diag_mean_cosine and diag_effective_rank of X (n, d). */
DiagStats diag_stats(const float *X, int n, int d);

/* ---- Collapse of a model's embeddings (curve.csv, harness loss) ---- */

/* The curve.csv columns of diag_collapse_csv, in order. */
#define DIAG_CSV_HEADER "enc_text_cos,enc_code_cos,pred_text_cos,enc_text_erank,enc_code_erank,pred_text_erank"

typedef struct Collapse {
    DiagStats enc_text, enc_code, pred;  /* of encode's enc_text, enc_code, pred */
    int has_pred;                        /* pred was computed */
    int n;                               /* examples */
} Collapse;

/* encode ex[0..n) with o (pred only when with_pred) and diag_stats of each
 * matrix into *out. Leaves the model in evaluation mode. Returns 0 or -1
 * with err (encode's errors, out of memory). */
int diag_collapse(Model *m, const Example *ex, int n, const EncodeOpts *o, int with_pred, Collapse *out, char *err,
                  size_t errn);

/* The six DIAG_CSV_HEADER fields of c as "a,b,c,d,e,f" into buf (%.6f; a
 * field is empty when not computed or not finite; all six empty when c is
 * NULL). */
void diag_collapse_csv(const Collapse *c, char *buf, size_t n);

#endif
