/* Model shape: presets, checks and resolution (model_config.h); config.json
 * reading and writing (hf_config.h); PEFT adapter configs and tensor names
 * (peft.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hf_config.h"
#include "model_config.h"
#include "peft.h"
#include "rope.h"
#include "tokenizer.h"

static char DIR_[64], PATH[256];
static char err[1024];

static void mkdir_tmp(void) {
    snprintf(DIR_, sizeof DIR_, "/tmp/test_mc_XXXXXX");
    cr_assert_not_null(mkdtemp(DIR_));
    snprintf(PATH, sizeof PATH, "%s/config.json", DIR_);
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(model_config, .init = mkdir_tmp, .fini = rm_tmp);
TestSuite(hf_config, .init = mkdir_tmp, .fini = rm_tmp);
TestSuite(peft, .init = mkdir_tmp, .fini = rm_tmp);

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---------------------------------------------------------------- model_config */

Test(model_config, presets) {
    ModelConfig mc;
    cr_assert_eq(model_config_preset("nano", 278, &mc, err, sizeof err), 0, "%s", err);
    cr_expect(mc.dim == 128 && mc.n_layers == 3 && mc.n_heads == 4 && mc.n_kv_heads == 4 && mc.ffn_dim == 320);
    cr_expect(mc.vocab_size == 278 && mc.max_pos == 2048 && mc.rms_eps == 1e-5f && mc.rope_theta == 10000.0f);
    cr_expect(!mc.tie_embeddings && mc.rope_scaling == ROPE_SCALING_NONE);
    cr_assert_eq(model_config_preset("pico", 278, &mc, err, sizeof err), 0);
    cr_expect(mc.dim == 32 && mc.n_layers == 2 && mc.n_heads == 4 && mc.n_kv_heads == 2 && mc.ffn_dim == 64);
    cr_assert_eq(model_config_preset("micro", 278, &mc, err, sizeof err), 0);
    cr_expect(mc.dim == 192 && mc.n_layers == 6 && mc.n_heads == 6 && mc.n_kv_heads == 2 && mc.ffn_dim == 512);
    cr_expect_eq(model_config_check(&mc, err, sizeof err), 0, "%s", err);
    cr_expect_neq(model_config_preset("huge", 278, &mc, err, sizeof err), 0);
    cr_expect(strstr(err, "'huge'") && strstr(err, "pico, nano, micro"), "%s", err);
}

/* model_config_check on pico with one field changed must fail naming want. */
static void expect_check_fails(void (*edit)(ModelConfig *), const char *want) {
    ModelConfig mc;
    cr_assert_eq(model_config_preset("pico", 278, &mc, err, sizeof err), 0);
    edit(&mc);
    cr_expect_neq(model_config_check(&mc, err, sizeof err), 0, "accepted (expected %s)", want);
    cr_expect(strstr(err, want) != NULL, "error '%s' should contain '%s'", err, want);
}
static void zero_dim(ModelConfig *m) { m->dim = 0; }
static void zero_layers(ModelConfig *m) { m->n_layers = 0; }
static void zero_kv(ModelConfig *m) { m->n_kv_heads = 0; }
static void zero_ffn(ModelConfig *m) { m->ffn_dim = 0; }
static void zero_vocab(ModelConfig *m) { m->vocab_size = 0; }
static void zero_pos(ModelConfig *m) { m->max_pos = 0; }
static void dim_heads(ModelConfig *m) { m->dim = 30; }
static void heads_kv(ModelConfig *m) { m->n_kv_heads = 3; }
static void odd_hd(ModelConfig *m) { m->dim = 36; } /* 36 / 4 = 9 */
static void eps0(ModelConfig *m) { m->rms_eps = 0; }
static void theta0(ModelConfig *m) { m->rope_theta = -1; }
static void bad_scaling(ModelConfig *m) {
    m->rope_scaling = ROPE_SCALING_LLAMA3, m->rope_factor = 8, m->rope_low_freq_factor = 4;
    m->rope_high_freq_factor = 1, m->rope_original_max_pos = 8192;
}
static void huge(ModelConfig *m) { m->dim = 1 << 20, m->ffn_dim = 1 << 20, m->n_layers = 1 << 10; }

