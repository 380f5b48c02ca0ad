/* Shared fixtures of the model-level tests: three NL-RX-like examples and a
 * pico model (hidden 32, 2 layers, 4/2 heads) on the CPU backend, one thread. */
#ifndef TESTS_PICO_H
#define TESTS_PICO_H

#include <criterion/criterion.h>

#include "backend.h"
#include "data.h"
#include "model.h"
#include "model_config.h"
#include "rng.h"

static Example PICO_EX[3] = {
    {"Convert.", "lines with a vowel", "[AEIOU]", 1},
    {"Convert.", "words ending in dog", "\\bdog\\b", 2},
    {"Convert.", "a number, 3 times", "([0-9]){3,}", 3},
};

/* m = a pico model (jepa_predictor: with the linear predictor; lora may be
 * NULL) with weights N(0, std²) from stream (seed, "init") and, when
 * norm_noise > 0, RMSNorm weights perturbed by N(0, norm_noise²) from
 * (seed, "norms"), so attention and gradients are non-trivial. */
static inline void pico_model(Model *m, const LoraConfig *lora, int jepa_predictor, uint64_t seed, float std,
                              double norm_noise) {
    Backend *be = backend_cpu();
    be->set_threads(be, 1);
    ModelConfig mc;
    char err[256];
    cr_assert_eq(model_config_preset("pico", TOK_VOCAB, &mc, err, sizeof err), 0, "%s", err);
    mc.jepa_predictor = jepa_predictor;
    cr_assert_eq(model_init(m, &mc, lora, be, err, sizeof err), 0, "%s", err);
    Rng r = rng_stream(seed, "init"), r2 = rng_stream(seed, "norms");
    model_init_weights(m, &r, std);
    if (norm_noise <= 0) return;
    for (int t = 0; t < m->ntensors; t++)
        if (m->tensors[t].ndim == 1)
            for (size_t i = 0; i < m->tensors[t].numel; i++)
                m->params[m->tensors[t].offset + i] += (float)(norm_noise * rng_normal(&r2));
}

#endif
