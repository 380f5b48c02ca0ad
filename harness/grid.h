/* Grid files (ARCHITECTURE.md "Grid files"): parse a .grid into its list of
 * runs, each a full resolved Config.
 *
 * Format
 * ------
 *   # Figure 3: k × λ sweep on NL-RX-SYNTH      <- whole-line comment
 *   dataset = synth                               <- key = value
 *   epochs  = 4          # trailing comment       <- '#' to end of line is a comment
 *   seeds   = 82, 23, 37, 84, 4                   <- the seeds every cell runs with
 *
 *   [baseline]                                    <- an arm (section)
 *   loss = ntp
 *
 *   [jepa]
 *   loss   = jepa
 *   k      = 0, 1, 2, 3, 4                        <- a list is an axis
 *   lambda = 0.5, 1, 2, 4
 *
 * - One `key = value` per line; blanks around key, '=', value and list items
 *   are ignored; blank lines are ignored; CRLF line ends and a UTF-8 byte
 *   order mark are accepted.
 * - Keys are the config schema keys (config.h; `harness train --help`), plus
 *   `seeds`. Every value is checked with config_set when its line is read.
 * - `[name]` starts an arm. Names are 1..63 characters of letters, digits,
 *   '_', '-', '.'. Keys before the first section apply to every arm; an arm
 *   may set the same key again, which overrides the top value (list or not)
 *   for that arm. A grid without sections is one arm named "main". An arm
 *   with no keys is fine (it runs the top keys alone). The arm named
 *   "baseline" is not special here; the report compares the others to it.
 * - A value `a, b, c` is an axis. An item in double quotes is taken as it is,
 *   commas and blanks included, and may be empty: `lora_targets = "q,v",
 *   "q,k,v,o,gate,up,down"` is an axis of two values, `init = "", "/ckpt"`
 *   one of two (from scratch, and from /ckpt). A quoted item runs to the next
 *   '"' (it cannot hold one); '#' inside quotes does not start a comment.
 *   Each arm expands to the Cartesian product
 *   of its axes: the axis whose key first appears in the file (top section
 *   first, then the arm) varies slowest. Each combination is a cell; cells
 *   are numbered across the whole grid in arm order.
 * - `seeds = 82, 23, 37, 84, 4` (top section or arm; the arm's wins) runs
 *   every cell once per seed, in the order given. Without `seeds`, each cell
 *   runs once with the schema's default seed. The config key `seed` itself is
 *   not accepted in a grid (use `seeds`).
 * - Runs are listed cell-major, seeds inner. Each run's run_id is
 *   config_run_id of its resolved config; an `init` checkpoint directory is
 *   hashed once per grid (Grid.hashes) however many runs start from it.
 *
 * Cost: parsing is linear in the text (duplicate values, seeds and arms are
 * found through hash sets), plus one config_set and run_id per run of the
 * expansion; lists, arms and runs are capped at GRID_MAX_RUNS.
 *
 * Errors
 * ------
 * Every message starts "FILE:LINE: " (LINE is 0 when the error is about the
 * file as a whole) and says what was expected:
 *   - the grid name (the file name without ".grid", or the name given) is
 *     not one grid_name_ok accepts: "bad grid name"            (LINE 0)
 *   - the file cannot be opened or read                        (LINE 0)
 *   - the file is empty or holds only comments: "empty grid"   (LINE 0)
 *   - the grid has no runs: "no runs"                          (LINE 0)
 *   - a line with no '=': "expected 'key = value'"
 *   - '=' with nothing before it: "empty key"
 *   - '=' with nothing after it: "empty value"
 *   - an empty list item (`a,,b`, `a, b,`, `,a`): "empty item"
 *   - a '"' without its closing '"' on the line: "unterminated quote"
 *   - text between a closing '"' and the next ',': "after the closing quote"
 *   - an unknown key, a value of the wrong type, out of range or not one of
 *     the choices: config_set's message ("unknown key", "expected an
 *     integer", "out of range", "is not one of")
 *   - a list of more than GRID_MAX_RUNS values: "values: a grid expands to
 *     at most"
 *   - the same value twice in one list: "appears twice" (values compare as
 *     the config prints them: "0.5" and ".5" are the same value)
 *   - `seed = ...`: "use 'seeds"
 *   - a seed that is not a non-negative 64-bit integer: "bad seed"
 *   - the same seed twice: "duplicate seed"
 *   - `[arm` without ']': "unterminated section"
 *   - `[]`: "empty arm name"; a name with other characters or too long:
 *     "bad arm name"; text after ']': "unexpected text after ']'"
 *   - a second `[name]` with the same name: "duplicate arm"
 *   - more than GRID_MAX_RUNS arms: "too many arms"
 *   - a key set twice in the same section (or twice before the first
 *     section): "set twice"
 *   - a resolved cell that config_validate rejects: its message, at the
 *     arm's `[name]` line (the first key's line for "main")
 *   - two runs with the same run_id (cells that differ only in keys outside
 *     the run identity, e.g. `threads = 1, 2`, or two arms with the same
 *     config): "same run_id", at the later arm's line
 *   - more than GRID_MAX_RUNS runs: "too many runs"
 *   - an `init` directory that is missing, unreadable or holds no
 *     .json/.safetensors file (it cannot be hashed, hash.h): "init: " and
 *     why, at the line that set init
 */
#ifndef HARNESS_GRID_H
#define HARNESS_GRID_H

#include <stddef.h>

#include "config.h"
#include "hash.h"

#define GRID_MAX_RUNS 100000

typedef struct {
    char arm[64];
    int cell;        /* index across the grid, 0-based */
    Config cfg;      /* fully resolved, seed included */
    char run_id[17]; /* config_run_id_cached(&cfg, &grid->hashes) */
} GridRun;

typedef struct {
    char name[128];  /* file basename without .grid */
    char path[512];  /* the file name given to the parser */
    int nruns, ncells;
    GridRun *runs;   /* cell-major, seeds inner; nruns entries */
    HashCache hashes; /* content hashes of init directories (and data files, cmd_run) by path */
} Grid;

/* Whether name can name a grid: its results go to results/NAME/, so NAME
 * is 1 to 127 letters, digits, '_', '-' or '.', does not start with '.' and
 * does not contain "..": it never leaves the results directory nor hides in
 * it (".", "..", "a/b", ".x", "a..b", control characters and non-ASCII
 * bytes are refused). */
int grid_name_ok(const char *name);

/* Parse the grid file at path into g (which need not be initialised).
 * g->name is the basename of path without a trailing ".grid"; it must pass
 * grid_name_ok ("...grid" would name "..": refused).
 * Returns 0, or -1 with "FILE:LINE: message" in err (size errn) and g zeroed.
 * On success free g with grid_free. */
int grid_parse_file(const char *path, Grid *g, char *err, size_t errn);

/* Parse grid text. filename is used in error messages and stored in
 * g->path; name is stored in g->name (NULL: derived from filename as
 * grid_parse_file does); either way it must pass grid_name_ok. Returns 0, or -1 with "FILE:LINE: message" in err
 * and g zeroed. */
int grid_parse_text(const char *text, const char *filename, const char *name, Grid *g, char *err,
                    size_t errn);

/* Free the runs of g and zero it. Safe on a zeroed Grid and twice. */
void grid_free(Grid *g);

#endif