Test(model_config, check_refusals) {
    expect_check_fails(zero_dim, "hidden_size must be positive");
    expect_check_fails(zero_layers, "num_hidden_layers must be positive");
    expect_check_fails(zero_kv, "num_key_value_heads must be positive");
    expect_check_fails(zero_ffn, "intermediate_size must be positive");
    expect_check_fails(zero_vocab, "vocab_size must be positive");
    expect_check_fails(zero_pos, "max_position_embeddings must be positive");
    expect_check_fails(dim_heads, "hidden_size=30 is not a multiple of num_attention_heads=4");
    expect_check_fails(heads_kv, "num_attention_heads=4 is not a multiple of num_key_value_heads=3");
    expect_check_fails(odd_hd, "head_dim");
    expect_check_fails(eps0, "rms_norm_eps");
    expect_check_fails(theta0, "rope_theta");
    expect_check_fails(bad_scaling, "high_freq_factor");
    expect_check_fails(huge, "too large");
}

static Config cfg(const char *sets) {
    Config c;
    config_defaults(&c);
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", sets);
    for (char *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(kv, '=');
        cr_assert_not_null(eq);
        *eq = 0;
        cr_assert_eq(config_set(&c, kv, eq + 1, err, sizeof err), 0, "%s", err);
    }
    return c;
}

Test(model_config, resolve_from_scratch) {
    Config c = cfg("model=pico");
    ModelConfig mc, p;
    cr_assert_eq(model_config_resolve(&c, NULL, 278, &mc, err, sizeof err), 0, "%s", err);
    model_config_preset("pico", 278, &p, err, sizeof err);
    cr_expect_eq(memcmp(&mc, &p, sizeof mc), 0, "no override: the preset");
    c = cfg("model=nano hidden_size=64 num_hidden_layers=2 num_attention_heads=8 num_key_value_heads=2 "
            "intermediate_size=100 max_position_embeddings=4096 rope_theta=500 tie_word_embeddings=true");
    cr_assert_eq(model_config_resolve(&c, NULL, 300, &mc, err, sizeof err), 0, "%s", err);
    cr_expect(mc.dim == 64 && mc.n_layers == 2 && mc.n_heads == 8 && mc.n_kv_heads == 2 && mc.ffn_dim == 100);
    cr_expect(mc.max_pos == 4096 && mc.rope_theta == 500.0f && mc.tie_embeddings && mc.vocab_size == 300);
    c = cfg("model=nano max_position_embeddings=64 tie_word_embeddings=false");
    cr_assert_eq(model_config_resolve(&c, NULL, 278, &mc, err, sizeof err), 0, "%s", err);
    cr_expect(mc.max_pos == 64 && !mc.tie_embeddings, "lowering max_position_embeddings is allowed from scratch");
}

/* From scratch (ck NULL) or from ck, config sets must be refused naming want. */
static void expect_resolve_fails(const char *sets, const ModelConfig *ck, int vocab, const char *want) {
    Config c = cfg(sets);
    ModelConfig mc;
    cr_expect_neq(model_config_resolve(&c, ck, vocab, &mc, err, sizeof err), 0, "%s accepted", sets);
    cr_expect(strstr(err, want) != NULL, "%s: error '%s' should contain '%s'", sets, err, want);
}

Test(model_config, resolve_from_scratch_refusals) {
    Config c = cfg("model=pico");
    snprintf(c.model, sizeof c.model, "giant"); /* config_set refuses it; resolve must too */
    ModelConfig mc;
    cr_expect_neq(model_config_resolve(&c, NULL, 278, &mc, err, sizeof err), 0);
    cr_expect(strstr(err, "unknown model preset 'giant'") != NULL, "%s", err);
    expect_resolve_fails("model=pico hidden_size=30", NULL, 278, "hidden_size=30 is not a multiple of num_attention_heads=4");
    expect_resolve_fails("model=pico num_attention_heads=3 hidden_size=48", NULL, 278,
                         "num_attention_heads=3 is not a multiple of num_key_value_heads=2");
    expect_resolve_fails("model=pico num_key_value_heads=3", NULL, 278, "num_key_value_heads=3");
    expect_resolve_fails("model=pico hidden_size=36", NULL, 278, "is odd");
    expect_resolve_fails("model=pico", NULL, 0, "vocab_size must be positive");
}

