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

int cmd_loss(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: harness loss CHECKPOINT_DIR JSONL N [key=value...]\n"
               "  Loads CHECKPOINT_DIR (model.safetensors + config.json) and prints as JSON the token-mean\n"
               "  NTP loss and the mean JEPA distance over the first N examples (N = 0: all). The loss\n"
               "  options (loss, k, jepa_metric, jepa_pass, system_prompt, ntp_targets, lambda, gamma)\n"
               "  are the run's, from config.json, overridden by key=value. \"collapse\" holds the collapse diagnostics\n"
               "  of those examples, named as curve.csv's columns: mean pairwise cosine and effective rank of\n"
               "  Enc(Text), Enc(Code) and (loss=jepa) Pred(Enc(Text)), matched-minus-mismatched cosine,\n"
               "  Text->Code retrieval top-1/top-5 with their chance levels, and the cosine of the mean Pred\n"
               "  vector with the <eos>-predicting state (README \"Collapse diagnostics\"; null when not computed).\n");
        return 0;
    }
    if (argc < 3) { fprintf(stderr, "usage: harness loss CHECKPOINT_DIR JSONL N [key=value...]\n"); return 2; }
    char *end;
    long n = strtol(argv[2], &end, 10);
    if (*end || n < 0) { fprintf(stderr, "harness loss: N must be a non-negative integer, got '%s'\n", argv[2]); return 2; }
    char err[1024];
    Model m;
    Config c;
    Tokenizer tok;
    int has_run = 0;
    if (checkpoint_load_tok(&m, backend_cpu(), argv[0], &c, &has_run, &tok, err, sizeof err)) {
        fprintf(stderr, "harness loss: %s\n", err);
        return 1;
    }
    if (!has_run) config_defaults(&c);
    for (int i = 3; i < argc; i++)
        if (config_set_kv(&c, argv[i], err, sizeof err)) {
            fprintf(stderr, "harness loss: %s\n", err);
            model_free(&m);
            tokenizer_free(&tok);
            return 2;
        }
    m.be->set_threads(m.be, c.threads);
    Dataset d;
    if (dataset_load(argv[1], (int)n, &d, err, sizeof err)) {
        fprintf(stderr, "harness loss: %s\n", err);
        model_free(&m);
        tokenizer_free(&tok);
        return 1;
    }
    int jepa = !strcmp(c.loss, "jepa");
    LossOpts lo = loss_opts(&c);
    ViewOpts vo = view_opts(&c);
    TokenCache ids;
    vo.tok = &tok; /* the checkpoint's tokenizer, whatever the config's tokenizer key says */
    if (token_cache_build(&ids, &d, &tok, err, sizeof err) ||
        dataset_check_positions(&d, &vo, 0, m.cfg.max_pos, err, sizeof err)) {
        fprintf(stderr, "harness loss: %s\n", err);
        token_cache_free(&ids);
        dataset_free(&d);
        model_free(&m);
        tokenizer_free(&tok);
        return 1;
    }
    vo.cache = &ids;
    Batch b = {0};
    LossWork w = {0};
    double ntp_sum = 0, jepa_sum = 0;
    long targets = 0;
    int rc = 0;
    for (int s = 0; s < d.n; s += LOSS_CHUNK) {
        int mcount = d.n - s < LOSS_CHUNK ? d.n - s : LOSS_CHUNK;
        int idx[LOSS_CHUNK];
        for (int i = 0; i < mcount; i++) idx[i] = s + i;
        LossOut out;
        if (batch_build(&b, d.ex, idx, mcount, &vo, jepa) || loss_step(&m, &b, &lo, &w, &out, 0)) {
            fprintf(stderr, "harness loss: out of memory\n");
            rc = 1;
            break;
        }
        ntp_sum += out.ntp * out.ntargets;
        targets += out.ntargets;
        jepa_sum += out.jepa * mcount;
    }
    EncodeOpts eo = encode_opts(&c);
    eo.vo.tok = &tok;
    eo.vo.cache = &ids;
    Collapse cl;
    if (rc == 0 && diag_collapse(&m, d.ex, d.n, &eo, jepa, &cl, err, sizeof err)) {
        fprintf(stderr, "harness loss: %s\n", err);
        rc = 1;
    }
    if (rc == 0) {
        double ntp = targets ? ntp_sum / targets : 0.0, jd = jepa ? jepa_sum / d.n : 0.0;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "checkpoint", argv[0]);
        cJSON_AddStringToObject(o, "data", argv[1]);
        cJSON_AddNumberToObject(o, "n", d.n);
        cJSON_AddNumberToObject(o, "ntp_tokens", (double)targets);
        cJSON_AddNumberToObject(o, "ntp_loss", ntp);
        if (jepa) cJSON_AddNumberToObject(o, "jepa_dist", jd);
        else cJSON_AddNullToObject(o, "jepa_dist");
        cJSON_AddNumberToObject(o, "total", c.gamma * ntp + (jepa ? c.lambda * jd : 0.0));
        const char *keys[] = {"loss", "lambda", "gamma", "k", "jepa_metric", "jepa_pass", "system_prompt", "ntp_targets"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            char v[128];
            config_get(&c, config_key(keys[i]), v, sizeof v);
            cJSON_AddStringToObject(o, keys[i], v);
        }
        add_collapse(o, &cl);
        char *js = cJSON_Print(o);
        printf("%s\n", js);
        free(js);
        cJSON_Delete(o);
    }
    batch_free(&b);
    loss_work_free(&w);
    token_cache_free(&ids);
    dataset_free(&d);
    model_free(&m);
    tokenizer_free(&tok);
    return rc;
}
