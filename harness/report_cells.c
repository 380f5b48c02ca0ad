/* Cells of a results table: grouping, labels, pairing with the baseline,
 * paired t-tests and Holm. See report.h. */
#include "errmsg.h"
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable string ---- */

void sb_printf(StrBuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int w = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && (size_t)w < room) {
            b->len += (size_t)w;
            return;
        }
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->len + (size_t)w + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
}

void sb_put_md(StrBuf *b, const char *s) {
    for (const char *c = s; *c; c++) {
        if (*c == '|') sb_printf(b, "\\|");
        else if (*c == '\n' || *c == '\r') sb_printf(b, " ");
        else sb_printf(b, "%c", *c);
    }
}

/* ---- values as text ---- */

int report_num(const char *s, double *v) {
    if (!s || !*s) return 0;
    char *end;
    double x = strtod(s, &end);
    while (*end == ' ') end++;
    if (*end || !isfinite(x)) return 0;
    *v = x;
    return 1;
}

int report_cmp_val(const char *a, const char *b) {
    double x, y;
    if (report_num(a, &x) && report_num(b, &y)) return (x > y) - (x < y);
    return strcmp(a, b);
}

void report_short_val(const char *s, char *out, size_t n) {
    double v;
    if (report_num(s, &v)) {
        if (v == (double)(long long)v && fabs(v) < 1e15) { /* integers print as integers */
            snprintf(out, n, "%lld", (long long)v);
            return;
        }
        for (int p = 1; p <= 17; p++) {
            snprintf(out, n, "%.*g", p, v);
            if (strtod(out, NULL) == v) return;
        }
    }
    snprintf(out, n, "%s", s);
}

/* ---- grouping ---- */

static int cmp_idrow(const void *a, const void *b) {
    const ReportIdRow *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    return (x->row > y->row) - (x->row < y->row);
}

ReportIdRow *report_rows_by_id(const Table *t, int c_id) {
    ReportIdRow *ids = malloc((size_t)t->nrows * sizeof *ids);
    if (!ids) return NULL;
    for (int r = 0; r < t->nrows; r++) ids[r] = (ReportIdRow){t->rows[r][c_id], r};
    qsort(ids, (size_t)t->nrows, sizeof *ids, cmp_idrow);
    return ids;
}

int report_key_index(const ReportCells *rc, const char *name) {
    for (int k = 0; k < rc->nkeys; k++)
        if (strcmp(rc->keys[k]->name, name) == 0) return k;
    return -1;
}

int report_qsort_val(const void *x, const void *y) {
    return report_cmp_val(*(const char *const *)x, *(const char *const *)y);
}

typedef struct RowRef {
    const Table *t;
    int r;
} RowRef;

static const char *row_lookup(const char *name, void *ctx) {
    RowRef *rr = ctx;
    return table_get(rr->t, rr->r, name);
}

/* The value of key k (column col) in row r, or "" when the key has no effect
 * in that run (lambda of an NTP run), so such keys never split cells. */
static const char *cell_val(const Table *t, int r, const CfgKey *k, int col) {
    if (col < 0) return "";
    RowRef rr = {t, r};
    return config_key_applies_by(k, row_lookup, &rr) ? t->rows[r][col] : "";
}

static int arm_selected(const char *arm, const char *const *arms) {
    if (!arms) return 1;
    for (int i = 0; arms[i]; i++)
        if (strcmp(arms[i], arm) == 0) return 1;
    return 0;
}

static int cell_add(ReportCell *c, int row, const char *seed, double x) {
    if (c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 8;
        int *nr = realloc(c->rows, (size_t)nc * sizeof *nr);
        if (!nr) return -1;
        c->rows = nr;
        const char **ns = realloc(c->seeds, (size_t)nc * sizeof *ns);
        if (!ns) return -1;
        c->seeds = ns;
        double *nx = realloc(c->x, (size_t)nc * sizeof *nx);
        if (!nx) return -1;
        c->x = nx;
        c->cap = nc;
    }
    c->rows[c->n] = row;
    c->seeds[c->n] = seed;
    c->x[c->n] = x;
    c->n++;
    return 0;
}

