/* jsonl chat data sets, parsed with cJSON. */
#include "data.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errmsg.h"

#ifndef SOURCE_DIR
#define SOURCE_DIR "."
#endif

static char *dupstr(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

void dataset_free(Dataset *d) {
    for (int i = 0; i < d->n; i++) {
        free(d->ex[i].system);
        free(d->ex[i].user);
        free(d->ex[i].assistant);
    }
    free(d->ex);
    d->ex = NULL;
    d->n = 0;
}

static int parse_line(const char *line, size_t len, Example *e, char *why, size_t whyn) {
    if (memchr(line, 0, len)) {
        snprintf(why, whyn, "a NUL byte in the line (expected one JSON object of UTF-8 text)");
        return -1;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(line, len + 1, &end, 1); /* nothing but blanks after the object */
    if (!root) {
        long at = end && end >= line && end <= line + len ? (long)(end - line) + 1 : 0;
        snprintf(why, whyn, "not valid JSON (near column %ld)", at);
        return -1;
    }
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(msgs)) {
        snprintf(why, whyn, "expected an object with a \"messages\" array");
        cJSON_Delete(root);
        return -1;
    }
    const char *s = "", *u = NULL, *a = NULL;
    cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content)) {
            snprintf(why, whyn, "each message needs string \"role\" and \"content\"");
            cJSON_Delete(root);
            return -1;
        }
        if (!strcmp(role->valuestring, "system")) s = content->valuestring;
        else if (!strcmp(role->valuestring, "user") && !u) u = content->valuestring;
        else if (!strcmp(role->valuestring, "assistant") && !a) a = content->valuestring;
    }
    if (!u || !a) {
        snprintf(why, whyn, "expected a \"user\" and an \"assistant\" message");
        cJSON_Delete(root);
        return -1;
    }
    e->system = dupstr(s);
    e->user = dupstr(u);
    e->assistant = dupstr(a);
    cJSON_Delete(root);
    if (!e->system || !e->user || !e->assistant) {
        free(e->system), free(e->user), free(e->assistant);
        snprintf(why, whyn, "out of memory");
        return -1;
    }
    return 0;
}

static void looked_in(const char *path, char *out, size_t outn);

int dataset_load(const char *path, int limit, Dataset *d, char *err, size_t errn) {
    d->ex = NULL;
    d->n = 0;
    snprintf(d->path, sizeof d->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        char where[2048];
        looked_in(path, where, sizeof where);
        snprintf(err, errn, "%s: cannot open: %s%s", path, strerror(e), where);
        return -1;
    }
    int cap = 0, lineno = 0, rc = 0;
    char *line = NULL, why[160];
    size_t linecap = 0;
    ssize_t len;
    while ((len = getline(&line, &linecap, f)) != -1) {
        if (lineno == INT_MAX || d->n == INT_MAX / 2) {
            rc = errf(err, errn, "%s: more than %d lines", path, INT_MAX / 2);
            break;
        }
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (limit > 0 && d->n >= limit) break;
        if (d->n == cap) {
            int nc = cap ? (cap > INT_MAX / 4 ? INT_MAX / 2 : cap * 2) : 1024;
            Example *ne = realloc(d->ex, (size_t)nc * sizeof *ne);
            if (!ne) {
                rc = errf(err, errn, "%s:%d: out of memory", path, lineno);
                break;
            }
            d->ex = ne;
            cap = nc;
        }
        if (parse_line(line, (size_t)len, &d->ex[d->n], why, sizeof why) != 0) {
            rc = errf(err, errn, "%s:%d: %s", path, lineno, why);
            break;
        }
        d->ex[d->n].line = lineno;
        d->n++;
    }
    if (!rc && ferror(f)) rc = errf(err, errn, "%s: read error after line %d", path, lineno);
    free(line);
    fclose(f);
    if (!rc && d->n == 0) rc = errf(err, errn, "%s: no examples", path);
    if (rc) dataset_free(d);
    return rc;
}

/* The data sets (config key `dataset`) and the files of their splits (data/README.md). */
static const struct { const char *name, *train, *test; } datasets[] = {
    {"synth", "synth_train", "synth_test"},
    {"turk", "turk_train", "turk_test"},
    /* the base corpus (ALGORITHM.md §10): TURK train without any test-split answer */
    {"nlrx_base", "nlrx_base_train", "turk_test"},
};

/* The folders searched for data files, in order, into dirs (at most 3);
 * their count. */
static int search_dirs(const char *dirs[3]) {
    const char *env = getenv("HARNESS_DATA");
    int n = 0;
    if (env && *env) dirs[n++] = env;
    dirs[n++] = "data";
    dirs[n++] = SOURCE_DIR "/data";
    return n;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void dataset_path(const char *name, const char *split, char *out, size_t outn) {
    char file[256];
    snprintf(file, sizeof file, "%s_%s", name, split);
    for (size_t i = 0; i < sizeof datasets / sizeof *datasets; i++)
        if (!strcmp(name, datasets[i].name)) snprintf(file, sizeof file, "%s", strcmp(split, "train") ? datasets[i].test : datasets[i].train);
    const char *dirs[3];
    int n = search_dirs(dirs);
    for (int i = 0; i < n; i++) {
        snprintf(out, outn, "%s/%s.jsonl", dirs[i], file);
        if (is_file(out)) return;
    }
    snprintf(out, outn, "%s/%s.jsonl", dirs[0], file); /* none: the first place, which dataset_load reports */
}

/* When path is a data file in one of the search folders (as dataset_path
 * gives it), "; looked for FILE in: A (HARNESS_DATA), ./data, SRC/data"
 * into out, else "". */
static void looked_in(const char *path, char *out, size_t outn) {
    out[0] = 0;
    const char *slash = strrchr(path, '/');
    if (!slash) return;
    const char *dirs[3];
    int n = search_dirs(dirs), hit = 0;
    for (int i = 0; i < n; i++)
        hit |= strlen(dirs[i]) == (size_t)(slash - path) && !strncmp(dirs[i], path, (size_t)(slash - path));
    if (!hit) return;
    size_t k = (size_t)snprintf(out, outn, "; looked for %s in:", slash + 1);
    for (int i = 0; i < n && k < outn; i++)
        k += (size_t)snprintf(out + k, outn - k, "%s %s%s", i ? "," : "", dirs[i],
                              i == 0 && n == 3 ? " ($HARNESS_DATA)" : "");
    if (k < outn && n < 3) snprintf(out + k, outn - k, " (HARNESS_DATA is not set)");
}
