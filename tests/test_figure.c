/* Figures through gnuplot (analysis/figure.h): every kind gives a real PNG
 * (signature, IHDR of the canvas size the script asked for) and SVG, plus
 * its .dat and .gp; drawing twice gives the same bytes; NaN is accepted;
 * a missing or failing gnuplot is an error, never a crash. Drawing tests
 * skip when gnuplot (pngcairo + svg) is not installed; the error tests run
 * regardless. */
#define _GNU_SOURCE /* setenv, mkdtemp, strdup */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "figure.h"

static char DIR_[] = "/tmp/test_figure_XXXXXX";

static void setup(void) { cr_assert_not_null(mkdtemp(DIR_)); }

static void teardown(void);

static void need_gnuplot(void) {
    char err[1024];
    if (fig_gnuplot_check(err, sizeof err)) {
        teardown(); /* .fini does not run after a skip */
        cr_skip_test("drawing test skipped: %s", err);
    }
}

/* Whole file into a malloc'd buffer (NUL-terminated), length in *n; NULL if unreadable. */
static char *slurp(const char *path, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(l > 0 ? (size_t)l + 1 : 1);
    if (!b) { fclose(f); return NULL; }
    *n = l > 0 ? fread(b, 1, (size_t)l, f) : 0;
    b[*n] = 0;
    fclose(f);
    return b;
}

static void path_of(char *p, size_t n, const char *name, const char *ext) {
    snprintf(p, n, "%s/%s.%s", DIR_, name, ext);
}

/* The canvas size the script asked pngcairo for. */
static void script_size(const char *name, unsigned *w, unsigned *h) {
    char p[512];
    size_t n;
    path_of(p, sizeof p, name, "gp");
    char *s = slurp(p, &n);
    cr_assert_not_null(s, "%s missing", p);
    const char *t = strstr(s, "set terminal pngcairo size ");
    cr_assert_not_null(t);
    cr_assert_eq(sscanf(t, "set terminal pngcairo size %u,%u", w, h), 2);
    free(s);
}

/* NAME.png: PNG signature, then an IHDR chunk whose width and height are
 * the canvas size of NAME.gp (PNG spec §5.2, §11.2.2: big-endian). */
static void check_png(const char *name) {
    char p[512];
    size_t n;
    path_of(p, sizeof p, name, "png");
    unsigned char *b = (unsigned char *)slurp(p, &n);
    cr_assert_not_null(b, "%s missing", p);
    static const unsigned char SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    cr_assert(n > 33 && !memcmp(b, SIG, 8), "%s: not a PNG", p);
    cr_assert(!memcmp(b + 12, "IHDR", 4), "%s: no IHDR first", p);
    unsigned w = (unsigned)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
    unsigned h = (unsigned)b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
    unsigned gw, gh;
    script_size(name, &gw, &gh);
    cr_expect(w > 0 && h > 0);
    cr_expect_eq(w, gw, "%s: width %u, script asked %u", p, w, gw);
    cr_expect_eq(h, gh, "%s: height %u, script asked %u", p, h, gh);
    free(b);
}

static void check_svg(const char *name) {
    char p[512];
    size_t n;
    path_of(p, sizeof p, name, "svg");
    char *s = slurp(p, &n);
    cr_assert_not_null(s, "%s missing", p);
    cr_expect(!strncmp(s, "<?xml", 5) || !strncmp(s, "<svg", 4), "%s: not an SVG", p);
    cr_expect_not_null(strstr(s, "</svg>"), "%s: truncated", p);
    free(s);
}

/* The .dat and .gp exist; every data file the script reads is 'NAME.dat'
 * (relative), read at least once when has_data; no absolute path of this
 * run appears in it. */
