/* Whole-model gradient checks (NTP and JEPA, k = 0 and k > 0), separate vs
 * packed agreement, and determinism. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "fd.h"
#include "loss.h"
#include "model.h"
#include "model_config.h"
#include "pico.h"

#define EX PICO_EX

typedef struct Ctx {
    Model m;
    Batch b;
    LossOpts o;
    LossWork w;
} Ctx;

static void setup_lora(Ctx *c, int k, int packed, int jepa, const char *metric, int include_system,
                       const LoraConfig *lora) {
    memset(c, 0, sizeof *c);
    pico_model(&c->m, lora, 0, 7, 0.2f, 0.3); /* large init, norms away from 1: non-trivial gradients */
    ViewOpts vo = {.include_system = include_system, .targets_all = 1, .k = k, .packed = packed};
    int idx[3] = {0, 1, 2};
    cr_assert_eq(batch_build(&c->b, EX, idx, 3, &vo, jepa), 0);
    c->o.gamma = 0.7;
    c->o.lambda = jepa ? 1.5 : 0.0;
    c->o.metric = jepa ? jepa_metric(metric) : NULL;
}

static void setup_ctx(Ctx *c, int k, int packed, int jepa, const char *metric, int include_system) {
    setup_lora(c, k, packed, jepa, metric, include_system, NULL);
}

static void teardown_ctx(Ctx *c) {
    batch_free(&c->b);
    loss_work_free(&c->w);
    model_free(&c->m);
}

static double total_loss(void *p) {
    Ctx *c = p;
    LossOut out;
    cr_assert_eq(loss_step(&c->m, &c->b, &c->o, &c->w, &out, 0), 0);
    return out.total;
}

static void check_model_grad(int k, int packed, int jepa, const char *metric) {
    Ctx c;
    setup_ctx(&c, k, packed, jepa, metric, 1);
    LossOut out;
    model_zero_grads(&c.m);
    cr_assert_eq(loss_step(&c.m, &c.b, &c.o, &c.w, &out, 1), 0);
    if (jepa) cr_assert(out.jepa > 0.0, "JEPA distance should be computed");
    /* Check a sample of coordinates from every tensor. */
    double worst = 0;
    for (int t = 0; t < c.m.ntensors; t++) {
        Tensor *T = &c.m.tensors[t];
        size_t idx[6];
        for (int s = 0; s < 6; s++) idx[s] = T->offset + (size_t)((s * 7919u + t * 104729u) % T->numel);
        double w = fd_check(total_loss, &c, c.m.params, c.m.grads, idx, 6, 1e-2, 3e-2, 2e-4, T->name);
        if (w > worst) worst = w;
    }
    cr_expect_leq(worst, 1.0, "finite-difference mismatch (k=%d packed=%d jepa=%d %s): ratio %.3g", k, packed, jepa,
                  metric ? metric : "-", worst);
    teardown_ctx(&c);
}

Test(model_grad, ntp) { check_model_grad(0, 0, 0, NULL); }
Test(model_grad, jepa_cosine_k0_separate) { check_model_grad(0, 0, 1, "cosine"); }
Test(model_grad, jepa_cosine_k2_packed) { check_model_grad(2, 1, 1, "cosine"); }
Test(model_grad, jepa_cosine_k3_separate) { check_model_grad(3, 0, 1, "cosine"); }
Test(model_grad, jepa_l2_k1_packed) { check_model_grad(1, 1, 1, "l2"); }
Test(model_grad, jepa_mse_k1_packed) { check_model_grad(1, 1, 1, "mse"); }

/* separate and packed compute the same losses and gradients. */
Test(jepa_pass, separate_equals_packed) {
    for (int k = 0; k <= 2; k += 2) {
        Ctx a, b;
        setup_ctx(&a, k, 0, 1, "cosine", 1);
        setup_ctx(&b, k, 1, 1, "cosine", 1);
        cr_assert_neq(a.b.nrows, b.b.nrows, "separate has more rows than packed");
        LossOut oa, ob;
        model_zero_grads(&a.m);
        model_zero_grads(&b.m);
        cr_assert_eq(loss_step(&a.m, &a.b, &a.o, &a.w, &oa, 1), 0);
        cr_assert_eq(loss_step(&b.m, &b.b, &b.o, &b.w, &ob, 1), 0);
        cr_expect_float_eq(oa.ntp, ob.ntp, 1e-5);
        cr_expect_float_eq(oa.jepa, ob.jepa, 1e-5);
        double maxd = 0, maxg = 0;
        for (size_t i = 0; i < a.m.ntrainable; i++) {
            maxd = fmax(maxd, fabs(a.m.grads[i] - b.m.grads[i]));
            maxg = fmax(maxg, fabs(a.m.grads[i]));
        }
        cr_expect_leq(maxd, 1e-5 * fmax(1.0, maxg), "k=%d: max grad difference %g (max grad %g)", k, maxd, maxg);
        teardown_ctx(&a);
        teardown_ctx(&b);
    }
}

