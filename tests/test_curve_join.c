/* Tests of harness/curve_join.c: the final curve.csv epoch row's collapse
 * diagnostics joined onto runs.csv rows, and `harness report`'s statistics on
 * them (report_render). runs.csv is written with store_append into a temp dir
 * and read back with store_read, as `harness report` does. */
#define _GNU_SOURCE /* mkdtemp, strdup, symlink */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "curve_join.h"
#include "diagnostics.h"
#include "report.h"
#include "store.h"
#include "runs_row.h"

static char tmpdir[64];
static char gdir[128]; /* the grid directory: runs.csv and runs/<run_id>/ */
static char csv[192];

static void mk_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_curve_join_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(gdir, sizeof gdir, "%s/fig", tmpdir);
    snprintf(csv, sizeof csv, "%s/runs.csv", gdir);
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

TestSuite(curve_join, .init = mk_tmp, .fini = rm_tmp);

/* Append one runs.csv row: arm, "key=value,..." config overrides, seed,
 * status; every result column "0". Its run_id into id (17 bytes). */
static void add_run(const char *arm, const char *set, unsigned seed, const char *status, char *id) {
    static char buf[RUNS_ROW_MAX][128];
    const char *v[RUNS_ROW_MAX];
    char err[256];
    int n = runs_row(set, seed, arm, status, id, v, buf);
    cr_assert_eq(store_append(csv, v, n, err, sizeof err), 0, "%s", err);
}

/* The path of run id's curve.csv into p (size n), its directory created. */
static void curve_path(const char *id, char *p, size_t n) {
    char d[256];
    mkdir(gdir, 0755);
    snprintf(d, sizeof d, "%s/runs", gdir);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/runs/%s", gdir, id);
    mkdir(d, 0755);
    snprintf(p, n, "%s/curve.csv", d);
}

