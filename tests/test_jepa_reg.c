/* The anti-collapse regularisers (engine/jepa_reg.h): finite differences of
 * each through the whole JEPA loss and on the embeddings alone, their values
 * on standard Gaussian samples (near the minimum) against collapsed ones,
 * determinism of SIGReg's directions, and the config keys (identity,
 * validation). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "config.h"
#include "fd.h"
#include "jepa_reg.h"
#include "loss.h"
#include "model.h"
#include "pico.h"

/* ---- one embedding set on a backend ------------------------------------------------------ */

/* Z (B, D) host: N(0, σ²) samples from stream (seed, "samples"). */
static float *gaussian(int B, int D, double sigma, uint64_t seed) {
    float *Z = malloc((size_t)B * D * sizeof(float));
    Rng r = rng_stream(seed, "samples");
    for (size_t i = 0; i < (size_t)B * D; i++) Z[i] = (float)(sigma * rng_normal(&r));
    return Z;
}

/* Z whitened in place: column means 0 and sample covariance (B − 1 denominator) the identity,
 * through the Cholesky factor of the covariance (double). */
static void whiten(float *Z, int B, int D) {
    double *X = malloc((size_t)B * D * sizeof(double)), *C = calloc((size_t)D * D, sizeof(double));
    for (int j = 0; j < D; j++) {
        double m = 0;
        for (int b = 0; b < B; b++) m += Z[b * D + j];
        for (int b = 0; b < B; b++) X[b * D + j] = Z[b * D + j] - m / B;
    }
    for (int i = 0; i < D; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += X[b * D + i] * X[b * D + j];
            C[i * D + j] = s / (B - 1);
        }
    for (int j = 0; j < D; j++) { /* C = L Lᵀ, L in the lower triangle of C */
        for (int k = 0; k < j; k++) C[j * D + j] -= C[j * D + k] * C[j * D + k];
        C[j * D + j] = sqrt(C[j * D + j]);
        for (int i = j + 1; i < D; i++) {
            for (int k = 0; k < j; k++) C[i * D + j] -= C[i * D + k] * C[j * D + k];
            C[i * D + j] /= C[j * D + j];
        }
    }
    for (int b = 0; b < B; b++) /* row x ← L⁻¹ x (forward substitution) */
        for (int i = 0; i < D; i++) {
            double s = X[b * D + i];
            for (int k = 0; k < i; k++) s -= C[i * D + k] * X[b * D + k];
            X[b * D + i] = s / C[i * D + i];
        }
    for (size_t i = 0; i < (size_t)B * D; i++) Z[i] = (float)X[i];
    free(X), free(C);
}

/* SIGReg(Z) (B, D) on the CPU backend with S directions of stream (seed, "dirs"). */
static double sigreg_of(const float *Z, int B, int D, int S, uint64_t seed) {
    Backend *be = backend_cpu();
    be->set_threads(be, 1);
    JepaRegWork w = {0};
    float *A = malloc((size_t)D * S * sizeof(float));
    Rng r = rng_stream(seed, "dirs");
    sigreg_directions(&r, A, D, S);
    float *dz = be->alloc(be, (size_t)B * D * 4), *da = be->alloc(be, (size_t)D * S * 4);
    be->upload(be, dz, Z, (size_t)B * D * 4);
    be->upload(be, da, A, (size_t)D * S * 4);
    double v = NAN;
    cr_assert_eq(sigreg_set(be, dz, NULL, da, B, D, S, 1.0, &w, &v), 0);
    be->free(be, dz), be->free(be, da), free(A);
    jepa_reg_work_free(&w);
    return v;
}

/* VICReg's v(Z), c(Z) on the CPU backend. */
static void vicreg_of(const float *Z, int B, int D, double *v, double *c) {
    Backend *be = backend_cpu();
    JepaRegWork w = {0};
    float *dz = be->alloc(be, (size_t)B * D * 4);
    be->upload(be, dz, Z, (size_t)B * D * 4);
    cr_assert_eq(vicreg_set(be, dz, NULL, B, D, 1.0, 1.0, &w, v, c), 0);
    be->free(be, dz);
    jepa_reg_work_free(&w);
}

