/* Tests of harness/store.c: runs.csv append, read, partial lines, locking. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "record.h"
#include "task.h"
#include "report.h"
#include "rowfmt.h"
#include "probe.h"
#include "store.h"
#include "task.h"

static char tmpdir[64];
static char csv[256];

static void mk_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_store_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(csv, sizeof csv, "%s/results/g/runs.csv", tmpdir);
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* A row of the current columns: every value "v<col>", with the given
 * run_id, status and an optional special value in column "host". */
typedef struct {
    char buf[256][96];
    const char *v[256];
    int n;
} Row;

static void make_row(Row *r, const char *run_id, const char *status, const char *host) {
    const char *const *cols;
    r->n = store_columns(&cols);
    cr_assert(r->n <= 256);
    for (int i = 0; i < r->n; i++) {
        snprintf(r->buf[i], sizeof r->buf[i], "v%d", i);
        r->v[i] = r->buf[i];
    }
    r->v[store_column_index("run_id")] = run_id;
    r->v[store_column_index("status")] = status;
    if (host) r->v[store_column_index("host")] = host;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    char *b = malloc(1 << 20);
    *len = fread(b, 1, (1 << 20) - 1, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

Test(store, columns) {
    const char *const *c;
    int n = store_columns(&c);
    int ns;
    const CfgKey *s = config_schema(&ns);
    cr_assert_eq(n, 3 + ns + 31 + task_metrics(NULL) + PROBE_CSV_COLUMNS);
    cr_assert_str_eq(c[0], "run_id");
    cr_assert_str_eq(c[1], "grid");
    cr_assert_str_eq(c[2], "arm");
    for (int i = 0; i < ns; i++) cr_assert_str_eq(c[3 + i], s[i].name);
    cr_assert_str_eq(c[3 + ns], "status");
    cr_assert_str_eq(c[4 + ns], "acc_exact"); /* then one acc_<metric> per metric of the task table */
    cr_assert_str_eq(c[3 + ns + task_metrics(NULL)], "acc_choice");
    cr_assert_str_eq(c[4 + ns + task_metrics(NULL)], "ntp_loss");
    int p = PROBE_CSV_COLUMNS; /* the probe's columns come last */
    cr_assert_str_eq(c[n - p - 15], "end_time");
    cr_assert_str_eq(c[n - p - 14], "train_sha256");
    cr_assert_str_eq(c[n - p - 9], "trainable_params");
    static const char *const prov[] = {"compiler", "compiler_flags", "cpu_model", "blas", "blas_core",
                                       "engine_version", "command_line", "error"};
    for (int i = 0; i < 8; i++) cr_assert_str_eq(c[n - p - 8 + i], prov[i]);
    cr_assert_str_eq(c[n - p], "probe_examples");
    cr_assert_str_eq(c[n - 1], "probe_sv");
    cr_assert_eq(store_columns(NULL), n);
    cr_assert_eq(store_column_index("acc_exact"), 3 + ns + 1);
    cr_assert_eq(store_column_index("nope"), -1);
}

Test(store, missing_file_is_empty_table, .init = mk_tmp, .fini = rm_tmp) {
    Table t;
    char err[256] = "";
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.ncols, 0);
    cr_assert_eq(t.nrows, 0);
    cr_assert_eq(t.skipped, 0);
    char st[16];
    cr_assert_eq(store_status_of(&t, "x", st, sizeof st), 0);
    table_free(&t);
}

Test(store, round_trip_with_quotes_and_commas, .init = mk_tmp, .fini = rm_tmp) {
    const char *tricky[] = {"a,b", "say \"hi\"", "  padded  ", "", "line1\nline2", "\"", ",", "x\r\ny"};
    const char *want[] = {"a,b", "say \"hi\"", "  padded  ", "", "line1 line2", "\"", ",", "x  y"};
    int ntr = (int)(sizeof tricky / sizeof tricky[0]);
    char err[256] = "";
    for (int i = 0; i < ntr; i++) {
        Row r;
        char id[32];
        snprintf(id, sizeof id, "id%d", i);
        make_row(&r, id, "ok", tricky[i]);
        r.v[store_column_index("git_commit")] = i % 2 ? NULL : "abc"; /* NULL counts as "" */
        cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    }
    Table t;
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    const char *const *cols;
    int n = store_columns(&cols);
    cr_assert_eq(t.ncols, n);
    for (int i = 0; i < n; i++) cr_assert_str_eq(t.cols[i], cols[i]);
    cr_assert_eq(t.nrows, ntr);
    cr_assert_eq(t.skipped, 0);
    for (int i = 0; i < ntr; i++) {
        char id[32];
        snprintf(id, sizeof id, "id%d", i);
        cr_assert_str_eq(table_get(&t, i, "run_id"), id);
        cr_assert_str_eq(table_get(&t, i, "host"), want[i], "row %d: '%s'", i, table_get(&t, i, "host"));
        cr_assert_str_eq(table_get(&t, i, "status"), "ok");
        cr_assert_str_eq(table_get(&t, i, "git_commit"), i % 2 ? "" : "abc");
        cr_assert_str_eq(table_get(&t, i, "grid"), "v1");
    }
    cr_assert_null(table_get(&t, 0, "no_such_column"));
    cr_assert_null(table_get(&t, ntr, "run_id"));
    cr_assert_eq(table_col(&t, "arm"), 2);
    cr_assert_eq(table_col(&t, "no_such_column"), -1);
    table_free(&t);
    cr_assert_eq(t.nrows, 0);
    table_free(&t);
    /* the lock file is separate */
    char lock[300];
    snprintf(lock, sizeof lock, "%s.lock", csv);
    cr_assert_eq(access(lock, F_OK), 0);
}

Test(store, wrong_value_count, .init = mk_tmp, .fini = rm_tmp) {
    Row r;
    make_row(&r, "a", "ok", NULL);
    char err[256] = "";
    cr_assert_eq(store_append(csv, r.v, r.n - 1, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "columns"), "%s", err);
    cr_assert_eq(access(csv, F_OK), -1); /* nothing written */
}

Test(store, partial_last_line_skipped_then_next_append_own_line, .init = mk_tmp, .fini = rm_tmp) {
    Row r;
    char err[256] = "";
    make_row(&r, "first", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    /* a writer killed mid-row, inside a quoted field */
    FILE *f = fopen(csv, "ab");
    fputs("killed,g,\"arm with a quote", f);
    fclose(f);

    Table t;
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 1);
    cr_assert_eq(t.skipped, 1);
    table_free(&t);

    make_row(&r, "second", "failed", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    make_row(&r, "third", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 3, "nrows %d", t.nrows);
    cr_assert_eq(t.skipped, 1);
    cr_assert_str_eq(table_get(&t, 0, "run_id"), "first");
    cr_assert_str_eq(table_get(&t, 1, "run_id"), "second");
    cr_assert_str_eq(table_get(&t, 2, "run_id"), "third");
    table_free(&t);

    size_t len;
    char *text = slurp(csv, &len);
    cr_assert(strstr(text, "\"arm with a quote\nsecond,") != NULL, "the next row starts its own line");
    cr_assert_eq(text[len - 1], '\n');
    free(text);
}

Test(store, bad_middle_rows_counted, .init = mk_tmp, .fini = rm_tmp) {
    Row r;
    char err[256] = "";
    make_row(&r, "a", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    FILE *f = fopen(csv, "ab");
    fputs("too,few,fields\n\n\"unterminated,quote\n", f);
    fclose(f);
    make_row(&r, "b", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    Table t;
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 2);
    cr_assert_eq(t.skipped, 2, "skipped %d", t.skipped); /* the blank line is not a row */
    cr_assert_str_eq(table_get(&t, 1, "run_id"), "b");
    table_free(&t);
}

Test(store, killed_creator_file_is_restarted, .init = mk_tmp, .fini = rm_tmp) {
    Row r;
    char err[256] = "";
    make_row(&r, "a", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err); /* creates dirs */
    FILE *f = fopen(csv, "wb");
    fputs("run_id,grid,ar", f); /* no complete line at all */
    fclose(f);
    Table t;
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 0);
    cr_assert_eq(t.skipped, 1);
    table_free(&t);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 1);
    cr_assert_eq(t.skipped, 0);
    cr_assert_eq(t.ncols, store_columns(NULL));
    table_free(&t);
}

Test(store, header_mismatch_is_an_error, .init = mk_tmp, .fini = rm_tmp) {
    Row r;
    char err[256] = "";
    make_row(&r, "a", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    FILE *f = fopen(csv, "wb");
    fputs("run_id,grid,arm,old_key\n1,2,3,4\n", f);
    fclose(f);
    err[0] = 0;
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "header"), "%s", err);
    size_t len;
    char *text = slurp(csv, &len);
    cr_assert_str_eq(text, "run_id,grid,arm,old_key\n1,2,3,4\n"); /* nothing appended */
    free(text);

    /* same count, one name differs: a key that no older runs.csv lacks */
    const char *const *cols;
    int n = store_columns(&cols), lr = store_column_index("lr");
    f = fopen(csv, "wb");
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? "," : "", i == lr ? "renamed" : cols[i]);
    fputs("\n", f);
    fclose(f);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), -1);
    cr_assert(strstr(err, "'lr'") && strstr(err, "renamed"), "%s", err);
}

