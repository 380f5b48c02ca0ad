/* harness paper: regenerate every table and figure of the paper (paper.h)
 * from the recorded results. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "paper.h"

static void usage(FILE *f) {
    fprintf(f, "usage: harness paper [--results DIR] [--out DIR] [--grids DIR] [--help]\n"
               "  Regenerates every artifact of design/PAPER.md whose runs are recorded in\n"
               "  DIR/<grid>/runs.csv (default results/) into the output directory (default paper/):\n"
               "  tables as <id>.md and <id>.tex, figures as <id>.png/.svg/.gp/.dat, and README.md\n"
               "  listing each artifact as made, partial or missing with the command that makes its runs.\n"
               "  --grids DIR: the grid files (default grids/) that say which cells each grid should hold.\n"
               "  Figures of run directories (curves, t-SNE) are redrawn from their committed .dat when\n"
               "  the run directories are gone and the runs it names are still recorded ok.\n");
}

int cmd_paper(int argc, char **argv) {
    PaperOpts o = {"results", "paper", "grids", stderr};
    for (int i = 0; i < argc; i++) {
        const char **dst = !strcmp(argv[i], "--results") ? &o.results
                           : !strcmp(argv[i], "--out")   ? &o.out
                           : !strcmp(argv[i], "--grids") ? &o.grids
                                                         : NULL;
        if (dst && i + 1 < argc) {
            *dst = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "harness paper: %s '%s'\n", dst ? "missing value after" : "unknown argument", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    char err[1024] = "";
    int rc = paper_make(&o, err, sizeof err);
    if (rc) fprintf(stderr, "harness paper: %s\n", err);
    else fprintf(stderr, "harness paper: written to %s/ (README.md lists every artifact)\n", o.out);
    return rc ? 1 : 0;
}
