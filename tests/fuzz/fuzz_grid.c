/* libFuzzer target: the grid parser (harness/grid.c grid_parse_text) on any text. Every input
 * must parse or be refused with a "FILE:LINE: " message; never crash, leak or hang. */
#include "fuzz_common.h"

#include "grid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0; /* the text ends at the first NUL, as grid_parse_file refuses NULs */
    Grid g;
    char err[1024] = "";
    int rc = grid_parse_text(text, "fuzz.grid", NULL, &g, err, sizeof err);
    if (rc == 0) {
        FUZZ_CHECK(g.nruns >= 1 && g.nruns <= GRID_MAX_RUNS && strlen(g.runs[g.nruns - 1].run_id) == 16);
        grid_free(&g);
    } else {
        FUZZ_CHECK(strncmp(err, "fuzz.grid:", 10) == 0); /* every error names the file and line */
    }
    free(text);
    return 0;
}
