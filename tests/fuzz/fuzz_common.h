/* Helpers shared by the libFuzzer targets of tests/fuzz (built by CMake's FUZZ option, run by
 * .ci/fuzz.sh): a private scratch directory and writing the fuzzed bytes to a file in it. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A directory of this process, made once (under $TMPDIR or /tmp); its path. Every target
 * writes only there, so parallel fuzzing jobs do not collide. */
static inline const char *fuzz_dir(void) {
    static char dir[512];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/fuzz_XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

/* Write data[0..n) to dir/name (replacing it); the path into out. Aborts on a write error
 * (a broken harness, not a finding). */
static inline void fuzz_write(const char *name, const uint8_t *data, size_t n, char *out, size_t outn) {
    snprintf(out, outn, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(out, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) abort();
}

/* The invariant each target asserts on every input: when cond is false the input is a
 * finding (libFuzzer keeps it as a crash artifact). */
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz: invariant violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#endif
