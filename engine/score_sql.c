/* Spider execution accuracy with SQLite: see score_sql.h. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, stat */
#include "score_sql.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "errmsg.h"

SqlLimits sql_limits_default(void) {
    SqlLimits l = {100000000LL, 5.0, 100000LL, 64LL << 20};
    return l;
}

/* --- db id ------------------------------------------------------------- */

static int is_ident_char(int c) { return isalnum(c) || c == '_'; }

int spider_db_id(const char *user, char *out, size_t outn, char *err, size_t errn) {
    if (outn) out[0] = 0;
    const char *p = strstr(user, "For db_id:[");
    if (!p) return errf(err, errn, "no \"For db_id:[\" in the user text");
    p += strlen("For db_id:[");
    size_t n = 0;
    while (is_ident_char((unsigned char)p[n])) n++;
    if (n == 0 || p[n] != ']')
        return errf(err, errn, "the db_id \"%.40s\" is not [A-Za-z0-9_]+ followed by ']'", p);
    if (n >= outn) return errf(err, errn, "the db_id is longer than %zu bytes", outn ? outn - 1 : 0);
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

/* --- top-level ORDER BY ---------------------------------------------------- */

/* Skip a literal, quoted identifier or comment starting at s[i]; returns
 * the index after it, or i when none starts there. A doubled quote inside
 * a literal ('it''s') reads as the end of one literal and the start of
 * another, which hides the same text. */
static size_t skip_quoted(const char *s, size_t i) {
    char c = s[i], close = c == '[' ? ']' : c;
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
        for (i++; s[i]; i++)
            if (s[i] == close) return i + 1;
        return i;
    }
    if (c == '-' && s[i + 1] == '-') {
        while (s[i] && s[i] != '\n') i++;
        return i;
    }
    if (c == '/' && s[i + 1] == '*') {
        const char *e = strstr(s + i + 2, "*/");
        return e ? (size_t)(e - s) + 2 : strlen(s);
    }
    return i;
}

/* Whether the keyword kw (lowercase) stands at s[i] as a whole word. */
static int keyword_at(const char *s, size_t i, const char *kw) {
    if (i > 0 && is_ident_char((unsigned char)s[i - 1])) return 0;
    size_t k = strlen(kw);
    for (size_t j = 0; j < k; j++)
        if (tolower((unsigned char)s[i + j]) != kw[j]) return 0; /* stops at the NUL too */
    return !is_ident_char((unsigned char)s[i + k]);
}

int sql_has_top_order_by(const char *s) {
    int depth = 0;
    for (size_t i = 0; s[i];) {
        size_t j = skip_quoted(s, i);
        if (j != i) { i = j; continue; }
        if (s[i] == '(') depth++;
        else if (s[i] == ')') depth -= depth > 0;
        else if (depth == 0 && keyword_at(s, i, "order")) {
            size_t k = i + 5;
            for (;;) { /* white space and comments between ORDER and BY */
                while (isspace((unsigned char)s[k])) k++;
                size_t m = (s[k] == '-' || s[k] == '/') ? skip_quoted(s, k) : k;
                if (m == k) break;
                k = m;
            }
            if (keyword_at(s, k, "by")) return 1;
        }
        i++;
    }
    return 0;
}

/* --- results --------------------------------------------------------------- */

typedef struct Value {
    int type;      /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL */
    size_t n;      /* text or blob bytes */
    union { long long i; double r; size_t off; } v; /* off: into Result.bytes */
} Value;

typedef struct Result {
    int ncol;
    long long nrow;
    Value *val;        /* nrow * ncol, row-major */
    size_t cap;        /* values allocated */
    char *bytes;       /* text and blob contents */
    size_t nbytes, bcap;
} Result;

static void result_free(Result *r) {
    free(r->val);
    free(r->bytes);
    memset(r, 0, sizeof *r);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Append the current row of st to r. 0, or -1 out of memory. */
static int result_add_row(Result *r, sqlite3_stmt *st) {
    size_t base = (size_t)r->nrow * (size_t)r->ncol;
    if (grow((void **)&r->val, &r->cap, base + (size_t)r->ncol, sizeof(Value))) return -1;
    for (int c = 0; c < r->ncol; c++) {
        Value *v = &r->val[base + (size_t)c];
        memset(v, 0, sizeof *v);
        v->type = sqlite3_column_type(st, c);
        if (v->type == SQLITE_INTEGER) v->v.i = sqlite3_column_int64(st, c);
        else if (v->type == SQLITE_FLOAT) v->v.r = sqlite3_column_double(st, c);
        else if (v->type == SQLITE_TEXT || v->type == SQLITE_BLOB) {
            const void *p = v->type == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, c) : sqlite3_column_blob(st, c);
            v->n = (size_t)sqlite3_column_bytes(st, c);
            if (v->n && !p) return -1;
            if (grow((void **)&r->bytes, &r->bcap, r->nbytes + v->n, 1)) return -1;
            if (v->n) memcpy(r->bytes + r->nbytes, p, v->n);
            v->v.off = r->nbytes;
            r->nbytes += v->n;
        }
    }
    r->nrow++;
    return 0;
}

