/* Writing gnuplot scripts and data files: quoting, numbers, colours and the
 * house style shared by every figure kind. See gnuplot.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gnuplot.h"

void gp_quote(FILE *f, const char *s) {
    fputc('\'', f);
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\'') fputs("''", f);
        else fputc(c < 0x20 || c == 0x7f ? ' ' : c, f);
    }
    fputc('\'', f);
}

/* Write s with control characters as spaces. */
static void put_clean(FILE *f, const char *s) {
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        fputc(c < 0x20 || c == 0x7f ? ' ' : c, f);
    }
}

void gp_comment(FILE *f, const char *prefix, const char *s) {
    fprintf(f, "# %s", prefix ? prefix : "");
    put_clean(f, s);
    fputc('\n', f);
}

void gp_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("NaN", f);
}

/* Okabe & Ito (2008), "Color universal design", minus yellow (unreadable on
 * white): blue, vermillion, bluish green, reddish purple, orange, sky blue,
 * black, grey. */
static const char *const COLOURS[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#000000", "#999999"};

const char *gp_colour(int i) {
    int n = (int)(sizeof COLOURS / sizeof COLOURS[0]);
    return COLOURS[(i % n + n) % n];
}

/* Write `set output 'NAME.ext'`. */
static void set_output(FILE *g, const char *name, const char *ext) {
    char p[1100];
    snprintf(p, sizeof p, "%s.%s", name, ext);
    fputs("    set output ", g);
    gp_quote(g, p);
    fputc('\n', g);
}

void gp_begin(GpFig *f, const char *kind, int w, int h) {
    FILE *g = f->gp;
    fputs("# ", g), put_clean(g, f->name), fprintf(g, ".gp: %s figure drawn by analysis/ (figure.h) from ", kind);
    put_clean(g, f->name), fputs(".dat beside it.\n# Redraw in this directory with: gnuplot ", g);
    put_clean(g, f->name), fputs(".gp  (rewrites the .png and the .svg)\n", g);
    fputs("reset session\nset encoding utf8\ndo for [term = 1:2] {\n  reset\n  if (term == 1) {\n", g);
    fprintf(g, "    set terminal pngcairo size %d,%d font '%s,%d' noenhanced\n", w, h, GP_FONT, GP_FONT_PT);
    set_output(g, f->name, "png");
    fputs("  } else {\n", g);
    /* cairo draws points at 96 dpi, svg font sizes are pixels: scale by 96/72 to look alike */
    fprintf(g, "    set terminal svg size %d,%d font '%s,%d' fontscale 1.333 noenhanced background '#ffffff'\n", w,
            h, GP_FONT, GP_FONT_PT);
    set_output(g, f->name, "svg");
    fputs("  }\n", g);
    fputs("  set border 3 lc rgb '#404040'\n"
          "  set tics out nomirror textcolor rgb '#202020'\n"
          "  set grid lt 1 lw 1 lc rgb '#e4e4e4'\n"
          "  set key noautotitle Left reverse samplen 2.5 spacing 1.2 textcolor rgb '#202020'\n"
          "  set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05\n",
          g);
}

void gp_end(GpFig *f) { fputs("  unset multiplot\n  set output\n}\n", f->gp); }

void gp_margins(FILE *g, int w, int h, double x0, double x1, double y0, double y1) {
    fprintf(g, "  set lmargin at screen %.4f; set rmargin at screen %.4f\n", x0 / w, x1 / w);
    fprintf(g, "  set tmargin at screen %.4f; set bmargin at screen %.4f\n", 1 - y0 / h, 1 - y1 / h);
}

int gp_key_width(const char *s) {
    size_t n = 0; /* count UTF-8 characters, not bytes */
    for (const char *p = s ? s : ""; *p; p++)
        if (((unsigned char)*p & 0xC0) != 0x80) n++;
    return (int)n * 7 + 60;
}
