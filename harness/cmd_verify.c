/* harness verify (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_verify(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "harness verify: not implemented yet\n");
    return 1;
}
