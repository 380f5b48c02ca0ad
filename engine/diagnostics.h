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
 * (it raises the cosine and pulls the effective rank towards 1).
 *
 * Two matrices P and C (n, d) whose row i are the two sides of example i
 * (Pred(Enc(Text)) or Enc(Text), and Enc(Code)) are aligned when row i of P
 * is closer to row i of C than to the other rows: the matched-minus-
 * mismatched cosine and the P→C retrieval accuracy (top-1, top-5, against
 * their chance levels) tell alignment from collapse, which a small JEPA
 * distance alone does not. The ⟨eos⟩-predicting state names the direction a
 * collapsed Pred tends to share. Every reduction is in double. */
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

/* ---- Alignment: are matched pairs closer than mismatched ones? ---- */

/* mean_i cos(P_i, C_i) − mean_{i≠j} cos(P_i, C_j) over the rows of P and C
 * (n, d): how much closer an example's own pair is than another example's
 * (0 when P or C collapsed onto one direction, whatever the distance says).
 * Exact in O(n·d) from the normalised rows (a zero row has cosine 0 with
 * everything): Σ_{i≠j} p̂_i·ĉ_j = (Σ p̂_i)·(Σ ĉ_j) − Σ p̂_i·ĉ_i. NaN when n < 2
 * or P or C holds a NaN or infinity. */
double diag_matched_gap(const float *P, const float *C, int n, int d);

/* P→C retrieval among the n examples: for each i, the C_j (j = 0..n−1) are
 * ranked by cos(P_i, C_j), and example i counts as found within the top k
 * when C_i ranks among the first k. Ties are split evenly: with g rows
 * strictly closer than C_i and e others exactly as close, the credit of
 * example i is min(1, max(0, (k − g)/(e + 1))), the probability under a
 * random order of the tied rows. So identical C rows give exactly the chance
 * level k/n, and no tie-break can flatter a collapsed model. *top1, *top5:
 * the mean credit over i in % (chance: 100/n and 100·min(5, n)/n). Cosines
 * in double in O(n²·d). Returns 0, or -1 (n < 1, a NaN or infinity, out of
 * memory; the outputs are then NaN). */
int diag_retrieval(const float *P, const float *C, int n, int d, double *top1, double *top5);

/* cos(a, b) of two d-vectors; NaN when either is zero or not finite. */
double diag_cosine(const double *a, const double *b, int d);

/* The ⟨eos⟩-predicting state of the NTP sequence, averaged over ex[0..n):
 * for each example, its NTP row ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ A
 * ⟨eos⟩ (batch.h, o's tokenizer and system_prompt) runs through the model in
 * evaluation mode (model_forward), and h, the final-RMSNorm output (the LM
 * head's input, the space Enc lives in), is read at the last token of A: the
 * position whose next-token target is the closing ⟨eos⟩ (the last token of
 * ⟨assistant⟩ when A is empty). out (d) receives the mean of those n rows, in
 * double. Returns 0, or -1 with err (out of memory, a batch error). */
int diag_eos_state(Model *m, const Example *ex, int n, const ViewOpts *o, double *out, char *err, size_t errn);

/* ---- Collapse of a model's embeddings (curve.csv, harness probe, harness loss) ---- */

/* The curve.csv columns of diag_collapse_csv, in order (README "Collapse
 * diagnostics"): DIAG_CSV_FIELDS names, diag_csv_names. */
#define DIAG_CSV_HEADER                                                                                              \
    "enc_text_cos,enc_code_cos,pred_text_cos,enc_text_erank,enc_code_erank,pred_text_erank,pred_code_gap,"          \
    "text_code_gap,pred_top1,pred_top5,text_top1,text_top5,chance_top1,chance_top5,pred_eos_cos"
#define DIAG_CSV_FIELDS 15
extern const char *const diag_csv_names[DIAG_CSV_FIELDS];

typedef struct Collapse {
    DiagStats enc_text, enc_code, pred;  /* of encode's enc_text, enc_code, pred */
    int has_pred;                        /* pred was computed */
    int n;                               /* examples */
    double pred_gap, text_gap;           /* diag_matched_gap of (Pred, Enc(Code)) and (Enc(Text), Enc(Code)) */
    double pred_top1, pred_top5;         /* diag_retrieval of Enc(Code) from Pred(Enc(Text)), % */
    double text_top1, text_top5;         /* the same from Enc(Text) */
    double chance_top1, chance_top5;     /* 100/n and 100·min(5, n)/n, % */
    double pred_eos_cos;                 /* cos(mean_i Pred_i, diag_eos_state) */
} Collapse;

/* encode ex[0..n) with o (pred only when with_pred), diag_stats of each
 * matrix, the gaps and retrievals of Pred (with_pred) and Enc(Text) against
 * Enc(Code), and with_pred, the cosine of the mean Pred row with the
 * ⟨eos⟩-predicting state (diag_eos_state on o->vo) into *out. Leaves the
 * model in evaluation mode. Returns 0 or -1 with err (encode's and
 * diag_eos_state's errors, out of memory). */
int diag_collapse(Model *m, const Example *ex, int n, const EncodeOpts *o, int with_pred, Collapse *out, char *err,
                  size_t errn);

/* The DIAG_CSV_FIELDS values of c in header order into v, and into has[i]
 * whether field i was computed and is finite (Pred's fields need has_pred;
 * every field is absent when c is NULL). */
void diag_collapse_values(const Collapse *c, double v[DIAG_CSV_FIELDS], int has[DIAG_CSV_FIELDS]);

/* The DIAG_CSV_FIELDS fields of c as "a,b,...": %.6f each, empty when
 * absent (diag_collapse_values), into buf (size n). */
void diag_collapse_csv(const Collapse *c, char *buf, size_t n);

#endif
