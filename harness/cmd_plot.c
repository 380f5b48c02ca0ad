/* harness plot RUN_DIR [--out DIR]: one run's training curves (its
 * curve.csv, engine/train.c) drawn with fig_lines (analysis/figure.h) into
 * DIR/curves.{dat,gp,png,svg} (default DIR: RUN_DIR/plots). Panels: NTP
 * loss per step (log y), JEPA distance per step (only when the run logged
 * one), learning rate per step, and the per-epoch accuracies in %: one
 * curve per acc_<name> column of the header (the run task's metrics,
 * engine/task.h), titled with the metric's name. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "csvline.h"
#include "errmsg.h"
#include "figure.h"

/* The curve.csv columns drawn, found by header name (older files lack the
 * collapse diagnostics, which are not drawn). The accuracy columns are
 * every column named ACC_PREFIX<metric>, in header order. */
enum { C_KIND, C_STEP, C_EPOCH, C_NTP, C_JEPA, C_LR, NCOL };
static const char *const COL_NAME[NCOL] = {"kind", "step", "epoch", "ntp_loss", "jepa_dist", "lr"};
static const int COL_REQUIRED[NCOL] = {1, 1, 1, 1, 0, 1};
#define ACC_PREFIX "acc_"

/* One growing column of values. */
typedef struct Vec {
    double *v;
    int n, cap;
} Vec;

/* The drawn values: step rows (step, ntp, jepa, lr) and epoch rows (epoch,
 * and acc[j] for each accuracy column j, in %); NaN where a field is empty.
 * torn: line number of an unterminated malformed last line that was
 * skipped (0: none). */
typedef struct Curve {
    Vec step, ntp, jepa, lr, epoch;
    int nacc;           /* accuracy columns */
    int *acc_col;       /* (nacc) their header indices */
    char **acc_name;    /* (nacc) their metric names: the column name after ACC_PREFIX (owned) */
    Vec *acc;           /* (nacc) their values per epoch row */
    int torn;
} Curve;

static int vec_push(Vec *a, double x) {
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 256;
        double *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        a->v = v, a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

static void curve_free(Curve *c) {
    Vec *v[] = {&c->step, &c->ntp, &c->jepa, &c->lr, &c->epoch};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) free(v[i]->v);
    for (int j = 0; j < c->nacc; j++) free(c->acc[j].v), free(c->acc_name[j]);
    free(c->acc);
    free(c->acc_col);
    free(c->acc_name);
    memset(c, 0, sizeof *c);
}

/* ---- curve.csv ---- */

/* Field s as a number into *v (empty: NaN). */
static int field_num(const char *s, double *v) {
    if (!*s) { *v = NAN; return 0; }
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *end || end == s ? -1 : 0;
}

/* The metric name of header field f when it is an accuracy column
 * ACC_PREFIX<name> with a non-empty name, else NULL. */
static const char *acc_metric(const char *f) {
    size_t pl = strlen(ACC_PREFIX);
    return !strncmp(f, ACC_PREFIX, pl) && f[pl] ? f + pl : NULL;
}

/* The accuracy columns of header fs into c, in header order. A metric
 * named twice is an error. */
static int read_acc_columns(const Fields *fs, Curve *c, const char *path, char *err, size_t errn) {
    int n = 0;
    for (int i = 0; i < fs->n; i++) n += acc_metric(fs->f[i]) != NULL;
    if (n == 0) return 0;
    c->acc_col = malloc((size_t)n * sizeof *c->acc_col);
    c->acc_name = calloc((size_t)n, sizeof *c->acc_name);
    c->acc = calloc((size_t)n, sizeof *c->acc);
    if (!c->acc_col || !c->acc_name || !c->acc) return errf(err, errn, "out of memory reading %s", path);
    for (int i = 0; i < fs->n; i++) {
        const char *name = acc_metric(fs->f[i]);
        if (!name) continue;
        for (int j = 0; j < c->nacc; j++)
            if (!strcmp(c->acc_name[j], name))
                return errf(err, errn, "%s:1: column '%s' appears twice in the header", path, fs->f[i]);
        if (!(c->acc_name[c->nacc] = strdup(name))) return errf(err, errn, "out of memory reading %s", path);
        c->acc_col[c->nacc++] = i;
    }
    return 0;
}

/* Map the header's columns into col[NCOL] (-1: absent) and its accuracy
 * columns into c. */
static int read_header(const Fields *fs, int *col, Curve *c, const char *path, char *err, size_t errn) {
    for (int k = 0; k < NCOL; k++) {
        col[k] = -1;
        for (int i = 0; i < fs->n; i++)
            if (!strcmp(fs->f[i], COL_NAME[k])) { col[k] = i; break; }
        if (col[k] < 0 && COL_REQUIRED[k])
            return errf(err, errn, "%s:1: no column '%s' in the header (not a curve.csv?)", path, COL_NAME[k]);
    }
    return read_acc_columns(fs, c, path, err, errn);
}

