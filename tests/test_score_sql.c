/* Spider execution accuracy (score_sql.h) on a small database built here
 * under a temporary directory as <dir>/shop/shop.sqlite: equal queries
 * written differently, ORDER BY, multisets, value equality, failing,
 * writing and runaway queries, a missing database, db ids. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, getline, st_mtim */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "score_sql.h"

static char g_dir[64], g_db[128];
static char err[512], why[256];

static void exec_sql(sqlite3 *db, const char *sql) {
    char *e = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &e), SQLITE_OK, "%s: %s", sql, e ? e : "");
}

static void setup(void) {
    strcpy(g_dir, "/tmp/test_score_sql_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    char sub[96];
    snprintf(sub, sizeof sub, "%s/shop", g_dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(g_db, sizeof g_db, "%s/shop.sqlite", sub);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(g_db, &db), SQLITE_OK);
    exec_sql(db, "CREATE TABLE cat(id INTEGER PRIMARY KEY, name TEXT);"
                 "INSERT INTO cat VALUES (1,'fruit'),(2,'veg'),(3,'empty');"
                 "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, price REAL, cat_id INTEGER);"
                 "INSERT INTO item VALUES (1,'apple',1.5,1),(2,'pear',2.0,1),(3,'leek',0.5,2),"
                 "(4,'kiwi',3.25,1),(5,'kale',2.5,2),(6,'mystery',NULL,NULL);"
                 "CREATE TABLE a(v INTEGER); INSERT INTO a VALUES (1),(1),(2);"
                 "CREATE TABLE b(v INTEGER); INSERT INTO b VALUES (1),(2),(2);");
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

static void teardown(void) {
    char sub[96], p[160];
    const char *extra[] = {"-journal", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", g_db, extra[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/new.sqlite", g_dir);
    unlink(p);
    snprintf(sub, sizeof sub, "%s/shop", g_dir);
    unlink(g_db);
    rmdir(sub);
    rmdir(g_dir);
}

TestSuite(spider, .init = setup, .fini = teardown);

/* spider_exec_match on shop with limits lim; asserts it returns 0. */
static SqlVerdict match_lim(const char *gen, const char *gold, const SqlLimits *lim) {
    SqlVerdict v;
    err[0] = why[0] = 0;
    int rc = spider_exec_match(g_dir, "shop", gen, gold, lim, &v, why, sizeof why, err, sizeof err);
    cr_assert_eq(rc, 0, "gen=%s gold=%s: %s", gen, gold, err);
    cr_assert_eq(v == SQL_MATCH, why[0] == 0, "reason iff wrong: %s", why);
    return v;
}

static SqlVerdict match(const char *gen, const char *gold) { return match_lim(gen, gold, NULL); }

static void expect(const char *gen, const char *gold, SqlVerdict want, const char *why_prefix) {
    SqlVerdict v = match(gen, gold);
    cr_expect_eq(v, want, "gen=%s gold=%s: verdict %d, want %d (%s)", gen, gold, v, want, why);
    if (why_prefix) cr_expect_eq(strncmp(why, why_prefix, strlen(why_prefix)), 0, "reason '%s'", why);
}

Test(spider, equal_queries_written_differently) {
    expect("SELECT name AS n FROM item WHERE price > 2", "SELECT name FROM item WHERE price > 2", SQL_MATCH, NULL);
    expect("SELECT i.name FROM item AS i JOIN cat AS c ON i.cat_id = c.id WHERE c.name = 'fruit'",
           "SELECT name FROM item WHERE cat_id IN (SELECT id FROM cat WHERE name = 'fruit')", SQL_MATCH, NULL);
    expect("SELECT name FROM item ORDER BY name DESC", "SELECT name FROM item", SQL_MATCH, NULL);
    expect("select count(*) from item;", "SELECT COUNT(*) FROM item", SQL_MATCH, NULL);
    expect("-- the count\nSELECT count(*) FROM item /* all */ ;  ", "SELECT count(*) FROM item;", SQL_MATCH, NULL);
    expect("SELECT name FROM item", "SELECT name FROM item WHERE price > 2", SQL_ROWS, "rows: 6, gold 2");
    /* double-quoted strings, as in 326 of the 1447 gold queries of spider_test */
    expect("SELECT count(*) FROM item WHERE name = 'apple'", "SELECT count(*) FROM item WHERE name = \"apple\"",
           SQL_MATCH, NULL);
}

Test(spider, order_by_at_the_top_level_orders) {
    const char *gold = "SELECT name FROM item WHERE price IS NOT NULL ORDER BY price";
    expect("SELECT name FROM item WHERE price NOT NULL ORDER BY price ASC", gold, SQL_MATCH, NULL);
    expect("SELECT name FROM item WHERE price IS NOT NULL ORDER BY price DESC", gold, SQL_ROWS, "rows: ordered");
    expect("SELECT name FROM item WHERE price IS NOT NULL", gold, SQL_ROWS, "rows: ordered");
    /* ORDER BY inside a subquery does not order the comparison */
    const char *sub = "SELECT name FROM (SELECT name, price FROM item ORDER BY price LIMIT 3)";
    expect("SELECT name FROM item WHERE price IS NULL OR price < 2.0 ORDER BY name DESC", sub, SQL_MATCH, NULL);
}

Test(spider, rows_are_multisets) {
    expect("SELECT v FROM b", "SELECT v FROM a", SQL_ROWS, "rows: sorted");
    expect("SELECT DISTINCT v FROM a", "SELECT v FROM a", SQL_ROWS, "rows: 2, gold 3");
    expect("SELECT v FROM a UNION ALL SELECT 9 WHERE 0", "SELECT v FROM a", SQL_MATCH, NULL);
    expect("SELECT v FROM a UNION ALL SELECT 3", "SELECT v FROM a", SQL_ROWS, "rows: 4, gold 3");
    expect("SELECT v FROM a", "SELECT v FROM a UNION ALL SELECT 3", SQL_ROWS, "rows: 3, gold 4");
    expect("SELECT v FROM b ORDER BY v DESC", "SELECT v FROM b", SQL_MATCH, NULL);
}

Test(spider, values) {
    expect("SELECT 1.0", "SELECT 1", SQL_MATCH, NULL);
    expect("SELECT 2.0 / 4", "SELECT 0.5", SQL_MATCH, NULL);
    expect("SELECT -0.0", "SELECT 0", SQL_MATCH, NULL);
    expect("SELECT 1.5", "SELECT 1", SQL_ROWS, NULL);
    expect("SELECT '1'", "SELECT 1", SQL_ROWS, NULL);
    expect("SELECT NULL", "SELECT NULL", SQL_MATCH, NULL);
    expect("SELECT price FROM item WHERE id = 6", "SELECT NULL", SQL_MATCH, NULL);
    expect("SELECT 0", "SELECT NULL", SQL_ROWS, NULL);
    expect("SELECT ''", "SELECT NULL", SQL_ROWS, NULL);
    expect("SELECT 'ABC'", "SELECT 'abc'", SQL_ROWS, NULL);
    expect("SELECT 'abc '", "SELECT 'abc'", SQL_ROWS, NULL);
    expect("SELECT x'61'", "SELECT 'a'", SQL_ROWS, NULL);
    expect("SELECT x'6100'", "SELECT x'6100'", SQL_MATCH, NULL);
    /* exact, not through a double: 2^53 + 1 is not 2^53 */
    expect("SELECT 9007199254740993", "SELECT 9007199254740992.0", SQL_ROWS, NULL);
    expect("SELECT 9007199254740992", "SELECT 9007199254740992.0", SQL_MATCH, NULL);
    expect("SELECT 9007199254740992.0", "SELECT 9007199254740993", SQL_ROWS, NULL);
    expect("SELECT 9007199254740992.0", "SELECT 9007199254740992", SQL_MATCH, NULL);
    expect("SELECT 9223372036854775807", "SELECT 9223372036854775808.0", SQL_ROWS, NULL);
    expect("SELECT 9223372036854775808.0", "SELECT 9223372036854775807", SQL_ROWS, NULL);
    expect("SELECT 2.5", "SELECT 2", SQL_ROWS, NULL);
    expect("SELECT -2.5", "SELECT -2", SQL_ROWS, NULL);
}

Test(spider, columns) {
    expect("SELECT name, price FROM item", "SELECT name FROM item", SQL_COLUMNS, "columns: 2, gold 1");
    expect("SELECT price, name FROM item", "SELECT name, price FROM item", SQL_ROWS, NULL);
    expect("SELECT name AS x, price AS y FROM item", "SELECT name, price FROM item", SQL_MATCH, NULL);
}

Test(spider, failing_generated_query_is_wrong) {
    const char *gold = "SELECT count(*) FROM item";
    expect("SELEC count(*) FROM item", gold, SQL_GEN_ERROR, "error: ");
    expect("SELECT count(nope) FROM item", gold, SQL_GEN_ERROR, "error: ");
    expect("SELECT count(*) FROM nope", gold, SQL_GEN_ERROR, "error: ");
    expect("", gold, SQL_GEN_ERROR, "error: empty query");
    expect(" -- nothing\n ; ", gold, SQL_GEN_ERROR, "error: empty query");
    expect("SELECT count(*) FROM item; SELECT 1", gold, SQL_GEN_ERROR, "error: more than one statement");
    expect("SELECT count(*) FROM item; SELEC", gold, SQL_GEN_ERROR, "error: more than one statement");
    expect("SELECT abs(-9223372036854775807 - 1)", gold, SQL_GEN_ERROR, "error: integer overflow");
}

Test(spider, failing_gold_is_an_error) {
    SqlVerdict v;
    err[0] = 0;
    cr_assert_eq(spider_exec_match(g_dir, "shop", "SELECT 1", "SELEC 1", NULL, &v, why, sizeof why, err, sizeof err),
                 -1);
    cr_assert(strstr(err, "gold"), "%s", err);
    cr_assert_eq(spider_exec_match(g_dir, "shop", "SELEC 1", "SELEC 1", NULL, &v, why, sizeof why, err, sizeof err),
                 -1, "two failing queries are not equal");
    cr_assert_eq(spider_exec_match(g_dir, "shop", "SELECT 1", "", NULL, &v, why, sizeof why, err, sizeof err), -1);
    cr_assert_eq(spider_exec_match(g_dir, "shop", "SELECT 1", "DELETE FROM a", NULL, &v, why, sizeof why, err,
                                   sizeof err), -1);
}

Test(spider, missing_database_is_an_error) {
    SqlVerdict v;
    err[0] = 0;
    cr_assert_eq(spider_exec_match(g_dir, "nope", "SELECT 1", "SELECT 1", NULL, &v, why, sizeof why, err, sizeof err),
                 -1);
    char want[160];
    snprintf(want, sizeof want, "%s/nope/nope.sqlite", g_dir);
    cr_assert(strstr(err, want), "the message names the path: %s", err);
    cr_assert_eq(spider_exec_match("/nonexistent", "shop", "SELECT 1", "SELECT 1", NULL, &v, why, sizeof why, err,
                                   sizeof err), -1);
}

Test(spider, db_id_cannot_escape) {
    const char *bad[] = {"../shop", "shop/../shop", "/tmp", "", "sh op", "shop\n", ".."};
    SqlVerdict v;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        cr_assert_eq(spider_exec_match(g_dir, bad[i], "SELECT 1", "SELECT 1", NULL, &v, why, sizeof why, err,
                                       sizeof err), -1, "db_id '%s'", bad[i]);
        cr_assert(strstr(err, "db_id"), "%s", err);
    }
}

/* The bytes of the database file (malloc'ed, length in *n). */
static unsigned char *file_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    unsigned char *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

Test(spider, writes_are_refused_and_change_nothing) {
    size_t n0, n1;
    unsigned char *before = file_bytes(g_db, &n0);
    struct stat s0, s1;
    cr_assert_eq(stat(g_db, &s0), 0);
    char attach[256];
    snprintf(attach, sizeof attach, "ATTACH DATABASE '%s/new.sqlite' AS x", g_dir);
    const char *writes[] = {"DROP TABLE item", "INSERT INTO item(name) VALUES ('x')", "DELETE FROM a",
                            "UPDATE item SET price = 0", "CREATE TABLE z(x)", "CREATE TEMP TABLE z(x)",
                            "PRAGMA journal_mode = WAL", "PRAGMA user_version = 7", "VACUUM", "BEGIN", attach,
                            "SELECT 1; DROP TABLE item", "WITH x AS (SELECT 1) DELETE FROM a", "REINDEX", "ANALYZE",
                            "SAVEPOINT x", "DETACH main",
                            "SELECT load_extension('/tmp/x')"};
    for (size_t i = 0; i < sizeof writes / sizeof *writes; i++) {
        SqlVerdict v = match(writes[i], "SELECT count(*) FROM item");
        cr_expect(v == SQL_GEN_REFUSED || v == SQL_GEN_ERROR, "%s: verdict %d (%s)", writes[i], v, why);
    }
    cr_expect_eq(match("DROP TABLE item", "SELECT 1"), SQL_GEN_REFUSED);
    cr_expect_str_eq(why, "refused: not authorized");
    cr_expect_eq(match("PRAGMA user_version", "SELECT 0"), SQL_GEN_REFUSED, "a reading PRAGMA is no query either");
    cr_expect_eq(match("VACUUM", "SELECT 1"), SQL_GEN_REFUSED);
    cr_expect_str_eq(why, "refused: not a read-only query");
    cr_expect_eq(match("REINDEX", "SELECT 1"), SQL_GEN_REFUSED);
    cr_expect_str_eq(why, "refused: not a query (no result columns)");
    cr_expect_eq(match("EXPLAIN SELECT 1", "SELECT 1"), SQL_GEN_REFUSED);
    cr_expect_str_eq(why, "refused: EXPLAIN is not a query");
    unsigned char *after = file_bytes(g_db, &n1);
    cr_assert_eq(stat(g_db, &s1), 0);
    cr_assert_eq(n0, n1);
    cr_assert_eq(memcmp(before, after, n0), 0, "the database file changed");
    cr_assert_eq(s0.st_mtim.tv_sec, s1.st_mtim.tv_sec);
    cr_assert_eq(s0.st_mtim.tv_nsec, s1.st_mtim.tv_nsec);
    snprintf(attach, sizeof attach, "%s/new.sqlite", g_dir);
    cr_assert_neq(access(attach, F_OK), 0, "ATTACH created a file");
    cr_assert_eq(match("SELECT count(*) FROM item", "SELECT 6"), SQL_MATCH);
    free(before);
    free(after);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define FOREVER "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "

Test(spider, runaway_query_hits_the_time_limit) {
    SqlLimits lim = {500000000, 0.3, 0, 0}; /* the steps only as a backstop if the clock failed */
    double t0 = now_s();
    SqlVerdict v = match_lim(FOREVER "SELECT count(*) FROM r", "SELECT 1", &lim);
    double dt = now_s() - t0;
    cr_assert_eq(v, SQL_GEN_LIMIT, "%s", why);
    cr_assert(strstr(why, "limit: over 0.3 s"), "%s", why);
    cr_assert(dt >= 0.3 && dt < 1.5, "stopped after %.3f s", dt);
}

Test(spider, runaway_query_hits_the_step_limit) {
    SqlLimits lim = {2000000, 20.0, 0, 0}; /* the clock only as a backstop if the steps failed */
    SqlVerdict v = match_lim(FOREVER "SELECT count(*) FROM r", "SELECT 1", &lim);
    cr_assert_eq(v, SQL_GEN_LIMIT, "%s", why);
    cr_assert_str_eq(why, "limit: more than 2000000 virtual machine steps");
    /* a query well inside the limit is unaffected */
    cr_assert_eq(match_lim("SELECT count(*) FROM item", "SELECT 6", &lim), SQL_MATCH);
}

Test(spider, row_and_byte_limits) {
    SqlLimits lim = {50000000, 20.0, 1000, 0}; /* steps and clock as backstops */
    cr_assert_eq(match_lim(FOREVER "SELECT x FROM r", "SELECT 1", &lim), SQL_GEN_LIMIT);
    cr_assert_str_eq(why, "limit: more than 1000 rows");
    cr_assert_eq(match_lim(FOREVER "SELECT x FROM r LIMIT 1000", FOREVER "SELECT x FROM r LIMIT 1000", &lim),
                 SQL_MATCH, "exactly at the cap");
    SqlLimits big = {0, 0, 0, 100000};
    cr_assert_eq(match_lim("SELECT zeroblob(200000)", "SELECT 1", &big), SQL_GEN_LIMIT);
    cr_assert(strstr(why, "limit: result larger than 100000 bytes"), "%s", why);
}

Test(spider, gold_over_a_limit_is_an_error) {
    SqlLimits lim = {50000000, 20.0, 10, 0};
    SqlVerdict v;
    err[0] = 0;
    cr_assert_eq(spider_exec_match(g_dir, "shop", "SELECT 1", FOREVER "SELECT x FROM r", &lim, &v, why, sizeof why,
                                   err, sizeof err), -1);
    cr_assert(strstr(err, "limit"), "%s", err);
}

Test(spider, default_limits) {
    SqlLimits d = sql_limits_default();
    cr_assert_eq(d.max_steps, 100000000LL);
    cr_assert_float_eq(d.timeout_s, 5.0, 1e-12);
    cr_assert_eq(d.max_rows, 100000LL);
    cr_assert_eq(d.max_bytes, 64LL << 20);
}

Test(spider, time_per_match) {
    const char *q = "SELECT c.name, count(*), avg(i.price) FROM item AS i JOIN cat AS c ON i.cat_id = c.id "
                    "GROUP BY c.name ORDER BY c.name";
    enum { N = 200 };
    double t0 = now_s();
    for (int i = 0; i < N; i++) cr_assert_eq(match(q, q), SQL_MATCH);
    double per = (now_s() - t0) / N;
    cr_log_info("spider_exec_match on the test database: %.1f us per call", 1e6 * per);
    cr_assert_lt(per, 0.05);
}

/* --- top-level ORDER BY ------------------------------------------------------ */

Test(sql_order_by, top_level_only) {
    struct { const char *sql; int want; } c[] = {
        {"SELECT a FROM t ORDER BY a", 1},
        {"select a from t order  by a desc limit 3", 1},
        {"SELECT a FROM t ORDER\n/* c */ -- d\n BY a", 1},
        {"SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", 1},
        {"SELECT a FROM (SELECT a FROM t ORDER BY a)", 0},
        {"SELECT a FROM t WHERE a IN (SELECT a FROM t ORDER BY a LIMIT 1)", 0},
        {"WITH x AS (SELECT a FROM t ORDER BY a) SELECT a FROM x", 0},
        {"SELECT a, row_number() OVER (ORDER BY a) FROM t", 0},
        {"SELECT 'ORDER BY' FROM t", 0},
        {"SELECT 'it''s ORDER BY' FROM t", 0},
        {"SELECT \"order by\" FROM t", 0},
        {"SELECT a AS `order by` FROM t", 0},
        {"SELECT a AS [order by] FROM t", 0},
        {"SELECT a FROM t -- ORDER BY a", 0},
        {"SELECT a FROM t /* ORDER BY a */", 0},
        {"SELECT recorder BY FROM t", 0},
        {"SELECT orderby FROM t", 0},
        {"SELECT a FROM t ORDER", 0},
        {"SELECT a FROM t ORDER BYa", 0},
        {"SELECT a FROM (SELECT a FROM t) ORDER BY a", 1},
        {"SELECT 'unterminated ORDER BY", 0},
        {"SELECT a FROM t) ORDER BY a", 1},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        cr_expect_eq(sql_has_top_order_by(c[i].sql), c[i].want, "%s", c[i].sql);
}

/* --- db ids ------------------------------------------------------------------- */

Test(spider_db_id, parse) {
    char id[32];
    cr_assert_eq(spider_db_id("For db_id:[sakila_1]\n\nHow many cities are in Australia?", id, sizeof id, err,
                              sizeof err), 0, "%s", err);
    cr_assert_str_eq(id, "sakila_1");
    cr_assert_eq(spider_db_id("x For db_id:[A9_z]", id, sizeof id, err, sizeof err), 0);
    cr_assert_str_eq(id, "A9_z");
}

Test(spider_db_id, rejects) {
    const char *bad[] = {"How many?", "For db_id:[../x]\n", "For db_id:[a/b]", "For db_id:[]", "For db_id:[abc",
                         "For db_id:[a b]", "For db_id:[a.b]", "for db_id:[abc]", "For db_id: [abc]",
                         "For db_id:[ab\xc3\xa9]"};
    char id[32];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        strcpy(id, "junk");
        err[0] = 0;
        cr_expect_eq(spider_db_id(bad[i], id, sizeof id, err, sizeof err), -1, "%s", bad[i]);
        cr_expect_str_eq(id, "", "%s", bad[i]);
        cr_expect(*err, "%s: no message", bad[i]);
    }
    char small[4];
    cr_assert_eq(spider_db_id("For db_id:[abcd]", small, sizeof small, err, sizeof err), -1, "too long");
    cr_assert_eq(spider_db_id("For db_id:[abc]", small, sizeof small, err, sizeof err), 0);
    cr_assert_str_eq(small, "abc");
}

Test(spider_db_id, every_spider_test_item) {
    const char *paths[] = {SOURCE_DIR "/data/spider_test.jsonl", "/work/shared/datasets/spider_test.jsonl"};
    FILE *f = NULL;
    for (int i = 0; i < 2 && !f; i++) f = fopen(paths[i], "r");
    if (!f) cr_skip_test("spider_test.jsonl not found");
    char *line = NULL, id[128];
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "messages"), 1);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(u, "content");
        cr_assert(cJSON_IsString(c), "line %d", n + 1);
        cr_assert_eq(spider_db_id(c->valuestring, id, sizeof id, err, sizeof err), 0, "line %d: %s", n + 1, err);
        cJSON_Delete(o);
        n++;
    }
    free(line);
    fclose(f);
    cr_assert_eq(n, 1447);
}
