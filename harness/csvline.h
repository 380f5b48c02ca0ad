/* One physical line of a CSV file (RFC 4180, through libcsv) as its fields:
 * what runs.csv (store.c) and curve.csv (harness plot) are read with. */
#ifndef HARNESS_CSVLINE_H
#define HARNESS_CSVLINE_H

#include <stddef.h>

/* The fields of one line: f[0..n), each malloc'd and NUL-terminated. */
typedef struct Fields {
    char **f;
    int n, cap;
    int records; /* records libcsv saw (1 for a well-formed line) */
    int oom;     /* out of memory while parsing */
} Fields;

/* Parse line[0..len) (no '\n') into fs, which need not be initialised.
 * Strict: blanks around a field are part of it, and CR or LF inside the
 * line are data. Returns 0 when it is exactly one well-formed record, -1
 * otherwise (bad quoting, out of memory, no record); fs then holds what was
 * parsed and must still be freed with fields_free. */
int parse_line(const char *line, size_t len, Fields *fs);

/* Free fs's fields and zero it. Safe on a zeroed Fields. */
void fields_free(Fields *fs);

#endif
