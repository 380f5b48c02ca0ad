/* Training-step throughput and the share of time per op.
 *
 *   build/bench_step [key=value...]      (the run config keys; defaults: model=nano,
 *                                          system_prompt=omit, threads=1, k=1)
 *
 * Times 8 NTP, 8 JEPA and 8 STP steps (forward + backward, no update) on the
 * first batches of the train split, through the profiling backend, and prints
 * the JEPA / NTP and STP / NTP step-time ratios (STP's goal: <= 1.1, docs/STP.md). Shape
 * keys, lora_rank (with its dropout) and device (cpu, ref, cuda) apply. On
 * an asynchronous device (cuda) the step times wait for the device's queue;
 * the per-op table then shows host-side time, each op charged with the queued
 * work it waited for (backend_prof.h).
 *
 * Keys of the benchmark itself (not run config keys):
 *   only=ntp|jepa|stp   time one kind of step (default: NTP, JEPA, then STP). stp is
 *                       Semantic Tube Prediction on the NTP rows (ALGORITHM.md §9,
 *                       lambda 0.02 unless lambda= is given; stp_weight, stp_span apply)
 *   steps=S warmup=W    timed steps (default 8) after W warm-up steps (default 1) on
 *                       batch 0; timed step s uses batch s
 *   update=0|1          1: each step also clips the gradient (grad_clip) and takes an
 *                       AdamW update at the constant rate lr (engine/optim.h); default 0
 *   profile=0|1         0: no per-op table (the backend unwrapped); default 1
 *   weights_out=DIR     write the initial weights there (checkpoint_save: model.safetensors,
 *                       config.json)
 *   dump=FILE           with only=: write, as JSON, the model shape, the loss and optimizer
 *                       settings, the S batches (per token id, position, segment, NTP target;
 *                       row offsets, segment visibility, the JEPA readouts), per executed step
 *                       (warm-up first) its batch and, under stp, its span plan (stp.h StpPlan),
 *                       and the losses of every executed step; bench/torch_cpu.py replays it.
 * Each kind of step starts from the same initial weights (and fresh AdamW moments). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "backend_prof.h"
#include "batch.h"
#include "checkpoint.h"
#include "config.h"
#include "gemm_bf16.h"
#include "data.h"
#include "loss.h"
#include "model.h"
#include "model_config.h"
#include "optim.h"
#include "stp.h"
#include "train.h"

enum { K_NTP, K_JEPA, K_STP, K_COUNT };
static const char *KIND_NAME[K_COUNT] = {"NTP", "JEPA", "STP"};

typedef struct Bench {
    int steps, warmup, update, profile, lambda_set;
    int only;              /* K_* or -1: NTP, JEPA, then STP */
    const char *dump, *weights_out;
} Bench;

/* A bench key into *bn: 1 when key is one, 0 when it is not, -1 on a bad value. */
static int bench_key(Bench *bn, const char *key, const char *v) {
    int *ints[] = {&bn->steps, &bn->warmup, &bn->update, &bn->profile};
    const char *names[] = {"steps", "warmup", "update", "profile"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(key, names[i])) continue;
        char *end;
        long x = strtol(v, &end, 10);
        if (*end || end == v || x < (i == 0) || x > (i < 2 ? 100000 : 1)) return -1;
        return *ints[i] = (int)x, 1;
    }
    if (!strcmp(key, "dump")) return bn->dump = v, 1;
    if (!strcmp(key, "weights_out")) return bn->weights_out = v, 1;
    if (strcmp(key, "only")) return 0;
    for (int k = 0; k < K_COUNT; k++)
        if (!strcmp(v, k == K_NTP ? "ntp" : k == K_JEPA ? "jepa" : "stp")) return bn->only = k, 1;
    return -1;
}