Test(model_config, resolve_from_checkpoint) {
    ModelConfig ck, mc;
    cr_assert_eq(model_config_preset("nano", 278, &ck, err, sizeof err), 0);
    ck.rope_scaling = ROPE_SCALING_LLAMA3, ck.rope_factor = 8, ck.rope_low_freq_factor = 1;
    ck.rope_high_freq_factor = 4, ck.rope_original_max_pos = 512;
    /* the preset is ignored; equal keys are fine; the rope scaling is kept */
    Config c = cfg("model=pico hidden_size=128 num_hidden_layers=3 rope_theta=10000 tie_word_embeddings=false");
    cr_assert_eq(model_config_resolve(&c, &ck, 278, &mc, err, sizeof err), 0, "%s", err);
    cr_expect_eq(memcmp(&mc, &ck, sizeof mc), 0);
    cr_assert_eq(model_config_resolve(&c, &ck, 0, &mc, err, sizeof err), 0, "%s", err);
    expect_resolve_fails("hidden_size=256", &ck, 0, "hidden_size=256 conflicts with the init checkpoint's 128");
    expect_resolve_fails("num_hidden_layers=4", &ck, 0, "num_hidden_layers=4 conflicts with the init checkpoint's 3");
    expect_resolve_fails("num_attention_heads=8", &ck, 0, "num_attention_heads=8 conflicts");
    expect_resolve_fails("num_key_value_heads=2", &ck, 0, "num_key_value_heads=2 conflicts");
    expect_resolve_fails("intermediate_size=64", &ck, 0, "intermediate_size=64 conflicts");
    expect_resolve_fails("max_position_embeddings=64", &ck, 0,
                         "max_position_embeddings=64 conflicts with the init checkpoint's 2048 (it may be raised");
    /* raising the context length is allowed: only max_pos changes */
    Config up = cfg("max_position_embeddings=6144");
    cr_assert_eq(model_config_resolve(&up, &ck, 278, &mc, err, sizeof err), 0, "%s", err);
    cr_expect_eq(mc.max_pos, 6144);
    mc.max_pos = ck.max_pos;
    cr_expect_eq(memcmp(&mc, &ck, sizeof mc), 0, "only max_position_embeddings changes");
    expect_resolve_fails("rope_theta=500000", &ck, 0, "rope_theta=500000 conflicts with the init checkpoint's 10000");
    expect_resolve_fails("tie_word_embeddings=true", &ck, 0, "tie_word_embeddings=true conflicts");
    expect_resolve_fails("model=nano", &ck, 300, "the tokenizer uses 300 token ids but the init checkpoint's vocab_size is 278");
    ck.n_kv_heads = 3; /* a bad checkpoint shape is refused too */
    expect_resolve_fails("model=nano", &ck, 0, "num_key_value_heads=3");
}

/* ---------------------------------------------------------------- hf_config */

#define REQUIRED "\"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, " \
                 "\"intermediate_size\": 96, \"vocab_size\": 300"

Test(hf_config, defaults_and_extras) {
    write_text(PATH, "{" REQUIRED "}");
    ModelConfig mc;
    HfExtras x;
    cr_assert_eq(hf_config_read(PATH, &mc, &x, err, sizeof err), 0, "%s", err);
    cr_expect(mc.dim == 64 && mc.n_layers == 2 && mc.n_heads == 4 && mc.ffn_dim == 96 && mc.vocab_size == 300);
    cr_expect_eq(mc.n_kv_heads, 4, "num_key_value_heads defaults to num_attention_heads");
    cr_expect(mc.rms_eps == 1e-6f && mc.rope_theta == 10000.0f && mc.max_pos == 2048 && !mc.tie_embeddings);
    cr_expect_eq(mc.rope_scaling, ROPE_SCALING_NONE);
    cr_expect(!x.has_tokenizer && !x.has_run && x.bos_token_id == -1 && x.pad_token_id == -1 && x.n_eos == 0);
    hf_extras_free(&x);
    write_text(PATH, "{\"model_type\": \"llama\", " REQUIRED ", \"num_key_value_heads\": 2, \"head_dim\": 16, "
                     "\"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0, \"max_position_embeddings\": 131072, "
                     "\"tie_word_embeddings\": true, \"hidden_act\": \"silu\", \"attention_bias\": false, "
                     "\"rope_scaling\": null, \"bos_token_id\": 1, \"eos_token_id\": [2, 7], \"pad_token_id\": -1, "
                     "\"tokenizer\": {\"kind\": \"byte\", \"bos\": 256, \"eos\": 257, \"pad\": 258, \"system\": 259, "
                     "\"user\": 260, \"assistant\": 261, \"pred\": [262, 263, 264]}, "
                     "\"llm_jepa\": {\"loss\": \"jepa\", \"k\": \"2\"}}");
    cr_assert_eq(hf_config_read(PATH, &mc, &x, err, sizeof err), 0, "%s", err);
    cr_expect(mc.n_kv_heads == 2 && mc.rms_eps == 1e-5f && mc.rope_theta == 500000.0f && mc.max_pos == 131072);
    cr_expect(mc.tie_embeddings && mc.rope_scaling == ROPE_SCALING_NONE);
    cr_expect(x.bos_token_id == 1 && x.pad_token_id == -1 && x.n_eos == 2 && x.eos_token_id[1] == 7);
    cr_expect(x.has_tokenizer && !strcmp(x.tok.kind, "byte") && x.tok.user == 260 && x.tok.npred == 3 &&
              x.tok.pred[2] == 264);
    cr_assert(x.has_run && x.nrun == 2);
    cr_expect(!strcmp(x.run[0].key, "loss") && !strcmp(x.run[0].value, "jepa") && !strcmp(x.run[1].value, "2"));
    hf_extras_free(&x);
    cr_expect_eq(hf_config_read(PATH, &mc, NULL, err, sizeof err), 0, "x may be NULL");
}

