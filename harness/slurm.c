/* The sbatch array script and running SLURM's programs (slurm.h). */
#define _GNU_SOURCE
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errmsg.h"

/* Whether v can go into the script single-quoted (no quote, no newline). */
static int quotable(const char *v) { return !strpbrk(v, "'\n\r"); }

/* Whether v can be an #SBATCH value (no blank, quote or newline). */
static int plain(const char *v) { return !strpbrk(v, " \t'\"\n\r\\"); }

/* Append to buf at *at; returns -1 when it does not fit. */
static int put(char *buf, size_t n, size_t *at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int put(char *buf, size_t n, size_t *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *at, n - *at, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n - *at) return -1;
    *at += (size_t)w;
    return 0;
}

int slurm_script(const SlurmOpts *o, char *buf, size_t n, char *err, size_t errn) {
    const char *paths[] = {o->grid_path, o->results, o->harness, o->workdir, o->grid_name};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (!quotable(paths[i])) return errf(err, errn, "'%s' holds a quote or a newline: it cannot go into a script", paths[i]);
    if (!plain(o->grid_name)) return errf(err, errn, "grid name '%s' holds a blank or a quote", o->grid_name);
    if (o->partition && *o->partition && !plain(o->partition))
        return errf(err, errn, "--partition '%s': expected a partition name (no blanks or quotes)", o->partition);
    if (o->time_limit && *o->time_limit && !plain(o->time_limit))
        return errf(err, errn, "--time '%s': expected a SLURM time such as 2:00:00 or 1-00:00:00", o->time_limit);
    if (o->tasks < 1 || o->cpus_per_task < 1) return errf(err, errn, "tasks and cpus per task must be at least 1");
    size_t at = 0;
    int rc = put(buf, n, &at,
                 "#!/bin/bash\n"
                 "# Written by harness slurm: each array task runs one slice of the grid (the runs whose\n"
                 "# index %% SLURM_ARRAY_TASK_COUNT == SLURM_ARRAY_TASK_ID) into the same results store.\n"
                 "#SBATCH --job-name=harness-%s\n"
                 "#SBATCH --array=0-%d\n"
                 "#SBATCH --ntasks=1\n"
                 "#SBATCH --cpus-per-task=%d\n"
                 "#SBATCH --output=%s/%s/slurm/%%A_%%a.out\n",
                 o->grid_name, o->tasks - 1, o->cpus_per_task, o->results, o->grid_name);
    if (!rc && o->partition && *o->partition) rc = put(buf, n, &at, "#SBATCH --partition=%s\n", o->partition);
    if (!rc && o->time_limit && *o->time_limit) rc = put(buf, n, &at, "#SBATCH --time=%s\n", o->time_limit);
    if (!rc)
        rc = put(buf, n, &at,
                 "set -euo pipefail\n"
                 "cd '%s'\n"
                 "exec '%s' run '%s' --results '%s' -j 1 --slice \"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\"\n",
                 o->workdir, o->harness, o->grid_path, o->results);
    if (rc) return errf(err, errn, "the sbatch script does not fit in %zu bytes", n);
    return 0;
}

int slurm_find(const char *name, char *out, size_t n) {
    const char *path = getenv("PATH");
    if (!path || !*name) return -1;
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        if (len > 0 && (size_t)snprintf(out, n, "%.*s/%s", (int)len, p, name) < n && access(out, X_OK) == 0) return 0;
        p += len;
        if (*p == ':') p++;
    }
    return -1;
}

/* Read fds[0] and fds[1] until both close, into bufs (sizes ns, the rest dropped). */
static void drain(int fds[2], char *bufs[2], size_t ns[2]) {
    size_t at[2] = {0, 0};
    int open_n = 2;
    struct pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    while (open_n > 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents) continue;
            char tmp[4096];
            ssize_t r = read(p[i].fd, tmp, sizeof tmp);
            if (r <= 0) { p[i].fd = -1; open_n--; continue; }
            size_t keep = ns[i] - 1 - at[i] < (size_t)r ? ns[i] - 1 - at[i] : (size_t)r;
            memcpy(bufs[i] + at[i], tmp, keep);
            at[i] += keep;
        }
    }
    for (int i = 0; i < 2; i++) {
        bufs[i][at[i]] = 0;
        while (at[i] > 0 && (bufs[i][at[i] - 1] == '\n' || bufs[i][at[i] - 1] == '\r')) bufs[i][--at[i]] = 0;
    }
}

int slurm_capture(char *const argv[], char *out, size_t outn, char *errtxt, size_t errtxtn, int *status) {
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC)) return -1;
    if (pipe2(pe, O_CLOEXEC)) { close(po[0]); close(po[1]); return -1; }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        int dn = open("/dev/null", O_RDONLY);
        if (dn >= 0) dup2(dn, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execv(argv[0], argv);
        fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    int fds[2] = {po[0], pe[0]};
    char *bufs[2] = {out, errtxt};
    size_t ns[2] = {outn, errtxtn};
    drain(fds, bufs, ns);
    close(po[0]);
    close(pe[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return 0;
}