/* The identity keys except seed, their columns in t and their defaults. */
static int setup_keys(ReportCells *rc, const Table *t, int **kcol) {
    int ns;
    const CfgKey *schema = config_schema(&ns);
    rc->keys = malloc((size_t)ns * sizeof *rc->keys);
    rc->defv = malloc((size_t)ns * sizeof *rc->defv);
    *kcol = malloc((size_t)ns * sizeof **kcol);
    if (!rc->keys || !rc->defv || !*kcol) return -1;
    Config dflt;
    config_defaults(&dflt);
    for (int i = 0; i < ns; i++) {
        if (!schema[i].identity || strcmp(schema[i].name, "seed") == 0) continue;
        rc->keys[rc->nkeys] = &schema[i];
        (*kcol)[rc->nkeys] = table_col(t, schema[i].name);
        config_get(&dflt, &schema[i], rc->defv[rc->nkeys], sizeof rc->defv[rc->nkeys]);
        rc->nkeys++;
    }
    return 0;
}

/* is_last[r] for every row; nruns counts the runs of the selected arms. */
static int mark_last(ReportCells *rc, const Table *t, int c_id, int c_arm, const char *const *arms) {
    ReportIdRow *ids = report_rows_by_id(t, c_id);
    rc->is_last = calloc((size_t)t->nrows, 1);
    if (!ids || !rc->is_last) {
        free(ids);
        return -1;
    }
    for (int i = 0; i < t->nrows; i++)
        if (i + 1 == t->nrows || strcmp(ids[i].id, ids[i + 1].id) != 0) {
            rc->is_last[ids[i].row] = 1;
            rc->nruns += arm_selected(t->rows[ids[i].row][c_arm], arms);
        }
    free(ids);
    return 0;
}

/* The cell of row r (created when new); -1 when out of memory. */
static int cell_of(ReportCells *rc, int *ccap, const Table *t, int r, const char *arm, const int *kcol) {
    for (int i = 0; i < rc->ncells; i++) {
        if (strcmp(rc->cells[i].arm, arm) != 0) continue;
        int same = 1;
        for (int k = 0; k < rc->nkeys && same; k++)
            same = strcmp(rc->cells[i].vals[k], cell_val(t, r, rc->keys[k], kcol[k])) == 0;
        if (same) return i;
    }
    if (rc->ncells == *ccap) {
        int ncap = *ccap ? *ccap * 2 : 16;
        ReportCell *nce = realloc(rc->cells, (size_t)ncap * sizeof *nce);
        if (!nce) return -1;
        rc->cells = nce;
        *ccap = ncap;
    }
    ReportCell *c = &rc->cells[rc->ncells];
    memset(c, 0, sizeof *c);
    c->vals = malloc((size_t)(rc->nkeys ? rc->nkeys : 1) * sizeof *c->vals);
    if (!c->vals) return -1;
    rc->ncells++;
    c->arm = arm;
    c->first_row = r;
    c->base = -1;
    for (int k = 0; k < rc->nkeys; k++) c->vals[k] = cell_val(t, r, rc->keys[k], kcol[k]);
    return rc->ncells - 1;
}

/* Count every selected run by status and put the ok ones into cells. */
static int group_rows(ReportCells *rc, const Table *t, const int *col, const char *const *arms,
                      const char *const *stale, const int *kcol) {
    enum { ID, ARM, ST, X, SEED };
    int ccap = 0;
    for (int r = 0; r < t->nrows; r++) {
        if (!rc->is_last[r] || !arm_selected(t->rows[r][col[ARM]], arms)) continue;
        const char *st = t->rows[r][col[ST]];
        double x;
        if (strcmp(st, "failed") == 0) rc->n_failed++;
        else if (strcmp(st, "diverged") == 0) rc->n_diverged++;
        else if (strcmp(st, "ok") != 0) rc->n_other++;
        else if (!report_num(t->rows[r][col[X]], &x)) rc->n_unreadable++;
        else {
            rc->n_ok++;
            int ci = cell_of(rc, &ccap, t, r, t->rows[r][col[ARM]], kcol);
            if (ci < 0 || cell_add(&rc->cells[ci], r, col[SEED] >= 0 ? t->rows[r][col[SEED]] : "", x) != 0)
                return -1;
            rc->cells[ci].nstale += stale && stale[r];
        }
    }
    return 0;
}

static int cmp_cells(const ReportCell *a, const ReportCell *b, int nkeys) {
    if (a->arm_rank != b->arm_rank) return a->arm_rank < b->arm_rank ? -1 : 1;
    for (int k = 0; k < nkeys; k++) {
        int c = report_cmp_val(a->vals[k], b->vals[k]);
        if (c) return c;
    }
    return a->first_row - b->first_row;
}

