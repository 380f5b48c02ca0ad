/* Which columns of a results table `harness report --metric` can test, and
 * their direction and units. See report.h "the metric". */
#include "errmsg.h"
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"

/* Whether a value is a number as text (strtod takes all of it, blanks after
 * allowed; "nan" and "inf" count, so a diverged loss does not make a column
 * text). */
static int number_text(const char *s) {
    if (!s || !*s) return 0;
    char *end;
    (void)strtod(s, &end);
    while (*end == ' ') end++;
    return end != s && *end == 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* Columns that are never a metric: identity, status, config, provenance text. */
static int never_metric(const char *name) {
    static const char *const text[] = {"run_id",     "grid",           "arm",       "status",   "git_commit",
                                       "build_type", "host",           "start_time", "end_time", "probe_sv",
                                       "compiler",   "compiler_flags", "cpu_model", "blas",     "blas_core",
                                       "engine_version", "command_line", "error",   NULL};
    for (int i = 0; text[i]; i++)
        if (strcmp(name, text[i]) == 0) return 1;
    return ends_with(name, "_sha256") || config_key(name) != NULL;
}

int report_metric_ok(const Table *t, const char *name) {
    int c = table_col(t, name), st = table_col(t, "status");
    if (c < 0 || st < 0 || never_metric(name)) return 0;
    int nfinite = 0;
    for (int r = 0; r < t->nrows; r++) {
        if (strcmp(t->rows[r][st], "ok") != 0 || !t->rows[r][c][0]) continue;
        if (!number_text(t->rows[r][c])) return 0;
        double v;
        nfinite += report_num(t->rows[r][c], &v);
    }
    return nfinite > 0;
}

int report_metric_check(const Table *t, const char *metric, char *err, size_t errn) {
    if (report_metric_ok(t, metric)) return 0;
    StrBuf b = {0};
    for (int c = 0; c < t->ncols; c++)
        if (report_metric_ok(t, t->cols[c])) sb_printf(&b, "%s%s", b.len ? ", " : "", t->cols[c]);
    if (b.oom) {
        free(b.s);
        return errf(err, errn, "out of memory");
    }
    int known = table_col(t, metric) >= 0;
    errf(err, errn, "'%s' is %s; available: %s", metric,
         known ? "not a numeric result column with a value in an ok run" : "not a column of the results table",
         b.len ? b.s : "none (no numeric result column has a value in an ok run)");
    free(b.s);
    return -1;
}

int report_metric_default_better(const char *metric) {
    if (strcmp(metric, "ntp_loss") == 0 || strcmp(metric, "jepa_dist") == 0 || ends_with(metric, "_loss"))
        return -1;
    return 1;
}

int report_metric_is_pct(const char *metric) {
    return strncmp(metric, "acc_", 4) == 0; /* the metric columns of the task table, in % */
}
