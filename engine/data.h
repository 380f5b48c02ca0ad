/* Chat data sets in jsonl: one {"messages": [{"role": "system", "content": S},
 * {"role": "user", "content": U}, {"role": "assistant", "content": A}]} per
 * line (the format of the paper's public data). */
#ifndef ENGINE_DATA_H
#define ENGINE_DATA_H

#include <stddef.h>

typedef struct Example {
    char *system, *user, *assistant; /* owned, NUL-terminated UTF-8 */
    int line;                        /* 1-based line of the jsonl file (0 = not from a file) */
} Example;

typedef struct Dataset {
    Example *ex;
    int n;
    char path[512];                  /* the file it was read from */
} Dataset;

/* Read the first `limit` examples of a jsonl file (limit 0 = all).
 * Errors (-1, message in err): unreadable file; a line that is not JSON, has
 * no "messages" array, or lacks a user or assistant message — the message
 * names the file and line. A missing system message is an empty string. */
int dataset_load(const char *path, int limit, Dataset *d, char *err, size_t errn);
void dataset_free(Dataset *d);

/* Path of the jsonl file of split "train" or "test" of data set `name` (config key
 * `dataset`): data/<file>.jsonl, where <file> comes from the data set table below
 * (nlrx_base has no test split of its own and is evaluated on NL-RX-TURK's) and is
 * <name>_<split> for a name not in it. The folder is $HARNESS_DATA if set, else ./data if
 * it exists, else <source dir>/data. */
void dataset_path(const char *name, const char *split, char *out, size_t outn);

#endif
