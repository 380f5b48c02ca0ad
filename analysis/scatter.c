/* Scatter figures (fig_scatter, figure.h): t-SNE maps side by side, one
 * colour per class shared by every panel, one key above the panels (paper
 * Figure 6: Enc(Text) and Enc(Code) apart or together). */
#include <math.h>
#include <stdio.h>

#include "errmsg.h"
#include "figure.h"
#include "gnuplot.h"

/* Pixels: panel padding, panel title, bottom margin, key row, panel side. */
enum { S_PAD = 26, S_TITLE = 30, S_BOTTOM = 22, S_KEY_ROW = 20, S_SIDE = 470 };

static int check_scatter(const char *const *names, int nclass, const FigScatter *panels, int npanels, char *err,
                         size_t errn) {
    if (npanels < 1 || !panels) return errf(err, errn, "fig_scatter: need at least one panel (npanels = %d)", npanels);
    if (nclass < 1 || !names) return errf(err, errn, "fig_scatter: need at least one class (nclass = %d)", nclass);
    for (int p = 0; p < npanels; p++) {
        const FigScatter *s = &panels[p];
        if (s->n < 0 || (s->n > 0 && (!s->xy || !s->cls)))
            return errf(err, errn, "fig_scatter: panel %d: n = %d without xy and cls", p, s->n);
        for (int i = 0; i < s->n; i++)
            if (s->cls[i] < 0 || s->cls[i] >= nclass)
                return errf(err, errn, "fig_scatter: panel %d point %d: class %d not in [0, %d)", p, i, s->cls[i],
                            nclass);
    }
    return 0;
}

/* Finite points of class c in panel s. */
static int drawable(const FigScatter *s, int c) {
    int k = 0;
    for (int i = 0; i < s->n; i++)
        if (s->cls[i] == c && isfinite(s->xy[2 * i]) && isfinite(s->xy[2 * i + 1])) k++;
    return k;
}

/* BASE.dat: one block per (panel, class), panel-major. */
static void scatter_dat(GpFig *f, const char *title, const char *const *names, int nclass, const FigScatter *panels,
                        int npanels) {
    FILE *d = f->dat;
    gp_comment(d, "data of fig_scatter figure: ", f->name);
    if (title) gp_comment(d, "title: ", title);
    fputs("# one block (gnuplot index, from 0) per panel and class: index = panel * nclass + class\n", d);
    fprintf(d, "# nclass = %d; blocks end with two blank lines\n\n", nclass);
    for (int p = 0; p < npanels; p++)
        for (int c = 0; c < nclass; c++) {
            const FigScatter *s = &panels[p];
            fprintf(d, "# index %d: panel %d ", p * nclass + c, p + 1);
            gp_quote(d, s->title);
            fprintf(d, ", class %d ", c);
            gp_quote(d, names[c]);
            fputs("\n# columns: x y\n", d);
            int k = 0;
            for (int i = 0; i < s->n; i++)
                if (s->cls[i] == c) {
                    gp_num(d, s->xy[2 * i]), fputc(' ', d), gp_num(d, s->xy[2 * i + 1]), fputc('\n', d);
                    k++;
                }
            fputs(k ? "\n\n" : "NaN NaN\n\n\n", d); /* an empty block still counts as an index */
        }
}

/* Key rows for the class names across a w-pixel canvas. */
static int key_rows(const char *const *names, int nclass, int w) {
    int wmax = 1;
    for (int c = 0; c < nclass; c++)
        if (gp_key_width(names[c]) > wmax) wmax = gp_key_width(names[c]);
    int cols = (w * 9 / 10) / wmax < 1 ? 1 : (w * 9 / 10) / wmax;
    return (nclass + cols - 1) / cols;
}

/* The plot command of panel p (blocks p*nclass..); panel 0 also carries the
 * key entries, drawn as larger points than the data. */
static void scatter_plot(GpFig *f, const FigScatter *s, int p, const char *const *names, int nclass) {
    FILE *g = f->gp;
    char file[1100];
    snprintf(file, sizeof file, "%s.dat", f->name);
    const char *ps = s->n > 2000 ? "0.35" : "0.5";
    int k = 0;
    fputs("  plot ", g);
    for (int c = 0; c < nclass; c++) {
        if (!drawable(s, c)) continue;
        if (k++) fputs(", \\\n       ", g);
        gp_quote(g, file);
        fprintf(g, " index %d using 1:2 with points pt 7 ps %s lc rgb '#33%s' notitle", p * nclass + c, ps,
                gp_colour(c) + 1);
    }
    for (int c = 0; p == 0 && c < nclass; c++) {
        if (k++) fputs(", \\\n       ", g);
        fprintf(g, "NaN with points pt 7 ps 1.5 lc rgb '%s' title ", gp_colour(c));
        gp_quote(g, names[c]);
    }
    if (!k) fputs("NaN notitle", g);
    fputc('\n', g);
}

/* Panel p's settings: title, bare axes, ranges (fixed with a "no data" note
 * when empty), the key only on panel 0 at screen height key_y. */
static void scatter_axes(FILE *g, const FigScatter *s, int p, int nclass, double key_y, int keyrows) {
    int any = 0;
    for (int c = 0; c < nclass; c++) any += drawable(s, c);
    fputs("  # panel: ", g), gp_quote(g, s->title), fputc('\n', g);
    fputs("  set title ", g), gp_quote(g, s->title), fputs(" font ',11'\n", g);
    fputs("  unset xtics; unset ytics; unset grid; set border 15 lc rgb '#b0b0b0'\n", g);
    if (any)
        fputs("  set xrange [*:*]; set yrange [*:*]; set autoscale xfix; set autoscale yfix\n  unset label 1\n", g);
    else fputs("  set xrange [0:1]; set yrange [0:1]\n"
               "  set label 1 'no data' at graph 0.5, 0.5 center textcolor rgb '#808080'\n", g);
    if (p == 0) fprintf(g, "  set key at screen 0.5, %.4f center top vertical maxrows %d\n", key_y, keyrows);
    else fputs("  unset key\n", g);
}

int fig_scatter(const char *base, const char *title, const char *const *class_names, int nclass,
                const FigScatter *panels, int npanels, char *err, size_t errn) {
    if (check_scatter(class_names, nclass, panels, npanels, err, errn)) return -1;
    int cw = S_SIDE + 2 * S_PAD, w = npanels == 1 ? 640 : cw * npanels;
    cw = w / npanels;
    int keyrows = key_rows(class_names, nclass, w), top = title ? 44 : 10;
    int keyh = keyrows * S_KEY_ROW + 10, y0 = top + keyh + S_TITLE, h = y0 + S_SIDE + S_BOTTOM;
    GpFig f;
    if (gp_open(&f, base, err, errn)) return -1;
    scatter_dat(&f, title, class_names, nclass, panels, npanels);
    gp_begin(&f, "fig_scatter", w, h);
    fputs("  set multiplot title ", f.gp), gp_quote(f.gp, title), fputs(" font ',13'\n", f.gp);
    fputs("  set offsets graph 0.03, graph 0.03, graph 0.03, graph 0.03\n", f.gp);
    for (int p = 0; p < npanels; p++) {
        int x0 = p * cw + (cw - S_SIDE) / 2;
        scatter_axes(f.gp, &panels[p], p, nclass, 1 - (top + 4.0) / h, keyrows);
        gp_margins(f.gp, w, h, x0, x0 + S_SIDE, y0, y0 + S_SIDE);
        scatter_plot(&f, &panels[p], p, class_names, nclass);
    }
    gp_end(&f);
    return gp_finish(&f, err, errn);
}
