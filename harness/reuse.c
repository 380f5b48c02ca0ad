/* harness run --reuse: runs recorded by other grids of the same results directory. */
#define _GNU_SOURCE
#include "reuse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"
#include "fsutil.h"
#include "record.h"

int reuse_index_load(const char *results, const char *self, ReuseIndex *ix, char *err, size_t errn) {
    memset(ix, 0, sizeof *ix);
    char pattern[1100];
    snprintf(pattern, sizeof pattern, "%s/*/runs.csv", results);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) return 0; /* no other grid recorded anything */
    ix->grid = calloc(g.gl_pathc, sizeof *ix->grid);
    ix->t = calloc(g.gl_pathc, sizeof *ix->t);
    if (!ix->grid || !ix->t) {
        globfree(&g);
        reuse_index_free(ix);
        return errf(err, errn, "out of memory");
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char tmp[1100], rerr[512];
        snprintf(tmp, sizeof tmp, "%s", g.gl_pathv[i]);
        const char *name = basename(dirname(tmp));
        if (!strcmp(name, self)) continue;
        if (store_read(g.gl_pathv[i], &ix->t[ix->n], rerr, sizeof rerr)) {
            fprintf(stderr, "harness run: --reuse: skipping %s\n", rerr);
            continue;
        }
        if (!(ix->grid[ix->n] = strdup(name))) {
            table_free(&ix->t[ix->n]);
            globfree(&g);
            reuse_index_free(ix);
            return errf(err, errn, "out of memory");
        }
        ix->n++;
    }
    globfree(&g);
    return 0;
}

void reuse_index_free(ReuseIndex *ix) {
    for (int i = 0; i < ix->n; i++) {
        free(ix->grid[i]);
        table_free(&ix->t[i]);
    }
    free(ix->grid);
    free(ix->t);
    memset(ix, 0, sizeof *ix);
}

int reuse_lookup(const ReuseIndex *ix, const char *results, const char *run_id, HashCache *hc) {
    for (int i = 0; i < ix->n; i++) {
        int r = store_last_row(&ix->t[i], run_id);
        const char *st = r >= 0 ? table_get(&ix->t[i], r, "status") : NULL;
        char why[512], done[1300];
        if (!st || strcmp(st, "ok") || !record_run_done(&ix->t[i], run_id, hc, why, sizeof why)) continue;
        snprintf(done, sizeof done, "%s/%s/runs/%s/DONE", results, ix->grid[i], run_id);
        if (access(done, F_OK) == 0) return i;
    }
    return -1;
}

static int copy_file(const char *from, const char *to, char *err, size_t errn) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return errf(err, errn, "%s: cannot open: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return errf(err, errn, "%s: cannot create: %s", to, strerror(errno));
    }
    char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) { rc = errf(err, errn, "%s: write failed: %s", to, strerror(errno)); break; }
    if (n < 0) rc = errf(err, errn, "%s: read failed: %s", from, strerror(errno));
    close(in);
    if (close(out) && !rc) rc = errf(err, errn, "%s: close failed: %s", to, strerror(errno));
    return rc;
}

/* Copy directory from into to (created), recursively; at the top level, skip lock and DONE. */
static int copy_tree(const char *from, const char *to, int top, char *err, size_t errn) {
    if (mkdir_p(to)) return errf(err, errn, "%s: cannot create: %s", to, strerror(errno));
    DIR *d = opendir(from);
    if (!d) return errf(err, errn, "%s: cannot open: %s", from, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (top && (!strcmp(e->d_name, "lock") || !strcmp(e->d_name, "DONE"))) continue;
        char a[2048], b[2048];
        struct stat st;
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        if (stat(a, &st)) rc = errf(err, errn, "%s: %s", a, strerror(errno));
        else if (S_ISDIR(st.st_mode)) rc = copy_tree(a, b, 0, err, errn);
        else if (S_ISREG(st.st_mode)) rc = copy_file(a, b, err, errn);
    }
    closedir(d);
    return rc;
}

int reuse_copy(const ReuseIndex *ix, int src, const char *results, const char *run_id, const char *grid,
               const char *arm, const char *dst_dir, const char *dst_csv, char *err, size_t errn) {
    char from[1300], a[1400], b[1400];
    snprintf(from, sizeof from, "%s/%s/runs/%s", results, ix->grid[src], run_id);
    snprintf(a, sizeof a, "%s/DONE", from);
    snprintf(b, sizeof b, "%s/DONE", dst_dir);
    if (copy_tree(from, dst_dir, 1, err, errn) || copy_file(a, b, err, errn)) return -1;
    const Table *t = &ix->t[src];
    char **v = store_row_values(t, store_last_row(t, run_id));
    if (!v) return errf(err, errn, "out of memory");
    int gi = store_column_index("grid"), ai = store_column_index("arm"), n = store_columns(NULL), rc = -1;
    char *g = strdup(grid), *r = strdup(arm);
    if (g && r) {
        free(v[gi]);
        free(v[ai]);
        v[gi] = g;
        v[ai] = r;
        g = r = NULL;
        rc = store_append(dst_csv, (const char *const *)v, n, err, errn);
    } else {
        errf(err, errn, "out of memory");
    }
    free(g);
    free(r);
    store_values_free(v);
    return rc;
}
