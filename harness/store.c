/* The results store: runs.csv append under a lock, and a tolerant reader.
 * See store.h. */
#define _GNU_SOURCE /* O_CLOEXEC, flock, pread, fsync, strdup */
#include "errmsg.h"
#include "fsutil.h"
#include "store.h"
#include "csvline.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "probe.h"
#include "rowfmt.h"
#include "task.h"

/* After status come the metric columns acc_<name> of every metric of the task
 * table (task_metrics), then these. */
static const char *const RESULT_COLS[] = {
    "status",      "ntp_loss",       "jepa_dist",
    "steps",       "train_s",      "eval_s",         "train_tok_s",    "ntp_step_ms",
    "jepa_step_ms", "jepa_ntp_ratio", "git_commit",  "git_dirty",      "build_type",
    "host",        "threads_used", "start_time",     "end_time",       "train_sha256",
    "test_sha256", "init_sha256",  "peak_rss_mb",    "params",         "trainable_params",
    "compiler",    "compiler_flags", "cpu_model",    "blas",           "blas_core",
    "engine_version", "command_line", "error",
};
#define NRESULT ((int)(sizeof RESULT_COLS / sizeof RESULT_COLS[0]))
#define MAXCOLS 256

static const char *cols_tab[MAXCOLS];
static int cols_n;
static char metric_cols[32][40];


int store_columns(const char *const **names) {
    if (cols_n == 0) {
        int ns, n = 0;
        const CfgKey *s = config_schema(&ns);
        cols_tab[n++] = "run_id";
        cols_tab[n++] = "grid";
        cols_tab[n++] = "arm";
        for (int i = 0; i < ns && n < MAXCOLS - NRESULT - 32 - PROBE_CSV_COLUMNS; i++) cols_tab[n++] = s[i].name;
        const Metric *mt;
        int nm = task_metrics(&mt);
        cols_tab[n++] = RESULT_COLS[0];
        for (int i = 0; i < nm && i < 32; i++) {
            snprintf(metric_cols[i], sizeof metric_cols[i], "acc_%s", mt[i].name);
            cols_tab[n++] = metric_cols[i];
        }
        for (int i = 1; i < NRESULT; i++) cols_tab[n++] = RESULT_COLS[i];
        for (int i = 0; i < PROBE_CSV_COLUMNS; i++) cols_tab[n++] = probe_csv_columns[i];
        cols_n = n;
    }
    if (names) *names = cols_tab;
    return cols_n;
}

int store_column_index(const char *name) {
    const char *const *c;
    int n = store_columns(&c);
    for (int i = 0; i < n; i++)
        if (strcmp(c[i], name) == 0) return i;
    return -1;
}

/* ---- writing ---- */

/* Append field v (CR/LF turned into spaces) to buf at *len, quoted with
 * libcsv when it needs quoting. buf must have room for 2*strlen(v)+3. */
static void put_field(char *buf, size_t *len, const char *v) {
    size_t l = strlen(v);
    int quote = l > 0 && (v[0] == ' ' || v[0] == '\t' || v[l - 1] == ' ' || v[l - 1] == '\t');
    for (size_t i = 0; i < l && !quote; i++)
        if (v[i] == ',' || v[i] == '"') quote = 1;
    if (!quote) {
        for (size_t i = 0; i < l; i++) buf[(*len)++] = (v[i] == '\n' || v[i] == '\r') ? ' ' : v[i];
        return;
    }
    /* sanitise a copy, then let libcsv quote it */
    char *c = malloc(l + 1);
    if (c) {
        for (size_t i = 0; i < l; i++) c[i] = (v[i] == '\n' || v[i] == '\r') ? ' ' : v[i];
        *len += csv_write(buf + *len, 2 * l + 2, c, l);
        free(c);
    } else { /* no memory: write it unquoted with the troublemakers blanked */
        for (size_t i = 0; i < l; i++)
            buf[(*len)++] = (v[i] == '\n' || v[i] == '\r' || v[i] == ',' || v[i] == '"') ? ' ' : v[i];
    }
}

