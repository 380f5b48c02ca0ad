/* The Markdown report of a grid's results. See report.h. */
#include "errmsg.h"
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "stats.h"

/* ---- growable string ---- */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} Buf;

static void bprintf(Buf *b, const char *fmt, ...) {
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

/* Append s with Markdown table specials ('|') escaped. */
static void bput_md(Buf *b, const char *s) {
    for (const char *c = s; *c; c++) {
        if (*c == '|') bprintf(b, "\\|");
        else if (*c == '\n' || *c == '\r') bprintf(b, " ");
        else bprintf(b, "%c", *c);
    }
}

/* ---- helpers ---- */

/* Parse the whole of s as a finite number. */
static int num(const char *s, double *v) {
    if (!s || !*s) return 0;
    char *end;
    double x = strtod(s, &end);
    while (*end == ' ') end++;
    if (*end || !isfinite(x)) return 0;
    *v = x;
    return 1;
}

/* Numbers compare as numbers, anything else as text. */
static int cmp_val(const char *a, const char *b) {
    double x, y;
    if (num(a, &x) && num(b, &y)) return (x > y) - (x < y);
    return strcmp(a, b);
}

/* Shortest text of a number that reads back the same ("8e-05" for
 * "8.0000000000000007e-05"); other text unchanged. */
static void short_val(const char *s, char *out, size_t n) {
    double v;
    if (num(s, &v)) {
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

static void fmt_p(double p, char *out, size_t n) {
    snprintf(out, n, "%.4g", p);
}

static void fmt_t(double t, char *out, size_t n) {
    if (isinf(t)) snprintf(out, n, "%s", t > 0 ? "inf" : "-inf");
    else snprintf(out, n, "%.3f", t);
}

/* ---- cells ---- */

typedef struct {
    const char *arm;
    const char **vals;  /* nkeys values (pointers into the table, or "") */
    int arm_rank;       /* order of the arm in the report */
    int first_row;
    int nstale;         /* runs whose data changed since they were recorded */
    int n, cap;
    const char **seeds;
    double *exact, *sw; /* sw is NaN where acc_startswith is unreadable */
    /* test against the baseline */
    int base;           /* index of the baseline cell, -1 if none */
    const char *why;    /* why there is no test, or NULL */
    int npaired;
    PairedT pt;
    int tested;
    double holm;
    char label[512];
} Cell;

typedef struct {
    const char *id;
    int row;
} IdRow;

static int cmp_idrow(const void *a, const void *b) {
    const IdRow *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    return (x->row > y->row) - (x->row < y->row);
}

static int cmp_cells(const Cell *a, const Cell *b, int nkeys) {
    if (a->arm_rank != b->arm_rank) return a->arm_rank < b->arm_rank ? -1 : 1;
    for (int k = 0; k < nkeys; k++) {
        int c = cmp_val(a->vals[k], b->vals[k]);
        if (c) return c;
    }
    return a->first_row - b->first_row;
}

static int cell_add(Cell *c, const char *seed, double ex, double sw) {
    if (c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 8;
        const char **ns = realloc(c->seeds, (size_t)nc * sizeof *ns);
        if (!ns) return -1;
        c->seeds = ns;
        double *ne = realloc(c->exact, (size_t)nc * sizeof *ne);
        if (!ne) return -1;
        c->exact = ne;
        double *nw = realloc(c->sw, (size_t)nc * sizeof *nw);
        if (!nw) return -1;
        c->sw = nw;
        c->cap = nc;
    }
    c->seeds[c->n] = seed;
    c->exact[c->n] = ex;
    c->sw[c->n] = sw;
    c->n++;
    return 0;
}

static void cells_free(Cell *cells, int nc) {
    for (int i = 0; i < nc; i++) {
        free(cells[i].vals);
        free(cells[i].seeds);
        free(cells[i].exact);
        free(cells[i].sw);
    }
    free(cells);
}


typedef struct RowRef { const Table *t; int r; } RowRef;

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

/* ---- data provenance ---- */

static int finished_status(const char *st) {
    return st && (!strcmp(st, "ok") || !strcmp(st, "diverged"));
}

/* Whether an earlier row e of a run recorded other data than its last row
 * l: a train or test hash both hold that differs. */
static int data_differs(const Table *t, int e, int l) {
    static const char *const cols[] = {"train_sha256", "test_sha256"};
    for (int i = 0; i < 2; i++) {
        const char *a = table_get(t, e, cols[i]), *b = table_get(t, l, cols[i]);
        if (a && b && *a && *b && strcmp(a, b)) return 1;
    }
    return 0;
}

/* The data lines of the header: runs re-run because their data changed
 * (ids sorted by run_id then row), stale runs (stale[r] for the last rows,
 * may be NULL), runs of unknown data, and columns an older file lacked. */
static void data_notes(Buf *b, const Table *t, const IdRow *ids, const char *is_last, const char *const *stale) {
    int nrerun = 0, nstale = 0, nunknown = 0;
    for (int i = 0, first = 0; i < t->nrows; i++) {
        if (i > 0 && strcmp(ids[i].id, ids[i - 1].id)) first = i;
        if (!is_last[ids[i].row]) continue;
        int l = ids[i].row, changed = 0;
        for (int e = first; e < i && !changed; e++)
            changed = finished_status(table_get(t, ids[e].row, "status")) && data_differs(t, ids[e].row, l);
        nrerun += changed;
        if (!finished_status(table_get(t, l, "status"))) continue;
        const char *h = table_get(t, l, "train_sha256");
        nunknown += !h || !*h;
        nstale += stale && stale[l];
    }
    if (nrerun)
        bprintf(b, "%d run%s re-run because %s data changed since %s first recorded (the newer row counts).\n\n",
                nrerun, nrerun == 1 ? " was" : "s were", nrerun == 1 ? "its" : "their", nrerun == 1 ? "it was" : "they were");
    if (nunknown)
        bprintf(b, "%d run%s recorded before data hashes were kept (no train_sha256): %s data is unknown, and %s "
                "reused as recorded.\n\n", nunknown, nunknown == 1 ? " was" : "s were", nunknown == 1 ? "its" : "their",
                nunknown == 1 ? "it is" : "they are");
    if (t->filled)
        bprintf(b, "runs.csv has an older header: %d column%s it lacks read as the key's neutral value (result "
                "columns as empty).\n\n", t->filled, t->filled == 1 ? "" : "s");
    if (!nstale) return;
    bprintf(b, "**%d stale run%s**: recorded, but %s data file changed since and %s not been re-run yet "
            "(`harness run` re-runs %s); ok ones still count in the table, marked in its note column:\n\n",
            nstale, nstale == 1 ? "" : "s", nstale == 1 ? "its" : "their", nstale == 1 ? "it has" : "they have",
            nstale == 1 ? "it" : "them");
    for (int r = 0; r < t->nrows; r++) {
        if (!is_last[r] || !stale[r] || !finished_status(table_get(t, r, "status"))) continue;
        const char *arm = table_get(t, r, "arm"), *seed = table_get(t, r, "seed");
        bprintf(b, "- `%s` ", table_get(t, r, "run_id"));
        bput_md(b, arm ? arm : "");
        bprintf(b, " seed %s: ", seed ? seed : "?");
        bput_md(b, stale[r]);
        bprintf(b, "\n");
    }
    bprintf(b, "\n");
}

int report_markdown(const Table *t, const char *grid_name, const char *const *stale, char **out, char *err,
                    size_t errn) {
    *out = NULL;
    Buf b = {0};
    bprintf(&b, "# Report: %s\n\n", grid_name ? grid_name : "");
    if (t->nrows == 0) {
        bprintf(&b, "No runs recorded yet.\n");
        if (t->skipped) bprintf(&b, "\n%d malformed row%s skipped.\n", t->skipped, t->skipped == 1 ? "" : "s");
        if (b.oom) {
            free(b.s);
            return errf(err, errn, "out of memory");
        }
        *out = b.s;
        return 0;
    }
    int c_id = table_col(t, "run_id"), c_arm = table_col(t, "arm"), c_st = table_col(t, "status"),
        c_ex = table_col(t, "acc_exact"), c_sw = table_col(t, "acc_startswith"),
        c_seed = table_col(t, "seed");
    const char *missing = c_id < 0 ? "run_id" : c_arm < 0 ? "arm" : c_st < 0 ? "status" : c_ex < 0 ? "acc_exact" : NULL;
    if (missing) {
        free(b.s);
        return errf(err, errn, "results table has no '%s' column", missing);
    }

    /* identity keys except seed, and their columns */
    int ns;
    const CfgKey *schema = config_schema(&ns);
    const CfgKey **keys = malloc((size_t)ns * sizeof *keys);
    int *kcol = malloc((size_t)ns * sizeof *kcol);
    char (*defv)[CFG_PATH_MAX] = malloc((size_t)ns * sizeof *defv);
    IdRow *ids = malloc((size_t)t->nrows * sizeof *ids);
    char *is_last = calloc((size_t)t->nrows, 1);
    Cell *cells = NULL;
    int nc = 0, ccap = 0, rc = -1;
    double *praw = NULL, *padj = NULL;
    int *tested_idx = NULL;
    char *vary = NULL;
    if (!keys || !kcol || !defv || !ids || !is_last) goto oom;
    int nkeys = 0;
    Config dflt;
    config_defaults(&dflt);
    for (int i = 0; i < ns; i++) {
        if (!schema[i].identity || strcmp(schema[i].name, "seed") == 0) continue;
        keys[nkeys] = &schema[i];
        kcol[nkeys] = table_col(t, schema[i].name);
        config_get(&dflt, &schema[i], defv[nkeys], sizeof defv[nkeys]);
        nkeys++;
    }

    /* the last row of each run_id is the run's state */
    for (int r = 0; r < t->nrows; r++) ids[r] = (IdRow){t->rows[r][c_id], r};
    qsort(ids, (size_t)t->nrows, sizeof *ids, cmp_idrow);
    int nruns = 0;
    for (int i = 0; i < t->nrows; i++)
        if (i + 1 == t->nrows || strcmp(ids[i].id, ids[i + 1].id) != 0) {
            is_last[ids[i].row] = 1;
            nruns++;
        }
    int n_ok = 0, n_failed = 0, n_div = 0, n_other = 0, n_unreadable = 0;
    for (int r = 0; r < t->nrows; r++) {
        if (!is_last[r]) continue;
        const char *st = t->rows[r][c_st];
        if (strcmp(st, "failed") == 0) {
            n_failed++;
            continue;
        }
        if (strcmp(st, "diverged") == 0) {
            n_div++;
            continue;
        }
        if (strcmp(st, "ok") != 0) {
            n_other++;
            continue;
        }
        double ex, sw;
        if (!num(t->rows[r][c_ex], &ex)) {
            n_unreadable++;
            continue;
        }
        if (c_sw < 0 || !num(t->rows[r][c_sw], &sw)) sw = NAN;
        n_ok++;
        const char *arm = t->rows[r][c_arm];
        int ci = -1;
        for (int i = 0; i < nc && ci < 0; i++) {
            if (strcmp(cells[i].arm, arm) != 0) continue;
            int same = 1;
            for (int k = 0; k < nkeys && same; k++)
                same = strcmp(cells[i].vals[k], cell_val(t, r, keys[k], kcol[k])) == 0;
            if (same) ci = i;
        }
        if (ci < 0) {
            if (nc == ccap) {
                int ncap = ccap ? ccap * 2 : 16;
                Cell *nce = realloc(cells, (size_t)ncap * sizeof *nce);
                if (!nce) goto oom;
                cells = nce;
                ccap = ncap;
            }
            Cell *c = &cells[nc];
            memset(c, 0, sizeof *c);
            c->vals = malloc((size_t)(nkeys ? nkeys : 1) * sizeof *c->vals);
            if (!c->vals) goto oom;
            nc++;
            c->arm = arm;
            c->first_row = r;
            c->base = -1;
            for (int k = 0; k < nkeys; k++) c->vals[k] = cell_val(t, r, keys[k], kcol[k]);
            ci = nc - 1;
        }
        if (cell_add(&cells[ci], c_seed >= 0 ? t->rows[r][c_seed] : "", ex, sw) != 0) goto oom;
        cells[ci].nstale += stale && stale[r];
    }

    /* order: baseline first, then arms by first appearance; cells by value */
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
    for (int i = 1; i < nc; i++) {
        Cell v = cells[i];
        int j = i - 1;
        while (j >= 0 && cmp_cells(&cells[j], &v, nkeys) > 0) {
            cells[j + 1] = cells[j];
            j--;
        }
        cells[j + 1] = v;
    }

    /* labels: arm + keys that vary among the arm's cells */
    vary = calloc((size_t)(nkeys ? nkeys : 1), 1);
    if (!vary) goto oom;
    for (int i = 0; i < nc;) {
        int j = i;
        while (j < nc && strcmp(cells[j].arm, cells[i].arm) == 0) j++;
        for (int k = 0; k < nkeys; k++) {
            vary[k] = 0;
            for (int x = i + 1; x < j && !vary[k]; x++) vary[k] = strcmp(cells[x].vals[k], cells[i].vals[k]) != 0;
        }
        for (int x = i; x < j; x++) {
            size_t len = (size_t)snprintf(cells[x].label, sizeof cells[x].label, "%s", cells[x].arm);
            for (int k = 0; k < nkeys && len < sizeof cells[x].label; k++) {
                if (!vary[k]) continue;
                char sv[64];
                short_val(cells[x].vals[k], sv, sizeof sv);
                int w = snprintf(cells[x].label + len, sizeof cells[x].label - len, " %s=%s", keys[k]->name, sv);
                if (w < 0) break;
                len += (size_t)w;
            }
        }
        i = j;
    }

    /* pair each non-baseline cell with its baseline cell */
    int nbase = 0;
    for (int i = 0; i < nc; i++) nbase += strcmp(cells[i].arm, "baseline") == 0;
    for (int k = 0; k < nkeys; k++) { /* keys that vary among the baseline cells */
        vary[k] = 0;
        const char *first = NULL;
        for (int i = 0; i < nc && !vary[k]; i++) {
            if (strcmp(cells[i].arm, "baseline") != 0) continue;
            if (!first) first = cells[i].vals[k];
            else vary[k] = strcmp(first, cells[i].vals[k]) != 0;
        }
    }
    int ntested = 0;
    for (int i = 0; i < nc; i++) {
        Cell *c = &cells[i];
        if (strcmp(c->arm, "baseline") == 0) continue;
        if (nbase == 0) {
            c->why = "no baseline arm";
            continue;
        }
        int found = 0;
        for (int j = 0; j < nc; j++) {
            if (strcmp(cells[j].arm, "baseline") != 0) continue;
            int agree = 1;
            for (int k = 0; k < nkeys && agree; k++)
                if (vary[k]) agree = strcmp(cells[j].vals[k], c->vals[k]) == 0;
            if (agree) {
                found++;
                c->base = j;
            }
        }
        if (found != 1) {
            c->base = -1;
            c->why = found == 0 ? "no matching baseline cell" : "ambiguous baseline cell";
            continue;
        }
        const Cell *bc = &cells[c->base];
        double *a = malloc((size_t)c->n * sizeof *a), *bb = malloc((size_t)c->n * sizeof *bb);
        if (!a || !bb) {
            free(a);
            free(bb);
            goto oom;
        }
        int np = 0;
        for (int s = 0; s < c->n; s++)
            for (int q = bc->n - 1; q >= 0; q--)
                if (strcmp(bc->seeds[q], c->seeds[s]) == 0) {
                    a[np] = c->exact[s];
                    bb[np] = bc->exact[q];
                    np++;
                    break;
                }
        c->npaired = np;
        c->pt = stats_paired_t(a, bb, np);
        free(a);
        free(bb);
        if (np >= 2) {
            c->tested = 1;
            ntested++;
        }
    }
    if (ntested > 0) {
        praw = malloc((size_t)ntested * sizeof *praw);
        padj = malloc((size_t)ntested * sizeof *padj);
        tested_idx = malloc((size_t)ntested * sizeof *tested_idx);
        if (!praw || !padj || !tested_idx) goto oom;
        int m = 0;
        for (int i = 0; i < nc; i++)
            if (cells[i].tested) {
                tested_idx[m] = i;
                praw[m++] = cells[i].pt.p;
            }
        stats_holm(praw, m, padj);
        for (int x = 0; x < m; x++) cells[tested_idx[x]].holm = padj[x];
    }

    /* ---- output ---- */
    bprintf(&b, "%d ok run%s, %d failed, %d diverged", n_ok, n_ok == 1 ? "" : "s", n_failed, n_div);
    if (n_other) bprintf(&b, ", %d with another status", n_other);
    if (n_unreadable) bprintf(&b, ", %d ok with an unreadable acc_exact (left out)", n_unreadable);
    bprintf(&b, " (%d run%s in %d row%s", nruns, nruns == 1 ? "" : "s", t->nrows, t->nrows == 1 ? "" : "s");
    if (t->nrows > nruns) bprintf(&b, "; the last row of a run counts");
    if (t->skipped) bprintf(&b, "; %d malformed row%s skipped", t->skipped, t->skipped == 1 ? "" : "s");
    bprintf(&b, ").\n\n");
    data_notes(&b, t, ids, is_last, stale);
    if (nc == 0) {
        bprintf(&b, "No ok runs to report.\n");
        rc = 0;
        goto finish;
    }

    /* settings: keys equal in every cell (when not the default), and keys
     * fixed within each arm but differing between arms */
    {
        int any = 0;
        for (int k = 0; k < nkeys; k++) {
            int same = 1;
            for (int i = 1; i < nc && same; i++) same = strcmp(cells[i].vals[k], cells[0].vals[k]) == 0;
            /* "" = no effect in any cell (lora_dropout without LoRA) */
            if (!same || !cells[0].vals[k][0] || strcmp(cells[0].vals[k], defv[k]) == 0) continue;
            char sv[64];
            short_val(cells[0].vals[k], sv, sizeof sv);
            bprintf(&b, "%s`%s=", any ? " " : "Common settings (not default): ", keys[k]->name);
            bput_md(&b, sv);
            bprintf(&b, "`");
            any = 1;
        }
        if (any) bprintf(&b, "\n\n");
        /* per arm */
        char *armfixed = calloc((size_t)(nkeys ? nkeys : 1), 1);
        if (!armfixed) goto oom;
        for (int k = 0; k < nkeys; k++) {
            int same_all = 1, fixed = 1;
            for (int i = 1; i < nc; i++) {
                if (strcmp(cells[i].vals[k], cells[0].vals[k]) != 0) same_all = 0;
                for (int j = 0; j < i && fixed; j++)
                    if (strcmp(cells[i].arm, cells[j].arm) == 0 && strcmp(cells[i].vals[k], cells[j].vals[k]) != 0)
                        fixed = 0;
            }
            armfixed[k] = fixed && !same_all;
        }
        any = 0;
        for (int i = 0; i < nc; i++) {
            if (i > 0 && strcmp(cells[i].arm, cells[i - 1].arm) == 0) continue;
            int keys_here = 0;
            for (int k = 0; k < nkeys; k++) {
                if (!armfixed[k] || !cells[i].vals[k][0]) continue; /* "" = no effect in this arm */
                if (!keys_here) {
                    bprintf(&b, "%s", any ? "; " : "Arm settings: ");
                    bput_md(&b, cells[i].arm);
                    bprintf(&b, ":");
                }
                char sv[64];
                short_val(cells[i].vals[k], sv, sizeof sv);
                bprintf(&b, " `%s=", keys[k]->name);
                bput_md(&b, sv);
                bprintf(&b, "`");
                keys_here = any = 1;
            }
        }
        free(armfixed);
        if (any) bprintf(&b, "\n\n");
    }

    bprintf(&b, "| cell | n | exact %% | startswith %% | seeds | vs | Δ exact (pp) | t | df | p | p (Holm) | note |\n");
    bprintf(&b, "|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < nc; i++) {
        Cell *c = &cells[i];
        Summary se = stats_summary(c->exact, c->n);
        double *swv = malloc((size_t)c->n * sizeof *swv);
        const char **sd = malloc((size_t)c->n * sizeof *sd);
        if (!swv || !sd) {
            free(swv);
            free(sd);
            goto oom;
        }
        int nsw = 0;
        for (int s = 0; s < c->n; s++)
            if (!isnan(c->sw[s])) swv[nsw++] = c->sw[s];
        Summary ss = stats_summary(swv, nsw);
        free(swv);
        bprintf(&b, "| ");
        bput_md(&b, c->label);
        bprintf(&b, " | %d | %.2f ± %.2f | ", c->n, se.mean, se.sd);
        if (nsw) bprintf(&b, "%.2f ± %.2f", ss.mean, ss.sd);
        else bprintf(&b, "—");
        if (nsw && nsw < c->n) bprintf(&b, " (n=%d)", nsw);
        bprintf(&b, " | ");
        /* seeds, in numeric order */
        for (int s = 0; s < c->n; s++) sd[s] = c->seeds[s];
        for (int s = 1; s < c->n; s++) {
            const char *v = sd[s];
            int j = s - 1;
            while (j >= 0 && cmp_val(sd[j], v) > 0) {
                sd[j + 1] = sd[j];
                j--;
            }
            sd[j + 1] = v;
        }
        for (int s = 0; s < c->n; s++) {
            if (s) bprintf(&b, " ");
            bput_md(&b, sd[s]);
        }
        free(sd);
        char note[200] = "";
        size_t nl = 0;
        if (c->nstale)
            nl += (size_t)snprintf(note, sizeof note, "%d stale (data changed)", c->nstale);
        if (strcmp(c->arm, "baseline") == 0) {
            bprintf(&b, " | — | | | | | |%s%s |\n", nl ? " " : "", note);
            continue;
        }
        if (c->base < 0) {
            bprintf(&b, " | — | | | | | | %s%s%s |\n", c->why, nl ? "; " : "", note);
            continue;
        }
        bprintf(&b, " | ");
        bput_md(&b, cells[c->base].label);
        if ((c->npaired < c->n || c->npaired < cells[c->base].n) && nl < sizeof note)
            nl += (size_t)snprintf(note + nl, sizeof note - nl, "%s%d of %d seeds paired", nl ? "; " : "", c->npaired,
                                   c->n);
        if (c->pt.note && nl < sizeof note)
            snprintf(note + nl, sizeof note - nl, "%s%s", nl ? "; " : "", c->pt.note);
        if (c->npaired == 0) {
            bprintf(&b, " | | | | | | %s |\n", note);
            continue;
        }
        char ts[32], ps[32], hs[32] = "";
        fmt_t(c->pt.t, ts, sizeof ts);
        fmt_p(c->pt.p, ps, sizeof ps);
        if (c->tested) fmt_p(c->holm, hs, sizeof hs);
        bprintf(&b, " | %+.2f | %s | %.0f | %s | %s | %s |\n", c->pt.mean_diff, ts, c->pt.df, ps,
                c->tested ? hs : "—", note);
    }
    bprintf(&b,
            "\n"
            "- **n**: ok runs in the cell; accuracies are mean ± sample sd (n − 1) over its seeds, in %%.\n"
            "- **Δ, t, df, p**: paired one-tailed t-test of exact-match accuracy, cell > baseline, runs "
            "paired by seed: d = cell − baseline, Δ = mean(d) in percentage points, t = mean(d)/(sd(d)/√n), "
            "df = n − 1, p = P(T ≥ t).\n"
            "- **vs**: the baseline cell that agrees with the cell on every key that varies among the "
            "baseline cells.\n"
            "- **p (Holm)**: Holm step-down adjustment across the %d tested cell%s of the grid (cells with "
            "at least 2 pairs).\n",
            ntested, ntested == 1 ? "" : "s");
    rc = 0;
    goto finish;
oom:
    rc = errf(err, errn, "out of memory");
finish:
    free(keys);
    free(kcol);
    free(defv);
    free(ids);
    free(is_last);
    free(vary);
    free(praw);
    free(padj);
    free(tested_idx);
    cells_free(cells, nc);
    if (rc == 0 && b.oom) rc = errf(err, errn, "out of memory");
    if (rc == 0) *out = b.s;
    else free(b.s);
    return rc;
}
