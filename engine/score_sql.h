/* Spider execution accuracy (ALGORITHM.md §7): the generated and the gold
 * SQL query run in SQLite (libsqlite3) against the example's database, and
 * the generated one is correct when its result rows equal the gold's.
 *
 * Databases are laid out as in the Spider release's database/ folder, which
 * the official evaluation script reads as os.path.join(db_dir, db_id,
 * db_id + ".sqlite"): <db_dir>/<db_id>/<db_id>.sqlite.
 *
 * Where this departs from the paper's reference (which ran the sqlite3
 * program on both queries and compared the printed text): a failing
 * generated query is wrong, even when the gold fails too (the reference
 * counted two failures as equal); a missing database is an error (the
 * reference counted it as correct); only one read-only query is run;
 * every query runs under limits. */
#ifndef ENGINE_SCORE_SQL_H
#define ENGINE_SCORE_SQL_H

#include <stddef.h>

/* Per-query limits; a field <= 0 turns that limit off. */
typedef struct SqlLimits {
    long long max_steps; /* SQLite virtual machine instructions, counted in blocks of 1000 by
                          * sqlite3_progress_handler: deterministic, the limit that should bind */
    double timeout_s;    /* wall-clock seconds from the start of the query: a backstop, machine dependent */
    long long max_rows;  /* result rows */
    long long max_bytes; /* result size: text and blob bytes plus 16 per value */
} SqlLimits;

/* The defaults: 100,000,000 steps (2.3 s of an endless recursive CTE on
 * the development machine under load, 43 million steps/s), 5 s, 100,000
 * rows, 64 MiB. */
SqlLimits sql_limits_default(void);

/* The verdict on a generated query. */
typedef enum SqlVerdict {
    SQL_MATCH = 0,   /* equal results: correct */
    SQL_GEN_ERROR,   /* generated query empty, several statements, or failed to prepare or run */
    SQL_GEN_REFUSED, /* generated query is not a read-only query (refused before it runs) */
    SQL_GEN_LIMIT,   /* generated query hit a limit of SqlLimits */
    SQL_COLUMNS,     /* column counts differ */
    SQL_ROWS         /* rows differ */
} SqlVerdict;

/* Execution match of one Spider example. Opens <db_dir>/<db_id>/<db_id>.sqlite
 * read-only (SQLITE_OPEN_READONLY, an authorizer that allows only reading:
 * SELECT, reads of tables and columns, functions, recursive CTEs; no
 * ATTACH), runs the gold query, then the generated one, each limited by lim
 * (NULL: sql_limits_default()), and compares:
 * - each text must hold exactly one statement (a trailing ';' and comments
 *   are fine), which sqlite3_stmt_readonly says is read-only, is not an
 *   EXPLAIN and has result columns;
 * - column counts must be equal; column names are ignored (aliases do not
 *   matter), column order matters;
 * - rows are compared as multisets (duplicates count: {1,1,2} is not
 *   {1,2,2}), or as ordered lists when the gold has ORDER BY at its top
 *   level (sql_has_top_order_by); rows tied under the gold's ORDER BY must
 *   then come in the same order too;
 * - values are equal as Python's == on sqlite3 values, the comparison of
 *   the official Spider evaluation: NULL equals NULL; INTEGER and REAL
 *   compare by numeric value (1 equals 1.0, compared exactly, never through
 *   a rounding); TEXT and BLOB bytewise (case-sensitive, no trimming);
 *   a number never equals a text ('1' is not 1), a text never a blob.
 * SQLite's default reading of "..." as a string literal where no column of
 * that name exists is kept: 326 of the 1447 gold queries of spider_test
 * write strings so. Of those gold queries, 336 contain "order by", 326 at
 * the top level (compared in order), 10 only in a subquery (as multisets).
 * Returns 0 with *out set (SQL_MATCH: correct; any other: wrong) and, when
 * wrong, a reason "<kind>: <detail>" in why (size whyn; "" when correct),
 * kind one of error, refused, limit, columns, rows (e.g. "limit: more than
 * 100000 rows", "rows: 3, gold 2", "refused: not authorized"). Returns -1
 * with a message in err (size errn): db_id is not [A-Za-z0-9_]+; the
 * database file does not exist (the message names the path) or cannot be
 * opened; the gold query is empty, not one read-only statement, fails, or
 * hits a limit (a data error, or limits too tight); out of memory. */
int spider_exec_match(const char *db_dir, const char *db_id, const char *generated_sql, const char *gold_sql,
                      const SqlLimits *lim, SqlVerdict *out, char *why, size_t whyn, char *err, size_t errn);

/* Whether sql has ORDER BY at its top level: outside parentheses (so not in
 * a subquery, a CTE body or a window), string literals ('...'), quoted
 * identifiers ("...", `...`, [...]) and comments (-- and slash-star); the
 * keywords case-insensitive and separated by white space or comments.
 * Returns 1 or 0. */
int sql_has_top_order_by(const char *sql);

/* The database id of a Spider user text "For db_id:[<id>]\n\n<question>"
 * (the first "For db_id:[" anywhere, as the reference's regex search):
 * <id> must be [A-Za-z0-9_]+ followed by ']', so it can never form a path
 * with '/' or "..". Copies it into out (size outn). Returns 0, or -1 with
 * out = "" (when outn > 0) and a message in err (size errn): no
 * "For db_id:[", an empty id or another character in it, no closing ']',
 * or an id of outn bytes or more. */
int spider_db_id(const char *user, char *out, size_t outn, char *err, size_t errn);

#endif
