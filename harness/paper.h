/* `harness paper`: every artifact of the LLM-JEPA paper (design/PAPER.md)
 * regenerated from the recorded results, into one output directory.
 *
 * Each artifact (paper_artifacts) names its grid: its runs are the rows of
 * RESULTS/<grid>/runs.csv, its run directories RESULTS/<grid>/runs/<run_id>/,
 * and GRIDS/<grid>.grid (when it parses) says which cells should exist.
 * Outputs, in OUT:
 *   <id>.md, <id>.tex   a table: Markdown, and a standalone LaTeX booktabs
 *                       tabular (its header as % comments)
 *   <id>.dat/.gp/.png/.svg  a figure (analysis/figure.h); the .dat starts
 *                       with "# runs: ID ..." naming the runs it was drawn from
 *   README.md           one row per artifact: status, runs, outputs, command
 * An artifact without ok runs is listed as missing, never faked. Output is a
 * pure function of the inputs (no dates; fixed number formats), so running
 * twice on the same results gives byte-identical files.
 *
 * Figures drawn from run directories (curves, t-SNE; run directories are not
 * committed): when every run behind the figure has its file, the data is
 * extracted and drawn; else, when OUT/<id>.gp and OUT/<id>.dat exist and every
 * run named in the .dat's "# runs:" line is still recorded ok, the figure is
 * redrawn from them (fig_redraw; README says "drawn from the committed data
 * file"); else, when some runs have their files, it is drawn from those
 * (partial); else it is missing. */
#ifndef HARNESS_PAPER_H
#define HARNESS_PAPER_H

#include <stddef.h>
#include <stdio.h>

#include "grid.h"
#include "report.h"
#include "store.h"

/* ---- the artifact table (paper_artifacts.c) ---- */

typedef enum {
    PT_NONE,   /* no table */
    PT_CELLS,  /* one row per cell: mean ± sd, Δ vs baseline, p, Holm p, paper */
    PT_PROBE,  /* Table 10: per arm, probe_lsq_resid and probe_sv_mean */
    PT_STP,    /* one row per train_limit: NTP and STP side by side */
} PaperTableKind;

typedef enum {
    PF_NONE,
    PF_HEATMAP, /* Figure 3: mean over seeds of fig_arm's cells, fig_y down, fig_x across */
    PF_CURVES,  /* Figure 4: NTP loss and JEPA distance per step (curve.csv step rows) */
    PF_EPOCHS,  /* Figure 5: metric per epoch (curve.csv epoch rows) */
    PF_TSNE,    /* Figure 6: probe/tsne.csv of each arm's fig_seed run */
    PF_SV,      /* Figure 7: probe_sv (runs.csv), mean over seeds per index, log y */
    PF_XY,      /* metric (mean ± sd) against key fig_x per arm, log x (STP) */
} PaperFigKind;

/* A published number, shown in the "paper" column of the cell it belongs to:
 * the first cell of arm arm whose keys agree with where ("key=value ...",
 * NULL = any; report_cell_find). col: the runs.csv column it is the
 * published value of (NULL = the artifact's metric). */
typedef struct PaperNumber {
    const char *arm, *where, *col, *value;
} PaperNumber;

typedef struct PaperArtifact {
    const char *id;            /* output base name: "table1" */
    const char *title;         /* "Table 1" */
    const char *shows;         /* what it shows, one line */
    const char *grid;          /* grid name; NULL: cannot be run (see missing) */
    const char *const *arms;   /* the arms used, NULL-terminated; NULL = all */
    const char *const *arm_titles; /* figure legend per arm (parallel to arms), or NULL: the labels */
    const char *metric;        /* runs.csv column tested / shown (in %, or the probe's units) */
    const char *extra;         /* PT_CELLS: a second column shown as mean ± sd (e.g. train_s), or NULL */
    PaperTableKind table;
    PaperFigKind fig;
    const char *fig_arm;       /* PF_HEATMAP: the arm mapped */
    const char *fig_x, *fig_y; /* PF_HEATMAP: keys across / down; PF_XY: the x key */
    const char *fig_seed;      /* PF_TSNE: the seed whose run is drawn */
    const PaperNumber *paper;  /* published numbers, npaper of them */
    int npaper;
    const char *paper_setting; /* the paper's setting behind them */
    const char *note;          /* how our runs differ from the paper's, or NULL */
    const char *missing;       /* grid == NULL: why it cannot be run */
} PaperArtifact;

