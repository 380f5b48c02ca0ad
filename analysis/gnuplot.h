/* Internal to analysis/ (used by figure.c and heatmap.c): running gnuplot
 * and writing a figure's BASE.dat and BASE.gp (figure.h). Not a public
 * interface. */
#ifndef ANALYSIS_GNUPLOT_H
#define ANALYSIS_GNUPLOT_H

#include <stddef.h>
#include <stdio.h>

/* The font every figure is drawn with, pinned so output does not depend on
 * fontconfig's default (DejaVu ships with gnuplot's Debian dependencies). */
#define GP_FONT "DejaVu Sans"
#define GP_FONT_PT 10

/* A figure being written: BASE.dat and BASE.gp built in memory
 * (open_memstream) and committed together by gp_finish. */
typedef struct GpFig {
    char dir[4096];  /* BASE's directory ("." when BASE has none) */
    char name[1024]; /* BASE's last component: files are NAME.dat, NAME.gp, ... */
    FILE *dat, *gp;
    char *datbuf, *gpbuf;
    size_t datlen, gplen;
} GpFig;

/* Split base ("DIR/NAME" or "NAME") into dir ("." when none) and name.
 * Returns 0, or -1 with err (empty name, too long for dirn / namen). */
int gp_split(const char *base, char *dir, size_t dirn, char *name, size_t namen, char *err, size_t errn);

/* Split base into f->dir / f->name and open both memory streams. Returns 0,
 * or -1 with err (empty name, path too long, no memory). */
int gp_open(GpFig *f, const char *base, char *err, size_t errn);

/* Close the streams, write BASE.dat and BASE.gp atomically (temporary file
 * + rename, creating the directory), then draw: see gp_draw. Always frees
 * f's buffers. Returns 0 or -1 with err. */
int gp_finish(GpFig *f, char *err, size_t errn);

/* Free f's streams without writing anything (an error before gp_finish). */
void gp_abort(GpFig *f);

/* Run `gnuplot NAME.gp` in dir (program: $GNUPLOT, else gnuplot on PATH),
 * after removing NAME.png and NAME.svg, and check that both were written
 * (so pictures on disk always come from a successful drawing). Returns 0,
 * or -1 with err: gnuplot not found (with the install hint), gnuplot's exit
 * status and the tail of its stderr, or a picture missing. */
int gp_draw(const char *dir, const char *name, char *err, size_t errn);

/* Run the gnuplot program with args (args[0] is the program name as
 * passed; args NULL-terminated) in dir, stdin/stdout on /dev/null, stderr
 * captured. Returns 0 when it exits 0, else -1 with err as gp_draw. */
int gp_exec(const char *dir, const char *const *args, char *err, size_t errn);

/* The program gp_exec runs: $GNUPLOT when set and non-empty, else "gnuplot". */
const char *gp_program(void);

/* Write s as a gnuplot single-quoted string ('' for ', control characters
 * as spaces); NULL as ''. */
void gp_quote(FILE *f, const char *s);

/* Write s on a '#' comment line of the .dat (control characters as
 * spaces): "# " prefix s "\n". */
void gp_comment(FILE *f, const char *prefix, const char *s);

/* Write v for a data file: "%.9g", or "NaN" when not finite. */
void gp_num(FILE *f, double v);

/* Colour i of the line / class cycle (Okabe-Ito, colour-blind safe), as
 * "#RRGGBB". i >= 0; wraps around. */
const char *gp_colour(int i);

/* Open the script: a header comment naming kind, `reset session`, and the
 * loop drawing once per terminal (pngcairo → NAME.png, svg → NAME.svg) of
 * w × h pixels with the house style (font, light grid, outward tics).
 * gp_end closes the loop. */
void gp_begin(GpFig *f, const char *kind, int w, int h);
void gp_end(GpFig *f);

/* Place the next plot's drawing area at pixels [x0, x1) × [y0, y1) of a
 * w × h canvas (y from the top). */
void gp_margins(FILE *g, int w, int h, double x0, double x1, double y0, double y1);

/* Rough width in pixels of a key entry with text s at the house font. */
int gp_key_width(const char *s);

#endif