/* Build one CSV line (ending in '\n') of n fields. Returns malloc'd text. */
static char *make_line(const char *const *v, int n, size_t *outlen) {
    size_t cap = 2;
    for (int i = 0; i < n; i++) cap += 2 * strlen(v[i] ? v[i] : "") + 3;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        if (i) buf[len++] = ',';
        put_field(buf, &len, v[i] ? v[i] : "");
    }
    buf[len++] = '\n';
    buf[len] = 0;
    *outlen = len;
    return buf;
}

/* mkdir -p of the directory part of path. */
static int make_parents(const char *path, char *err, size_t errn) {
    char *p = strdup(path);
    if (!p) return errf(err, errn, "out of memory");
    char *slash = strrchr(p, '/');
    int rc = 0;
    if (slash && slash != p) {
        *slash = 0;
        if (mkdir_p(p)) rc = errf(err, errn, "cannot create directory %s: %s", p, strerror(errno));
    }
    free(p);
    return rc;
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* ---- older headers ---- */

/* How a file's header maps onto the current columns (store.h "Older
 * headers"). */
typedef struct {
    int *src;       /* per current column: its index in the file's header, or -1 (filled) */
    int *extra;     /* the file's columns that the current ones lack, in file order */
    int nextra;
    int nfilled;    /* current columns the file lacks */
    int appendable; /* the header is the current columns followed by the extras */
} Layout;

static void layout_free(Layout *l) {
    free(l->src);
    free(l->extra);
    memset(l, 0, sizeof *l);
}

/* Whether current column col may be missing from an older file: a config key
 * with a neutral value, or a result column other than status. */
static int fillable(const char *col) {
    const CfgKey *k = config_key(col);
    if (k) return k->neutral != NULL;
    for (int i = 0; i < NRESULT; i++)
        if (!strcmp(col, RESULT_COLS[i])) return strcmp(col, "status") != 0;
    for (int i = 0; i < PROBE_CSV_COLUMNS; i++)
        if (!strcmp(col, probe_csv_columns[i])) return 1;
    if (!strncmp(col, "acc_", 4) && task_metric_index(col + 4) >= 0) return 1; /* a metric added since */
    return 0; /* run_id, grid, arm */
}

/* The value of a column an older file lacks: the key's neutral value as
 * config_get prints it, or "" for a result column. */
static const char *fill_value(const char *col, char *buf, size_t n) {
    const CfgKey *k = config_key(col);
    if (!k || config_neutral_text(k, buf, n)) buf[0] = 0;
    return buf;
}

/* Message for a header that is not an older one of runs.csv: the first
 * column it lacks and cannot be filled, and the names it has extra. */
static int layout_refusal(char *const *hdr, const Layout *l, int missing, char *why, size_t whyn) {
    const char *const *cols;
    store_columns(&cols);
    int w = snprintf(why, whyn, "it lacks the column '%s'", cols[missing]);
    for (int e = 0; e < l->nextra && w > 0 && (size_t)w < whyn; e++)
        w += snprintf(why + w, whyn - (size_t)w, "%s'%s'", e ? ", " : " and has columns the current ones lack: ",
                      hdr[l->extra[e]]);
    return -1;
}

/* Map header hdr (nh names) onto the current columns into l. Returns 0, or
 * -1 with why (size whyn) when hdr is not the header of this or an older
 * runs.csv (a column that no older file lacks is missing, or a name appears
 * twice), or out of memory; l is then freed. */
static int layout_of(char *const *hdr, int nh, Layout *l, char *why, size_t whyn) {
    const char *const *cols;
    int nc = store_columns(&cols), missing = -1, rc = 0;
    memset(l, 0, sizeof *l);
    l->src = malloc((size_t)nc * sizeof *l->src);
    l->extra = malloc((size_t)(nh ? nh : 1) * sizeof *l->extra);
    char *used = calloc((size_t)(nh ? nh : 1), 1);
    if (!l->src || !l->extra || !used) {
        free(used);
        layout_free(l);
        return errf(why, whyn, "out of memory");
    }
    for (int i = 0; i < nh && !rc; i++)
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp(hdr[i], hdr[j])) rc = errf(why, whyn, "its column '%s' appears twice", hdr[i]);
    l->appendable = 1;
    for (int c = 0; c < nc; c++) {
        l->src[c] = -1;
        for (int i = 0; i < nh && l->src[c] < 0; i++)
            if (!strcmp(hdr[i], cols[c])) l->src[c] = i;
        if (l->src[c] >= 0) used[l->src[c]] = 1;
        else if (!fillable(cols[c]) && missing < 0) missing = c;
        l->nfilled += l->src[c] < 0;
        l->appendable &= l->src[c] == c;
    }
    for (int i = 0; i < nh; i++)
        if (!used[i]) l->extra[l->nextra++] = i;
    free(used);
    if (!rc && missing >= 0) rc = layout_refusal(hdr, l, missing, why, whyn);
    if (rc) layout_free(l);
    return rc;
}

