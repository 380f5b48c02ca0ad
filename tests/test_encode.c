/* encode (engine/encode.h) against per-example forward passes read by hand. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "checkpoint.h"
#include "config.h"
#include "data.h"
#include "diagnostics.h"
#include "encode.h"
#include "loss.h"
#include "model.h"

#define NEX 70 /* more than one ENCODE_CHUNK */

static Model g_m;
static Dataset g_d;

static void setup(void) {
    Config c;
    char err[512], note[256];
    config_defaults(&c);
    cr_assert_eq(config_set(&c, "model", "pico", err, sizeof err), 0, "%s", err);
    cr_assert_eq(config_set(&c, "threads", "1", err, sizeof err), 0, "%s", err);
    Backend *be = backend_cpu();
    be->set_threads(be, 1);
    cr_assert_eq(model_build(&c, be, &g_m, note, sizeof note, err, sizeof err), 0, "%s", err);
    cr_assert_eq(dataset_load(SOURCE_DIR "/data/synth_test.jsonl", NEX, &g_d, err, sizeof err), 0, "%s", err);
}

static void teardown(void) {
    dataset_free(&g_d);
    model_free(&g_m);
}

static EncodeOpts opts(int k, int front, int mean) {
    EncodeOpts o;
    memset(&o, 0, sizeof o);
    o.vo = (ViewOpts){.k = k, .pred_front = front};
    o.pooling_mean = mean;
    return o;
}

/* h of example i alone, views as separate rows built with v, into a host
 * buffer (caller frees); *b keeps the batch for its indices. */
static float *forward_one(int i, const ViewOpts *v, Batch *b) {
    cr_assert_eq(batch_build(b, g_d.ex, &i, 1, v, 1), 0);
    const float *h = model_forward(&g_m, b);
    cr_assert_not_null(h);
    size_t len = (size_t)b->n * g_m.cfg.dim;
    float *host = malloc(len * sizeof(float));
    g_m.be->download(g_m.be, host, h, len * sizeof(float));
    return host;
}

/* Max |a − b| over C floats, relative to max |b|. */
static double rel_diff(const float *a, const float *b, int C) {
    double d = 0, s = 1e-30;
    for (int j = 0; j < C; j++) d = fmax(d, fabs((double)a[j] - b[j])), s = fmax(s, fabs(b[j]));
    return d / s;
}

/* Row r of h (·, C), or the mean of rows [r0, r1], into out. */
static void mean_rows(const float *h, int r0, int r1, int C, float *out) {
    for (int j = 0; j < C; j++) {
        double s = 0;
        for (int r = r0; r <= r1; r++) s += h[(size_t)r * C + j];
        out[j] = (float)(s / (r1 - r0 + 1));
    }
}

typedef struct Enc3 { float *et, *pr, *ec; } Enc3;