/* The artifacts in PAPER.md order, and their count. */
const PaperArtifact *paper_artifacts(int *n);

/* ---- one run: options and state shared by the writers (paper.c) ---- */

typedef struct PaperOpts {
    const char *results; /* results directory (default "results") */
    const char *out;     /* output directory (default "paper"), created if missing */
    const char *grids;   /* grid files (default "grids") */
    FILE *progress;      /* progress lines, or NULL */
} PaperOpts;

/* A grid's recorded runs and its grid file. */
typedef struct PaperGrid {
    char name[128];
    char csv[1024];      /* RESULTS/<name>/runs.csv */
    char rundir[1024];   /* RESULTS/<name>/runs */
    char gridpath[1024]; /* GRIDS/<name>.grid */
    Table t;
    int parsed;          /* 1: g holds the grid file */
    Grid g;
    char grid_err[600];  /* why the grid file was not parsed ("" when parsed) */
} PaperGrid;

/* What an artifact came to, for the README. */
typedef enum { PS_MADE, PS_PARTIAL, PS_MISSING, PS_FAILED } PaperState;

typedef struct PaperResult {
    PaperState state;
    char detail[1600];   /* why partial / missing / failed, or a note ("" when made plainly) */
    int nok, nfailed;    /* ok runs behind it (metric readable); failed or diverged runs */
    char files[400];     /* output files, space-separated names in OUT */
} PaperResult;

