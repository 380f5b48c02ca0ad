/* Provenance of a run for the results store: git commit and dirty flag of
 * the source tree, build type, host, times. */
#ifndef HARNESS_PROVENANCE_H
#define HARNESS_PROVENANCE_H

#include <stddef.h>

typedef struct Provenance {
    char git_commit[48];
    char git_dirty[8];   /* "0", "1" or "" when unknown */
    char build_type[32];
    char host[128];
} Provenance;

/* Fill p; never fails (unknown values are "unknown" or ""). */
void provenance_get(Provenance *p);

/* Current UTC time as ISO 8601 (YYYY-MM-DDTHH:MM:SSZ). */
void iso_time_now(char *out, size_t n);

#endif
