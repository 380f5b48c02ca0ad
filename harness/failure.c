/* A failed run's reason from its wait status and log. See failure.h. */
#define _GNU_SOURCE /* strcasestr */
#include "failure.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* The name of signal sig ("SIGKILL"), or NULL for one not listed. */
static const char *signal_name(int sig) {
    static const struct { int sig; const char *name; } names[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},
        {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig) return names[i].name;
    return NULL;
}

void failure_wait_status(int status, char *out, size_t n) {
    if (WIFEXITED(status)) {
        snprintf(out, n, "exit status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = signal_name(sig);
        char nm[32];
        snprintf(nm, sizeof nm, "%s", name ? name : "unknown signal");
        snprintf(out, n, "killed by signal %d (%s)%s", sig, nm, WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        snprintf(out, n, "wait status %d", status);
    }
}

/* Whether line (length len) reports an error. */
static int error_line(const char *line) {
    static const char *const words[] = {"error", "assert", "fatal", "abort", "cannot"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(line, words[i])) return 1;
    return 0;
}

int failure_last_error_line(const char *log_path, char *out, size_t n) {
    enum { TAIL = 1 << 16 };
    if (n) out[0] = 0;
    FILE *f = fopen(log_path, "rb");
    if (!f) return 0;
    char *buf = malloc(TAIL + 1);
    size_t len = 0;
    if (buf && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > TAIL) fseek(f, size - TAIL, SEEK_SET);
        else rewind(f);
        len = fread(buf, 1, TAIL, f);
    }
    fclose(f);
    if (!buf) return 0;
    buf[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == 0 || buf[i] == '\r') buf[i] = ' '; /* one string; CR never ends a line here */
    int found = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (error_line(line)) {
            char *s = line + strspn(line, " \t"), *e = s + strlen(s);
            while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
            snprintf(out, n, "%.*s", (int)(e - s), s);
            found = 1;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(buf);
    return found;
}

void failure_reason(int status, const char *log_path, char *out, size_t n) {
    char why[64], line[512];
    failure_wait_status(status, why, sizeof why);
    if (failure_last_error_line(log_path, line, sizeof line)) snprintf(out, n, "%s: %s", why, line);
    else snprintf(out, n, "%s", why);
}