static int parse_args(int argc, char **argv, Config *c, Bench *bn) {
    char err[512];
    config_defaults(c);
    const char *defaults[][2] = {{"model", "nano"}, {"system_prompt", "omit"}, {"threads", "1"}};
    for (int i = 0; i < 3; i++) config_set(c, defaults[i][0], defaults[i][1], err, sizeof err);
    *bn = (Bench){8, 1, 0, 1, 0, -1, NULL, NULL};
    for (int i = 1; i < argc; i++) {
        char key[128];
        const char *eq = strchr(argv[i], '=');
        if (!eq) { fprintf(stderr, "bench_step: expected key=value, got '%s'\n", argv[i]); return -1; }
        snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i]), argv[i]);
        int rc = bench_key(bn, key, eq + 1);
        if (rc < 0) { fprintf(stderr, "bench_step: bad value in '%s'\n", argv[i]); return -1; }
        if (rc) continue;
        if (config_set(c, key, eq + 1, err, sizeof err)) { fprintf(stderr, "bench_step: %s\n", err); return -1; }
        bn->lambda_set |= !strcmp(key, "lambda");
    }
    if (bn->dump && bn->only < 0) { fprintf(stderr, "bench_step: dump= needs only=ntp|jepa|stp\n"); return -1; }
    return 0;
}

/* Waits until the device has run every queued op (a download synchronises; backend.h). */
static void device_wait(Model *m) {
    float g;
    m->be->download(m->be, &g, m->grads, sizeof g);
}

/* The loss options of a step of the given kind: the run's, with the JEPA metric
 * (lambda from the config) or the STP term (lambda 0.02 unless set) switched on. */
static LossOpts kind_loss_opts(const Config *c, const Bench *bn, int kind, Rng *stp_rng) {
    LossOpts lo = loss_opts(c);
    lo.stp = 0, lo.metric = NULL;
    if (kind == K_JEPA) lo.metric = jepa_metric(c->jepa_metric), lo.lambda = c->lambda;
    if (kind == K_STP) {
        lo.stp = 1, lo.stp_weight = stp_weight_mode(c->stp_weight), lo.stp_e2e = !strcmp(c->stp_span, "e2e");
        lo.lambda = bn->lambda_set ? c->lambda : 0.02, lo.stp_rng = stp_rng;
    }
    if (kind == K_NTP) lo.lambda = 0;
    return lo;
}

/* Batch of step s (s < 0: warm-up, batch 0). */
static int step_batch(Batch *b, const Dataset *d, const Config *c, const ViewOpts *vo, int s, int kind, int *idx) {
    int lo_i = (s < 0 ? 0 : s) * c->batch_size;
    for (int i = 0; i < c->batch_size; i++) idx[i] = (lo_i + i) % d->n;
    return batch_build(b, d->ex, idx, c->batch_size, vo, kind == K_JEPA);
}

/* ---- dump (bench/torch_cpu.py replays it) ------------------------------------------------- */

static void add_ints(cJSON *o, const char *name, const int *v, int n) {
    cJSON_AddItemToObject(o, name, n > 0 ? cJSON_CreateIntArray(v, n) : cJSON_CreateArray());
}

static cJSON *batch_json(const Batch *b) {
    cJSON *o = cJSON_CreateObject();
    add_ints(o, "ids", b->ids, b->n), add_ints(o, "pos", b->pos, b->n);
    add_ints(o, "seg", b->seg, b->n), add_ints(o, "tgt", b->tgt, b->n);
    add_ints(o, "row_start", b->row_start, b->nrows + 1);
    int vis[SEG_COUNT * SEG_COUNT];
    for (int i = 0; i < b->nseg * b->nseg; i++) vis[i] = b->vis[i];
    cJSON_AddNumberToObject(o, "nseg", b->nseg);
    add_ints(o, "vis", vis, b->nseg * b->nseg);
    add_ints(o, "enc_text", b->jepa ? b->enc_text : NULL, b->jepa ? b->nex : 0);
    add_ints(o, "enc_code", b->jepa ? b->enc_code : NULL, b->jepa ? b->nex : 0);
    return o;
}

