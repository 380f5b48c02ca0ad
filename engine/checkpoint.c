/* Checkpoints: loading (ours, Hugging Face Llama, PEFT adapters), the run's
 * model (init= or from scratch), and saving (merged model + PEFT adapter).
 * The file formats live in safetensors.c, hf_config.c and peft.c. */
#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"
#include "fsutil.h"
#include "hf_config.h"
#include "model_config.h"
#include "peft.h"
#include "rng.h"
#include "safetensors.h"
#include "train.h"

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- Where the weights are ------------------------------------------------------ */

/* A checkpoint directory: model_dir holds config.json and the weights; when
 * dir is a PEFT adapter, model_dir is its base and pc its adapter config. */
typedef struct CkDirs { char model_dir[2048], adapter_dir[2048]; int is_adapter; PeftConfig pc; } CkDirs;

static int resolve_dirs(const char *dir, CkDirs *d, char *err, size_t errn) {
    char path[4096];
    memset(d, 0, sizeof *d);
    /* every path below fits: dir and the base (< 512, PeftConfig) are short enough */
    if (strlen(dir) >= sizeof d->model_dir - sizeof d->pc.base_model - 32)
        return errf(err, errn, "%.200s...: checkpoint path longer than %zu bytes", dir,
                    sizeof d->model_dir - sizeof d->pc.base_model - 33);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (!exists(path)) {
        snprintf(d->model_dir, sizeof d->model_dir, "%s", dir);
        snprintf(path, sizeof path, "%s/config.json", dir);
        if (!exists(path)) return errf(err, errn, "%s: not a checkpoint directory (no config.json or adapter_config.json)", dir);
        return 0;
    }
    d->is_adapter = 1;
    snprintf(d->adapter_dir, sizeof d->adapter_dir, "%s", dir);
    if (peft_config_read(path, &d->pc, err, errn)) return -1;
    const char *base = d->pc.base_model;
    if (!base[0]) return errf(err, errn, "%s: base_model_name_or_path is empty: the adapter's base is unknown", path);
    char rel[2048];
    snprintf(rel, sizeof rel, "%s/%s", dir, base); /* relative to the adapter, then as given */
    snprintf(d->model_dir, sizeof d->model_dir, "%s", base[0] != '/' && exists(rel) ? rel : base);
    snprintf(path, sizeof path, "%s/config.json", d->model_dir);
    if (!exists(path))
        return errf(err, errn, "%s: its base '%s' is not a checkpoint directory here (no %s)", dir, base, path);
    snprintf(path, sizeof path, "%s/adapter_config.json", d->model_dir);
    if (exists(path)) return errf(err, errn, "%s: its base %s is itself an adapter (not supported)", dir, d->model_dir);
    return 0;
}

/* config.json of model_dir into mc; ck_vocab = the file's vocabulary, and
 * mc->vocab_size raised to TOK_VOCAB when the byte tokenizer's special tokens
 * must be appended (see checkpoint.h). */
static int read_model_config(const char *model_dir, ModelConfig *mc, HfExtras *x, int *ck_vocab, char *note,
                             size_t notn, char *err, size_t errn) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    if (hf_config_read(path, mc, x, err, errn)) return -1;
    if (x->has_tokenizer && strcmp(x->tok.kind, "byte"))
        return errf(err, errn, "%s: tokenizer kind '%s' is not supported (only the byte tokenizer)", path, x->tok.kind);
    *ck_vocab = mc->vocab_size;
    if (mc->vocab_size < 256)
        return errf(err, errn, "%s: vocab_size %d cannot hold the byte tokenizer's 256 byte ids (Hugging Face "
                    "tokenizer.json is not supported yet)", path, mc->vocab_size);
    if (mc->vocab_size < TOK_VOCAB) {
        if (note) snprintf(note, notn, "%s: vocab_size %d: appended %d special tokens (rows %d..%d = mean of the "
                           "existing rows)", path, mc->vocab_size, TOK_VOCAB - mc->vocab_size, mc->vocab_size,
                           TOK_VOCAB - 1);
        mc->vocab_size = TOK_VOCAB;
    }
    return 0;
}

/* Rows [ck_vocab, V) of E (V, C) = the mean of rows [0, ck_vocab) (in double). */
static void mean_rows(float *E, int ck_vocab, int V, int C) {
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int v = 0; v < ck_vocab; v++) s += E[(size_t)v * C + c];
        for (int v = ck_vocab; v < V; v++) E[(size_t)v * C + c] = (float)(s / ck_vocab);
    }
}

/* Every base tensor of m from the weights in model_dir (vocabulary rows
 * beyond ck_vocab appended as means). */
