/* .npy float32 files (analysis/npy.c): byte-identical to numpy.save, bit-exact
 * round trips, the headers other numpy versions write, and every malformed
 * input refused with a message naming the problem. Files live in a mkdtemp
 * directory per test. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

static char DIR_[64];
static char err[1024];

static void mkdir_tmp(void) {
    snprintf(DIR_, sizeof DIR_, "/tmp/test_npy_XXXXXX");
    cr_assert_not_null(mkdtemp(DIR_));
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(npy, .init = mkdir_tmp, .fini = rm_tmp);

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", DIR_, name); }

/* The whole file at path into a malloc'd buffer (*n bytes). */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* ---- byte-identical to numpy.save ---- */

#define SP10 "          "
/* The first 128 bytes of numpy.save(f, np.zeros((3, 4), np.float32)) with
 * numpy 1.24.2: magic, version 1.0, header length 118 (0x76, 'v'), the dict,
 * 21 − len("3") spaces of growth room, padding to 128 and '\n'. */
static const char GOLD_3x4[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }" SP10
    SP10 SP10 SP10 SP10 "        \n";

/* numpy.save of np.array([[1, -2, 0.5], [-0.0, 3.25, 1e-3]], np.float32),
 * numpy 1.24.2: the same header layout for (2, 3), then the 24 data bytes. */
