/* Provenance: git state read at run time, so a stale build directory can't lie. */
#define _GNU_SOURCE
#include "provenance.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SOURCE_DIR
#define SOURCE_DIR "."
#endif
#ifndef BUILD_TYPE
#define BUILD_TYPE "unknown"
#endif
#ifndef GIT_COMMIT
#define GIT_COMMIT "unknown"
#endif

static int run_capture(const char *cmd, char *out, size_t n) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t len = fread(out, 1, n - 1, p);
    out[len] = 0;
    int st = pclose(p);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r')) out[--len] = 0;
    return st == 0 ? 0 : -1;
}

void provenance_get(Provenance *p) {
    char buf[4096];
    snprintf(p->git_commit, sizeof p->git_commit, "%s", GIT_COMMIT);
    p->git_dirty[0] = 0;
    if (run_capture("git -C '" SOURCE_DIR "' rev-parse --short=12 HEAD 2>/dev/null", buf, sizeof buf) == 0 && buf[0])
        snprintf(p->git_commit, sizeof p->git_commit, "%.40s", buf);
    if (run_capture("git -C '" SOURCE_DIR "' status --porcelain --untracked-files=no 2>/dev/null", buf, sizeof buf) == 0)
        snprintf(p->git_dirty, sizeof p->git_dirty, "%s", buf[0] ? "1" : "0");
    snprintf(p->build_type, sizeof p->build_type, "%s", BUILD_TYPE);
    if (gethostname(p->host, sizeof p->host) != 0) snprintf(p->host, sizeof p->host, "unknown");
    p->host[sizeof p->host - 1] = 0;
}

void iso_time_now(char *out, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
