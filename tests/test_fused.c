/* jepa_pass=fused (ALGORITHM.md §3) against packed on a pico model: the same
 * NTP loss, JEPA distance and gradients when the Text view is a prefix of the
 * NTP sequence (system_prompt=omit), for k = 0, 1, 3, code2text, mean pooling
 * and ntp_targets=assistant; fewer tokens; a no-JEPA batch is the NTP batch.
 *
 * With the system prompt kept, fused is a different objective, not a faster
 * packed: its Text view is the NTP prefix ⟨bos⟩ ⟨system⟩ S ⟨user⟩ U [PRED]s,
 * so Enc(Text), the JEPA distance and its gradient change, while the NTP loss
 * is unchanged (the continuation does not see the [PRED]s). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "config.h"
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
    LossOut out;
} Ctx;

/* A pico model (seeded, large init, norms perturbed: non-trivial attention),
 * the batch of EX under vo, and one forward + backward into c->out and the
 * model's gradients. pooling_mean: Enc = mean over the spans. */
static void run_step(Ctx *c, const ViewOpts *vo, int jepa, int pooling_mean) {
    memset(c, 0, sizeof *c);
    pico_model(&c->m, NULL, 0, 7, 0.2f, 0.3);
    int idx[3] = {0, 1, 2};
    cr_assert_eq(batch_build(&c->b, EX, idx, 3, vo, jepa), 0);
    c->o = (LossOpts){.gamma = 0.7, .lambda = jepa ? 1.5 : 0.0, .metric = jepa ? jepa_metric("cosine") : NULL,
                      .pooling_mean = pooling_mean, .code2text = vo->code2text};
    model_zero_grads(&c->m);
    cr_assert_eq(loss_step(&c->m, &c->b, &c->o, &c->w, &c->out, 1), 0);
}

static void teardown(Ctx *c) {
    batch_free(&c->b);
    loss_work_free(&c->w);
    model_free(&c->m);
}

/* Largest |a − b| over the gradients, and the largest |a| into *gmax. */
static double grad_diff(const Ctx *a, const Ctx *b, double *gmax) {
    double d = 0;
    *gmax = 0;
    for (size_t i = 0; i < a->m.ntrainable; i++) {
        d = fmax(d, fabs(a->m.grads[i] - b->m.grads[i]));
        *gmax = fmax(*gmax, fabs(a->m.grads[i]));
    }
    return d;
}

#define RTOL 1e-5

/* fused and packed under vo (system omitted): equal losses and gradients. */
static void expect_fused_equals_packed(ViewOpts vo, int pooling_mean, const char *what) {
    Ctx p, f;
    vo.packed = 1, vo.fused = 0;
    run_step(&p, &vo, 1, pooling_mean);
    vo.packed = 0, vo.fused = 1;
    run_step(&f, &vo, 1, pooling_mean);
    cr_expect_eq(f.b.nrows, 6, "%s: a fused row and a Code row per example", what);
    cr_expect_eq(f.b.ntargets, p.b.ntargets, "%s", what);
    cr_expect(p.out.jepa > 1e-3, "%s: a non-trivial distance (%g)", what, p.out.jepa);
    cr_expect(fabs(f.out.ntp - p.out.ntp) <= RTOL * fabs(p.out.ntp), "%s: NTP %.9g fused vs %.9g packed", what,
              f.out.ntp, p.out.ntp);
    cr_expect(fabs(f.out.jepa - p.out.jepa) <= RTOL * fabs(p.out.jepa), "%s: JEPA %.9g fused vs %.9g packed", what,
              f.out.jepa, p.out.jepa);
    double gmax, d = grad_diff(&f, &p, &gmax);
    cr_expect_leq(d, RTOL * gmax, "%s: max gradient difference %g (max gradient %g)", what, d, gmax);
    teardown(&p);
    teardown(&f);
}

Test(fused, equals_packed_k0) { expect_fused_equals_packed((ViewOpts){.targets_all = 1, .k = 0}, 0, "k=0"); }
Test(fused, equals_packed_k1) { expect_fused_equals_packed((ViewOpts){.targets_all = 1, .k = 1}, 0, "k=1"); }
Test(fused, equals_packed_k3) { expect_fused_equals_packed((ViewOpts){.targets_all = 1, .k = 3}, 0, "k=3"); }

Test(fused, equals_packed_code2text) {
    expect_fused_equals_packed((ViewOpts){.targets_all = 1, .k = 2, .code2text = 1}, 0, "code2text k=2");
    expect_fused_equals_packed((ViewOpts){.targets_all = 1, .k = 2, .code2text = 1, .pred_front = 1}, 0,
                               "code2text front k=2");
}

Test(fused, equals_packed_mean_pooling) {
    expect_fused_equals_packed((ViewOpts){.targets_all = 1, .k = 3}, 1, "mean k=3");
    expect_fused_equals_packed((ViewOpts){.targets_all = 1, .k = 2, .code2text = 1}, 1, "mean code2text k=2");
}

Test(fused, equals_packed_assistant_targets) {
    expect_fused_equals_packed((ViewOpts){.targets_all = 0, .k = 1}, 0, "ntp_targets=assistant");
}

/* System prompt kept: the Text view gains ⟨system⟩ S, so the JEPA term
 * differs from packed's; the NTP loss does not. */