enum { NB = 512, ND = 16 };

/* rows all equal (complete collapse), or u_b·v (rank 1: every row on one line) */
static float *collapsed(int rank1) {
    float *Z = gaussian(NB, ND, 1.0, 5), *v = gaussian(1, ND, 1.0, 6);
    Rng r = rng_stream(7, "u");
    for (int b = 0; b < NB; b++) {
        double u = rank1 ? rng_normal(&r) : 1.0;
        for (int j = 0; j < ND; j++) Z[b * ND + j] = (float)(u * v[j]);
    }
    free(v);
    return Z;
}

/* EP's expectation under the null, ∫(1 − φ²) w on the quadrature: SIGReg of Gaussian samples sits there. */
static double ep_null(void) {
    double t[EP_NODES], om[EP_NODES], phi[EP_NODES], e = 0;
    ep_quadrature(t, om, phi);
    for (int k = 0; k < EP_NODES; k++) e += om[k] * (1 - phi[k] * phi[k]);
    return e;
}

Test(sigreg, near_minimum_on_gaussian_large_on_collapsed) {
    float *Z = gaussian(NB, ND, 1.0, 1), *W = gaussian(NB, ND, 1.0, 2), *Z1 = collapsed(0), *Zr = collapsed(1);
    whiten(W, NB, ND);
    double g = sigreg_of(Z, NB, ND, 256, 3), gw = sigreg_of(W, NB, ND, 256, 3), e = ep_null();
    cr_expect(fabs(e - 1.0592) < 1e-3, "null expectation √(2π) − √(2π/3) = 1.0592, quadrature %.5f", e);
    cr_expect(g > 0.5 * e && g < 1.6 * e, "N(0, I) samples: SIGReg %.4f, null expectation %.4f", g, e);
    cr_expect(gw > 0 && gw < 1.6 * e, "whitened N(0, I) samples (exact first two moments): SIGReg %.4f", gw);
    /* the minimum is at unit scale: narrower or wider samples test worse */
    for (int i = 0; i < 2; i++) {
        double sc = i ? 1.5 : 0.6;
        float *X = gaussian(NB, ND, sc, 1);
        double v = sigreg_of(X, NB, ND, 256, 3);
        cr_expect(v > 3 * g, "N(0, %.1f² I): SIGReg %.4f should exceed 3 x %.4f", sc, v, g);
        free(X);
    }
    double c1 = sigreg_of(Z1, NB, ND, 256, 3), cr = sigreg_of(Zr, NB, ND, 256, 3);
    cr_expect(c1 > 0.4 * NB, "all rows equal: SIGReg %.2f >= 0.41·B = %.0f", c1, 0.41 * NB);
    cr_expect(cr > 20 * g, "rank 1: SIGReg %.2f", cr);
    free(Z), free(W), free(Z1), free(Zr);
}

Test(vicreg, near_minimum_on_gaussian_large_on_collapsed) {
    float *Z = gaussian(NB, ND, 1.0, 1), *W = gaussian(NB, ND, 1.0, 2), *Z1 = collapsed(0), *Zr = collapsed(1);
    whiten(W, NB, ND);
    double v, c;
    vicreg_of(W, NB, ND, &v, &c);
    cr_expect(v == 0.0 && c < 1e-9, "whitened: the minimum 0 (v %.3g, c %.3g)", v, c);
    vicreg_of(Z, NB, ND, &v, &c);
    cr_expect(v < 0.03 && c < 0.06, "N(0, I): v %.4f (std ~1 ± 0.03), c %.4f ((D − 1)/B ≈ 0.03)", v, c);
    double r = v + 0.04 * c;
    vicreg_of(Z1, NB, ND, &v, &c);
    cr_expect(fabs(v - (1 - sqrt(1e-4))) < 1e-6 && c < 1e-9, "all rows equal: v = 1 − √1e-4 = 0.99 (%.6f), c 0 (%g)",
              v, c);
    cr_expect(v + 0.04 * c > 30 * r, "collapsed R %.4f vs Gaussian R %.4f", v + 0.04 * c, r);
    vicreg_of(Zr, NB, ND, &v, &c);
    cr_expect(c > 1.0, "rank 1: every pair of dimensions correlated, c %.3f", c);
    free(Z), free(W), free(Z1), free(Zr);
}

