/* The files of a run directory, with their sizes (harness show). */
#ifndef HARNESS_RUNFILES_H
#define HARNESS_RUNFILES_H

#include <stdio.h>

/* Print every regular file under dir (8 levels deep at most; symbolic links not
 * followed), one per line as "  SIZE  PATH" with SIZE in bytes (and KiB/MiB/GiB from
 * 1 KiB) and PATH relative to dir, in path order, then "  N files, TOTAL". A missing or
 * unreadable dir prints "  (no run directory: DIR: why)". Returns the number of files,
 * or -1 when dir cannot be opened. */
int runfiles_print(FILE *out, const char *dir);

#endif