/* The fields of one row of an older file (nfile strings in f, in the
 * file's order) in the current layout: the current columns, then the
 * extras. Takes the strings of f and frees f. Returns the new row, or NULL
 * when out of memory (everything freed). */
static char **relayout_row(char **f, int nfile, const Layout *l) {
    const char *const *cols;
    int nc = store_columns(&cols), oom = 0;
    char **row = calloc((size_t)(nc + l->nextra), sizeof *row);
    for (int c = 0; row && c < nc; c++) {
        char buf[CFG_PATH_MAX];
        if (l->src[c] >= 0) {
            row[c] = f[l->src[c]];
            f[l->src[c]] = NULL;
        } else if (!(row[c] = strdup(fill_value(cols[c], buf, sizeof buf)))) {
            oom = 1;
        }
    }
    for (int e = 0; row && e < l->nextra; e++) {
        row[nc + e] = f[l->extra[e]];
        f[l->extra[e]] = NULL;
    }
    for (int i = 0; i < nfile; i++) free(f[i]); /* none left unless out of memory */
    free(f);
    if (row && oom) {
        for (int i = 0; i < nc + l->nextra; i++) free(row[i]);
        free(row);
        row = NULL;
    }
    return row;
}

/* The header names of the current layout for a file with layout l and
 * header hdr (malloc'd copies). NULL when out of memory. */
static char **relayout_header(char *const *hdr, const Layout *l) {
    const char *const *cols;
    int nc = store_columns(&cols), oom = 0;
    char **h = calloc((size_t)(nc + l->nextra), sizeof *h);
    for (int i = 0; h && i < nc + l->nextra; i++)
        oom |= !(h[i] = strdup(i < nc ? cols[i] : hdr[l->extra[i - nc]]));
    if (h && oom) {
        for (int i = 0; i < nc + l->nextra; i++) free(h[i]);
        free(h);
        h = NULL;
    }
    return h;
}

/* ---- appending ---- */

/* Read and parse the first line of the file open at fd into fs. Sets
 * *complete to whether the file holds a complete first line (when not, fs is
 * empty). Returns 0, or -1 with err: read error, out of memory, or a first
 * line that is not one CSV record. */