Test(sigreg, directions_are_unit_and_seeded) {
    enum { D = 7, S = 5 };
    float A[D * S], A2[D * S];
    Rng r = rng_stream(11, "sigreg"), r2 = rng_stream(11, "sigreg");
    sigreg_directions(&r, A, D, S);
    sigreg_directions(&r2, A2, D, S);
    cr_expect_eq(memcmp(A, A2, sizeof A), 0, "same stream, same directions");
    for (int s = 0; s < S; s++) {
        double nn = 0;
        for (int j = 0; j < D; j++) nn += (double)A[j * S + s] * A[j * S + s];
        cr_expect(fabs(nn - 1) < 1e-6, "column %d: |a|² = %.9f", s, nn);
    }
    sigreg_directions(&r, A2, D, S);
    cr_expect_neq(memcmp(A, A2, sizeof A), 0, "the next step draws new directions");
}

/* ---- gradients ------------------------------------------------------------------------------- */

/* R of one set on the reference backend, gradient by the op chain, finite differences on every coordinate. */
typedef struct SetCtx { int kind, B, D, S; float *Z, *A; double sv, sc; } SetCtx;

static double set_value(void *p) {
    SetCtx *c = p;
    Backend *be = backend_ref();
    JepaRegWork w = {0};
    double v = 0, v2 = 0;
    if (c->kind == JEPA_REG_SIGREG) cr_assert_eq(sigreg_set(be, c->Z, NULL, c->A, c->B, c->D, c->S, 1, &w, &v), 0);
    else cr_assert_eq(vicreg_set(be, c->Z, NULL, c->B, c->D, 1, 1, &w, &v, &v2), 0);
    jepa_reg_work_free(&w);
    return c->kind == JEPA_REG_SIGREG ? c->sv * v : c->sv * v + c->sc * v2;
}

static void check_set_grad(int kind, Backend *be) {
    enum { B = 6, D = 5, S = 4 };
    Rng r = rng_stream(21, "set");
    float Z[B * D], A[D * S], dZ[B * D];
    for (int i = 0; i < B * D; i++) Z[i] = (float)(0.6 * rng_normal(&r)) + (i % D == 2 ? 0.5f : 0.0f);
    Z[3] = 2.5f; /* a dimension whose std exceeds 1: the hinge is off there */
    sigreg_directions(&r, A, D, S);
    SetCtx c = {kind, B, D, S, Z, A, 0.7, 1.3};
    for (int i = 0; i < B * D; i++) dZ[i] = 0.25f; /* the gradient accumulates */
    JepaRegWork w = {0};
    double v, v2;
    float *dz = be->alloc(be, sizeof Z), *dd = be->alloc(be, sizeof dZ), *da = be->alloc(be, sizeof A);
    be->upload(be, dz, Z, sizeof Z), be->upload(be, dd, dZ, sizeof dZ), be->upload(be, da, A, sizeof A);
    if (kind == JEPA_REG_SIGREG) cr_assert_eq(sigreg_set(be, dz, dd, da, B, D, S, c.sv, &w, &v), 0);
    else cr_assert_eq(vicreg_set(be, dz, dd, B, D, c.sv, c.sc, &w, &v, &v2), 0);
    be->download(be, dZ, dd, sizeof dZ);
    be->free(be, dz), be->free(be, dd), be->free(be, da);
    jepa_reg_work_free(&w);
    for (int i = 0; i < B * D; i++) dZ[i] -= 0.25f;
    size_t idx[B * D];
    for (int i = 0; i < B * D; i++) idx[i] = (size_t)i;
    double worst = fd_check(set_value, &c, Z, dZ, idx, B * D, 1e-3, 2e-3, 1e-5, kind == 1 ? "sigreg" : "vicreg");
    cr_expect_leq(worst, 1.0, "[%s] %s: finite-difference ratio %.3g", be->name, kind == 1 ? "sigreg" : "vicreg",
                  worst);
}