/* Worsen r to state s (a worse state wins) and append detail d ("; "-joined). */
void paper_note(PaperResult *r, PaperState s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Regenerate every artifact (see the top of this file), printing one
 * progress line per artifact ("paper: table1: made (10 runs)") to
 * o->progress. Returns 0; 1 when some artifact failed (a figure gnuplot
 * could not draw: README says which; err says how many); -1 with err
 * (size errn) when OUT
 * cannot be created or written, a runs.csv cannot be read, or out of
 * memory. */
int paper_make(const PaperOpts *o, char *err, size_t errn);

/* ---- tables (paper_table.c, paper_tables.c) ---- */

/* A table held as strings, written as Markdown and as LaTeX. */
#define PAPER_MAX_COLS 12
typedef struct PaperTable {
    StrBuf head;                     /* Markdown lines above the table (title excluded) */
    StrBuf foot;                     /* Markdown lines below it */
    int ncols;
    const char *cols[PAPER_MAX_COLS];/* column headers (static text) */
    char align[PAPER_MAX_COLS];      /* 'l' or 'r' */
    int nrows, cap;
    char **cells;                    /* nrows × ncols strings, malloc'd */
    char *owned[PAPER_MAX_COLS];     /* headers built at run time, freed with the table */
    int nowned;
} PaperTable;

/* Append one row of t->ncols strings (copied). -1 when out of memory. */
int ptable_row(PaperTable *t, const char *const *vals);
void ptable_free(PaperTable *t);

/* The Markdown text: "# TITLE", head, the table ('|' escaped), foot. */
int ptable_markdown(const PaperTable *t, const char *title, StrBuf *b);

/* The LaTeX text: title, head and foot as "% " comment lines, then
 * \begin{tabular}{...} \toprule header \midrule rows \bottomrule
 * \end{tabular}, every cell escaped with paper_tex_escape. */
int ptable_latex(const PaperTable *t, const char *title, StrBuf *b);

/* Append s escaped for LaTeX text: & % $ # _ { } as \&..., ~ ^ \ < > | as
 * \textasciitilde{} \textasciicircum{} \textbackslash{} \textless{}
 * \textgreater{} \textbar{}, and the symbols ± − × → Δ λ γ ∞ √ ≥ ≤ ‖ as
 * math ($\pm$, ...), — and – as --- and --; other bytes unchanged. */
void paper_tex_escape(StrBuf *b, const char *s);

/* Write text to OUT/<name> (whole file, replaced). -1 with err. */
int paper_write_file(const char *out, const char *name, const char *text, char *err, size_t errn);

/* Build the table of artifact a from its grid's cells (kind a->table) and
 * write OUT/<id>.md and OUT/<id>.tex; r gets the state and files. figs:
 * the figure script names used (e.g. "fig3.gp"), or NULL. Returns 0, or -1
 * with err (out of memory, cannot write). */
int paper_table_write(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const char *figs,
                      const char *out, PaperResult *r, char *err, size_t errn);

/* The header lines common to every table of a grid (Markdown): the grid
 * file, runs.csv, the metric, the run counts, and the cells lacking runs. */
void paper_table_head(StrBuf *b, const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc);

/* The published number for cell i of rc in column col (NULL = a->metric),
 * or NULL. */
const char *paper_number_for(const PaperArtifact *a, const ReportCells *rc, int i, const char *col);

/* ---- which cells of the grid lack runs (paper_grid.c) ---- */

/* Into b: "LABEL (k/n seeds)" for every cell of pg's grid file in a's arms
 * whose runs are not all recorded ok with a readable metric, "; "-joined,
 * at most max cells then "and N more". Returns the number of such cells (0
 * when the grid file was not parsed). */
int paper_lacking_cells(const PaperArtifact *a, const PaperGrid *pg, StrBuf *b, int max);

/* The ok runs in rc's cells that are not runs of pg's grid file (recorded
 * from an earlier version of it); 0 when the grid file was not parsed. */
int paper_runs_outside_grid(const PaperGrid *pg, const ReportCells *rc);

/* ---- figures (paper_fig.c, paper_figdata.c, paper_figrun.c) ---- */

/* One run behind a figure. */
typedef struct PaperRun {
    int cell;       /* index in the ReportCells */
    int row;        /* its (last) row in the table */
    const char *id; /* run_id */
    int has_file;   /* the run-directory file the figure reads exists (1 for runs.csv figures) */
} PaperRun;

/* Draw the figure of artifact a (kind a->fig) into OUT/<id>.*, following
 * the rule at the top of this file; r gets the state, detail and files.
 * gnuplot_err: NULL when gnuplot works, else why not (the figure is then
 * missing). Returns 0, or -1 with err (out of memory). */
int paper_figure(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const char *out,
                 const char *gnuplot_err, PaperResult *r, char *err, size_t errn);

/* Extract the data of figure a from runs[0..n) (those with has_file) and
 * draw it to base (fig_*). Returns 0, or -1 with err (no data to draw, a
 * file that cannot be read, gnuplot's error). */
int paper_fig_draw(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const PaperRun *runs,
                   int n, const char *base, char *err, size_t errn);

/* Curve figures (Figures 4 and 5) and t-SNE panels (Figure 6) from run
 * directories; the same contract as paper_fig_draw. */
int paper_fig_curves(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const PaperRun *runs,
                     int n, const char *base, char *err, size_t errn);
int paper_fig_tsne(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const PaperRun *runs,
                   int n, const char *base, char *err, size_t errn);

/* The legend title of cell i: a->arm_titles entry of its arm, else its label. */
const char *paper_cell_title(const PaperArtifact *a, const ReportCells *rc, int i);

/* ---- README (paper_readme.c) ---- */

/* OUT/README.md: one row per artifact (arts[i] and its result res[i], n
 * of them) and the counts of each state. -1 with err when it cannot be
 * written or out of memory. */
int paper_readme(const PaperArtifact *arts, const PaperResult *res, int n, const PaperOpts *o, char *err,
                 size_t errn);

#endif
