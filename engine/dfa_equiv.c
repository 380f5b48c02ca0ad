/* Metric dfa: language equivalence of two NL-RX regexes in a child process
 * under limits, and the rescoring of a predictions file. */
#define _GNU_SOURCE
#include "dfa_equiv.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fa.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errmsg.h"

DfaLimits dfa_limits_default(void) {
    DfaLimits l = {DFA_DEFAULT_SECONDS, DFA_DEFAULT_MAX_STATES};
    return l;
}

const char *dfa_verdict_name(DfaVerdict v) {
    switch (v) {
    case DFA_EQUAL: return "equal";
    case DFA_DIFFERENT: return "different";
    case DFA_UNDECIDED: return "undecided";
    case DFA_INVALID: return "invalid";
    }
    return "?";
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the child ---- */

/* Exit statuses of the checking child. */
enum { CHILD_EQUAL = 10, CHILD_DIFFERENT, CHILD_STATES, CHILD_TIME, CHILD_NOMEM, CHILD_INTERNAL };

/* Virtual size of this process in bytes (/proc/self/statm), or -1. */
static long vm_bytes(void) {
    char buf[64];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0) return -1;
    buf[k] = '\0';
    long pages = strtol(buf, NULL, 10);
    return pages > 0 ? pages * sysconf(_SC_PAGESIZE) : -1;
}

/* In the child: the default action (terminate) for the signals that end
 * it, not the caller's handlers; SIGPROF after `seconds` of CPU time,
 * RLIMIT_CPU one second later as a backstop, and an address space of the
 * inherited one plus DFA_MEMORY_HEADROOM. */
static void child_limits(double seconds) {
    static const int sigs[] = {SIGPROF, SIGXCPU, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGINT, SIGTERM};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        signal(sigs[i], SIG_DFL);
        sigaddset(&set, sigs[i]);
    }
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    struct itimerval it = {{0, 0}, {(time_t)seconds, (suseconds_t)(1e6 * (seconds - floor(seconds)))}};
    if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0) it.it_value.tv_usec = 1;
    setitimer(ITIMER_PROF, &it, NULL);
    rlim_t cpu = (rlim_t)ceil(seconds) + 1;
    struct rlimit rc = {cpu, cpu + 1};
    setrlimit(RLIMIT_CPU, &rc);
    long vm = vm_bytes();
    if (vm > 0) {
        struct rlimit ra = {(rlim_t)vm + DFA_MEMORY_HEADROOM, (rlim_t)vm + DFA_MEMORY_HEADROOM};
        setrlimit(RLIMIT_AS, &ra);
    }
}

static int child_status(NlrxBuild s) {
    switch (s) {
    case NLRX_BUILD_STATES: return CHILD_STATES;
    case NLRX_BUILD_TIME: return CHILD_TIME;
    case NLRX_BUILD_NOMEM: return CHILD_NOMEM;
    default: return CHILD_INTERNAL;
    }
}

/* Build both automata and compare them; the child's exit status. */
static int child_check(const NlrxRegex *g, const NlrxRegex *t, const DfaLimits *lim) {
    struct fa *ft = NULL, *fg = NULL;
    char e[160];
    NlrxBuild s = nlrx_build(t, lim->max_states, lim->seconds, &ft, e, sizeof e);
    if (s == NLRX_BUILD_OK) s = nlrx_build(g, lim->max_states, lim->seconds, &fg, e, sizeof e);
    if (s != NLRX_BUILD_OK) return child_status(s);
    int eq = fa_equals(fg, ft);
    return eq < 0 ? CHILD_NOMEM : eq ? CHILD_EQUAL : CHILD_DIFFERENT;
}

/* ---- the parent ---- */

/* waitpid(pid, status, 0), retried on EINTR. 0 or -1 with err. */
static int reap(pid_t pid, int *status, char *err, size_t errn) {
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR) return errf(err, errn, "dfa: waitpid: %s", strerror(errno));
    return 0;
}

/* Wait for child pid by polling waitpid with growing naps (kernels without
 * pidfd_open); kill it (SIGKILL) after wall seconds. */
