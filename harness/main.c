/* harness: run grids, train one run, report, inspect losses.
 *
 *   harness run GRID [-j N] [--results DIR] [--slice I/N] [--dry-run]
 *   harness train [--out DIR] [--results DIR] [--grid NAME] [--arm NAME] [--quiet] key=value...
 *   harness report CSV|GRID [--out FILE]
 *   harness loss CHECKPOINT_DIR JSONL N [key=value...]
 *   harness probe RUN_DIR|CHECKPOINT_DIR [--data FILE] [-n N] [--out DIR] ...
 *   harness plot RUN_DIR [--out DIR]
 *   harness paper [--results DIR] [--out DIR]
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

static void usage(FILE *f) {
    fprintf(f,
            "usage:\n"
            "  harness run GRID [-j N] [--results DIR] [--slice I/N] [--dry-run]\n"
            "      run every (cell x seed) of a grid not yet recorded in results/<grid>/runs.csv\n"
            "  harness train [--out DIR] [--results DIR] [--grid NAME] [--arm NAME] [--quiet] key=value...\n"
            "      one run; --help lists every config key with its default and range\n"
            "  harness report CSV|GRID [--out FILE]\n"
            "      per-cell accuracy mean ± sd and paired one-tailed t-tests against the baseline arm\n"
            "  harness loss CHECKPOINT_DIR JSONL N [key=value...]\n"
            "      mean NTP loss and JEPA distance of the first N examples, as JSON\n"
            "  harness probe RUN_DIR|CHECKPOINT_DIR [--data FILE] [-n N] [--out DIR] [options]\n"
            "      Enc(Text), Enc(Code), Pred(Enc(Text)) as .npy; SVD, least squares and t-SNE probes\n"
            "  harness plot RUN_DIR [--out DIR]\n"
            "      draw one run's curves (loss, JEPA distance, learning rate, accuracy per epoch)\n"
            "  harness paper [--results DIR] [--out DIR]\n"
            "      regenerate the paper's tables and figures from the recorded results\n"
            "each command takes --help\n");
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
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2, argv[0]);
    if (!strcmp(cmd, "report")) return cmd_report(argc - 2, argv + 2);
    if (!strcmp(cmd, "loss")) return cmd_loss(argc - 2, argv + 2);
    if (!strcmp(cmd, "probe")) return cmd_probe(argc - 2, argv + 2);
    if (!strcmp(cmd, "plot")) return cmd_plot(argc - 2, argv + 2);
    if (!strcmp(cmd, "paper")) return cmd_paper(argc - 2, argv + 2);
    if (!strcmp(cmd, "show")) return cmd_show(argc - 2, argv + 2);
    if (!strcmp(cmd, "status")) return cmd_status(argc - 2, argv + 2);
    if (!strcmp(cmd, "verify")) return cmd_verify(argc - 2, argv + 2);
    if (!strcmp(cmd, "slurm")) return cmd_slurm(argc - 2, argv + 2);
    fprintf(stderr, "harness: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
