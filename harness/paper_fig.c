/* A figure of the paper: which runs it rests on, whether to extract, redraw
 * from the committed data file, or call it missing (the rule in paper.h),
 * and the "# runs:" line of its data file. */
#define _GNU_SOURCE
#include "errmsg.h"
#include "paper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "figure.h"

/* The file of a run directory the figure reads, or NULL (runs.csv only). */
static const char *run_file(const PaperArtifact *a) {
    if (a->fig == PF_CURVES || a->fig == PF_EPOCHS) return "curve.csv";
    if (a->fig == PF_TSNE) return "probe/tsne.csv";
    return NULL;
}

/* The runs behind figure a: every run of rc's cells in cell order (for
 * PF_TSNE only those of seed a->fig_seed), with whether its file exists.
 * *runs is malloc'd (NULL when n = 0). Returns n, or -1 out of memory. */
static int fig_runs(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, PaperRun **runs) {
    int total = 0;
    for (int i = 0; i < rc->ncells; i++) total += rc->cells[i].n;
    *runs = total ? malloc((size_t)total * sizeof **runs) : NULL;
    if (total && !*runs) return -1;
    const char *file = run_file(a);
    int n = 0;
    for (int i = 0; i < rc->ncells; i++)
        for (int s = 0; s < rc->cells[i].n; s++) {
            if (a->fig == PF_TSNE && strcmp(rc->cells[i].seeds[s], a->fig_seed) != 0) continue;
            PaperRun *r = &(*runs)[n++];
            r->cell = i;
            r->row = rc->cells[i].rows[s];
            r->id = table_get(&pg->t, r->row, "run_id");
            char path[1400];
            snprintf(path, sizeof path, "%s/%s/%s", pg->rundir, r->id, file ? file : "");
            r->has_file = !file || access(path, R_OK) == 0;
        }
    return n;
}

/* Prepend "# runs: ID ..." (the runs with has_file) to base.dat. */
static int write_runs_line(const char *base, const PaperRun *runs, int n, char *err, size_t errn) {
    char path[1200];
    snprintf(path, sizeof path, "%s.dat", base);
    FILE *f = fopen(path, "r");
    if (!f) return errf(err, errn, "%s: cannot read", path);
    StrBuf b = {0};
    sb_printf(&b, "# runs:");
    for (int i = 0; i < n; i++)
        if (runs[i].has_file) sb_printf(&b, " %s", runs[i].id);
    sb_printf(&b, "\n");
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) sb_printf(&b, "%.*s", (int)got, chunk);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.oom) {
        free(b.s);
        return errf(err, errn, "%s: cannot read", path);
    }
    f = fopen(path, "w");
    bad = !f || fwrite(b.s, 1, b.len, f) != b.len;
    if (f) bad |= fclose(f) != 0;
    free(b.s);
    return bad ? errf(err, errn, "%s: cannot write", path) : 0;
}

/* Whether base.gp and base.dat exist and every run named in the .dat's
 * "# runs:" line (at least one) is recorded ok in t; *nlisted gets their
 * count. */
static int committed_data_valid(const char *base, const Table *t, int *nlisted) {
    char path[1200], line[1 << 14];
    *nlisted = 0;
    snprintf(path, sizeof path, "%s.gp", base);
    if (access(path, R_OK) != 0) return 0;
    snprintf(path, sizeof path, "%s.dat", base);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int found = 0, ok = 1;
    while (!found && fgets(line, sizeof line, f) && line[0] == '#') {
        if (strncmp(line, "# runs:", 7) != 0) continue;
        found = 1;
        for (char *save = NULL, *tok = strtok_r(line + 7, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
            char st[32];
            ok &= store_status_of(t, tok, st, sizeof st) && strcmp(st, "ok") == 0;
            (*nlisted)++;
        }
    }
    fclose(f);
    return found && ok && *nlisted > 0;
}

static void add_files(PaperResult *r, const char *id) {
    size_t len = strlen(r->files);
    snprintf(r->files + len, sizeof r->files - len, "%s%s.png %s.svg %s.gp %s.dat", len ? " " : "", id, id, id, id);
}

/* Extract and draw from the runs with their file; state s on success. */
static void extract(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const PaperRun *runs, int n,
                    const char *base, PaperState s, PaperResult *r) {
    char ferr[1024] = "";
    if (paper_fig_draw(a, pg, rc, runs, n, base, ferr, sizeof ferr) ||
        write_runs_line(base, runs, n, ferr, sizeof ferr)) {
        paper_note(r, PS_FAILED, "figure: %s", ferr);
        return;
    }
    int with = 0;
    for (int i = 0; i < n; i++) with += runs[i].has_file;
    if (s == PS_PARTIAL)
        paper_note(r, s, "figure drawn from %d of %d runs: the others' run directories lack %s", with, n, run_file(a));
    add_files(r, a->id);
}

int paper_figure(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const char *out,
                 const char *gnuplot_err, PaperResult *r, char *err, size_t errn) {
    if (gnuplot_err) {
        paper_note(r, PS_MISSING, "figure: gnuplot not available: %s", gnuplot_err);
        return 0;
    }
    PaperRun *runs;
    int n = fig_runs(a, pg, rc, &runs);
    if (n < 0) return errf(err, errn, "out of memory");
    int with = 0, nlisted;
    for (int i = 0; i < n; i++) with += runs[i].has_file;
    char base[1100], ferr[1024] = "";
    snprintf(base, sizeof base, "%s/%s", out, a->id);
    if (n > 0 && with == n) {
        extract(a, pg, rc, runs, n, base, PS_MADE, r);
    } else if (committed_data_valid(base, &pg->t, &nlisted)) {
        if (fig_redraw(base, ferr, sizeof ferr)) paper_note(r, PS_FAILED, "figure: %s", ferr);
        else {
            paper_note(r, PS_MADE, "figure drawn from the committed data file %s.dat (%d runs; their run "
                       "directories are not here)", a->id, nlisted);
            add_files(r, a->id);
        }
    } else if (with > 0) {
        extract(a, pg, rc, runs, n, base, PS_PARTIAL, r);
    } else if (n == 0) {
        paper_note(r, PS_MISSING, "figure: no ok runs%s%s", a->fig == PF_TSNE ? " of seed " : "",
                   a->fig == PF_TSNE ? a->fig_seed : "");
    } else {
        paper_note(r, PS_MISSING, "figure: the run directories of its %d runs (%s/<run_id>/%s) are not here, and "
                   "there is no committed %s.dat naming only runs still recorded ok",
                   n, pg->rundir, run_file(a), a->id);
    }
    free(runs);
    return 0;
}

const char *paper_cell_title(const PaperArtifact *a, const ReportCells *rc, int i) {
    const char *arm = rc->cells[i].arm;
    int same = 0;
    for (int j = 0; j < rc->ncells; j++) same += strcmp(rc->cells[j].arm, arm) == 0;
    for (int k = 0; same == 1 && a->arms && a->arm_titles && a->arms[k]; k++)
        if (strcmp(a->arms[k], arm) == 0) return a->arm_titles[k];
    return rc->cells[i].label;
}