/* config.json of meta-llama/Llama-3.2-1B as published on the Hugging Face Hub. */
static const char LLAMA32_1B[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0, "
    "\"bos_token_id\": 128000, \"eos_token_id\": 128001, \"head_dim\": 64, \"hidden_act\": \"silu\", "
    "\"hidden_size\": 2048, \"initializer_range\": 0.02, \"intermediate_size\": 8192, "
    "\"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\", "
    "\"num_attention_heads\": 32, \"num_hidden_layers\": 16, \"num_key_value_heads\": 8, \"pretraining_tp\": 1, "
    "\"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 32.0, \"high_freq_factor\": 4.0, "
    "\"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, "
    "\"rope_theta\": 500000.0, \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", "
    "\"transformers_version\": \"4.45.0.dev0\", \"use_cache\": true, \"vocab_size\": 128256}";

Test(hf_config, llama3_rope_scaling) {
    write_text(PATH, LLAMA32_1B);
    ModelConfig mc;
    HfExtras x;
    cr_assert_eq(hf_config_read(PATH, &mc, &x, err, sizeof err), 0, "%s", err);
    cr_expect(mc.dim == 2048 && mc.n_layers == 16 && mc.n_heads == 32 && mc.n_kv_heads == 8 && mc.ffn_dim == 8192);
    cr_expect(mc.vocab_size == 128256 && mc.max_pos == 131072 && mc.tie_embeddings && mc.rms_eps == 1e-5f);
    cr_expect(mc.rope_theta == 500000.0f && x.bos_token_id == 128000 && x.n_eos == 1 && x.eos_token_id[0] == 128001);
    cr_expect(mc.rope_scaling == ROPE_SCALING_LLAMA3 && mc.rope_factor == 32 && mc.rope_low_freq_factor == 1 &&
              mc.rope_high_freq_factor == 4 && mc.rope_original_max_pos == 8192);
    hf_extras_free(&x);
    /* the older key "type" */
    write_text(PATH, "{" REQUIRED ", \"rope_scaling\": {\"type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, "
                     "\"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}}");
    cr_assert_eq(hf_config_read(PATH, &mc, NULL, err, sizeof err), 0, "%s", err);
    cr_expect(mc.rope_scaling == ROPE_SCALING_LLAMA3 && mc.rope_factor == 8);
    write_text(PATH, "{" REQUIRED ", \"rope_scaling\": {\"rope_type\": \"default\"}}");
    cr_assert_eq(hf_config_read(PATH, &mc, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(mc.rope_scaling, ROPE_SCALING_NONE);
}

/* config.json with body must be refused with err containing the path and want. */
static void expect_read_fails(const char *body, const char *want) {
    write_text(PATH, body);
    ModelConfig mc;
    HfExtras x;
    int rc = hf_config_read(PATH, &mc, &x, err, sizeof err);
    hf_extras_free(&x);
    cr_expect_neq(rc, 0, "accepted %s", body);
    cr_expect(strstr(err, PATH) && strstr(err, want), "error '%s' should name the file and '%s'", err, want);
}

Test(hf_config, refusals) {
    expect_read_fails("{" REQUIRED ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
                      "rope_scaling type \"yarn\" is not supported");
    expect_read_fails("{" REQUIRED ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}}", "\"linear\"");
    expect_read_fails("{" REQUIRED ", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2}}", "\"dynamic\"");
    expect_read_fails("{" REQUIRED ", \"rope_scaling\": {\"factor\": 2}}", "rope_type");
    expect_read_fails("{" REQUIRED ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}}",
                      "missing key \"low_freq_factor\"");
    expect_read_fails("{" REQUIRED ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, "
                      "\"high_freq_factor\": 1, \"original_max_position_embeddings\": 8192}}",
                      "high_freq_factor");
    expect_read_fails("{\"model_type\": \"mistral\", " REQUIRED "}", "model_type \"mistral\" is not supported");
    expect_read_fails("{" REQUIRED ", \"head_dim\": 32}", "head_dim 32 != hidden_size / num_attention_heads");
    expect_read_fails("{\"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 9}",
                      "missing key \"intermediate_size\"");
    expect_read_fails("{" REQUIRED ", \"num_key_value_heads\": 3}", "num_key_value_heads=3");
    expect_read_fails("{\"hidden_size\": 64.5, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                      "\"intermediate_size\": 9, \"vocab_size\": 9}", "\"hidden_size\" must be an integer");
    expect_read_fails("{" REQUIRED ", \"tie_word_embeddings\": \"yes\"}", "tie_word_embeddings");
    expect_read_fails("{" REQUIRED ", \"hidden_act\": \"gelu\"}", "hidden_act \"gelu\"");
    expect_read_fails("{" REQUIRED ", \"mlp_bias\": true}", "mlp_bias");
    expect_read_fails("{" REQUIRED ", \"bos_token_id\": 300}", "bos_token_id");
    expect_read_fails("{" REQUIRED ", \"tokenizer\": {\"kind\": \"byte\", \"bos\": 1}}", "\"tokenizer\": missing key \"eos\"");
    expect_read_fails("{" REQUIRED ", \"tokenizer\": {\"kind\": \"byte\", \"bos\": 1, \"eos\": 2, \"pad\": 3, "
                      "\"system\": 4, \"user\": 5, \"assistant\": 6, \"pred\": [7, 300]}}", "\"pred\"");
    expect_read_fails("{" REQUIRED ", \"llm_jepa\": {\"k\": 2}}", "\"llm_jepa\": \"k\": values must be strings");
    expect_read_fails("{" REQUIRED ", ", "not valid JSON");
    expect_read_fails("[1]", "expected a JSON object");
}

