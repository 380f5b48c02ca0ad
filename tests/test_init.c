/* init= (ALGORITHM.md §2, §5): a run starts from a Hugging Face Llama
 * directory the test writes itself (sharded, tied, BF16), from one of our
 * checkpoints, or from a PEFT adapter over a base; the checkpoint's shape wins
 * over the preset; refusals; LoRA checkpoints save the merged model plus the
 * adapter, and both load back to the same function. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "batch.h"
#include "checkpoint.h"
#include "config.h"
#include "loss.h"
#include "model.h"
#include "rng.h"
#include "safetensors.h"

static Example EX[2] = {
    {"Convert.", "lines with a vowel", "[AEIOU]", 1},
    {"Convert.", "words ending in dog", "\\bdog\\b", 2},
};

/* A fresh directory; its name lives in a static pool (at most 8 per test, none to free). */
static char *tmpdir(void) {
    static char pool[8][32];
    static int next;
    char *d = pool[next++ % 8];
    snprintf(d, sizeof pool[0], "/tmp/test_init_XXXXXX");
    cr_assert(mkdtemp(d));
    return d;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* bf16 rounding (round to nearest even), as a BF16 file stores x. */
static float bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

/* A Hugging Face Llama directory: hidden 32, 2 layers, 4/2 heads, FFN 64,
 * vocab `vocab`, tied embeddings, BF16 weights in shards of ~8 KB with an
 * index.json; extra is spliced into config.json. E receives the embedding. */
static void write_hf_dir(const char *dir, int vocab, const char *extra, float **E) {
    char cfg[1024], path[1200];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 32, "
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
             "\"intermediate_size\": 64, \"vocab_size\": %d, \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0, "
             "\"max_position_embeddings\": 512, \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\"%s}",
             vocab, extra ? extra : "");
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, cfg);
    static const char *mods[] = {"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                 "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj",
                                 "mlp.down_proj"};
    static const int shp[9][2] = {{32, 0}, {32, 32}, {16, 32}, {16, 32}, {32, 32}, {32, 0}, {64, 32}, {64, 32}, {32, 64}};
    enum { NT = 2 + 2 * 9 };
    char *names[NT];
    int nd[NT], shapes[NT][2];
    const int *sp[NT];
    float *data[NT];
    Rng r = rng_stream(1, "hf");
    int n = 0;
    for (int t = -1; t <= 18; t++) {
        names[n] = malloc(96);
        if (t == -1) snprintf(names[n], 96, "model.embed_tokens.weight"), shapes[n][0] = vocab, shapes[n][1] = 32;
        else if (t == 18) snprintf(names[n], 96, "model.norm.weight"), shapes[n][0] = 32, shapes[n][1] = 0;
        else {
            snprintf(names[n], 96, "model.layers.%d.%s.weight", t / 9, mods[t % 9]);
            shapes[n][0] = shp[t % 9][0], shapes[n][1] = shp[t % 9][1];
        }
        nd[n] = shapes[n][1] ? 2 : 1;
        size_t numel = (size_t)shapes[n][0] * (shapes[n][1] ? shapes[n][1] : 1);
        data[n] = malloc(numel * sizeof(float));
        for (size_t i = 0; i < numel; i++) data[n][i] = bf16((float)(0.2 * rng_normal(&r) + (nd[n] == 1)));
        sp[n] = shapes[n];
        n++;
    }
    char err[512];
    cr_assert_eq(safetensors_write_sharded(dir, n, (const char *const *)names, nd, sp, (const float *const *)data,
                                           ST_BF16, 8192, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    cr_assert(access(path, F_OK) == 0, "the test must write a sharded directory");
    *E = data[0];
    for (int i = 1; i < n; i++) { free(names[i]); free(data[i]); }
    free(names[0]);
}

static double loss_of(Model *m) {
    Batch b = {0};
    LossWork w = {0};
    ViewOpts vo = {.include_system = 1, .targets_all = 1, .k = 1, .packed = 1};
    int idx[2] = {0, 1};
    cr_assert_eq(batch_build(&b, EX, idx, 2, &vo, 1), 0);
    LossOpts o = {.gamma = 1.0, .lambda = 1.0, .metric = jepa_metric("cosine")};
    LossOut out;
    cr_assert_eq(loss_step(m, &b, &o, &w, &out, 0), 0);
    batch_free(&b);
    loss_work_free(&w);
    return out.total;
}

Test(init, hf_sharded_tied_bf16_with_new_tokens) {
    char *dir = tmpdir(), err[1024], note[1024];
    float *E;
    write_hf_dir(dir, 260, NULL, &E);
    Config c;
    config_defaults(&c);
    snprintf(c.init, sizeof c.init, "%s", dir);
    Model m;
    cr_assert_eq(model_build(&c, backend_cpu(), &m, note, sizeof note, err, sizeof err), 0, "%s", err);
    cr_expect_eq(m.cfg.dim, 32, "the checkpoint's shape wins over the preset (nano is 128)");
    cr_expect_eq(m.cfg.n_kv_heads, 2);
    cr_expect_eq(m.cfg.tie_embeddings, 1);
    cr_expect_eq(m.tid_lm_head, m.tid_embed, "tied: one tensor");
    cr_expect_eq(m.cfg.vocab_size, TOK_VOCAB, "special tokens appended");
    cr_expect(strstr(note, "appended 18 special tokens"), "note: %s", note);
    float *got = malloc((size_t)TOK_VOCAB * 32 * sizeof(float));
    model_tensor_get(&m, m.tid_embed, got);
    for (size_t i = 0; i < (size_t)260 * 32; i++) cr_assert_eq(got[i], E[i], "embedding value %zu", i);
    for (int c2 = 0; c2 < 32; c2++) {
        double mean = 0;
        for (int v = 0; v < 260; v++) mean += E[(size_t)v * 32 + c2];
        mean /= 260;
        for (int v = 260; v < TOK_VOCAB; v++)
            cr_assert_float_eq(got[(size_t)v * 32 + c2], mean, 1e-6, "row %d col %d is not the mean", v, c2);
    }
    cr_expect(isfinite(loss_of(&m)));
    free(got);
    free(E);
    model_free(&m);
}

/* A shape key that contradicts the checkpoint, a vocabulary too small for the
 * byte tokenizer, an unsupported rope_scaling, a missing directory. */
Test(init, refusals) {
    char *dir = tmpdir(), err[1024];
    float *E;
    write_hf_dir(dir, 260, NULL, &E);
    free(E);
    Config c;
    config_defaults(&c);
    snprintf(c.init, sizeof c.init, "%s", dir);
    c.hidden_size = 64;
    Model m;
    cr_expect_neq(model_build(&c, backend_cpu(), &m, NULL, 0, err, sizeof err), 0);
    cr_expect(strstr(err, "hidden_size"), "names the key: %s", err);
    c.hidden_size = 32; /* equal to the checkpoint: fine */
    cr_expect_eq(model_build(&c, backend_cpu(), &m, NULL, 0, err, sizeof err), 0, "%s", err);
    model_free(&m);

    char *small = tmpdir();
    write_hf_dir(small, 200, NULL, &E);
    free(E);
    snprintf(c.init, sizeof c.init, "%s", small);
    cr_expect_neq(model_build(&c, backend_cpu(), &m, NULL, 0, err, sizeof err), 0);
    cr_expect(strstr(err, "vocab_size 200"), "%s", err);
    cr_expect_neq(checkpoint_load(&m, backend_cpu(), small, NULL, NULL, err, sizeof err), 0, "harness loss refuses too");

    char *yarn = tmpdir();
    write_hf_dir(yarn, 300, ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}", &E);
    free(E);
    snprintf(c.init, sizeof c.init, "%s", yarn);
    cr_expect_neq(model_build(&c, backend_cpu(), &m, NULL, 0, err, sizeof err), 0);
    cr_expect(strstr(err, "yarn"), "%s", err);

    snprintf(c.init, sizeof c.init, "/nonexistent/checkpoint");
    cr_expect_neq(model_build(&c, backend_cpu(), &m, NULL, 0, err, sizeof err), 0);
    cr_expect(strstr(err, "/nonexistent/checkpoint"), "%s", err);
}

/* llama3 rope_scaling loads (and is used: the loss differs from no scaling). */
Test(init, llama3_rope_scaling) {
    char *a = tmpdir(), *b = tmpdir(), err[1024];
    float *E;
    write_hf_dir(a, 300, NULL, &E);
    free(E);
    write_hf_dir(b, 300, ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0, "
                 "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8}", &E);
    free(E);
    Model ma, mb;
    cr_assert_eq(checkpoint_load(&ma, backend_cpu(), a, NULL, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(checkpoint_load(&mb, backend_cpu(), b, NULL, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(mb.cfg.rope_scaling, 1);
    cr_expect_neq(loss_of(&ma), loss_of(&mb), "llama3 scaling changes the rotary frequencies");
    model_free(&ma);
    model_free(&mb);
}

/* LoRA run from a base: the checkpoint holds the merged model and the PEFT
 * adapter; the merged model, the adapter over its base, and the live model
 * with adapters compute the same loss. */
Test(init, lora_checkpoint_merged_and_adapter) {
    char *base = tmpdir(), *out = tmpdir(), err[1024], path[1200];
    Config c;
    config_defaults(&c);
    snprintf(c.model, sizeof c.model, "pico");
    Model m0;
    cr_assert_eq(model_build(&c, backend_cpu(), &m0, NULL, 0, err, sizeof err), 0, "%s", err);
    Tokenizer tok = tokenizer_byte();
    cr_assert_eq(checkpoint_save(&m0, &tok, &c, base, err, sizeof err), 0, "%s", err);
    double l0 = loss_of(&m0);
    model_free(&m0);

    snprintf(c.init, sizeof c.init, "%s", base);
    c.lora_rank = 2;
    Model m;
    cr_assert_eq(model_build(&c, backend_cpu(), &m, NULL, 0, err, sizeof err), 0, "%s", err);
    cr_expect_eq(loss_of(&m), l0, "init + fresh adapters (B = 0) = the base");
    Rng r = rng_stream(4, "B");
    for (int t = 0; t < m.ntensors; t++) /* trained-looking adapters */
        if (strstr(m.tensors[t].name, ".lora_B.")) {
            float *h = malloc(m.tensors[t].numel * sizeof(float));
            for (size_t i = 0; i < m.tensors[t].numel; i++) h[i] = (float)(0.3 * rng_normal(&r));
            model_tensor_set(&m, t, h);
            free(h);
        }
    double live = loss_of(&m);
    cr_expect_neq(live, l0);
    cr_assert_eq(checkpoint_save(&m, &tok, &c, out, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/adapter/adapter_model.safetensors", out);
    cr_expect(access(path, F_OK) == 0, "PEFT adapter written");
    Model merged, viaadapter;
    cr_assert_eq(checkpoint_load(&merged, backend_cpu(), out, NULL, NULL, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/adapter", out);
    cr_assert_eq(checkpoint_load(&viaadapter, backend_cpu(), path, NULL, NULL, err, sizeof err), 0, "%s", err);
    double lm = loss_of(&merged), la = loss_of(&viaadapter);
    cr_expect(fabs(lm - live) <= 1e-5 * fabs(live), "merged %.9g vs live %.9g", lm, live);
    cr_expect(fabs(la - live) <= 1e-5 * fabs(live), "adapter over base %.9g vs live %.9g", la, live);
    cr_expect_eq(merged.lora.rank, 0, "the merged checkpoint is a plain Llama");
    model_free(&m);
    model_free(&merged);
    model_free(&viaadapter);
}

/* An example longer than max_position_embeddings is an error naming the file and line. */
Test(init, sequence_longer_than_max_positions) {
    Dataset d = {EX, 2, "data/x.jsonl"};
    ViewOpts vo = {.include_system = 1, .targets_all = 1, .k = 1, .packed = 1};
    char err[512];
    cr_expect_eq(dataset_check_positions(&d, &vo, 8, 64, err, sizeof err), 0);
    cr_expect_neq(dataset_check_positions(&d, &vo, 8, 30, err, sizeof err), 0);
    cr_expect(strstr(err, "data/x.jsonl:1:") && strstr(err, "max_position_embeddings 30"), "%s", err);
}

/* A checkpoint path too long for the paths built from it is refused, not truncated into
 * another directory. */
Test(init, overlong_checkpoint_path_refused) {
    char path[1700], err[1024] = "";
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = 0;
    Model m;
    cr_expect_neq(checkpoint_load(&m, backend_cpu(), path, NULL, NULL, err, sizeof err), 0);
    cr_expect(strstr(err, "checkpoint path longer than 1503 bytes") != NULL, "%s", err);
}