/* lambda = 0 with loss=jepa: the distance is logged, the gradient is NTP's. */
Test(jepa_pass, lambda_zero_monitors_only) {
    Ctx a, b;
    setup_ctx(&a, 1, 1, 1, "cosine", 1);
    setup_ctx(&b, 1, 1, 0, NULL, 1);
    a.o.lambda = 0.0;
    LossOut oa, ob;
    model_zero_grads(&a.m);
    model_zero_grads(&b.m);
    cr_assert_eq(loss_step(&a.m, &a.b, &a.o, &a.w, &oa, 1), 0);
    cr_assert_eq(loss_step(&b.m, &b.b, &b.o, &b.w, &ob, 1), 0);
    cr_expect(oa.jepa > 0.0);
    cr_expect_float_eq(oa.total, ob.total, 1e-6);
    double maxd = 0;
    for (size_t i = 0; i < a.m.ntrainable; i++) maxd = fmax(maxd, fabs(a.m.grads[i] - b.m.grads[i]));
    cr_expect_leq(maxd, 1e-5, "gradients differ by %g", maxd);
    teardown_ctx(&a);
    teardown_ctx(&b);
}

/* ---- LoRA (ALGORITHM.md §5) ------------------------------------------------------- */

/* A pico model with adapters of rank 2 on every target, B made non-zero so
 * every adapter gradient is non-trivial, and a fixed dropout key. */
static void setup_lora_ctx(Ctx *c, int jepa, float dropout) {
    LoraConfig lc = {2, 4.0f, dropout, (1u << LT_COUNT) - 1};
    setup_lora(c, 1, 1, jepa, "cosine", 1, &lc);
    Rng r = rng_stream(9, "lora");
    model_init_lora(&c->m, &r);
    for (int t = 0; t < c->m.ntensors; t++) {
        Tensor *T = &c->m.tensors[t];
        if (!strstr(T->name, ".lora_B.")) continue;
        for (size_t i = 0; i < T->numel; i++) c->m.params[T->offset + i] = (float)(0.3 * rng_normal(&r));
    }
    model_set_training(&c->m, dropout > 0, 12345); /* the same masks on every forward: FD is valid */
}

static void check_lora_grad(int jepa, float dropout) {
    Ctx c;
    setup_lora_ctx(&c, jepa, dropout);
    cr_assert_gt(c.m.ntrainable, 0);
    int nlora = 0;
    for (int t = 0; t < c.m.ntensors; t++) {
        Tensor *T = &c.m.tensors[t];
        int is_lora = strstr(T->name, ".lora_") != NULL;
        nlora += is_lora;
        cr_expect_eq(T->trainable, is_lora, "%s: trainable %d", T->name, T->trainable);
        cr_expect_eq(model_grad(&c.m, t) == NULL, !is_lora, "%s: frozen tensors have no gradient", T->name);
    }
    cr_expect_eq(nlora, 2 * 7 * c.m.cfg.n_layers, "A and B of 7 targets per layer");
    model_zero_grads(&c.m);
    LossOut out;
    cr_assert_eq(loss_step(&c.m, &c.b, &c.o, &c.w, &out, 1), 0);
    double worst = 0;
    for (int t = 0; t < c.m.ntensors; t++) {
        Tensor *T = &c.m.tensors[t];
        if (!T->trainable) continue;
        size_t idx[5];
        for (int s = 0; s < 5; s++) idx[s] = (size_t)((s * 7919u + t * 104729u) % T->numel);
        double w = fd_check(total_loss, &c, c.m.params + T->offset, c.m.grads + T->goff, idx, 5, 1e-2, 3e-2, 2e-4,
                            T->name);
        worst = fmax(worst, w);
    }
    cr_expect_leq(worst, 1.0, "LoRA finite differences (jepa=%d dropout=%g): ratio %.3g", jepa, dropout, worst);
    teardown_ctx(&c);
}

Test(lora, grad_ntp) { check_lora_grad(0, 0.0f); }
Test(lora, grad_jepa) { check_lora_grad(1, 0.0f); }
Test(lora, grad_with_dropout) { check_lora_grad(1, 0.3f); }