/* Order: baseline first, then arms by first appearance; cells by value. */
static void order_cells(ReportCells *rc) {
    ReportCell *cells = rc->cells;
    int nc = rc->ncells;
    for (int i = 0; i < nc; i++) {
        if (strcmp(cells[i].arm, "baseline") == 0) {
            cells[i].arm_rank = -1;
            continue;
        }
        int first = cells[i].first_row;
        for (int j = 0; j < nc; j++)
            if (strcmp(cells[j].arm, cells[i].arm) == 0 && cells[j].first_row < first) first = cells[j].first_row;
        cells[i].arm_rank = first;
    }
    for (int i = 1; i < nc; i++) { /* insertion sort: stable */
        ReportCell v = cells[i];
        int j = i - 1;
        while (j >= 0 && cmp_cells(&cells[j], &v, rc->nkeys) > 0) {
            cells[j + 1] = cells[j];
            j--;
        }
        cells[j + 1] = v;
    }
}

/* Labels: arm + keys that vary among the arm's cells. */
static void label_cells(ReportCells *rc, char *vary) {
    ReportCell *cells = rc->cells;
    for (int i = 0; i < rc->ncells;) {
        int j = i;
        while (j < rc->ncells && strcmp(cells[j].arm, cells[i].arm) == 0) j++;
        for (int k = 0; k < rc->nkeys; k++) {
            vary[k] = 0;
            for (int x = i + 1; x < j && !vary[k]; x++) vary[k] = strcmp(cells[x].vals[k], cells[i].vals[k]) != 0;
        }
        for (int x = i; x < j; x++) {
            size_t len = (size_t)snprintf(cells[x].label, sizeof cells[x].label, "%s", cells[x].arm);
            for (int k = 0; k < rc->nkeys && len < sizeof cells[x].label; k++) {
                if (!vary[k]) continue;
                char sv[64];
                report_short_val(cells[x].vals[k], sv, sizeof sv);
                int w = snprintf(cells[x].label + len, sizeof cells[x].label - len, " %s=%s", rc->keys[k]->name, sv);
                if (w < 0) break;
                len += (size_t)w;
            }
        }
        i = j;
    }
}

/* The baseline cell of c (its index), or -1 with c->why. vary[k]: key k
 * varies among the baseline cells. */
static int find_base(const ReportCells *rc, ReportCell *c, const char *vary, int nbase) {
    if (nbase == 0) {
        c->why = "no baseline arm";
        return -1;
    }
    int found = 0, base = -1;
    for (int j = 0; j < rc->ncells; j++) {
        if (strcmp(rc->cells[j].arm, "baseline") != 0) continue;
        int agree = 1;
        for (int k = 0; k < rc->nkeys && agree; k++)
            if (vary[k]) agree = strcmp(rc->cells[j].vals[k], c->vals[k]) == 0;
        if (agree) {
            found++;
            base = j;
        }
    }
    if (found == 1) return base;
    c->why = found == 0 ? "no matching baseline cell" : "ambiguous baseline cell";
    return -1;
}

/* Pair c with its baseline cell bc by seed and test (tail: rc->better). */
static int test_cell(ReportCell *c, const ReportCell *bc, int tail) {
    double *a = malloc((size_t)c->n * sizeof *a), *bb = malloc((size_t)c->n * sizeof *bb);
    if (!a || !bb) {
        free(a);
        free(bb);
        return -1;
    }
    int np = 0;
    for (int s = 0; s < c->n; s++)
        for (int q = bc->n - 1; q >= 0; q--)
            if (strcmp(bc->seeds[q], c->seeds[s]) == 0) {
                a[np] = c->x[s];
                bb[np] = bc->x[q];
                np++;
                break;
            }
    c->npaired = np;
    c->pt = stats_paired_t_tail(a, bb, np, tail);
    c->tested = np >= 2;
    free(a);
    free(bb);
    return 0;
}

/* Pair each non-baseline cell with its baseline cell and test it. */
static int pair_cells(ReportCells *rc, char *vary) {
    ReportCell *cells = rc->cells;
    int nbase = 0;
    for (int i = 0; i < rc->ncells; i++) nbase += strcmp(cells[i].arm, "baseline") == 0;
    for (int k = 0; k < rc->nkeys; k++) { /* keys that vary among the baseline cells */
        vary[k] = 0;
        const char *first = NULL;
        for (int i = 0; i < rc->ncells && !vary[k]; i++) {
            if (strcmp(cells[i].arm, "baseline") != 0) continue;
            if (!first) first = cells[i].vals[k];
            else vary[k] = strcmp(first, cells[i].vals[k]) != 0;
        }
    }
    for (int i = 0; i < rc->ncells; i++) {
        ReportCell *c = &cells[i];
        if (strcmp(c->arm, "baseline") == 0) continue;
        c->base = find_base(rc, c, vary, nbase);
        if (c->base < 0) continue;
        if (test_cell(c, &cells[c->base], rc->better) != 0) return -1;
        rc->ntested += c->tested;
    }
    return 0;
}

