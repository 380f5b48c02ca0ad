/* Line figures (fig_lines) and redrawing (fig_redraw): see figure.h. The
 * layout is computed here in pixels so that every panel's drawing area has
 * the same size whatever its key holds; keys sit below the panels, never
 * over the data. A series titled "" is drawn without a key entry (NULL:
 * "series N"); yerr of a long series (> L_BARS_MAX points) is drawn as a
 * shaded band rather than bars. */
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "errmsg.h"
#include "figure.h"
#include "gnuplot.h"

/* Pixels around a line panel's drawing area inside its cell. */
enum { L_LEFT = 84, L_RIGHT = 28, L_TOP = 36, L_BOTTOM = 66, L_PLOT_H = 430, L_KEY_ROW = 18 };

/* Series with more drawable points than this draw yerr as a shaded band. */
enum { L_BARS_MAX = 30 };

static int check_lines(const FigPanel *panels, int npanels, char *err, size_t errn) {
    if (npanels < 1 || !panels) return errf(err, errn, "fig_lines: need at least one panel (npanels = %d)", npanels);
    for (int p = 0; p < npanels; p++) {
        const FigPanel *pa = &panels[p];
        if (pa->nseries < 0 || (pa->nseries > 0 && !pa->series))
            return errf(err, errn, "fig_lines: panel %d: bad series (nseries = %d)", p, pa->nseries);
        for (int s = 0; s < pa->nseries; s++) {
            const FigSeries *se = &pa->series[s];
            if (se->n < 0 || (se->n > 0 && (!se->x || !se->y)))
                return errf(err, errn, "fig_lines: panel %d series %d: n = %d without x and y", p, s, se->n);
        }
    }
    return 0;
}

/* Points of s that can be drawn on p's axes (finite; positive on log axes). */
static int drawable(const FigSeries *s, const FigPanel *p) {
    int k = 0;
    for (int i = 0; i < s->n; i++) {
        double x = s->x[i], y = s->y[i];
        if (isfinite(x) && isfinite(y) && (!p->logx || x > 0) && (!p->logy || y > 0)) k++;
    }
    return k;
}

/* Series s's key text: its title, or "series s+1". */
static const char *series_title(const FigSeries *se, int s, char *buf, size_t n) {
    if (se->title) return se->title;
    snprintf(buf, n, "series %d", s + 1);
    return buf;
}

/* 0 for a series titled "" (left out of the key), else 1. */
static int in_key(const FigSeries *se) { return !se->title || se->title[0]; }

/* Rows the key of p needs under a drawing area pw pixels wide. */
static int key_rows(const FigPanel *p, int pw) {
    int wmax = 1, n = 0;
    char buf[32];
    for (int s = 0; s < p->nseries; s++) {
        if (!in_key(&p->series[s])) continue;
        int w = gp_key_width(series_title(&p->series[s], s, buf, sizeof buf));
        if (w > wmax) wmax = w;
        n++;
    }
    int cols = pw / wmax < 1 ? 1 : pw / wmax;
    return (n + cols - 1) / cols;
}

/* BASE.dat: one gnuplot index block per series, panel by panel. */
static void lines_dat(GpFig *f, const char *title, const FigPanel *panels, int npanels) {
    FILE *d = f->dat;
    gp_comment(d, "data of fig_lines figure: ", f->name);
    if (title) gp_comment(d, "title: ", title);
    fputs("# one block (gnuplot index, from 0) per series; blocks end with two blank lines\n\n", d);
    int idx = 0;
    char buf[32];
    for (int p = 0; p < npanels; p++)
        for (int s = 0; s < panels[p].nseries; s++, idx++) {
            const FigSeries *se = &panels[p].series[s];
            fprintf(d, "# index %d: panel %d ", idx, p + 1);
            gp_quote(d, panels[p].title);
            fprintf(d, ", series %d ", s + 1);
            gp_quote(d, series_title(se, s, buf, sizeof buf));
            fprintf(d, "\n# columns: x y%s\n", se->yerr ? " yerr" : "");
            for (int i = 0; i < se->n; i++) {
                gp_num(d, se->x[i]);
                fputc(' ', d);
                gp_num(d, se->y[i]);
                if (se->yerr) fputc(' ', d), gp_num(d, se->yerr[i]);
                fputc('\n', d);
            }
            if (se->n == 0) fputs(se->yerr ? "NaN NaN NaN\n" : "NaN NaN\n", d); /* keeps the block */
            fputs("\n\n", d);
        }
}

