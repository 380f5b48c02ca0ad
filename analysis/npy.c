/* .npy float32 matrices: see npy.h. Reference: numpy/lib/format.py
 * (_write_array_header, _wrap_header, _read_array_header), numpy 1.24. */
#include "npy.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64        /* numpy.lib.format.ARRAY_ALIGN */
#define NPY_GROWTH_DIGITS 21 /* numpy.lib.format.GROWTH_AXIS_MAX_DIGITS */
#define NPY_CHUNK 4096       /* floats converted per fwrite / fread */
#define NPY_MAX_HEADER 65536 /* larger v2.0 headers are refused (numpy writes ~118 bytes) */

/* ---- writing ---- */

/* The v1.0 prefix and header of a (rows, cols) '<f4' C-order array into buf
 * (at least 256 bytes), byte for byte as numpy's _write_array_header: the
 * dict, spaces for growth of shape[0] up to 21 digits, then spaces and '\n'
 * so that the data offset is a multiple of 64 (at least one space is added:
 * padlen lies in [1, 64]). Returns the data offset. */
static size_t npy_header(unsigned char *buf, int rows, int cols) {
    char dict[160];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    int rlen = snprintf(NULL, 0, "%d", rows);
    size_t hl = (size_t)len + (size_t)(NPY_GROWTH_DIGITS - rlen) + 1; /* + '\n' */
    size_t pad = NPY_ALIGN - (NPY_MAGIC_LEN + 4 + hl) % NPY_ALIGN;
    size_t total = NPY_MAGIC_LEN + 4 + hl + pad;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1, buf[7] = 0;
    buf[8] = (unsigned char)((hl + pad) & 0xff), buf[9] = (unsigned char)((hl + pad) >> 8);
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', total - 11 - (size_t)len);
    buf[total - 1] = '\n';
    return total;
}

/* Write the n floats of x to f as little-endian IEEE binary32. Returns 0 or -1. */
static int write_le_f32(FILE *f, const float *x, size_t n) {
    unsigned char buf[4 * NPY_CHUNK];
    for (size_t i = 0; i < n; i += NPY_CHUNK) {
        size_t m = n - i < NPY_CHUNK ? n - i : NPY_CHUNK;
        for (size_t k = 0; k < m; k++) {
            uint32_t u;
            memcpy(&u, x + i + k, 4);
            for (int b = 0; b < 4; b++) buf[4 * k + b] = (unsigned char)(u >> (8 * b));
        }
        if (fwrite(buf, 4, m, f) != m) return -1;
    }
    return 0;
}

int npy_write_f32(const char *path, const float *x, int rows, int cols, char *err, size_t errn) {
    if (rows < 0 || cols < 0) return errf(err, errn, "%s: negative shape (%d, %d)", path, rows, cols);
    size_t n = (size_t)rows * (size_t)cols;
    if (n && !x) return errf(err, errn, "%s: no data for shape (%d, %d)", path, rows, cols);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return errf(err, errn, "%s: path too long", path);
    unsigned char head[256];
    size_t hl = npy_header(head, rows, cols);
    FILE *f = fopen(tmp, "wb");
    if (!f) return errf(err, errn, "%s: cannot create: %s", tmp, strerror(errno));
    int ok = fwrite(head, 1, hl, f) == hl && !write_le_f32(f, x, n);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return errf(err, errn, "%s: short write or rename failed: %s", path, strerror(e));
    }
    return 0;
}

/* ---- header parsing: a strict reader of the Python dict literal numpy writes ---- */

typedef struct {
    const char *s; /* header text (no NUL inside) */
    size_t n, i;   /* length, cursor */
    const char *path;
    char *err;
    size_t errn;
} Cur;

typedef struct {
    int have_descr, have_fortran, have_shape;
    int ndim;      /* number of dimensions in shape (counted past 2) */
    int shape[2];
} Header;

static void skip_ws(Cur *c) {
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\r' || c->s[c->i] == '\n')) c->i++;
}

/* Consume ch after optional whitespace. Returns 1 when it was there. */
static int eat(Cur *c, char ch) {
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == ch) { c->i++; return 1; }
    return 0;
}

static int fail(Cur *c, const char *what) {
    return errf(c->err, c->errn, "%s: npy header %s at byte %zu of \"%.*s\"", c->path, what, c->i, (int)c->n, c->s);
}

