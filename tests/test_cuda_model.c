/* The CUDA backend as a whole model against the CPU backend: a few training
 * steps (loss, backward, clipping, AdamW) of NTP, JEPA (packed and fused),
 * STP and LoRA (with adapter dropout) on the pico preset of tests/test_model.c,
 * once with device=cpu and once with device=cuda from the same weights and
 * batch; the losses of every step, the gradient norms and every gradient of
 * the first step are compared. Greedy decoding with the KV cache gives the
 * same tokens on both. Each test skips, saying why, where no CUDA device is
 * usable (or the backend is not built).
 *
 * Tolerances: step 0 sees identical inputs, so only fp32 rounding differs
 * (losses 1e-5 relative, gradients 1e-4 of the largest); later steps start
 * from parameters AdamW moved by up to lr each, where a gradient near zero
 * can take either sign (losses 1e-3 relative). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "generate.h"
#include "loss.h"
#include "model.h"
#include "model_config.h"
#include "optim.h"
#include "pico.h"
#include "rng.h"
#include "stp.h"
#include "tokenizer.h"
#ifdef HAVE_CUDA
#include "backend_cuda.h"
#endif

#define EX PICO_EX
enum { STEPS = 3 };

/* The CUDA backend, or a skip that says why it is missing. */
static Backend *cuda_or_skip(void) {
    Backend *be = backend_by_name("cuda");
    if (!be) cr_skip_test("cuda: skipped (%s)", backend_unavailable("cuda"));
    return be;
}

/* No error recorded by the CUDA backend. */
static void expect_no_cuda_error(const char *what) {
#ifdef HAVE_CUDA
    char err[256];
    cr_expect_eq(backend_cuda_error(err, sizeof err), 0, "%s: %s", what, err);
#else
    (void)what;
#endif
}

typedef struct Scenario {
    const char *name;
    int jepa, k, packed, fused, include_system, stp, lora;
} Scenario;

static const Scenario NTP = {"ntp", 0, 0, 0, 0, 1, 0, 0};
static const Scenario JEPA_PACKED = {"jepa packed k=2", 1, 2, 1, 0, 1, 0, 0};
static const Scenario JEPA_FUSED = {"jepa fused k=1", 1, 1, 0, 1, 0, 0, 0};
static const Scenario STP = {"stp", 0, 0, 0, 0, 1, 1, 0};
static const Scenario LORA = {"lora r=2 (dropout 0.2), jepa packed", 1, 1, 1, 0, 1, 0, 1};

/* What one backend computed. */
typedef struct Trace {
    double ntp[STEPS], jepa[STEPS], total[STEPS], gnorm[STEPS];
    float *grads; /* trainable gradients of step 0 (host) */
    size_t ngrads;
} Trace;

/* A pico model on be: weights N(0, 0.2²) (seed 7), RMSNorm weights perturbed by N(0, 0.3²), LoRA adapters
 * (rank 2, alpha 4, dropout 0.2, every target) with B non-zero when lora. */
static void model_on(Model *m, Backend *be, int lora) {
    ModelConfig mc;
    char err[256];
    cr_assert_eq(model_config_preset("pico", TOK_VOCAB, &mc, err, sizeof err), 0, "%s", err);
    LoraConfig lc = {2, 4.0f, 0.2f, (1u << LT_COUNT) - 1};
    cr_assert_eq(model_init(m, &mc, lora ? &lc : NULL, be, err, sizeof err), 0, "%s: %s", be->name, err);
    Rng r = rng_stream(7, "init"), rn = rng_stream(7, "norms"), rl = rng_stream(7, "lora");
    model_init_weights(m, &r, 0.2f);
    model_init_lora(m, &rl);
    for (int t = 0; t < m->ntensors; t++) {
        Tensor *T = &m->tensors[t];
        int norm = T->ndim == 1, lb = strstr(T->name, ".lora_B.") != NULL;
        if (!norm && !lb) continue;
        float *h = malloc(T->numel * sizeof(float));
        cr_assert(h);
        model_tensor_get(m, t, h);
        for (size_t i = 0; i < T->numel; i++) h[i] = lb ? (float)(0.3 * rng_normal(&rl)) : h[i] + (float)(0.3 * rng_normal(&rn));
        model_tensor_set(m, t, h);
        free(h);
    }
}