/* --- value order ---------------------------------------------------------- */

static int type_rank(int t) {
    return t == SQLITE_NULL ? 0 : (t == SQLITE_INTEGER || t == SQLITE_FLOAT) ? 1 : t == SQLITE_TEXT ? 2 : 3;
}

/* Exact comparison of an integer and a double (-1, 0, 1). */
static int cmp_int_real(long long i, double d) {
    if (d >= 9223372036854775808.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    long long t = (long long)d; /* truncated toward zero, exact in range */
    if (i != t) return i < t ? -1 : 1;
    double f = d - (double)t;   /* the fraction, exact */
    return f > 0 ? -1 : f < 0 ? 1 : 0;
}

static int cmp_num(const Value *a, const Value *b) {
    if (a->type == SQLITE_INTEGER && b->type == SQLITE_INTEGER) return (a->v.i > b->v.i) - (a->v.i < b->v.i);
    if (a->type == SQLITE_FLOAT && b->type == SQLITE_FLOAT) return (a->v.r > b->v.r) - (a->v.r < b->v.r);
    if (a->type == SQLITE_INTEGER) return cmp_int_real(a->v.i, b->v.r);
    return -cmp_int_real(b->v.i, a->v.r);
}

/* A total order of values whose equality is that of score_sql.h. */
static int cmp_value(const Result *ra, const Value *a, const Result *rb, const Value *b) {
    int ta = type_rank(a->type), tb = type_rank(b->type);
    if (ta != tb) return ta < tb ? -1 : 1;
    if (ta == 0) return 0;
    if (ta == 1) return cmp_num(a, b);
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(ra->bytes + a->v.off, rb->bytes + b->v.off, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return (a->n > b->n) - (a->n < b->n);
}

/* One row of one result, for sorting with plain qsort. */
typedef struct RowRef {
    const Result *r;
    long long row;
} RowRef;

static int cmp_row(const RowRef *x, const RowRef *y) {
    int ncol = x->r->ncol;
    const Value *a = x->r->val + (size_t)x->row * (size_t)ncol, *b = y->r->val + (size_t)y->row * (size_t)ncol;
    for (int c = 0; c < ncol; c++) {
        int k = cmp_value(x->r, a + c, y->r, b + c);
        if (k) return k;
    }
    return 0;
}

static int cmp_rowref(const void *x, const void *y) { return cmp_row(x, y); }

/* Rows of r in result order, sorted unless ordered. NULL out of memory. */
static RowRef *row_refs(const Result *r, int ordered) {
    RowRef *v = malloc(((size_t)r->nrow + 1) * sizeof *v);
    if (!v) return NULL;
    for (long long i = 0; i < r->nrow; i++) v[i] = (RowRef){r, i};
    if (!ordered) qsort(v, (size_t)r->nrow, sizeof *v, cmp_rowref);
    return v;
}

/* Compare gold and generated results (same column count): 1 equal, 0 not
 * (first differing row index in *at), -1 out of memory. */
static int results_equal(const Result *gold, const Result *gen, int ordered, long long *at) {
    *at = -1;
    if (gold->nrow != gen->nrow) return 0;
    RowRef *a = row_refs(gold, ordered), *b = row_refs(gen, ordered);
    int eq = -1;
    if (a && b) {
        eq = 1;
        for (long long i = 0; i < gold->nrow && eq; i++)
            if (cmp_row(&a[i], &b[i])) { eq = 0; *at = i; }
    }
    free(a);
    free(b);
    return eq;
}

/* --- running one query ----------------------------------------------------- */

#define PROGRESS_N 1000

typedef struct Guard {
    long long steps, max_steps;
    double deadline; /* CLOCK_MONOTONIC seconds; 0: none */
    int hit;         /* 1 steps, 2 time */
    int denied;      /* first action code the authorizer refused, 0 none */
} Guard;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int progress_cb(void *p) {
    Guard *g = p;
    g->steps += PROGRESS_N;
    if (g->max_steps > 0 && g->steps >= g->max_steps) { g->hit = 1; return 1; }
    if (g->deadline > 0 && now_s() > g->deadline) { g->hit = 2; return 1; }
    return 0;
}

/* Only reading is authorised. */
static int authorize(void *p, int action, const char *a, const char *b, const char *c, const char *d) {
    (void)a; (void)b; (void)c; (void)d;
    if (action == SQLITE_SELECT || action == SQLITE_READ || action == SQLITE_FUNCTION || action == SQLITE_RECURSIVE)
        return SQLITE_OK;
    Guard *g = p;
    if (!g->denied) g->denied = action;
    return SQLITE_DENY;
}

typedef enum Run { RUN_OK, RUN_ERROR, RUN_REFUSED, RUN_LIMIT, RUN_NOMEM } Run;

/* Prepare the single statement of sql into *st. RUN_OK, or another code
 * with a message in msg. */
static Run prepare_one(sqlite3 *db, const char *sql, Guard *g, sqlite3_stmt **st, char *msg, size_t msgn) {
    *st = NULL;
    const char *tail = sql;
    int nstmt = 0;
    while (*tail) {
        sqlite3_stmt *s = NULL;
        const char *next = tail;
        g->denied = 0;
        int rc = sqlite3_prepare_v2(db, tail, -1, &s, &next);
        if (rc == SQLITE_NOMEM) { sqlite3_finalize(*st); *st = NULL; return RUN_NOMEM; }
        if (rc != SQLITE_OK && nstmt == 0) {
            snprintf(msg, msgn, "%s", sqlite3_errmsg(db));
            return g->denied ? RUN_REFUSED : RUN_ERROR;
        }
        if (rc != SQLITE_OK || (s && nstmt > 0)) {
            sqlite3_finalize(s);
            sqlite3_finalize(*st);
            *st = NULL;
            snprintf(msg, msgn, "more than one statement");
            return RUN_ERROR;
        }
        if (s) { *st = s; nstmt = 1; }
        if (next == tail) break;
        tail = next;
    }
    if (!*st) { snprintf(msg, msgn, "empty query"); return RUN_ERROR; }
    const char *why = !sqlite3_stmt_readonly(*st)        ? "not a read-only query"
                      : sqlite3_stmt_isexplain(*st)        ? "EXPLAIN is not a query"
                      : sqlite3_column_count(*st) == 0     ? "not a query (no result columns)"
                                                           : NULL;
    if (why) {
        sqlite3_finalize(*st);
        *st = NULL;
        snprintf(msg, msgn, "%s", why);
        return RUN_REFUSED;
    }
    return RUN_OK;
}

/* Step st to the end into r under the limits. */
static Run step_all(sqlite3 *db, sqlite3_stmt *st, const SqlLimits *lim, Guard *g, Result *r, char *msg,
                    size_t msgn) {
    r->ncol = sqlite3_column_count(st);
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) return RUN_OK;
        if (rc != SQLITE_ROW) {
            if (g->hit) {
                if (g->hit == 1) snprintf(msg, msgn, "more than %lld virtual machine steps", lim->max_steps);
                else snprintf(msg, msgn, "over %g s", lim->timeout_s);
                return RUN_LIMIT;
            }
            snprintf(msg, msgn, "%s", sqlite3_errmsg(db));
            return rc == SQLITE_NOMEM ? RUN_NOMEM : RUN_ERROR;
        }
        if (lim->max_rows > 0 && r->nrow >= lim->max_rows) {
            snprintf(msg, msgn, "more than %lld rows", lim->max_rows);
            return RUN_LIMIT;
        }
        if (result_add_row(r, st)) { snprintf(msg, msgn, "out of memory"); return RUN_NOMEM; }
        if (lim->max_bytes > 0 && (long long)(r->nbytes + 16 * (size_t)r->nrow * (size_t)r->ncol) > lim->max_bytes) {
            snprintf(msg, msgn, "result larger than %lld bytes", lim->max_bytes);
            return RUN_LIMIT;
        }
    }
}