/* A quoted string (single or double quotes, no escapes) into out (outn). */
static int parse_str(Cur *c, char *out, size_t outn) {
    skip_ws(c);
    if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"')) return fail(c, "expected a quoted string");
    char q = c->s[c->i++];
    size_t k = 0;
    while (c->i < c->n && c->s[c->i] != q) {
        if (c->s[c->i] == '\\' || k + 1 >= outn) return fail(c, "string has an escape or is too long");
        out[k++] = c->s[c->i++];
    }
    if (c->i >= c->n) return fail(c, "string not closed");
    c->i++;
    out[k] = 0;
    return 0;
}

/* A non-negative decimal integer that fits an int, into *v. */
static int parse_dim(Cur *c, int *v) {
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == '-') return fail(c, "has a negative shape");
    if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '9') return fail(c, "shape: expected an integer");
    long long x = 0;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
        x = 10 * x + (c->s[c->i++] - '0');
        if (x > INT_MAX) return fail(c, "shape overflows int");
    }
    *v = (int)x;
    return 0;
}

/* A shape tuple: (), (L,), (R, C) or longer (counted), trailing comma optional
 * except for one element (Python's (L) is not a tuple). */
static int parse_shape(Cur *c, Header *h) {
    if (!eat(c, '(')) return fail(c, "shape is not a tuple");
    h->ndim = 0;
    int comma = 0;
    while (!eat(c, ')')) {
        if (h->ndim && !comma) return fail(c, "shape: expected ',' or ')'");
        int v = 0;
        if (parse_dim(c, &v)) return -1;
        if (h->ndim < 2) h->shape[h->ndim] = v;
        if (h->ndim < INT_MAX) h->ndim++;
        comma = eat(c, ',');
    }
    if (h->ndim == 1 && !comma) return fail(c, "shape (L) is not a tuple (expected (L,))");
    return 0;
}

static int parse_descr(Cur *c) {
    char v[64];
    if (parse_str(c, v, sizeof v)) return -1;
    if (strcmp(v, "<f4")) return fail(c, strcmp(v, ">f4") == 0 ? "descr '>f4' is big-endian (expected '<f4')"
                                                               : "descr is not '<f4' (little-endian float32)");
    return 0;
}

static int parse_fortran(Cur *c) {
    skip_ws(c);
    if (c->n - c->i >= 5 && !memcmp(c->s + c->i, "False", 5)) { c->i += 5; return 0; }
    if (c->n - c->i >= 4 && !memcmp(c->s + c->i, "True", 4)) return fail(c, "fortran_order True (expected C order)");
    return fail(c, "fortran_order is not False or True");
}

/* One 'key': value entry. */
static int parse_entry(Cur *c, Header *h) {
    char key[32];
    if (parse_str(c, key, sizeof key)) return -1;
    if (!eat(c, ':')) return fail(c, "expected ':' after a key");
    int *seen = !strcmp(key, "descr")           ? &h->have_descr
                : !strcmp(key, "fortran_order") ? &h->have_fortran
                : !strcmp(key, "shape")         ? &h->have_shape
                                                : NULL;
    if (!seen) return fail(c, "has an unknown key (expected descr, fortran_order, shape)");
    if (*seen) return fail(c, "repeats a key");
    *seen = 1;
    return seen == &h->have_descr ? parse_descr(c) : seen == &h->have_fortran ? parse_fortran(c) : parse_shape(c, h);
}

/* The whole header text: '{' entries '}' then only whitespace; the three
 * keys each exactly once; 1 or 2 dimensions. */
static int parse_header(Cur *c, Header *h) {
    memset(h, 0, sizeof *h);
    if (!eat(c, '{')) return fail(c, "is not a dict");
    int comma = 1;
    while (!eat(c, '}')) {
        if (!comma) return fail(c, "expected ',' or '}'");
        if (parse_entry(c, h)) return -1;
        comma = eat(c, ',');
    }
    skip_ws(c);
    if (c->i != c->n) return fail(c, "has text after the dict");
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return fail(c, "lacks a key (needs descr, fortran_order, shape)");
    if (h->ndim > 2)
        return errf(c->err, c->errn, "%s: npy array has %d dimensions (expected 1 or 2)", c->path, h->ndim);
    if (h->ndim == 0) return errf(c->err, c->errn, "%s: npy array is 0-dimensional (expected 1 or 2)", c->path);
    return 0;
}

/* ---- reading ---- */

/* Read exactly n bytes at the current position of f. Returns 0 or -1. */
static int read_exact(FILE *f, void *buf, size_t n) { return fread(buf, 1, n, f) == n ? 0 : -1; }

/* Magic, version and header length: *off the header's start, *hlen its length.
 * size is the file's size. */
