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

/* Read the first `limit` examples of a jsonl file (limit 0 = all). Blank
 * lines are skipped; CRLF line ends are accepted.
 * Errors (-1, message in err; d is then empty): a file that cannot be opened
 * ("cannot open: " and why; for a data file under one of the folders that
 * dataset_path searches, also every place it looked); a line that is not one
 * JSON object (trailing text after it, a NUL byte), has no "messages" array,
 * a message without string "role" and "content", or no user or assistant
 * message — the message names the file and line. A missing system message is
 * an empty string. */
int dataset_load(const char *path, int limit, Dataset *d, char *err, size_t errn);
void dataset_free(Dataset *d);

/* Path of the jsonl file of split "train" or "test" of data set `name` (config key
 * `dataset`): <folder>/<file>.jsonl, where <file> comes from the data set table in
 * data.c (synth_train, synth_test, turk_train, turk_test, nlrx_base_train; nlrx_base
 * has no test split of its own and is evaluated on turk_test) and is <name>_<split>
 * for a name not in it.
 *
 * Search order: the first of these folders that holds the file:
 *   1. $HARNESS_DATA, when set and not empty;
 *   2. ./data (relative to the current directory);
 *   3. <source dir>/data (the repository the binary was built from).
 * When none holds it, the path in the first folder (dataset_load's error then
 * lists every place looked). The path found is what a run reads and hashes
 * (runs.csv train_sha256 / test_sha256), so a run records the file it used. */
void dataset_path(const char *name, const char *split, char *out, size_t outn);

#endif
