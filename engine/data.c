/* jsonl chat data sets, parsed with cJSON. */
#include "data.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static int parse_line(const char *line, Example *e, char *why, size_t whyn) {
    cJSON *root = cJSON_Parse(line);
    if (!root) {
        snprintf(why, whyn, "not valid JSON");
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
    return 0;
}

int dataset_load(const char *path, int limit, Dataset *d, char *err, size_t errn) {
    d->ex = NULL;
    d->n = 0;
    snprintf(d->path, sizeof d->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errn, "%s: cannot open", path);
        return -1;
    }
    int cap = 0, lineno = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    while ((len = getline(&line, &linecap, f)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (limit > 0 && d->n >= limit) break;
        if (d->n == cap) {
            cap = cap ? cap * 2 : 1024;
            d->ex = realloc(d->ex, (size_t)cap * sizeof *d->ex);
        }
        char why[160];
        if (parse_line(line, &d->ex[d->n], why, sizeof why) != 0) {
            snprintf(err, errn, "%s:%d: %s", path, lineno, why);
            free(line);
            fclose(f);
            dataset_free(d);
            return -1;
        }
        d->ex[d->n].line = lineno;
        d->n++;
    }
    free(line);
    fclose(f);
    if (d->n == 0) {
        snprintf(err, errn, "%s: no examples", path);
        return -1;
    }
    return 0;
}

/* The data sets (config key `dataset`) and the files of their splits (data/README.md). */
static const struct { const char *name, *train, *test; } datasets[] = {
    {"synth", "synth_train", "synth_test"},
    {"turk", "turk_train", "turk_test"},
    /* the base corpus (ALGORITHM.md §10): TURK train without any test-split answer */
    {"nlrx_base", "nlrx_base_train", "turk_test"},
};

void dataset_path(const char *name, const char *split, char *out, size_t outn) {
    char file[256];
    snprintf(file, sizeof file, "%s_%s", name, split);
    for (size_t i = 0; i < sizeof datasets / sizeof *datasets; i++)
        if (!strcmp(name, datasets[i].name)) snprintf(file, sizeof file, "%s", strcmp(split, "train") ? datasets[i].test : datasets[i].train);
    const char *env = getenv("HARNESS_DATA");
    struct stat st;
    const char *dir = env && *env ? env : (stat("data", &st) == 0 && S_ISDIR(st.st_mode)) ? "data" : SOURCE_DIR "/data";
    snprintf(out, outn, "%s/%s.jsonl", dir, file);
}