static int read_prefix(FILE *f, const char *path, long long size, size_t *off, size_t *hlen, char *err, size_t errn) {
    unsigned char p[12];
    if (size < 10 || read_exact(f, p, 10)) return errf(err, errn, "%s: truncated npy file (%lld bytes)", path, size);
    if (memcmp(p, NPY_MAGIC, NPY_MAGIC_LEN)) return errf(err, errn, "%s: bad magic (not a .npy file)", path);
    if ((p[6] != 1 && p[6] != 2) || p[7] != 0)
        return errf(err, errn, "%s: unsupported npy version %d.%d (expected 1.0 or 2.0)", path, p[6], p[7]);
    if (p[6] == 1) {
        *off = 10, *hlen = (size_t)p[8] | (size_t)p[9] << 8;
    } else {
        if (size < 12 || read_exact(f, p + 10, 2))
            return errf(err, errn, "%s: truncated npy file (%lld bytes)", path, size);
        *off = 12, *hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
    }
    if (*hlen > (unsigned long long)size - *off)
        return errf(err, errn, "%s: header length %zu points past the end of the file (%lld bytes)", path, *hlen, size);
    if (*hlen > NPY_MAX_HEADER) return errf(err, errn, "%s: header length %zu is too large", path, *hlen);
    return 0;
}

/* Read and parse the header (hlen bytes at the current position of f). */
static int read_header(FILE *f, const char *path, size_t hlen, Header *h, char *err, size_t errn) {
    char *s = malloc(hlen + 1);
    if (!s) return errf(err, errn, "%s: out of memory (header)", path);
    int rc = -1;
    if (read_exact(f, s, hlen)) errf(err, errn, "%s: truncated npy header", path);
    else if (hlen == 0 || s[hlen - 1] != '\n') errf(err, errn, "%s: npy header not terminated by '\\n'", path);
    else if (memchr(s, 0, hlen)) errf(err, errn, "%s: npy header contains a NUL byte", path);
    else {
        Cur c = {s, hlen - 1, 0, path, err, errn};
        rc = parse_header(&c, h);
    }
    free(s);
    return rc;
}

/* Read n little-endian binary32 values from f into x. */
static int read_le_f32(FILE *f, float *x, size_t n) {
    unsigned char buf[4 * NPY_CHUNK];
    for (size_t i = 0; i < n; i += NPY_CHUNK) {
        size_t m = n - i < NPY_CHUNK ? n - i : NPY_CHUNK;
        if (fread(buf, 4, m, f) != m) return -1;
        for (size_t k = 0; k < m; k++) {
            uint32_t u = (uint32_t)buf[4 * k] | (uint32_t)buf[4 * k + 1] << 8 | (uint32_t)buf[4 * k + 2] << 16 |
                         (uint32_t)buf[4 * k + 3] << 24;
            memcpy(x + i + k, &u, 4);
        }
    }
    return 0;
}

/* The data: exactly rows·cols floats from off to the end of the file (size bytes). */
static int read_data(FILE *f, const char *path, long long size, size_t off, int rows, int cols, float **x, char *err,
                     size_t errn) {
    size_t n = (size_t)rows * (size_t)cols, have = (size_t)size - off;
    if (n > SIZE_MAX / 4) return errf(err, errn, "%s: shape (%d, %d) overflows", path, rows, cols);
    if (have < 4 * n)
        return errf(err, errn, "%s: data shorter than shape (%d, %d): %zu bytes, expected %zu", path, rows, cols, have,
                    4 * n);
    if (have > 4 * n)
        return errf(err, errn, "%s: data longer than shape (%d, %d): %zu trailing bytes", path, rows, cols,
                    have - 4 * n);
    if (n == 0) return 0;
    *x = malloc(4 * n);
    if (!*x) return errf(err, errn, "%s: out of memory (%zu floats)", path, n);
    if (read_le_f32(f, *x, n)) {
        free(*x), *x = NULL;
        return errf(err, errn, "%s: read error in the data", path);
    }
    return 0;
}

int npy_read_f32(const char *path, float **x, int *rows, int *cols, char *err, size_t errn) {
    *x = NULL, *rows = 0, *cols = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return errf(err, errn, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return errf(err, errn, "%s: not a regular file", path);
    }
    long long size = (long long)st.st_size;
    size_t off = 0, hlen = 0;
    Header h;
    int rc = read_prefix(f, path, size, &off, &hlen, err, errn);
    if (!rc) rc = read_header(f, path, hlen, &h, err, errn);
    int r = 0, c = 0;
    if (!rc) r = h.shape[0], c = h.ndim == 2 ? h.shape[1] : 1;
    if (!rc) rc = read_data(f, path, size, off + hlen, r, c, x, err, errn);
    fclose(f);
    if (!rc) *rows = r, *cols = c;
    return rc;
}
