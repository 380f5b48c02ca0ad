/* libFuzzer target: the jsonl data reader (engine/data.c dataset_load) on any file content.
 * Every file must load or be refused with a "PATH:LINE: " or "PATH: " message. */
#include "fuzz_common.h"

#include "data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[600];
    fuzz_write("data.jsonl", data, size, path, sizeof path);
    Dataset d;
    char err[1024] = "";
    int limit = size ? data[0] % 4 : 0; /* 0 = all, else the first 1..3 examples */
    if (dataset_load(path, limit, &d, err, sizeof err) == 0) {
        FUZZ_CHECK(d.n >= 1 && (!limit || d.n <= limit));
        for (int i = 0; i < d.n; i++)
            FUZZ_CHECK(d.ex[i].user && d.ex[i].assistant && d.ex[i].system && d.ex[i].line >= 1);
        dataset_free(&d);
    } else {
        FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0); /* every error names the file */
    }
    return 0;
}
