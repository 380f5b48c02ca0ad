/* Probing from the harness: load the model and its tokenizer, the examples,
 * run probe_model; record a probe in runs.csv (probe_run.h). */
#define _GNU_SOURCE
#include "probe_run.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "checkpoint.h"
#include "data.h"
#include "diagnostics.h"
#include "errmsg.h"
#include "store.h"
#include "tokenizer.h"

/* Apply "key=value" strings set[0..nset) to c. */
static int apply_set(Config *c, char *const *set, int nset, char *err, size_t errn) {
    for (int i = 0; i < nset; i++)
        if (config_set_kv(c, set[i], err, errn)) return -1;
    return 0;
}

/* A model built from cfg (no checkpoint) and its tokenizer into *tok, as a
 * training run builds it (run_tokenizer, model_build_tok). */
static int build_model(Config *cfg, Backend *be, Model *m, Tokenizer *tok, FILE *log, char *err, size_t errn) {
    char note[1024] = "";
    int merges;
    if (tokenizer_spec(cfg->tokenizer, &merges, err, errn) == TOKSPEC_TRAIN && !cfg->init[0])
        return errf(err, errn, "tokenizer=%s: an untrained model has no training run to learn its merges from; give "
                    "tokenizer=PATH (a tokenizer.json, e.g. a bpe run's) or init=DIR", cfg->tokenizer);
    if (run_tokenizer(cfg, tok, note, sizeof note, err, errn)) return -1;
    if (note[0]) fprintf(log, "probe: %s\n", note);
    if (model_build_tok(cfg, tok, be, m, note, sizeof note, err, errn)) { tokenizer_free(tok); return -1; }
    if (note[0]) fprintf(log, "probe: %s\n", note);
    return 0;
}

/* The model of t on the backend cfg->device names and its tokenizer into
 * *tok; *cfg becomes the checkpoint's run config (when it has one) with the
 * overrides applied again. A checkpoint is read with its own tokenizer, so a
 * tokenizer= override is refused there. */
static int load_model(const ProbeTarget *t, Config *cfg, char *const *set, int nset, Model *m, Tokenizer *tok,
                      FILE *log, char *err, size_t errn) {
    *tok = tokenizer_byte();
    Backend *be = backend_by_name(cfg->device);
    if (!be) return errf(err, errn, "device '%s' is not available", cfg->device);
    if (!t->checkpoint) return build_model(cfg, be, m, tok, log, err, errn);
    for (int i = 0; i < nset; i++)
        if (!strncmp(set[i], "tokenizer=", 10))
            return errf(err, errn, "%s: a checkpoint is probed with its own tokenizer (its tokenizer.json, else the "
                        "byte tokenizer)", set[i]);
    Config run;
    int has_run = 0;
    if (checkpoint_load_tok(m, be, t->checkpoint, &run, &has_run, tok, err, errn)) return -1;
    if (has_run) {
        run.threads = cfg->threads;
        *cfg = run;
        if (apply_set(cfg, set, nset, err, errn)) { model_free(m); tokenizer_free(tok); return -1; }
    }
    return 0;
}

/* dir/tokens.csv: per example its index and the token counts of its user and
 * assistant contents under tok (tokenizer_encode) and their byte lengths;
 * their means to log. 0 or -1 with err. */
static int write_tokens(const Tokenizer *tok, const Dataset *d, const char *dir, FILE *log, char *err, size_t errn) {
    char path[1100];
    snprintf(path, sizeof path, "%s/tokens.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return errf(err, errn, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "i,user_tokens,assistant_tokens,user_bytes,assistant_bytes\n");
    double su = 0, sa = 0;
    int rc = 0;
    for (int i = 0; i < d->n && rc == 0; i++) {
        const Example *e = &d->ex[i];
        size_t lu = strlen(e->user), la = strlen(e->assistant);
        int nu = tokenizer_encode(tok, e->user, lu, NULL, 0, err, errn);
        int na = nu < 0 ? -1 : tokenizer_encode(tok, e->assistant, la, NULL, 0, err, errn);
        if (na < 0) rc = -1;
        else fprintf(f, "%d,%d,%d,%zu,%zu\n", i, nu, na, lu, la), su += nu, sa += na;
    }
    if (fclose(f) && rc == 0) rc = errf(err, errn, "%s: cannot write: %s", path, strerror(errno));
    if (rc == 0 && d->n > 0)
        fprintf(log, "probe: tokenizer %s (%d ids, chat template %s): %.1f user and %.1f assistant tokens per "
                "example\n", tokenizer_kind_name(tok), tok->vocab_size, tok->chat, su / d->n, sa / d->n);
    return rc;
}

/* The whole of file path (NUL-terminated, malloc'd) into *text. 0 or -1 with err. */
static int slurp(const char *path, char **text, char *err, size_t errn) {
    FILE *f = fopen(path, "rb");
    *text = NULL;
    if (!f) return errf(err, errn, "%s: cannot read: %s", path, strerror(errno));
    size_t cap = 1 << 14, len = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0)
        if ((len += got) + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            buf = nb;
        }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) { free(buf); return errf(err, errn, "%s: cannot read", path); }
    buf[len] = 0;
    *text = buf;
    return 0;
}

