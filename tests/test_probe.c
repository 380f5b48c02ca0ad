/* harness probe (analysis/probe.h, harness/probe_run.h): the files a probe
 * writes agree with encode and the linear probes called directly, are
 * deterministic, and a run with probe=1 records Table 10's numbers; a run
 * with a BPE tokenizer is probed through that tokenizer. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "checkpoint.h"
#include "config.h"
#include "data.h"
#include "encode.h"
#include "linprobe.h"
#include "npy.h"
#include "probe.h"
#include "store.h"
#include "tokenizer.h"

#define NEX 40

static char g_dir[64];

static void mk_tmp(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/test_probe_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    cr_assert_eq(system(cmd), 0);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* A pico model (seed 82, from scratch), the first NEX synth test examples,
 * and probe options (t-SNE short, no pictures: test_figure tests those). */
static void setup_probe(Model *m, Dataset *d, EncodeOpts *eo, ProbeOpts *po, int k) {
    Config c;
    char err[512], note[256];
    config_defaults(&c);
    cr_assert_eq(config_set(&c, "model", "pico", err, sizeof err), 0, "%s", err);
    cr_assert_eq(config_set(&c, "loss", "jepa", err, sizeof err), 0, "%s", err);
    char kv[8];
    snprintf(kv, sizeof kv, "%d", k);
    cr_assert_eq(config_set(&c, "k", kv, err, sizeof err), 0, "%s", err);
    Backend *be = backend_cpu();
    be->set_threads(be, 1);
    cr_assert_eq(model_build(&c, be, m, note, sizeof note, err, sizeof err), 0, "%s", err);
    cr_assert_eq(dataset_load(SOURCE_DIR "/data/synth_test.jsonl", NEX, d, err, sizeof err), 0, "%s", err);
    *eo = encode_opts(&c);
    *po = probe_defaults();
    po->tsne_o.iters = 300;
    po->tsne_o.perplexity = 10;
    po->draw = 0;
    po->quiet = 1;
}

static float *read_npy(const char *dir, const char *name, int rows, int cols) {
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    float *x;
    int r, c;
    cr_assert_eq(npy_read_f32(path, &x, &r, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r, rows, "%s rows", name);
    cr_assert_eq(c, cols, "%s cols", name);
    return x;
}

Test(probe, files_agree_with_encode_and_linprobe, .init = mk_tmp, .fini = rm_tmp) {
    Model m;
    Dataset d;
    EncodeOpts eo;
    ProbeOpts po;
    setup_probe(&m, &d, &eo, &po, 1);
    int C = m.cfg.dim;
    ProbeResult r;
    char err[512], warn[256];
    cr_assert_eq(probe_model(&m, d.ex, d.n, &eo, &po, g_dir, &r, warn, sizeof warn, err, sizeof err), 0, "%s", err);
    /* the dumps are encode's output */
    float *et = malloc(sizeof(float) * NEX * C), *pt = malloc(sizeof(float) * NEX * C), *ec = malloc(sizeof(float) * NEX * C);
    cr_assert_eq(encode(&m, d.ex, d.n, &eo, et, pt, ec, err, sizeof err), 0, "%s", err);
    float *x = read_npy(g_dir, "enc_text", NEX, C), *p = read_npy(g_dir, "pred_text", NEX, C),
          *y = read_npy(g_dir, "enc_code", NEX, C);
    cr_expect_eq(memcmp(x, et, sizeof(float) * NEX * C), 0, "enc_text.npy differs from encode");
    cr_expect_eq(memcmp(p, pt, sizeof(float) * NEX * C), 0, "pred_text.npy differs from encode");
    cr_expect_eq(memcmp(y, ec, sizeof(float) * NEX * C), 0, "enc_code.npy differs from encode");
    cr_expect_neq(memcmp(x, p, sizeof(float) * NEX * C), 0, "k = 1: Pred(Enc(Text)) must differ from Enc(Text)");
    /* the numbers are the linear probes' on those matrices */
    double sv[PROBE_TOP_SV], resid;
    int nsv, rank;
    cr_assert_eq(linprobe_diff_sv(x, y, NEX, C, PROBE_TOP_SV, sv, &nsv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(linprobe_lsq(x, y, NEX, C, -1.0, &resid, &rank, err, sizeof err), 0, "%s", err);
    cr_expect_eq(r.nsv, C < NEX ? C : NEX);
    cr_expect_eq(nsv, r.nsv);
    double mean = 0;
    for (int i = 0; i < nsv; i++) {
        cr_expect_eq(sv[i], r.sv[i], "sv[%d]", i);
        mean += sv[i] / nsv;
    }
    cr_expect(fabs(mean - r.sv_mean) <= 1e-12 * mean, "sv_mean %g vs %g", r.sv_mean, mean);
    cr_expect_eq(resid, r.lsq_resid);
    cr_expect_eq(rank, r.lsq_rank);
    cr_expect(r.pred_lsq_resid > 0 && r.pred_sv_mean > 0);
    cr_expect(isfinite(r.tsne_kl) && r.tsne_kl > 0, "t-SNE KL %g", r.tsne_kl);
    /* probe.json says the same */
    char path[256];
    size_t len;
    snprintf(path, sizeof path, "%s/probe.json", g_dir);
    char *js = slurp(path, &len);
    cJSON *o = cJSON_Parse(js);
    cr_assert_not_null(o);
    cr_expect_eq(cJSON_GetObjectItem(o, "n")->valuedouble, NEX);
    cr_expect_eq(cJSON_GetObjectItem(o, "lsq_resid")->valuedouble, r.lsq_resid);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "sv")), r.nsv);
    cJSON_Delete(o);
    /* tsne.csv: 2N rows, Text then Code */
    snprintf(path, sizeof path, "%s/tsne.csv", g_dir);
    char *csv = slurp(path, &len);
    int lines = 0, text = 0;
    for (char *l = strtok(csv, "\n"); l; l = strtok(NULL, "\n"), lines++) text += strstr(l, ",text,") != NULL;
    cr_expect_eq(lines, 1 + 2 * NEX);
    cr_expect_eq(text, NEX);
    free(js); free(csv); free(x); free(p); free(y); free(et); free(pt); free(ec);
    dataset_free(&d);
    model_free(&m);
}

