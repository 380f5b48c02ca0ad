/* harness report: the report of a grid's runs.csv (Markdown, LaTeX or
 * CSV; report.h report_render), printed and written beside it as
 * report.md (.tex, .csv). */
#define _GNU_SOURCE
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "curve_join.h"
#include "grid.h"
#include "record.h"
#include "report.h"
#include "store.h"

/* For each row of t, why its data changed since it was recorded
 * (record_data_changed, each data file hashed once), or NULL. NULL when out
 * of memory (or t has no rows). */
static const char **stale_rows(const Table *t) {
    const char **stale = t->nrows ? calloc((size_t)t->nrows, sizeof *stale) : NULL;
    HashCache hc = {0};
    char why[600];
    for (int r = 0; stale && r < t->nrows; r++)
        if (record_data_changed(t, r, &hc, why, sizeof why)) stale[r] = strdup(why);
    hash_cache_free(&hc);
    return stale;
}

static void report_usage(FILE *f) {
    fprintf(f,
            "usage: harness report CSV|GRID [--metric COLUMN] [--better higher|lower] [--format md|tex|csv]\n"
            "                      [--out FILE] [--results DIR]\n"
            "  CSV: a runs.csv; GRID: a .grid file or grid name (reads DIR/<name>/runs.csv, DIR = results).\n"
            "  Per cell: the metric's mean ± sd, and for each cell of an arm other than baseline the paired\n"
            "  one-tailed t-test against its baseline cell (runs paired by seed) with Δ, its 95%% confidence\n"
            "  interval, Cohen's d_z, t, df, p and Holm's p across the grid; the best cell is marked.\n"
            "  --metric COLUMN  the numeric result column tested (default acc_exact; e.g. acc_startswith,\n"
            "                   ntp_loss, jepa_dist, probe_sv_mean); another column is an error listing them.\n"
            "                   The collapse diagnostics of each run's final epoch row in its curve.csv\n"
            "                   (DIR/<name>/runs/<run_id>/, when the run directories are present) are metrics\n"
            "                   too: enc_text_cos, pred_text_cos, enc_text_erank, pred_code_gap, pred_top1,\n"
            "                   text_top1, pred_eos_cos, ... (README \"Collapse diagnostics\") and jepa_reg_loss\n"
            "                   (curve.csv's jepa_reg, the regulariser's R); a run without a value is left out\n"
            "  --better DIR     which direction is better: higher (test cell > baseline) or lower (cell <\n"
            "                   baseline); default lower for ntp_loss, jepa_dist and *_loss, else higher\n"
            "  --format F       md (default), tex (a booktabs tabular) or csv (one row per cell, unrounded)\n"
            "  --out FILE       where to write it (default: report.md, .tex or .csv beside the CSV)\n"
            "  Prints the report and writes it to FILE. Runs whose train/test data file changed since they\n"
            "  were recorded (its sha256 now, found as harness run finds it: $HARNESS_DATA or data/) are\n"
            "  listed as stale. A grid with no runs recorded is an error that prints the harness run command.\n");
}

/* The grid file that makes the runs of grid name (arg as given when it is a
 * .grid file, else grids/<name>.grid when it exists, else the name). */
static void grid_source(const char *arg, const char *name, char *out, size_t n) {
    size_t len = strlen(arg);
    char g[600];
    snprintf(g, sizeof g, "grids/%s.grid", name);
    if (len > 5 && !strcmp(arg + len - 5, ".grid")) snprintf(out, n, "%s", arg);
    else if (access(g, R_OK) == 0) snprintf(out, n, "%s", g);
    else snprintf(out, n, "%s", name);
}

/* "no runs recorded" with the command that makes them; returns 1. why:
 * what the results file lacks. */
static int no_runs(const char *arg, const char *grid, const char *csv, const char *results, const char *why) {
    char src[700];
    grid_source(arg, grid, src, sizeof src);
    fprintf(stderr, "harness report: no runs recorded for grid '%s' (%s %s); make them with:\n  harness run %s",
            grid, csv, why, src);
    if (strcmp(results, "results") != 0) fprintf(stderr, " --results %s", results);
    fprintf(stderr, "\n");
    return 1;
}

static int parse_format(const char *s, ReportFormat *f) {
    if (!strcmp(s, "md")) *f = REPORT_MD;
    else if (!strcmp(s, "tex")) *f = REPORT_TEX;
    else if (!strcmp(s, "csv")) *f = REPORT_CSV;
    else return -1;
    return 0;
}