Test(sigreg, gradient_of_one_set) {
    check_set_grad(JEPA_REG_SIGREG, backend_ref());
    check_set_grad(JEPA_REG_SIGREG, backend_cpu());
}

Test(vicreg, gradient_of_one_set) {
    check_set_grad(JEPA_REG_VICREG, backend_ref());
    check_set_grad(JEPA_REG_VICREG, backend_cpu());
}

/* The whole JEPA loss of a pico model with a regulariser: every tensor, finite differences. */
typedef struct Ctx { Model m; Batch b; LossOpts o; LossWork w; } Ctx;

static void setup(Ctx *c, int kind, int k, int linear, int code2text) {
    memset(c, 0, sizeof *c);
    pico_model(&c->m, NULL, linear, 7, 0.2f, 0.3);
    ViewOpts vo = {.include_system = 1, .targets_all = 1, .k = linear ? 0 : k, .packed = 1, .code2text = code2text};
    int idx[3] = {0, 1, 2};
    cr_assert_eq(batch_build(&c->b, PICO_EX, idx, 3, &vo, 1), 0);
    c->o = (LossOpts){.gamma = 0.7, .lambda = 1.5, .metric = jepa_metric("cosine"), .code2text = code2text,
                      .predictor_linear = linear};
    c->o.reg = (JepaReg){kind, 0.8, 16, 25, 1, NULL};
}

static void teardown(Ctx *c) {
    batch_free(&c->b);
    loss_work_free(&c->w);
    model_free(&c->m);
}

static double total(void *p) {
    Ctx *c = p;
    LossOut out;
    cr_assert_eq(loss_step(&c->m, &c->b, &c->o, &c->w, &out, 0), 0);
    return out.total;
}

static void check_whole_loss(int kind, int k, int linear, int code2text, const char *what) {
    Ctx c;
    setup(&c, kind, k, linear, code2text);
    LossOut out, plain;
    model_zero_grads(&c.m);
    cr_assert_eq(loss_step(&c.m, &c.b, &c.o, &c.w, &out, 1), 0);
    cr_assert(out.reg > 0, "%s: R computed (%g)", what, out.reg);
    cr_expect(fabs(out.total - (0.7 * out.ntp + 1.5 * out.jepa + 0.8 * out.reg)) < 1e-12 * out.total,
              "%s: total = γ·ntp + λ·d + w·R", what);
    Ctx p;
    setup(&p, JEPA_REG_NONE, k, linear, code2text);
    cr_assert_eq(loss_step(&p.m, &p.b, &p.o, &p.w, &plain, 0), 0);
    cr_expect_eq(plain.reg, 0.0);
    cr_expect(fabs(plain.total + 0.8 * out.reg - out.total) < 1e-9, "%s: R adds to the plain JEPA loss", what);
    teardown(&p);
    double worst = 0;
    for (int t = 0; t < c.m.ntensors; t++) {
        Tensor *T = &c.m.tensors[t];
        size_t idx[6];
        for (int s = 0; s < 6; s++) idx[s] = (size_t)((s * 7919u + t * 104729u) % T->numel);
        worst = fmax(worst, fd_check(total, &c, c.m.params + T->offset, c.m.grads + T->goff, idx, 6, 1e-2, 3e-2, 2e-4,
                                     T->name));
    }
    cr_expect_leq(worst, 1.0, "%s: finite-difference ratio %.3g", what, worst);
    teardown(&c);
}