/* Run sql on db into r (zeroed on entry). */
static Run run_query(sqlite3 *db, const char *sql, const SqlLimits *lim, Result *r, char *msg, size_t msgn) {
    Guard g = {0, lim->max_steps, lim->timeout_s > 0 ? now_s() + lim->timeout_s : 0, 0, 0};
    sqlite3_set_authorizer(db, authorize, &g);
    sqlite3_progress_handler(db, PROGRESS_N, progress_cb, &g);
    sqlite3_stmt *st;
    Run rc = prepare_one(db, sql, &g, &st, msg, msgn);
    if (rc == RUN_OK) rc = step_all(db, st, lim, &g, r, msg, msgn);
    sqlite3_finalize(st);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    sqlite3_set_authorizer(db, NULL, NULL);
    return rc;
}

/* --- the match ---------------------------------------------------------- */

/* Open the database read-only and harden the connection. */
static int open_db(const char *path, sqlite3 **db, char *err, size_t errn) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return errf(err, errn, "spider: database %s not found", path);
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        errf(err, errn, "spider: cannot open %s: %s", path, *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    sqlite3_limit(*db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_db_config(*db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(*db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    return 0;
}

static const char *const RUN_KIND[] = {"", "error", "refused", "limit", "error"};

/* The verdict on the generated run (rc, msg) and the two results, with the
 * reason in why. 0, or -1 out of memory. */
static int judge(Run rc, const char *msg, const Result *gold, const Result *gen, int ordered, SqlVerdict *v,
                 char *why, size_t whyn) {
    if (rc != RUN_OK) {
        *v = rc == RUN_REFUSED ? SQL_GEN_REFUSED : rc == RUN_LIMIT ? SQL_GEN_LIMIT : SQL_GEN_ERROR;
        snprintf(why, whyn, "%s: %s", RUN_KIND[rc], msg);
        return 0;
    }
    if (gold->ncol != gen->ncol) {
        *v = SQL_COLUMNS;
        snprintf(why, whyn, "columns: %d, gold %d", gen->ncol, gold->ncol);
        return 0;
    }
    long long at;
    int eq = results_equal(gold, gen, ordered, &at);
    if (eq < 0) return -1;
    if (eq) { *v = SQL_MATCH; return 0; }
    *v = SQL_ROWS;
    if (gold->nrow != gen->nrow) snprintf(why, whyn, "rows: %lld, gold %lld", gen->nrow, gold->nrow);
    else snprintf(why, whyn, "rows: %s row %lld of %lld differs", ordered ? "ordered" : "sorted", at, gold->nrow);
    return 0;
}

/* The path <db_dir>/<db_id>/<db_id>.sqlite into path (size n). 0 or -1. */
static int db_path(const char *db_dir, const char *db_id, char *path, size_t n, char *err, size_t errn) {
    size_t k = strlen(db_id);
    for (size_t i = 0; i < k; i++)
        if (!is_ident_char((unsigned char)db_id[i])) k = 0;
    if (k == 0) return errf(err, errn, "spider: db_id \"%.64s\" is not [A-Za-z0-9_]+", db_id);
    if (snprintf(path, n, "%s/%s/%s.sqlite", db_dir, db_id, db_id) >= (int)n)
        return errf(err, errn, "spider: database path too long");
    return 0;
}

int spider_exec_match(const char *db_dir, const char *db_id, const char *generated_sql, const char *gold_sql,
                      const SqlLimits *lim, SqlVerdict *out, char *why, size_t whyn, char *err, size_t errn) {
    *out = SQL_GEN_ERROR;
    if (why && whyn) why[0] = 0;
    SqlLimits dl = sql_limits_default();
    if (!lim) lim = &dl;
    char path[4096], msg[200] = "", dummy[1];
    if (!why || !whyn) { why = dummy; whyn = sizeof dummy; }
    sqlite3 *db;
    if (db_path(db_dir, db_id, path, sizeof path, err, errn) || open_db(path, &db, err, errn)) return -1;
    Result gold = {0}, gen = {0};
    Run rc = run_query(db, gold_sql, lim, &gold, msg, sizeof msg);
    int ret = 0;
    if (rc != RUN_OK) ret = errf(err, errn, "spider: gold query on %s: %s: %s", path, RUN_KIND[rc], msg);
    else {
        rc = run_query(db, generated_sql, lim, &gen, msg, sizeof msg);
        if (rc == RUN_NOMEM || judge(rc, msg, &gold, &gen, sql_has_top_order_by(gold_sql), out, why, whyn))
            ret = errf(err, errn, "spider: out of memory");
    }
    result_free(&gold);
    result_free(&gen);
    sqlite3_close(db);
    if (ret) { *out = SQL_GEN_ERROR; why[0] = 0; }
    return ret;
}
