/* libFuzzer target: the results store reader (harness/store.c store_read) on any runs.csv
 * content: it reads into a table (skipping malformed rows) or refuses with a message. */
#include "fuzz_common.h"

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[600];
    fuzz_write("runs.csv", data, size, path, sizeof path);
    Table t;
    char err[1024] = "";
    if (store_read(path, &t, err, sizeof err) == 0) {
        for (int r = 0; r < t.nrows; r++)
            for (int c = 0; c < t.ncols; c++)
                FUZZ_CHECK(t.rows[r][c] != NULL);
        if (t.nrows > 0) {
            char st[64];
            const char *id = table_get(&t, 0, "run_id");
            if (id) store_status_of(&t, id, st, sizeof st);
            char **v = store_row_values(&t, 0);
            store_values_free(v);
        }
        table_free(&t);
    } else {
        FUZZ_CHECK(err[0] != 0); /* a refusal says why */
    }
    return 0;
}
