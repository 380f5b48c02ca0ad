/* Running gnuplot as a program and committing a figure's files. See gnuplot.h. */
#define _GNU_SOURCE /* pipe2, O_CLOEXEC, open_memstream */
#include "gnuplot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errmsg.h"
#include "figure.h"
#include "fsutil.h"

#define GP_INSTALL "gnuplot not found (install: apt-get install gnuplot-nox)"
#define TAIL_MAX 4096

const char *gp_program(void) {
    const char *p = getenv("GNUPLOT");
    return p && *p ? p : "gnuplot";
}

/* ---- the child process ---- */

/* In the child after fork: cd, redirect, exec; on failure report errno
 * through report_fd and _exit(127). Only async-signal-safe calls. */
static void child(const char *dir, const char *const *args, int err_fd, int report_fd) {
    int null = open("/dev/null", O_RDWR);
    int e = 0;
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(err_fd, 2) < 0) e = errno;
    if (!e && dir && chdir(dir) != 0) e = errno;
    if (!e) {
        execvp(args[0], (char *const *)args);
        e = errno;
    }
    ssize_t w = write(report_fd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* Read fd to EOF keeping the last TAIL_MAX - 1 bytes in tail (NUL-terminated). */
static void read_tail(int fd, char *tail) {
    size_t n = 0;
    char buf[1024];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t k = (size_t)r;
        if (n + k > TAIL_MAX - 1) { /* drop the oldest bytes */
            size_t drop = n + k - (TAIL_MAX - 1);
            if (drop > n) drop = n;
            memmove(tail, tail + drop, n - drop);
            n -= drop;
        }
        if (k > TAIL_MAX - 1 - n) k = TAIL_MAX - 1 - n;
        memcpy(tail + n, buf + (size_t)r - k, k);
        n += k;
    }
    tail[n] = 0;
}

/* Trim surrounding white space of s in place; returns the start. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == '\t')) s[--l] = 0;
    return s;
}

/* Wait for pid; returns its wait status, or -1 on error. */
static int wait_child(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return st;
}

/* Describe how the child ended (exec errno in exec_err, wait status st). */
static int child_error(const char *prog, const char *what, int exec_err, int st, char *tail, char *err, size_t errn) {
    if (exec_err == ENOENT) return errf(err, errn, GP_INSTALL ": cannot run '%s' (set $GNUPLOT to its path)", prog);
    if (exec_err) return errf(err, errn, "cannot run gnuplot '%s' in %s: %s", prog, what, strerror(exec_err));
    if (st < 0) return errf(err, errn, "gnuplot '%s': waitpid failed: %s", prog, strerror(errno));
    char *msg = trim(tail);
    if (WIFSIGNALED(st))
        return errf(err, errn, "gnuplot '%s' killed by signal %d on %s%s%s", prog, WTERMSIG(st), what,
                    *msg ? ": " : "", msg);
    return errf(err, errn, "gnuplot '%s' failed on %s (exit status %d)%s%s", prog, what, WEXITSTATUS(st),
                *msg ? ": " : " with no message", msg);
}

