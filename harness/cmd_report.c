/* harness report: the Markdown report of a grid's runs.csv, printed and
 * written beside it as report.md. */
#define _GNU_SOURCE
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
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

int cmd_report(int argc, char **argv) {
    const char *arg = NULL, *out = NULL, *results = "results";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--results") && i + 1 < argc) results = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: harness report CSV|GRID [--out FILE] [--results DIR]\n"
                   "  CSV: a runs.csv; GRID: a .grid file or grid name (reads DIR/<name>/runs.csv).\n"
                   "  Prints the Markdown report and writes it to FILE (default: report.md beside the CSV).\n"
                   "  Runs whose train/test data file changed since they were recorded (its sha256 now, found\n"
                   "  as harness run finds it: $HARNESS_DATA or data/) are listed as stale.\n");
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "harness report: unknown option '%s'\n", argv[i]);
            return 2;
        } else arg = argv[i];
    }
    if (!arg) { fprintf(stderr, "usage: harness report CSV|GRID [--out FILE]\n"); return 2; }
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
        snprintf(csv, sizeof csv, "%s/%s/runs.csv", results, base);
    }
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", csv);
    snprintf(dir, sizeof dir, "%s", dirname(tmp));
    snprintf(tmp, sizeof tmp, "%s", dir);
    snprintf(grid, sizeof grid, "%s", basename(tmp));
    FILE *probe = fopen(csv, "r");
    if (!probe) { fprintf(stderr, "harness report: %s: no such results file\n", csv); return 1; }
    fclose(probe);
    char err[1024];
    Table t;
    if (store_read(csv, &t, err, sizeof err)) { fprintf(stderr, "harness report: %s\n", err); return 1; }
    if (t.skipped) fprintf(stderr, "harness report: %s: ignored %d malformed or partial line(s)\n", csv, t.skipped);
    char *md = NULL;
    const char **stale = stale_rows(&t);
    int rc = stale || t.nrows == 0 ? report_markdown(&t, grid, stale, &md, err, sizeof err)
                                   : (snprintf(err, sizeof err, "out of memory"), -1);
    for (int r = 0; stale && r < t.nrows; r++) free((char *)stale[r]);
    free(stale);
    table_free(&t);
    if (rc) { fprintf(stderr, "harness report: %s: %s\n", csv, err); return 1; }
    fputs(md, stdout);
    char path[1100];
    if (out) snprintf(path, sizeof path, "%s", out);
    else snprintf(path, sizeof path, "%s/report.md", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(md, f) < 0 || fclose(f)) {
        fprintf(stderr, "harness report: %s: cannot write\n", path);
        free(md);
        return 1;
    }
    fprintf(stderr, "report written to %s\n", path);
    free(md);
    return 0;
}
