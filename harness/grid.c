/* Grid file parser and expander. The format and its errors are documented in
 * grid.h. */
#define _DEFAULT_SOURCE /* strdup, getentropy */
#include "grid.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- A set of indices keyed by the strings they name (open addressing,
 * FNV-1a): duplicate checks in time linear in the number of items. */
typedef struct {
    int *slot;  /* cap entries: index + 1, 0 = empty */
    size_t cap; /* 0, or a power of two above twice n */
    size_t n;
} IdxSet;

typedef const char *(*KeyOf)(void *ctx, int i);

/* FNV-1a of s from a per-process random basis, then murmur3's finaliser, so
 * that no fixed set of names collides in the table's bits (a grid crafted to
 * make every probe long would make the checks quadratic again). Only the
 * probing depends on it, never a result. */
static uint64_t fnv1a(const char *s) {
    static uint64_t basis;
    if (!basis && getentropy(&basis, sizeof basis) != 0) basis = (uint64_t)(uintptr_t)&basis;
    uint64_t h = 1469598103934665603ULL ^ basis;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static void idxset_free(IdxSet *s) {
    free(s->slot);
    memset(s, 0, sizeof *s);
}

/* Put index i (slot free of it) into a table with room. */
static void idxset_put(int *slot, size_t cap, int i, KeyOf key, void *ctx) {
    size_t h = (size_t)fnv1a(key(ctx, i)) & (cap - 1);
    while (slot[h]) h = (h + 1) & (cap - 1);
    slot[h] = i + 1;
}

/* Add index i, whose string is key(ctx, i), unless an index with an equal
 * string is there. Returns that index, -1 when i was added, -2 out of
 * memory. */
static int idxset_add(IdxSet *s, int i, KeyOf key, void *ctx) {
    if (2 * (s->n + 1) >= s->cap) { /* grow: rehash into twice the slots */
        size_t nc = s->cap ? 2 * s->cap : 64;
        int *ns = calloc(nc, sizeof *ns);
        if (!ns) return -2;
        for (size_t h = 0; h < s->cap; h++)
            if (s->slot[h]) idxset_put(ns, nc, s->slot[h] - 1, key, ctx);
        free(s->slot);
        s->slot = ns;
        s->cap = nc;
    }
    const char *k = key(ctx, i);
    size_t h = (size_t)fnv1a(k) & (s->cap - 1);
    for (; s->slot[h]; h = (h + 1) & (s->cap - 1))
        if (!strcmp(key(ctx, s->slot[h] - 1), k)) return s->slot[h] - 1;
    s->slot[h] = i + 1;
    s->n++;
    return -1;
}

typedef struct {
    char *key;
    int line;
    int nvals;
    char **vals;
} Entry;

typedef struct {
    char name[64];
    int line;    /* line of "[name]"; for the implicit "main", its first key's line */
    Entry *e;
    int ne, cap;
} Scope;

typedef struct {
    const char *file;
    Scope *s;    /* s[0] is the top section, s[1..] the arms */
    int ns, cap;
    IdxSet arms; /* indices into s of the arms, by name */
    char *err;
    size_t errn;
} Parser;

/* Write "FILE:LINE: message" into the parser's err and return -1. */
static int fail(Parser *p, int line, const char *fmt, ...) {
    if (!p->err || p->errn == 0) return -1;
    int w = snprintf(p->err, p->errn, "%s:%d: ", p->file, line);
    if (w >= 0 && (size_t)w < p->errn) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + w, p->errn - (size_t)w, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static void free_scopes(Parser *p) {
    for (int i = 0; i < p->ns; i++) {
        for (int j = 0; j < p->s[i].ne; j++) {
            Entry *e = &p->s[i].e[j];
            free(e->key);
            for (int v = 0; v < e->nvals; v++) free(e->vals[v]);
            free(e->vals);
        }
        free(p->s[i].e);
    }
    free(p->s);
    p->s = NULL;
    p->ns = p->cap = 0;
    idxset_free(&p->arms);
}

static const char *scope_name(void *ctx, int i) {
    return ((Parser *)ctx)->s[i].name;
}

static Scope *add_scope(Parser *p, const char *name, int line) {
    if (p->ns == p->cap) {
        int nc = p->cap ? p->cap * 2 : 8;
        Scope *ns = realloc(p->s, (size_t)nc * sizeof *ns);
        if (!ns) return NULL;
        p->s = ns;
        p->cap = nc;
    }
    Scope *s = &p->s[p->ns++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->line = line;
    return s;
}

static const Entry *find_entry(const Scope *s, const char *key) {
    for (int i = 0; i < s->ne; i++)
        if (strcmp(s->e[i].key, key) == 0) return &s->e[i];
    return NULL;
}

static int arm_name_ok(const char *n) {
    if (!*n || strlen(n) >= 64) return 0;
    for (const char *c = n; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') return 0;
    return 1;
}

/* Parse one seed: digits only, below 2^64. */
static int parse_seed(const char *s, uint64_t *out) {
    if (!*s) return -1;
    for (const char *c = s; *c; c++)
        if (!isdigit((unsigned char)*c)) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Handle a "[name]" line (s starts at '['). */
static int section_line(Parser *p, char *s, int line) {
    char *close = strchr(s, ']');
    if (!close)
        return fail(p, line, "unterminated section header '%s': expected '[name]' with a closing ']'", s);
    char *rest = trim(close + 1);
    if (*rest) return fail(p, line, "unexpected text after ']': '%s' (expected nothing but a comment)", rest);
    *close = 0;
    char *name = trim(s + 1);
    if (!*name) return fail(p, line, "empty arm name: expected '[name]'");
    if (!arm_name_ok(name))
        return fail(p, line,
                    "bad arm name '%s': expected 1 to 63 letters, digits, '_', '-' or '.'", name);
    if (p->ns > GRID_MAX_RUNS) /* every arm has at least one run */
        return fail(p, line, "too many arms: the grid expands to more than %d runs", GRID_MAX_RUNS);
    if (!add_scope(p, name, line)) return fail(p, line, "out of memory");
    int first = idxset_add(&p->arms, p->ns - 1, scope_name, p);
    if (first == -2) return fail(p, line, "out of memory");
    if (first >= 0) {
        p->ns--; /* the new scope is dropped: p->s[first] keeps the name */
        return fail(p, line, "duplicate arm '%s' (first at line %d): expected each [name] once", name,
                    p->s[first].line);
    }
    return 0;
}

/* Split the value text val (trimmed, not empty) of key into its list items
 * into *items (malloc'd pointers into val, which is modified): commas
 * separate items, except inside double quotes; an item that starts with '"'
 * is the text up to the next '"', kept as it is (blanks and commas; it may be
 * empty). Returns the item count, or -1 with the grid error (unterminated
 * quote, text after a closing quote, an empty unquoted item). */
static int split_items(Parser *p, int line, const char *key, char *val, char ***items) {
    int cap = 1, n = 0, rc = 0;
    for (const char *c = val; *c; c++) cap += *c == ',';
    char **it = *items = calloc((size_t)cap, sizeof *it);
    if (!it) return fail(p, line, "out of memory");
    for (char *s = val;; s++) {
        while (isspace((unsigned char)*s)) s++;
        int quoted = *s == '"';
        char *end = quoted ? strchr(s + 1, '"') : s + strcspn(s, ",");
        if (quoted && !end) {
            rc = fail(p, line, "key '%s': unterminated quote in item %d: expected a closing '\"' before the end of "
                      "the line (or a comment)", key, n + 1);
            break;
        }
        it[n++] = quoted ? s + 1 : s;
        if (quoted) {
            *end++ = 0; /* the closing quote */
            while (isspace((unsigned char)*end)) end++;
            if (*end && *end != ',') {
                rc = fail(p, line, "key '%s': unexpected text '%s' after the closing quote of item %d: expected ',' "
                          "or the end of the line", key, end, n);
                break;
            }
        }
        int more = *end == ',';
        *end = 0;
        if (!quoted && !*(it[n - 1] = trim(it[n - 1]))) {
            rc = fail(p, line, "key '%s': empty item %d in the list: expected a value between commas", key, n);
            break;
        }
        if (!more) break;
        s = end;
    }
    if (rc) {
        free(it);
        *items = NULL;
        return -1;
    }
    return n;
}

static const char *str_at(void *ctx, int i) {
    return ((char **)ctx)[i];
}

/* Check the n list items of key (seeds: parse_seed; other keys: config_set)
 * and that no two are equal (seeds as numbers, other values as config_get
 * prints them: "0.5" and ".5" are one value), in time linear in n. Returns
 * 0 with *vals = n malloc'd copies of the items, or -1 with the grid error
 * for the first bad or repeated item. */
static int list_values(Parser *p, int line, const char *key, int is_seeds, char **items, int n, char ***vals) {
    char **canon = calloc((size_t)n, sizeof *canon), **v = calloc((size_t)n, sizeof *v), msg[512];
    IdxSet seen = {0};
    Config tmp;
    config_defaults(&tmp);
    int rc = !canon || !v ? fail(p, line, "out of memory") : 0;
    for (int i = 0; i < n && !rc; i++) {
        char text[CFG_PATH_MAX];
        uint64_t seed = 0;
        if (is_seeds && parse_seed(items[i], &seed) != 0)
            rc = fail(p, line, "key 'seeds': bad seed '%s': expected a non-negative integer below 2^64", items[i]);
        else if (!is_seeds && config_set(&tmp, key, items[i], msg, sizeof msg) != 0) rc = fail(p, line, "%s", msg);
        if (rc) break;
        if (is_seeds) snprintf(text, sizeof text, "%llu", (unsigned long long)seed);
        else config_get(&tmp, config_key(key), text, sizeof text);
        if (!(canon[i] = strdup(text)) || !(v[i] = strdup(items[i]))) {
            rc = fail(p, line, "out of memory");
            break;
        }
        int first = idxset_add(&seen, i, str_at, canon);
        if (first == -2) rc = fail(p, line, "out of memory");
        else if (first >= 0 && is_seeds)
            rc = fail(p, line, "key 'seeds': duplicate seed %s (items %d and %d): expected each seed once", text,
                      first + 1, i + 1);
        else if (first >= 0)
            rc = fail(p, line, "key '%s': value '%s' appears twice in the list (items %d and %d): expected distinct "
                      "values", key, items[i], first + 1, i + 1);
    }
    for (int i = 0; canon && i < n; i++) free(canon[i]);
    free(canon);
    idxset_free(&seen);
    if (rc && v) {
        for (int i = 0; i < n; i++) free(v[i]);
        free(v);
        v = NULL;
    }
    *vals = v;
    return rc;
}

/* Handle a "key = value" line (s trimmed, comment removed) into the last scope. */
static int key_line(Parser *p, char *s, int line) {
    char *eq = strchr(s, '=');
    if (!eq)
        return fail(p, line, "expected 'key = value' or '[arm]', found '%s' (no '=')", s);
    *eq = 0;
    char *key = trim(s);
    char *val = trim(eq + 1);
    if (!*key) return fail(p, line, "empty key: expected 'key = value' with a key before '='");
    if (!*val)
        return fail(p, line, "key '%s': empty value: expected a value or a list 'a, b, c' after '='",
                    key);
    Scope *sc = &p->s[p->ns - 1];
    const Entry *prev = find_entry(sc, key);
    if (prev) {
        if (p->ns == 1)
            return fail(p, line,
                        "key '%s' set twice before the first section (first at line %d): expected "
                        "each key once per section (a list 'a, b' makes an axis)",
                        key, prev->line);
        return fail(p, line,
                    "key '%s' set twice in arm '%s' (first at line %d): expected each key once per "
                    "section (a list 'a, b' makes an axis)",
                    key, sc->name, prev->line);
    }
    int is_seeds = strcmp(key, "seeds") == 0;
    if (strcmp(key, "seed") == 0)
        return fail(p, line, "key 'seed': a grid gives its seeds as a list, use 'seeds = 82, 23, ...'");
    if (!is_seeds && !config_key(key)) {
        char msg[512];
        Config tmp;
        config_defaults(&tmp);
        config_set(&tmp, key, val, msg, sizeof msg); /* for its "unknown key" message */
        return fail(p, line, "%s", msg);
    }
    /* split the list */
    char **items = NULL;
    int nitems = split_items(p, line, key, val, &items);
    if (nitems < 0) return -1;
    char **vals = NULL;
    int rc = 0, nv = nitems;
    if (nitems > GRID_MAX_RUNS)
        rc = fail(p, line, "key '%s': %d values: a grid expands to at most %d runs, so a list holds at most %d",
                  key, nitems, GRID_MAX_RUNS, GRID_MAX_RUNS);
    else rc = list_values(p, line, key, is_seeds, items, nitems, &vals);
    if (rc) {
        nv = 0;
        goto done;
    }
    if (sc->ne == sc->cap) {
        int nc = sc->cap ? sc->cap * 2 : 16;
        Entry *ne = realloc(sc->e, (size_t)nc * sizeof *ne);
        if (!ne) {
            rc = fail(p, line, "out of memory");
            goto done;
        }
        sc->e = ne;
        sc->cap = nc;
    }
    Entry *e = &sc->e[sc->ne];
    e->key = strdup(key);
    if (!e->key) {
        rc = fail(p, line, "out of memory");
        goto done;
    }
    e->line = line;
    e->nvals = nv;
    e->vals = vals;
    sc->ne++;
    vals = NULL;
done:
    if (vals) {
        for (int i = 0; i < nv; i++) free(vals[i]);
        free(vals);
    }
    free(items);
    return rc;
}

/* The resolved entries of one arm: top keys (with the arm's overrides, at the
 * top key's position), then the arm's own keys. */
typedef struct {
    const Entry **e;
    int n;
    const Entry *seeds;
} Effective;

static int effective(const Scope *top, const Scope *arm, Effective *ef) {
    ef->e = malloc((size_t)(top->ne + arm->ne + 1) * sizeof *ef->e);
    if (!ef->e) return -1;
    ef->n = 0;
    ef->seeds = NULL;
    for (int i = 0; i < top->ne; i++) {
        const Entry *o = arm != top ? find_entry(arm, top->e[i].key) : NULL;
        const Entry *use = o ? o : &top->e[i];
        if (strcmp(use->key, "seeds") == 0) ef->seeds = use;
        else ef->e[ef->n++] = use;
    }
    if (arm != top)
        for (int i = 0; i < arm->ne; i++) {
            if (find_entry(top, arm->e[i].key)) continue;
            if (strcmp(arm->e[i].key, "seeds") == 0) ef->seeds = &arm->e[i];
            else ef->e[ef->n++] = &arm->e[i];
        }
    return 0;
}

/* The line that set key in ef, else dflt. */
static int entry_line(const Effective *ef, const char *key, int dflt) {
    for (int i = 0; i < ef->n; i++)
        if (!strcmp(ef->e[i]->key, key)) return ef->e[i]->line;
    return dflt;
}

/* Short text of a cell's axis values, for messages. */
static void cell_desc(const Effective *ef, const int *pos, char *out, size_t n) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < ef->n; i++) {
        if (ef->e[i]->nvals < 2) continue;
        int w = snprintf(out + len, n - len, "%s%s=%s", len ? " " : "", ef->e[i]->key,
                         ef->e[i]->vals[pos[i]]);
        if (w < 0 || (size_t)w >= n - len) return;
        len += (size_t)w;
    }
}

static int cmp_run_id(const void *a, const void *b) {
    const GridRun *x = *(const GridRun *const *)a, *y = *(const GridRun *const *)b;
    int c = strcmp(x->run_id, y->run_id);
    if (c) return c;
    return (x > y) - (x < y);
}

/* The name of section a: "main" for the top section when it is the only arm. */
static const char *arm_name(const Parser *p, int a) { return a == 0 ? "main" : p->s[a].name; }

/* *total = the runs of every arm (cells × seeds) from first_arm on; refuses
 * products past GRID_MAX_RUNS and a grid without runs. 0, or -1 via fail. */
static int count_runs(Parser *p, int first_arm, long long *total) {
    *total = 0;
    for (int a = first_arm; a < p->ns; a++) {
        Effective ef;
        if (effective(&p->s[0], &p->s[a], &ef) != 0) return fail(p, 0, "out of memory");
        long long cells = 1;
        for (int i = 0; i < ef.n && cells <= GRID_MAX_RUNS; i++) cells *= ef.e[i]->nvals;
        long long ns = ef.seeds ? ef.seeds->nvals : 1;
        free(ef.e);
        if (cells > GRID_MAX_RUNS || (*total += cells * ns) > GRID_MAX_RUNS)
            return fail(p, p->s[a].line, "too many runs: the grid expands to more than %d runs", GRID_MAX_RUNS);
    }
    if (*total == 0) return fail(p, 0, "no runs: expected at least one arm with one cell");
    return 0;
}

/* *c = the defaults with the axis values at pos of arm a, validated. 0, or -1 via fail. */
static int cell_config(Parser *p, int a, const Effective *ef, const int *pos, Config *c) {
    char msg[512];
    config_defaults(c);
    for (int i = 0; i < ef->n; i++)
        if (config_set(c, ef->e[i]->key, ef->e[i]->vals[pos[i]], msg, sizeof msg) != 0)
            return fail(p, ef->e[i]->line, "%s", msg); /* checked when read; defensive */
    if (config_validate(c, msg, sizeof msg) != 0) {
        char desc[256];
        cell_desc(ef, pos, desc, sizeof desc);
        return fail(p, p->s[a].line, "arm '%s'%s%s%s: %s", arm_name(p, a), *desc ? " cell (" : "", desc,
                    *desc ? ")" : "", msg);
    }
    return 0;
}

/* One run per seed of the cell with config c, appended at g->runs[*r]. 0, or -1 via fail. */
static int cell_runs(Parser *p, Grid *g, int a, const Effective *ef, int cell, const Config *c, int *r) {
    char msg[512];
    int nseeds = ef->seeds ? ef->seeds->nvals : 1;
    for (int s = 0; s < nseeds; s++) {
        GridRun *run = &g->runs[(*r)++];
        snprintf(run->arm, sizeof run->arm, "%s", arm_name(p, a));
        run->cell = cell;
        run->cfg = *c; /* without seeds, the default seed */
        if (ef->seeds) parse_seed(ef->seeds->vals[s], &run->cfg.seed);
        if (config_run_id_cached(&run->cfg, &g->hashes, run->run_id, msg, sizeof msg) != 0)
            return fail(p, entry_line(ef, "init", p->s[a].line), "%s", msg); /* init cannot be hashed */
    }
    return 0;
}

/* The next cell: an odometer over the axes, the last varying fastest. 0 once past the last cell. */
static int next_cell(const Effective *ef, int *pos) {
    for (int i = ef->n - 1; i >= 0; i--) {
        if (++pos[i] < ef->e[i]->nvals) return 1;
        pos[i] = 0;
    }
    return 0;
}

/* Every cell of arm a into g->runs, numbering cells from *cell and runs from *r. 0 or -1. */
static int expand_arm(Parser *p, Grid *g, int a, int *cell, int *r) {
    Effective ef;
    if (effective(&p->s[0], &p->s[a], &ef) != 0) return fail(p, 0, "out of memory");
    int *pos = calloc((size_t)ef.n + 1, sizeof *pos), rc = 0;
    if (!pos) rc = fail(p, 0, "out of memory");
    do {
        Config c;
        if (!rc) rc = cell_config(p, a, &ef, pos, &c);
        if (!rc) rc = cell_runs(p, g, a, &ef, (*cell)++, &c, r);
    } while (!rc && next_cell(&ef, pos));
    free(pos);
    free(ef.e);
    return rc;
}

/* Two runs with one run_id would share one result: refuse the grid. 0, or -1 via fail. */
static int check_distinct(Parser *p, const Grid *g, int first_arm) {
    int r = g->nruns;
    const GridRun **sorted = malloc((size_t)r * sizeof *sorted);
    if (!sorted) return fail(p, 0, "out of memory");
    for (int i = 0; i < r; i++) sorted[i] = &g->runs[i];
    qsort(sorted, (size_t)r, sizeof *sorted, cmp_run_id);
    int rc = 0;
    for (int i = 1; i < r && !rc; i++) {
        if (strcmp(sorted[i - 1]->run_id, sorted[i]->run_id) != 0) continue;
        const GridRun *x = sorted[i - 1], *y = sorted[i]; /* x comes first in the grid */
        int line = 0;
        for (int a = first_arm; a < p->ns; a++)
            if (strcmp(arm_name(p, a), y->arm) == 0) line = p->s[a].line;
        rc = fail(p, line,
                  "arm '%s' cell %d and arm '%s' cell %d have the same run_id %s (seed %llu): "
                  "their configs differ only in keys outside the run identity (e.g. threads), in keys "
                  "without effect in that run (lambda, k, ld, jepa_metric, jepa_pass under loss=ntp), "
                  "in init paths to the same checkpoint files, or not at all; expected every cell to differ "
                  "in a key that changes the run",
                  y->arm, y->cell, x->arm, x->cell, y->run_id, (unsigned long long)y->cfg.seed);
    }
    free(sorted);
    return rc;
}

/* Expand every arm into g->runs (cells in arm order, each cell's seeds together). */
static int expand(Parser *p, Grid *g) {
    int first_arm = p->ns > 1 ? 1 : 0; /* no sections: the top section is arm "main" */
    long long total;
    if (count_runs(p, first_arm, &total)) return -1;
    g->runs = calloc((size_t)total, sizeof *g->runs);
    if (!g->runs) return fail(p, 0, "out of memory for %lld runs", total);
    int cell = 0, r = 0;
    for (int a = first_arm; a < p->ns; a++)
        if (expand_arm(p, g, a, &cell, &r)) return -1;
    g->nruns = r;
    g->ncells = cell;
    return check_distinct(p, g, first_arm);
}

/* The '#' that starts the comment of line s (outside double quotes), or NULL. */
static char *comment_start(char *s) {
    int quoted = 0;
    for (; *s; s++) {
        if (*s == '"') quoted = !quoted;
        else if (*s == '#' && !quoted) return s;
    }
    return NULL;
}

/* The grid name of a file name: its basename without a trailing ".grid"
 * (which may leave it empty: ".grid"). A name too long for out is cut to
 * "" (refused). */
static void name_from_path(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t l = strlen(b);
    if (l >= 5 && strcmp(b + l - 5, ".grid") == 0) l -= 5;
    if (l >= n) l = 0;
    memcpy(out, b, l);
    out[l] = 0;
}

int grid_name_ok(const char *name) {
    size_t l = strlen(name);
    if (l == 0 || l >= sizeof ((Grid *)0)->name || name[0] == '.' || strstr(name, "..")) return 0;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') return 0;
    return 1;
}

int grid_parse_text(const char *text, const char *filename, const char *name, Grid *g, char *err,
                    size_t errn) {
    memset(g, 0, sizeof *g);
    Parser p = {.file = filename ? filename : "<grid>", .err = err, .errn = errn};
    if (strlen(p.file) >= sizeof g->path) return fail(&p, 0, "file name too long");
    snprintf(g->path, sizeof g->path, "%s", p.file);
    if (name) {
        snprintf(g->name, sizeof g->name, "%s", strlen(name) < sizeof g->name ? name : "");
    } else {
        name_from_path(p.file, g->name, sizeof g->name);
    }
    if (!grid_name_ok(g->name))
        return fail(&p, 0,
                    "bad grid name '%s'%s%s%s: its results go to results/NAME/, so NAME must be 1 to %zu letters, "
                    "digits, '_', '-' or '.', not start with '.' and not contain \"..\" (e.g. fig3.grid)",
                    name ? name : g->name, name ? "" : " (from the file name '", name ? "" : p.file, name ? "" : "')",
                    sizeof g->name - 1);

    if (!add_scope(&p, "", 0)) return fail(&p, 0, "out of memory");
    char *buf = strdup(text ? text : "");
    if (!buf) {
        free_scopes(&p);
        return fail(&p, 0, "out of memory");
    }
    char *s = buf;
    if ((unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
        s += 3; /* UTF-8 byte order mark */
    int line = 0, nkeys = 0, rc = 0;
    while (*s) {
        line++;
        char *nl = strchr(s, '\n');
        char *next = nl ? nl + 1 : s + strlen(s);
        if (nl) *nl = 0;
        char *hash = comment_start(s);
        if (hash) *hash = 0;
        char *t = trim(s);
        if (*t == '[') rc = section_line(&p, t, line);
        else if (*t) {
            rc = key_line(&p, t, line);
            nkeys++;
            if (p.s[0].line == 0 && p.ns == 1) p.s[0].line = line; /* "main" points at its first key */
        }
        if (rc) break;
        s = next;
    }
    free(buf);
    if (!rc && nkeys == 0 && p.ns == 1)
        rc = fail(&p, 0, "empty grid: expected 'key = value' lines and/or '[arm]' sections");
    if (!rc) rc = expand(&p, g);
    free_scopes(&p);
    if (rc) grid_free(g);
    return rc;
}

int grid_parse_file(const char *path, Grid *g, char *err, size_t errn) {
    memset(g, 0, sizeof *g);
    Parser p = {.file = path, .err = err, .errn = errn};
    FILE *f = fopen(path, "rb");
    if (!f) return fail(&p, 0, "cannot open grid file: %s", strerror(errno));
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    int rerr = 0;
    while (text) {
        if (len + 1 == cap) {
            char *nt = realloc(text, cap * 2);
            if (!nt) {
                free(text);
                text = NULL;
                break;
            }
            text = nt;
            cap *= 2;
        }
        size_t got = fread(text + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) rerr = errno ? errno : EIO;
            break;
        }
    }
    fclose(f);
    if (!text) return fail(&p, 0, "out of memory reading the grid file");
    if (rerr) {
        free(text);
        return fail(&p, 0, "cannot read grid file: %s", strerror(rerr));
    }
    text[len] = 0;
    if (memchr(text, 0, len)) {
        free(text);
        return fail(&p, 0, "not a text file (contains a NUL byte): expected 'key = value' lines");
    }
    int rc = grid_parse_text(text, path, NULL, g, err, errn);
    free(text);
    return rc;
}

void grid_free(Grid *g) {
    if (!g) return;
    free(g->runs);
    hash_cache_free(&g->hashes);
    memset(g, 0, sizeof *g);
}
