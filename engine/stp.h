/* Semantic Tube Prediction (ALGORITHM.md §9, docs/STP.md).
 *
 *   J = 1 − Σ_b w_b · cos(U_b, C_b) / Σ_b w_b          over the examples kept
 *
 * read from h, the final-norm hidden states of the NTP pass itself (no extra
 * view, no extra forward pass). Per example, with the user content at token
 * positions [u0, u1) and the assistant content at [a0, a1) of its NTP row, and
 * Δ(x, y) = h[y−1] − h[x−1]:
 *  - stp_span=random (the authors' `--linear=random_span`): a span [s, t) is
 *    drawn in the concatenated content index space of length F = |U| + |A|;
 *    C_b = patch (the displacement across the span), U_b = before + after
 *    (the displacements of the rest), each summed piecewise across the gap
 *    between the two messages (the authors' get_embeddings);
 *  - stp_span=e2e (the authors' `--linear=e2e`): U_b = Δ(u0, u1), the user
 *    message's end-to-end displacement, C_b = Δ(a0, a1), the assistant's.
 * U_b and C_b are sparse ±1 combinations of rows of h: one CSR matrix, one
 * backend row_combine (forward) and one row_combine_backward (gradient).
 * Source: Huang, LeCun, Balestriero, arXiv 2602.22617, and the authors' stp.py
 * (github.com/galilai-group/llm-jepa); the lines followed are quoted in
 * docs/STP.md. */
#ifndef ENGINE_STP_H
#define ENGINE_STP_H

#include <stddef.h>

#include "backend.h"
#include "batch.h"
#include "rng.h"

/* stp_weight: the authors' --length_adjustment (get_weights). */
enum { STP_W_NONE = 0, STP_W_COSINE_LIKE = 1, STP_W_JACCARD_LIKE = 2 };

/* Weight mode of a config name (none, cosine_like, jaccard_like); -1 if unknown. */
int stp_weight_mode(const char *name);

/* Draws a span [*s, *t) of a content index space of length F from r, as the
 * authors' get_s_t (default branch): s uniform in [0, F), then t uniform in
 * (s, F], t alone redrawn while t − s = F (the span is never everything; only
 * s = 0 can hit it). Returns 0, or -1 without drawing when F < 2 (no proper
 * span exists; the authors' loop would never end). */
int stp_draw_span(Rng *r, int F, int *s, int *t);

/* Length weight of a span of p tokens among F (r = F − p), the authors'
 * get_weights: none 1; cosine_like 2rp/(r² + p²); jaccard_like
 * 1 − |r − p|/(r + p). Needs 0 < p < F. */
double stp_length_weight(int mode, int F, int p);

/* A sparse combination Σ_k w[k] · h[idx[k]] of rows of h; an index appears at
 * most once (coefficients of a repeated row are merged, zero ones dropped), in
 * first-appearance order. */
enum { STP_TERM_MAX = 8 };
typedef struct StpTerm {
    int n;
    int idx[STP_TERM_MAX];
    float w[STP_TERM_MAX];
} StpTerm;

/* The three displacements of one example for the span [s, t) (0 <= s < t <= F,
 * F = (u1 − u0) + (a1 − a0)): user = {u0, u1}, asst = {a0, a1} token indices of
 * h with 1 <= u0 <= u1 <= a0 <= a1. Exactly the authors' get_embeddings: an
 * offset o maps to the token u0 + o while u0 + o < u1, else a0 + o − |U| (so a
 * boundary at o = |U| maps to a0); then
 *   span in A (ps >= a0):  before = Δ(u0,u1) + Δ(a0,ps), patch = Δ(ps,pe), after = Δ(pe,a1)
 *   span in U (pe <= u1):  before = Δ(u0,ps), patch = Δ(ps,pe), after = Δ(pe,u1) + Δ(a0,a1)
 *   across the gap:        before = Δ(u0,ps), patch = Δ(ps,u1) + Δ(a0,pe), after = Δ(pe,a1). */
void stp_span_pieces(const int user[2], const int asst[2], int s, int t, StpTerm *before, StpTerm *patch,
                     StpTerm *after);

/* The pair of one example: stp_span=random, U = before + after and C = patch
 * of stp_span_pieces; e2e (s, t ignored): U = Δ(u0, u1), C = Δ(a0, a1). */
void stp_pair(const int user[2], const int asst[2], int e2e, int s, int t, StpTerm *U, StpTerm *C);

/* The host plan of a batch: m kept pairs; CSR rows 0..m−1 are the U_b,
 * rows m..2m−1 the C_b. */
typedef struct StpPlan {
    int m;
    int *ex;        /* (m) example of each pair */
    int *s, *t;     /* (m) span drawn (−1 under e2e) */
    double *wt;     /* (m) length weight w_b */
    int *ptr;       /* (2m+1) */
    int *idx;       /* (ptr[2m]) token rows of h */
    float *w;       /* (ptr[2m]) coefficients (±1) */
    int cap;        /* examples the arrays hold */
} StpPlan;

/* Plans batch b: for each example in order, its ranges from b->ntp_user and
 * b->ntp_asst (absolute token indices of the batch, as enc_text). An example
 * is skipped (nothing drawn) when a range is negative (no STP), and under
 * random when F < 2, under e2e when a message is empty. Spans are drawn from
 * r (random only), one per kept example, in example order; r NULL: a fresh
 * copy of stream (0, "stp") at each call, i.e. the same spans every time
 * (finite-difference tests through loss_step). b->ntp_user NULL:
 * nothing kept. Returns 0, -1 out of memory, -2 an inconsistent range
 * (not 1 <= u0 <= u1 <= a0 <= a1). */
int stp_plan(StpPlan *p, const Batch *b, int weight_mode, int e2e, Rng *r);

void stp_plan_free(StpPlan *p);

/* J from per-pair stats st (m, 4) = [u·c, u·u, c·c, ·] (backend row_stats) and
 * weights wt (m): 1 − Σ w cos / Σ w, norms floored at 1e-8 (as loss.c's
 * cosine). With coef non-NULL, coef (4m) = [au | bu | ac | bc] such that
 * scale·∂J/∂u_b = au_b u_b + bu_b c_b and scale·∂J/∂c_b = ac_b c_b + bc_b u_b
 * (backend row_axpby). m = 0: J = 0. */
double stp_cosine(const double *st, const double *wt, int m, double scale, double *coef);

/* Reusable buffers of stp_loss (device ones on the backend first used). Zero-initialise. */
typedef struct StpWork {
    Backend *be;
    StpPlan plan;
    int *ptr, *idx;          /* device CSR */
    float *w, *uc, *duc;     /* device CSR weights, (2m, C) [U; C] and its gradient */
    double *st, *coef;       /* device (4m) each */
    double *host_st, *host_coef;
    size_t cap_rows, cap_nz, cap_uc; /* device capacities: pairs, nonzeros, floats of uc */
} StpWork;

/* The STP term of batch b on h (device (n, C), the final-norm states of the
 * NTP pass) into *out (0 when no example is kept). With dh non-NULL and
 * lambda != 0, dh (n, C) += lambda · ∂J/∂h. weight_mode: STP_W_*, ignored
 * under e2e (the authors use unit weights there); e2e: stp_span=e2e; r: the
 * run's "stp" stream (advanced only under random; NULL: see stp_plan).
 * Returns 0, -1 out of
 * memory, -2 an inconsistent range (stp_plan). */
int stp_loss(Backend *be, const Batch *b, const float *h, float *dh, int C, double lambda, int weight_mode, int e2e,
             Rng *r, StpWork *w, double *out);

void stp_work_free(StpWork *w);

#endif
