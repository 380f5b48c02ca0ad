/* Anti-collapse regularisers of the JEPA embeddings (README "Collapse
 * diagnostics"): config keys jepa_reg=none|sigreg|vicreg, jepa_reg_weight,
 * sigreg_slices, vicreg_var, vicreg_cov.
 *
 * With loss=jepa the objective becomes
 *
 *   L = γ·L_NTP + λ·d(P, T) + w·R(P, T)              w = jepa_reg_weight
 *
 * where P (B, D) and T (B, D) are the two embedding sets the JEPA term
 * compares in the batch: P = Pred(Enc(Text)) (after the linear predictor
 * under predictor=linear), T = Enc(Code) (P = Pred(Enc(Code)), T = Enc(Text)
 * under direction=code2text). Both sets, because the collapse the JEPA term
 * allows is a constant shared by the two sides (README: Pred(Enc(Text)) at
 * pairwise cosine ~0.999 and Enc(Code) close behind), and a regulariser on one
 * side only leaves the other free to collapse and the distance to follow it;
 * Enc(Text) without [PRED] is not in the JEPA step's graph (the batch reads
 * the Text view at pred_1), and it keeps its spread anyway. The rows are the
 * final-RMSNorm states the loss reads: their root-mean-square is the norm
 * weight (≈ 1), the scale of N(0, I_D), so neither regulariser rescales them.
 *
 * SIGReg (LeJEPA: Balestriero & LeCun, "LeJEPA: Provable and Scalable
 * Self-Supervised Learning Without the Heuristics", arXiv 2511.08544):
 *   SIGReg(Z) = (1/S) Σ_{s=1..S} EP(Z a_s)                        (§4, SIGReg;
 *   the average over the directions of A of a univariate test)
 *   EP(y) = B ∫ |φ̂_y(t) − φ(t)|² w(t) dt,  φ̂_y(t) = (1/B) Σ_b exp(i t y_b),
 *   φ(t) = w(t) = exp(−t²/2)                           (§4.2.3, the Epps–Pulley
 *   statistic; eq. 7 in the numbering other implementations cite)
 * integrated, as the paper's Algorithm 1 does, by the trapezoid rule on 17
 * equally spaced t in [−5, 5] (backend.h ep_quadrature, the backend op
 * epps_pulley), with a = S = sigreg_slices directions drawn for every step
 * (N(0, I_D) normalised to unit length) from the run's "sigreg" stream
 * (rng.h), shared by both sets. R = (SIGReg(P) + SIGReg(T)) / 2, the mean over
 * the views as in LeJEPA. Its minimum over distributions is at N(0, I_D): on B
 * standard Gaussian samples EP has expectation ∫(1 − φ²)w ≈ 1.06 whatever B;
 * B equal rows (complete collapse) give EP = B ∫|e^{itc} − φ|² w ≥ 0.41·B.
 *
 * VICReg (Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance
 * Regularization for Self-Supervised Learning", ICLR 2022, eq. 1–4 and its
 * reference code), per set Z with column-centred Zc and
 * Cov = Zcᵀ Zc / (B − 1):
 *   v(Z) = (1/D) Σ_j max(0, 1 − sqrt(Cov_jj + 1e-4))        (variance, γ = 1)
 *   c(Z) = (1/D) Σ_{i≠j} Cov_ij²                              (covariance)
 *   R = (μ/λ_inv)·(v(P) + v(T))/2 + (ν/λ_inv)·(c(P) + c(T))
 * with μ = vicreg_var (25), ν = vicreg_cov (1) and λ_inv = 25, VICReg's own
 * coefficients: the invariance term of VICReg is the JEPA term here, so at
 * w = λ the three terms weigh 25 : 25 : 1 as in the paper (the defaults give
 * R = (v(P)+v(T))/2 + 0.04·(c(P)+c(T))). The variance is averaged over the
 * two branches and the covariance summed, as VICReg's code does. It needs
 * B ≥ 2 (config_validate): a batch of one example gets R = 0.
 *
 * Weights (README "Collapse diagnostics", one-seed pilot): w = λ for VICReg
 * (its paper's weighting); SIGReg, being ×B, wants w ≈ 0.03 at B = 32.
 *
 * Every tensor operation runs on the backend (backend.h): projections and
 * covariances are gemm; the Epps–Pulley statistic and its gradient are the
 * one new op epps_pulley; the covariance's diagonal and off-diagonal sums go
 * through gather_rows and sum_squares, and only D-vectors and S-vectors of
 * statistics come to the host. Gradients are analytic. */