Test(probe, deterministic_files, .init = mk_tmp, .fini = rm_tmp) {
    Model m;
    Dataset d;
    EncodeOpts eo;
    ProbeOpts po;
    setup_probe(&m, &d, &eo, &po, 0);
    char a[128], b[128], err[512], warn[256];
    snprintf(a, sizeof a, "%s/a", g_dir);
    snprintf(b, sizeof b, "%s/b", g_dir);
    ProbeResult r;
    cr_assert_eq(probe_model(&m, d.ex, d.n, &eo, &po, a, &r, warn, sizeof warn, err, sizeof err), 0, "%s", err);
    cr_assert_eq(probe_model(&m, d.ex, d.n, &eo, &po, b, &r, warn, sizeof warn, err, sizeof err), 0, "%s", err);
    const char *files[] = {"enc_text.npy", "pred_text.npy", "enc_code.npy", "sv.csv", "tsne.csv", "probe.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char pa[256], pb[256];
        size_t la, lb;
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        char *xa = slurp(pa, &la), *xb = slurp(pb, &lb);
        cr_expect(la == lb && memcmp(xa, xb, la) == 0, "%s differs between two identical probes", files[i]);
        free(xa);
        free(xb);
    }
    /* k = 0: Pred(Enc(Text)) is Enc(Text), so both probes agree */
    cr_expect_eq(r.pred_lsq_resid, r.lsq_resid);
    dataset_free(&d);
    model_free(&m);
}