/* Column k of row fs as a number (NaN when the column is absent). */
static int row_num(const Fields *fs, const int *col, int k, double *v, const char *path, int line, char *err,
                   size_t errn) {
    if (col[k] < 0) { *v = NAN; return 0; }
    if (field_num(fs->f[col[k]], v))
        return errf(err, errn, "%s:%d: column '%s': '%s' is not a number", path, line, COL_NAME[k], fs->f[col[k]]);
    return 0;
}

/* Append the accuracies of epoch row fs (line number line) to c. */
static int add_accs(Curve *c, const Fields *fs, const char *path, int line, char *err, size_t errn) {
    for (int j = 0; j < c->nacc; j++) {
        double v;
        const char *f = fs->f[c->acc_col[j]];
        if (field_num(f, &v))
            return errf(err, errn, "%s:%d: column '" ACC_PREFIX "%s': '%s' is not a number", path, line,
                        c->acc_name[j], f);
        if (vec_push(&c->acc[j], v)) return errf(err, errn, "out of memory reading %s", path);
    }
    return 0;
}

/* Append the data row fs (line number line) to c. */
static int add_row(Curve *c, const Fields *fs, const int *col, int ncols, const char *path, int line, char *err,
                   size_t errn) {
    if (fs->n != ncols) return errf(err, errn, "%s:%d: %d fields, the header has %d", path, line, fs->n, ncols);
    const char *kind = fs->f[col[C_KIND]];
    int step = !strcmp(kind, "step");
    if (!step && strcmp(kind, "epoch"))
        return errf(err, errn, "%s:%d: kind '%s' is neither 'step' nor 'epoch'", path, line, kind);
    double v[NCOL];
    for (int k = C_STEP; k < NCOL; k++)
        if (row_num(fs, col, k, &v[k], path, line, err, errn)) return -1;
    int key = step ? C_STEP : C_EPOCH;
    if (isnan(v[key])) return errf(err, errn, "%s:%d: empty '%s' on a %s row", path, line, COL_NAME[key], kind);
    if (!step && add_accs(c, fs, path, line, err, errn)) return -1;
    int bad = !step ? vec_push(&c->epoch, v[C_EPOCH])
                    : vec_push(&c->step, v[C_STEP]) || vec_push(&c->ntp, v[C_NTP]) ||
                          vec_push(&c->jepa, v[C_JEPA]) || vec_push(&c->lr, v[C_LR]);
    return bad ? errf(err, errn, "out of memory reading %s", path) : 0;
}

/* Parse the whole text (len bytes) of path into c. A last line without its
 * '\n' that is malformed or short (a run still writing it) is skipped and
 * noted in c->torn. */
static int parse_curve(const char *text, size_t len, const char *path, Curve *c, char *err, size_t errn) {
    int col[NCOL], ncols = 0, line = 0, rc = 0;
    for (size_t at = 0; at < len && rc == 0;) {
        const char *s = text + at, *nl = memchr(s, '\n', len - at);
        size_t l = nl ? (size_t)(nl - s) : len - at;
        at += l + 1;
        line++;
        if (l && s[l - 1] == '\r') l--;
        if (l == 0 && line > 1) continue; /* blank line */
        Fields fs;
        int bad = parse_line(s, l, &fs);
        if (!nl && line > 1 && (bad || fs.n != ncols)) c->torn = line; /* being written */
        else if (bad) rc = errf(err, errn, "%s:%d: malformed CSV line", path, line);
        else if (line == 1) {
            ncols = fs.n;
            rc = read_header(&fs, col, c, path, err, errn);
        } else {
            rc = add_row(c, &fs, col, ncols, path, line, err, errn);
        }
        fields_free(&fs);
    }
    if (rc == 0 && line == 0) rc = errf(err, errn, "%s: empty file (no header)", path);
    return rc;
}

/* Read path into c. Returns 0, or -1 with err ("FILE:LINE: ..."). */
static int read_curve(const char *path, Curve *c, char *err, size_t errn) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) return errf(err, errn, "cannot read %s: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0, r;
    do {
        if (len == cap) {
            char *t = realloc(text, cap = cap ? 2 * cap : 65536);
            if (!t) { free(text); fclose(f); return errf(err, errn, "out of memory reading %s", path); }
            text = t;
        }
        r = fread(text + len, 1, cap - len, f);
        len += r;
    } while (r > 0);
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? errf(err, errn, "cannot read %s", path) : parse_curve(text, len, path, c, err, errn);
    free(text);
    if (rc) curve_free(c);
    return rc;
}

/* ---- the figure ---- */

/* The figure title: run_id, then model, loss (λ and k unless NTP) and seed
 * from RUN_DIR/config.txt when it is there. */
static void run_title(const char *run_dir, const char *run_id, char *t, size_t tn) {
    static const char *const KEYS[] = {"model", "loss", "lambda", "k", "seed"};
    char val[5][64] = {{0}}, path[4200], line[512];
    snprintf(path, sizeof path, "%s/config.txt", run_dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        for (int i = 0; i < 5; i++)
            if (!strcmp(line, KEYS[i])) snprintf(val[i], sizeof val[i], "%s", eq + 1);
    }
    if (f) fclose(f);
    int ntp = !strcmp(val[1], "ntp"), n = snprintf(t, tn, "run %s", run_id);
    const char *label[5] = {"model", "loss", "λ", "k", "seed"};
    for (int i = 0; i < 5 && n >= 0 && (size_t)n < tn; i++)
        if (val[i][0] && !(ntp && (i == 2 || i == 3)))
            n += snprintf(t + n, tn - (size_t)n, "%s%s=%s", n > 0 && strchr(t, ':') ? ", " : ": ", label[i], val[i]);
}

