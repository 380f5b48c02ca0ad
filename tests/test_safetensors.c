/* safetensors reading and writing: F32 / BF16 round trips, F16 reading, a
 * sharded directory, and every malformed input refused with the file named. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static char DIR_[64];
static char err[1024];

static void mkdir_tmp(void) {
    snprintf(DIR_, sizeof DIR_, "/tmp/test_st_XXXXXX");
    cr_assert_not_null(mkdtemp(DIR_));
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", DIR_);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(safetensors, .init = mkdir_tmp, .fini = rm_tmp);

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", DIR_, name); }

/* A raw file: 8-byte LE length of header (hlen = strlen(header), or forced when >= 0), header, data. */
static void write_raw(const char *path, const char *header, long hlen, const void *data, size_t ndata) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    uint64_t L = hlen >= 0 ? (uint64_t)hlen : strlen(header);
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(L >> (8 * i));
    fwrite(b, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (ndata) fwrite(data, 1, ndata, f);
    fclose(f);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Four tensors: (3, 4), (5), a scalar, (2, 3, 2). */
static const char *NAMES[] = {"model.embed_tokens.weight", "model.norm.weight", "scale", "cube"};
static const int S0[] = {3, 4}, S1[] = {5}, S3[] = {2, 3, 2};
static const int *SHAPES[] = {S0, S1, NULL, S3};
static const int NDIMS[] = {2, 1, 0, 3};
static float D0[12], D1[5], D2[1], D3[12];
static const float *DATA[] = {D0, D1, D2, D3};

static void fill(void) {
    for (int i = 0; i < 12; i++) D0[i] = (float)sin(i + 1.0) * 3.1f, D3[i] = (float)i / 7 - 0.5f;
    for (int i = 0; i < 5; i++) D1[i] = 1.0f + 0.01f * (float)i;
    D2[0] = -1e-3f;
}

/* Read every tensor back and compare with tol (0: bit-exact). */
static void expect_all(const SafeTensors *st, double tol) {
    cr_assert_eq(st->ntensors, 4);
    for (int t = 0; t < 4; t++) {
        float out[12];
        cr_assert_eq(safetensors_read_f32(st, NAMES[t], NDIMS[t], SHAPES[t], out, err, sizeof err), 0, "%s", err);
        int n = t == 1 ? 5 : t == 2 ? 1 : 12;
        for (int i = 0; i < n; i++)
            cr_expect(fabs(out[i] - DATA[t][i]) <= tol * fabs(DATA[t][i]), "%s[%d]: %g vs %g", NAMES[t], i, out[i],
                      DATA[t][i]);
    }
}

Test(safetensors, f32_round_trip_and_format) {
    fill();
    char p[256];
    path_of(p, sizeof p, "a.safetensors");
    cr_assert_eq(safetensors_write(p, 4, NAMES, NDIMS, SHAPES, DATA, ST_F32, err, sizeof err), 0, "%s", err);
    SafeTensors st;
    cr_assert_eq(safetensors_open(&st, p, err, sizeof err), 0, "%s", err);
    expect_all(&st, 0);
    const StTensor *t = safetensors_find(&st, "cube");
    cr_assert_not_null(t);
    cr_expect_str_eq(t->dtype, "F32");
    cr_expect_eq(t->ndim, 3);
    cr_expect(t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 2 && t->numel == 12);
    cr_expect_eq(safetensors_find(&st, "scale")->ndim, 0);
    cr_expect(safetensors_has(&st, "model.norm.weight"));
    cr_expect(!safetensors_has(&st, "lm_head.weight"));
    /* iteration: every name once, sorted */
    cr_expect_str_eq(safetensors_name(&st, 0), "cube");
    cr_expect_str_eq(safetensors_name(&st, 3), "scale");
    cr_expect_null(safetensors_name(&st, 4));
    safetensors_close(&st);
    /* layout: LE header length, a multiple of 8, __metadata__ first, data in header order */
    FILE *f = fopen(p, "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint64_t L = 0;
    for (int i = 0; i < 8; i++) L |= (uint64_t)buf[i] << (8 * i);
    cr_expect_eq(L % 8, 0);
    cr_expect_eq(n, 8 + L + 4 * (12 + 5 + 1 + 12));
    const char *head = "{\"__metadata__\":{\"format\":\"pt\"},";
    cr_expect_eq(memcmp(buf + 8, head, strlen(head)), 0);
    cr_expect_eq(memcmp(buf + 8 + L, D0, 48), 0);
    cr_expect_eq(memcmp(buf + 8 + L + 48, D1, 20), 0);
}

Test(safetensors, bf16_round_trip_and_rounding) {
    fill();
    char p[256];
    path_of(p, sizeof p, "b.safetensors");
    cr_assert_eq(safetensors_write(p, 4, NAMES, NDIMS, SHAPES, DATA, ST_BF16, err, sizeof err), 0, "%s", err);
    SafeTensors st;
    cr_assert_eq(safetensors_open(&st, p, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(safetensors_find(&st, "cube")->dtype, "BF16");
    expect_all(&st, 1.0 / 256); /* 8 significant bits */
    safetensors_close(&st);
    /* round to nearest even; inf and NaN kept */
    const char *nm[] = {"x"};
    const int nd[] = {1}, sh[] = {6}, *shp[] = {sh};
    float x[6] = {1 + 0x1p-8f, 1 + 3 * 0x1p-8f, -2.5f, INFINITY, NAN, 1 + 0x1p-8f + 0x1p-20f};
    const float *xd[] = {x};
    cr_assert_eq(safetensors_write(p, 1, nm, nd, shp, xd, ST_BF16, err, sizeof err), 0, "%s", err);
    cr_assert_eq(safetensors_open(&st, p, err, sizeof err), 0, "%s", err);
    float y[6];
    cr_assert_eq(safetensors_read_f32(&st, "x", 1, sh, y, err, sizeof err), 0, "%s", err);
    cr_expect_eq(y[0], 1.0f);               /* tie -> even mantissa */
    cr_expect_eq(y[1], 1 + 0x1p-6f);        /* tie -> even mantissa (up) */
    cr_expect_eq(y[2], -2.5f);
    cr_expect(isinf(y[3]) && y[3] > 0);
    cr_expect(isnan(y[4]));
    cr_expect_eq(y[5], 1 + 0x1p-7f);        /* above the tie -> up */
    safetensors_close(&st);
}

Test(safetensors, f16_and_unsupported_dtype) {
    char p[256];
    path_of(p, sizeof p, "h.safetensors");
    /* 1, -2, smallest subnormal 2^-24, inf, 0x3555 = 0.333251953125, -0 */
    uint16_t h[6] = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555, 0x8000};
    int64_t i64[2] = {1, 2};
    unsigned char data[24] = {0};
    memcpy(data, h, 12);
    memcpy(data + 16, i64, 8); /* I64 at a multiple of 8 (4 bytes of padding) */
    write_raw(p, "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                 "\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]}}", -1, data, 24);
    SafeTensors st;
    cr_assert_eq(safetensors_open(&st, p, err, sizeof err), 0, "%s", err);
    float y[6];
    int sh[2] = {2, 3};
    cr_assert_eq(safetensors_read_f32(&st, "h", 2, sh, y, err, sizeof err), 0, "%s", err);
    cr_expect(y[0] == 1 && y[1] == -2 && y[2] == 0x1p-24f && isinf(y[3]) && y[4] == 0.333251953125f);
    cr_expect(y[5] == 0 && signbit(y[5]));
    int one = 1;
    cr_expect_neq(safetensors_read_f32(&st, "ids", 1, &one, y, err, sizeof err), 0);
    cr_expect(strstr(err, "ids") && strstr(err, "I64") && strstr(err, p), "%s", err);
    /* wrong expected shape names both shapes; a missing tensor is named */
    int sh2[1] = {6};
    cr_expect_neq(safetensors_read_f32(&st, "h", 1, sh2, y, err, sizeof err), 0);
    cr_expect(strstr(err, "[2, 3]") && strstr(err, "[6]") && strstr(err, p), "%s", err);
    cr_expect_neq(safetensors_read_f32(&st, "lm_head.weight", 1, sh2, y, err, sizeof err), 0);
    cr_expect(strstr(err, "lm_head.weight") && strstr(err, p), "%s", err);
    safetensors_close(&st);
}

Test(safetensors, sharded_directory) {
    fill();
    char sub[256], p[512];
    path_of(sub, sizeof sub, "sharded");
    /* 48 + 20 bytes fit the first 80-byte shard; then 4 + 48 in the second */
    cr_assert_eq(safetensors_write_sharded(sub, 4, NAMES, NDIMS, SHAPES, DATA, ST_F32, 80, err, sizeof err), 0, "%s",
                 err);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", sub);
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f, "no second shard");
    fclose(f);
    SafeTensors st;
    cr_assert_eq(safetensors_open(&st, sub, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.nfiles, 2);
    expect_all(&st, 0);
    cr_expect_str_eq(st.paths[safetensors_find(&st, "cube")->file], p);
    safetensors_close(&st);
    /* a model.safetensors in the directory wins, as in Hugging Face */
    snprintf(p, sizeof p, "%s/model.safetensors", sub);
    cr_assert_eq(safetensors_write(p, 1, NAMES, NDIMS, SHAPES, DATA, ST_F32, err, sizeof err), 0, "%s", err);
    cr_assert_eq(safetensors_open(&st, sub, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.ntensors, 1);
    safetensors_close(&st);
}

/* Opening path must fail with err containing path and want. */
static void expect_open_fails(const char *path, const char *want) {
    SafeTensors st;
    int rc = safetensors_open(&st, path, err, sizeof err);
    cr_expect_neq(rc, 0, "opened %s (expected: %s)", path, want);
    if (rc) cr_expect(strstr(err, path) && strstr(err, want), "error '%s' should name %s and '%s'", err, path, want);
    else safetensors_close(&st);
    cr_expect_eq(st.ntensors, 0);
}

/* A one-file case: header text with 16 data bytes. */
static void expect_header_fails(const char *header, const char *want) {
    char p[256];
    path_of(p, sizeof p, "bad.safetensors");
    float data[4] = {1, 2, 3, 4};
    write_raw(p, header, -1, data, sizeof data);
    expect_open_fails(p, want);
}

#define T4(dt, shape, offs) "{\"t\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

Test(safetensors, malformed_files) {
    char p[256];
    path_of(p, sizeof p, "short.safetensors");
    write_text(p, "abc");
    expect_open_fails(p, "too short");
    path_of(p, sizeof p, "long.safetensors");
    write_raw(p, "{}", 1000, NULL, 0); /* header length beyond the file */
    expect_open_fails(p, "exceeds the file");
    path_of(p, sizeof p, "absent.safetensors");
    expect_open_fails(p, "cannot open");
    expect_header_fails("{\"t\": {\"dtype\": ", "not a JSON object");
    expect_header_fails("[1, 2]", "not a JSON object");
    expect_header_fails("{}  x", "not a JSON object"); /* trailing bytes */
    expect_header_fails("{\"a\": 1}", "tensor a");
    expect_header_fails(T4("F32", "[2,2]", "[0,64]"), "data_offsets");  /* beyond the data */
    expect_header_fails(T4("F32", "[2,2]", "[0,12]"), "data_offsets");  /* wrong size */
    expect_header_fails(T4("F32", "[2]", "[12,4]"), "data_offsets");    /* begin > end */
    expect_header_fails(T4("F32", "[2]", "[0.5,8.5]"), "data_offsets"); /* not integers */
    expect_header_fails(T4("F32", "[2]", "[0]"), "tensor t");
    expect_header_fails(T4("Q4_K", "[4]", "[0,16]"), "unknown dtype \"Q4_K\"");
    expect_header_fails(T4("F32", "[-4]", "[0,16]"), "bad shape");
    expect_header_fails(T4("F32", "[2.5]", "[0,16]"), "bad shape");
    expect_header_fails(T4("F32", "[4294967296,4294967296,16]", "[0,16]"), "bad shape"); /* product overflows */
    expect_header_fails(T4("F32", "[4611686018427387904]", "[0,16]"), "bad shape");      /* > 2^53 */
    expect_header_fails(T4("F32", "[1,1,1,1,1,1,1,1,4]", "[0,16]"), "dimensions");
    expect_header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                        "overlap");
    expect_header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                        "appears twice");
    path_of(p, sizeof p, "empty");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir %s", p);
    cr_assert_eq(system(cmd), 0);
    expect_open_fails(p, "no model.safetensors");
}