static void check_sources(const char *name, int has_data) {
    char p[512], dat[256];
    size_t n, l = strlen(name);
    path_of(p, sizeof p, name, "dat");
    cr_assert_eq(access(p, R_OK), 0, "%s missing", p);
    path_of(p, sizeof p, name, "gp");
    char *s = slurp(p, &n);
    cr_assert_not_null(s);
    int reads = 0;
    for (const char *t = strstr(s, ".dat'"); t; t = strstr(t + 1, ".dat'"), reads++)
        cr_expect(t - s > (long)l && t[-(long)l - 1] == '\'' && !strncmp(t - l, name, l),
                  "%s reads a file other than %s.dat", p, name);
    snprintf(dat, sizeof dat, "'%s.dat'", name);
    if (has_data) cr_expect(reads > 0, "%s does not read %s", p, dat);
    cr_expect_null(strstr(s, DIR_), "%s holds the absolute path %s", p, DIR_);
    free(s);
}

static void check_figure(const char *name, int has_data) {
    check_png(name);
    check_svg(name);
    check_sources(name, has_data);
}

/* The four files of NAME, concatenated with their lengths (to compare two drawings). */
static char *snapshot(const char *name, size_t *len) {
    const char *ext[4] = {"dat", "gp", "png", "svg"};
    char *all = NULL;
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        char p[512];
        size_t k;
        path_of(p, sizeof p, name, ext[i]);
        char *b = slurp(p, &k);
        cr_assert_not_null(b, "%s missing", p);
        all = realloc(all, n + k + sizeof k);
        memcpy(all + n, &k, sizeof k);
        memcpy(all + n + sizeof k, b, k);
        n += k + sizeof k;
        free(b);
    }
    *len = n;
    return all;
}

/* ---- fixtures: one figure of each kind, with NaN in the data ---- */

static double X[20], Y1[20], Y2[20], E[20];

static int draw_lines(const char *name, char *err, size_t errn) {
    for (int i = 0; i < 20; i++) {
        X[i] = i + 1, Y1[i] = 5.0 / (i + 1), Y2[i] = 4.0 * exp(-i / 8.0), E[i] = 0.05 * Y2[i];
    }
    Y1[7] = NAN; /* a gap */
    FigSeries s1[2] = {{"NTP", 20, X, Y1, NULL}, {"LLM-JEPA (λ = 1)", 20, X, Y2, E}};
    FigSeries s2[1] = {{"lr", 20, X, Y2, NULL}};
    FigPanel p[2] = {{"loss", "step", "loss", 0, 1, 0, 2, s1}, {"learning rate", "step", "lr", 0, 0, 1, 1, s2}};
    char base[512];
    snprintf(base, sizeof base, "%s/%s", DIR_, name);
    return fig_lines(base, "a run", p, 2, err, errn);
}

static double XY[2 * 40];
static int CLS[40];

static int draw_scatter(const char *name, char *err, size_t errn) {
    for (int i = 0; i < 40; i++) {
        CLS[i] = i % 2;
        XY[2 * i] = cos(i) * (1 + CLS[i]), XY[2 * i + 1] = sin(i) * (1 + CLS[i]);
    }
    XY[6] = NAN;
    const char *names[2] = {"Text", "Code"};
    FigScatter p[2] = {{"NTP", 40, XY, CLS}, {"LLM-JEPA", 20, XY, CLS}};
    char base[512];
    snprintf(base, sizeof base, "%s/%s", DIR_, name);
    return fig_scatter(base, "t-SNE", names, 2, p, 2, err, errn);
}

static double MEAN[6] = {41.5, NAN, 55.0, 30.0, 60.0, 45.0}, SD[6] = {1.2, NAN, NAN, 2.0, 1.0, 3.0};
static int NRUN[6] = {3, 0, 1, 3, 3, 3};

static int draw_heatmap(const char *name, char *err, size_t errn) {
    const char *xt[3] = {"0.5", "1", "2"}, *yt[2] = {"k = 1", "k = 2"};
    FigHeatmap h = {"accuracy", "λ", "k", "accuracy (%)", 3, 2, xt, yt, MEAN, SD, NRUN};
    char base[512];
    snprintf(base, sizeof base, "%s/%s", DIR_, name);
    return fig_heatmap(base, &h, err, errn);
}

typedef int (*DrawFn)(const char *, char *, size_t);