static int read_header(int fd, const char *csv_path, Fields *fs, int *complete, char *err, size_t errn) {
    size_t cap = 4096, got = 0;
    char *h = malloc(cap), *nl = NULL;
    memset(fs, 0, sizeof *fs);
    *complete = 0;
    while (h) {
        ssize_t r = pread(fd, h + got, cap - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            free(h);
            return errf(err, errn, "cannot read %s: %s", csv_path, strerror(errno));
        }
        nl = memchr(h + got, '\n', (size_t)r);
        got += (size_t)r;
        if (nl || r == 0) break;
        if (got == cap) {
            char *nh = realloc(h, cap * 2);
            if (!nh) free(h);
            h = nh;
            cap *= 2;
        }
    }
    if (!h) return errf(err, errn, "out of memory");
    int rc = 0;
    if (nl) {
        size_t l = (size_t)(nl - h);
        if (l > 0 && h[l - 1] == '\r') l--;
        *complete = 1;
        if (parse_line(h, l, fs) != 0 || fs->n == 0) {
            fields_free(fs);
            rc = errf(err, errn, "%s: cannot parse its header line; nothing appended: move the file aside or use "
                      "another grid name", csv_path);
        }
    }
    free(h);
    return rc;
}

/* fsync the directory holding path (so a rename in it is durable). */
static int sync_parent(const char *path) {
    char *d = strdup(path);
    if (!d) return -1;
    char *slash = strrchr(d, '/');
    if (slash) *(slash == d ? slash + 1 : slash) = 0;
    int fd = open(slash ? d : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    free(d);
    return rc;
}

/* Copy file from to a new file to (for a .bak when a hard link is refused). */
static int copy_file(const char *from, const char *to) {
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    if (in >= 0) out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    char buf[1 << 16];
    ssize_t r = 0;
    if (out >= 0) {
        while ((r = read(in, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
            if (r > 0 && write_all(out, buf, (size_t)r)) break;
        rc = r == 0 && fsync(out) == 0 ? 0 : -1;
    }
    if (in >= 0) close(in);
    if (out >= 0 && close(out)) rc = -1;
    return rc;
}

/* Keep the file at csv_path as csv_path.v<N>.bak, N the first unused from 1
 * (a hard link, else a copy). The name used goes into bak. */
static int keep_backup(const char *csv_path, char *bak, size_t bakn, char *err, size_t errn) {
    for (int v = 1; v < 10000; v++) {
        snprintf(bak, bakn, "%s.v%d.bak", csv_path, v);
        if (access(bak, F_OK) == 0) continue;
        if (link(csv_path, bak) == 0 || copy_file(csv_path, bak) == 0) return 0;
        return errf(err, errn, "cannot keep a copy of %s as %s: %s", csv_path, bak, strerror(errno));
    }
    return errf(err, errn, "cannot keep a copy of %s: 9999 backups exist", csv_path);
}

/* Write table t (header, then rows, CSV) to a new file at path; fsync. */
static int write_table(const char *path, const Table *t, char *err, size_t errn) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666), rc = 0;
    if (fd < 0) return errf(err, errn, "cannot create %s: %s", path, strerror(errno));
    for (int r = -1; r < t->nrows && rc == 0; r++) {
        size_t len;
        char *line = make_line((const char *const *)(r < 0 ? t->cols : t->rows[r]), t->ncols, &len);
        if (!line) rc = errf(err, errn, "out of memory");
        else if (write_all(fd, line, len)) rc = errf(err, errn, "cannot write %s: %s", path, strerror(errno));
        free(line);
    }
    if (rc == 0 && fsync(fd)) rc = errf(err, errn, "cannot fsync %s: %s", path, strerror(errno));
    if (close(fd) && rc == 0) rc = errf(err, errn, "cannot write %s: %s", path, strerror(errno));
    return rc;
}

/* Rewrite the older-header file at csv_path with the current columns (the
 * lock held): read it (store_read fills the columns it lacks), write it to
 * a temporary file beside it, keep the original as .v<N>.bak, rename the new
 * file over it. */
static int migrate(const char *csv_path, char *err, size_t errn) {
    Table t;
    if (store_read(csv_path, &t, err, errn)) return -1;
    size_t n = strlen(csv_path) + 32;
    char *tmp = malloc(n), bak[1200];
    int rc = tmp ? 0 : errf(err, errn, "out of memory");
    if (tmp) snprintf(tmp, n, "%s.migrate.%ld", csv_path, (long)getpid());
    if (rc == 0) rc = write_table(tmp, &t, err, errn);
    if (rc == 0) rc = keep_backup(csv_path, bak, sizeof bak, err, errn);
    if (rc == 0 && rename(tmp, csv_path))
        rc = errf(err, errn, "cannot rename %s to %s: %s", tmp, csv_path, strerror(errno));
    if (rc == 0) sync_parent(csv_path);
    if (rc && tmp) unlink(tmp);
    free(tmp);
    table_free(&t);
    return rc;
}

/* The text appended for one row: a '\n' first when newline (a killed
 * writer's partial line), the header when header, then the n values and
 * nextra empty fields. NULL when out of memory. */
static char *build_append(const char *const *values, int n, int nextra, int header, int newline, size_t *len) {
    const char *const *cols;
    int nc = store_columns(&cols);
    const char **v = calloc((size_t)(n + nextra), sizeof *v);
    size_t hlen = 0, rlen = 0;
    char *h = header ? make_line(cols, nc, &hlen) : NULL, *row = NULL, *out = NULL;
    if (v) {
        memcpy(v, values, (size_t)n * sizeof *v);
        row = make_line(v, n + nextra, &rlen);
    }
    if (row && (h || !header) && (out = malloc(hlen + rlen + 2))) {
        *len = 0;
        if (newline) out[(*len)++] = '\n';
        if (h) memcpy(out + *len, h, hlen);
        *len += hlen;
        memcpy(out + *len, row, rlen + 1);
        *len += rlen;
    }
    free(v);
    free(h);
    free(row);
    return out;
}

/* With the lock held: open the CSV, check its header, append the row (n
 * values, padded with empty extra columns). An older header is migrated
 * instead and *again is set: the caller calls again to append to the new
 * file. */
static int append_locked(const char *csv_path, const char *const *values, int n, int *again, char *err,
                         size_t errn) {
    *again = 0;
    int fd = open(csv_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666), rc = -1, complete = 0;
    if (fd < 0) return errf(err, errn, "cannot open %s: %s", csv_path, strerror(errno));
    Fields hdr = {0};
    Layout l = {0};
    char *line = NULL;
    size_t len = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        errf(err, errn, "cannot stat %s: %s", csv_path, strerror(errno));
        goto done;
    }
    if (st.st_size > 0 && read_header(fd, csv_path, &hdr, &complete, err, errn)) goto done;
    if (st.st_size > 0 && !complete && ftruncate(fd, 0) != 0) {
        /* no complete line: a writer killed while creating the file; start it again */
        errf(err, errn, "cannot truncate %s: %s", csv_path, strerror(errno));
        goto done;
    }
    char why[600];
    if (complete && layout_of(hdr.f, hdr.n, &l, why, sizeof why)) {
        errf(err, errn, "%s: its header is not that of this or an older version of runs.csv (%s); nothing "
             "appended: move the file aside or use another grid name", csv_path, why);
        goto done;
    }
    if (complete && !l.appendable) {
        close(fd);
        fd = -1;
        if ((rc = migrate(csv_path, err, errn)) == 0) *again = 1;
        goto done;
    }
    char last = '\n';
    ssize_t r = 0;
    if (complete)
        do r = pread(fd, &last, 1, st.st_size - 1);
        while (r < 0 && errno == EINTR);
    if (r < 0) {
        errf(err, errn, "cannot read %s: %s", csv_path, strerror(errno));
        goto done;
    }
    line = build_append(values, n, complete ? l.nextra : 0, !complete, last != '\n', &len);
    if (!line) errf(err, errn, "out of memory");
    else if (write_all(fd, line, len)) errf(err, errn, "cannot write %s: %s", csv_path, strerror(errno));
    else if (fsync(fd)) errf(err, errn, "cannot fsync %s: %s", csv_path, strerror(errno));
    else rc = 0;
done:
    free(line);
    layout_free(&l);
    fields_free(&hdr);
    if (fd >= 0) close(fd);
    return rc;
}

int store_append(const char *csv_path, const char *const *values, int n, char *err, size_t errn) {
    int ncols = store_columns(NULL);
    if (n != ncols) return errf(err, errn, "store_append: %d values for %d columns", n, ncols);
    if (make_parents(csv_path, err, errn) != 0) return -1;
    size_t lockn = strlen(csv_path) + 6;
    char *lockpath = malloc(lockn);
    if (!lockpath) return errf(err, errn, "out of memory");
    snprintf(lockpath, lockn, "%s.lock", csv_path);
    int rc = -1, again = 0, lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lockfd < 0) errf(err, errn, "cannot open lock file %s: %s", lockpath, strerror(errno));
    int locked = lockfd >= 0;
    while (locked && flock(lockfd, LOCK_EX) != 0)
        if (errno != EINTR) {
            errf(err, errn, "cannot lock %s: %s", lockpath, strerror(errno));
            locked = 0;
        }
    for (int pass = 0; locked && pass < 2; pass++) { /* pass 1 appends after a migration */
        rc = append_locked(csv_path, values, n, &again, err, errn);
        if (rc || !again) break;
        rc = errf(err, errn, "%s: still an older header after migrating it", csv_path);
    }
    if (lockfd >= 0) close(lockfd); /* releases the flock */
    free(lockpath);
    return rc;
}

