/* Provenance of a run for the results store and its run directory: git commit and
 * dirty flag of the source tree, build type and host; the compiler and its flags, the
 * CPU model, the BLAS library and its core type, the engine version and the command
 * line. */
#ifndef HARNESS_PROVENANCE_H
#define HARNESS_PROVENANCE_H

#include <stddef.h>

#include "version.h" /* HARNESS_VERSION: the engine version */

#define PROVENANCE_CMDLINE_MAX 16384

typedef struct Provenance {
    char git_commit[48];
    char git_dirty[8];   /* "0", "1" or "" when unknown */
    char build_type[32];
    char host[128];
    char compiler[96];        /* "gcc 12.2.0", "clang Debian Clang 14.0.6" (from __VERSION__) */
    char compiler_flags[512]; /* the build's C flags (BUILD_C_FLAGS from CMake), else what the
                                 predefined macros say ("macros: __OPTIMIZE__ __AVX2__ ...") */
    char cpu_model[128];      /* /proc/cpuinfo "model name" (else "Model"/"CPU part"), "unknown" */
    char blas[256];           /* openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH ..." */
    char blas_core[64];       /* openblas_get_corename(): "Haswell" */
    char engine_version[32];  /* HARNESS_VERSION (version.h) */
    char command_line[PROVENANCE_CMDLINE_MAX]; /* this process's argv, shell-quoted ("" unknown) */
} Provenance;

/* Fill p for this process; never fails (unknown values are "unknown" or ""). Runs git
 * twice (commit, dirty flag) and reads /proc/cpuinfo and /proc/self/cmdline. */
void provenance_get(Provenance *p);

/* argv (argc strings) as one shell command line into out (size n): arguments joined by
 * spaces, each one holding anything but [A-Za-z0-9_./=:,+@%^-] single-quoted (a ' as
 * '\''), an empty one as ''. Truncated to n - 1 bytes when longer (ending in "..."). */
void provenance_quote_argv(int argc, char *const *argv, char *out, size_t n);

/* The command line of this process, /proc/self/cmdline quoted by provenance_quote_argv,
 * into out (size n); "" when it cannot be read. */
void provenance_self_command_line(char *out, size_t n);

/* Current UTC time as ISO 8601 (YYYY-MM-DDTHH:MM:SSZ). */
void iso_time_now(char *out, size_t n);

#endif