/* Draw, check the files, draw again: byte-identical. */
static void draw_check_twice(DrawFn draw, const char *name) {
    char err[2048];
    cr_assert_eq(draw(name, err, sizeof err), 0, "%s", err);
    check_figure(name, 1);
    size_t n1, n2;
    char *a = snapshot(name, &n1);
    cr_assert_eq(draw(name, err, sizeof err), 0, "%s", err);
    char *b = snapshot(name, &n2);
    cr_expect(n1 == n2 && !memcmp(a, b, n1), "%s: second drawing differs", name);
    free(a);
    free(b);
}

/* Remove DIR_ and the figure files in it (kept, to look at them, when
 * $TEST_FIGURE_KEEP is set). */
static void teardown(void) {
    if (getenv("TEST_FIGURE_KEEP")) {
        fprintf(stderr, "figures kept in %s\n", DIR_);
        return;
    }
    DIR *d = opendir(DIR_);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') snprintf(p, sizeof p, "%s/%s", DIR_, e->d_name), unlink(p);
    if (d) closedir(d);
    rmdir(DIR_);
}

TestSuite(figure, .init = setup, .fini = teardown);

Test(figure, lines_valid_and_deterministic) {
    need_gnuplot();
    draw_check_twice(draw_lines, "lines");
    char p[512];
    size_t n;
    path_of(p, sizeof p, "lines", "dat");
    char *d = slurp(p, &n);
    cr_expect_not_null(strstr(d, "\n8 NaN\n"), "the NaN point is written as NaN");
    free(d);
}

Test(figure, scatter_valid_and_deterministic) {
    need_gnuplot();
    draw_check_twice(draw_scatter, "scatter");
}

Test(figure, heatmap_valid_and_deterministic) {
    need_gnuplot();
    draw_check_twice(draw_heatmap, "heat");
}

/* Degenerate inputs draw without error: empty panels, all-NaN series,
 * n = 0, five panels (two rows); a heat map of one NaN cell without
 * sd, n or ticks; a scatter panel without points. */
Test(figure, degenerate_inputs_draw) {
    need_gnuplot();
    char err[2048], base[512];
    double x[3] = {1, 2, 3}, nan3[3] = {NAN, NAN, NAN}, neg[3] = {-1, 0, -2};
    FigSeries s[4] = {{"all NaN", 3, x, nan3, nan3}, {NULL, 0, NULL, NULL, NULL},
                      {"nonpositive on log y", 3, x, neg, NULL}, {"", 3, x, x, NULL}};
    FigPanel p[5] = {{"empty", NULL, NULL, 0, 0, 0, 0, NULL}, {"nan", "x", "y", 1, 1, 1, 3, s},
                     {"one drawable", "x", "y", 0, 0, 0, 2, s + 2}, {"none", "x", "y", 0, 1, 0, 1, s + 2},
                     {"n=0", "x", "y", 0, 0, 0, 1, s + 1}};
    snprintf(base, sizeof base, "%s/degenerate", DIR_);
    cr_expect_eq(fig_lines(base, NULL, p, 5, err, sizeof err), 0, "%s", err);
    check_figure("degenerate", 1);
    double m = NAN;
    FigHeatmap h = {NULL, NULL, NULL, NULL, 1, 1, NULL, NULL, &m, NULL, NULL};
    snprintf(base, sizeof base, "%s/heat1", DIR_);
    cr_expect_eq(fig_heatmap(base, &h, err, sizeof err), 0, "%s", err);
    check_figure("heat1", 1);
    const char *names[1] = {"only"};
    int cls[3] = {0, 0, 0};
    double xy[6] = {0, 0, 1, 1, 2, 0};
    FigScatter sc[2] = {{"empty", 0, NULL, NULL}, {"three points", 3, xy, cls}};
    snprintf(base, sizeof base, "%s/scatter0", DIR_);
    cr_expect_eq(fig_scatter(base, NULL, names, 1, sc, 2, err, sizeof err), 0, "%s", err);
    check_figure("scatter0", 1);
}