/* ---- reading ---- */

void table_free(Table *t) {
    if (!t) return;
    for (int i = 0; i < t->ncols; i++) free(t->cols[i]);
    free(t->cols);
    for (int r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++) free(t->rows[r][i]);
        free(t->rows[r]);
    }
    free(t->rows);
    memset(t, 0, sizeof *t);
}

static int blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

/* The whole file at path into *buf (malloc'd), its length into *len. A
 * missing file gives *buf = NULL and returns 0. */
static int slurp(const char *path, char **buf, size_t *len, char *err, size_t errn) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : errf(err, errn, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16;
    char *b = malloc(cap);
    int rerr = 0;
    while (b) {
        if (*len == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) free(b);
            b = nb;
            cap *= 2;
            if (!b) break;
        }
        size_t got = fread(b + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0) {
            if (ferror(f)) rerr = errno ? errno : EIO;
            break;
        }
    }
    fclose(f);
    if (!b) return errf(err, errn, "out of memory reading %s", path);
    if (rerr) {
        free(b);
        return errf(err, errn, "cannot read %s: %s", path, strerror(rerr));
    }
    *buf = b;
    return 0;
}

/* Take header fs as t's columns; for an older header of runs.csv, set up l
 * (l->src != NULL) and give t the current layout. *runs_csv: whether it is the
 * header of this or an older runs.csv. */