Test(probe, perplexity_lowered_for_few_points, .init = mk_tmp, .fini = rm_tmp) {
    Model m;
    Dataset d;
    EncodeOpts eo;
    ProbeOpts po;
    setup_probe(&m, &d, &eo, &po, 1);
    po.tsne_o.perplexity = 30; /* 3·30 >= 2·12 points */
    ProbeResult r;
    char err[512], warn[256];
    cr_assert_eq(probe_model(&m, d.ex, 12, &eo, &po, g_dir, &r, warn, sizeof warn, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(warn, "perplexity lowered") != NULL, "warning: '%s'", warn);
    cr_expect_neq(probe_model(&m, d.ex, 1, &eo, &po, g_dir, &r, warn, sizeof warn, err, sizeof err), 0);
    cr_expect(strstr(err, "at least 2") != NULL, "%s", err);
    dataset_free(&d);
    model_free(&m);
}

static int sh(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The probe columns of the last row of csv, as one string "resid|sv_mean|sv". */
static void last_probe_cols(const char *csv, char *out, size_t n, int *nrows) {
    Table t;
    char err[256];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert(t.nrows > 0);
    *nrows = t.nrows;
    snprintf(out, n, "%s|%s|%s", table_get(&t, t.nrows - 1, "probe_lsq_resid"),
             table_get(&t, t.nrows - 1, "probe_sv_mean"), table_get(&t, t.nrows - 1, "probe_sv"));
    table_free(&t);
}

#define TINY "model=pico dataset=synth train_limit=32 test_limit=8 epochs=1 batch_size=16 max_new_tokens=24 " \
             "epoch_eval_limit=0 threads=1 loss=jepa k=1 "

Test(probe, train_with_probe_records_table10, .init = mk_tmp, .fini = rm_tmp, .timeout = 300) {
    char cmd[2048], csv[256], cols[4096];
    snprintf(csv, sizeof csv, "%s/res/g/runs.csv", g_dir);
    snprintf(cmd, sizeof cmd, "%s train --quiet --results %s/res --grid g " TINY "probe=1 probe_n=20 >/dev/null 2>&1",
             HARNESS_BIN, g_dir);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
    int nrows;
    last_probe_cols(csv, cols, sizeof cols, &nrows);
    cr_expect_eq(nrows, 1);
    cr_expect(cols[0] != '|' && !strstr(cols, "||") && cols[strlen(cols) - 1] != '|', "probe columns empty: %s", cols);
    /* probe=1 without a checkpoint to read is refused before training */
    snprintf(cmd, sizeof cmd, "%s train --quiet --results %s/res --grid g " TINY "probe=1 checkpoint=none 2>/dev/null",
             HARNESS_BIN, g_dir);
    cr_expect_eq(sh(cmd), 2);
}

Test(probe, record_appends_probe_to_recorded_run, .init = mk_tmp, .fini = rm_tmp, .timeout = 300) {
    char cmd[2048], csv[256], cols[4096], run_dir[512];
    snprintf(csv, sizeof csv, "%s/res/g/runs.csv", g_dir);
    snprintf(cmd, sizeof cmd, "%s train --quiet --results %s/res --grid g " TINY ">/dev/null 2>&1", HARNESS_BIN, g_dir);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
    int nrows;
    last_probe_cols(csv, cols, sizeof cols, &nrows);
    cr_expect_str_eq(cols, "||", "a run without probe=1 has no probe columns");
    Table t;
    char err[256];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0);
    snprintf(run_dir, sizeof run_dir, "%s/res/g/runs/%s", g_dir, table_get(&t, 0, "run_id"));
    table_free(&t);
    snprintf(cmd, sizeof cmd, "%s probe %s -n 16 --iters 100 --no-draw --record >/dev/null 2>&1", HARNESS_BIN, run_dir);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
    last_probe_cols(csv, cols, sizeof cols, &nrows);
    cr_expect_eq(nrows, 2, "the run's row appended again with its probe");
    cr_expect(cols[0] != '|' && !strstr(cols, "||"), "probe columns: %s", cols);
    char npy[600];
    snprintf(npy, sizeof npy, "%s/probe/enc_code.npy", run_dir);
    cr_expect_eq(access(npy, R_OK), 0, "%s missing", npy);
    /* an untrained model: the base row of Table 10 */
    snprintf(cmd, sizeof cmd, "%s probe --untrained --out %s/base -n 16 --no-tsne --no-draw model=pico threads=1 >/dev/null 2>&1",
             HARNESS_BIN, g_dir);
    cr_expect_eq(sh(cmd), 0, "%s", cmd);
    snprintf(npy, sizeof npy, "%s/base/probe.json", g_dir);
    cr_expect_eq(access(npy, R_OK), 0, "%s missing", npy);
    /* usage errors */
    snprintf(cmd, sizeof cmd, "%s probe 2>/dev/null", HARNESS_BIN);
    cr_expect_eq(sh(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s probe %s/nope 2>/dev/null", HARNESS_BIN, g_dir);
    cr_expect_eq(sh(cmd), 1);
    snprintf(cmd, sizeof cmd, "%s probe %s -n x 2>/dev/null", HARNESS_BIN, run_dir);
    cr_expect_eq(sh(cmd), 2);
}

/* Per-example counts of tokens.csv in dir: n rows i,user_tokens,
 * assistant_tokens,user_bytes,assistant_bytes into tok[4 i + 0..3]. */
static void read_tokens_csv(const char *dir, int n, long *tok) {
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/tokens.csv", dir);
    char *csv = slurp(path, &len), *save = NULL;
    char *l = strtok_r(csv, "\n", &save);
    cr_assert(l && !strcmp(l, "i,user_tokens,assistant_tokens,user_bytes,assistant_bytes"), "header: %s", l);
    int rows = 0;
    for (l = strtok_r(NULL, "\n", &save); l; l = strtok_r(NULL, "\n", &save), rows++) {
        int i;
        cr_assert(rows < n, "tokens.csv has more than %d rows", n);
        cr_assert_eq(sscanf(l, "%d,%ld,%ld,%ld,%ld", &i, &tok[4 * rows], &tok[4 * rows + 1], &tok[4 * rows + 2],
                            &tok[4 * rows + 3]), 5, "row: %s", l);
        cr_expect_eq(i, rows);
    }
    cr_assert_eq(rows, n, "tokens.csv: %d rows, want %d", rows, n);
    free(csv);
}

/* Each count of tok (read_tokens_csv) is tokenizer_encode's under t of
 * ex[0..n), and the byte lengths are the contents'. Returns the sum of the
 * token counts minus the sum of the bytes. */
static long check_token_counts(const long *tok, const Example *ex, int n, const Tokenizer *t) {
    long diff = 0;
    char err[256];
    for (int i = 0; i < n; i++) {
        const char *part[2] = {ex[i].user, ex[i].assistant};
        for (int p = 0; p < 2; p++) {
            int want = tokenizer_encode(t, part[p], strlen(part[p]), NULL, 0, err, sizeof err);
            cr_assert_geq(want, 0, "%s", err);
            cr_expect_eq(tok[4 * i + p], want, "example %d part %d: %ld tokens, the tokenizer gives %d", i, p,
                         tok[4 * i + p], want);
            cr_expect_eq(tok[4 * i + 2 + p], (long)strlen(part[p]), "example %d part %d bytes", i, p);
            diff += tok[4 * i + p] - tok[4 * i + 2 + p];
        }
    }
    return diff;
}

#define NBPE 16

/* The three (NBPE, C) dumps of dir, each checked finite; enc_text returned. */
static float *read_finite_dumps(const char *dir, int C) {
    const char *names[3] = {"enc_text", "pred_text", "enc_code"};
    float *keep = NULL;
    for (int k = 0; k < 3; k++) {
        float *x = read_npy(dir, names[k], NBPE, C);
        for (int i = 0; i < NBPE * C; i++) cr_assert(isfinite(x[i]), "%s.npy[%d] = %g", names[k], i, x[i]);
        if (k == 0) keep = x;
        else free(x);
    }
    return keep;
}

Test(probe, bpe_run_is_probed_through_its_tokenizer, .init = mk_tmp, .fini = rm_tmp, .timeout = 300) {
    char cmd[2048], csv[256], cols[4096], run_dir[512], out[600], data[512];
    snprintf(csv, sizeof csv, "%s/res/g/runs.csv", g_dir);
    snprintf(data, sizeof data, "%s/data/synth_test.jsonl", SOURCE_DIR);
    /* train with probe=1: the run's own probe goes through its BPE tokenizer (pictures left out: no gnuplot) */
    snprintf(cmd, sizeof cmd, "GNUPLOT=/nonexistent/gnuplot %s train --quiet --results %s/res --grid g " TINY
             "tokenizer=bpe:40 probe=1 probe_n=12 >/dev/null 2>&1", HARNESS_BIN, g_dir);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
    int nrows;
    last_probe_cols(csv, cols, sizeof cols, &nrows);
    cr_expect(cols[0] != '|' && !strstr(cols, "||"), "probe columns: %s", cols);
    Table t;
    char err[512];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    snprintf(run_dir, sizeof run_dir, "%s/res/g/runs/%s", g_dir, table_get(&t, 0, "run_id"));
    table_free(&t);
    /* harness probe of the run */
    snprintf(out, sizeof out, "%s/p", g_dir);
    snprintf(cmd, sizeof cmd, "%s probe %s --data %s -n %d --iters 100 --no-draw --out %s threads=1 >/dev/null 2>&1",
             HARNESS_BIN, run_dir, data, NBPE, out);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
    /* the model and tokenizer the probe read, and the same examples */
    Model m;
    Config rc;
    Tokenizer tok;
    int has_run = 0;
    char ck[600];
    snprintf(ck, sizeof ck, "%s/checkpoint", run_dir);
    cr_assert_eq(checkpoint_load_tok(&m, backend_cpu(), ck, &rc, &has_run, &tok, err, sizeof err), 0, "%s", err);
    cr_assert(has_run && tok.kind == TOKENIZER_BPE, "the checkpoint carries its BPE tokenizer");
    m.be->set_threads(m.be, 1);
    Dataset d;
    cr_assert_eq(dataset_load(data, NBPE, &d, err, sizeof err), 0, "%s", err);
    int C = m.cfg.dim;
    float *x = read_finite_dumps(out, C);
    /* token counts: the BPE tokenization, fewer tokens than bytes */
    long counts[4 * NBPE];
    read_tokens_csv(out, NBPE, counts);
    cr_expect_lt(check_token_counts(counts, d.ex, d.n, &tok), 0, "BPE merges bytes: fewer tokens than bytes");
    snprintf(out, sizeof out, "%s/probe", run_dir); /* probe=1's: the test split's first 12 */
    read_tokens_csv(out, 12, counts);
    cr_expect_lt(check_token_counts(counts, d.ex, 12, &tok), 0, "probe=1 reads the run's BPE tokenizer too");
    /* Enc(Text) is encode's under the BPE tokenizer, not under bytes */
    float *et = malloc(sizeof(float) * NBPE * C), *pt = malloc(sizeof(float) * NBPE * C),
          *ec = malloc(sizeof(float) * NBPE * C);
    EncodeOpts eo = encode_opts(&rc);
    eo.vo.tok = &tok;
    cr_assert_eq(encode(&m, d.ex, d.n, &eo, et, pt, ec, err, sizeof err), 0, "%s", err);
    cr_expect_eq(memcmp(x, et, sizeof(float) * NBPE * C), 0, "enc_text.npy is Enc(Text) under the run's tokenizer");
    eo.vo.tok = NULL;
    cr_assert_eq(encode(&m, d.ex, d.n, &eo, et, pt, ec, err, sizeof err), 0, "%s", err);
    cr_expect_neq(memcmp(x, et, sizeof(float) * NBPE * C), 0, "byte ids would give other embeddings");
    /* an untrained model with that tokenizer.json, and one with bytes */
    snprintf(cmd, sizeof cmd, "%s probe --untrained --out %s/u -n %d --data %s --no-tsne --no-draw model=pico "
             "threads=1 tokenizer=%s/tokenizer.json >/dev/null 2>&1", HARNESS_BIN, g_dir, NBPE, data, run_dir);
    cr_expect_eq(sh(cmd), 0, "%s", cmd);
    snprintf(out, sizeof out, "%s/u", g_dir);
    read_tokens_csv(out, NBPE, counts);
    cr_expect_lt(check_token_counts(counts, d.ex, d.n, &tok), 0);
    snprintf(cmd, sizeof cmd, "%s probe --untrained --out %s/b -n %d --data %s --no-tsne --no-draw model=pico "
             "threads=1 >/dev/null 2>&1", HARNESS_BIN, g_dir, NBPE, data);
    cr_expect_eq(sh(cmd), 0, "%s", cmd);
    snprintf(out, sizeof out, "%s/b", g_dir);
    read_tokens_csv(out, NBPE, counts);
    cr_expect_eq(check_token_counts(counts, d.ex, d.n, tokenizer_byte_shared()), 0, "byte tokenizer: a token a byte");
    /* refused: merges to learn without a training run; another tokenizer on a checkpoint */
    snprintf(cmd, sizeof cmd, "%s probe --untrained --out %s/v -n 4 --no-tsne --no-draw model=pico tokenizer=bpe:8 "
             "2>/dev/null", HARNESS_BIN, g_dir);
    cr_expect_eq(sh(cmd), 1, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s probe %s --out %s/w -n 4 --no-tsne --no-draw tokenizer=byte 2>/dev/null",
             HARNESS_BIN, run_dir, g_dir);
    cr_expect_eq(sh(cmd), 1, "%s", cmd);
    free(x); free(et); free(pt); free(ec);
    dataset_free(&d);
    model_free(&m);
    tokenizer_free(&tok);
}