/* A fresh adapter (B = 0) leaves the model's function unchanged. */
Test(lora, zero_b_is_identity) {
    Ctx a, b;
    setup_ctx(&a, 1, 1, 1, "cosine", 1);
    LoraConfig lc = {3, 6.0f, 0.0f, (1u << LT_COUNT) - 1};
    setup_lora(&b, 1, 1, 1, "cosine", 1, &lc);
    Rng r = rng_stream(3, "lora");
    model_init_lora(&b.m, &r);
    LossOut oa, ob;
    cr_assert_eq(loss_step(&a.m, &a.b, &a.o, &a.w, &oa, 0), 0);
    cr_assert_eq(loss_step(&b.m, &b.b, &b.o, &b.w, &ob, 0), 0);
    cr_expect_eq(oa.total, ob.total, "B = 0: %.9g vs %.9g", oa.total, ob.total);
    teardown_ctx(&a);
    teardown_ctx(&b);
}

/* Merging W + (alpha/r) B A gives the same loss as the model with adapters. */
Test(lora, merged_equals_unmerged) {
    Ctx c, p;
    setup_lora_ctx(&c, 1, 0.0f);
    model_set_training(&c.m, 0, 0);
    setup_ctx(&p, 1, 1, 1, "cosine", 1);
    float *host = malloc(c.m.nparams * sizeof(float));
    cr_assert_eq(model_params_merged(&c.m, host), 0);
    for (int t = 0; t < p.m.ntensors; t++) /* plain model: same base names, merged values */
        model_tensor_set(&p.m, t, host + c.m.tensors[model_tensor_id(&c.m, p.m.tensors[t].name)].offset);
    LossOut oc, op;
    cr_assert_eq(loss_step(&c.m, &c.b, &c.o, &c.w, &oc, 0), 0);
    cr_assert_eq(loss_step(&p.m, &p.b, &p.o, &p.w, &op, 0), 0);
    cr_expect(fabs(oc.total - op.total) <= 1e-5 * fabs(oc.total), "merged %.9g vs adapters %.9g", op.total, oc.total);
    cr_expect(fabs(oc.jepa - op.jepa) <= 1e-5, "jepa merged %.9g vs adapters %.9g", op.jepa, oc.jepa);
    free(host);
    teardown_ctx(&c);
    teardown_ctx(&p);
}

/* Kaiming-uniform(a=√5) A within ±1/√in, B zero. */
Test(lora, init) {
    Ctx c;
    LoraConfig lc = {4, 8.0f, 0.1f, 1u << LT_Q | 1u << LT_DOWN};
    setup_lora(&c, 0, 0, 0, NULL, 1, &lc);
    Rng r = rng_stream(5, "lora");
    model_init_lora(&c.m, &r);
    int n = 0;
    for (int t = 0; t < c.m.ntensors; t++) {
        Tensor *T = &c.m.tensors[t];
        if (!strstr(T->name, ".lora_")) continue;
        n++;
        int is_a = strstr(T->name, ".lora_A.") != NULL;
        double bound = 1.0 / sqrt((double)T->shape[1]), mx = 0;
        for (size_t i = 0; i < T->numel; i++) mx = fmax(mx, fabs(c.m.params[T->offset + i]));
        if (is_a) cr_expect(mx > 0.5 * bound && mx <= bound, "%s: max |A| %g, bound %g", T->name, mx, bound);
        else cr_expect_eq(mx, 0.0, "%s: B must start at 0", T->name);
    }
    cr_expect_eq(n, 2 * 2 * c.m.cfg.n_layers, "q and down only");
    teardown_ctx(&c);
}

/* ---- Whole-model parity across backends -------------------------------------------- */

/* Loss and every gradient of one JEPA step (LoRA with dropout, so the adapter
 * path and the dropout masks are covered) on backend be, into host arrays. */