/* probe.json in dir gets "collapse": {DIAG_CSV_HEADER's names: value or null}
 * of cl (engine/diagnostics.h; README "Collapse diagnostics"). 0 or -1 with err. */
static int add_collapse_json(const char *dir, const Collapse *cl, char *err, size_t errn) {
    char path[1100], *text;
    snprintf(path, sizeof path, "%s/probe.json", dir);
    if (slurp(path, &text, err, errn)) return -1;
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(o)) { cJSON_Delete(o); return errf(err, errn, "%s: not a JSON object", path); }
    double v[DIAG_CSV_FIELDS];
    int has[DIAG_CSV_FIELDS];
    diag_collapse_values(cl, v, has);
    cJSON_DeleteItemFromObject(o, "collapse");
    cJSON *c = cJSON_AddObjectToObject(o, "collapse");
    for (int i = 0; c && i < DIAG_CSV_FIELDS; i++) {
        if (has[i]) cJSON_AddNumberToObject(c, diag_csv_names[i], v[i]);
        else cJSON_AddNullToObject(c, diag_csv_names[i]);
    }
    if (c) cJSON_AddNumberToObject(c, "n", cl->n);
    char *js = c ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!js) return errf(err, errn, "out of memory");
    FILE *f = fopen(path, "w");
    int bad = !f || fprintf(f, "%s\n", js) < 0;
    if (f && fclose(f)) bad = 1;
    free(js);
    return bad ? errf(err, errn, "%s: cannot write", path) : 0;
}

/* The collapse diagnostics of the probed examples (Pred included, as the
 * probe's pred_text.npy) into probe.json, and their summary to log. */
static int probe_collapse(const ProbeTarget *t, Model *m, const Dataset *d, const EncodeOpts *eo, FILE *log,
                          char *err, size_t errn) {
    Collapse cl;
    if (diag_collapse(m, d->ex, d->n, eo, 1, &cl, err, errn) || add_collapse_json(t->out, &cl, err, errn)) return -1;
    fprintf(log, "probe: collapse: Pred cos %.4f erank %.2f; matched-mismatched cos Pred %.5f Enc(Text) %.5f; Code "
            "retrieval top-1 %% Pred %.1f Enc(Text) %.1f (chance %.2f); cos(mean Pred, <eos> state) %.3f\n",
            cl.pred.mean_cos, cl.pred.erank, cl.pred_gap, cl.text_gap, cl.pred_top1, cl.text_top1, cl.chance_top1,
            cl.pred_eos_cos);
    return 0;
}

/* Encode and probe d with m under tok (its token ids cached once, as a
 * training run caches its splits), then write tokens.csv and the collapse
 * diagnostics (probe_collapse). */
static int probe_data(const ProbeTarget *t, const Config *cfg, Model *m, const Tokenizer *tok, const Dataset *d,
                      const ProbeOpts *po, FILE *log, ProbeResult *r, char *warn, size_t warnn, char *err,
                      size_t errn) {
    TokenCache ids;
    EncodeOpts eo = encode_opts(cfg);
    eo.vo.tok = tok;
    eo.vo.cache = &ids;
    int rc = token_cache_build(&ids, d, tok, err, errn);
    if (rc == 0) rc = dataset_check_positions(d, &eo.vo, 0, m->cfg.max_pos, err, errn);
    if (rc == 0) {
        fprintf(log, "probe: %d examples of %s -> %s\n", d->n, d->path, t->out);
        ProbeOpts o = *po;
        if (t->seed_from_run) o.tsne_o.seed = cfg->seed;
        rc = probe_model(m, d->ex, d->n, &eo, &o, t->out, r, warn, warnn, err, errn);
    }
    if (rc == 0) rc = probe_collapse(t, m, d, &eo, log, err, errn);
    if (rc == 0) rc = write_tokens(tok, d, t->out, log, err, errn);
    token_cache_free(&ids);
    return rc;
}

