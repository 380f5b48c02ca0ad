/* harness show (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_show(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "harness show: not implemented yet\n");
    return 1;
}
