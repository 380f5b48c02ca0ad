/* Figures through gnuplot, invoked as a program (`gnuplot` on PATH, or
 * $GNUPLOT). Every figure is written as four files beside each other:
 *   BASE.dat  the data it was drawn from (plain text, '#' comment lines
 *             naming panels, series and columns; gnuplot index blocks
 *             separated by two blank lines);
 *   BASE.gp   the gnuplot script, which reads only BASE.dat (by its file
 *             name, relative to the script's directory), so
 *             `cd DIR && gnuplot BASE.gp` redraws the figure;
 *   BASE.png  drawn with the pngcairo terminal;
 *   BASE.svg  drawn with the svg terminal.
 * Output is a pure function of the inputs (no dates, no absolute paths):
 * drawing the same figure twice gives byte-identical files with the same
 * gnuplot. NaN values are written as "NaN" and drawn as gaps / blank cells. */
#ifndef ANALYSIS_FIGURE_H
#define ANALYSIS_FIGURE_H

#include <stddef.h>

/* 0 when gnuplot can be run and has the pngcairo and svg terminals; else -1
 * with err saying what is missing and how to install it (Debian:
 * apt-get install gnuplot-nox). */
int fig_gnuplot_check(char *err, size_t errn);

/* One curve of a line panel: n points (x[i], y[i]); yerr (may be NULL)
 * draws ± error bars. */
typedef struct FigSeries {
    const char *title;
    int n;
    const double *x, *y, *yerr;
} FigSeries;

/* One panel of a line figure. */
typedef struct FigPanel {
    const char *title, *xlabel, *ylabel;
    int logx, logy;            /* log-scale axes */
    int points;                /* 1: draw points with the lines (short series) */
    int nseries;
    const FigSeries *series;
} FigPanel;

/* Line figure: npanels panels side by side (one row; up to 4, else two rows),
 * one coloured line per series, a key per panel. title may be NULL. Returns 0,
 * or -1 with err (gnuplot missing or failing: its stderr is quoted; cannot
 * write a file; npanels < 1). */
int fig_lines(const char *base, const char *title, const FigPanel *panels, int npanels, char *err, size_t errn);

/* One panel of points in 2-D (a t-SNE map): xy (n, 2) row-major, cls[i] in
 * [0, nclass) picks the colour and key entry. */
typedef struct FigScatter {
    const char *title;
    int n;
    const double *xy;
    const int *cls;
} FigScatter;

/* Scatter figure: npanels panels side by side, classes coloured apart with
 * the names class_names[0..nclass) in the key (paper Figure 6: Text and
 * Code). Returns 0 or -1 with err as fig_lines. */
int fig_scatter(const char *base, const char *title, const char *const *class_names, int nclass,
                const FigScatter *panels, int npanels, char *err, size_t errn);

/* Heat map of ny rows × nx columns (paper Figure 3: k down, λ across):
 * mean[r·nx + c] colours the cell (NaN: no runs, drawn blank), each cell
 * labelled "mean\n± sd" (sd may be NULL) and, when n is not NULL, "n=…".
 * xticks / yticks name the columns / rows. */
typedef struct FigHeatmap {
    const char *title, *xlabel, *ylabel, *zlabel;
    int nx, ny;
    const char *const *xticks, *const *yticks;
    const double *mean, *sd;
    const int *n;
} FigHeatmap;

/* Draw h. Returns 0 or -1 with err as fig_lines. */
int fig_heatmap(const char *base, const FigHeatmap *h, char *err, size_t errn);

/* Redraw a figure from its committed BASE.gp and BASE.dat (both must
 * exist): runs gnuplot on BASE.gp in its directory, rewriting BASE.png and
 * BASE.svg. Returns 0 or -1 with err (a file missing, gnuplot failing). */
int fig_redraw(const char *base, char *err, size_t errn);

#endif