static int load_base(Model *m, const char *model_dir, int ck_vocab, char *err, size_t errn) {
    SafeTensors st;
    if (safetensors_open(&st, model_dir, err, errn)) return -1;
    int rc = 0;
    for (int t = 0; t < m->ntensors && !rc; t++) {
        Tensor *T = &m->tensors[t];
        if (strstr(T->name, ".lora_")) continue;
        if (t == m->tid_predictor && !safetensors_has(&st, T->name)) continue; /* a base without one: identity */
        int vocab_rows = t == m->tid_embed || t == m->tid_lm_head;
        int shape[2] = {vocab_rows ? ck_vocab : T->shape[0], T->shape[1]};
        float *h = malloc(T->numel * sizeof(float));
        if (!h) rc = errf(err, errn, "out of memory");
        else if (safetensors_read_f32(&st, T->name, T->ndim, shape, h, err, errn)) rc = -1;
        else {
            if (vocab_rows && ck_vocab < T->shape[0]) mean_rows(h, ck_vocab, T->shape[0], T->shape[1]);
            model_tensor_set(m, t, h);
        }
        free(h);
    }
    safetensors_close(&st);
    return rc;
}

/* The adapter's A and B into the LoRA tensors of t. */
static int load_adapter(Model *t, const CkDirs *d, char *err, size_t errn) {
    SafeTensors st;
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", d->adapter_dir);
    if (safetensors_open(&st, path, err, errn)) return -1;
    int rc = 0;
    for (int l = 0; l < t->cfg.n_layers && !rc; l++)
        for (int g = 0; g < LT_COUNT && !rc; g++)
            for (int b = 0; b < 2 && !rc; b++) {
                int tid = t->lora_tid[(l * LT_COUNT + g) * 2 + b];
                if (tid < 0) continue;
                Tensor *T = &t->tensors[tid];
                char name[160];
                peft_tensor_name(l, g, b, name, sizeof name);
                float *h = malloc(T->numel * sizeof(float));
                if (!h) rc = errf(err, errn, "out of memory");
                else if (safetensors_read_f32(&st, name, 2, T->shape, h, err, errn)) rc = -1;
                else model_tensor_set(t, tid, h);
                free(h);
            }
    safetensors_close(&st);
    return rc;
}

/* Base weights of m = the adapter's base with the adapter merged (PEFT's
 * merge_and_unload), through a temporary model carrying the adapter. */
static int load_merged(Model *m, const CkDirs *d, int ck_vocab, char *err, size_t errn) {
    Model t;
    LoraConfig lc = d->pc.lora;
    lc.dropout = 0.0f;
    if (model_init(&t, &m->cfg, &lc, m->be, err, errn)) return -1;
    float *host = malloc(t.nparams * sizeof(float));
    int rc = !host ? errf(err, errn, "out of memory") : 0;
    if (!rc && (load_base(&t, d->model_dir, ck_vocab, err, errn) || load_adapter(&t, d, err, errn))) rc = -1;
    if (!rc && model_params_merged(&t, host)) rc = errf(err, errn, "out of memory merging the adapter");
    for (int i = 0; !rc && i < m->ntensors; i++) /* base tensors come first, in the same order */
        if (!strstr(m->tensors[i].name, ".lora_")) model_tensor_set(m, i, host + t.tensors[i].offset);
    free(host);
    model_free(&t);
    return rc;
}

static int load_weights(Model *m, const CkDirs *d, int ck_vocab, char *err, size_t errn) {
    return d->is_adapter ? load_merged(m, d, ck_vocab, err, errn) : load_base(m, d->model_dir, ck_vocab, err, errn);
}

/* ---- Loading ------------------------------------------------------------------------ */

static int apply_run(const HfExtras *x, const char *dir, Config *run, int *has_run, char *err, size_t errn) {
    if (has_run) *has_run = 0;
    if (!run || !x->has_run) return 0;
    config_defaults(run);
    for (int i = 0; i < x->nrun; i++) {
        char msg[256];
        if (config_set(run, x->run[i].key, x->run[i].value, msg, sizeof msg))
            return errf(err, errn, "%s/config.json: \"llm_jepa\": %s", dir, msg);
    }
    if (has_run) *has_run = 1;
    return 0;
}

int checkpoint_load(Model *m, Backend *be, const char *dir, Config *run, int *has_run, char *err, size_t errn) {
    CkDirs d;
    ModelConfig mc;
    HfExtras x;
    int ck_vocab;
    memset(&x, 0, sizeof x);
    Config tmp;
    if (!run) run = &tmp;
    int rc = resolve_dirs(dir, &d, err, errn) || read_model_config(d.model_dir, &mc, &x, &ck_vocab, NULL, 0, err, errn) ||
             apply_run(&x, d.model_dir, run, has_run, err, errn);
    mc.jepa_predictor = !rc && x.has_run && !strcmp(run->loss, "jepa") && !strcmp(run->predictor, "linear");
    rc = rc || model_init(m, &mc, NULL, be, err, errn);
    hf_extras_free(&x);
    if (rc) return -1;
    if (load_weights(m, &d, ck_vocab, err, errn)) { model_free(m); return -1; }
    return 0;
}

