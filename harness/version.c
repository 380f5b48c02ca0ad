/* The engine's version and this build's commit and type. See version.h. */
#include "version.h"

#include <stdio.h>

#ifndef GIT_COMMIT
#define GIT_COMMIT "unknown"
#endif
#ifndef BUILD_TYPE
#define BUILD_TYPE "unknown"
#endif

const char *harness_version(void) {
    return HARNESS_VERSION;
}

const char *harness_git_commit(void) {
    return GIT_COMMIT;
}

const char *harness_build_type(void) {
    return BUILD_TYPE;
}

void harness_version_line(char *out, size_t n) {
    snprintf(out, n, "harness %s (commit %s, %s build)", HARNESS_VERSION, GIT_COMMIT, BUILD_TYPE);
}
