/* One CSV line as its fields, through libcsv (csvline.h). */
#include "csvline.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

static void on_field(void *s, size_t len, void *data) {
    Fields *fs = data;
    if (fs->oom) return;
    if (fs->n == fs->cap) {
        int nc = fs->cap ? fs->cap * 2 : 64;
        char **nf = realloc(fs->f, (size_t)nc * sizeof *nf);
        if (!nf) {
            fs->oom = 1;
            return;
        }
        fs->f = nf;
        fs->cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c) {
        fs->oom = 1;
        return;
    }
    if (len) memcpy(c, s, len);
    c[len] = 0;
    fs->f[fs->n++] = c;
}

static void on_record(int c, void *data) {
    (void)c;
    ((Fields *)data)->records++;
}

void fields_free(Fields *fs) {
    for (int i = 0; i < fs->n; i++) free(fs->f[i]);
    free(fs->f);
    memset(fs, 0, sizeof *fs);
}

static int no_space(unsigned char c) {
    (void)c;
    return 0;
}

static int no_term(unsigned char c) {
    (void)c;
    return 0;
}

int parse_line(const char *line, size_t len, Fields *fs) {
    memset(fs, 0, sizeof *fs);
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) return -1;
    csv_set_space_func(&p, no_space);
    csv_set_term_func(&p, no_term);
    int rc = 0;
    if (csv_parse(&p, line, len, on_field, on_record, fs) != len) rc = -1;
    if (csv_fini(&p, on_field, on_record, fs) != 0) rc = -1;
    csv_free(&p);
    if (fs->oom || fs->records != 1) rc = -1;
    return rc;
}
