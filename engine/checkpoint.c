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

/* The ids config.json's "tokenizer" object records agree with tok's. */
static int same_ids(const HfTokenizerInfo *ti, const Tokenizer *tok) {
    if (ti->bos != tok->bos || ti->eos != tok->eos || ti->pad != tok->pad || ti->npred != tok->npred) return 0;
    if (tok->kind == TOKENIZER_BPE && (ti->system != tok->system || ti->user != tok->user ||
                                       ti->assistant != tok->assistant))
        return 0;
    for (int i = 0; i < ti->npred; i++)
        if (ti->pred[i] != tok->pred[i]) return 0;
    return 1;
}

/* config.json of model_dir into mc for a model used with tokenizer tok;
 * ck_vocab = the file's vocabulary, and mc->vocab_size raised to
 * tok->vocab_size when tok's ids go beyond it (special tokens appended, see
 * checkpoint.h). Errors: the file's own (hf_config_read), a "tokenizer"
 * object of another kind or with other ids than tok, a vocabulary that
 * cannot hold tok's non-appended ids. */
static int read_model_config(const char *model_dir, const Tokenizer *tok, ModelConfig *mc, HfExtras *x, int *ck_vocab,
                             char *note, size_t notn, char *err, size_t errn) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    if (hf_config_read(path, mc, x, err, errn)) return -1;
    const char *kind = tokenizer_kind_name(tok);
    if (x->has_tokenizer && strcmp(x->tok.kind, kind))
        return errf(err, errn, "%s: its \"tokenizer\" is of kind '%s', but the checkpoint's tokenizer is %s (%s)", path,
                    x->tok.kind, kind, tok->kind == TOKENIZER_BYTE ? "no tokenizer.json" : "a tokenizer.json");
    if (x->has_tokenizer && tok->kind == TOKENIZER_BPE && !same_ids(&x->tok, tok))
        return errf(err, errn, "%s: the special-token ids of its \"tokenizer\" are not those of its tokenizer.json",
                    path);
    *ck_vocab = mc->vocab_size;
    int base = tok->kind == TOKENIZER_BYTE ? 256 : tok->vocab_size - tok->n_appended;
    if (mc->vocab_size < base)
        return errf(err, errn, "%s: vocab_size %d cannot hold the %s tokenizer's %d ids", path, mc->vocab_size, kind,
                    base);
    if (mc->vocab_size < tok->vocab_size) {
        if (note) snprintf(note, notn, "%s: vocab_size %d: appended %d special tokens (rows %d..%d = mean of the "
                           "existing rows)", path, mc->vocab_size, tok->vocab_size - mc->vocab_size, mc->vocab_size,
                           tok->vocab_size - 1);
        mc->vocab_size = tok->vocab_size;
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

/* The tokenizer of the resolved checkpoint d: tokenizer.json of the adapter
 * directory, else of the model directory, else the byte tokenizer. */
static int dirs_tokenizer(const CkDirs *d, Tokenizer *tok, char *note, size_t notn, char *err, size_t errn) {
    char path[4096];
    *tok = tokenizer_byte();
    if (note && notn) note[0] = 0;
    if (d->is_adapter) {
        snprintf(path, sizeof path, "%s/tokenizer.json", d->adapter_dir);
        if (exists(path)) return tokenizer_load(path, tok, note, notn, err, errn);
    }
    snprintf(path, sizeof path, "%s/tokenizer.json", d->model_dir);
    return exists(path) ? tokenizer_load(path, tok, note, notn, err, errn) : 0;
}

int checkpoint_tokenizer(const char *dir, Tokenizer *tok, char *note, size_t notn, char *err, size_t errn) {
    CkDirs d;
    *tok = tokenizer_byte();
    return resolve_dirs(dir, &d, err, errn) || dirs_tokenizer(&d, tok, note, notn, err, errn) ? -1 : 0;
}

int checkpoint_load_tok(Model *m, Backend *be, const char *dir, Config *run, int *has_run, Tokenizer *tok, char *err,
                        size_t errn) {
    CkDirs d;
    ModelConfig mc;
    HfExtras x;
    Tokenizer own;
    int ck_vocab;
    memset(&x, 0, sizeof x);
    Config tmp;
    if (!run) run = &tmp;
    if (tok) *tok = tokenizer_byte();
    if (resolve_dirs(dir, &d, err, errn) || dirs_tokenizer(&d, &own, NULL, 0, err, errn)) return -1;
    if (!tok && own.kind != TOKENIZER_BYTE) {
        tokenizer_free(&own);
        return errf(err, errn, "%s: the checkpoint has a BPE tokenizer (tokenizer.json), which this command does not "
                    "read: it reads byte-tokenizer checkpoints only", dir);
    }
    int rc = read_model_config(d.model_dir, &own, &mc, &x, &ck_vocab, NULL, 0, err, errn) ||
             apply_run(&x, d.model_dir, run, has_run, err, errn);
    mc.jepa_predictor = !rc && x.has_run && !strcmp(run->loss, "jepa") && !strcmp(run->predictor, "linear");
    rc = rc || model_init(m, &mc, NULL, be, err, errn);
    hf_extras_free(&x);
    if (!rc && load_weights(m, &d, ck_vocab, err, errn)) {
        model_free(m);
        rc = -1;
    }
    if (rc || !tok) tokenizer_free(&own);
    else *tok = own;
    return rc ? -1 : 0;
}

int checkpoint_load(Model *m, Backend *be, const char *dir, Config *run, int *has_run, char *err, size_t errn) {
    return checkpoint_load_tok(m, be, dir, run, has_run, NULL, err, errn);
}

int run_tokenizer(const Config *c, Tokenizer *tok, char *note, size_t notn, char *err, size_t errn) {
    int merges;
    *tok = tokenizer_byte();
    if (note && notn) note[0] = 0;
    int spec = tokenizer_spec(c->tokenizer, &merges, err, errn);
    if (spec < 0) return -1;
    if (c->init[0] && spec != TOKSPEC_BYTE)
        return errf(err, errn, "tokenizer=%s cannot be combined with init=%s: the model keeps the tokenizer of its "
                    "checkpoint (its tokenizer.json, else the byte tokenizer)", c->tokenizer, c->init);
    if (c->init[0]) return checkpoint_tokenizer(c->init, tok, note, notn, err, errn);
    if (spec == TOKSPEC_TRAIN)
        return errf(err, errn, "tokenizer=%s is trained on the run's train split by the training run", c->tokenizer);
    return spec == TOKSPEC_FILE ? tokenizer_load(c->tokenizer, tok, note, notn, err, errn) : 0;
}

int model_build(const Config *c, Backend *be, Model *m, char *note, size_t notn, char *err, size_t errn) {
    Tokenizer tok;
    if (run_tokenizer(c, &tok, NULL, 0, err, errn)) return -1;
    if (tok.kind != TOKENIZER_BYTE) {
        tokenizer_free(&tok);
        return errf(err, errn, "tokenizer: the run's model has a BPE tokenizer, which this command does not read: it "
                    "builds byte-tokenizer models only");
    }
    return model_build_tok(c, &tok, be, m, note, notn, err, errn);
}

int model_build_tok(const Config *c, const Tokenizer *tok, Backend *be, Model *m, char *note, size_t notn, char *err,
                    size_t errn) {
    LoraConfig lc = lora_config(c);
    ModelConfig mc;
    if (note && notn) note[0] = 0;
    int pred = !strcmp(c->loss, "jepa") && !strcmp(c->predictor, "linear");
    if (!c->init[0]) {
        if (model_config_resolve(c, NULL, tok->vocab_size, &mc, err, errn)) return -1;
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
                 read_model_config(d.model_dir, tok, &ck, &x, &ck_vocab, note, notn, err, errn) ||
                 model_config_resolve(c, &ck, 0, &mc, err, errn);
        mc.jepa_predictor = pred;
        rc = rc || model_init(m, &mc, &lc, be, err, errn);
        hf_extras_free(&x);
        if (rc) return -1;
        if (load_weights(m, &d, ck_vocab, err, errn)) { model_free(m); return -1; }
    }
    Rng r_lora = rng_stream(c->seed, "lora_init");
    model_init_lora(m, &r_lora);
    m->dtype = strcmp(c->dtype, "bf16") ? DTYPE_FP32 : DTYPE_BF16;
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
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (tok && tok->kind == TOKENIZER_BPE && tokenizer_save(tok, path, err, errn)) return -1;
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
