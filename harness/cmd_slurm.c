/* harness slurm (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_slurm(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "harness slurm: not implemented yet\n");
    return 1;
}
