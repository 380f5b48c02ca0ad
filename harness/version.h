/* The engine's version, printed by `harness --version` and recorded with
 * every run (runs.csv engine_version, provenance).
 *
 * HARNESS_VERSION is MAJOR.MINOR.PATCH: MINOR goes up with each change that
 * can change a run's numbers (the engine's arithmetic, a config default, the
 * data pipeline) or the results store's layout, PATCH with any other
 * release, MAJOR when runs.csv of an older major can no longer be read. The
 * git commit and the build type of this build are compiled into harnesslib
 * (CMakeLists.txt: GIT_COMMIT, BUILD_TYPE) and read with the functions
 * below. */
#ifndef HARNESS_VERSION_H
#define HARNESS_VERSION_H

#include <stddef.h>

#define HARNESS_VERSION "0.10.0"

/* HARNESS_VERSION, the git commit this build was configured at (12 hex
 * digits, "unknown" outside a git checkout) and its CMake build type
 * ("Release"). Static strings. */
const char *harness_version(void);
const char *harness_git_commit(void);
const char *harness_build_type(void);

/* "harness 0.10.0 (commit 9529c41a1b2c, Release build)" into out (size n,
 * truncated to fit). */
void harness_version_line(char *out, size_t n);

#endif