int gp_exec(const char *dir, const char *const *args, char *err, size_t errn) {
    int errp[2], rep[2];
    if (pipe2(errp, O_CLOEXEC) != 0) return errf(err, errn, "pipe: %s", strerror(errno));
    if (pipe2(rep, O_CLOEXEC) != 0) {
        close(errp[0]);
        close(errp[1]);
        return errf(err, errn, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid == 0) child(dir, args, errp[1], rep[1]);
    close(errp[1]);
    close(rep[1]);
    if (pid < 0) {
        close(errp[0]);
        close(rep[0]);
        return errf(err, errn, "fork: %s", strerror(errno));
    }
    char tail[TAIL_MAX];
    read_tail(errp[0], tail);
    close(errp[0]);
    int exec_err = 0;
    ssize_t r;
    do r = read(rep[0], &exec_err, sizeof exec_err);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof exec_err) exec_err = 0;
    close(rep[0]);
    int st = wait_child(pid);
    if (!exec_err && st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    char what[4200];
    snprintf(what, sizeof what, "%s%s%s", dir ? dir : ".", args[1] ? "/" : "", args[1] ? args[1] : "");
    return child_error(args[0], what, exec_err, st, tail, err, errn);
}

/* ---- drawing ---- */

/* 0 when dir/name.ext is a non-empty regular file. */
static int has_picture(const char *dir, const char *name, const char *ext) {
    char p[5200];
    struct stat s;
    snprintf(p, sizeof p, "%s/%s.%s", dir, name, ext);
    return stat(p, &s) == 0 && S_ISREG(s.st_mode) && s.st_size > 0 ? 0 : -1;
}

int gp_draw(const char *dir, const char *name, char *err, size_t errn) {
    char script[1100], p[5200];
    snprintf(script, sizeof script, "%s.gp", name);
    const char *ext[2] = {"png", "svg"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s.%s", dir, name, ext[i]);
        if (unlink(p) != 0 && errno != ENOENT) return errf(err, errn, "cannot remove %s: %s", p, strerror(errno));
    }
    const char *args[] = {gp_program(), script, NULL};
    int rc = gp_exec(dir, args, err, errn);
    for (int i = 0; i < 2 && rc == 0; i++)
        if (has_picture(dir, name, ext[i]))
            rc = errf(err, errn, "gnuplot '%s' exited 0 but did not write %s/%s.%s", args[0], dir, name, ext[i]);
    for (int i = 0; i < 2 && rc != 0; i++) { /* no half-drawn figure */
        snprintf(p, sizeof p, "%s/%s.%s", dir, name, ext[i]);
        unlink(p);
    }
    return rc;
}

/* ---- files ---- */

int gp_split(const char *base, char *dir, size_t dirn, char *name, size_t namen, char *err, size_t errn) {
    if (!base || !*base) return errf(err, errn, "figure: empty base path");
    const char *slash = strrchr(base, '/');
    const char *nm = slash ? slash + 1 : base;
    if (!*nm) return errf(err, errn, "figure: base path '%s' ends in '/' (no file name)", base);
    if (strlen(nm) + 8 >= namen) return errf(err, errn, "figure: file name too long: %s", nm);
    size_t dl = slash ? (size_t)(slash - base) : 0;
    if (dl + 16 >= dirn) return errf(err, errn, "figure: directory too long in '%s'", base);
    if (!slash) snprintf(dir, dirn, ".");
    else if (dl == 0) snprintf(dir, dirn, "/");
    else snprintf(dir, dirn, "%.*s", (int)dl, base);
    snprintf(name, namen, "%s", nm);
    return 0;
}

int gp_open(GpFig *f, const char *base, char *err, size_t errn) {
    memset(f, 0, sizeof *f);
    if (gp_split(base, f->dir, sizeof f->dir, f->name, sizeof f->name, err, errn)) return -1;
    f->dat = open_memstream(&f->datbuf, &f->datlen);
    f->gp = open_memstream(&f->gpbuf, &f->gplen);
    if (!f->dat || !f->gp) {
        gp_abort(f);
        return errf(err, errn, "figure: out of memory");
    }
    return 0;
}

void gp_abort(GpFig *f) {
    if (f->dat) fclose(f->dat);
    if (f->gp) fclose(f->gp);
    free(f->datbuf);
    free(f->gpbuf);
    f->dat = f->gp = NULL;
    f->datbuf = f->gpbuf = NULL;
}

/* Write len bytes of buf to dir/name.ext through a temporary file + rename. */
static int commit(const char *dir, const char *name, const char *ext, const char *buf, size_t len, char *err,
                  size_t errn) {
    char p[5200], tmp[5300];
    snprintf(p, sizeof p, "%s/%s.%s", dir, name, ext);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", p, (long)getpid());
    FILE *o = fopen(tmp, "wb");
    if (!o) return errf(err, errn, "cannot write %s: %s", tmp, strerror(errno));
    size_t w = fwrite(buf, 1, len, o);
    int bad = w != len || ferror(o);
    if (fclose(o) != 0) bad = 1;
    if (bad || rename(tmp, p) != 0) {
        int e = errno;
        unlink(tmp);
        return errf(err, errn, "cannot write %s: %s", p, strerror(e));
    }
    return 0;
}

int gp_finish(GpFig *f, char *err, size_t errn) {
    int bad = fclose(f->dat) != 0;
    if (fclose(f->gp) != 0) bad = 1;
    f->dat = f->gp = NULL;
    int rc = 0;
    if (bad) rc = errf(err, errn, "figure %s/%s: out of memory", f->dir, f->name);
    else if (mkdir_p(f->dir) != 0) rc = errf(err, errn, "cannot create directory %s: %s", f->dir, strerror(errno));
    else if (commit(f->dir, f->name, "dat", f->datbuf, f->datlen, err, errn) ||
             commit(f->dir, f->name, "gp", f->gpbuf, f->gplen, err, errn))
        rc = -1;
    else rc = gp_draw(f->dir, f->name, err, errn);
    gp_abort(f);
    return rc;
}

int fig_gnuplot_check(char *err, size_t errn) {
    const char *args[] = {gp_program(), "-e", "set terminal pngcairo; set terminal svg", NULL};
    char e[1024];
    if (gp_exec(NULL, args, e, sizeof e) == 0) return 0;
    if (strstr(e, GP_INSTALL)) return errf(err, errn, "%s", e);
    return errf(err, errn, "gnuplot cannot draw PNG (pngcairo) and SVG (install: apt-get install gnuplot-nox): %s", e);
}
