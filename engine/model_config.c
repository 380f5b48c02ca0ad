/* Presets, shape checks and shape resolution: see model_config.h. */
#include "model_config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"
#include "rope.h"

static const struct { const char *name; int C, L, H, KV, F; } PRESETS[] = {
    {"pico", 32, 2, 4, 2, 64},   /* tests: grouped-query heads */
    {"nano", 128, 3, 4, 4, 320}, /* the CPU demo preset */
    {"micro", 192, 6, 6, 2, 512},
};
#define NPRESETS (int)(sizeof PRESETS / sizeof PRESETS[0])

int model_config_preset(const char *name, int vocab_size, ModelConfig *mc, char *err, size_t errn) {
    for (int i = 0; i < NPRESETS; i++) {
        if (strcmp(PRESETS[i].name, name)) continue;
        memset(mc, 0, sizeof *mc);
        mc->dim = PRESETS[i].C;
        mc->n_layers = PRESETS[i].L;
        mc->n_heads = PRESETS[i].H;
        mc->n_kv_heads = PRESETS[i].KV;
        mc->ffn_dim = PRESETS[i].F;
        mc->vocab_size = vocab_size;
        mc->max_pos = 2048;
        mc->rms_eps = 1e-5f;
        mc->rope_theta = 10000.0f;
        mc->tie_embeddings = 0;
        return 0;
    }
    char names[256] = "";
    for (int i = 0; i < NPRESETS; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", PRESETS[i].name);
    return errf(err, errn, "unknown model preset '%s' (%s)", name, names);
}

/* The integer shape keys: Hugging Face name, field of Config, field of ModelConfig. */
static const struct { const char *key; size_t cfg, mc; } INT_KEYS[] = {
    {"hidden_size", offsetof(Config, hidden_size), offsetof(ModelConfig, dim)},
    {"num_hidden_layers", offsetof(Config, num_hidden_layers), offsetof(ModelConfig, n_layers)},
    {"num_attention_heads", offsetof(Config, num_attention_heads), offsetof(ModelConfig, n_heads)},
    {"num_key_value_heads", offsetof(Config, num_key_value_heads), offsetof(ModelConfig, n_kv_heads)},
    {"intermediate_size", offsetof(Config, intermediate_size), offsetof(ModelConfig, ffn_dim)},
    {"max_position_embeddings", offsetof(Config, max_position_embeddings), offsetof(ModelConfig, max_pos)},
};
#define NINT_KEYS (int)(sizeof INT_KEYS / sizeof INT_KEYS[0])
#define FIELD(s, off) (*(int *)((char *)(s) + (off)))
#define CFIELD(s, off) (*(const int *)((const char *)(s) + (off)))

static int sizes_positive(const ModelConfig *mc, char *err, size_t errn) {
    for (int i = 0; i < NINT_KEYS; i++)
        if (CFIELD(mc, INT_KEYS[i].mc) <= 0)
            return errf(err, errn, "%s must be positive (got %d)", INT_KEYS[i].key, CFIELD(mc, INT_KEYS[i].mc));
    if (mc->vocab_size <= 0) return errf(err, errn, "vocab_size must be positive (got %d)", mc->vocab_size);
    return 0;
}

/* Parameter count in double (no overflow), as model_init lays them out. */
static double param_count(const ModelConfig *mc) {
    double C = mc->dim, hd = (double)mc->dim / mc->n_heads, F = mc->ffn_dim, V = mc->vocab_size;
    double layer = 2 * C + C * (mc->n_heads + 2.0 * mc->n_kv_heads) * hd + C * mc->n_heads * hd + 3 * C * F;
    return V * C * (mc->tie_embeddings ? 1 : 2) + mc->n_layers * layer + C;
}

int model_config_check(const ModelConfig *mc, char *err, size_t errn) {
    if (sizes_positive(mc, err, errn)) return -1;
    int C = mc->dim, H = mc->n_heads, KV = mc->n_kv_heads;
    if (C % H) return errf(err, errn, "hidden_size=%d is not a multiple of num_attention_heads=%d", C, H);
    if (H % KV) return errf(err, errn, "num_attention_heads=%d is not a multiple of num_key_value_heads=%d", H, KV);
    if ((C / H) % 2)
        return errf(err, errn, "head_dim = hidden_size / num_attention_heads = %d / %d = %d is odd (RoPE needs it even)",
                    C, H, C / H);
    if (!(mc->rms_eps > 0) || !isfinite(mc->rms_eps))
        return errf(err, errn, "rms_norm_eps must be positive and finite (got %g)", (double)mc->rms_eps);
    if (rope_check(mc, err, errn)) return -1;
    if (param_count(mc) > 0x1p40) return errf(err, errn, "model too large (%.3g parameters)", param_count(mc));
    return 0;
}

/* From scratch: the preset, then every set shape key. */
static int resolve_scratch(const Config *c, int vocab_size, ModelConfig *out, char *err, size_t errn) {
    if (model_config_preset(c->model, vocab_size, out, err, errn)) return -1;
    for (int i = 0; i < NINT_KEYS; i++)
        if (CFIELD(c, INT_KEYS[i].cfg)) FIELD(out, INT_KEYS[i].mc) = CFIELD(c, INT_KEYS[i].cfg);
    if (c->rope_theta) out->rope_theta = (float)c->rope_theta;
    if (strcmp(c->tie_word_embeddings, "auto")) out->tie_embeddings = !strcmp(c->tie_word_embeddings, "true");
    return 0;
}

/* From a checkpoint: its shape; a set shape key must agree with it. */
static int resolve_checkpoint(const Config *c, const ModelConfig *ck, int vocab_size, ModelConfig *out, char *err,
                              size_t errn) {
    const char *who = "the init checkpoint's";
    *out = *ck;
    for (int i = 0; i < NINT_KEYS; i++) {
        int v = CFIELD(c, INT_KEYS[i].cfg), have = CFIELD(ck, INT_KEYS[i].mc);
        if (!v || v == have) continue;
        if (INT_KEYS[i].mc == offsetof(ModelConfig, max_pos) && v > have) {
            out->max_pos = v; /* context extension: RoPE is computed, no weight depends on it */
            continue;
        }
        return errf(err, errn, "%s=%d conflicts with %s %d%s", INT_KEYS[i].key, v, who, have,
                    INT_KEYS[i].mc == offsetof(ModelConfig, max_pos) ? " (it may be raised, not lowered)" : "");
    }
    if (c->rope_theta && (float)c->rope_theta != ck->rope_theta)
        return errf(err, errn, "rope_theta=%g conflicts with %s %g", c->rope_theta, who, (double)ck->rope_theta);
    if (strcmp(c->tie_word_embeddings, "auto") && !strcmp(c->tie_word_embeddings, "true") != !!ck->tie_embeddings)
        return errf(err, errn, "tie_word_embeddings=%s conflicts with %s %s", c->tie_word_embeddings, who,
                    ck->tie_embeddings ? "true" : "false");
    if (vocab_size > ck->vocab_size)
        return errf(err, errn, "the tokenizer uses %d token ids but %s vocab_size is %d", vocab_size, who,
                    ck->vocab_size);
    return 0;
}

int model_config_resolve(const Config *c, const ModelConfig *from_checkpoint, int vocab_size, ModelConfig *out,
                         char *err, size_t errn) {
    int rc = from_checkpoint ? resolve_checkpoint(c, from_checkpoint, vocab_size, out, err, errn)
                             : resolve_scratch(c, vocab_size, out, err, errn);
    return rc ? -1 : model_config_check(out, err, errn);
}
