/* runs.csv spelling of config values: shortest floats, keys without effect empty. See
 * rowfmt.h. */
#define _GNU_SOURCE /* strdup */
#include "rowfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rowfmt_double(double x, char *out, size_t n) {
    if (!isfinite(x)) {
        snprintf(out, n, "%g", x);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(out, n, "%.*g", p, x);
        if (strtod(out, NULL) == x) return;
    }
    snprintf(out, n, "%.17g", x); /* not reached: 17 digits always round-trip */
}

void rowfmt_value(const CfgKey *k, const char *v, char *out, size_t n) {
    char *end = NULL;
    double x = k->type == CFG_FLOAT && *v ? strtod(v, &end) : 0;
    if (end && end != v && !*end && isfinite(x)) rowfmt_double(x, out, n);
    else snprintf(out, n, "%s", v);
}

/* The key named by k's requirement ("loss" of "loss!=ntp"), or NULL. */
static const CfgKey *required_key(const CfgKey *k) {
    const char *eq = k->requires ? strchr(k->requires, '=') : NULL;
    if (!eq) return NULL;
    char name[64];
    int len = (int)(eq - k->requires) - (eq > k->requires && eq[-1] == '!');
    snprintf(name, sizeof name, "%.*s", len, k->requires);
    return config_key(name);
}

int rowfmt_applies_by(const CfgKey *k, const char *(*get)(const char *name, void *ctx), void *ctx) {
    for (int depth = 0; k && depth < 16; depth++) { /* the schema's chains are short; 16 stops a cycle */
        if (!config_key_applies_by(k, get, ctx)) return 0;
        k = required_key(k);
    }
    return 1;
}

static const char *config_lookup(const char *name, void *ctx) {
    static _Thread_local char buf[CFG_PATH_MAX];
    const CfgKey *k = config_key(name);
    if (!k) return NULL;
    config_get((const Config *)ctx, k, buf, sizeof buf);
    return buf;
}

void rowfmt_config_value(const Config *c, const CfgKey *k, char *out, size_t n) {
    char raw[CFG_PATH_MAX];
    if (!rowfmt_applies_by(k, config_lookup, (void *)c)) {
        if (n) out[0] = 0;
        return;
    }
    config_get(c, k, raw, sizeof raw);
    rowfmt_value(k, raw, out, n);
}

int rowfmt_plan(RowFmtPlan *p, const char *const *cols, int ncols) {
    p->ncols = ncols;
    p->cols = cols;
    p->key = calloc((size_t)(ncols ? ncols : 1), sizeof *p->key);
    if (!p->key) return -1;
    for (int i = 0; i < ncols; i++) p->key[i] = config_key(cols[i]);
    return 0;
}

void rowfmt_plan_free(RowFmtPlan *p) {
    free(p->key);
    memset(p, 0, sizeof *p);
}

typedef struct RowRef {
    const RowFmtPlan *p;
    char *const *row;
} RowRef;

/* The row's value of column name (NULL when the header lacks it). */
static const char *row_lookup(const char *name, void *ctx) {
    const RowRef *rr = ctx;
    for (int i = 0; i < rr->p->ncols; i++)
        if (rr->p->key[i] && !strcmp(rr->p->cols[i], name)) return rr->row[i];
    return NULL;
}

int rowfmt_row(const RowFmtPlan *p, char **row) {
    /* decide on the values as read, then rewrite: blanking one key must not change
     * whether another applies within this pass */
    char *keep = malloc((size_t)(p->ncols ? p->ncols : 1));
    if (!keep) return -1;
    RowRef rr = {p, row};
    for (int i = 0; i < p->ncols; i++) keep[i] = !p->key[i] || rowfmt_applies_by(p->key[i], row_lookup, &rr);
    int rc = 0;
    for (int i = 0; i < p->ncols && rc == 0; i++) {
        char v[64] = ""; /* a float's shortest text; longer values are never rewritten */
        if (!p->key[i] || (keep[i] && (p->key[i]->type != CFG_FLOAT || strlen(row[i]) >= sizeof v))) continue;
        if (keep[i]) rowfmt_value(p->key[i], row[i], v, sizeof v);
        if (!strcmp(v, row[i])) continue;
        char *nv = strdup(v);
        if (!nv) rc = -1;
        else {
            free(row[i]);
            row[i] = nv;
        }
    }
    free(keep);
    return rc;
}