static int wait_child_polling(pid_t pid, double wall, int *status, int *killed, char *err, size_t errn) {
    double t0 = now_seconds();
    long nap_ns = 20000;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 0;
        if (r < 0 && errno != EINTR) return errf(err, errn, "dfa: waitpid: %s", strerror(errno));
        if (!*killed && now_seconds() - t0 > wall) {
            kill(pid, SIGKILL);
            *killed = 1;
        }
        struct timespec ts = {0, nap_ns};
        nanosleep(&ts, NULL);
        if (nap_ns < 2000000) nap_ns *= 2;
    }
}

/* Wait for child pid; kill it (SIGKILL) after wall seconds. The wait is a
 * poll(2) on the child's pidfd, which wakes the moment it exits (a verdict
 * typically takes about a millisecond; sleeping between waitpid calls added
 * up to a third to that). 0 with *status and *killed, or -1 with err. */
static int wait_child(pid_t pid, double wall, int *status, int *killed, char *err, size_t errn) {
    *killed = 0;
    int fd = pidfd_open(pid, 0);
    if (fd < 0) return wait_child_polling(pid, wall, status, killed, err, errn);
    double t0 = now_seconds();
    for (;;) {
        double left = wall - (now_seconds() - t0);
        struct pollfd p = {fd, POLLIN, 0};
        int r = left > 0 ? poll(&p, 1, (int)ceil(left * 1e3)) : 0;
        if (r > 0) break;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            close(fd);
            return errf(err, errn, "dfa: poll: %s", strerror(errno));
        }
        if (now_seconds() - t0 >= wall) {
            kill(pid, SIGKILL);
            *killed = 1;
            break;
        }
    }
    close(fd);
    return reap(pid, status, err, errn);
}

/* The verdict of a finished child (status as from waitpid). */
static int read_status(int status, int killed, const DfaLimits *lim, DfaVerdict *out, char *err, size_t errn) {
    *out = DFA_UNDECIDED;
    if (killed) {
        errf(err, errn, "wall-clock limit (%.3g s) exceeded", 4 * lim->seconds + 2);
        return 0;
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGPROF) errf(err, errn, "time limit (%.3g s CPU) exceeded", lim->seconds);
        else if (sig == SIGXCPU) errf(err, errn, "RLIMIT_CPU (%.0f s) exceeded", ceil(lim->seconds) + 1);
        else errf(err, errn, "checker killed by signal %d (%s; memory limit?)", sig, strsignal(sig));
        return 0;
    }
    switch (WIFEXITED(status) ? WEXITSTATUS(status) : -1) {
    case CHILD_EQUAL: *out = DFA_EQUAL; break;
    case CHILD_DIFFERENT: *out = DFA_DIFFERENT; break;
    case CHILD_STATES: errf(err, errn, "state limit (%ld states) exceeded", lim->max_states); break;
    case CHILD_TIME: errf(err, errn, "time limit (%.3g s CPU) exceeded", lim->seconds); break;
    case CHILD_NOMEM: errf(err, errn, "out of memory (address-space limit)"); break;
    case CHILD_INTERNAL: return errf(err, errn, "dfa: libfa built a character set other than asked for (a defect)");
    default: return errf(err, errn, "dfa: checker ended with status 0x%x", status);
    }
    return 0;
}

/* Fork, check in the child, read its verdict. */
static int check_forked(const NlrxRegex *g, const NlrxRegex *t, const DfaLimits *lim, DfaVerdict *out, char *err,
                        size_t errn) {
    pid_t pid = fork();
    if (pid < 0) return errf(err, errn, "dfa: fork: %s", strerror(errno));
    if (pid == 0) { /* leaves by _exit: the parent's stdio buffers and atexit handlers stay untouched */
        child_limits(lim->seconds);
        _exit(child_check(g, t, lim));
    }
    int status = 0, killed = 0;
    if (wait_child(pid, 4 * lim->seconds + 2, &status, &killed, err, errn) < 0) return -1;
    return read_status(status, killed, lim, out, err, errn);
}