int probe_target(const ProbeTarget *t, Config *cfg, char *const *set, int nset, const ProbeOpts *po, FILE *log,
                 ProbeResult *r, char *warn, size_t warnn, char *err, size_t errn) {
    Model m;
    Tokenizer tok;
    if (warn && warnn) warn[0] = 0;
    if (load_model(t, cfg, set, nset, &m, &tok, log, err, errn)) return -1;
    m.be->set_threads(m.be, cfg->threads);
    char path[1024];
    if (t->data) snprintf(path, sizeof path, "%s", t->data);
    else dataset_path(cfg->dataset, "test", path, sizeof path);
    Dataset d;
    int rc = dataset_load(path, t->n, &d, err, errn);
    if (rc == 0) {
        rc = probe_data(t, cfg, &m, &tok, &d, po, log, r, warn, warnn, err, errn);
        dataset_free(&d);
    }
    model_free(&m);
    tokenizer_free(&tok);
    return rc;
}

int probe_run_dir(const Config *c, const char *dir, FILE *log, ProbeResult *r, char *err, size_t errn) {
    if (strcmp(c->checkpoint, "final"))
        return errf(err, errn, "probe=1 needs checkpoint=final (the probe reads the run's checkpoint)");
    char ckpt[1100], out[1100], warn[512];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint", dir);
    snprintf(out, sizeof out, "%s/probe", dir);
    ProbeTarget t = {ckpt, NULL, c->probe_n, out, 1};
    ProbeOpts po = probe_defaults();
    po.quiet = 1;
    Config cfg = *c;
    int rc = probe_target(&t, &cfg, NULL, 0, &po, log, r, warn, sizeof warn, err, errn);
    if (rc == 0 && warn[0]) fprintf(log, "probe: note: %s\n", warn);
    if (rc == 0)
        fprintf(log, "probe: least squares residual %.6g (rank %d), mean top-%d singular value %.6g\n", r->lsq_resid,
                r->lsq_rank, r->nsv, r->sv_mean);
    return rc;
}

/* The row values of row `row` of t with the probe columns set from r, in
 * store_columns order (t has the current layout after store_read). */
static char **probe_row(const Table *t, int row, const ProbeResult *r) {
    const char *const *cols;
    int n = store_columns(&cols);
    char **v = store_row_values(t, row);
    for (int i = 0; v && i < n; i++)
        for (int j = 0; j < PROBE_CSV_COLUMNS; j++)
            if (!strcmp(cols[i], probe_csv_columns[j])) {
                char buf[2048];
                probe_csv_value(r, j, buf, sizeof buf);
                char *x = strdup(buf);
                if (!x) { store_values_free(v); return NULL; }
                free(v[i]);
                v[i] = x;
            }
    return v;
}

int probe_record(const char *run_dir, const ProbeResult *r, char *err, size_t errn) {
    char a[1100], b[1100], csv[1200];
    snprintf(a, sizeof a, "%s", run_dir);
    snprintf(b, sizeof b, "%s", run_dir);
    const char *run_id = basename(a);
    char *runs = dirname(b); /* RESULTS/GRID/runs */
    snprintf(csv, sizeof csv, "%s/../runs.csv", runs);
    Table t;
    if (store_read(csv, &t, err, errn)) return -1;
    int row = store_last_row(&t, run_id), n = store_columns(NULL), rc = -1;
    const char *st = row >= 0 ? table_get(&t, row, "status") : NULL;
    char **v = NULL;
    if (!st) errf(err, errn, "%s: no row for run %s", csv, run_id);
    else if (strcmp(st, "ok")) errf(err, errn, "%s: run %s has status %s, not ok", csv, run_id, st);
    else if (!(v = probe_row(&t, row, r))) errf(err, errn, "out of memory");
    else rc = store_append(csv, (const char *const *)v, n, err, errn);
    store_values_free(v);
    table_free(&t);
    return rc;
}