/* 1 when v holds a finite value. */
static int any_finite(const Vec *v) {
    for (int i = 0; i < v->n; i++)
        if (isfinite(v->v[i])) return 1;
    return 0;
}

/* Draw c into base with title; returns fig_lines's result. The accuracy
 * panel has one series per accuracy column, titled with its metric name,
 * and is left out when the header has none. */
static int draw_curve(const Curve *c, const char *base, const char *title, char *err, size_t errn) {
    FigSeries ntp = {"", c->step.n, c->step.v, c->ntp.v, NULL};
    FigSeries jepa = {"", c->step.n, c->step.v, c->jepa.v, NULL};
    FigSeries lr = {"", c->step.n, c->step.v, c->lr.v, NULL};
    FigSeries *acc = c->nacc ? calloc((size_t)c->nacc, sizeof *acc) : NULL;
    if (c->nacc && !acc) return errf(err, errn, "out of memory");
    for (int j = 0; j < c->nacc; j++) acc[j] = (FigSeries){c->acc_name[j], c->epoch.n, c->epoch.v, c->acc[j].v, NULL};
    FigPanel p[4]; /* single series titled "": no key, the panel title names them */
    int np = 0;
    p[np++] = (FigPanel){"NTP loss per step", "step", "loss (nats/token)", 0, 1, 0, 1, &ntp};
    if (any_finite(&c->jepa)) p[np++] = (FigPanel){"JEPA distance per step", "step", "distance", 0, 0, 0, 1, &jepa};
    p[np++] = (FigPanel){"learning rate per step", "step", "learning rate", 0, 0, 0, 1, &lr};
    if (c->nacc) p[np++] = (FigPanel){"test accuracy per epoch", "epoch", "accuracy (%)", 0, 0, 1, c->nacc, acc};
    int rc = fig_lines(base, title, p, np, err, errn);
    free(acc);
    return rc;
}

/* ---- the command ---- */

static void usage(FILE *f) {
    fprintf(f, "usage: harness plot RUN_DIR [--out DIR]\n"
               "  Draws RUN_DIR/curve.csv (NTP loss, JEPA distance when logged, learning rate per step;\n"
               "  per epoch, the accuracy of every acc_<metric> column, titled with the metric's name) with\n"
               "  gnuplot into DIR/curves.{dat,gp,png,svg} (default DIR: RUN_DIR/plots) and prints the paths\n"
               "  written. `cd DIR && gnuplot curves.gp` redraws.\n"
               "  Exit status: 0 ok, 1 error, 2 usage.\n");
}

/* RUN_DIR's last component (trailing slashes ignored) into id. */
static void base_name(const char *dir, char *id, size_t n) {
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') l--;
    size_t s = l;
    while (s > 0 && dir[s - 1] != '/') s--;
    snprintf(id, n, "%.*s", (int)(l - s), dir + s);
}

int cmd_plot(int argc, char **argv) {
    const char *run_dir = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] != '-' && !run_dir) run_dir = argv[i];
        else { fprintf(stderr, "harness plot: unexpected argument '%s'\n", argv[i]); usage(stderr); return 2; }
    }
    if (!run_dir) { usage(stderr); return 2; }
    char dir[4096], path[4200], base[4300], id[1024], title[1400], err[2048];
    size_t dl = strlen(run_dir);
    while (dl > 1 && run_dir[dl - 1] == '/') dl--; /* no "//" in the paths printed */
    if (dl >= sizeof dir) { fprintf(stderr, "harness plot: path too long: %s\n", run_dir); return 2; }
    snprintf(dir, sizeof dir, "%.*s", (int)dl, run_dir);
    run_dir = dir;
    snprintf(path, sizeof path, "%s/curve.csv", run_dir);
    Curve c;
    if (read_curve(path, &c, err, sizeof err)) { fprintf(stderr, "harness plot: %s\n", err); return 1; }
    if (c.torn) fprintf(stderr, "harness plot: %s:%d: skipped an unfinished last line\n", path, c.torn);
    if (out) snprintf(base, sizeof base, "%s/curves", out);
    else snprintf(base, sizeof base, "%s/plots/curves", run_dir);
    base_name(run_dir, id, sizeof id);
    run_title(run_dir, id, title, sizeof title);
    int rc = draw_curve(&c, base, title, err, sizeof err);
    curve_free(&c);
    if (rc) { fprintf(stderr, "harness plot: %s\n", err); return 1; }
    const char *ext[4] = {"png", "svg", "dat", "gp"};
    for (int i = 0; i < 4; i++) printf("%s.%s\n", base, ext[i]);
    return 0;
}
