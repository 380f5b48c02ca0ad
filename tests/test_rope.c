/* RoPE tables: the default ones bit-identical to the formula model_init used,
 * and llama3 rope_scaling against golden values computed independently. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model.h"
#include "model_config.h"
#include "rope.h"

static char err[512];

/* Tables of mc (head_dim C/H) into freshly allocated cos/sin. */
static void tables(const ModelConfig *mc, float **c, float **s) {
    int hd = mc->dim / mc->n_heads;
    size_t n = (size_t)mc->max_pos * (hd / 2);
    *c = malloc(n * sizeof **c);
    *s = malloc(n * sizeof **s);
    cr_assert(*c && *s);
    cr_assert_eq(rope_tables(mc, hd, *c, *s, err, sizeof err), 0, "%s", err);
}

/* Without scaling: bit-identical to model_init's tables and to its formula. */
Test(rope, default_matches_model_init_bit_for_bit) {
    ModelConfig mc;
    cr_assert_eq(model_config_preset("micro", 300, &mc, err, sizeof err), 0, "%s", err);
    mc.rope_theta = 500.0f; /* and a second theta */
    for (int pass = 0; pass < 2; pass++, mc.rope_theta = 10000.0f) {
        Model m;
        cr_assert_eq(model_init(&m, &mc, NULL, backend_cpu(), err, sizeof err), 0, "%s", err);
        float *c, *s, *mcos = NULL, *msin = NULL;
        tables(&mc, &c, &s);
        int hd = m.head_dim, half = hd / 2;
        size_t n = (size_t)mc.max_pos * half;
        cr_assert((mcos = malloc(n * sizeof *mcos)) && (msin = malloc(n * sizeof *msin)));
        m.be->download(m.be, mcos, m.rope_cos, n * sizeof *mcos);
        m.be->download(m.be, msin, m.rope_sin, n * sizeof *msin);
        cr_expect_eq(memcmp(c, mcos, n * sizeof *c), 0, "cos differs from model_init's");
        cr_expect_eq(memcmp(s, msin, n * sizeof *s), 0, "sin differs from model_init's");
        free(mcos);
        free(msin);
        for (int p = 0; p < mc.max_pos; p += 97)
            for (int i = 0; i < half; i++) {
                double f = (double)p * pow((double)mc.rope_theta, -2.0 * i / hd);
                cr_expect_eq(c[(size_t)p * half + i], (float)cos(f));
                cr_expect_eq(s[(size_t)p * half + i], (float)sin(f));
            }
        free(c);
        free(s);
        model_free(&m);
    }
}

/* Llama-3.2-1B: head_dim 64, theta 500000, rope_scaling {factor 32, low 1,
 * high 4, original 8192}, max_position_embeddings 131072. */
static ModelConfig llama32(void) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.dim = 2048, mc.n_heads = 32, mc.n_kv_heads = 8, mc.max_pos = 131072;
    mc.rope_theta = 500000.0f;
    mc.rope_scaling = ROPE_SCALING_LLAMA3;
    mc.rope_factor = 32, mc.rope_low_freq_factor = 1, mc.rope_high_freq_factor = 4;
    mc.rope_original_max_pos = 8192;
    return mc;
}

/* Golden values, computed with numpy 1.24 in float64 by this transcription of
 * Hugging Face's _compute_llama3_parameters (not by the engine):
 *
 *   theta, hd, factor, low, high, old = 500000.0, 64, 32.0, 1.0, 4.0, 8192
 *   inv = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
 *   wl = 2 * math.pi / inv
 *   inv_l = np.where(wl > old / low, inv / factor, inv)
 *   s = (old / wl - low) / (high - low)
 *   sm = (1 - s) * inv_l / factor + s * inv_l
 *   med = ~(wl < old / high) & ~(wl > old / low)
 *   inv_l = np.where(med, sm, inv_l)
 *   cos/sin: float(np.float32(np.cos(p * inv_l[i]))), likewise sin
 *
 * i = 0..14 are high frequencies (unchanged), 15..17 interpolated, 18..31 divided by 32. */
static const double GOLD_INV[32] = {
    1.0, 0.6636012376960885, 0.44036660267178046, 0.2922278225730151, 0.19392274474868576, 0.12868737343265052,
    0.08539710028576561, 0.056669621445291044, 0.03760603093086393, 0.024955408670558694, 0.016560440080994446,
    0.010989528534539826, 0.0072926647372171085, 0.004839421345719893, 0.0032114459947525913,
    0.001290547928209264, 0.00042955679655936815, 9.70828780262767e-05, 1.9461638184831125e-05,
    1.291476718704739e-05, 8.570255489881478e-06, 5.687232150457046e-06, 3.7740542941082826e-06,
    2.5044671007024935e-06, 1.661967467795309e-06, 1.102883668639601e-06, 7.318749675440419e-07,
    4.856731343010108e-07, 3.2229329303788936e-07, 2.138742281610915e-07, 1.4192720251899592e-07,
    9.418306725434909e-08};

