/* The collapse diagnostics of each run's final curve.csv epoch row joined
 * onto the runs.csv table. See curve_join.h. */
#define _GNU_SOURCE /* strdup */
#include "curve_join.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnostics.h"
#include "errmsg.h"

_Static_assert(CURVE_JOIN_COLUMNS == DIAG_CSV_FIELDS + 1, "the diagnostics and jepa_reg");

/* Name of joined column i (0 <= i < CURVE_JOIN_COLUMNS) in the table. */
static const char *col_name(int i) {
    return i < DIAG_CSV_FIELDS ? diag_csv_names[i] : "jepa_reg_loss";
}

/* Name of the curve.csv column that joined column i is read from. */
static const char *curve_name(int i) {
    return i < DIAG_CSV_FIELDS ? diag_csv_names[i] : "jepa_reg";
}

int curve_join_is_column(const char *name) {
    for (int i = 0; i < CURVE_JOIN_COLUMNS; i++)
        if (strcmp(name, col_name(i)) == 0) return 1;
    return 0;
}

/* The joined columns a table lacks: idx[0..n) into col_name. */
typedef struct {
    int n;
    int idx[CURVE_JOIN_COLUMNS];
} Added;

/* Whether run_id can name a directory under runs/ (not empty, no '/', not
 * starting with '.', so neither "." nor ".." nor a path outside runs/). */
static int run_id_ok(const char *id) {
    return id[0] && id[0] != '.' && !strchr(id, '/');
}

/* Each of v[0..a->n) set to a malloc'd copy of "". */
static int fill_empty(char **v, const Added *a, char *err, size_t errn) {
    for (int i = 0; i < a->n; i++)
        if (!(v[i] = strdup(""))) return errf(err, errn, "out of memory");
    return 0;
}

/* The added columns' values in the last epoch row of
 * grid_dir/runs/<run_id>/curve.csv into v[0..a->n) (malloc'd; "" where the
 * curve lacks the column, every one "" when the file is missing or has no
 * epoch row); *found: whether it had an epoch row. Returns 0, or -1 with err
 * (the file cannot be read, out of memory); v may then be partly set. */
static int curve_values(const char *grid_dir, const char *run_id, const Added *a, char **v, int *found, char *err,
                        size_t errn) {
    *found = 0;
    size_t pn = strlen(grid_dir) + strlen(run_id) + sizeof "/runs//curve.csv";
    char *path = malloc(pn);
    if (!path) return errf(err, errn, "out of memory");
    snprintf(path, pn, "%s/runs/%s/curve.csv", grid_dir, run_id);
    Table c;
    int rc = store_read(path, &c, err, errn);
    free(path);
    if (rc) return -1;
    int kind = table_col(&c, "kind"), last = -1;
    for (int r = c.nrows - 1; kind >= 0 && r >= 0 && last < 0; r--)
        if (strcmp(c.rows[r][kind], "epoch") == 0) last = r;
    *found = last >= 0;
    for (int i = 0; i < a->n && !rc; i++) {
        const char *s = last >= 0 ? table_get(&c, last, curve_name(a->idx[i])) : NULL;
        if (!(v[i] = strdup(s ? s : ""))) rc = errf(err, errn, "out of memory");
    }
    table_free(&c);
    return rc;
}

/* Room for a->n more columns in t->cols and every row, and the added names
 * stored after t's (t->ncols unchanged). On failure t reads as before (some
 * arrays merely larger). */
static int grow(Table *t, const Added *a, char *err, size_t errn) {
    size_t nc = (size_t)t->ncols + (size_t)a->n;
    char **cols = realloc(t->cols, nc * sizeof *cols);
    if (!cols) return errf(err, errn, "out of memory");
    t->cols = cols;
    for (int r = 0; r < t->nrows; r++) {
        char **row = realloc(t->rows[r], nc * sizeof *row);
        if (!row) return errf(err, errn, "out of memory");
        t->rows[r] = row;
    }
    for (int i = 0; i < a->n; i++)
        if (!(cols[t->ncols + i] = strdup(col_name(a->idx[i])))) {
            while (i-- > 0) free(cols[t->ncols + i]);
            return errf(err, errn, "out of memory");
        }
    return 0;
}

int curve_join(Table *t, const char *grid_dir, int *njoined, char *err, size_t errn) {
    if (njoined) *njoined = 0;
    int cid = table_col(t, "run_id"), cst = table_col(t, "status");
    if (cid < 0 || cst < 0) return 0;
    Added a = {0};
    for (int i = 0; i < CURVE_JOIN_COLUMNS; i++)
        if (table_col(t, col_name(i)) < 0) a.idx[a.n++] = i;
    size_t nv = (size_t)t->nrows * (size_t)a.n;
    char **vals = calloc(nv + 1, sizeof *vals);
    if (!vals) return errf(err, errn, "out of memory");
    int rc = 0, joined = 0;
    for (int r = 0; r < t->nrows && !rc; r++) {
        char **v = vals + (size_t)r * (size_t)a.n;
        int found = 0;
        if (strcmp(t->rows[r][cst], "ok") == 0 && run_id_ok(t->rows[r][cid]))
            rc = curve_values(grid_dir, t->rows[r][cid], &a, v, &found, err, errn);
        else rc = fill_empty(v, &a, err, errn);
        joined += found;
    }
    if (!rc) rc = grow(t, &a, err, errn);
    if (rc) {
        for (size_t i = 0; i < nv; i++) free(vals[i]);
        free(vals);
        return -1;
    }
    for (int r = 0; r < t->nrows; r++)
        memcpy(t->rows[r] + t->ncols, vals + (size_t)r * (size_t)a.n, (size_t)a.n * sizeof *vals);
    t->ncols += a.n;
    free(vals);
    if (njoined) *njoined = joined;
    return 0;
}