/* Write text as run id's curve.csv. */
static void write_curve(const char *id, const char *text) {
    char p[300];
    curve_path(id, p, sizeof p);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

#define CURVE_HEADER                                                                                                \
    "kind,step,epoch,ntp_loss,jepa_dist,lr,grad_norm,tokens,seconds,acc_exact,acc_startswith,acc_dfa," DIAG_CSV_HEADER \
    ",jepa_reg\n"

/* Append to b a curve.csv epoch row (kind "epoch") whose diagnostic i is
 * base + i/100 and jepa_reg base + 0.5 ("%.6f"). */
static void epoch_row(char *b, size_t n, double base) {
    size_t l = strlen(b);
    l += (size_t)snprintf(b + l, n - l, "epoch,100,1,0.5,0.1,,,1000,10.0,50.00,55.00,60.00");
    for (int i = 0; i < DIAG_CSV_FIELDS; i++) l += (size_t)snprintf(b + l, n - l, ",%.6f", base + i / 100.0);
    snprintf(b + l, n - l, ",%.6f\n", base + 0.5);
}

/* Append a step row (diagnostics empty, jepa_reg 9.0). */
static void step_row(char *b, size_t n) {
    size_t l = strlen(b);
    l += (size_t)snprintf(b + l, n - l, "step,50,1,0.6,0.2,0.001,1.5,500,5.0,,,");
    for (int i = 0; i < DIAG_CSV_FIELDS; i++) l += (size_t)snprintf(b + l, n - l, ",");
    snprintf(b + l, n - l, ",9.000000\n");
}

/* runs.csv read back and joined with its run directories; the join's rc. */
static int read_join(Table *t, int *nj, char *err, size_t errn) {
    cr_assert_eq(store_read(csv, t, err, errn), 0, "%s", err);
    return curve_join(t, gdir, nj, err, errn);
}

/* The value of column col in the LAST row of run id (NULL: no such column). */
static const char *val(const Table *t, const char *id, const char *col) {
    return table_get(t, store_last_row(t, id), col);
}

static int count_cols(const Table *t, const char *name) {
    int k = 0;
    for (int c = 0; c < t->ncols; c++) k += strcmp(t->cols[c], name) == 0;
    return k;
}

Test(curve_join, last_epoch_row_is_joined) {
    char id[17], b[4096] = CURVE_HEADER, err[512] = "";
    add_run("jepa", "loss=jepa", 1, "ok", id);
    step_row(b, sizeof b);
    epoch_row(b, sizeof b, 0.1);
    step_row(b, sizeof b);
    epoch_row(b, sizeof b, 0.2);
    step_row(b, sizeof b); /* a later step row is not an epoch row */
    write_curve(id, b);
    Table t;
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    int n0 = t.ncols, nj = -1;
    cr_assert_eq(curve_join(&t, gdir, &nj, err, sizeof err), 0, "%s", err);
    cr_expect_eq(nj, 1);
    cr_expect_eq(t.ncols, n0 + CURVE_JOIN_COLUMNS);
    for (int i = 0; i < DIAG_CSV_FIELDS; i++)
        cr_expect_eq(count_cols(&t, diag_csv_names[i]), 1, "%s", diag_csv_names[i]);
    cr_expect_eq(count_cols(&t, "jepa_reg"), 1);
    cr_expect_eq(count_cols(&t, "jepa_reg_loss"), 1);
    cr_expect_str_eq(val(&t, id, "enc_text_cos"), "0.200000");
    cr_expect_str_eq(val(&t, id, "pred_text_cos"), "0.220000");
    cr_expect_str_eq(val(&t, id, "pred_eos_cos"), "0.340000");
    cr_expect_str_eq(val(&t, id, "jepa_reg_loss"), "0.700000"); /* curve.csv's jepa_reg */
    cr_expect_str_eq(val(&t, id, "jepa_reg"), "none");         /* runs.csv's config key, kept */
    cr_expect_str_eq(val(&t, id, "acc_exact"), "0");           /* runs.csv's own column, not the curve's */
    table_free(&t);
}

Test(curve_join, ok_run_without_directory_is_empty) {
    char a[17], b[17], text[4096] = CURVE_HEADER, err[512] = "";
    add_run("jepa", "loss=jepa", 1, "ok", a);
    add_run("jepa", "loss=jepa", 2, "ok", b); /* no run directory: a fresh clone */
    epoch_row(text, sizeof text, 0.1);
    write_curve(a, text);
    Table t;
    int nj = -1;
    cr_assert_eq(read_join(&t, &nj, err, sizeof err), 0, "%s", err);
    cr_expect_eq(nj, 1);
    cr_expect_str_eq(val(&t, a, "pred_text_cos"), "0.120000");
    for (int i = 0; i < DIAG_CSV_FIELDS; i++) cr_expect_str_eq(val(&t, b, diag_csv_names[i]), "");
    cr_expect_str_eq(val(&t, b, "jepa_reg_loss"), "");
    table_free(&t);
    /* a grid with no run directory at all */
    rm_tmp();
    mk_tmp();
    add_run("jepa", "loss=jepa", 1, "ok", a);
    cr_assert_eq(read_join(&t, &nj, err, sizeof err), 0, "%s", err);
    cr_expect_eq(nj, 0);
    cr_expect_str_eq(val(&t, a, "enc_text_cos"), "");
    table_free(&t);
}

Test(curve_join, rows_not_ok_are_not_joined) {
    char ok[17], bad[17], div[17], text[4096] = CURVE_HEADER, err[512] = "";
    add_run("jepa", "loss=jepa", 1, "ok", ok);
    add_run("jepa", "loss=jepa", 2, "failed", bad);
    add_run("jepa", "loss=jepa", 3, "diverged", div);
    epoch_row(text, sizeof text, 0.3);
    write_curve(ok, text);
    write_curve(bad, text);
    char p[300]; /* a diverged run's curve.csv is not even read */
    curve_path(div, p, sizeof p);
    cr_assert_eq(mkdir(p, 0755), 0);
    Table t;
    int nj = -1;
    cr_assert_eq(read_join(&t, &nj, err, sizeof err), 0, "%s", err);
    cr_expect_eq(nj, 1);
    cr_expect_str_eq(val(&t, ok, "enc_text_cos"), "0.300000");
    cr_expect_str_eq(val(&t, bad, "enc_text_cos"), "");
    cr_expect_str_eq(val(&t, bad, "jepa_reg_loss"), "");
    cr_expect_str_eq(val(&t, div, "enc_text_cos"), "");
    table_free(&t);
}

/* A Table by hand: run_id, status, pred_text_cos (its own value "kept"). */
static void hand_table(Table *t, const char *id) {
    static const char *const cols[] = {"run_id", "status", "pred_text_cos"};
    const char *const row[] = {id, "ok", "kept"};
    memset(t, 0, sizeof *t);
    t->ncols = 3;
    t->nrows = 1;
    t->cols = malloc(3 * sizeof *t->cols);
    t->rows = malloc(sizeof *t->rows);
    t->rows[0] = malloc(3 * sizeof *t->rows[0]);
    cr_assert(t->cols && t->rows && t->rows[0]);
    for (int c = 0; c < 3; c++) t->cols[c] = strdup(cols[c]), t->rows[0][c] = strdup(row[c]);
}

Test(curve_join, existing_column_is_not_overwritten) {
    char text[4096] = CURVE_HEADER, err[512] = "";
    const char *id = "00000000000000aa";
    epoch_row(text, sizeof text, 0.1);
    write_curve(id, text);
    Table t;
    hand_table(&t, id);
    int nj = -1;
    cr_assert_eq(curve_join(&t, gdir, &nj, err, sizeof err), 0, "%s", err);
    cr_expect_eq(nj, 1);
    cr_expect_eq(t.ncols, 3 + CURVE_JOIN_COLUMNS - 1);
    cr_expect_eq(count_cols(&t, "pred_text_cos"), 1);
    cr_expect_str_eq(table_get(&t, 0, "pred_text_cos"), "kept");
    cr_expect_str_eq(table_get(&t, 0, "enc_code_cos"), "0.110000");
    cr_expect_str_eq(table_get(&t, 0, "jepa_reg_loss"), "0.600000");
    /* joining again adds nothing and keeps the first values */
    char text2[4096] = CURVE_HEADER;
    epoch_row(text2, sizeof text2, 0.4);
    write_curve(id, text2);
    cr_assert_eq(curve_join(&t, gdir, &nj, err, sizeof err), 0, "%s", err);
    cr_expect_eq(t.ncols, 3 + CURVE_JOIN_COLUMNS - 1);
    cr_expect_str_eq(table_get(&t, 0, "pred_text_cos"), "kept");
    cr_expect_str_eq(table_get(&t, 0, "enc_code_cos"), "0.110000");
    table_free(&t);
}

Test(curve_join, missing_columns_and_short_rows_read_as_empty) {
    char a[17], b[17], c[17], err[512] = "";
    add_run("jepa", "loss=jepa", 1, "ok", a);
    add_run("jepa", "loss=jepa", 2, "ok", b);
    add_run("jepa", "loss=jepa", 3, "ok", c);
    /* an older build's curve: no pred_text_cos, pred_top1 ... jepa_reg; the later epoch row is short */
    write_curve(a, "kind,step,epoch,enc_text_cos,enc_code_cos\n"
                   "epoch,100,1,0.91,0.92\n"
                   "epoch,200,2,0.81\n"
                   "epoch,300,3,0.71,0.72,0.73,0.74\n");
    /* no kind column: no epoch row */
    write_curve(b, "step,epoch,enc_text_cos\n100,1,0.5\n");
    /* a header only */
    write_curve(c, "kind,enc_text_cos\n");
    Table t;
    int nj = -1;
    cr_assert_eq(read_join(&t, &nj, err, sizeof err), 0, "%s", err);
    cr_expect_eq(nj, 1);
    cr_expect_eq(t.skipped, 0);
    cr_expect_str_eq(val(&t, a, "enc_text_cos"), "0.91");
    cr_expect_str_eq(val(&t, a, "enc_code_cos"), "0.92");
    cr_expect_str_eq(val(&t, a, "pred_text_cos"), "");
    cr_expect_str_eq(val(&t, a, "jepa_reg_loss"), "");
    cr_expect_str_eq(val(&t, b, "enc_text_cos"), "");
    cr_expect_str_eq(val(&t, c, "enc_text_cos"), "");
    table_free(&t);
}

Test(curve_join, unreadable_curve_is_an_error_naming_it) {
    char a[17], b[17], p[300], err[512] = "";
    add_run("jepa", "loss=jepa", 1, "ok", a);
    curve_path(a, p, sizeof p);
    cr_assert_eq(mkdir(p, 0755), 0); /* curve.csv is a directory */
    Table t;
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    int n0 = t.ncols, nj = -1;
    cr_expect_eq(curve_join(&t, gdir, &nj, err, sizeof err), -1);
    cr_expect_not_null(strstr(err, p), "error '%s' does not name %s", err, p);
    cr_expect_eq(t.ncols, n0); /* t unchanged */
    cr_expect_eq(nj, 0);
    table_free(&t);
    /* a curve.csv that cannot be opened (a symlink to itself: ELOOP, even for root) */
    rm_tmp();
    mk_tmp();
    add_run("jepa", "loss=jepa", 2, "ok", b);
    curve_path(b, p, sizeof p);
    cr_assert_eq(symlink("curve.csv", p), 0);
    err[0] = 0;
    cr_expect_eq(read_join(&t, &nj, err, sizeof err), -1);
    cr_expect_not_null(strstr(err, p), "error '%s' does not name %s", err, p);
    table_free(&t);
}

Test(curve_join, report_tests_a_joined_column) {
    static const double PRED[3] = {0.50, 0.60, 0.85}; /* mean 0.65, sd sqrt(0.0325) = 0.1803 */
    char id[17], err[512] = "";
    for (unsigned s = 1; s <= 3; s++) {
        char text[4096] = CURVE_HEADER;
        add_run("baseline", "loss=ntp", s, "ok", id);
        epoch_row(text, sizeof text, 0.9);
        write_curve(id, text);
        snprintf(text, sizeof text, "%s", CURVE_HEADER);
        add_run("jepa", "loss=jepa", s, "ok", id);
        epoch_row(text, sizeof text, PRED[s - 1] - 0.02); /* pred_text_cos is diagnostic 2 */
        write_curve(id, text);
    }
    add_run("jepa", "loss=jepa", 4, "ok", id); /* no curve: left out, not counted as 0 */
    Table t;
    int nj = -1;
    cr_assert_eq(read_join(&t, &nj, err, sizeof err), 0, "%s", err);
    cr_expect_eq(nj, 6);
    ReportOpts o = {"pred_text_cos", -1, REPORT_MD};
    char *md = NULL;
    cr_assert_eq(report_render(&t, "fig", NULL, &o, &md, err, sizeof err), 0, "%s", err);
    char *row = row_of(md, "jepa");
    cr_expect_not_null(strstr(row, "| 3 | **0.65 ± 0.1803** |"), "row: %s", row);
    char *base = row_of(md, "baseline");
    cr_expect_not_null(strstr(base, "| 3 | 0.92 ± 0 |"), "row: %s", base);
    free(row);
    free(base);
    free(md);
    table_free(&t);
}