Test(fused, system_prompt_changes_the_text_view) {
    Ctx p, f;
    ViewOpts vo = {.include_system = 1, .targets_all = 1, .k = 1, .packed = 1};
    run_step(&p, &vo, 1, 0);
    vo.packed = 0, vo.fused = 1;
    run_step(&f, &vo, 1, 0);
    cr_expect(isfinite(f.out.total) && f.out.jepa > 1e-3, "fused runs: jepa %g", f.out.jepa);
    cr_expect(fabs(f.out.ntp - p.out.ntp) <= RTOL * fabs(p.out.ntp), "NTP %.9g vs %.9g", f.out.ntp, p.out.ntp);
    cr_expect(fabs(f.out.jepa - p.out.jepa) > 1e-3 * fabs(p.out.jepa), "JEPA %.9g fused vs %.9g packed should differ",
              f.out.jepa, p.out.jepa);
    double gmax, d = grad_diff(&f, &p, &gmax);
    cr_expect_gt(d, 1e-3 * gmax, "the gradients differ (%g of %g)", d, gmax);
    teardown(&p);
    teardown(&f);
}

/* fused spares the Text view's ⟨bos⟩ ⟨user⟩ U and the two views' ⟨eos⟩:
 * |U| + 4 tokens per example fewer than packed (as many rows: fused + Code). */
Test(fused, fewer_tokens_than_packed) {
    Batch p = {0}, f = {0};
    int idx[3] = {0, 1, 2};
    for (int k = 0; k <= 3; k += 3) {
        ViewOpts vo = {.targets_all = 1, .k = k, .packed = 1};
        cr_assert_eq(batch_build(&p, EX, idx, 3, &vo, 1), 0);
        vo.packed = 0, vo.fused = 1;
        cr_assert_eq(batch_build(&f, EX, idx, 3, &vo, 1), 0);
        int saved = 0;
        for (int i = 0; i < 3; i++) saved += (int)strlen(EX[i].user) + 4;
        cr_expect_eq(p.n - f.n, saved, "k=%d: packed %d tokens, fused %d", k, p.n, f.n);
        cr_expect_eq(p.nrows, 6);
        cr_expect_eq(f.nrows, 6);
    }
    batch_free(&p);
    batch_free(&f);
}

/* Without JEPA (loss dropout, loss=ntp) a fused batch is the NTP batch, token for token. */
Test(fused, no_jepa_batch_is_the_ntp_batch) {
    Batch p = {0}, f = {0};
    int idx[3] = {0, 1, 2};
    ViewOpts vp = {.targets_all = 1, .k = 2, .packed = 1}, vf = {.targets_all = 1, .k = 2, .fused = 1};
    cr_assert_eq(batch_build(&p, EX, idx, 3, &vp, 0), 0);
    cr_assert_eq(batch_build(&f, EX, idx, 3, &vf, 0), 0);
    cr_assert_eq(f.n, p.n);
    cr_assert_eq(f.nrows, 3);
    cr_expect_eq(f.jepa, 0);
    cr_expect_eq(f.ntargets, p.ntargets);
    cr_expect_eq(f.nseg, p.nseg);
    cr_expect(!memcmp(f.vis, p.vis, sizeof f.vis));
    size_t bytes = (size_t)f.n * sizeof(int);
    cr_expect(!memcmp(f.ids, p.ids, bytes) && !memcmp(f.pos, p.pos, bytes) && !memcmp(f.seg, p.seg, bytes) &&
              !memcmp(f.tgt, p.tgt, bytes), "same tokens, positions, segments and targets");
    cr_expect(!memcmp(f.row_start, p.row_start, 4 * sizeof(int)));
    cr_expect(!memcmp(f.ntp_user, p.ntp_user, 6 * sizeof(int)) && !memcmp(f.ntp_asst, p.ntp_asst, 6 * sizeof(int)));
    for (int i = 0; i < 3; i++) cr_expect(f.enc_text[i] == -1 && f.enc_code[i] == -1 && f.text_span[2 * i] == -1);
    for (int t = 0; t < f.n; t++) cr_expect_eq(f.seg[t], SEG_NTP);
    batch_free(&p);
    batch_free(&f);
}

/* The config refuses fused with [PRED] tokens in front of the Text view (not
 * a prefix of the NTP sequence) and accepts the exact combinations. */
Test(fused, config_front_rule) {
    Config c;
    char err[512];
    config_defaults(&c);
    config_set(&c, "loss", "jepa", err, sizeof err);
    config_set(&c, "jepa_pass", "fused", err, sizeof err);
    config_set(&c, "pred_position", "front", err, sizeof err);
    cr_expect_neq(config_validate(&c, err, sizeof err), 0);
    cr_expect(strstr(err, "pred_position=back"), "%s", err);
    config_set(&c, "direction", "code2text", err, sizeof err);
    cr_expect_eq(config_validate(&c, err, sizeof err), 0, "code2text: the [PRED] tokens are on the Code view: %s", err);
    config_set(&c, "direction", "text2code", err, sizeof err);
    config_set(&c, "k", "0", err, sizeof err);
    cr_expect_eq(config_validate(&c, err, sizeof err), 0, "k = 0: no [PRED] token: %s", err);
}