Test(store, status_of_last_row_wins, .init = mk_tmp, .fini = rm_tmp) {
    Row r;
    char err[256] = "";
    make_row(&r, "x", "failed", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    make_row(&r, "y", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    make_row(&r, "x", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    make_row(&r, "z", "diverged", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    Table t;
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    char st[32];
    cr_assert_eq(store_status_of(&t, "x", st, sizeof st), 1);
    cr_assert_str_eq(st, "ok");
    cr_assert_eq(store_status_of(&t, "z", st, sizeof st), 1);
    cr_assert_str_eq(st, "diverged");
    cr_assert_eq(store_status_of(&t, "w", st, sizeof st), 0);
    cr_assert_str_eq(st, "");
    table_free(&t);
}

Test(store, parallel_appends, .init = mk_tmp, .fini = rm_tmp) {
    enum { KIDS = 8, ROWS = 50 };
    pid_t pid[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pid[k] = fork();
        cr_assert(pid[k] >= 0);
        if (pid[k] == 0) {
            Row r;
            char id[32], host[64], err[256];
            for (int i = 0; i < ROWS; i++) {
                snprintf(id, sizeof id, "k%d-r%d", k, i);
                snprintf(host, sizeof host, "host \"%d\", row %d", k, i); /* needs quoting */
                make_row(&r, id, "ok", host);
                if (store_append(csv, r.v, r.n, err, sizeof err) != 0) _exit(1);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int st;
        cr_assert_eq(waitpid(pid[k], &st, 0), pid[k]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed", k);
    }
    Table t;
    char err[256] = "";
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, KIDS * ROWS, "nrows %d", t.nrows);
    cr_assert_eq(t.skipped, 0);
    static char seen[KIDS][ROWS];
    for (int i = 0; i < t.nrows; i++) {
        int k, j;
        cr_assert_eq(sscanf(table_get(&t, i, "run_id"), "k%d-r%d", &k, &j), 2);
        cr_assert(k >= 0 && k < KIDS && j >= 0 && j < ROWS);
        cr_assert_eq(seen[k][j], 0, "row k%d-r%d twice", k, j);
        seen[k][j] = 1;
        char host[64];
        snprintf(host, sizeof host, "host \"%d\", row %d", k, j);
        cr_assert_str_eq(table_get(&t, i, "host"), host);
    }
    table_free(&t);
    /* exactly one header line and 400 row lines */
    size_t len;
    char *text = slurp(csv, &len);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    cr_assert_eq(lines, 1 + KIDS * ROWS);
    free(text);
}

/* ---- older headers ---- */

/* The columns of runs.csv before the keys of commit 38992e5 and the content
 * hash / memory / parameter columns existed, as such a file holds them. */
static const char *OLD_HEADER =
    "run_id,grid,arm,model,dataset,train_limit,test_limit,system_prompt,ntp_targets,loss,lambda,gamma,k,ld,"
    "jepa_metric,jepa_pass,lr,epochs,batch_size,weight_decay,grad_clip,adam_beta1,adam_beta2,adam_eps,init_std,"
    "max_new_tokens,epoch_eval_limit,seed,threads,device,checkpoint,log_every,status,acc_exact,acc_startswith,"
    "ntp_loss,jepa_dist,steps,train_s,eval_s,train_tok_s,ntp_step_ms,jepa_step_ms,jepa_ntp_ratio,git_commit,"
    "git_dirty,build_type,host,threads_used,start_time,end_time\n";

static const char *OLD_ROWS[] = {
    "59fb6064810a052d,g,baseline,nano,synth,0,0,include,all,ntp,1,1,1,0,cosine,packed,0.0030000000000000001,3,32,0,"
    "1,0.90000000000000002,0.999,1e-08,0.02,128,200,82,1,cpu,final,10,ok,41.5000,42.0000,0.5,0.1,100,10.00,1.00,"
    "1000,5.00,6.00,1.200,abc,0,Release,h1,1,2026-01-01T00:00:00Z,2026-01-01T00:01:00Z\n",
    "6a7bb670d057529c,g,jepa,nano,synth,0,0,omit,all,jepa,0.01,1,1,0,cosine,packed,0.0030000000000000001,2,32,0,"
    "1,0.90000000000000002,0.999,1e-08,0.02,128,200,82,1,cpu,final,10,failed,,,,,,,,,,,,abc,0,Release,h1,1,"
    "2026-01-01T00:00:00Z,2026-01-01T00:01:00Z\n",
    "6a7bb670d057529c,g,jepa,nano,synth,0,0,omit,all,jepa,0.01,1,1,0,cosine,packed,0.0030000000000000001,2,32,0,"
    "1,0.90000000000000002,0.999,1e-08,0.02,128,200,82,1,cpu,final,10,ok,\"45.5000\",46.0000,0.5,0.1,100,10.00,"
    "1.00,1000,5.00,6.00,1.200,abc,0,Release,\"h, 2\",1,2026-01-01T00:00:00Z,2026-01-01T00:01:00Z\n",
};

static void write_old_csv(const char *extra_header, const char *extra_value) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/results/g'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    FILE *f = fopen(csv, "wb");
    cr_assert_not_null(f);
    size_t hl = strlen(OLD_HEADER);
    fprintf(f, "%.*s%s\n", (int)hl - 1, OLD_HEADER, extra_header ? extra_header : "");
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(OLD_ROWS[i]);
        fprintf(f, "%.*s%s\n", (int)l - 1, OLD_ROWS[i], extra_value ? extra_value : "");
    }
    fclose(f);
}

/* The old rows, read through the current layout. */
static void expect_old_rows(const Table *t) {
    cr_assert(t->nrows >= 3);
    cr_expect_str_eq(table_get(t, 0, "run_id"), "59fb6064810a052d");
    cr_expect_str_eq(table_get(t, 1, "status"), "failed");
    cr_expect_str_eq(table_get(t, 2, "acc_exact"), "45.5000");
    cr_expect_str_eq(table_get(t, 2, "host"), "h, 2");
    cr_expect_str_eq(table_get(t, 2, "lambda"), "0.01");
    cr_expect_str_eq(table_get(t, 0, "lambda"), "", "lambda=1 of an NTP run reads empty (no effect)");
    cr_expect_str_eq(table_get(t, 0, "k"), "");
    cr_expect_str_eq(table_get(t, 0, "jepa_metric"), "");
    for (int r = 0; r < 3; r++) {
        cr_expect_str_eq(table_get(t, r, "hidden_size"), "0", "row %d", r);
        cr_expect_str_eq(table_get(t, r, "init"), "");
        cr_expect_str_eq(table_get(t, r, "tie_word_embeddings"), "auto");
        cr_expect_str_eq(table_get(t, r, "lora_dropout"), ""); /* no effect without LoRA (rowfmt.h) */
        cr_expect_str_eq(table_get(t, r, "lr"), "0.003", "shortest float, not 0.0030000000000000001");
        cr_expect_str_eq(table_get(t, r, "adam_beta1"), "0.9");
        cr_expect_str_eq(table_get(t, r, "error"), "");
        cr_expect_str_eq(table_get(t, r, "lora_targets"), ""); /* no effect without LoRA */
        cr_expect_str_eq(table_get(t, r, "train_sha256"), "");
        cr_expect_str_eq(table_get(t, r, "trainable_params"), "");
    }
}

Test(store, older_header_is_read_reported_and_migrated, .init = mk_tmp, .fini = rm_tmp) {
    write_old_csv(NULL, NULL);
    size_t olen;
    char *original = slurp(csv, &olen);
    Table t;
    char err[512] = "";
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.ncols, store_columns(NULL));
    int nk, nneutral = 0;
    const CfgKey *sch = config_schema(&nk);
    for (int i = 0; i < nk; i++) nneutral += sch[i].neutral != NULL; /* every key added since the old header */
    int nres = 14 + (task_metrics(NULL) - 2) + PROBE_CSV_COLUMNS; /* the old header has acc_exact, acc_startswith */
    cr_expect_eq(t.filled, nneutral + nres, "%d config keys and %d result columns filled, got %d", nneutral, nres,
                 t.filled);
    cr_expect_eq(t.skipped, 0);
    cr_assert_eq(t.nrows, 3);
    expect_old_rows(&t);
    /* the report works unchanged and says what it could not know */
    char *md = NULL;
    cr_assert_eq(report_markdown(&t, "g", NULL, &md, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(md, "| baseline | 1 | 41.50") && strstr(md, "| jepa | 1 | ") && strstr(md, "45.50"), "%s", md);
    cr_expect(strstr(md, "older header") && strstr(md, "recorded before data hashes"), "%s", md);
    free(md);
    table_free(&t);
    /* appending migrates the file: every old row kept, in order, and a copy of the original */
    Row r;
    make_row(&r, "new", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_expect_eq(t.filled, 0, "the migrated file has the current header");
    cr_assert_eq(t.nrows, 4);
    expect_old_rows(&t);
    cr_expect_str_eq(table_get(&t, 3, "run_id"), "new");
    table_free(&t);
    char bak[400];
    snprintf(bak, sizeof bak, "%s.v1.bak", csv);
    size_t blen;
    char *saved = slurp(bak, &blen);
    cr_expect(blen == olen && !memcmp(saved, original, olen), "the .bak holds the original bytes");
    free(saved);
    free(original);
    /* the next append neither migrates nor backs up again */
    make_row(&r, "newer", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    snprintf(bak, sizeof bak, "%s.v2.bak", csv);
    cr_expect_eq(access(bak, F_OK), -1);
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_expect_eq(t.nrows, 5);
    table_free(&t);
}

/* A column the schema no longer has is kept, at the end. */
Test(store, older_header_extra_column_is_kept, .init = mk_tmp, .fini = rm_tmp) {
    write_old_csv(",retired_key", ",7");
    Table t;
    char err[512] = "";
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.ncols, store_columns(NULL) + 1);
    cr_expect_str_eq(t.cols[t.ncols - 1], "retired_key");
    cr_expect_str_eq(table_get(&t, 2, "retired_key"), "7");
    table_free(&t);
    Row r;
    make_row(&r, "new", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    make_row(&r, "newer", "ok", NULL);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_expect_eq(t.skipped, 0);
    cr_assert_eq(t.nrows, 5);
    expect_old_rows(&t);
    cr_expect_str_eq(table_get(&t, 0, "retired_key"), "7");
    cr_expect_str_eq(table_get(&t, 4, "retired_key"), "");
    cr_expect_str_eq(table_get(&t, 4, "run_id"), "newer");
    table_free(&t);
}

/* Writers racing on an older file: one migrates, the others wait on the
 * lock and append to the migrated file; nothing lost, one backup. */
Test(store, older_header_concurrent_appends, .init = mk_tmp, .fini = rm_tmp) {
    enum { KIDS = 6, ROWS = 20 };
    write_old_csv(NULL, NULL);
    pid_t pid[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pid[k] = fork();
        cr_assert(pid[k] >= 0);
        if (pid[k] == 0) {
            Row r;
            char id[32], err[512];
            for (int i = 0; i < ROWS; i++) {
                snprintf(id, sizeof id, "k%d-r%d", k, i);
                make_row(&r, id, "ok", NULL);
                if (store_append(csv, r.v, r.n, err, sizeof err) != 0) _exit(1);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int st;
        cr_assert_eq(waitpid(pid[k], &st, 0), pid[k]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed", k);
    }
    Table t;
    char err[512] = "", bak[400];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_expect_eq(t.nrows, 3 + KIDS * ROWS);
    cr_expect_eq(t.skipped, 0);
    expect_old_rows(&t);
    table_free(&t);
    snprintf(bak, sizeof bak, "%s.v1.bak", csv);
    cr_expect_eq(access(bak, F_OK), 0);
    snprintf(bak, sizeof bak, "%s.v2.bak", csv);
    cr_expect_eq(access(bak, F_OK), -1, "migrated once");
}

/* ---- one spelling of config values (rowfmt.h) ---- */

Test(store, floats_are_written_shortest_round_trip) {
    char b[64];
    rowfmt_double(0.003, b, sizeof b);
    cr_expect_str_eq(b, "0.003");
    rowfmt_double(0.1, b, sizeof b);
    cr_expect_str_eq(b, "0.1");
    rowfmt_double(1e-8, b, sizeof b);
    cr_expect_str_eq(b, "1e-08");
    rowfmt_double(0.999, b, sizeof b);
    cr_expect_str_eq(b, "0.999");
    rowfmt_double(2.5e-4, b, sizeof b);
    cr_expect_str_eq(b, "0.00025");
    rowfmt_double(1.0 / 3, b, sizeof b);
    cr_expect_str_eq(b, "0.3333333333333333");
    rowfmt_double(0.1 + 0.2, b, sizeof b);
    cr_expect_str_eq(b, "0.30000000000000004");
    rowfmt_double(-0.0, b, sizeof b);
    cr_expect_str_eq(b, "-0");
    /* every double: parses back exactly, and no fewer digits would */
    unsigned long long x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v)) continue;
        rowfmt_double(v, b, sizeof b);
        cr_assert(strtod(b, NULL) == v, "%s does not round-trip %.17g", b, v);
        int digits = 0, lead = 1; /* significant digits: from the first nonzero one */
        for (const char *c = b; *c && *c != 'e'; c++) {
            if (*c >= '1' && *c <= '9') lead = 0;
            digits += !lead && *c >= '0' && *c <= '9';
        }
        char shorter[400];
        snprintf(shorter, sizeof shorter, "%.*g", digits - 1, v);
        cr_assert(digits <= 1 || strtod(shorter, NULL) != v, "%s is not the shortest (%s)", b, shorter);
    }
    const CfgKey *lr = config_key("lr"), *seed = config_key("seed"), *tgt = config_key("lora_targets");
    rowfmt_value(lr, "0.0030000000000000001", b, sizeof b);
    cr_expect_str_eq(b, "0.003");
    rowfmt_value(lr, "fast", b, sizeof b);
    cr_expect_str_eq(b, "fast", "text that is no number is kept");
    rowfmt_value(lr, "", b, sizeof b);
    cr_expect_str_eq(b, "");
    rowfmt_value(seed, "00082", b, sizeof b);
    cr_expect_str_eq(b, "00082", "only floats are rewritten");
    rowfmt_value(tgt, "q,v", b, sizeof b);
    cr_expect_str_eq(b, "q,v");
}

/* The runs.csv text of one key of a config given as key=value pairs. */
static void csv_text(const char *const *kv, const char *key, char *out, size_t n) {
    Config c;
    char err[256];
    config_defaults(&c);
    for (int i = 0; kv[i]; i++) cr_assert_eq(config_set_kv(&c, kv[i], err, sizeof err), 0, "%s", err);
    rowfmt_config_value(&c, config_key(key), out, n);
}

Test(store, keys_without_effect_are_written_empty) {
    char v[64];
    const char *ntp[] = {"loss=ntp", "lambda=2", NULL}, *jepa[] = {"loss=jepa", "lambda=2", NULL};
    csv_text(ntp, "lambda", v, sizeof v);
    cr_expect_str_eq(v, "");
    csv_text(ntp, "k", v, sizeof v);
    cr_expect_str_eq(v, "");
    csv_text(ntp, "ld", v, sizeof v);
    cr_expect_str_eq(v, "");
    csv_text(ntp, "gamma", v, sizeof v);
    cr_expect_str_eq(v, "1", "gamma always has an effect");
    csv_text(jepa, "lambda", v, sizeof v);
    cr_expect_str_eq(v, "2");
    csv_text(jepa, "k", v, sizeof v);
    cr_expect_str_eq(v, "1");
    const char *nolora[] = {"lora_alpha=16", NULL}, *lora[] = {"lora_rank=8", "lora_alpha=16", NULL};
    csv_text(nolora, "lora_alpha", v, sizeof v);
    cr_expect_str_eq(v, "");
    csv_text(lora, "lora_alpha", v, sizeof v);
    cr_expect_str_eq(v, "16");
    csv_text(lora, "lora_dropout", v, sizeof v);
    cr_expect_str_eq(v, "0.1");
    /* a key whose requirement names a key without effect has none either */
    const char *tau_ntp[] = {"loss=ntp", "jepa_metric=infonce", NULL}, *tau[] = {"loss=jepa", "jepa_metric=infonce", NULL};
    csv_text(tau_ntp, "infonce_tau", v, sizeof v);
    cr_expect_str_eq(v, "");
    csv_text(tau, "infonce_tau", v, sizeof v);
    cr_expect_str_eq(v, "0.07");
}

/* The values of config c as the writer before rowfmt.h spelled them (config_get for
 * every key), with the other columns of a finished run. */
static void old_style_row(Row *r, const Config *c, const char *run_id) {
    make_row(r, run_id, "ok", NULL);
    int ns;
    const CfgKey *s = config_schema(&ns);
    for (int i = 0; i < ns; i++) {
        int col = store_column_index(s[i].name);
        config_get(c, &s[i], r->buf[col], sizeof r->buf[col]);
        r->v[col] = r->buf[col];
    }
    r->v[store_column_index("grid")] = "g";
    r->v[store_column_index("arm")] = "baseline";
    r->v[store_column_index("acc_exact")] = "40.0000";
    r->v[store_column_index("acc_startswith")] = "41.0000";
}

/* A row written before the one spelling and a row of the same config written by
 * record_run after it (another seed) read identically and land in one report cell. */
Test(store, old_and_new_spellings_of_one_config_are_one_cell, .init = mk_tmp, .fini = rm_tmp) {
    Config c;
    char err[1024] = "";
    config_defaults(&c);
    const char *kv[] = {"model=pico", "loss=ntp", "lambda=0.5", "lr=3e-3", "lora_dropout=0.2", "epochs=1", NULL};
    for (int i = 0; kv[i]; i++) cr_assert_eq(config_set_kv(&c, kv[i], err, sizeof err), 0, "%s", err);
    Row r;
    old_style_row(&r, &c, "00000000000000aa");
    cr_assert_str_eq(r.v[store_column_index("lr")], "0.0030000000000000001");
    cr_assert_str_eq(r.v[store_column_index("lambda")], "0.5");
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), 0, "%s", err);
    c.seed = 23;
    TrainResult res = {.status = "ok"};
    res.eval = (EvalResult){.task = task_find("synth"), .n = 100, .nmetric = 3, .acc = {44, 45, 46}};
    cr_assert_eq(record_run(csv, "g", "baseline", &c, &res, "s", "e", NULL, NULL, NULL, err, sizeof err), 0, "%s", err);
    size_t len;
    char *text = slurp(csv, &len);
    cr_expect(strstr(text, "0.0030000000000000001") != NULL, "the old row is on disk as it was written");
    char *second = strchr(strchr(text, '\n') + 1, '\n') + 1;
    cr_expect(strstr(second, ",0.003,") && !strstr(second, "0.0030000000000000001"), "new row: %s", second);
    free(text);
    Table t;
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 2);
    int ns;
    const CfgKey *s = config_schema(&ns);
    for (int i = 0; i < ns; i++)
        if (strcmp(s[i].name, "seed") && strcmp(s[i].name, "threads"))
            cr_expect_str_eq(table_get(&t, 0, s[i].name), table_get(&t, 1, s[i].name), "key %s", s[i].name);
    cr_expect_str_eq(table_get(&t, 0, "lambda"), "");
    cr_expect_str_eq(table_get(&t, 0, "lr"), "0.003");
    cr_expect_str_eq(table_get(&t, 0, "lora_dropout"), "");
    char *md = NULL;
    cr_assert_eq(report_markdown(&t, "g", NULL, &md, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(md, "| baseline | 2 |") != NULL, "both rows in one cell:\n%s", md);
    free(md);
    table_free(&t);
}

/* Other CSV files (not runs.csv) are read as they are. */
Test(store, other_csv_files_are_not_rewritten, .init = mk_tmp, .fini = rm_tmp) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/results/g && printf 'kind,lr,lambda\\nx,0.0030000000000000001,1\\n' > %s",
             tmpdir, csv);
    cr_assert_eq(system(cmd), 0);
    Table t;
    char err[256];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 1);
    cr_expect_str_eq(table_get(&t, 0, "lr"), "0.0030000000000000001");
    cr_expect_str_eq(table_get(&t, 0, "lambda"), "1");
    table_free(&t);
}