/* Range [lo, hi] of the drawable values of p on axis (0: x, 1: y); lo > hi
 * when none. */
static void panel_range(const FigPanel *p, int axis, double *lo, double *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (int s = 0; s < p->nseries; s++) {
        const FigSeries *se = &p->series[s];
        for (int i = 0; i < se->n; i++) {
            double x = se->x[i], y = se->y[i], v = axis ? y : x;
            if (!isfinite(x) || !isfinite(y) || (p->logx && x <= 0) || (p->logy && y <= 0)) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
    }
}

/* Tics of one axis: on a log axis spanning under two decades, explicit
 * 1-2-5 (or 1..9) × 10^e values, where gnuplot's defaults would label one
 * value or none; on a linear x axis of small whole numbers (epochs), every
 * whole number; else gnuplot's. */
static void axis_tics(FILE *g, const char *axis, int logscale, const FigPanel *p, int ax) {
    double lo, hi;
    panel_range(p, ax, &lo, &hi);
    if (!logscale) {
        int whole = lo <= hi && hi - lo <= 12 && ax == 0;
        for (int s = 0; whole && s < p->nseries; s++)
            for (int i = 0; i < p->series[s].n; i++)
                if (isfinite(p->series[s].x[i]) && p->series[s].x[i] != floor(p->series[s].x[i])) whole = 0;
        fprintf(g, "  set %stics %s\n", axis, whole ? "1" : "autofreq");
        return;
    }
    if (!(lo > 0 && lo <= hi) || hi / lo >= 100) {
        fprintf(g, "  set %stics autofreq\n", axis);
        return;
    }
    static const double M125[] = {1, 2, 5}, M19[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const double *m = M125;
    int nm = 3, e0 = (int)floor(log10(lo)), e1 = (int)floor(log10(hi)), k = 0;
    for (int e = e0; e <= e1; e++)
        for (int j = 0; j < 3; j++) k += M125[j] * pow(10, e) >= lo && M125[j] * pow(10, e) <= hi;
    if (k < 3) m = M19, nm = 9;
    fprintf(g, "  set %stics (", axis);
    k = 0;
    for (int e = e0 - 1; e <= e1 + 1; e++)
        for (int j = 0; j < nm; j++) {
            double v = m[j] * pow(10, e);
            if (v < lo / 1.5 || v > hi * 1.5) continue;
            fprintf(g, "%s'%g' %.9g", k++ ? ", " : "", v, v);
        }
    fputs(")\n", g);
}

/* Axis labels, log scales and ranges of panel p (fixed, with a "no data"
 * note, when nothing in it can be drawn). */
static void panel_axes(FILE *g, const FigPanel *p) {
    int any = 0;
    for (int s = 0; s < p->nseries; s++) any += drawable(&p->series[s], p);
    fputs("  set title ", g), gp_quote(g, p->title), fputs(" font ',11'\n", g);
    fputs("  set xlabel ", g), gp_quote(g, p->xlabel), fputc('\n', g);
    fputs("  set ylabel ", g), gp_quote(g, p->ylabel), fputc('\n', g);
    fputs("  unset logscale\n", g);
    if (p->logx) fputs("  set logscale x\n", g);
    if (p->logy) fputs("  set logscale y\n", g);
    axis_tics(g, "x", p->logx, p, 0);
    axis_tics(g, "y", p->logy, p, 1);
    if (any) {
        /* autoscaled without stretching to the next tic */
        fputs("  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix\n  unset label 1\n", g);
        return;
    }
    fprintf(g, "  set xrange [%s]; set yrange [%s]\n", p->logx ? "1:10" : "0:1", p->logy ? "1:10" : "0:1");
    fputs("  set label 1 'no data' at graph 0.5, 0.5 center textcolor rgb '#808080'\n", g);
}

/* One plot element: series s of panel p, block idx of the .dat. */
static void plot_series(GpFig *f, const FigPanel *p, int s, int idx) {
    FILE *g = f->gp;
    const FigSeries *se = &p->series[s];
    char buf[32], file[1100];
    snprintf(file, sizeof file, "%s.dat", f->name);
    int k = drawable(se, p);
    if (k == 0) fputs("NaN with lines lw 2", g);
    else if (se->yerr && k > L_BARS_MAX) { /* band under the line */
        gp_quote(g, file);
        fprintf(g, " index %d using 1:($2 - $3):($2 + $3) with filledcurves fs transparent solid 0.2 noborder "
                   "lc rgb '%s' notitle, \\\n       ", idx, gp_colour(s));
        gp_quote(g, file);
        fprintf(g, " index %d using 1:2 with %s lw 2", idx, p->points ? "linespoints pt 7 ps 0.6" : "lines");
    } else {
        gp_quote(g, file);
        if (se->yerr)
            fprintf(g, " index %d using 1:2:3 with yerrorlines lw 1.5 pt 7 ps %s", idx, p->points ? "0.6" : "0.3");
        else if (p->points) fprintf(g, " index %d using 1:2 with linespoints lw 2 pt 7 ps 0.6", idx);
        else fprintf(g, " index %d using 1:2 with lines lw 2", idx);
    }
    fprintf(g, " lc rgb '%s' dt %d ", gp_colour(s), 1 + s / 8);
    if (!in_key(se)) fputs("notitle", g);
    else fputs("title ", g), gp_quote(g, series_title(se, s, buf, sizeof buf));
}

/* Panel p drawn in the area [x0, x1) × [y0, y1) of a w × h canvas, its key
 * (keyrows rows) below it; its series are blocks idx.. of the .dat. */
static void lines_panel(GpFig *f, const FigPanel *p, int idx, int w, int h, int x0, int x1, int y0, int y1,
                        int keyrows) {
    FILE *g = f->gp;
    fprintf(g, "  # panel: ");
    gp_quote(g, p->title);
    fputc('\n', g);
    panel_axes(g, p);
    gp_margins(g, w, h, x0, x1, y0, y1);
    fprintf(g, "  set key at screen %.4f, %.4f center top vertical maxrows %d\n", (x0 + x1) / 2.0 / w,
            1 - (y1 + L_BOTTOM - 4.0) / h, keyrows < 1 ? 1 : keyrows);
    fputs("  plot ", g);
    if (p->nseries == 0) fputs("NaN notitle", g);
    for (int s = 0; s < p->nseries; s++) {
        if (s) fputs(", \\\n       ", g);
        plot_series(f, p, s, idx + s);
    }
    fputc('\n', g);
}

int fig_lines(const char *base, const char *title, const FigPanel *panels, int npanels, char *err, size_t errn) {
    if (check_lines(panels, npanels, err, errn)) return -1;
    int ncols = npanels <= 4 ? npanels : (npanels + 1) / 2, nrows = npanels <= 4 ? 1 : 2;
    int w = ncols == 1 ? 900 : 480 * ncols, cw = w / ncols, pw = cw - L_LEFT - L_RIGHT, keyrows = 0;
    for (int p = 0; p < npanels; p++)
        if (key_rows(&panels[p], pw) > keyrows) keyrows = key_rows(&panels[p], pw);
    int keyh = keyrows ? keyrows * L_KEY_ROW + 10 : 0, ch = L_TOP + L_PLOT_H + L_BOTTOM + keyh;
    int top = title ? 44 : 10, h = top + nrows * ch;
    GpFig f;
    if (gp_open(&f, base, err, errn)) return -1;
    lines_dat(&f, title, panels, npanels);
    gp_begin(&f, "fig_lines", w, h);
    fputs("  set multiplot title ", f.gp), gp_quote(f.gp, title), fputs(" font ',13'\n", f.gp);
    for (int p = 0, idx = 0; p < npanels; idx += panels[p].nseries, p++) {
        int cx = (p % ncols) * cw, cy = top + (p / ncols) * ch;
        lines_panel(&f, &panels[p], idx, w, h, cx + L_LEFT, cx + cw - L_RIGHT, cy + L_TOP, cy + L_TOP + L_PLOT_H,
                    keyrows);
    }
    gp_end(&f);
    return gp_finish(&f, err, errn);
}

int fig_redraw(const char *base, char *err, size_t errn) {
    char dir[4096], name[1024], p[5200];
    if (gp_split(base, dir, sizeof dir, name, sizeof name, err, errn)) return -1;
    const char *need[2] = {"gp", "dat"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s.%s", dir, name, need[i]);
        if (access(p, R_OK) != 0) return errf(err, errn, "fig_redraw: cannot read %s", p);
    }
    return gp_draw(dir, name, err, errn);
}