Test(sigreg, whole_loss_gradient) { check_whole_loss(JEPA_REG_SIGREG, 2, 0, 0, "sigreg k=2"); }
Test(sigreg, whole_loss_gradient_code2text_linear) {
    check_whole_loss(JEPA_REG_SIGREG, 0, 1, 1, "sigreg code2text predictor=linear");
}
Test(vicreg, whole_loss_gradient) { check_whole_loss(JEPA_REG_VICREG, 1, 0, 0, "vicreg k=1"); }
Test(vicreg, whole_loss_gradient_linear) { check_whole_loss(JEPA_REG_VICREG, 0, 1, 0, "vicreg predictor=linear"); }

/* With λ = 0 the regulariser alone trains (its gradient is not dropped with the JEPA term's). */
Test(sigreg, trains_with_lambda_zero) {
    Ctx c;
    setup(&c, JEPA_REG_SIGREG, 1, 0, 0);
    c.o.lambda = 0;
    Ctx p;
    setup(&p, JEPA_REG_NONE, 1, 0, 0);
    p.o.lambda = 0;
    LossOut a, b;
    model_zero_grads(&c.m), model_zero_grads(&p.m);
    cr_assert_eq(loss_step(&c.m, &c.b, &c.o, &c.w, &a, 1), 0);
    cr_assert_eq(loss_step(&p.m, &p.b, &p.o, &p.w, &b, 1), 0);
    double d = 0;
    for (size_t i = 0; i < c.m.ntrainable; i++) d = fmax(d, fabs(c.m.grads[i] - p.m.grads[i]));
    cr_expect_gt(d, 1e-4, "the regulariser's gradient is there (max difference %g)", d);
    teardown(&c), teardown(&p);
}

/* ---- determinism ----------------------------------------------------------------------------- */

/* Three steps with SIGReg directions from stream (seed, "sigreg"): the losses and the last gradient. */
static void three_steps(uint64_t seed, double *reg, float **grads, size_t *n) {
    Ctx c;
    setup(&c, JEPA_REG_SIGREG, 1, 0, 0);
    Rng r = rng_stream(seed, "sigreg");
    c.o.reg.rng = &r;
    for (int s = 0; s < 3; s++) {
        LossOut out;
        model_zero_grads(&c.m);
        cr_assert_eq(loss_step(&c.m, &c.b, &c.o, &c.w, &out, 1), 0);
        reg[s] = out.reg;
    }
    *n = c.m.ntrainable;
    *grads = malloc(*n * sizeof(float));
    memcpy(*grads, c.m.grads, *n * sizeof(float));
    teardown(&c);
}

Test(sigreg, same_seed_same_bits) {
    double a[3], b[3], o[3];
    float *ga, *gb, *go;
    size_t n, n2, n3;
    three_steps(82, a, &ga, &n);
    three_steps(82, b, &gb, &n2);
    three_steps(23, o, &go, &n3);
    cr_assert_eq(n, n2);
    cr_expect_eq(memcmp(a, b, sizeof a), 0, "same seed: the same R, bit for bit");
    cr_expect_eq(memcmp(ga, gb, n * sizeof(float)), 0, "same seed: the same gradient, bit for bit");
    cr_expect(a[0] != a[1] && a[1] != a[2], "new directions every step: %.9g %.9g %.9g", a[0], a[1], a[2]);
    cr_expect(a[0] != o[0], "another seed, other directions: %.9g vs %.9g", a[0], o[0]);
    free(ga), free(gb), free(go);
}

/* ---- config ---------------------------------------------------------------------------------- */

static Config cfg(const char *const *kv) {
    Config c;
    config_defaults(&c);
    char err[256];
    for (; kv && *kv; kv++) cr_assert_eq(config_set_kv(&c, *kv, err, sizeof err), 0, "%s", err);
    return c;
}