#ifndef ENGINE_JEPA_REG_H
#define ENGINE_JEPA_REG_H

#include <stddef.h>

#include "backend.h"
#include "rng.h"

typedef enum { JEPA_REG_NONE = 0, JEPA_REG_SIGREG, JEPA_REG_VICREG } JepaRegKind;

/* VICReg's invariance coefficient λ_inv (its sim_coeff, 25): vicreg_var and
 * vicreg_cov are read relative to it. */
#define VICREG_INV_COEFF 25.0
/* VICReg's ε inside the standard deviation. */
#define VICREG_EPS 1e-4

/* A regulariser and its settings (LossOpts.reg, filled by loss_opts from a run config). */
typedef struct JepaReg {
    JepaRegKind kind;
    double weight;        /* w = jepa_reg_weight */
    int slices;           /* S = sigreg_slices */
    double var_coeff;     /* μ = vicreg_var */
    double cov_coeff;     /* ν = vicreg_cov */
    Rng *rng;             /* SIGReg directions: the run's "sigreg" stream, advanced by every step; NULL: a fresh
                             rng_stream(0, "sigreg") on each call (the same directions every call: tests) */
} JepaReg;

/* Kind by config name (none, sigreg, vicreg); -1 if unknown. */
int jepa_reg_kind(const char *name);

/* The value of R and its parts, for logs and tests. */
typedef struct JepaRegOut {
    double r;             /* R as defined above */
    double sig[2];        /* SIGReg(P), SIGReg(T) (sigreg) */
    double var[2], cov[2];/* v(P), v(T), c(P), c(T) (vicreg) */
} JepaRegOut;

/* Reusable buffers of the regularisers, on the backend they were first used
 * with (zero-initialise; jepa_reg_work_free). */
#define JEPA_REG_SLOTS 12
typedef struct JepaRegWork {
    Backend *be;
    void *slot[JEPA_REG_SLOTS];
    size_t cap[JEPA_REG_SLOTS];
    float *host_a;        /* (D, S) directions */
    double *host_d;       /* (max(D, S)) statistics */
    int *host_i;          /* (D) diagonal indices */
    size_t host_cap;
} JepaRegWork;

/* S unit directions, the columns of host A (D, S): each column D draws of
 * rng_normal in row order, divided by its Euclidean norm (a zero draw, which
 * does not happen, is left zero). */
void sigreg_directions(Rng *rng, float *A, int D, int S);

/* SIGReg(Z) of one set Z device (B, D) on the directions A device (D, S)
 * into *val; with dZ non-NULL, dZ (B, D) += scale · ∂SIGReg(Z)/∂Z. Returns 0,
 * or -1: out of memory, or the backend has no epps_pulley op (a wrapper
 * that does not forward it). */
int sigreg_set(Backend *be, const float *Z, float *dZ, const float *A, int B, int D, int S, double scale,
               JepaRegWork *w, double *val);

/* VICReg's v(Z) and c(Z) of one set Z device (B, D) into *var, *cov; with dZ
 * non-NULL, dZ (B, D) += scale_var · ∂v/∂Z + scale_cov · ∂c/∂Z (the hinge's
 * gradient is 0 at std ≥ 1, its kink included). B < 2: both 0, no gradient.
 * Returns 0 or -1 (out of memory). */
int vicreg_set(Backend *be, const float *Z, float *dZ, int B, int D, double scale_var, double scale_cov,
               JepaRegWork *w, double *var, double *cov);

/* R(P, T) of the two sets P, T device (B, D) into *out (zeroed first; R = 0
 * under JEPA_REG_NONE); with dP, dT non-NULL they += scale · ∂R/∂P,
 * scale · ∂R/∂T. SIGReg draws its S directions once for both sets (from
 * r->rng). Returns 0, or -1 (out of memory; a backend without epps_pulley). */
int jepa_reg_apply(Backend *be, const JepaReg *r, const float *P, const float *T, float *dP, float *dT, int B, int D,
                   double scale, JepaRegWork *w, JepaRegOut *out);

/* Free w's device and host buffers and zero it (safe on a zeroed work, and twice). */
void jepa_reg_work_free(JepaRegWork *w);

#endif
