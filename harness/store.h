/* The results store (ARCHITECTURE.md "Run identity and the results store"):
 * results/<grid>/runs.csv, one row per finished run.
 *
 * Columns: run_id, grid, arm, every config schema key in schema order, then
 * the result columns (status .. trainable_params, see store_columns). The first line
 * is the header. Fields are comma-separated; a field is quoted (RFC 4180,
 * quotes doubled, via libcsv) when it holds a comma, a quote or leading or
 * trailing blanks. Values never span lines: store_append turns CR and LF in
 * values into spaces, so every physical line is one row and a partial line
 * left by a killed writer can never swallow the rows after it.
 *
 * Writers serialise on an exclusive flock of "<csv>.lock" (a separate file,
 * so readers of the CSV never wait), open the CSV only once they hold it, and
 * append each row with one write() on an O_APPEND descriptor, then fsync.
 * Readers skip malformed rows (wrong field count, a last line without its
 * newline) and count them.
 *
 * Older headers
 * -------------
 * The columns grow with the schema; a runs.csv written by an older version
 * stays readable and writable. Its header is an OLDER HEADER when it holds
 * run_id, grid, arm, status and every config key without a neutral value
 * (config.h), each once; it may lack config keys that have one and result
 * columns, and may hold columns the current ones lack (EXTRAS, e.g. a key
 * since removed). Anything else (say, no run_id) is not runs.csv's header.
 * - store_read gives an older file the current layout: the current columns,
 *   then the extras in the file's order; a config key the file lacks reads as
 *   its neutral value (as config_get prints it), a result column as "".
 * - store_append to an older file first migrates it, under the lock: every
 *   row that store_read returns is written, in order and in the current
 *   layout, to "<csv>.migrate.<pid>" beside it, fsynced; the original is
 *   kept as "<csv>.v<N>.bak" (N = 1 for the file's first migration, then
 *   2, ...: a hard link, else a copy) and the new file is renamed over
 *   <csv>; then the row is appended to the new file. Malformed lines, which
 *   readers skip, are not carried over (the .bak keeps them). Concurrent
 *   appenders wait on the lock and then open the migrated file; readers see
 *   the old file or the new one, each complete. A file whose header is the
 *   current columns followed by extras gets rows padded with empty extras.
 *
 * One spelling of config values
 * -----------------------------
 * Rows are written with config values in the spelling of rowfmt.h (keys without effect
 * in the run empty, floats shortest-round-trip), and store_read rewrites every row of a
 * runs.csv (current or older header) to that spelling, so a row written before it
 * (lambda=1 in an NTP run, lr=0.0030000000000000001) reads exactly as the same run
 * written after it (lambda empty, lr=0.003). A migration writes the rows as read.
 *
 * Provenance and failure columns (after trainable_params; empty in older rows):
 * compiler ("gcc 12.2.0"), compiler_flags ("-O3 -march=native ..."), cpu_model
 * (/proc/cpuinfo "model name"), blas (openblas_get_config()), blas_core
 * (openblas_get_corename()), engine_version, command_line (the `harness train` process's
 * argv, shell-quoted), error (why a failed or diverged run did not finish: the run's own
 * message, or for a run killed or crashed the exit status or signal and the last error
 * line of its log.txt; empty for ok runs). See provenance.h and record.h. */
#ifndef HARNESS_STORE_H
#define HARNESS_STORE_H

#include <stddef.h>

/* The column names, in order, into *names (static storage; names may be
 * NULL). Returns the column count. */
int store_columns(const char *const **names);

/* Index of column name in store_columns, or -1. */
int store_column_index(const char *name);

/* Append one row of n values (in store_columns order; NULL counts as "") to
 * the CSV at csv_path. n must equal store_columns(). Creates the parent
 * directories and the file with its header when missing (a file holding no
 * complete line, left by a writer killed while creating it, is started
 * again). Under an exclusive flock of "<csv_path>.lock": checks the existing
 * header, migrates an older header (see "Older headers"), writes a '\n'
 * first when the file does not end in one (a killed writer's partial line),
 * writes the row with one write(), fsyncs. Returns 0, or -1 with a message
 * in err (size errn): wrong n, a header that is neither the current nor an
 * older one (it names the missing column; nothing is appended), or a system
 * error (mkdir, open, flock, write, fsync, rename). */
int store_append(const char *csv_path, const char *const *values, int n, char *err, size_t errn);

typedef struct {
    int ncols;
    char **cols;   /* header names */
    int nrows;
    char ***rows;  /* rows[r][c], ncols strings each */
    int skipped;   /* malformed rows skipped: wrong field count, or a last
                      line without its newline */
    int filled;    /* current columns an older file lacked, filled (see "Older headers") */
} Table;

/* Read the CSV at csv_path into t (which need not be initialised). The
 * first complete line is the header; an older header of runs.csv gets the
 * current layout (see "Older headers"; t->filled counts the columns filled),
 * any other header is kept as it is. The rows of a runs.csv get the one spelling
 * of config values (see "One spelling of config values"); other files are read
 * as they are. Blank lines are ignored. Rows whose
 * field count differs from the header, and a last line with no trailing
 * newline, are skipped and counted in t->skipped, never an error. A missing
 * file gives an empty table (ncols = nrows = 0) and returns 0. Returns -1
 * with a message in err when the file exists but cannot be read, or out of
 * memory; t is then empty. Free with table_free. */
int store_read(const char *csv_path, Table *t, char *err, size_t errn);

/* Index of column col in t, or -1. */
int table_col(const Table *t, const char *col);

/* The value of column col in row row, or NULL if there is no such column
 * (or row is out of range). */
const char *table_get(const Table *t, int row, const char *col);

/* Free everything in t and zero it. Safe on a zeroed Table and twice. */
void table_free(Table *t);

/* Index of the LAST row of t whose run_id is run_id (a run's state), or -1. */
int store_last_row(const Table *t, const char *run_id);

/* The values of row `row` of t in store_columns order (a column t lacks is ""), as n =
 * store_columns() strings the caller frees with store_values_free, ready for store_append
 * after the caller changes some (probe columns, grid and arm). NULL when out of memory or
 * row is out of range. */
char **store_row_values(const Table *t, int row);
void store_values_free(char **v);

/* The status of the LAST row of t whose run_id is run_id, copied into
 * status (size n). Returns 1 when found, 0 when not (status is then ""). */
int store_status_of(const Table *t, const char *run_id, char *status, size_t n);

#endif