static int take_header(Table *t, Fields *fs, Layout *l, int *nfile, int *runs_csv) {
    char why[600];
    *nfile = fs->n;
    *runs_csv = layout_of(fs->f, fs->n, l, why, sizeof why) == 0;
    if (!*runs_csv || l->appendable) {
        layout_free(l); /* not runs.csv (read as it is), or the current layout */
        t->cols = fs->f;
        t->ncols = fs->n;
        return 0;
    }
    char **h = relayout_header(fs->f, l);
    if (!h) return -1;
    t->ncols = store_columns(NULL) + l->nextra;
    t->cols = h;
    t->filled = l->nfilled;
    fields_free(fs);
    return 0;
}

static int add_row(Table *t, int *rowcap, char **row) {
    if (t->nrows == *rowcap) {
        int nc = *rowcap ? *rowcap * 2 : 64;
        char ***nr = realloc(t->rows, (size_t)nc * sizeof *nr);
        if (!nr) return -1;
        t->rows = nr;
        *rowcap = nc;
    }
    t->rows[t->nrows++] = row;
    return 0;
}

int store_read(const char *csv_path, Table *t, char *err, size_t errn) {
    memset(t, 0, sizeof *t);
    char *buf;
    size_t len, pos = 0;
    if (slurp(csv_path, &buf, &len, err, errn)) return -1;
    int rowcap = 0, rc = 0, nfile = 0, runs_csv = 0;
    Layout l = {0};
    RowFmtPlan plan = {0}; /* runs.csv: its config values in one spelling (rowfmt.h) */
    while (buf && pos < len) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) { /* a last line without its newline: a killed writer */
            if (!blank(buf + pos, len - pos)) t->skipped++;
            break;
        }
        size_t ll = (size_t)(nl - (buf + pos));
        const char *line = buf + pos;
        pos += ll + 1;
        if (ll > 0 && line[ll - 1] == '\r') ll--;
        if (blank(line, ll)) continue;
        Fields fs;
        int bad = parse_line(line, ll, &fs);
        if (fs.oom) {
            fields_free(&fs);
            rc = errf(err, errn, "out of memory reading %s", csv_path);
            break;
        }
        if (t->cols == NULL) { /* the header */
            if (bad || fs.n == 0) {
                fields_free(&fs);
                rc = errf(err, errn, "%s: cannot parse its header line", csv_path);
                break;
            }
            if (take_header(t, &fs, &l, &nfile, &runs_csv)) {
                fields_free(&fs);
                rc = errf(err, errn, "out of memory reading %s", csv_path);
                break;
            }
            if (runs_csv && rowfmt_plan(&plan, (const char *const *)t->cols, t->ncols)) {
                rc = errf(err, errn, "out of memory reading %s", csv_path);
                break;
            }
            continue;
        }
        if (bad || fs.n != nfile) {
            fields_free(&fs);
            t->skipped++;
            continue;
        }
        char **row = l.src ? relayout_row(fs.f, fs.n, &l) : fs.f; /* fs.cap >= ncols; the row owns the fields */
        if (!row || (runs_csv && rowfmt_row(&plan, row)) || add_row(t, &rowcap, row)) {
            if (row) {
                for (int i = 0; i < t->ncols; i++) free(row[i]);
                free(row);
            }
            rc = errf(err, errn, "out of memory reading %s", csv_path);
            break;
        }
    }
    free(buf);
    layout_free(&l);
    rowfmt_plan_free(&plan);
    if (rc) table_free(t);
    return rc;
}