static cJSON *plan_json(const StpPlan *p) {
    cJSON *o = cJSON_CreateObject();
    int nz = p->m ? p->ptr[2 * p->m] : 0;
    add_ints(o, "ptr", p->ptr, p->m ? 2 * p->m + 1 : 0);
    add_ints(o, "idx", p->idx, nz);
    cJSON_AddItemToObject(o, "w", nz ? cJSON_CreateFloatArray(p->w, nz) : cJSON_CreateArray());
    cJSON_AddItemToObject(o, "wt", p->m ? cJSON_CreateDoubleArray(p->wt, p->m) : cJSON_CreateArray());
    return o;
}

static cJSON *settings_json(const Config *c, const ModelConfig *mc, const Bench *bn, const LossOpts *lo, int kind) {
    cJSON *o = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(o, "model"), *op;
    cJSON_AddStringToObject(o, "format", "bench_step dump 1");
    cJSON_AddStringToObject(o, "kind", kind == K_NTP ? "ntp" : kind == K_JEPA ? "jepa" : "stp");
    cJSON_AddStringToObject(o, "jepa_pass", c->jepa_pass);
    cJSON_AddStringToObject(o, "preset", c->model);
    int shape[] = {mc->dim, mc->n_layers, mc->n_heads, mc->n_kv_heads, mc->ffn_dim, mc->vocab_size};
    const char *sn[] = {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                        "intermediate_size", "vocab_size"};
    for (int i = 0; i < 6; i++) cJSON_AddNumberToObject(md, sn[i], shape[i]);
    cJSON_AddNumberToObject(md, "rms_norm_eps", mc->rms_eps);
    cJSON_AddNumberToObject(md, "rope_theta", mc->rope_theta);
    cJSON_AddBoolToObject(md, "tie_word_embeddings", mc->tie_embeddings);
    cJSON_AddBoolToObject(md, "rope_scaling", mc->rope_scaling != 0);
    cJSON *ls = cJSON_AddObjectToObject(o, "loss");
    cJSON_AddNumberToObject(ls, "gamma", lo->gamma), cJSON_AddNumberToObject(ls, "lambda", lo->lambda);
    cJSON_AddStringToObject(ls, "metric", kind == K_JEPA ? c->jepa_metric : "none");
    cJSON_AddStringToObject(ls, "pooling", c->pooling), cJSON_AddStringToObject(ls, "predictor", c->predictor);
    cJSON_AddStringToObject(ls, "direction", c->direction);
    cJSON_AddBoolToObject(ls, "stp_e2e", lo->stp_e2e), cJSON_AddNumberToObject(ls, "lora_rank", c->lora_rank);
    op = cJSON_AddObjectToObject(o, "optim");
    double ov[] = {bn->update, c->lr, c->adam_beta1, c->adam_beta2, c->adam_eps, c->weight_decay, c->grad_clip};
    const char *on[] = {"update", "lr", "beta1", "beta2", "eps", "weight_decay", "grad_clip"};
    for (int i = 0; i < 7; i++) cJSON_AddNumberToObject(op, on[i], ov[i]);
    cJSON_AddNumberToObject(o, "warmup", bn->warmup), cJSON_AddNumberToObject(o, "steps", bn->steps);
    return o;
}

/* The dump's batches and schedule, built before the timed steps (the STP spans drawn
 * from a copy of the run's stream, so they are the ones the steps draw). NULL: out of memory. */
static cJSON *dump_begin(const Config *c, const ModelConfig *mc, const Bench *bn, const LossOpts *lo, int kind,
                         const Dataset *d, const ViewOpts *vo, Rng stp_rng) {
    cJSON *o = settings_json(c, mc, bn, lo, kind), *bs = cJSON_AddArrayToObject(o, "batches"),
          *sc = cJSON_AddArrayToObject(o, "schedule");
    Batch b = {0};
    StpPlan p = {0};
    int *idx = malloc((size_t)c->batch_size * sizeof(int)), fail = !idx;
    for (int s = 0; s < bn->steps && !fail; s++) {
        fail = step_batch(&b, d, c, vo, s, kind, idx);
        if (!fail) cJSON_AddItemToArray(bs, batch_json(&b));
    }
    for (int s = -bn->warmup; s < bn->steps && !fail; s++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "batch", s < 0 ? 0 : s);
        cJSON_AddItemToArray(sc, e);
        if (kind != K_STP) continue;
        fail = step_batch(&b, d, c, vo, s, kind, idx) ||
               stp_plan(&p, &b, lo->stp_weight, lo->stp_e2e, &stp_rng);
        if (!fail) cJSON_AddItemToObject(e, "stp", plan_json(&p));
    }
    free(idx), batch_free(&b), stp_plan_free(&p);
    if (fail) cJSON_Delete(o);
    return fail ? NULL : o;
}

