/* Provenance: git state read at run time, so a stale build directory can't lie; the
 * compiler at compile time; CPU, BLAS and command line at run time. */
#define _GNU_SOURCE
#include "provenance.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The compiler, from its predefined macros. */
static void compiler_name(char *out, size_t n) {
#if defined(__clang__)
    snprintf(out, n, "clang %s", __VERSION__);
#elif defined(__GNUC__)
    snprintf(out, n, "gcc %s", __VERSION__);
#else
    snprintf(out, n, "unknown");
#endif
}

/* The C flags of this build: CMake's BUILD_C_FLAGS when it passes them, else the
 * predefined macros that the flags set (optimisation, instruction sets, OpenMP). */
static void compiler_flags(char *out, size_t n) {
#ifdef BUILD_C_FLAGS
    snprintf(out, n, "%s", BUILD_C_FLAGS);
#else
    snprintf(out, n, "macros:"
#ifdef __OPTIMIZE__
             " __OPTIMIZE__"
#endif
#ifdef __OPTIMIZE_SIZE__
             " __OPTIMIZE_SIZE__"
#endif
#ifdef __FAST_MATH__
             " __FAST_MATH__"
#endif
#ifdef __SSE4_2__
             " __SSE4_2__"
#endif
#ifdef __AVX__
             " __AVX__"
#endif
#ifdef __AVX2__
             " __AVX2__"
#endif
#ifdef __FMA__
             " __FMA__"
#endif
#ifdef __AVX512F__
             " __AVX512F__"
#endif
#ifdef __ARM_NEON
             " __ARM_NEON"
#endif
#ifdef _OPENMP
             " _OPENMP"
#endif
#ifdef NDEBUG
             " NDEBUG"
#endif
#ifdef __SANITIZE_ADDRESS__
             " __SANITIZE_ADDRESS__"
#endif
    );
#endif
}

/* The value of the first "NAME<blanks>: value" line of /proc/cpuinfo among names. */
static void cpu_model(char *out, size_t n) {
    static const char *const names[] = {"model name", "Model", "CPU part"};
    char line[512];
    snprintf(out, n, "unknown");
    for (int k = 0; k < 3; k++) {
        FILE *f = fopen("/proc/cpuinfo", "r");
        if (!f) return;
        size_t nl = strlen(names[k]);
        int found = 0;
        while (!found && fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (!colon || strncmp(line, names[k], nl) || strspn(line + nl, " \t") != (size_t)(colon - line - nl))
                continue;
            char *v = colon + 1 + strspn(colon + 1, " \t");
            v[strcspn(v, "\r\n")] = 0;
            snprintf(out, n, "%s", v);
            found = 1;
        }
        fclose(f);
        if (found) return;
    }
}

/* One BLAS string with its trailing blanks removed ("" for NULL). */
static void blas_text(const char *s, char *out, size_t n) {
    snprintf(out, n, "%s", s ? s : "");
    size_t len = strlen(out);
    while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\n')) out[--len] = 0;
}

void provenance_get(Provenance *p) {
    char buf[4096];
    memset(p, 0, sizeof *p);
    snprintf(p->git_commit, sizeof p->git_commit, "%s", GIT_COMMIT);
    if (run_capture("git -C '" SOURCE_DIR "' rev-parse --short=12 HEAD 2>/dev/null", buf, sizeof buf) == 0 && buf[0])
        snprintf(p->git_commit, sizeof p->git_commit, "%.40s", buf);
    if (run_capture("git -C '" SOURCE_DIR "' status --porcelain --untracked-files=no 2>/dev/null", buf, sizeof buf) == 0)
        snprintf(p->git_dirty, sizeof p->git_dirty, "%s", buf[0] ? "1" : "0");
    snprintf(p->build_type, sizeof p->build_type, "%s", BUILD_TYPE);
    if (gethostname(p->host, sizeof p->host) != 0) snprintf(p->host, sizeof p->host, "unknown");
    p->host[sizeof p->host - 1] = 0;
    compiler_name(p->compiler, sizeof p->compiler);
    compiler_flags(p->compiler_flags, sizeof p->compiler_flags);
    cpu_model(p->cpu_model, sizeof p->cpu_model);
    blas_text(openblas_get_config(), p->blas, sizeof p->blas);
    blas_text(openblas_get_corename(), p->blas_core, sizeof p->blas_core);
    snprintf(p->engine_version, sizeof p->engine_version, "%s", harness_version());
    provenance_self_command_line(p->command_line, sizeof p->command_line);
}

/* Whether argument a can go on a shell command line unquoted. */
static int plain_arg(const char *a) {
    return *a && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=:,+@%^-") == strlen(a);
}

/* Append text t (length tl) to out at *len (size n), keeping room for "..." and the 0;
 * returns -1 once something did not fit. */
static int put(char *out, size_t n, size_t *len, const char *t, size_t tl) {
    if (*len + tl + 4 > n) return -1;
    memcpy(out + *len, t, tl);
    *len += tl;
    out[*len] = 0;
    return 0;
}

void provenance_quote_argv(int argc, char *const *argv, char *out, size_t n) {
    size_t len = 0;
    int full = 0;
    if (n < 4) { /* no room for anything */
        if (n) out[0] = 0;
        return;
    }
    out[0] = 0;
    for (int i = 0; i < argc && !full; i++) {
        const char *a = argv[i];
        if (i) full |= put(out, n, &len, " ", 1);
        if (plain_arg(a)) {
            full |= put(out, n, &len, a, strlen(a));
            continue;
        }
        full |= put(out, n, &len, "'", 1);
        for (const char *c = a; *c && !full; c++)
            full |= *c == '\'' ? put(out, n, &len, "'\\''", 4) : put(out, n, &len, c, 1);
        full |= put(out, n, &len, "'", 1);
    }
    if (full) snprintf(out + len, n - len, "...");
}

void provenance_self_command_line(char *out, size_t n) {
    if (n) out[0] = 0;
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (buf) len = fread(buf, 1, cap, f);
    fclose(f);
    if (!buf) return;
    buf[len] = 0;
    int argc = 0;
    for (size_t i = 0; i < len; i++) argc += buf[i] == 0;
    if (len && buf[len - 1]) argc++; /* a truncated last argument */
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    for (size_t i = 0, a = 0; argv && i < len; a++) {
        argv[a] = buf + i;
        i += strlen(buf + i) + 1;
    }
    if (argv) provenance_quote_argv(argc, argv, out, n);
    free(argv);
    free(buf);
}

void iso_time_now(char *out, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