static void id_of(const char *const *kv, char id[17]) {
    Config c = cfg(kv);
    char err[256];
    cr_assert_eq(config_run_id(&c, id, err, sizeof err), 0, "%s", err);
}

Test(jepa_reg_config, identity_and_options) {
    static const char *const jepa[] = {"loss=jepa", NULL}, *const none[] = {"loss=jepa", "jepa_reg=none", NULL},
                             *const ntp_none[] = {"jepa_reg=none", "jepa_reg_weight=3", "sigreg_slices=7", NULL},
                             *const ntp_sig[] = {"jepa_reg=sigreg", NULL},
                             *const sig[] = {"loss=jepa", "jepa_reg=sigreg", NULL},
                             *const sig_w[] = {"loss=jepa", "jepa_reg=sigreg", "jepa_reg_weight=1.0", NULL},
                             *const sig_w2[] = {"loss=jepa", "jepa_reg=sigreg", "jepa_reg_weight=0.5", NULL},
                             *const sig_s[] = {"loss=jepa", "jepa_reg=sigreg", "vicreg_var=3", NULL},
                             *const vic[] = {"loss=jepa", "jepa_reg=vicreg", "sigreg_slices=3", NULL};
    char a[17], b[17], base[17];
    id_of(NULL, base);
    id_of(ntp_none, a);
    cr_expect_str_eq(a, base, "jepa_reg=none: the regulariser's settings have no effect, no identity");
    id_of(jepa, a);
    id_of(none, b);
    cr_expect_str_eq(a, b, "jepa_reg=none is the neutral value");
    id_of(sig, b);
    cr_expect_str_neq(a, b, "sigreg is another run");
    id_of(sig_w, a);
    cr_expect_str_eq(a, b, "the default weight is neutral");
    id_of(sig_w2, a);
    cr_expect_str_neq(a, b, "another weight is another run");
    id_of(sig_s, a);
    cr_expect_str_eq(a, b, "VICReg's coefficients do not act under sigreg");
    id_of(vic, a);
    cr_expect_str_neq(a, b);
    Config c = cfg(vic);
    LossOpts o = loss_opts(&c);
    cr_expect_eq(o.reg.kind, JEPA_REG_VICREG);
    cr_expect(o.reg.var_coeff == 25 && o.reg.cov_coeff == 1, "VICReg's defaults: 25, 1");
    Config n = cfg(ntp_sig);
    cr_expect_eq(loss_opts(&n).reg.kind, JEPA_REG_NONE, "no regulariser without loss=jepa");
    char err[256];
    cr_expect_eq(config_set(&c, "jepa_reg", "barlow", err, sizeof err), -1);
    cr_expect(strstr(err, "none|sigreg|vicreg") != NULL, "%s", err);
    cr_expect_eq(config_set(&c, "sigreg_slices", "0", err, sizeof err), -1);
    cr_expect_eq(config_set(&c, "batch_size", "1", err, sizeof err), 0);
    cr_expect_eq(config_validate(&c, err, sizeof err), -1, "VICReg needs two examples per batch");
    cr_expect(strstr(err, "jepa_reg=vicreg") != NULL, "%s", err);
    cr_expect_eq(jepa_reg_kind("sigreg"), JEPA_REG_SIGREG);
    cr_expect_eq(jepa_reg_kind("nope"), -1);
}

/* A backend without the op (a wrapper that does not forward it) is an error, not a crash. */
Test(sigreg, backend_without_the_op) {
    Backend nop = *backend_ref();
    nop.epps_pulley = NULL;
    JepaRegWork w = {0};
    float Z[6] = {1, 2, 3, 4, 5, 6}, A[4] = {1, 0, 0, 1};
    double v;
    cr_expect_eq(sigreg_set(&nop, Z, NULL, A, 3, 2, 2, 1.0, &w, &v), -1);
    jepa_reg_work_free(&w);
}