/* Holm across the tested cells. */
static int holm_cells(ReportCells *rc) {
    if (rc->ntested == 0) return 0;
    double *praw = malloc((size_t)rc->ntested * sizeof *praw), *padj = malloc((size_t)rc->ntested * sizeof *padj);
    if (!praw || !padj) {
        free(praw);
        free(padj);
        return -1;
    }
    int m = 0;
    for (int i = 0; i < rc->ncells; i++)
        if (rc->cells[i].tested) praw[m++] = rc->cells[i].pt.p;
    stats_holm(praw, m, padj);
    m = 0;
    for (int i = 0; i < rc->ncells; i++)
        if (rc->cells[i].tested) rc->cells[i].holm = padj[m++];
    free(praw);
    free(padj);
    return 0;
}

/* The best cell (report.h): the better mean among non-baseline cells, ties
 * to the larger n, then to the first listed. */
static void mark_best(ReportCells *rc) {
    double best_mean = 0;
    rc->best = -1;
    for (int i = 0; i < rc->ncells; i++) {
        const ReportCell *c = &rc->cells[i];
        if (strcmp(c->arm, "baseline") == 0 || c->n == 0) continue;
        double m = stats_summary(c->x, c->n).mean * rc->better;
        if (rc->best < 0 || m > best_mean || (m == best_mean && c->n > rc->cells[rc->best].n)) {
            rc->best = i;
            best_mean = m;
        }
    }
}

int report_cells(const Table *t, const char *metric, const char *const *arms, const char *const *stale,
                 ReportCells *rc, char *err, size_t errn) {
    return report_cells_by(t, metric, +1, arms, stale, rc, err, errn);
}

int report_cells_by(const Table *t, const char *metric, int better, const char *const *arms,
                    const char *const *stale, ReportCells *rc, char *err, size_t errn) {
    memset(rc, 0, sizeof *rc);
    rc->better = better < 0 ? -1 : 1;
    rc->best = -1;
    if (t->nrows == 0) return 0;
    int col[5] = {table_col(t, "run_id"), table_col(t, "arm"), table_col(t, "status"), table_col(t, metric),
                  table_col(t, "seed")};
    const char *missing = col[0] < 0   ? "run_id"
                          : col[1] < 0 ? "arm"
                          : col[2] < 0 ? "status"
                          : col[3] < 0 ? metric
                                       : NULL;
    if (missing) return errf(err, errn, "results table has no '%s' column", missing);
    int *kcol = NULL;
    char *vary = NULL;
    int ok = setup_keys(rc, t, &kcol) == 0 && mark_last(rc, t, col[0], col[1], arms) == 0 &&
             group_rows(rc, t, col, arms, stale, kcol) == 0;
    if (ok) {
        order_cells(rc);
        vary = calloc((size_t)(rc->nkeys ? rc->nkeys : 1), 1);
        ok = vary != NULL;
    }
    if (ok) {
        label_cells(rc, vary);
        ok = pair_cells(rc, vary) == 0 && holm_cells(rc) == 0;
        mark_best(rc);
    }
    free(kcol);
    free(vary);
    if (ok) return 0;
    report_cells_free(rc);
    return errf(err, errn, "out of memory");
}

void report_cells_free(ReportCells *rc) {
    for (int i = 0; i < rc->ncells; i++) {
        free(rc->cells[i].vals);
        free(rc->cells[i].rows);
        free(rc->cells[i].seeds);
        free(rc->cells[i].x);
    }
    free(rc->cells);
    free(rc->keys);
    free(rc->defv);
    free(rc->is_last);
    memset(rc, 0, sizeof *rc);
}

int report_cell_find(const ReportCells *rc, const char *arm, const char *where) {
    for (int i = 0; i < rc->ncells; i++) {
        const ReportCell *c = &rc->cells[i];
        if (strcmp(c->arm, arm) != 0) continue;
        int agree = 1;
        const char *p = where ? where : "";
        while (agree && *p) {
            while (*p == ' ') p++;
            size_t len = strcspn(p, " ");
            if (!len) break;
            char kv[256];
            snprintf(kv, sizeof kv, "%.*s", (int)len, p);
            p += len;
            char *eq = strchr(kv, '=');
            agree = 0;
            if (!eq) break;
            *eq = 0;
            for (int k = 0; k < rc->nkeys; k++)
                if (strcmp(rc->keys[k]->name, kv) == 0) agree = report_cmp_val(c->vals[k], eq + 1) == 0;
        }
        if (agree) return i;
    }
    return -1;
}