static double step_on(Backend *be, float **grads, size_t *n) {
    Ctx c;
    memset(&c, 0, sizeof c);
    ModelConfig mc;
    char err[256];
    cr_assert_eq(model_config_preset("pico", TOK_VOCAB, &mc, err, sizeof err), 0);
    LoraConfig lc = {2, 4.0f, 0.2f, (1u << LT_COUNT) - 1};
    cr_assert_eq(model_init(&c.m, &mc, &lc, be, err, sizeof err), 0, "%s", err);
    Rng r = rng_stream(7, "init"), rl = rng_stream(7, "lora");
    model_init_weights(&c.m, &r, 0.2f);
    model_init_lora(&c.m, &rl);
    for (int t = 0; t < c.m.ntensors; t++) /* non-zero B: every adapter gradient is live */
        if (strstr(c.m.tensors[t].name, ".lora_B.")) {
            float *h = malloc(c.m.tensors[t].numel * sizeof(float));
            for (size_t i = 0; i < c.m.tensors[t].numel; i++) h[i] = (float)(0.3 * rng_normal(&rl));
            model_tensor_set(&c.m, t, h);
            free(h);
        }
    model_set_training(&c.m, 1, 99);
    ViewOpts vo = {.include_system = 1, .targets_all = 1, .k = 2, .packed = 1};
    int idx[3] = {0, 1, 2};
    cr_assert_eq(batch_build(&c.b, EX, idx, 3, &vo, 1), 0);
    c.o.gamma = 0.7, c.o.lambda = 1.5, c.o.metric = jepa_metric("cosine");
    model_zero_grads(&c.m);
    LossOut out;
    cr_assert_eq(loss_step(&c.m, &c.b, &c.o, &c.w, &out, 1), 0);
    *n = c.m.ntrainable;
    *grads = malloc(*n * sizeof(float));
    be->download(be, *grads, c.m.grads, *n * sizeof(float));
    teardown_ctx(&c);
    return out.total;
}

Test(parity, whole_model_step_every_backend) {
    int nb;
    Backend **all = backend_all(&nb);
    cr_assert_geq(nb, 2, "the reference and at least one other backend");
    float *gref;
    size_t nref;
    double lref = step_on(all[0], &gref, &nref);
    double gmax = 0;
    for (size_t i = 0; i < nref; i++) gmax = fmax(gmax, fabs(gref[i]));
    for (int k = 1; k < nb; k++) {
        float *g;
        size_t n;
        double l = step_on(all[k], &g, &n);
        cr_assert_eq(n, nref);
        double d = 0;
        for (size_t i = 0; i < n; i++) d = fmax(d, fabs(g[i] - gref[i]));
        cr_expect(fabs(l - lref) <= 1e-5 * fabs(lref), "%s: loss %.9g vs reference %.9g", all[k]->name, l, lref);
        cr_expect_leq(d, 1e-4 * gmax, "%s: max gradient difference %g (max gradient %g)", all[k]->name, d, gmax);
        free(g);
    }
    free(gref);
}

/* ---- JEPA variants (ALGORITHM.md §1 table): whole-loss finite differences ------------ */

typedef struct Variant { const char *metric; int mean, linear, code2text, front, k; } Variant;

/* A pico model, 3 examples (4 for InfoNCE's negatives), the variant's views
 * and loss options; the linear predictor perturbed away from the identity. */
static void setup_variant(Ctx *c, const Variant *v) {
    memset(c, 0, sizeof *c);
    pico_model(&c->m, NULL, v->linear, 7, 0.2f, 0);
    Rng rp = rng_stream(7, "pred");
    if (v->linear) {
        Tensor *T = &c->m.tensors[c->m.tid_predictor];
        for (size_t i = 0; i < T->numel; i++) c->m.params[T->offset + i] += (float)(0.2 * rng_normal(&rp));
    }
    ViewOpts vo = {.include_system = 1, .targets_all = 1, .k = v->linear ? 0 : v->k, .packed = 1,
                   .pred_front = v->front, .code2text = v->code2text};
    int idx[3] = {0, 1, 2};
    cr_assert_eq(batch_build(&c->b, EX, idx, 3, &vo, 1), 0);
    c->o = (LossOpts){.gamma = 0.7, .lambda = 1.5, .metric = jepa_metric(v->metric), .tau = 0.5, .pooling_mean = v->mean,
                      .code2text = v->code2text, .predictor_linear = v->linear};
    cr_assert(c->o.metric, "metric %s", v->metric);
}

static void check_variant(const Variant *v, const char *what) {
    Ctx c;
    setup_variant(&c, v);
    LossOut out;
    model_zero_grads(&c.m);
    cr_assert_eq(loss_step(&c.m, &c.b, &c.o, &c.w, &out, 1), 0);
    cr_assert(out.jepa != 0.0, "%s: JEPA term computed", what);
    double worst = 0;
    for (int t = 0; t < c.m.ntensors; t++) {
        Tensor *T = &c.m.tensors[t];
        size_t idx[6];
        for (int s = 0; s < 6; s++) idx[s] = (size_t)((s * 7919u + t * 104729u) % T->numel);
        worst = fmax(worst, fd_check(total_loss, &c, c.m.params + T->offset, c.m.grads + T->goff, idx, 6, 1e-2, 3e-2,
                                     2e-4, T->name));
    }
    cr_expect_leq(worst, 1.0, "%s: finite-difference ratio %.3g", what, worst);
    teardown_ctx(&c);
}

