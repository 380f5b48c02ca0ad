/* `harness paper`: every artifact, its grid's runs loaded once, its table
 * and figure made, its state recorded for the README. See paper.h. */
#define _GNU_SOURCE
#include "errmsg.h"
#include "paper.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "figure.h"
#include "fsutil.h"

void paper_note(PaperResult *r, PaperState s, const char *fmt, ...) {
    if (s > r->state) r->state = s;
    size_t len = strlen(r->detail);
    if (len && len + 2 < sizeof r->detail) {
        memcpy(r->detail + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail + len, sizeof r->detail - len, fmt, ap);
    va_end(ap);
}

/* Load grid name: RESULTS/<name>/runs.csv and GRIDS/<name>.grid. */
static int grid_load(PaperGrid *pg, const char *name, const PaperOpts *o, char *err, size_t errn) {
    memset(pg, 0, sizeof *pg);
    snprintf(pg->name, sizeof pg->name, "%s", name);
    snprintf(pg->csv, sizeof pg->csv, "%s/%s/runs.csv", o->results, name);
    snprintf(pg->rundir, sizeof pg->rundir, "%s/%s/runs", o->results, name);
    snprintf(pg->gridpath, sizeof pg->gridpath, "%s/%s.grid", o->grids, name);
    if (store_read(pg->csv, &pg->t, err, errn)) return -1;
    char gerr[512];
    if (access(pg->gridpath, R_OK) != 0) snprintf(pg->grid_err, sizeof pg->grid_err, "not read: no such file");
    else if (grid_parse_file(pg->gridpath, &pg->g, gerr, sizeof gerr))
        snprintf(pg->grid_err, sizeof pg->grid_err, "not parsed: %s", gerr);
    else pg->parsed = 1;
    return 0;
}

static void grid_unload(PaperGrid *pg) {
    table_free(&pg->t);
    if (pg->parsed) grid_free(&pg->g);
    memset(pg, 0, sizeof *pg);
}

/* The figure of a, its state merged into r: a figure that cannot be drawn
 * leaves an artifact with a table partial, not missing. */
static int make_figure(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const PaperOpts *o,
                       const char *gnuplot_err, PaperResult *r, char *err, size_t errn) {
    PaperResult fr;
    memset(&fr, 0, sizeof fr);
    if (paper_figure(a, pg, rc, o->out, gnuplot_err, &fr, err, errn)) return -1;
    PaperState s = fr.state == PS_MISSING && a->table != PT_NONE ? PS_PARTIAL : fr.state;
    if (fr.detail[0]) paper_note(r, s, "%s", fr.detail);
    size_t len = strlen(r->files);
    snprintf(r->files + len, sizeof r->files - len, "%s%s", len && fr.files[0] ? " " : "", fr.files);
    return 0;
}

/* Make artifact a from its loaded grid pg into r. */
static int make_one(const PaperArtifact *a, const PaperGrid *pg, const PaperOpts *o, const char *gnuplot_err,
                    PaperResult *r, char *err, size_t errn) {
    ReportCells rc;
    char cerr[600];
    if (report_cells(&pg->t, a->metric, a->arms, NULL, &rc, cerr, sizeof cerr)) {
        paper_note(r, PS_FAILED, "%s: %s", pg->csv, cerr);
        return 0;
    }
    r->nok = rc.n_ok;
    r->nfailed = rc.n_failed + rc.n_diverged;
    int rcode = 0;
    if (pg->t.nrows == 0) {
        paper_note(r, PS_MISSING, "no runs recorded in %s", pg->csv);
    } else if (rc.n_ok == 0) {
        paper_note(r, PS_MISSING, "no ok runs with a numeric %s in %s (%d failed, %d diverged)", a->metric, pg->csv,
                   rc.n_failed, rc.n_diverged);
    } else {
        StrBuf lack = {0};
        if (paper_lacking_cells(a, pg, &lack, 6))
            paper_note(r, PS_PARTIAL, "cells lacking runs: %s", lack.s ? lack.s : "");
        free(lack.s);
        if (a->fig != PF_NONE) rcode = make_figure(a, pg, &rc, o, gnuplot_err, r, err, errn);
        if (!rcode && a->table != PT_NONE) {
            char figs[300], id[64];
            snprintf(id, sizeof id, "%s.gp", a->id);
            if (a->fig != PF_NONE && strstr(r->files, id))
                snprintf(figs, sizeof figs, "[%s.gp](%s.gp) reading [%s.dat](%s.dat)", a->id, a->id, a->id, a->id);
            else if (a->fig != PF_NONE) snprintf(figs, sizeof figs, "%s.gp (not drawn; see README.md)", a->id);
            rcode = paper_table_write(a, pg, &rc, a->fig != PF_NONE ? figs : NULL, o->out, r, err, errn);
        }
    }
    report_cells_free(&rc);
    return rcode;
}

static const char *const STATE_NAMES[] = {"made", "partial", "missing", "failed"};

static void progress(const PaperOpts *o, const PaperArtifact *a, const PaperResult *r) {
    if (!o->progress) return;
    fprintf(o->progress, "paper: %s: %s (%d ok run%s)%s%s%s%s\n", a->id, STATE_NAMES[r->state], r->nok,
            r->nok == 1 ? "" : "s", r->detail[0] ? ": " : "", r->detail, r->files[0] ? " -> " : "", r->files);
}

/* The loaded grid named name among grids[0..*ng), loading it when new. */
static PaperGrid *grid_get(PaperGrid **grids, int *ng, const char *name, const PaperOpts *o, char *err, size_t errn) {
    for (int i = 0; i < *ng; i++)
        if (strcmp(grids[i]->name, name) == 0) return grids[i];
    PaperGrid *pg = malloc(sizeof *pg);
    if (!pg) {
        errf(err, errn, "out of memory");
        return NULL;
    }
    if (grid_load(pg, name, o, err, errn)) {
        free(pg);
        return NULL;
    }
    grids[(*ng)++] = pg;
    return pg;
}

int paper_make(const PaperOpts *opts, char *err, size_t errn) {
    PaperOpts o = *opts;
    if (!o.results) o.results = "results";
    if (!o.out) o.out = "paper";
    if (!o.grids) o.grids = "grids";
    if (mkdir_p(o.out)) return errf(err, errn, "%s: cannot create: %s", o.out, strerror(errno));
    char gerr[600];
    const char *gnuplot_err = fig_gnuplot_check(gerr, sizeof gerr) ? gerr : NULL;
    int n, ng = 0, rcode = 0, failed = 0;
    const PaperArtifact *arts = paper_artifacts(&n);
    PaperGrid **grids = calloc((size_t)n, sizeof *grids);
    const PaperGrid **of = calloc((size_t)n, sizeof *of);
    PaperResult *res = calloc((size_t)n, sizeof *res);
    if (!grids || !of || !res) rcode = errf(err, errn, "out of memory");
    for (int i = 0; i < n && !rcode; i++) {
        if (!arts[i].grid) paper_note(&res[i], PS_MISSING, "%s", arts[i].missing);
        else if (!(of[i] = grid_get(grids, &ng, arts[i].grid, &o, err, errn))) rcode = -1;
        else rcode = make_one(&arts[i], of[i], &o, gnuplot_err, &res[i], err, errn);
        if (!rcode) progress(&o, &arts[i], &res[i]);
        failed += res[i].state == PS_FAILED;
    }
    if (!rcode) rcode = paper_readme(arts, res, n, &o, err, errn);
    for (int i = 0; i < ng; i++) {
        grid_unload(grids[i]);
        free(grids[i]);
    }
    free(grids), free(of), free(res);
    if (!rcode && failed) {
        errf(err, errn, "%d artifact%s failed (see %s/README.md)", failed, failed == 1 ? "" : "s", o.out);
        return 1;
    }
    return rcode;
}