/* STEPS training steps of scenario sc on be into tr. */
static void train_on(Backend *be, const Scenario *sc, Trace *tr) {
    Model m;
    Batch b;
    LossWork w;
    AdamW opt;
    memset(&b, 0, sizeof b);
    memset(&w, 0, sizeof w);
    be->set_threads(be, 1);
    model_on(&m, be, sc->lora);
    model_set_training(&m, 1, 99);
    ViewOpts vo = {.include_system = sc->include_system, .targets_all = 1, .k = sc->k, .packed = sc->packed,
                   .fused = sc->fused};
    int idx[3] = {0, 1, 2};
    cr_assert_eq(batch_build(&b, EX, idx, 3, &vo, sc->jepa), 0);
    Rng rs = rng_stream(5, "stp");
    LossOpts o = {.gamma = 0.7, .lambda = sc->jepa || sc->stp ? 1.5 : 0.0, .metric = sc->jepa ? jepa_metric("cosine") : NULL,
                  .stp = sc->stp, .stp_weight = STP_W_NONE, .stp_rng = sc->stp ? &rs : NULL};
    cr_assert_eq(adamw_init(&opt, be, m.ntrainable, 0.9, 0.999, 1e-8, 0.01), 0);
    for (int s = 0; s < STEPS; s++) {
        LossOut out;
        model_zero_grads(&m);
        cr_assert_eq(loss_step(&m, &b, &o, &w, &out, 1), 0, "%s: %s step %d failed", be->name, sc->name, s);
        tr->ntp[s] = out.ntp, tr->jepa[s] = out.jepa, tr->total[s] = out.total;
        if (s == 0) {
            tr->ngrads = m.ntrainable;
            tr->grads = malloc(m.ntrainable * sizeof(float));
            cr_assert(tr->grads);
            be->download(be, tr->grads, m.grads, m.ntrainable * sizeof(float));
        }
        tr->gnorm[s] = clip_grad_norm(be, m.grads, m.ntrainable, 1.0);
        adamw_step(&opt, model_trainable(&m), m.grads, 1e-3);
    }
    adamw_free(&opt);
    batch_free(&b);
    loss_work_free(&w);
    model_free(&m);
}

static void expect_close(double got, double want, double rtol, const char *what, const Scenario *sc, int s) {
    cr_expect(fabs(got - want) <= rtol * fmax(fabs(want), 1e-12), "%s, step %d: %s %.9g on cuda, %.9g on cpu", sc->name,
              s, what, got, want);
}

static void check_scenario(const Scenario *sc) {
    Backend *cuda = cuda_or_skip();
    Trace c, g;
    memset(&c, 0, sizeof c);
    memset(&g, 0, sizeof g);
    train_on(backend_cpu(), sc, &c);
    train_on(cuda, sc, &g);
    expect_no_cuda_error(sc->name);
    cr_expect(c.total[0] > 0 && ((!sc->jepa && !sc->stp) || c.jepa[0] > 1e-4), "%s: a non-trivial loss (%g, %g)", sc->name,
              c.ntp[0], c.jepa[0]);
    for (int s = 0; s < STEPS; s++) {
        double rt = s == 0 ? 1e-5 : 1e-3;
        expect_close(g.ntp[s], c.ntp[s], rt, "NTP loss", sc, s);
        expect_close(g.jepa[s], c.jepa[s], s == 0 ? 1e-4 : 1e-3, "JEPA/STP term", sc, s);
        expect_close(g.total[s], c.total[s], rt, "total loss", sc, s);
        expect_close(g.gnorm[s], c.gnorm[s], s == 0 ? 1e-4 : 1e-3, "gradient norm", sc, s);
    }
    cr_assert_eq(g.ngrads, c.ngrads);
    double d = 0, gmax = 0;
    size_t worst = 0;
    for (size_t i = 0; i < c.ngrads; i++) {
        gmax = fmax(gmax, fabs(c.grads[i]));
        if (fabs(g.grads[i] - c.grads[i]) > d) d = fabs(g.grads[i] - c.grads[i]), worst = i;
    }
    cr_expect(gmax > 0, "%s: zero gradients", sc->name);
    cr_expect_leq(d, 1e-4 * gmax, "%s: max gradient difference %g at %zu (cuda %g, cpu %g; max gradient %g)", sc->name, d,
                  worst, g.grads[worst], c.grads[worst], gmax);
    free(c.grads);
    free(g.grads);
}

