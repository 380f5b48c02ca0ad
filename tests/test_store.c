/* Tests of harness/store.c: runs.csv append, read, partial lines, locking. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "store.h"

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
    cr_assert_eq(n, 3 + ns + 19);
    cr_assert_str_eq(c[0], "run_id");
    cr_assert_str_eq(c[1], "grid");
    cr_assert_str_eq(c[2], "arm");
    for (int i = 0; i < ns; i++) cr_assert_str_eq(c[3 + i], s[i].name);
    cr_assert_str_eq(c[3 + ns], "status");
    cr_assert_str_eq(c[n - 1], "end_time");
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

    /* same count, one name differs */
    const char *const *cols;
    int n = store_columns(&cols);
    f = fopen(csv, "wb");
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? "," : "", i == 5 ? "renamed" : cols[i]);
    fputs("\n", f);
    fclose(f);
    cr_assert_eq(store_append(csv, r.v, r.n, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "renamed"), "%s", err);
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