/* A directory with shard a.safetensors (tensor x) and the given index. */
static void expect_index_fails(const char *index, const char *want) {
    char sub[256], p[512];
    path_of(sub, sizeof sub, "idx");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s", sub, sub);
    cr_assert_eq(system(cmd), 0);
    float data[4] = {1, 2, 3, 4};
    snprintf(p, sizeof p, "%s/a.safetensors", sub);
    write_raw(p, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", -1, data, 16);
    snprintf(p, sizeof p, "%s/b.safetensors", sub);
    write_raw(p, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", -1, data, 16);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", sub);
    write_text(p, index);
    SafeTensors st;
    int rc = safetensors_open(&st, sub, err, sizeof err);
    cr_expect_neq(rc, 0, "opened an index with %s", want);
    if (rc) cr_expect(strstr(err, want) != NULL, "error '%s' should contain '%s'", err, want);
    else safetensors_close(&st);
}

Test(safetensors, malformed_index) {
    expect_index_fails("{\"weight_map\": {\"x\": \"../a.safetensors\"}}", "without '/'");
    expect_index_fails("{\"weight_map\": {\"x\": \"sub/a.safetensors\"}}", "without '/'");
    expect_index_fails("{\"weight_map\": {\"x\": \"..\"}}", "without '/'");
    expect_index_fails("{\"weight_map\": {\"x\": 3}}", "tensor x");
    expect_index_fails("{\"weight_map\": {\"x\": \"missing.safetensors\"}}", "missing.safetensors");
    expect_index_fails("{\"weight_map\": {\"y\": \"a.safetensors\"}}", "maps tensor y to a.safetensors");
    expect_index_fails("{\"metadata\": {}}", "weight_map");
    expect_index_fails("{\"weight_map\": ", "model.safetensors.index.json: not valid JSON");
    /* the same tensor in two shards */
    expect_index_fails("{\"weight_map\": {\"x\": \"a.safetensors\", \"z\": \"b.safetensors\"}}", "appears twice");
}

Test(safetensors, writer_refusals) {
    char p[256];
    path_of(p, sizeof p, "w.safetensors");
    fill();
    const char *dup[] = {"a", "a"};
    cr_expect_neq(safetensors_write(p, 2, dup, NDIMS, SHAPES, DATA, ST_F32, err, sizeof err), 0);
    cr_expect(strstr(err, "appears twice") && strstr(err, p), "%s", err);
    const char *meta[] = {"__metadata__"};
    cr_expect_neq(safetensors_write(p, 1, meta, NDIMS, SHAPES, DATA, ST_F32, err, sizeof err), 0);
    const int neg[] = {-1, 2}, *negs[] = {neg};
    cr_expect_neq(safetensors_write(p, 1, NAMES, NDIMS, negs, DATA, ST_F32, err, sizeof err), 0);
    cr_expect(strstr(err, "negative") != NULL, "%s", err);
    path_of(p, sizeof p, "no/such/dir/w.safetensors");
    cr_expect_neq(safetensors_write(p, 1, NAMES, NDIMS, SHAPES, DATA, ST_F32, err, sizeof err), 0);
    cr_expect(strstr(err, "cannot write") != NULL, "%s", err);
}

/* Hardening (issue 10): offsets that are negative, fractional, huge or not numbers, shapes
 * whose product overflows, ranges not aligned to the dtype and overlapping ranges are refused,
 * each error naming the file and the tensor; nothing is cast out of range (the sanitizer
 * build checks float-cast-overflow). */
Test(safetensors, hostile_offsets_and_shapes) {
    expect_header_fails(T4("F32", "[2]", "[-8,0]"), "tensor t: data_offsets");
    expect_header_fails(T4("F32", "[0]", "[-0.5,-0.5]"), "tensor t: data_offsets");
    expect_header_fails(T4("F32", "[2]", "[1e300,1e300]"), "tensor t: data_offsets");
    expect_header_fails(T4("F32", "[2]", "[1e999,1e999]"), "tensor t: data_offsets"); /* inf in a double */
    expect_header_fails(T4("F32", "[2]", "[18446744073709551615,18446744073709551623]"), "tensor t: data_offsets");
    expect_header_fails(T4("F32", "[2]", "[9007199254740993,9007199254741001]"), "tensor t: data_offsets");
    expect_header_fails(T4("F32", "[2]", "[\"0\",\"8\"]"), "tensor t: data_offsets");
    expect_header_fails(T4("F32", "[2]", "[0,8,16]"), "tensor t");
    expect_header_fails(T4("F32", "[1e999]", "[0,16]"), "tensor t: bad shape");
    expect_header_fails(T4("F32", "[-0.0, 4]", "[0,16]"), "tensor t: data_offsets"); /* -0 is 0: 0 bytes != 16 */
    expect_header_fails(T4("F32", "[2305843009213693952]", "[0,16]"), "tensor t: bad shape"); /* 2^61 > 2^53 */
    expect_header_fails(T4("F64", "[4503599627370496, 1024]", "[0,16]"), "byte size overflows"); /* 2^62 * 8 bytes */
    /* not aligned to the dtype: F32 at byte 2, BF16 at byte 1 */
    expect_header_fails(T4("F32", "[2]", "[2,10]"), "tensor t: data_offsets begin 2 is not a multiple of 4");
    expect_header_fails(T4("BF16", "[2]", "[1,5]"), "tensor t: data_offsets begin 1 is not a multiple of 2");
    /* overlaps, in either order of the header */
    expect_header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "overlap");
    expect_header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[15,16]}}", "tensors a and b overlap");
}

/* Empty tensors hold no byte: one at the start of another's range is no overlap, whatever
 * the order (Hugging Face writes them so). */
Test(safetensors, empty_tensors_overlap_nothing) {
    const char *headers[] = {
        "{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
        "\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        "\"e\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[0,0]}}",
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
    };
    for (int i = 0; i < 3; i++) {
        char p[256];
        path_of(p, sizeof p, "empty.safetensors");
        float data[4] = {1, 2, 3, 4};
        write_raw(p, headers[i], -1, data, sizeof data);
        SafeTensors st;
        cr_assert_eq(safetensors_open(&st, p, err, sizeof err), 0, "header %d: %s", i, err);
        cr_expect_eq(st.ntensors, 2);
        safetensors_close(&st);
    }
}
