/* Heat maps (fig_heatmap, figure.h): paper Figure 3, k down × λ across,
 * each cell coloured by its mean (viridis) and labelled "mean ± sd, n=…";
 * cells without runs (NaN) are light grey and unlabelled. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"
#include "figure.h"
#include "gnuplot.h"

/* Pixels: title strip, bottom (x tics + label), right (colour box + its
 * label), y label + tick padding. */
enum { H_TOP = 50, H_BOTTOM = 72, H_RIGHT = 150, H_YLABEL = 56 };

static int check_heatmap(const FigHeatmap *h, char *err, size_t errn) {
    if (!h) return errf(err, errn, "fig_heatmap: no heat map");
    if (h->nx < 1 || h->ny < 1 || h->nx > 1000 || h->ny > 1000)
        return errf(err, errn, "fig_heatmap: need 1..1000 columns and rows, got nx = %d, ny = %d", h->nx, h->ny);
    if (!h->mean) return errf(err, errn, "fig_heatmap: mean is NULL");
    return 0;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Tick t of ticks (NULL: its number, 1-based) into buf. */
static const char *tick(const char *const *ticks, int t, char *buf, size_t n) {
    if (ticks) return ticks[t] ? ticks[t] : "";
    snprintf(buf, n, "%d", t + 1);
    return buf;
}

/* Range of the finite means into lo, hi (a unit-wide range around a single
 * value; [0, 1] when none). */
static void mean_range(const FigHeatmap *h, double *lo, double *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (int i = 0; i < h->nx * h->ny; i++)
        if (isfinite(h->mean[i])) {
            if (h->mean[i] < *lo) *lo = h->mean[i];
            if (h->mean[i] > *hi) *hi = h->mean[i];
        }
    if (!(*lo <= *hi)) *lo = 0, *hi = 1;
    else if (*lo == *hi) *lo -= 1, *hi += 1;
}

/* Decimals of the cell labels: about three significant digits of the
 * largest |mean|, 0..4. */
static int label_decimals(const FigHeatmap *h) {
    double m = 0;
    for (int i = 0; i < h->nx * h->ny; i++)
        if (isfinite(h->mean[i]) && fabs(h->mean[i]) > m) m = fabs(h->mean[i]);
    return m > 0 ? clampi(2 - (int)floor(log10(m)), 0, 4) : 2;
}

/* BASE.dat: one line per cell "column row mean sd n" (NaN when absent). */
static void heatmap_dat(GpFig *f, const FigHeatmap *h) {
    FILE *d = f->dat;
    char buf[16];
    gp_comment(d, "data of fig_heatmap figure: ", f->name);
    if (h->title) gp_comment(d, "title: ", h->title);
    gp_comment(d, "x (columns): ", h->xlabel), gp_comment(d, "y (rows): ", h->ylabel);
    gp_comment(d, "colour: ", h->zlabel);
    for (int c = 0; c < h->nx; c++)
        fprintf(d, "# column %d: ", c), gp_quote(d, tick(h->xticks, c, buf, sizeof buf)), fputc('\n', d);
    for (int r = 0; r < h->ny; r++)
        fprintf(d, "# row %d: ", r), gp_quote(d, tick(h->yticks, r, buf, sizeof buf)), fputc('\n', d);
    fputs("# columns: column row mean sd n\n", d);
    for (int r = 0; r < h->ny; r++)
        for (int c = 0; c < h->nx; c++) {
            int i = r * h->nx + c;
            fprintf(d, "%d %d ", c, r);
            gp_num(d, h->mean[i]), fputc(' ', d);
            gp_num(d, h->sd ? h->sd[i] : NAN), fputc(' ', d);
            if (h->n) fprintf(d, "%d\n", h->n[i]);
            else fputs("NaN\n", d);
        }
}

/* `set xtics (...)` / `set ytics (...)` naming every column / row. */
static void heatmap_tics(FILE *g, const char *axis, const char *const *ticks, int n) {
    char buf[16];
    fprintf(g, "  set %stics (", axis);
    for (int t = 0; t < n; t++) {
        if (t) fputs(", ", g);
        gp_quote(g, tick(ticks, t, buf, sizeof buf));
        fprintf(g, " %d", t);
    }
    fputs(") scale 0\n", g);
}

/* Axes, palette and colour box for a drawing area [x0, x1) × [y0, y1) of w × hh. */
static void heatmap_axes(FILE *g, const FigHeatmap *h, double lo, double hi, int w, int hh, int x1, int y0, int y1) {
    fputs("  unset grid; unset key; set border 15 lc rgb '#404040'\n  set offsets 0, 0, 0, 0\n", g);
    fprintf(g, "  set xrange [-0.5:%d.5]; set yrange [%d.5:-0.5]\n", h->nx - 1, h->ny - 1);
    heatmap_tics(g, "x", h->xticks, h->nx);
    heatmap_tics(g, "y", h->yticks, h->ny);
    fputs("  set xlabel ", g), gp_quote(g, h->xlabel), fputc('\n', g);
    fputs("  set ylabel ", g), gp_quote(g, h->ylabel), fputc('\n', g);
    fputs("  set cblabel ", g), gp_quote(g, h->zlabel), fputc('\n', g);
    fputs("  set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', 1 '#fde725')\n", g);
    fprintf(g, "  set cbrange [%.9g:%.9g]\n  set cbtics out nomirror\n", lo, hi);
    fprintf(g, "  set colorbox user origin %.4f, %.4f size %.4f, %.4f\n", (x1 + 24.0) / w,
            1 - (double)y1 / hh, 18.0 / w, (double)(y1 - y0) / hh);
}

/* The plot: grey blanks, coloured cells, then (labels) the cell texts,
 * white on the dark half of the palette. */
static void heatmap_plot(GpFig *f, const FigHeatmap *h, double lo, double hi, int labels) {
    FILE *g = f->gp;
    char file[1100];
    snprintf(file, sizeof file, "%s.dat", f->name);
    int dec = label_decimals(h);
    fputs("  plot ", g), gp_quote(g, file);
    fputs(" using 1:2:(0.5):(valid(3) ? NaN : 0.5) with boxxyerror fs solid 1.0 border lc rgb '#ffffff' "
          "lc rgb '#e6e6e6', \\\n       ", g);
    gp_quote(g, file);
    fputs(" using 1:2:(0.5):(valid(3) ? 0.5 : NaN):3 with boxxyerror fs solid 1.0 border lc rgb '#ffffff' "
          "lc palette", g);
    if (!labels) {
        fputc('\n', g);
        return;
    }
    fputs(", \\\n       ", g), gp_quote(g, file);
    fprintf(g, " using 1:2:(valid(3) ? sprintf('%%.%df', $3)", dec);
    if (h->sd) fprintf(g, " . (valid(4) ? sprintf(\"\\n± %%.%df\", $4) : '')", dec);
    if (h->n) fputs(" . (valid(5) ? sprintf(\"\\nn=%d\", int($5)) : '')", g);
    fprintf(g, " : ''):(valid(3) ? (($3 - (%.9g)) / (%.9g) < 0.55 ? 0xffffff : 0x1a1a1a) : 0) "
            "with labels tc rgb variable\n", lo, hi - lo);
}

int fig_heatmap(const char *base, const FigHeatmap *h, char *err, size_t errn) {
    if (check_heatmap(h, err, errn)) return -1;
    int cw = h->nx <= 24 ? clampi(600 / h->nx, 110, 200) : clampi(2640 / h->nx, 4, 110);
    int ch = h->ny <= 24 ? clampi(420 / h->ny, 80, 140) : clampi(1920 / h->ny, 4, 80);
    int ytw = 0;
    char buf[16];
    for (int r = 0; r < h->ny; r++) {
        int tw = gp_key_width(tick(h->yticks, r, buf, sizeof buf)) - 60;
        if (tw > ytw) ytw = tw;
    }
    int left = H_YLABEL + clampi(ytw, 14, 300), w = left + h->nx * cw + H_RIGHT, hh = H_TOP + h->ny * ch + H_BOTTOM;
    double lo, hi;
    mean_range(h, &lo, &hi);
    GpFig f;
    if (gp_open(&f, base, err, errn)) return -1;
    heatmap_dat(&f, h);
    gp_begin(&f, "fig_heatmap", w, hh);
    fputs("  set multiplot title ", f.gp), gp_quote(f.gp, h->title), fputs(" font ',13'\n", f.gp);
    heatmap_axes(f.gp, h, lo, hi, w, hh, left + h->nx * cw, H_TOP, H_TOP + h->ny * ch);
    gp_margins(f.gp, w, hh, left, left + h->nx * cw, H_TOP, H_TOP + h->ny * ch);
    heatmap_plot(&f, h, lo, hi, cw >= 90 && ch >= 60);
    gp_end(&f);
    return gp_finish(&f, err, errn);
}