static int dump_write(cJSON *o, const char *path) {
    char *s = cJSON_PrintUnformatted(o);
    FILE *f = s ? fopen(path, "w") : NULL;
    int ok = f && fputs(s, f) >= 0;
    if (f && fclose(f)) ok = 0;
    free(s);
    if (!ok) fprintf(stderr, "bench_step: cannot write %s\n", path);
    return ok ? 0 : -1;
}

/* ---- the timed steps ---------------------------------------------------------------------- */

typedef struct Ctx {
    const Config *c;
    const Bench *bn;
    const Dataset *d;
    const ModelConfig *mc;
    Model m;
    ViewOpts vo;
} Ctx;

/* The model's initial weights (the same for every kind of step). */
static void init_weights(Ctx *x) {
    Rng r = rng_stream(x->c->seed, "init"), rl = rng_stream(x->c->seed, "lora_init");
    model_init_weights(&x->m, &r, (float)x->c->init_std);
    model_init_lora(&x->m, &rl);
    model_set_training(&x->m, 1, 1); /* LoRA dropout masks are part of a training step */
    x->m.dtype = strcmp(x->c->dtype, "bf16") ? DTYPE_FP32 : DTYPE_BF16;
}

/* warmup + steps steps of one kind; prints the figures; with the dump, records its losses. 0 or -1. */
static int run_kind(Ctx *x, int kind, double *ms) {
    const Config *c = x->c;
    const Bench *bn = x->bn;
    Model *m = &x->m;
    Rng stp_rng = rng_stream(c->seed, "stp");
    LossOpts lo = kind_loss_opts(c, bn, kind, &stp_rng);
    cJSON *dump = bn->dump ? dump_begin(c, x->mc, bn, &lo, kind, x->d, &x->vo, stp_rng) : NULL;
    cJSON *losses = dump ? cJSON_AddArrayToObject(dump, "losses") : NULL;
    if (bn->dump && !dump) return fprintf(stderr, "bench_step: out of memory (dump)\n"), -1;
    init_weights(x);
    AdamW opt = {0};
    if (bn->update && adamw_init(&opt, m->be, m->ntrainable, c->adam_beta1, c->adam_beta2, c->adam_eps,
                                 c->weight_decay))
        return fprintf(stderr, "bench_step: out of memory (AdamW)\n"), -1;
    Batch b = {0};
    LossWork w = {0};
    int *idx = malloc((size_t)c->batch_size * sizeof(int)), rc = idx ? 0 : -1;
    double tokens = 0, t0 = 0;
    if (bn->profile) backend_prof_reset();
    for (int s = -bn->warmup; s < bn->steps && !rc; s++) {
        if (step_batch(&b, x->d, c, &x->vo, s, kind, idx)) { rc = -1; break; }
        if (s == 0) { device_wait(m); if (bn->profile) backend_prof_reset(); t0 = now_seconds(); }
        LossOut out;
        model_zero_grads(m);
        if (loss_step(m, &b, &lo, &w, &out, 1)) { rc = -1; break; }
        if (bn->update) {
            clip_grad_norm(m->be, m->grads, m->ntrainable, c->grad_clip);
            adamw_step(&opt, model_trainable(m), m->grads, c->lr);
        }
        if (s >= 0) tokens += b.n;
        if (!losses) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "ntp", out.ntp), cJSON_AddNumberToObject(e, "jepa", out.jepa);
        cJSON_AddNumberToObject(e, "total", out.total), cJSON_AddNumberToObject(e, "tokens", b.n);
        cJSON_AddItemToArray(losses, e);
    }
    device_wait(m);
    double sec = now_seconds() - t0;
    if (rc) fprintf(stderr, "bench_step: out of memory\n");
    if (!rc) {
        *ms = sec / bn->steps * 1e3;
        printf("## %s step%s: %.1f ms, %.0f tokens/s (%.0f tokens per step)\n\n", KIND_NAME[kind],
               bn->update ? " with AdamW update" : "", *ms, tokens / sec, tokens / bn->steps);
        if (bn->profile) {
            backend_prof_print(stdout);
            printf("| (outside ops: loss, batch glue) | | %.3f | |\n\n", sec - backend_prof_total());
        }
        if (dump) cJSON_AddNumberToObject(dump, "tokens_per_s", tokens / sec);
        if (dump) rc = dump_write(dump, bn->dump);
    }
    cJSON_Delete(dump);
    free(idx), batch_free(&b), loss_work_free(&w), adamw_free(&opt);
    return rc;
}