/* The options of harness report; 0, 1 for --help (printed), 2 for a usage error. */
static int parse_args(int argc, char **argv, const char **arg, const char **out, const char **results,
                      ReportOpts *o) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            report_usage(stdout);
            return 1;
        } else if (!strcmp(a, "--out") && v) *out = argv[++i];
        else if (!strcmp(a, "--results") && v) *results = argv[++i];
        else if (!strcmp(a, "--metric") && v) o->metric = argv[++i];
        else if (!strcmp(a, "--better") && v && (!strcmp(v, "higher") || !strcmp(v, "lower")))
            o->better = !strcmp(argv[++i], "higher") ? 1 : -1;
        else if (!strcmp(a, "--format") && v && parse_format(v, &o->format) == 0) i++;
        else if (!strcmp(a, "--better") || !strcmp(a, "--format")) {
            fprintf(stderr, "harness report: %s needs %s, not '%s'\n", a,
                    a[2] == 'b' ? "higher or lower" : "md, tex or csv", v ? v : "nothing");
            return 2;
        } else if (!strcmp(a, "--out") || !strcmp(a, "--results") || !strcmp(a, "--metric")) {
            fprintf(stderr, "harness report: %s needs a value\n", a);
            return 2;
        } else if (a[0] == '-') {
            fprintf(stderr, "harness report: unknown option '%s' (harness report --help lists them)\n", a);
            return 2;
        } else if (*arg) {
            fprintf(stderr, "harness report: one CSV or GRID, not both '%s' and '%s'\n", *arg, a);
            return 2;
        } else *arg = a;
    }
    if (*arg) return 0;
    report_usage(stderr);
    return 2;
}

int cmd_report(int argc, char **argv) {
    const char *arg = NULL, *out = NULL, *results = "results";
    ReportOpts o = {"acc_exact", 0, REPORT_MD};
    int prc = parse_args(argc, argv, &arg, &out, &results, &o);
    if (prc) return prc == 1 ? 0 : prc;
    char csv[1024], grid[256], dir[1024];
    size_t len = strlen(arg);
    if (len > 4 && !strcmp(arg + len - 4, ".csv")) {
        snprintf(csv, sizeof csv, "%s", arg);
    } else {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", arg);
        char *base = basename(tmp);
        size_t bl = strlen(base);
        if (bl > 5 && !strcmp(base + bl - 5, ".grid")) base[bl - 5] = 0;
        if (!grid_name_ok(base)) {
            fprintf(stderr, "harness report: bad grid name '%s': expected 1 to 127 letters, digits, '_', '-' or '.', "
                    "not starting with '.' and without \"..\"\n", base);
            return 2;
        }
        snprintf(csv, sizeof csv, "%s/%s/runs.csv", results, base);
    }
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", csv);
    snprintf(dir, sizeof dir, "%s", dirname(tmp));
    snprintf(tmp, sizeof tmp, "%s", dir);
    snprintf(grid, sizeof grid, "%s", basename(tmp));
    if (access(csv, F_OK) != 0) return no_runs(arg, grid, csv, results, "does not exist");
    char err[1024];
    Table t;
    if (store_read(csv, &t, err, sizeof err)) { fprintf(stderr, "harness report: %s\n", err); return 1; }
    if (t.skipped) fprintf(stderr, "harness report: %s: ignored %d malformed or partial line(s)\n", csv, t.skipped);
    /* The report tests one column: the runs' curve.csv files are read when it is a curve metric, or
     * when it is no column of runs.csv (the error then lists the curve columns too). */
    int curve_metric = curve_join_is_column(o.metric), njoined = 0;
    if ((curve_metric || table_col(&t, o.metric) < 0) && curve_join(&t, dir, &njoined, err, sizeof err)) {
        fprintf(stderr, "harness report: %s%s\n", err,
                curve_metric ? "" : " (warning: the curve diagnostics are not joined)");
        if (curve_metric) {
            table_free(&t);
            return 1;
        }
    }
    if (t.nrows == 0) {
        table_free(&t);
        return no_runs(arg, grid, csv, results, "has no rows");
    }
    char *text = NULL;
    const char **stale = stale_rows(&t);
    int rc = stale ? report_render(&t, grid, stale, &o, &text, err, sizeof err)
                   : (snprintf(err, sizeof err, "out of memory"), -1);
    for (int r = 0; stale && r < t.nrows; r++) free((char *)stale[r]);
    free(stale);
    table_free(&t);
    if (rc) {
        fprintf(stderr, "harness report: %s: %s\n", csv, err);
        if (curve_metric && njoined == 0)
            fprintf(stderr, "harness report: %s is read from the runs' curve.csv, and no run directory under "
                    "%s/runs has one with an epoch row\n", o.metric, dir);
        return 1;
    }
    fputs(text, stdout);
    static const char *const ext[] = {"md", "tex", "csv"};
    char path[1100];
    if (out) snprintf(path, sizeof path, "%s", out);
    else snprintf(path, sizeof path, "%s/report.%s", dir, ext[o.format]);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "harness report: %s: cannot write\n", path);
        free(text);
        return 1;
    }
    fprintf(stderr, "report written to %s\n", path);
    free(text);
    return 0;
}
