/* List a run directory's files with sizes. See runfiles.h. */
#define _GNU_SOURCE
#include "runfiles.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct FileList {
    char **path;
    long long *size;
    int n, cap, oom;
} FileList;

static void add_file(FileList *l, const char *rel, long long size) {
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 32;
        char **np = realloc(l->path, (size_t)nc * sizeof *np);
        if (np) l->path = np;
        long long *ns = np ? realloc(l->size, (size_t)nc * sizeof *ns) : NULL;
        if (ns) l->size = ns;
        if (!np || !ns) {
            l->oom = 1;
            return;
        }
        l->cap = nc;
    }
    if (!(l->path[l->n] = strdup(rel))) {
        l->oom = 1;
        return;
    }
    l->size[l->n++] = size;
}

/* Collect the regular files under root/rel (rel "" for root itself). */
static int walk(FileList *l, const char *root, const char *rel, int depth) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) && !l->oom) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4096], full[8192];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (lstat(full, &st)) continue;
        if (S_ISDIR(st.st_mode) && depth < 8) walk(l, root, sub, depth + 1);
        else if (S_ISREG(st.st_mode)) add_file(l, sub, (long long)st.st_size);
    }
    closedir(d);
    return 0;
}

/* size in bytes, and in KiB/MiB/GiB from 1 KiB, into out. */
static void human(long long size, char *out, size_t n) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double x = (double)size;
    int u = -1;
    while (x >= 1024 && u < 3) {
        x /= 1024;
        u++;
    }
    if (u < 0) snprintf(out, n, "%lld B", size);
    else snprintf(out, n, "%lld B (%.1f %s)", size, x, units[u]);
}

int runfiles_print(FILE *out, const char *dir) {
    FileList l = {0};
    if (walk(&l, dir, "", 0)) {
        fprintf(out, "  (no run directory: %s: %s)\n", dir, strerror(errno));
        return -1;
    }
    /* insertion sort by path: run directories hold tens of files */
    for (int i = 1; i < l.n; i++)
        for (int j = i; j > 0 && strcmp(l.path[j - 1], l.path[j]) > 0; j--) {
            char *p = l.path[j];
            long long s = l.size[j];
            l.path[j] = l.path[j - 1];
            l.size[j] = l.size[j - 1];
            l.path[j - 1] = p;
            l.size[j - 1] = s;
        }
    long long total = 0;
    char h[64];
    for (int i = 0; i < l.n; i++) {
        human(l.size[i], h, sizeof h);
        fprintf(out, "  %22s  %s\n", h, l.path[i]);
        total += l.size[i];
        free(l.path[i]);
    }
    human(total, h, sizeof h);
    fprintf(out, "  %d file%s, %s%s\n", l.n, l.n == 1 ? "" : "s", h, l.oom ? " (out of memory: list incomplete)" : "");
    free(l.path);
    free(l.size);
    return l.n;
}