int table_col(const Table *t, const char *col) {
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i], col) == 0) return i;
    return -1;
}

const char *table_get(const Table *t, int row, const char *col) {
    int c = table_col(t, col);
    if (c < 0 || row < 0 || row >= t->nrows) return NULL;
    return t->rows[row][c];
}

int store_last_row(const Table *t, const char *run_id) {
    int ci = table_col(t, "run_id");
    for (int r = t->nrows - 1; ci >= 0 && r >= 0; r--)
        if (strcmp(t->rows[r][ci], run_id) == 0) return r;
    return -1;
}

int store_status_of(const Table *t, const char *run_id, char *status, size_t n) {
    if (n) status[0] = 0;
    int r = store_last_row(t, run_id), cs = table_col(t, "status");
    if (r < 0) return 0;
    if (n) snprintf(status, n, "%s", cs >= 0 ? t->rows[r][cs] : "");
    return 1;
}

char **store_row_values(const Table *t, int row) {
    const char *const *cols;
    int n = store_columns(&cols);
    if (row < 0 || row >= t->nrows) return NULL;
    char **v = calloc((size_t)n + 1, sizeof *v); /* NULL-terminated for store_values_free */
    if (!v) return NULL;
    for (int i = 0; i < n; i++) {
        const char *x = table_get(t, row, cols[i]);
        if (!(v[i] = strdup(x ? x : ""))) {
            store_values_free(v);
            return NULL;
        }
    }
    return v;
}

void store_values_free(char **v) {
    for (int i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}
