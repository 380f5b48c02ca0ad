/* harness status (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_status(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "harness status: not implemented yet\n");
    return 1;
}