Test(variants, infonce) { check_variant(&(Variant){"infonce", 0, 0, 0, 0, 1}, "infonce"); }
Test(variants, linear_predictor) { check_variant(&(Variant){"cosine", 0, 1, 0, 0, 0}, "predictor=linear"); }
Test(variants, linear_predictor_l2) { check_variant(&(Variant){"l2", 0, 1, 0, 0, 0}, "predictor=linear, l2"); }

/* The linear predictor starts as the identity: the same JEPA distance as k = 0. */
Test(variants, linear_predictor_starts_as_identity) {
    Ctx a, b;
    setup_variant(&a, &(Variant){"cosine", 0, 0, 0, 0, 0});
    setup_variant(&b, &(Variant){"cosine", 0, 1, 0, 0, 0});
    model_predictor_identity(&b.m);
    LossOut oa, ob;
    cr_assert_eq(loss_step(&a.m, &a.b, &a.o, &a.w, &oa, 0), 0);
    cr_assert_eq(loss_step(&b.m, &b.b, &b.o, &b.w, &ob, 0), 0);
    cr_expect(fabs(oa.jepa - ob.jepa) < 1e-7, "W = I: %.9g vs k = 0: %.9g", ob.jepa, oa.jepa);
    cr_expect(b.m.tensors[b.m.tid_predictor].trainable, "the predictor trains");
    teardown_ctx(&a);
    teardown_ctx(&b);
}
Test(variants, mean_pooling) { check_variant(&(Variant){"cosine", 1, 0, 0, 0, 2}, "pooling=mean"); }
Test(variants, pred_front) { check_variant(&(Variant){"cosine", 0, 0, 0, 1, 2}, "pred_position=front"); }
Test(variants, code2text) { check_variant(&(Variant){"cosine", 0, 0, 1, 0, 2}, "direction=code2text"); }
Test(variants, code2text_linear_mean) { check_variant(&(Variant){"mse", 1, 1, 1, 0, 0}, "code2text+linear+mean"); }

/* Oracle of the readouts: the JEPA distance equals 1 − mean cos of readouts
 * computed here from h with the documented rule (mean over the span, or the
 * enc token); a deliberately wrong rule (the span shifted by one token)
 * gives a different value, so the check can fail. */
static void readout(double *out, const float *h, int C, const int *span, int enc, int mean, int shift) {
    for (int j = 0; j < C; j++) out[j] = 0;
    int a = mean ? span[0] + shift : enc, z = mean ? span[1] + shift : enc;
    for (int t = a; t <= z; t++)
        for (int j = 0; j < C; j++) out[j] += h[(size_t)t * C + j] / (z - a + 1);
}

static double oracle_cosine(const Ctx *c, const float *h, int mean, int shift) {
    int C = c->m.cfg.dim;
    double u[64], v[64], s = 0;
    for (int e = 0; e < c->b.nex; e++) {
        readout(u, h, C, c->b.text_span + 2 * e, c->b.enc_text[e], mean, shift);
        readout(v, h, C, c->b.code_span + 2 * e, c->b.enc_code[e], mean, shift);
        double uv = 0, uu = 0, vv = 0;
        for (int j = 0; j < C; j++) uv += u[j] * v[j], uu += u[j] * u[j], vv += v[j] * v[j];
        s += uv / sqrt(uu * vv);
    }
    return 1.0 - s / c->b.nex;
}

static void check_oracle(int mean, int code2text) {
    Ctx c;
    setup_variant(&c, &(Variant){"cosine", mean, 0, code2text, 0, 2});
    LossOut out;
    cr_assert_eq(loss_step(&c.m, &c.b, &c.o, &c.w, &out, 0), 0);
    float *h = model_forward(&c.m, &c.b); /* the same pass again: h on the CPU backend */
    double want = oracle_cosine(&c, h, mean, 0), wrong = oracle_cosine(&c, h, mean, mean ? 1 : 0);
    cr_expect(fabs(out.jepa - want) < 1e-6, "mean=%d code2text=%d: engine %.9g, oracle %.9g", mean, code2text, out.jepa,
              want);
    if (mean) cr_expect(fabs(out.jepa - wrong) > 1e-5, "a shifted span must be told apart (%.9g)", wrong);
    teardown_ctx(&c);
}

Test(variants, oracle_last_token) { check_oracle(0, 0); }
Test(variants, oracle_mean_pooling) { check_oracle(1, 0); }
Test(variants, oracle_code2text_mean) { check_oracle(1, 1); }
