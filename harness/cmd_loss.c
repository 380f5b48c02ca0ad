/* harness loss: mean NTP loss and JEPA distance of the first N examples of a
 * jsonl file under a checkpoint, as JSON (for inspecting a model and for
 * checking the engine against an independent implementation), and the
 * collapse diagnostics of their embeddings (engine/encode.h, diagnostics.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "checkpoint.h"
#include "commands.h"
#include "config.h"
#include "data.h"
#include "diagnostics.h"
#include "encode.h"
#include "loss.h"
#include "model.h"

#define LOSS_CHUNK 64

/* o.collapse = {enc_text_cos, enc_code_cos, pred_text_cos, enc_text_erank, ...}
 * (DIAG_CSV_HEADER's names); null where not computed or not finite. */
static void add_collapse(cJSON *o, const Collapse *cl) {
    cJSON *c = cJSON_AddObjectToObject(o, "collapse");
    double v[DIAG_CSV_FIELDS];
    int has[DIAG_CSV_FIELDS];
    diag_collapse_values(cl, v, has);
    for (int i = 0; i < DIAG_CSV_FIELDS; i++) {
        if (has[i]) cJSON_AddNumberToObject(c, diag_csv_names[i], v[i]);
        else cJSON_AddNullToObject(c, diag_csv_names[i]);
    }
}

static void print_help(void) {
    printf("usage: harness loss CHECKPOINT_DIR JSONL N [key=value...]\n"
           "  Loads CHECKPOINT_DIR (model.safetensors + config.json) and prints as JSON the token-mean\n"
           "  NTP loss and the mean JEPA distance over the first N examples (N = 0: all). The loss\n"
           "  options (loss, k, jepa_metric, jepa_pass, system_prompt, ntp_targets, lambda, gamma)\n"
           "  are the run's, from config.json, overridden by key=value. \"collapse\" holds the collapse diagnostics\n"
           "  of those examples, named as curve.csv's columns: mean pairwise cosine and effective rank of\n"
           "  Enc(Text), Enc(Code) and (loss=jepa) Pred(Enc(Text)), matched-minus-mismatched cosine,\n"
           "  Text->Code retrieval top-1/top-5 with their chance levels, and the cosine of the mean Pred\n"
           "  vector with the <eos>-predicting state (README \"Collapse diagnostics\"; null when not computed).\n");
}

/* What the command works on: the checkpoint's model, run config and
 * tokenizer, the examples and their token cache; have_* say what to free. */
typedef struct LossInputs {
    Model m;
    Config c;
    Tokenizer tok;
    Dataset d;
    TokenCache ids;
    ViewOpts vo; /* the run's views, with the checkpoint's tokenizer and the token cache */
    int have_model, have_data, have_ids;
} LossInputs;

static void inputs_free(LossInputs *in) {
    if (in->have_ids) token_cache_free(&in->ids);
    if (in->have_data) dataset_free(&in->d);
    if (in->have_model) model_free(&in->m), tokenizer_free(&in->tok);
}

/* err on stderr; returns status. */
static int fail(int status, const char *err) {
    fprintf(stderr, "harness loss: %s\n", err);
    return status;
}

/* The checkpoint argv[0] with the key=value overrides argv[3..], the first n
 * examples of argv[1] (0: all), tokenized and checked against the model's
 * positions. 0, or the exit status (1: cannot load, 2: bad key=value). */
static int load_inputs(int argc, char **argv, long n, LossInputs *in) {
    char err[1024];
    int has_run = 0;
    if (checkpoint_load_tok(&in->m, backend_cpu(), argv[0], &in->c, &has_run, &in->tok, err, sizeof err))
        return fail(1, err);
    in->have_model = 1;
    if (!has_run) config_defaults(&in->c);
    for (int i = 3; i < argc; i++)
        if (config_set_kv(&in->c, argv[i], err, sizeof err)) return fail(2, err);
    in->m.be->set_threads(in->m.be, in->c.threads);
    if (dataset_load(argv[1], (int)n, &in->d, err, sizeof err)) return fail(1, err);
    in->have_data = 1;
    in->vo = view_opts(&in->c);
    in->vo.tok = &in->tok; /* the checkpoint's tokenizer, whatever the config's tokenizer key says */
    in->have_ids = 1;      /* token_cache_free is safe after a failed build */
    if (token_cache_build(&in->ids, &in->d, &in->tok, err, sizeof err) ||
        dataset_check_positions(&in->d, &in->vo, 0, in->m.cfg.max_pos, err, sizeof err))
        return fail(1, err);
    in->vo.cache = &in->ids;
    return 0;
}