int model_build(const Config *c, Backend *be, Model *m, char *note, size_t notn, char *err, size_t errn) {
    LoraConfig lc = lora_config(c);
    ModelConfig mc;
    if (note && notn) note[0] = 0;
    int pred = !strcmp(c->loss, "jepa") && !strcmp(c->predictor, "linear");
    if (!c->init[0]) {
        if (model_config_resolve(c, NULL, TOK_VOCAB, &mc, err, errn)) return -1;
        mc.jepa_predictor = pred;
        if (model_init(m, &mc, &lc, be, err, errn)) return -1;
        Rng r_init = rng_stream(c->seed, "init");
        model_init_weights(m, &r_init, (float)c->init_std);
    } else {
        CkDirs d;
        ModelConfig ck;
        HfExtras x;
        int ck_vocab;
        memset(&x, 0, sizeof x);
        int rc = resolve_dirs(c->init, &d, err, errn) ||
                 read_model_config(d.model_dir, &ck, &x, &ck_vocab, note, notn, err, errn) ||
                 model_config_resolve(c, &ck, 0, &mc, err, errn);
        mc.jepa_predictor = pred;
        rc = rc || model_init(m, &mc, &lc, be, err, errn);
        hf_extras_free(&x);
        if (rc) return -1;
        if (load_weights(m, &d, ck_vocab, err, errn)) { model_free(m); return -1; }
    }
    Rng r_lora = rng_stream(c->seed, "lora_init");
    model_init_lora(m, &r_lora);
    return 0;
}

/* ---- Saving ---------------------------------------------------------------------- */

/* The PEFT adapter of m into dir (adapter_config.json, adapter_model.safetensors). */
static int save_adapter(Model *m, const Config *run, const char *dir, char *err, size_t errn) {
    if (mkdir_p(dir)) return errf(err, errn, "%s: cannot create directory: %s", dir, strerror(errno));
    int n = 0, cap = 2 * LT_COUNT * m->cfg.n_layers;
    char **names = calloc((size_t)cap, sizeof *names);
    int *nd = calloc((size_t)cap, sizeof *nd);
    const int **shapes = calloc((size_t)cap, sizeof *shapes);
    float **data = calloc((size_t)cap, sizeof *data);
    int rc = !names || !nd || !shapes || !data ? errf(err, errn, "out of memory") : 0;
    for (int l = 0; !rc && l < m->cfg.n_layers; l++)
        for (int g = 0; g < LT_COUNT; g++)
            for (int b = 0; b < 2; b++) {
                int tid = m->lora_tid[(l * LT_COUNT + g) * 2 + b];
                if (tid < 0) continue;
                names[n] = malloc(160);
                data[n] = malloc(m->tensors[tid].numel * sizeof(float));
                if (!names[n] || !data[n]) { rc = errf(err, errn, "out of memory"); n++; goto out; }
                peft_tensor_name(l, g, b, names[n], 160);
                nd[n] = 2;
                shapes[n] = m->tensors[tid].shape;
                model_tensor_get(m, tid, data[n]);
                n++;
            }
out:;
    char path[4200];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (!rc && safetensors_write(path, n, (const char *const *)names, nd, shapes, (const float *const *)data, ST_F32,
                                 err, errn))
        rc = -1;
    PeftConfig pc;
    memset(&pc, 0, sizeof pc);
    pc.lora = m->lora;
    if (run) snprintf(pc.base_model, sizeof pc.base_model, "%s", run->init);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (!rc && peft_config_write(path, &pc, err, errn)) rc = -1;
    for (int i = 0; i < n; i++) { free(names[i]); free(data[i]); }
    free(names); free(nd); free(shapes); free(data);
    return rc;
}

int checkpoint_save(Model *m, const Tokenizer *tok, const Config *run, const char *dir, char *err, size_t errn) {
    if (mkdir_p(dir)) return errf(err, errn, "%s: cannot create directory: %s", dir, strerror(errno));
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (hf_config_write(path, &m->cfg, tok, run, "float32", err, errn)) return -1;
    float *host = malloc(m->nparams * sizeof(float));
    int n = 0, rc = 0;
    const char **names = calloc((size_t)m->ntensors, sizeof *names);
    int *nd = calloc((size_t)m->ntensors, sizeof *nd);
    const int **shapes = calloc((size_t)m->ntensors, sizeof *shapes);
    const float **data = calloc((size_t)m->ntensors, sizeof *data);
    if (!host || !names || !nd || !shapes || !data || model_params_merged(m, host)) rc = errf(err, errn, "out of memory");
    for (int t = 0; !rc && t < m->ntensors; t++) {
        const Tensor *T = &m->tensors[t];
        if (strstr(T->name, ".lora_")) continue; /* the merged model is a plain Llama */
        names[n] = T->name, nd[n] = T->ndim, shapes[n] = T->shape, data[n] = host + T->offset;
        n++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc && safetensors_write(path, n, names, nd, shapes, data, ST_F32, err, errn)) rc = -1;
    free(host); free(names); free(nd); free(shapes); free(data);
    if (!rc && m->lora.rank > 0) {
        snprintf(path, sizeof path, "%s/adapter", dir);
        rc = save_adapter(m, run, path, err, errn);
    }
    return rc;
}