static Enc3 run_encode(const EncodeOpts *o, int with_pred) {
    int C = g_m.cfg.dim;
    Enc3 e = {calloc((size_t)NEX * C, sizeof(float)), with_pred ? calloc((size_t)NEX * C, sizeof(float)) : NULL,
              calloc((size_t)NEX * C, sizeof(float))};
    char err[256];
    g_m.training = 1;
    cr_assert_eq(encode(&g_m, g_d.ex, NEX, o, e.et, e.pr, e.ec, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g_m.training, 0, "encode leaves the model in evaluation mode");
    return e;
}

static void enc3_free(Enc3 *e) { free(e->et); free(e->pr); free(e->ec); }

/* encode's rows against the last-token states of single-example forwards:
 * Enc from a k = 0 batch, Pred at the readout of the view carrying the k
 * [PRED] tokens (the Text view, or the Code view under code2text). */
static void check_last(int k, int front, int c2t) {
    EncodeOpts o = opts(k, front, 0);
    o.vo.code2text = c2t;
    Enc3 e = run_encode(&o, 1);
    int C = g_m.cfg.dim;
    Batch b = {0};
    ViewOpts v0 = {.k = 0}, vk = {.k = k, .pred_front = front, .code2text = c2t};
    double worst = 0;
    for (int i = 0; i < NEX; i++) {
        float *h = forward_one(i, &v0, &b);
        worst = fmax(worst, rel_diff(e.et + (size_t)i * C, h + (size_t)b.enc_text[0] * C, C));
        worst = fmax(worst, rel_diff(e.ec + (size_t)i * C, h + (size_t)b.enc_code[0] * C, C));
        free(h);
        h = forward_one(i, &vk, &b);
        int r = c2t ? b.enc_code[0] : b.enc_text[0];
        worst = fmax(worst, rel_diff(e.pr + (size_t)i * C, h + (size_t)r * C, C));
        if (k && !front) cr_assert_eq(b.ids[r], TOK_PRED1, "readout at pred_1");
        free(h);
    }
    cr_expect_lt(worst, 1e-5, "k=%d front=%d code2text=%d: relative difference %g", k, front, c2t, worst);
    batch_free(&b);
    enc3_free(&e);
}

TestSuite(encode, .init = setup, .fini = teardown);

Test(encode, last_token_k0_pred_is_enc) {
    EncodeOpts o = opts(0, 0, 0);
    Enc3 e = run_encode(&o, 1);
    cr_expect_eq(memcmp(e.et, e.pr, (size_t)NEX * g_m.cfg.dim * sizeof(float)), 0, "k = 0: Pred is the identity");
    enc3_free(&e);
    check_last(0, 0, 0);
}

Test(encode, last_token_pred_back) { check_last(2, 0, 0); }

Test(encode, last_token_pred_front) { check_last(3, 1, 0); }

Test(encode, last_token_code2text) {
    check_last(2, 0, 1);
    check_last(1, 1, 1);
}

Test(encode, enc_does_not_depend_on_k) {
    /* Enc(Text) is the view without [PRED] tokens whatever k, and pred = NULL
     * is allowed */
    EncodeOpts o0 = opts(0, 0, 0), o2 = opts(2, 0, 0);
    Enc3 a = run_encode(&o0, 0), b = run_encode(&o2, 1);
    int C = g_m.cfg.dim;
    double worst = 0;
    for (int i = 0; i < NEX; i++) {
        worst = fmax(worst, rel_diff(b.et + (size_t)i * C, a.et + (size_t)i * C, C));
        worst = fmax(worst, rel_diff(b.ec + (size_t)i * C, a.ec + (size_t)i * C, C));
    }
    cr_expect_lt(worst, 1e-5, "%g", worst);
    enc3_free(&a);
    enc3_free(&b);
}

Test(encode, linear_predictor) {
    /* no jepa_predictor.weight in the model: Pred is the identity, as in the loss */
    EncodeOpts o = opts(0, 0, 0);
    o.predictor_linear = 1;
    Enc3 e = run_encode(&o, 1);
    size_t len = (size_t)NEX * g_m.cfg.dim;
    cr_expect_eq(memcmp(e.pr, e.et, len * sizeof(float)), 0);
    enc3_free(&e);
    /* a model with the predictor, W = 2·I: pred = 2·Enc(Text) */
    Model keep = g_m;
    Config c;
    char err[512], note[256];
    config_defaults(&c);
    const char *kv[][2] = {{"model", "pico"}, {"loss", "jepa"}, {"predictor", "linear"}};
    for (size_t i = 0; i < 3; i++) cr_assert_eq(config_set(&c, kv[i][0], kv[i][1], err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_build(&c, backend_cpu(), &g_m, note, sizeof note, err, sizeof err), 0, "%s", err);
    cr_assert_geq(g_m.tid_predictor, 0);
    int C = g_m.cfg.dim;
    float *W = calloc((size_t)C * C, sizeof(float));
    for (int j = 0; j < C; j++) W[j * C + j] = 2.0f;
    model_tensor_set(&g_m, g_m.tid_predictor, W);
    e = run_encode(&o, 1);
    for (size_t j = 0; j < len; j++)
        if (fabsf(e.pr[j] - 2.0f * e.et[j]) > 1e-6f * fabsf(e.et[j])) cr_assert_fail("pred[%zu] = %g, want 2 x %g", j, e.pr[j], e.et[j]);
    enc3_free(&e);
    free(W);
    model_free(&g_m);
    g_m = keep;
}

Test(encode, mean_pooling) {
    Batch b = {0};
    ViewOpts vk = {.k = 2};
    int i0 = 0;
    cr_assert_eq(batch_build(&b, g_d.ex, &i0, 1, &vk, 1), 0);
    if (!b.text_span) {
        batch_free(&b);
        cr_skip_test("the batch does not fill text_span/code_span yet");
    }
    EncodeOpts o = opts(2, 0, 1);
    Enc3 e = run_encode(&o, 1);
    int C = g_m.cfg.dim, U = 0;
    float *want = malloc((size_t)C * sizeof(float));
    double worst = 0;
    for (int i = 0; i < NEX; i++) {
        float *h = forward_one(i, &vk, &b);
        U = (int)strlen(g_d.ex[i].user);
        cr_assert_eq(b.text_span[1] - b.text_span[0] + 1, U + 2, "span = U and the 2 [PRED] tokens");
        mean_rows(h, b.text_span[0], b.text_span[1], C, want);
        worst = fmax(worst, rel_diff(e.pr + (size_t)i * C, want, C));
        mean_rows(h, b.text_span[0], b.text_span[1] - 2, C, want); /* U only: causal, unaffected by [PRED] */
        worst = fmax(worst, rel_diff(e.et + (size_t)i * C, want, C));
        mean_rows(h, b.code_span[0], b.code_span[1], C, want);
        worst = fmax(worst, rel_diff(e.ec + (size_t)i * C, want, C));
        free(h);
    }
    cr_expect_lt(worst, 1e-5, "%g", worst);
    free(want);
    batch_free(&b);
    enc3_free(&e);
}

Test(encode, collapse_of_the_embeddings) {
    EncodeOpts o = opts(2, 0, 0);
    Enc3 e = run_encode(&o, 1);
    Collapse cl;
    char err[256];
    cr_assert_eq(diag_collapse(&g_m, g_d.ex, NEX, &o, 1, &cl, err, sizeof err), 0, "%s", err);
    int C = g_m.cfg.dim;
    DiagStats want[3] = {diag_stats(e.et, NEX, C), diag_stats(e.ec, NEX, C), diag_stats(e.pr, NEX, C)};
    DiagStats got[3] = {cl.enc_text, cl.enc_code, cl.pred};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(got[i].mean_cos, want[i].mean_cos, "matrix %d", i);
        cr_expect_eq(got[i].erank, want[i].erank, "matrix %d", i);
        cr_expect(got[i].erank >= 1.0 && got[i].erank <= C, "erank %g", got[i].erank);
    }
    cr_expect_eq(cl.has_pred, 1);
    cr_expect_eq(cl.n, NEX);
    cr_assert_eq(diag_collapse(&g_m, g_d.ex, NEX, &o, 0, &cl, err, sizeof err), 0, "%s", err);
    cr_expect_eq(cl.has_pred, 0);
    enc3_free(&e);
}

/* 1 − mean cos(pred_i, target_i) from encode's rows equals the loss's cosine
 * JEPA distance over the same examples: encode reads what the loss reads. */
static void check_against_loss(const char *const kv[][2], int nkv) {
    Config c;
    char err[256];
    config_defaults(&c);
    cr_assert_eq(config_set(&c, "loss", "jepa", err, sizeof err), 0, "%s", err);
    for (int i = 0; i < nkv; i++) cr_assert_eq(config_set(&c, kv[i][0], kv[i][1], err, sizeof err), 0, "%s", err);
    LossOpts lo = loss_opts(&c);
    ViewOpts vo = view_opts(&c);
    EncodeOpts eo = encode_opts(&c);
    int idx[NEX];
    for (int i = 0; i < NEX; i++) idx[i] = i;
    Batch b = {0};
    LossWork w = {0};
    LossOut out;
    cr_assert_eq(batch_build(&b, g_d.ex, idx, NEX, &vo, 1), 0);
    cr_assert_eq(loss_step(&g_m, &b, &lo, &w, &out, 0), 0);
    Enc3 e = run_encode(&eo, 1);
    const float *tgt = eo.vo.code2text ? e.et : e.ec;
    int C = g_m.cfg.dim;
    double s = 0;
    for (int i = 0; i < NEX; i++) {
        const float *p = e.pr + (size_t)i * C, *t = tgt + (size_t)i * C;
        double pt = 0, pp = 0, tt = 0;
        for (int j = 0; j < C; j++) pt += (double)p[j] * t[j], pp += (double)p[j] * p[j], tt += (double)t[j] * t[j];
        s += pt / (sqrt(pp) * sqrt(tt));
    }
    double d = 1.0 - s / NEX;
    cr_expect(fabs(d - out.jepa) <= 1e-5 * fmax(1.0, fabs(out.jepa)), "%s=%s...: encode %.9g, loss %.9g", kv[0][0],
              kv[0][1], d, out.jepa);
    batch_free(&b);
    loss_work_free(&w);
    enc3_free(&e);
}

Test(encode, agrees_with_the_loss) {
    const char *const a[][2] = {{"k", "2"}, {"jepa_pass", "separate"}};
    check_against_loss(a, 2);
    const char *const b[][2] = {{"k", "3"}, {"pred_position", "front"}, {"jepa_pass", "packed"}};
    check_against_loss(b, 3);
    const char *const c[][2] = {{"k", "2"}, {"pooling", "mean"}};
    check_against_loss(c, 2);
    const char *const d[][2] = {{"k", "1"}, {"direction", "code2text"}, {"pooling", "mean"}};
    check_against_loss(d, 3);
    const char *const e[][2] = {{"predictor", "linear"}};
    check_against_loss(e, 1);
    const char *const f[][2] = {{"k", "0"}, {"jepa_pass", "fused"}, {"system_prompt", "omit"}};
    check_against_loss(f, 3);
}