/* Token-mean NTP loss (*ntp over *targets target tokens) and mean JEPA
 * distance (*jd; 0 unless jepa) of every example, LOSS_CHUNK at a time.
 * 0 or -1 (out of memory). */
static int mean_losses(LossInputs *in, int jepa, double *ntp, double *jd, long *targets) {
    LossOpts lo = loss_opts(&in->c);
    Batch b = {0};
    LossWork w = {0};
    double ntp_sum = 0, jepa_sum = 0;
    int rc = 0;
    *targets = 0;
    for (int s = 0; s < in->d.n && !rc; s += LOSS_CHUNK) {
        int mcount = in->d.n - s < LOSS_CHUNK ? in->d.n - s : LOSS_CHUNK, idx[LOSS_CHUNK];
        for (int i = 0; i < mcount; i++) idx[i] = s + i;
        LossOut out;
        if (batch_build(&b, in->d.ex, idx, mcount, &in->vo, jepa) || loss_step(&in->m, &b, &lo, &w, &out, 0)) {
            rc = -1;
            break;
        }
        ntp_sum += out.ntp * out.ntargets;
        *targets += out.ntargets;
        jepa_sum += out.jepa * mcount;
    }
    *ntp = *targets ? ntp_sum / *targets : 0.0;
    *jd = jepa && in->d.n ? jepa_sum / in->d.n : 0.0;
    batch_free(&b);
    loss_work_free(&w);
    return rc;
}

/* The JSON object on stdout. */
static void print_json(char **argv, const LossInputs *in, int jepa, double ntp, double jd, long targets,
                       const Collapse *cl) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "checkpoint", argv[0]);
    cJSON_AddStringToObject(o, "data", argv[1]);
    cJSON_AddNumberToObject(o, "n", in->d.n);
    cJSON_AddNumberToObject(o, "ntp_tokens", (double)targets);
    cJSON_AddNumberToObject(o, "ntp_loss", ntp);
    if (jepa) cJSON_AddNumberToObject(o, "jepa_dist", jd);
    else cJSON_AddNullToObject(o, "jepa_dist");
    cJSON_AddNumberToObject(o, "total", in->c.gamma * ntp + (jepa ? in->c.lambda * jd : 0.0));
    const char *keys[] = {"loss", "lambda", "gamma", "k", "jepa_metric", "jepa_pass", "system_prompt", "ntp_targets"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char v[128];
        config_get(&in->c, config_key(keys[i]), v, sizeof v);
        cJSON_AddStringToObject(o, keys[i], v);
    }
    add_collapse(o, cl);
    char *js = cJSON_Print(o);
    printf("%s\n", js);
    free(js);
    cJSON_Delete(o);
}

/* Losses, diagnostics and the JSON of loaded inputs: the exit status. */
static int report(char **argv, LossInputs *in) {
    int jepa = !strcmp(in->c.loss, "jepa");
    double ntp, jd;
    long targets;
    if (mean_losses(in, jepa, &ntp, &jd, &targets)) return fail(1, "out of memory");
    EncodeOpts eo = encode_opts(&in->c);
    eo.vo.tok = &in->tok;
    eo.vo.cache = &in->ids;
    Collapse cl;
    char err[1024];
    if (diag_collapse(&in->m, in->d.ex, in->d.n, &eo, jepa, &cl, err, sizeof err)) return fail(1, err);
    print_json(argv, in, jepa, ntp, jd, targets, &cl);
    return 0;
}

int cmd_loss(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        print_help();
        return 0;
    }
    if (argc < 3) { fprintf(stderr, "usage: harness loss CHECKPOINT_DIR JSONL N [key=value...]\n"); return 2; }
    char *end;
    long n = strtol(argv[2], &end, 10);
    if (*end || n < 0) { fprintf(stderr, "harness loss: N must be a non-negative integer, got '%s'\n", argv[2]); return 2; }
    LossInputs in = {0};
    int rc = load_inputs(argc, argv, n, &in);
    if (!rc) rc = report(argv, &in);
    inputs_free(&in);
    return rc;
}