static const char GOLD_2x3_HEAD[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    SP10 SP10 SP10 SP10 SP10 "        \n";
static const unsigned char GOLD_2x3_DATA[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f,
                                              0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x50, 0x40, 0x6f, 0x12, 0x83, 0x3a};

Test(npy, header_bytes_match_numpy) {
    cr_assert_eq(sizeof GOLD_3x4 - 1, 128);
    float x[12] = {0};
    char p[256];
    path_of(p, sizeof p, "z.npy");
    cr_assert_eq(npy_write_f32(p, x, 3, 4, err, sizeof err), 0, "%s", err);
    size_t n;
    unsigned char *b = slurp(p, &n);
    cr_assert_eq(n, 128 + 48);
    cr_expect_eq(memcmp(b, GOLD_3x4, 128), 0, "header differs from numpy's: %.128s", (char *)b);
    free(b);
}

Test(npy, file_bytes_match_numpy) {
    const float x[6] = {1, -2, 0.5f, -0.0f, 3.25f, 1e-3f};
    char p[256];
    path_of(p, sizeof p, "g.npy");
    cr_assert_eq(npy_write_f32(p, x, 2, 3, err, sizeof err), 0, "%s", err);
    size_t n;
    unsigned char *b = slurp(p, &n);
    cr_assert_eq(n, 152);
    cr_expect_eq(memcmp(b, GOLD_2x3_HEAD, 128), 0, "header differs from numpy's");
    cr_expect_eq(memcmp(b + 128, GOLD_2x3_DATA, 24), 0, "data differs from numpy's");
    free(b);
}

/* ---- round trips ---- */

/* Write x (rows, cols), read it back bit for bit, write again: same bytes. */
static void round_trip(const float *x, int rows, int cols) {
    char p[256], q[256];
    path_of(p, sizeof p, "a.npy"), path_of(q, sizeof q, "b.npy");
    cr_assert_eq(npy_write_f32(p, x, rows, cols, err, sizeof err), 0, "%s", err);
    float *y = (float *)1;
    int r = -1, c = -1;
    cr_assert_eq(npy_read_f32(p, &y, &r, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r, rows);
    cr_assert_eq(c, cols);
    size_t n = (size_t)rows * cols;
    if (n == 0) cr_expect_null(y);
    else cr_expect_eq(memcmp(x, y, n * sizeof(float)), 0, "values differ after a round trip");
    cr_assert_eq(npy_write_f32(q, y, r, c, err, sizeof err), 0, "%s", err);
    size_t na, nb;
    unsigned char *a = slurp(p, &na), *b = slurp(q, &nb);
    cr_expect_eq(na, nb);
    cr_expect_eq(memcmp(a, b, na < nb ? na : nb), 0, "second write differs");
    cr_expect_eq(na % 64, (4 * n) % 64, "data must start at a multiple of 64");
    free(a), free(b), free(y);
}

Test(npy, round_trip_bit_exact) {
    enum { R = 37, C = 129 };
    float *x = malloc(R * C * sizeof(float));
    for (int i = 0; i < R * C; i++) x[i] = (float)(sin(i * 0.37) * pow(10, i % 13 - 6));
    x[0] = -0.0f, x[1] = 1e-45f /* denormal */, x[2] = INFINITY, x[3] = -INFINITY, x[4] = 3.4028235e38f;
    round_trip(x, R, C);
    free(x);
}

Test(npy, round_trip_small_shapes) {
    const float one = -0.0f;
    round_trip(&one, 1, 1);
    round_trip(NULL, 0, 7);
    round_trip(NULL, 5, 0);
    float row[3] = {1, 2, 3};
    round_trip(row, 1, 3);
    round_trip(row, 3, 1);
}

/* Large shapes change the dict's length: the data offset stays a multiple
 * of 64 (numpy: 128 for every 2-D shape of ints). */
Test(npy, header_size_for_long_shapes) {
    char p[256];
    path_of(p, sizeof p, "w.npy");
    cr_assert_eq(npy_write_f32(p, NULL, 0, 2147483647, err, sizeof err), 0, "%s", err);
    size_t n;
    unsigned char *b = slurp(p, &n);
    cr_expect_eq(n, 128);
    cr_expect_eq(b[8] | b[9] << 8, 118);
    cr_expect_eq(b[127], '\n');
    free(b);
}

Test(npy, write_errors) {
    char p[256];
    snprintf(p, sizeof p, "%s/no/such/dir/x.npy", DIR_);
    float x = 1;
    cr_expect_eq(npy_write_f32(p, &x, 1, 1, err, sizeof err), -1);
    cr_expect(strstr(err, "cannot create"), "%s", err);
    path_of(p, sizeof p, "neg.npy");
    cr_expect_eq(npy_write_f32(p, &x, -1, 1, err, sizeof err), -1);
    cr_expect(strstr(err, "negative shape"), "%s", err);
}

/* ---- headers other writers produce ---- */

/* A raw file: magic, version (major, minor), header length (hlen, or
 * strlen(header) when hlen < 0; 2 bytes for v1, 4 for v2), header, data. */
static void write_raw(const char *path, int major, int minor, const char *header, long hlen, const void *data,
                      size_t ndata) {
    unsigned char b[65536];
    size_t L = hlen >= 0 ? (size_t)hlen : strlen(header), k = 0, hs = strlen(header);
    memcpy(b, "\x93NUMPY", 6), k = 6;
    b[k++] = (unsigned char)major, b[k++] = (unsigned char)minor;
    for (int i = 0; i < (major == 1 ? 2 : 4); i++) b[k++] = (unsigned char)(L >> (8 * i));
    memcpy(b + k, header, hs), k += hs;
    cr_assert(k + ndata <= sizeof b);
    if (ndata) memcpy(b + k, data, ndata), k += ndata;
    write_bytes(path, b, k);
}

static const float D6[6] = {1.5f, -2, 0, 4, -0.0f, 6e-3f};

/* Read path expecting shape (rows, cols) and the first rows·cols of D6. */
static void expect_d6(const char *path, int rows, int cols) {
    float *y = NULL;
    int r, c;
    cr_assert_eq(npy_read_f32(path, &y, &r, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r, rows);
    cr_assert_eq(c, cols);
    cr_expect_eq(memcmp(y, D6, (size_t)r * c * sizeof(float)), 0);
    free(y);
}

Test(npy, accepts_other_layouts) {
    char p[256];
    path_of(p, sizeof p, "o.npy");
    /* 16-byte alignment (what numpy wrote before ARRAY_ALIGN = 64): data at 80, not a multiple of 64 */
    write_raw(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" SP10 "\n", -1, D6, 24);
    expect_d6(p, 2, 3);
    /* other key order, no spaces, no trailing comma: data at byte 62 */
    write_raw(p, 1, 0, "{'shape':(3,2),'fortran_order':False,'descr':'<f4'}\n", -1, D6, 24);
    expect_d6(p, 3, 2);
    /* version 2.0 (4-byte length), exactly as numpy.lib.format.write_array_header_2_0 writes */
    write_raw(p, 2, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" SP10 SP10 SP10 SP10 SP10 "      \n",
              -1, D6, 24);
    expect_d6(p, 2, 3);
    /* 1-D (L,) reads as (L, 1) */
    write_raw(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n", -1, D6, 24);
    expect_d6(p, 6, 1);
    /* double quotes and spaces around ':' and ',' */
    write_raw(p, 1, 0, "{ \"descr\" : \"<f4\" , \"fortran_order\" : False , \"shape\" : ( 1 , 4 , ) , }   \n", -1, D6, 16);
    expect_d6(p, 1, 4);
    /* an empty (0, 3) array: no data, *x NULL */
    write_raw(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }\n", -1, NULL, 0);
    float *y = (float *)1;
    int r, c;
    cr_assert_eq(npy_read_f32(p, &y, &r, &c, err, sizeof err), 0, "%s", err);
    cr_expect(r == 0 && c == 3 && y == NULL);
}

/* ---- malformed inputs ---- */

/* Reading path fails, *x stays NULL, and err names path and contains what. */
static void expect_refused(const char *path, const char *what) {
    float *y = (float *)1;
    int r = -1, c = -1;
    err[0] = 0;
    cr_expect_eq(npy_read_f32(path, &y, &r, &c, err, sizeof err), -1, "accepted (expected \"%s\")", what);
    cr_expect_null(y);
    cr_expect(strstr(err, path), "message does not name the file: %s", err);
    cr_expect(strstr(err, what), "expected \"%s\" in: %s", what, err);
}

#define HDR(shape) "{'descr': '<f4', 'fortran_order': False, 'shape': " shape ", }\n"

Test(npy, refuses_bad_prefix) {
    char p[256];
    path_of(p, sizeof p, "bad.npy");
    write_bytes(p, "", 0);
    expect_refused(p, "truncated");
    write_bytes(p, "\x93NUMPY\x01", 7);
    expect_refused(p, "truncated");
    write_bytes(p, "\x93NUMPY\x02\x00\x10\x00", 10); /* v2 needs 12 bytes of prefix */
    expect_refused(p, "truncated");
    write_raw(p, 1, 0, HDR("(2, 3)"), -1, D6, 24);
    unsigned char *b;
    size_t n;
    b = slurp(p, &n);
    b[5] = 'Z';
    write_bytes(p, b, n);
    expect_refused(p, "bad magic");
    free(b);
    write_raw(p, 3, 0, HDR("(2, 3)"), -1, D6, 24);
    expect_refused(p, "unsupported npy version 3.0");
    write_raw(p, 1, 1, HDR("(2, 3)"), -1, D6, 24);
    expect_refused(p, "unsupported npy version 1.1");
    write_raw(p, 1, 0, HDR("(2, 3)"), 1000, D6, 24);
    expect_refused(p, "points past the end");
    write_raw(p, 2, 0, HDR("(2, 3)"), 0x7fffffff, D6, 24);
    expect_refused(p, "points past the end");
}

Test(npy, refuses_bad_dtype_and_order) {
    char p[256];
    path_of(p, sizeof p, "bad.npy");
    write_raw(p, 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n", -1, D6, 24);
    expect_refused(p, "descr is not '<f4'");
    write_raw(p, 1, 0, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", -1, D6, 24);
    expect_refused(p, "big-endian");
    write_raw(p, 1, 0, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }\n", -1, D6, 24);
    expect_refused(p, "expected a quoted string");
    write_raw(p, 1, 0, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", -1, D6, 24);
    expect_refused(p, "fortran_order True");
}

Test(npy, refuses_bad_shape) {
    char p[256];
    path_of(p, sizeof p, "bad.npy");
    write_raw(p, 1, 0, HDR("(1, 2, 3)"), -1, D6, 24);
    expect_refused(p, "3 dimensions");
    write_raw(p, 1, 0, HDR("()"), -1, D6, 4);
    expect_refused(p, "0-dimensional");
    write_raw(p, 1, 0, HDR("(99999999999999999999, 2)"), -1, D6, 24);
    expect_refused(p, "overflows");
    write_raw(p, 1, 0, HDR("(2147483648, 1)"), -1, D6, 24);
    expect_refused(p, "overflows");
    write_raw(p, 1, 0, HDR("(-2, 3)"), -1, D6, 24);
    expect_refused(p, "negative shape");
    write_raw(p, 1, 0, HDR("(6)"), -1, D6, 24);
    expect_refused(p, "not a tuple");
    write_raw(p, 1, 0, HDR("[2, 3]"), -1, D6, 24);
    expect_refused(p, "not a tuple");
    write_raw(p, 1, 0, HDR("(2 3)"), -1, D6, 24);
    expect_refused(p, "expected ',' or ')'");
}

Test(npy, refuses_bad_data_length) {
    char p[256];
    path_of(p, sizeof p, "bad.npy");
    write_raw(p, 1, 0, HDR("(2, 3)"), -1, D6, 20);
    expect_refused(p, "data shorter than shape (2, 3)");
    write_raw(p, 1, 0, HDR("(2, 3)"), -1, D6, 24);
    FILE *f = fopen(p, "ab");
    fputc(0, f);
    fclose(f);
    expect_refused(p, "data longer than shape (2, 3)");
    write_raw(p, 1, 0, HDR("(2147483647, 2147483647)"), -1, D6, 24);
    expect_refused(p, "data shorter");
}

Test(npy, refuses_bad_header_text) {
    char p[256];
    path_of(p, sizeof p, "bad.npy");
    write_raw(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }  ", -1, D6, 24);
    expect_refused(p, "not terminated");
    write_raw(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 20, D6, 24); /* cut short */
    expect_refused(p, "not terminated");
    write_raw(p, 1, 0, "", -1, D6, 24);
    expect_refused(p, "not terminated");
    write_raw(p, 1, 0, "[1, 2]\n", -1, D6, 24);
    expect_refused(p, "not a dict");
    write_raw(p, 1, 0, "{'descr': '<f4', 'shape': (2, 3)}\n", -1, D6, 24);
    expect_refused(p, "lacks a key");
    write_raw(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}\n", -1, D6, 24);
    expect_refused(p, "unknown key");
    write_raw(p, 1, 0, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}\n", -1, D6, 24);
    expect_refused(p, "repeats a key");
    write_raw(p, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x\n", -1, D6, 24);
    expect_refused(p, "text after the dict");
    write_raw(p, 1, 0, "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}\n", -1, D6, 24);
    expect_refused(p, "expected ',' or '}'");
    write_raw(p, 1, 0, "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}\n", -1, D6, 24);
    expect_refused(p, "descr is not '<f4'");
    write_raw(p, 1, 0, "{'descr: '<f4', 'fortran_order': False, 'shape': (2, 3)}\n", -1, D6, 24);
    expect_refused(p, "expected ':'");
}

Test(npy, refuses_missing_file) {
    char p[256];
    path_of(p, sizeof p, "absent.npy");
    expect_refused(p, "cannot open");
    expect_refused(DIR_, "not a regular file");
}
