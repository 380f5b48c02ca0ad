/* harness: run grids, train one run, report, inspect losses.
 *
 *   harness run GRID [-j N] [--results DIR] [--slice I/N] [--dry-run]
 *   harness train [--out DIR] [--results DIR] [--grid NAME] [--arm NAME] [--quiet] key=value...
 *   harness report CSV|GRID [--metric COLUMN] [--format md|tex|csv] [--out FILE]
 *   harness loss CHECKPOINT_DIR JSONL N [key=value...]
 *   harness probe RUN_DIR|CHECKPOINT_DIR [--data FILE] [-n N] [--out DIR] ...
 *   harness plot RUN_DIR [--out DIR]
 *   harness paper [--results DIR] [--out DIR]
 *   harness show RUN_ID | status GRID | verify [GRID] | slurm GRID
 *   harness help [COMMAND] | --version
 *
 * Only this file exits; everything it calls returns errors with a message. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "version.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv); /* NULL: cmd_run, which also takes the program's path */
    const char *usage;                /* the synopsis after "harness " */
    const char *what;                 /* one line */
} Command;

static const Command COMMANDS[] = {
    {"run", NULL, "run GRID [-j N] [--results DIR] [--slice I/N] [--dry-run] [--probe] [--reuse]",
     "run every (cell x seed) of a grid not yet recorded in results/<grid>/runs.csv"},
    {"train", cmd_train, "train [--out DIR] [--results DIR] [--grid NAME] [--arm NAME] [--quiet] key=value...",
     "one run; --help lists every config key with its default and range"},
    {"report", cmd_report, "report CSV|GRID [--metric COLUMN] [--better higher|lower] [--format md|tex|csv] [--out FILE]",
     "per-cell mean ± sd, paired one-tailed t-tests against the baseline arm (Δ, 95% CI, d_z, Holm), best cell"},
    {"loss", cmd_loss, "loss CHECKPOINT_DIR JSONL N [key=value...]",
     "mean NTP loss and JEPA distance of the first N examples, as JSON"},
    {"probe", cmd_probe, "probe RUN_DIR|CHECKPOINT_DIR [--data FILE] [-n N] [--out DIR] [options]",
     "Enc(Text), Enc(Code), Pred(Enc(Text)) as .npy; SVD, least squares and t-SNE probes"},
    {"plot", cmd_plot, "plot RUN_DIR [--out DIR]",
     "draw one run's curves (loss, JEPA distance, learning rate, accuracy per epoch)"},
    {"paper", cmd_paper, "paper [--results DIR] [--out DIR]",
     "regenerate the paper's tables and figures from the recorded results"},
    {"show", cmd_show, "show RUN_ID [--results DIR]", "a run's config, provenance, metrics and files"},
    {"rescore", cmd_rescore, "rescore GRID [--results DIR]",
     "score recorded predictions again under the task's current metrics (e.g. acc_dfa vs exact match)"},
    {"status", cmd_status, "status GRID [--results DIR] [--all]", "done / running / failed / pending runs of a grid"},
    {"verify", cmd_verify, "verify [GRID] [--reference FILE] [--results DIR] [--update] [-j N]",
     "run the nightly grid and compare every run with the committed reference"},
    {"slurm", cmd_slurm, "slurm GRID [--tasks N] [--partition P] [--time T] [--cpus-per-task C] [--results DIR] [--dry-run]",
     "write and submit an sbatch --array script running slices of a grid"},
    {"help", NULL, "help [COMMAND]", "this list, or COMMAND's --help"},
};
#define NCOMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))

static void usage(FILE *f) {
    fprintf(f, "usage:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  harness %s\n      %s\n", COMMANDS[i].usage, COMMANDS[i].what);
    fprintf(f, "  harness --version\n      the engine version, git commit and build type\n"
               "each command takes --help (harness help COMMAND)\n");
}

static const Command *find_command(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].name, name) == 0) return &COMMANDS[i];
    return NULL;
}

/* Levenshtein distance of a and b (each cut to 63 bytes). */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strnlen(a, 63), lb = (int)strnlen(b, 63), row[64];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The command nearest to name when it is close enough to be a typo (edit
 * distance at most 2, and less than the name's length), else NULL; ties go
 * to the first in COMMANDS. */
static const char *suggest(const char *name) {
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; i < NCOMMANDS; i++) {
        int d = edit_distance(name, COMMANDS[i].name);
        if (d < bd && d < (int)strlen(COMMANDS[i].name)) {
            bd = d;
            best = COMMANDS[i].name;
        }
    }
    return best;
}

static int unknown_command(const char *name) {
    const char *s = suggest(name);
    fprintf(stderr, "harness: unknown command '%s'", name);
    if (s) fprintf(stderr, "; did you mean '%s'?", s);
    fprintf(stderr, "\n(harness help lists the commands)\n");
    return 2;
}

static int dispatch(const Command *c, int argc, char **argv, const char *self);

/* harness help [COMMAND]: the usage, or COMMAND --help. */
static int help(int argc, char **argv, const char *self) {
    if (argc == 0) {
        usage(stdout);
        return 0;
    }
    const Command *c = find_command(argv[0]);
    if (!c) return unknown_command(argv[0]);
    if (strcmp(c->name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    char *args[] = {"--help", NULL};
    return dispatch(c, 1, args, self);
}

static int dispatch(const Command *c, int argc, char **argv, const char *self) {
    if (strcmp(c->name, "run") == 0) return cmd_run(argc, argv, self);
    if (strcmp(c->name, "help") == 0) return help(argc, argv, self);
    return c->fn(argc, argv);
}

int main(int argc, char **argv) {
    /* OpenMP threads that spin after a parallel region steal the cores from
     * OpenBLAS's own threads (2 threads ran slower than 1). libgomp reads its
     * wait policy when it loads, so set it and start again. */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv); /* on failure, go on as we are */
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
        char line[256];
        harness_version_line(line, sizeof line);
        printf("%s\n", line);
        return 0;
    }
    const Command *c = find_command(argv[1]);
    if (!c) return unknown_command(argv[1]);
    return dispatch(c, argc - 2, argv + 2, argv[0]);
}