static const struct { int p, i; float cos, sin; } GOLD_TAB[] = {
    {1, 0, 0.5403022766113281f, 0.8414709568023682f},       {1, 12, 0.9999734163284302f, 0.007292599882930517f},
    {1, 31, 1.0f, 9.418306490260875e-08f},                   {7, 9, 0.9847808480262756f, 0.1738007515668869f},
    {7, 20, 1.0f, 5.9991787566104904e-05f},                  {1000, 12, 0.5323014855384827f, 0.8465548753738403f},
    {1000, 20, 0.9999632835388184f, 0.008570150472223759f}, {131071, 0, -0.8179835081100464f, -0.5752416849136353f},
    {131071, 9, -0.8615824580192566f, -0.5076176524162292f}, {131071, 20, 0.43269896507263184f, 0.9015384912490845f},
    {131071, 31, 0.999923825263977f, 0.012344355694949627f},
};

Test(rope, llama3_matches_golden_values) {
    ModelConfig mc = llama32();
    double inv[32];
    cr_assert_eq(rope_inv_freq(&mc, 64, inv, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 32; i++)
        cr_expect(fabs(inv[i] - GOLD_INV[i]) <= 1e-14 * GOLD_INV[i], "inv_freq[%d] = %.17g, golden %.17g", i, inv[i],
                  GOLD_INV[i]);
    float *c, *s;
    tables(&mc, &c, &s);
    for (size_t k = 0; k < sizeof GOLD_TAB / sizeof GOLD_TAB[0]; k++) {
        size_t at = (size_t)GOLD_TAB[k].p * 32 + GOLD_TAB[k].i;
        cr_expect(fabsf(c[at] - GOLD_TAB[k].cos) <= 2e-7f, "cos[%d][%d] = %.9g, golden %.9g", GOLD_TAB[k].p,
                  GOLD_TAB[k].i, c[at], GOLD_TAB[k].cos);
        cr_expect(fabsf(s[at] - GOLD_TAB[k].sin) <= 2e-7f, "sin[%d][%d] = %.9g, golden %.9g", GOLD_TAB[k].p,
                  GOLD_TAB[k].i, s[at], GOLD_TAB[k].sin);
    }
    free(c);
    free(s);
    /* the high-frequency band is the unscaled table; the low band exactly 1/factor of it */
    double base[32];
    mc.rope_scaling = ROPE_SCALING_NONE;
    cr_assert_eq(rope_inv_freq(&mc, 64, base, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 32; i++)
        if (i < 15) cr_expect_eq(inv[i], base[i]);
        else if (i > 17) cr_expect_eq(inv[i], base[i] / 32);
}

/* rope_check / rope_tables refuse what would give NaN or read out of bounds. */
Test(rope, refusals) {
    double inv[32];
    float c[4], s[4];
    ModelConfig mc = llama32();
    mc.rope_high_freq_factor = 1;
    cr_expect_neq(rope_inv_freq(&mc, 64, inv, err, sizeof err), 0);
    cr_expect(strstr(err, "high_freq_factor") != NULL, "%s", err);
    mc = llama32(), mc.rope_factor = 0;
    cr_expect_neq(rope_check(&mc, err, sizeof err), 0);
    cr_expect(strstr(err, "rope_scaling.factor") != NULL, "%s", err);
    mc = llama32(), mc.rope_low_freq_factor = -1;
    cr_expect_neq(rope_check(&mc, err, sizeof err), 0);
    cr_expect(strstr(err, "low_freq_factor") != NULL, "%s", err);
    mc = llama32(), mc.rope_original_max_pos = 0;
    cr_expect_neq(rope_check(&mc, err, sizeof err), 0);
    cr_expect(strstr(err, "original_max_position_embeddings") != NULL, "%s", err);
    mc = llama32(), mc.rope_scaling = 7;
    cr_expect_neq(rope_check(&mc, err, sizeof err), 0);
    mc = llama32(), mc.rope_theta = 0;
    cr_expect_neq(rope_check(&mc, err, sizeof err), 0);
    cr_expect(strstr(err, "rope_theta") != NULL, "%s", err);
    mc = llama32();
    cr_expect_neq(rope_inv_freq(&mc, 63, inv, err, sizeof err), 0);
    cr_expect(strstr(err, "head_dim") != NULL, "%s", err);
    mc.max_pos = 0;
    cr_expect_neq(rope_tables(&mc, 64, c, s, err, sizeof err), 0);
    cr_expect(strstr(err, "max_position_embeddings") != NULL, "%s", err);
}