Test(figure, redraw_recreates_the_same_png) {
    need_gnuplot();
    char err[2048], base[512], p[512];
    cr_assert_eq(draw_heatmap("re", err, sizeof err), 0, "%s", err);
    size_t n1, n2;
    path_of(p, sizeof p, "re", "png");
    char *a = slurp(p, &n1);
    cr_assert_eq(unlink(p), 0);
    snprintf(base, sizeof base, "%s/re", DIR_);
    cr_assert_eq(fig_redraw(base, err, sizeof err), 0, "%s", err);
    char *b = slurp(p, &n2);
    cr_assert_not_null(b, "png not recreated");
    cr_expect(n1 == n2 && !memcmp(a, b, n1), "redrawn png differs");
    free(a);
    free(b);
    snprintf(base, sizeof base, "%s/never_drawn", DIR_);
    cr_expect_eq(fig_redraw(base, err, sizeof err), -1);
    cr_expect_not_null(strstr(err, "never_drawn.gp"), "%s", err);
}

/* ---- errors (run with or without gnuplot) ---- */

/* Run draw with $GNUPLOT = prog; returns its result, err filled; restores $GNUPLOT. */
static int with_gnuplot(const char *prog, DrawFn draw, const char *name, char *err, size_t errn) {
    const char *old = getenv("GNUPLOT");
    char *saved = old ? strdup(old) : NULL;
    setenv("GNUPLOT", prog, 1);
    int rc = draw(name, err, errn);
    if (saved) setenv("GNUPLOT", saved, 1), free(saved);
    else unsetenv("GNUPLOT");
    return rc;
}

static int check_only(const char *name, char *err, size_t errn) {
    (void)name;
    return fig_gnuplot_check(err, errn);
}

static void expect_no_picture(const char *name) {
    char p[512];
    path_of(p, sizeof p, name, "png");
    cr_expect_neq(access(p, F_OK), 0, "%s left behind by a failed drawing", p);
}

Test(figure, missing_gnuplot_is_a_clear_error) {
    char err[2048] = "";
    DrawFn draws[3] = {draw_lines, draw_scatter, draw_heatmap};
    for (int i = 0; i < 3; i++) {
        err[0] = 0;
        cr_expect_eq(with_gnuplot("/nonexistent/gnuplot", draws[i], "missing", err, sizeof err), -1);
        cr_expect_not_null(strstr(err, "gnuplot not found"), "%s", err);
        cr_expect_not_null(strstr(err, "apt-get install gnuplot-nox"), "%s", err);
    }
    expect_no_picture("missing");
    err[0] = 0;
    cr_expect_eq(with_gnuplot("/nonexistent/gnuplot", check_only, NULL, err, sizeof err), -1);
    cr_expect_not_null(strstr(err, "gnuplot"), "%s", err);
}

Test(figure, failing_gnuplot_is_an_error) {
    char err[2048] = "";
    cr_expect_eq(with_gnuplot("/bin/false", draw_lines, "fails", err, sizeof err), -1);
    cr_expect_not_null(strstr(err, "exit status 1"), "%s", err);
    expect_no_picture("fails");
    err[0] = 0; /* exits 0 but draws nothing */
    cr_expect_eq(with_gnuplot("/bin/true", draw_scatter, "silent", err, sizeof err), -1);
    cr_expect_not_null(strstr(err, "did not write"), "%s", err);
}

Test(figure, bad_arguments_are_refused) {
    char err[512], base[512];
    snprintf(base, sizeof base, "%s/bad", DIR_);
    cr_expect_eq(fig_lines(base, NULL, NULL, 0, err, sizeof err), -1);
    cr_expect_not_null(strstr(err, "npanels"), "%s", err);
    FigHeatmap h = {0};
    cr_expect_eq(fig_heatmap(base, &h, err, sizeof err), -1);
    int cls[1] = {2};
    double xy[2] = {0, 0};
    const char *names[2] = {"a", "b"};
    FigScatter sc = {"p", 1, xy, cls};
    cr_expect_eq(fig_scatter(base, NULL, names, 2, &sc, 1, err, sizeof err), -1);
    cr_expect_not_null(strstr(err, "class 2"), "%s", err);
    snprintf(base, sizeof base, "%s/", DIR_);
    FigPanel p = {0};
    cr_expect_eq(fig_lines(base, NULL, &p, 1, err, sizeof err), -1);
}