Test(hf_config, write_read_round_trip) {
    ModelConfig mc, back;
    cr_assert_eq(model_config_preset("micro", TOK_VOCAB, &mc, err, sizeof err), 0);
    mc.tie_embeddings = 1;
    mc.rope_scaling = ROPE_SCALING_LLAMA3, mc.rope_factor = 32, mc.rope_low_freq_factor = 1;
    mc.rope_high_freq_factor = 4, mc.rope_original_max_pos = 8192;
    Tokenizer tok = tokenizer_byte();
    Config run;
    config_defaults(&run);
    cr_assert_eq(config_set(&run, "loss", "jepa", err, sizeof err), 0);
    cr_assert_eq(hf_config_write(PATH, &mc, &tok, &run, NULL, err, sizeof err), 0, "%s", err);
    HfExtras x;
    cr_assert_eq(hf_config_read(PATH, &back, &x, err, sizeof err), 0, "%s", err);
    cr_expect_eq(memcmp(&mc, &back, sizeof mc), 0, "ModelConfig does not round-trip");
    cr_expect(x.bos_token_id == tok.bos && x.n_eos == 1 && x.eos_token_id[0] == tok.eos && x.pad_token_id == tok.pad);
    cr_expect(x.has_tokenizer && x.tok.npred == tok.npred && x.tok.pred[0] == tok.pred[0] && x.tok.assistant == tok.assistant);
    int n;
    config_schema(&n);
    cr_expect(x.has_run && x.nrun == n);
    Config again;
    config_defaults(&again);
    for (int i = 0; i < x.nrun; i++)
        cr_expect_eq(config_set(&again, x.run[i].key, x.run[i].value, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(again.loss, "jepa");
    hf_extras_free(&x);
    /* Hugging Face's keys and the shortest decimals */
    FILE *f = fopen(PATH, "r");
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    cr_expect(strstr(text, "\"LlamaForCausalLM\"") && strstr(text, "\"model_type\":\t\"llama\""), "%s", text);
    cr_expect(strstr(text, "\"rms_norm_eps\":\t1e-05") && strstr(text, "\"rope_type\":\t\"llama3\""), "%s", text);
    cr_expect(strstr(text, "\"head_dim\":\t32") && strstr(text, "\"torch_dtype\":\t\"float32\""), "%s", text);
    /* without scaling: rope_scaling null; without tok and run: no extras */
    mc.rope_scaling = ROPE_SCALING_NONE, mc.rope_factor = mc.rope_low_freq_factor = mc.rope_high_freq_factor = 0;
    mc.rope_original_max_pos = 0;
    cr_assert_eq(hf_config_write(PATH, &mc, NULL, NULL, "bfloat16", err, sizeof err), 0, "%s", err);
    cr_assert_eq(hf_config_read(PATH, &back, &x, err, sizeof err), 0, "%s", err);
    cr_expect_eq(memcmp(&mc, &back, sizeof mc), 0);
    cr_expect(!x.has_tokenizer && !x.has_run);
    hf_extras_free(&x);
}

/* ---------------------------------------------------------------- peft */

Test(peft, config_round_trip) {
    char path[300];
    snprintf(path, sizeof path, "%s/adapter_config.json", DIR_);
    PeftConfig pc, back;
    memset(&pc, 0, sizeof pc);
    pc.lora.rank = 16, pc.lora.alpha = 32, pc.lora.dropout = 0.05f;
    pc.lora.targets = 1u << LT_Q | 1u << LT_V | 1u << LT_DOWN;
    snprintf(pc.base_model, sizeof pc.base_model, "meta-llama/Llama-3.2-1B");
    cr_assert_eq(peft_config_write(path, &pc, err, sizeof err), 0, "%s", err);
    cr_assert_eq(peft_config_read(path, &back, err, sizeof err), 0, "%s", err);
    cr_expect(back.lora.rank == 16 && back.lora.alpha == 32 && back.lora.dropout == 0.05f);
    cr_expect_eq(back.lora.targets, pc.lora.targets);
    cr_expect_str_eq(back.base_model, "meta-llama/Llama-3.2-1B");
    /* a file as peft writes it, with its defaults and "all-linear" */
    write_text(path, "{\"peft_type\": \"LORA\", \"task_type\": \"CAUSAL_LM\", \"target_modules\": \"all-linear\", "
                     "\"base_model_name_or_path\": null, \"bias\": \"none\", \"use_dora\": false, \"rank_pattern\": {}, "
                     "\"modules_to_save\": null, \"layers_to_transform\": null, \"init_lora_weights\": true}");
    cr_assert_eq(peft_config_read(path, &back, err, sizeof err), 0, "%s", err);
    cr_expect(back.lora.rank == 8 && back.lora.alpha == 8 && back.lora.dropout == 0);
    cr_expect(back.lora.targets == PEFT_ALL_TARGETS && back.base_model[0] == 0);
}

static void expect_peft_fails(const char *body, const char *want) {
    char path[300];
    snprintf(path, sizeof path, "%s/adapter_config.json", DIR_);
    write_text(path, body);
    PeftConfig pc;
    cr_expect_neq(peft_config_read(path, &pc, err, sizeof err), 0, "accepted %s", body);
    cr_expect(strstr(err, path) && strstr(err, want), "error '%s' should name the file and '%s'", err, want);
}

#define LORA_OK "\"peft_type\": \"LORA\", \"target_modules\": [\"q_proj\"]"

Test(peft, config_refusals) {
    expect_peft_fails("{\"peft_type\": \"IA3\", \"target_modules\": [\"q_proj\"]}", "peft_type \"IA3\"");
    expect_peft_fails("{\"target_modules\": [\"q_proj\"]}", "peft_type");
    expect_peft_fails("{" LORA_OK ", \"use_dora\": true}", "use_dora");
    expect_peft_fails("{" LORA_OK ", \"use_rslora\": true}", "use_rslora");
    expect_peft_fails("{" LORA_OK ", \"fan_in_fan_out\": true}", "fan_in_fan_out");
    expect_peft_fails("{" LORA_OK ", \"bias\": \"all\"}", "bias \"all\"");
    expect_peft_fails("{" LORA_OK ", \"task_type\": \"SEQ_CLS\"}", "task_type \"SEQ_CLS\"");
    expect_peft_fails("{" LORA_OK ", \"rank_pattern\": {\"q_proj\": 4}}", "rank_pattern");
    expect_peft_fails("{" LORA_OK ", \"modules_to_save\": [\"lm_head\"]}", "modules_to_save");
    expect_peft_fails("{" LORA_OK ", \"layers_to_transform\": [0, 1]}", "layers_to_transform");
    expect_peft_fails("{\"peft_type\": \"LORA\", \"target_modules\": [\"q_proj\", \"lm_head\"]}", "\"lm_head\"");
    expect_peft_fails("{\"peft_type\": \"LORA\", \"target_modules\": [\"q\"]}", "\"q\"");
    expect_peft_fails("{\"peft_type\": \"LORA\", \"target_modules\": \".*proj\"}", "regular expression");
    expect_peft_fails("{\"peft_type\": \"LORA\"}", "target_modules");
    expect_peft_fails("{\"peft_type\": \"LORA\", \"target_modules\": []}", "target_modules");
    expect_peft_fails("{" LORA_OK ", \"r\": 0}", "\"r\"");
    expect_peft_fails("{" LORA_OK ", \"lora_dropout\": 1}", "lora_dropout");
    expect_peft_fails("{" LORA_OK ", \"base_model_name_or_path\": 3}", "base_model_name_or_path");
}

Test(peft, tensor_names) {
    char name[160];
    cr_assert_eq(peft_tensor_name(3, LT_Q, 0, name, sizeof name), 0);
    cr_expect_str_eq(name, "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight");
    cr_assert_eq(peft_tensor_name(15, LT_DOWN, 1, name, sizeof name), 0);
    cr_expect_str_eq(name, "base_model.model.model.layers.15.mlp.down_proj.lora_B.weight");
    for (int l = 0; l < 12; l += 11)
        for (int t = 0; t < LT_COUNT; t++)
            for (int b = 0; b < 2; b++) {
                int l2, t2, b2;
                cr_assert_eq(peft_tensor_name(l, t, b, name, sizeof name), 0);
                cr_assert_eq(peft_tensor_parse(name, &l2, &t2, &b2), 0, "%s", name);
                cr_expect(l2 == l && t2 == t && b2 == b, "%s", name);
            }
    int l, t, b;
    const char *bad[] = {"model.layers.3.self_attn.q_proj.lora_A.weight",
                         "base_model.model.model.layers.x.self_attn.q_proj.lora_A.weight",
                         "base_model.model.model.layers.03.self_attn.q_proj.lora_A.weight",
                         "base_model.model.model.layers.3.mlp.q_proj.lora_A.weight",
                         "base_model.model.model.layers.3.self_attn.q_proj.lora_C.weight",
                         "base_model.model.model.layers.3.self_attn.q_proj.lora_A.default.weight",
                         "base_model.model.model.layers.3.self_attn.q_proj.base_layer.weight"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) cr_expect_neq(peft_tensor_parse(bad[i], &l, &t, &b), 0, "%s", bad[i]);
    cr_expect_neq(peft_tensor_name(0, LT_COUNT, 0, name, sizeof name), 0);
    cr_expect_neq(peft_tensor_name(0, LT_Q, 0, name, 10), 0, "too small a buffer");
    /* shapes: A (r, in), B (out, r) */
    ModelConfig mc;
    model_config_preset("pico", 278, &mc, err, sizeof err); /* C 32, H 4, KV 2, hd 8, F 64 */
    int sh[2];
    cr_assert_eq(peft_tensor_shape(&mc, 4, LT_K, 1, sh), 0);
    cr_expect(sh[0] == 16 && sh[1] == 4);
    cr_assert_eq(peft_tensor_shape(&mc, 4, LT_DOWN, 0, sh), 0);
    cr_expect(sh[0] == 4 && sh[1] == 64);
    cr_assert_eq(peft_tensor_shape(&mc, 4, LT_GATE, 1, sh), 0);
    cr_expect(sh[0] == 64 && sh[1] == 4);
    /* target names */
    cr_expect_str_eq(peft_target_module(LT_GATE), "gate_proj");
    cr_expect(peft_target_parse("up") == LT_UP && peft_target_parse("o_proj") == LT_O && peft_target_parse("x") < 0);
    unsigned mask;
    cr_assert_eq(peft_targets_parse("q,v,down", &mask, err, sizeof err), 0, "%s", err);
    cr_expect_eq(mask, 1u << LT_Q | 1u << LT_V | 1u << LT_DOWN);
    cr_expect_neq(peft_targets_parse("q,lm_head", &mask, err, sizeof err), 0);
    cr_expect(strstr(err, "lm_head") != NULL, "%s", err);
}

/* Hardening (issue 10): numbers that are NaN-free but infinite, huge, negative or fractional
 * are refused with the file and key named, so no conversion to int or float is out of range
 * and head_dim * num_attention_heads cannot overflow. */
Test(hf_config, hostile_numbers) {
    expect_read_fails("{" REQUIRED ", \"rms_norm_eps\": 1e300}", "\"rms_norm_eps\" must be a number in (0, 1]");
    expect_read_fails("{" REQUIRED ", \"rms_norm_eps\": 1e999}", "\"rms_norm_eps\"");
    expect_read_fails("{" REQUIRED ", \"rms_norm_eps\": -1e-6}", "\"rms_norm_eps\"");
    expect_read_fails("{" REQUIRED ", \"rms_norm_eps\": 0}", "\"rms_norm_eps\"");
    expect_read_fails("{" REQUIRED ", \"rope_theta\": 1e39}", "\"rope_theta\" must be a number in (0, 1e+12]");
    expect_read_fails("{" REQUIRED ", \"rope_theta\": -10000}", "\"rope_theta\"");
    expect_read_fails("{" REQUIRED ", \"rope_theta\": \"10000\"}", "\"rope_theta\"");
    expect_read_fails("{" REQUIRED ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 1e999, "
                      "\"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}}",
                      "\"rope_scaling\": \"factor\"");
    expect_read_fails("{" REQUIRED ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, "
                      "\"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192.5}}",
                      "original_max_position_embeddings");
    expect_read_fails("{\"hidden_size\": 1e999, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                      "\"intermediate_size\": 9, \"vocab_size\": 9}", "\"hidden_size\" must be an integer");
    expect_read_fails("{\"hidden_size\": -64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                      "\"intermediate_size\": 9, \"vocab_size\": 9}", "\"hidden_size\" must be an integer");
    expect_read_fails("{\"hidden_size\": 4294967360, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                      "\"intermediate_size\": 9, \"vocab_size\": 9}", "\"hidden_size\" must be an integer in [1, 1073741824]");
    /* head_dim * num_attention_heads computed without overflow: 2^30 * 2^30 is not 64 */
    expect_read_fails("{" REQUIRED ", \"head_dim\": 1073741824}", "head_dim 1073741824 != hidden_size");
    /* the largest sizes are refused as too large, not overflowed */
    expect_read_fails("{\"hidden_size\": 1073741824, \"num_hidden_layers\": 1073741824, \"num_attention_heads\": 2, "
                      "\"intermediate_size\": 1073741824, \"vocab_size\": 1073741824}", "model too large");
    expect_read_fails("{" REQUIRED ", \"eos_token_id\": [1e999]}", "eos_token_id");
    expect_read_fails("{" REQUIRED ", \"bos_token_id\": -2}", "bos_token_id");
}

Test(peft, hostile_numbers) {
    expect_peft_fails("{" LORA_OK ", \"lora_alpha\": 1e300}", "\"lora_alpha\" must be a number in [0, 1e+06]");
    expect_peft_fails("{" LORA_OK ", \"lora_alpha\": 1e999}", "lora_alpha");
    expect_peft_fails("{" LORA_OK ", \"lora_alpha\": -8}", "lora_alpha");
    expect_peft_fails("{" LORA_OK ", \"r\": 1e999}", "\"r\" must be an integer in [1, 65536]");
    expect_peft_fails("{" LORA_OK ", \"r\": 8.5}", "\"r\"");
    expect_peft_fails("{" LORA_OK ", \"r\": 65537}", "\"r\"");
    expect_peft_fails("{" LORA_OK ", \"lora_dropout\": 1e999}", "lora_dropout");
    expect_peft_fails("{" LORA_OK ", \"lora_dropout\": -0.1}", "lora_dropout");
}