int main(int argc, char **argv) {
    if (!getenv("OMP_WAIT_POLICY")) { /* as harness/main.c: passive OpenMP threads leave the cores to OpenBLAS */
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
    }
    Config c;
    Bench bn;
    char err[512], path[1024];
    if (parse_args(argc, argv, &c, &bn)) return 2;
    Backend *be = backend_by_name(c.device);
    if (!be) { fprintf(stderr, "bench_step: device '%s': %s\n", c.device, backend_unavailable(c.device)); return 2; }
    be->set_threads(be, c.threads);
    dataset_path(c.dataset, "train", path, sizeof path);
    Dataset d;
    if (dataset_load(path, c.batch_size * bn.steps, &d, err, sizeof err)) {
        fprintf(stderr, "bench_step: %s\n", err);
        return 1;
    }
    ModelConfig mc;
    LoraConfig lc = lora_config(&c);
    Ctx x = {.c = &c, .bn = &bn, .d = &d, .mc = &mc, .vo = view_opts(&c)};
    if (model_config_resolve(&c, NULL, TOK_VOCAB, &mc, err, sizeof err) ||
        model_init(&x.m, &mc, &lc, bn.profile ? backend_profiled(be) : be, err, sizeof err)) {
        fprintf(stderr, "bench_step: %s\n", err);
        return 1;
    }
    init_weights(&x);
    if (bn.weights_out && checkpoint_save(&x.m, NULL, &c, bn.weights_out, err, sizeof err)) {
        fprintf(stderr, "bench_step: %s\n", err);
        return 1;
    }
    char dtype[sizeof c.dtype + 16];
    snprintf(dtype, sizeof dtype, "%s%s%s", c.dtype, x.m.dtype == DTYPE_BF16 && !strcmp(c.device, "cpu") ? " on " : "",
             x.m.dtype == DTYPE_BF16 && !strcmp(c.device, "cpu") ? gemm_bf16_path_name(gemm_bf16_path()) : "");
    printf("model %s (%zu parameters), batch %d, k %d, jepa_pass %s, system_prompt %s, device %s, dtype %s, "
           "threads %d\n\n",
           c.model, x.m.nparams, c.batch_size, c.k, c.jepa_pass, c.system_prompt, c.device, dtype, c.threads);
    double ms[K_COUNT] = {0};
    int rc = 0;
    for (int kind = 0; kind < K_COUNT && !rc; kind++)
        if (bn.only == kind || bn.only < 0) rc = run_kind(&x, kind, &ms[kind]);
    if (!rc && bn.only < 0)
        printf("JEPA / NTP step time: %.2f\nSTP / NTP step time: %.2f\n", ms[K_JEPA] / ms[K_NTP], ms[K_STP] / ms[K_NTP]);
    model_free(&x.m);
    dataset_free(&d);
    return rc ? 1 : 0;
}