int nlrx_dfa_equiv_boundary(const char *generated, const char *target, const DfaLimits *lim, NlrxBoundary wb,
                            DfaVerdict *out, char *err, size_t errn) {
    DfaLimits def = dfa_limits_default();
    if (!lim) lim = &def;
    if (err && errn) err[0] = '\0';
    if (!generated || !target || !out) return errf(err, errn, "nlrx_dfa_equiv: NULL argument");
    if (!(lim->seconds > 0) || lim->max_states <= 0)
        return errf(err, errn, "dfa: limits must be positive (seconds %g, max_states %ld)", lim->seconds,
                    lim->max_states);
    NlrxRegex t = {0}, g = {0};
    char e[192];
    if (nlrx_parse(target, wb, &t, e, sizeof e) < 0)
        return errf(err, errn, "target regex \"%.80s\": %s", target, e);
    int rc = 0;
    if (!strcmp(generated, target))
        *out = DFA_EQUAL;
    else if (nlrx_parse(generated, wb, &g, e, sizeof e) < 0) {
        *out = DFA_INVALID;
        errf(err, errn, "%s", e);
    } else
        rc = check_forked(&g, &t, lim, out, err, errn);
    nlrx_free(&t);
    nlrx_free(&g);
    return rc;
}

int nlrx_dfa_equiv(const char *generated, const char *target, const DfaLimits *lim, DfaVerdict *out, char *err,
                   size_t errn) {
    return nlrx_dfa_equiv_boundary(generated, target, lim, NLRX_BOUNDARY_LITERAL, out, err, errn);
}

/* ---- rescoring a predictions file ---- */

/* s without surrounding white space, as a new string (NULL: out of memory). */
static char *strip_dup(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    return strndup(s, n);
}

/* Score one parsed line into c; 0 or -1 with err. */
static int rescore_line(const cJSON *o, const DfaLimits *lim, DfaCounts *c, char *err, size_t errn) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "target");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "generated");
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "exact");
    if (!cJSON_IsString(t) || !cJSON_IsString(g) || !cJSON_IsBool(x))
        return errf(err, errn, "expected strings \"target\", \"generated\" and boolean \"exact\"");
    char *ts = strip_dup(t->valuestring), *gs = strip_dup(g->valuestring);
    DfaVerdict v = DFA_DIFFERENT;
    int rc = ts && gs ? nlrx_dfa_equiv(gs, ts, lim, &v, err, errn) : errf(err, errn, "out of memory");
    free(ts);
    free(gs);
    if (rc < 0) return -1;
    int exact = cJSON_IsTrue(x);
    c->n++;
    c->exact += exact;
    c->dfa_equal += v == DFA_EQUAL;
    c->dfa_different += v == DFA_DIFFERENT;
    c->undecided += v == DFA_UNDECIDED;
    c->invalid += v == DFA_INVALID;
    c->exact_wrong_but_dfa_right += !exact && v == DFA_EQUAL;
    c->dfa_wrong_but_exact_right += exact && v != DFA_EQUAL;
    return 0;
}

static int blank(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

int dfa_rescore_predictions(const char *predictions_jsonl, const DfaLimits *lim, DfaCounts *out, char *err,
                            size_t errn) {
    if (!predictions_jsonl || !out) return errf(err, errn, "dfa_rescore_predictions: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(predictions_jsonl, "r");
    if (!f) return errf(err, errn, "%s: %s", predictions_jsonl, strerror(errno));
    double t0 = now_seconds();
    char *line = NULL, e[512];
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        if (blank(line)) continue;
        cJSON *o = cJSON_Parse(line);
        if (!cJSON_IsObject(o)) rc = errf(e, sizeof e, "not a JSON object");
        else rc = rescore_line(o, lim, out, e, sizeof e);
        cJSON_Delete(o);
        if (rc < 0) errf(err, errn, "%s:%ld: %s", predictions_jsonl, lineno, e);
    }
    if (rc == 0 && ferror(f)) rc = errf(err, errn, "%s: read error", predictions_jsonl);
    free(line);
    fclose(f);
    out->seconds = now_seconds() - t0;
    return rc;
}
