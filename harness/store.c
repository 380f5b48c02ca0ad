/* The results store: runs.csv append under a lock, and a tolerant reader.
 * See store.h. */
#define _GNU_SOURCE /* O_CLOEXEC, flock, pread, fsync, strdup */
#include "errmsg.h"
#include "fsutil.h"
#include "store.h"

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

static const char *const RESULT_COLS[] = {
    "status",      "acc_exact",    "acc_startswith", "ntp_loss",       "jepa_dist",
    "steps",       "train_s",      "eval_s",         "train_tok_s",    "ntp_step_ms",
    "jepa_step_ms", "jepa_ntp_ratio", "git_commit",  "git_dirty",      "build_type",
    "host",        "threads_used", "start_time",     "end_time",
};
#define NRESULT ((int)(sizeof RESULT_COLS / sizeof RESULT_COLS[0]))
#define MAXCOLS 256

static const char *cols_tab[MAXCOLS];
static int cols_n;


int store_columns(const char *const **names) {
    if (cols_n == 0) {
        int ns, n = 0;
        const CfgKey *s = config_schema(&ns);
        cols_tab[n++] = "run_id";
        cols_tab[n++] = "grid";
        cols_tab[n++] = "arm";
        for (int i = 0; i < ns && n < MAXCOLS - NRESULT; i++) cols_tab[n++] = s[i].name;
        for (int i = 0; i < NRESULT; i++) cols_tab[n++] = RESULT_COLS[i];
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

/* Fields of one line, filled by the libcsv callbacks. */
typedef struct {
    char **f;
    int n, cap;
    int records;
    int oom;
} Fields;

static void on_field(void *s, size_t len, void *data) {
    Fields *fs = data;
    if (fs->oom) return;
    if (fs->n == fs->cap) {
        int nc = fs->cap ? fs->cap * 2 : 64;
        char **nf = realloc(fs->f, (size_t)nc * sizeof *nf);
        if (!nf) {
            fs->oom = 1;
            return;
        }
        fs->f = nf;
        fs->cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c) {
        fs->oom = 1;
        return;
    }
    if (len) memcpy(c, s, len);
    c[len] = 0;
    fs->f[fs->n++] = c;
}

static void on_record(int c, void *data) {
    (void)c;
    ((Fields *)data)->records++;
}

static void fields_free(Fields *fs) {
    for (int i = 0; i < fs->n; i++) free(fs->f[i]);
    free(fs->f);
    memset(fs, 0, sizeof *fs);
}

static int no_space(unsigned char c) {
    (void)c;
    return 0;
}

static int no_term(unsigned char c) {
    (void)c;
    return 0;
}

/* Parse one physical line (no '\n') into fs. Returns 0 when it is exactly
 * one well-formed record, -1 otherwise (fs then holds what was parsed). */
static int parse_line(const char *line, size_t len, Fields *fs) {
    memset(fs, 0, sizeof *fs);
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) return -1;
    csv_set_space_func(&p, no_space);
    csv_set_term_func(&p, no_term);
    int rc = 0;
    if (csv_parse(&p, line, len, on_field, on_record, fs) != len) rc = -1;
    if (csv_fini(&p, on_field, on_record, fs) != 0) rc = -1;
    csv_free(&p);
    if (fs->oom || fs->records != 1) rc = -1;
    return rc;
}

int store_append(const char *csv_path, const char *const *values, int n, char *err, size_t errn) {
    const char *const *cols;
    int ncols = store_columns(&cols);
    if (n != ncols)
        return errf(err, errn, "store_append: %d values for %d columns", n, ncols);
    size_t hlen, rlen;
    char *header = make_line(cols, ncols, &hlen);
    char *row = make_line(values, n, &rlen);
    /* room for a leading '\n' before the row */
    char *out = malloc(hlen + rlen + 2);
    size_t lockn = strlen(csv_path) + 6;
    char *lockpath = malloc(lockn);
    int lockfd = -1, fd = -1, rc = -1;
    if (!header || !row || !out || !lockpath) {
        errf(err, errn, "out of memory");
        goto done;
    }
    snprintf(lockpath, lockn, "%s.lock", csv_path);
    if (make_parents(csv_path, err, errn) != 0) goto done;
    lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lockfd < 0) {
        errf(err, errn, "cannot open lock file %s: %s", lockpath, strerror(errno));
        goto done;
    }
    while (flock(lockfd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        errf(err, errn, "cannot lock %s: %s", lockpath, strerror(errno));
        goto done;
    }
    fd = open(csv_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        errf(err, errn, "cannot open %s: %s", csv_path, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        errf(err, errn, "cannot stat %s: %s", csv_path, strerror(errno));
        goto done;
    }
    size_t olen = 0;
    int fresh = st.st_size == 0;
    if (!fresh) {
        /* read the header line */
        size_t cap = 4096, got = 0;
        char *h = malloc(cap);
        char *nl = NULL;
        while (h) {
            ssize_t r = pread(fd, h + got, cap - got, (off_t)got);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                errf(err, errn, "cannot read %s: %s", csv_path, strerror(errno));
                free(h);
                goto done;
            }
            nl = memchr(h + got, '\n', (size_t)r);
            got += (size_t)r;
            if (nl || r == 0) break;
            if (got == cap) {
                char *nh = realloc(h, cap * 2);
                if (!nh) {
                    free(h);
                    h = NULL;
                    break;
                }
                h = nh;
                cap *= 2;
            }
        }
        if (!h) {
            errf(err, errn, "out of memory");
            goto done;
        }
        if (!nl) {
            /* no complete line at all: a writer was killed while creating the
             * file; nothing in it can be read, so start it again */
            free(h);
            if (ftruncate(fd, 0) != 0) {
                errf(err, errn, "cannot truncate %s: %s", csv_path, strerror(errno));
                goto done;
            }
            fresh = 1;
        } else {
            size_t l = (size_t)(nl - h);
            if (l > 0 && h[l - 1] == '\r') l--;
            Fields fs;
            int bad = parse_line(h, l, &fs) != 0 || fs.n != ncols;
            int diff = -1;
            for (int i = 0; !bad && i < ncols; i++)
                if (strcmp(fs.f[i], cols[i]) != 0) {
                    bad = 1;
                    diff = i;
                }
            if (bad) {
                if (diff >= 0)
                    errf(err, errn,
                         "%s: its header differs from the current columns (column %d is '%s', "
                         "expected '%s'); nothing appended: move the file aside or use another "
                         "grid name",
                         csv_path, diff + 1, fs.f[diff], cols[diff]);
                else
                    errf(err, errn,
                         "%s: its header differs from the current columns (%d columns, expected "
                         "%d); nothing appended: move the file aside or use another grid name",
                         csv_path, fs.n, ncols);
                fields_free(&fs);
                free(h);
                goto done;
            }
            fields_free(&fs);
            free(h);
            char last = '\n';
            ssize_t r;
            do r = pread(fd, &last, 1, st.st_size - 1);
            while (r < 0 && errno == EINTR);
            if (r != 1) {
                errf(err, errn, "cannot read %s: %s", csv_path, r < 0 ? strerror(errno) : "short read");
                goto done;
            }
            if (last != '\n') out[olen++] = '\n'; /* end a killed writer's partial line */
        }
    }
    if (fresh) {
        memcpy(out + olen, header, hlen);
        olen += hlen;
    }
    memcpy(out + olen, row, rlen);
    olen += rlen;
    if (write_all(fd, out, olen) != 0) {
        errf(err, errn, "cannot write %s: %s", csv_path, strerror(errno));
        goto done;
    }
    if (fsync(fd) != 0) {
        errf(err, errn, "cannot fsync %s: %s", csv_path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (fd >= 0) close(fd);
    if (lockfd >= 0) close(lockfd); /* releases the flock */
    free(header);
    free(row);
    free(out);
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

int store_read(const char *csv_path, Table *t, char *err, size_t errn) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(csv_path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        return errf(err, errn, "cannot open %s: %s", csv_path, strerror(errno));
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int rerr = 0;
    while (buf) {
        if (len == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) rerr = errno ? errno : EIO;
            break;
        }
    }
    fclose(f);
    if (!buf) return errf(err, errn, "out of memory reading %s", csv_path);
    if (rerr) {
        free(buf);
        return errf(err, errn, "cannot read %s: %s", csv_path, strerror(rerr));
    }
    int rowcap = 0, rc = 0;
    size_t pos = 0;
    while (pos < len) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) { /* a last line without its newline: a killed writer */
            if (!blank(buf + pos, len - pos)) t->skipped++;
            break;
        }
        size_t l = (size_t)(nl - (buf + pos));
        const char *line = buf + pos;
        pos += l + 1;
        if (l > 0 && line[l - 1] == '\r') l--;
        if (blank(line, l)) continue;
        Fields fs;
        int bad = parse_line(line, l, &fs);
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
            t->cols = fs.f;
            t->ncols = fs.n;
            continue;
        }
        if (bad || fs.n != t->ncols) {
            fields_free(&fs);
            t->skipped++;
            continue;
        }
        if (t->nrows == rowcap) {
            int nc = rowcap ? rowcap * 2 : 64;
            char ***nr = realloc(t->rows, (size_t)nc * sizeof *nr);
            if (!nr) {
                fields_free(&fs);
                rc = errf(err, errn, "out of memory reading %s", csv_path);
                break;
            }
            t->rows = nr;
            rowcap = nc;
        }
        t->rows[t->nrows++] = fs.f; /* fs.cap >= ncols; the row owns the fields */
    }
    free(buf);
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

int store_status_of(const Table *t, const char *run_id, char *status, size_t n) {
    if (n) status[0] = 0;
    int ci = table_col(t, "run_id"), cs = table_col(t, "status");
    if (ci < 0) return 0;
    for (int r = t->nrows - 1; r >= 0; r--)
        if (strcmp(t->rows[r][ci], run_id) == 0) {
            if (n) snprintf(status, n, "%s", cs >= 0 ? t->rows[r][cs] : "");
            return 1;
        }
    return 0;
}
