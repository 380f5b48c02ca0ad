/* Which cells of an artifact's grid file lack runs, and which recorded runs
 * the grid file no longer has. See paper.h. */
#include "paper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int arm_used(const PaperArtifact *a, const char *arm) {
    if (!a->arms) return 1;
    for (int i = 0; a->arms[i]; i++)
        if (strcmp(a->arms[i], arm) == 0) return 1;
    return 0;
}

/* Whether run id is recorded ok in t with a numeric metric. */
static int run_ok(const Table *t, const char *id, const char *metric) {
    int r = store_last_row(t, id);
    double v;
    if (r < 0) return 0;
    const char *st = table_get(t, r, "status");
    return st && strcmp(st, "ok") == 0 && report_num(table_get(t, r, metric), &v);
}

/* The value of identity key k in cfg as a cell holds it ("" when it has no
 * effect in the run). */
static void key_val(const Config *cfg, const CfgKey *k, char *out, size_t n) {
    if (config_key_applies(cfg, k)) config_get(cfg, k, out, n);
    else out[0] = 0;
}

/* Whether key k varies among the grid's cells of arm. */
static int varies_in_arm(const Grid *g, const char *arm, const CfgKey *k) {
    char first[CFG_PATH_MAX], v[CFG_PATH_MAX];
    int have = 0;
    for (int i = 0; i < g->nruns; i++) {
        if (strcmp(g->runs[i].arm, arm) != 0) continue;
        key_val(&g->runs[i].cfg, k, have ? v : first, sizeof v);
        if (have && strcmp(first, v) != 0) return 1;
        have = 1;
    }
    return 0;
}

/* The label of grid run i's cell: arm + " key=value" for keys varying in its arm. */
static void grid_label(const Grid *g, int i, char *out, size_t n) {
    int ns;
    const CfgKey *schema = config_schema(&ns);
    size_t len = (size_t)snprintf(out, n, "%s", g->runs[i].arm);
    for (int k = 0; k < ns && len < n; k++) {
        if (!schema[k].identity || strcmp(schema[k].name, "seed") == 0) continue;
        if (!varies_in_arm(g, g->runs[i].arm, &schema[k])) continue;
        char v[CFG_PATH_MAX], sv[64];
        key_val(&g->runs[i].cfg, &schema[k], v, sizeof v);
        report_short_val(v, sv, sizeof sv);
        len += (size_t)snprintf(out + len, n - len, " %s=%s", schema[k].name, sv);
    }
}

int paper_lacking_cells(const PaperArtifact *a, const PaperGrid *pg, StrBuf *b, int max) {
    if (!pg->parsed) return 0;
    const Grid *g = &pg->g;
    int nlack = 0;
    for (int i = 0; i < g->nruns;) {
        int j = i, ok = 0;
        while (j < g->nruns && g->runs[j].cell == g->runs[i].cell) ok += run_ok(&pg->t, g->runs[j++].run_id, a->metric);
        if (arm_used(a, g->runs[i].arm) && ok < j - i) {
            if (nlack < max) {
                char label[512];
                grid_label(g, i, label, sizeof label);
                sb_printf(b, "%s", nlack ? "; " : "");
                sb_put_md(b, label);
                sb_printf(b, " (%d/%d seeds)", ok, j - i);
            }
            nlack++;
        }
        i = j;
    }
    if (nlack > max) sb_printf(b, "; and %d more", nlack - max);
    return nlack;
}

int paper_runs_outside_grid(const PaperGrid *pg, const ReportCells *rc) {
    if (!pg->parsed) return 0;
    int n = 0;
    for (int i = 0; i < rc->ncells; i++)
        for (int s = 0; s < rc->cells[i].n; s++) {
            const char *id = table_get(&pg->t, rc->cells[i].rows[s], "run_id");
            int found = 0;
            for (int r = 0; r < pg->g.nruns && !found; r++) found = strcmp(pg->g.runs[r].run_id, id) == 0;
            n += !found;
        }
    return n;
}
