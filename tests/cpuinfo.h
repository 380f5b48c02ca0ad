/* The CPU model as the tests read it themselves (an oracle for the provenance column
 * cpu_model): the first "model name" line of /proc/cpuinfo, "unknown" without one. */
#ifndef TESTS_CPUINFO_H
#define TESTS_CPUINFO_H

#include <stdio.h>
#include <string.h>

static inline void cpu_model_name(char *out, size_t n) {
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(out, n, "unknown");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            char *v = strchr(line, ':') + 1;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = 0;
            snprintf(out, n, "%s", v);
            break;
        }
    if (f) fclose(f);
}

#endif
