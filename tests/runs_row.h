/* One runs.csv row of a run with the default config plus overrides, and a row
 * of the report made from it, for the tests that write results tables and
 * report them (test_report, test_curve_join). */
#ifndef TESTS_RUNS_ROW_H
#define TESTS_RUNS_ROW_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "store.h"

#define RUNS_ROW_MAX 256 /* room for store_columns */

/* The values of one runs.csv row, in store_columns order, of the run whose config is the
 * defaults with every key=value of set ("key=value,key=value", "" for none) applied and the
 * seed seed, recorded in grid "fig" under arm with status; every other result column "0".
 * v[i] points into buf (RUNS_ROW_MAX rows) or at id, arm and status; id (17 bytes) receives
 * the run_id. Returns the number of columns. A malformed pair or a refused value fails the
 * test. */
static inline int runs_row(const char *set, unsigned seed, const char *arm, const char *status, char *id,
                           const char **v, char (*buf)[128]) {
    Config c;
    char err[256], kv[256];
    config_defaults(&c);
    snprintf(kv, sizeof kv, "%s", set);
    for (char *tok = strtok(kv, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        cr_assert_not_null(eq, "expected key=value, got '%s'", tok);
        *eq = 0;
        cr_assert_eq(config_set(&c, tok, eq + 1, err, sizeof err), 0, "%s", err);
    }
    c.seed = seed;
    cr_assert_eq(config_run_id(&c, id, err, sizeof err), 0, "%s", err);
    const char *const *cols;
    int n = store_columns(&cols);
    cr_assert_leq(n, RUNS_ROW_MAX);
    for (int i = 0; i < n; i++) {
        const CfgKey *k = config_key(cols[i]);
        if (k) config_get(&c, k, buf[i], 128);
        else snprintf(buf[i], 128, "0");
        v[i] = buf[i];
    }
    v[store_column_index("run_id")] = id;
    v[store_column_index("grid")] = "fig";
    v[store_column_index("arm")] = arm;
    v[store_column_index("status")] = status;
    return n;
}

/* The line of a Markdown report's table whose cell is labelled label ("| label | ..."), copied
 * (free it). Fails the test when there is none. */
static inline char *row_of(const char *md, const char *label) {
    char head[128];
    snprintf(head, sizeof head, "\n| %s | ", label);
    const char *p = strstr(md, head);
    cr_assert_not_null(p, "no row '%s' in:\n%s", label, md);
    p++;
    const char *e = strchr(p, '\n');
    return strndup(p, (size_t)(e - p));
}

#endif
