/* Whole-model gradient checks (NTP and JEPA, k = 0 and k > 0), separate vs
 * packed agreement, and determinism. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "fd.h"
#include "loss.h"
#include "model.h"

static Example EX[3] = {
    {"Convert.", "lines with a vowel", "[AEIOU]"},
    {"Convert.", "words ending in dog", "\\bdog\\b"},
    {"Convert.", "a number, 3 times", "([0-9]){3,}"},
};

typedef struct Ctx {
    Model m;
    Batch b;
    LossOpts o;
    LossWork w;
} Ctx;

static void setup_ctx(Ctx *c, int k, int packed, int jepa, const char *metric, int include_system) {
    memset(c, 0, sizeof *c);
    backend_cpu_set_threads(1);
    ModelConfig mc;
    char err[256];
    cr_assert_eq(model_preset("pico", TOK_VOCAB, &mc, err, sizeof err), 0);
    cr_assert_eq(model_init(&c->m, &mc, backend_cpu(), err, sizeof err), 0, "%s", err);
    Rng r = rng_stream(7, "init");
    model_init_weights(&c->m, &r, 0.2f); /* large init: non-trivial attention and gradients */
    Rng r2 = rng_stream(7, "norms");
    for (int t = 0; t < c->m.ntensors; t++) /* perturb norm weights away from 1 */
        if (c->m.tensors[t].ndim == 1)
            for (size_t i = 0; i < c->m.tensors[t].numel; i++)
                c->m.params[c->m.tensors[t].offset + i] += (float)(0.3 * rng_normal(&r2));
    ViewOpts vo = {include_system, 1, k, packed};
    int idx[3] = {0, 1, 2};
    cr_assert_eq(batch_build(&c->b, EX, idx, 3, &vo, jepa), 0);
    c->o.gamma = 0.7;
    c->o.lambda = jepa ? 1.5 : 0.0;
    c->o.metric = jepa ? jepa_metric(metric) : NULL;
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
    memset(c.m.grads, 0, c.m.nparams * sizeof(float));
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
        memset(a.m.grads, 0, a.m.nparams * sizeof(float));
        memset(b.m.grads, 0, b.m.nparams * sizeof(float));
        cr_assert_eq(loss_step(&a.m, &a.b, &a.o, &a.w, &oa, 1), 0);
        cr_assert_eq(loss_step(&b.m, &b.b, &b.o, &b.w, &ob, 1), 0);
        cr_expect_float_eq(oa.ntp, ob.ntp, 1e-5);
        cr_expect_float_eq(oa.jepa, ob.jepa, 1e-5);
        double maxd = 0, maxg = 0;
        for (size_t i = 0; i < a.m.nparams; i++) {
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
    memset(a.m.grads, 0, a.m.nparams * sizeof(float));
    memset(b.m.grads, 0, b.m.nparams * sizeof(float));
    cr_assert_eq(loss_step(&a.m, &a.b, &a.o, &a.w, &oa, 1), 0);
    cr_assert_eq(loss_step(&b.m, &b.b, &b.o, &b.w, &ob, 1), 0);
    cr_expect(oa.jepa > 0.0);
    cr_expect_float_eq(oa.total, ob.total, 1e-6);
    double maxd = 0;
    for (size_t i = 0; i < a.m.nparams; i++) maxd = fmax(maxd, fabs(a.m.grads[i] - b.m.grads[i]));
    cr_expect_leq(maxd, 1e-5, "gradients differ by %g", maxd);
    teardown_ctx(&a);
    teardown_ctx(&b);
}