Test(cuda_model, ntp) { check_scenario(&NTP); }
Test(cuda_model, jepa_packed) { check_scenario(&JEPA_PACKED); }
Test(cuda_model, jepa_fused) { check_scenario(&JEPA_FUSED); }
Test(cuda_model, stp) { check_scenario(&STP); }
Test(cuda_model, lora) { check_scenario(&LORA); }

/* ---- greedy decoding ------------------------------------------------------------------------ */

enum { NP = 5, MAXP = 40, MAX_NEW = 10 };
static const int PLEN[NP] = {1, 3, 7, 18, 40};

/* Greedy decoding of NP prompts (batched, KV cache) on a pico model on be, weights N(0, 0.3²) of seed 2024. */
static void decode_on(Backend *be, int out[NP][MAX_NEW], int olen[NP]) {
    static int prompt[NP][MAXP];
    const int *pr[NP];
    int *po[NP];
    Rng p = rng_stream(2024, "prompts");
    for (int i = 0; i < NP; i++) {
        prompt[i][0] = TOK_BOS;
        for (int t = 1; t < PLEN[i]; t++) prompt[i][t] = 'a' + (int)rng_below(&p, 26);
        pr[i] = prompt[i], po[i] = out[i];
    }
    Model m;
    ModelConfig mc;
    char err[256];
    be->set_threads(be, 1);
    cr_assert_eq(model_config_preset("pico", TOK_VOCAB, &mc, err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_init(&m, &mc, NULL, be, err, sizeof err), 0, "%s: %s", be->name, err);
    Rng r = rng_stream(2024, "init");
    model_init_weights(&m, &r, 0.3f);
    cr_assert_eq(generate_greedy(&m, pr, PLEN, NP, MAX_NEW, -1, po, olen), 0, "%s: generate_greedy failed", be->name);
    model_free(&m);
}

Test(cuda_model, greedy_decode_tokens_equal) {
    Backend *cuda = cuda_or_skip();
    int oc[NP][MAX_NEW], og[NP][MAX_NEW], lc[NP], lg[NP], distinct = 0, seen[TOK_VOCAB] = {0};
    decode_on(backend_cpu(), oc, lc);
    decode_on(cuda, og, lg);
    expect_no_cuda_error("greedy decoding");
    for (int i = 0; i < NP; i++) {
        cr_expect_eq(lg[i], lc[i], "prompt %d: %d tokens on cuda, %d on cpu", i, lg[i], lc[i]);
        for (int t = 0; t < lc[i] && t < lg[i]; t++) {
            cr_expect_eq(og[i][t], oc[i][t], "prompt %d token %d: %d on cuda, %d on cpu", i, t, og[i][t], oc[i][t]);
            distinct += oc[i][t] >= 0 && oc[i][t] < TOK_VOCAB && !seen[oc[i][t]]++;
        }
    }
    cr_expect_geq(distinct, 4, "the decoded tokens are too uniform for a meaningful comparison (%d distinct)", distinct);
}
