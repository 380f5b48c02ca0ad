/* safetensors reading and writing: see safetensors.h. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"
#include "fsutil.h"
#include "hf_config.h"

#define MAX_HEADER 100000000ULL   /* as the reference implementation */
#define MAX_JSON_INT 9007199254740992.0 /* 2^53: larger integers are not exact in JSON doubles */
#define PATH_MAX_LEN 4096

/* ---------------------------------------------------------------- dtypes */

static const struct { const char *name; int size; } DTYPES[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},    {"I16", 2},    {"I8", 1},
    {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

/* Bytes per element of a safetensors dtype name; 0 when unknown. */
static int dtype_size(const char *s) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (!strcmp(DTYPES[i].name, s)) return DTYPES[i].size;
    return 0;
}

static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0) {
        if (m == 0) u = s;
        else { /* subnormal: normalise */
            e = 127 - 15 + 1;
            while (!(m & 0x400)) { m <<= 1; e--; }
            u = s | (e << 23) | ((m & 0x3ff) << 13);
        }
    } else if (e == 31) u = s | 0x7f800000u | (m << 13);
    else u = s | ((e + 127 - 15) << 23) | (m << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Round to nearest even, as torch's float -> bfloat16; NaN -> 0x7fc0. */
static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* ---------------------------------------------------------------- reading: one file */

/* Read exactly n bytes at offset off. 0, or -1 (error or end of file). */
static int pread_full(int fd, void *buf, size_t n, uint64_t off) {
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* *out = v when v is a JSON integer in [0, 2^53]. */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (d < 0 || d > MAX_JSON_INT || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

/* Fill *t from header entry e of file number `file`, whose data (dlen bytes)
 * starts at byte data_start. Every bound is checked here. */
static int parse_entry(const cJSON *e, int file, uint64_t data_start, uint64_t dlen, StTensor *t, const char *path,
                       char *err, size_t errn) {
    const char *nm = e->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(e, "shape"),
                *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) ||
        cJSON_GetArraySize(of) != 2)
        return errf(err, errn, "%s: tensor %s: expected {\"dtype\", \"shape\", \"data_offsets\": [begin, end]}", path, nm);
    if (!(t->esize = dtype_size(dt->valuestring)))
        return errf(err, errn, "%s: tensor %s: unknown dtype \"%s\"", path, nm, dt->valuestring);
    snprintf(t->dtype, sizeof t->dtype, "%s", dt->valuestring);
    if ((t->ndim = cJSON_GetArraySize(sh)) > ST_MAX_DIMS)
        return errf(err, errn, "%s: tensor %s: %d dimensions (at most %d)", path, nm, t->ndim, ST_MAX_DIMS);
    uint64_t numel = 1, d, bytes, a, b;
    for (int i = 0; i < t->ndim; i++) {
        if (json_u64(cJSON_GetArrayItem(sh, i), &d) || d > INT64_MAX || __builtin_mul_overflow(numel, d, &numel))
            return errf(err, errn, "%s: tensor %s: bad shape (non-negative integers, product < 2^64)", path, nm);
        t->shape[i] = (int64_t)d;
    }
    if (__builtin_mul_overflow(numel, (uint64_t)t->esize, &bytes))
        return errf(err, errn, "%s: tensor %s: byte size overflows", path, nm);
    if (json_u64(cJSON_GetArrayItem(of, 0), &a) || json_u64(cJSON_GetArrayItem(of, 1), &b) || a > b || b > dlen ||
        b - a != bytes)
        return errf(err, errn,
                    "%s: tensor %s: data_offsets must be integers begin <= end <= %llu (the data size) with "
                    "end - begin = %llu (numel * %d bytes)",
                    path, nm, (unsigned long long)dlen, (unsigned long long)bytes, t->esize);
    if (a % (uint64_t)t->esize)
        return errf(err, errn, "%s: tensor %s: data_offsets begin %llu is not a multiple of %d (the size of %s)", path,
                    nm, (unsigned long long)a, t->esize, t->dtype);
    t->numel = numel;
    t->file = file;
    t->begin = data_start + a;
    t->end = data_start + b;
    return (t->name = strdup(nm)) ? 0 : errf(err, errn, "%s: out of memory", path);
}

static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = *(StTensor *const *)a, *y = *(StTensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* No two of tensors[first ..) (one file) share a byte (empty tensors hold
 * none, so they may sit anywhere). */
static int check_overlaps(const SafeTensors *st, int first, const char *path, char *err, size_t errn) {
    int n = 0, rc = 0;
    const StTensor **v = malloc((size_t)(st->ntensors - first + 1) * sizeof *v);
    if (!v) return errf(err, errn, "%s: out of memory", path);
    for (int i = first; i < st->ntensors; i++)
        if (st->tensors[i].end > st->tensors[i].begin) v[n++] = &st->tensors[i];
    qsort(v, (size_t)n, sizeof *v, cmp_begin);
    for (int i = 1; i < n && !rc; i++)
        if (v[i]->begin < v[i - 1]->end)
            rc = errf(err, errn, "%s: tensors %s and %s overlap in the data", path, v[i - 1]->name, v[i]->name);
    free(v);
    return rc;
}

/* Read and parse the header of the open file fd (size bytes). */
static cJSON *read_header(int fd, uint64_t size, uint64_t *hl, const char *path, char *err, size_t errn) {
    unsigned char len8[8];
    if (size < 8 || pread_full(fd, len8, 8, 0)) { errf(err, errn, "%s: too short for a safetensors header", path); return NULL; }
    *hl = 0;
    for (int i = 0; i < 8; i++) *hl |= (uint64_t)len8[i] << (8 * i);
    if (*hl > size - 8 || *hl > MAX_HEADER) {
        errf(err, errn, "%s: header length %llu exceeds the file (%llu bytes) or 10^8", path, (unsigned long long)*hl,
             (unsigned long long)size);
        return NULL;
    }
    char *buf = malloc(*hl + 1);
    if (!buf || pread_full(fd, buf, *hl, 8)) { free(buf); errf(err, errn, "%s: cannot read the header", path); return NULL; }
    buf[*hl] = 0; /* and nothing but spaces may follow the JSON object */
    cJSON *h = cJSON_ParseWithLengthOpts(buf, *hl + 1, NULL, 1);
    free(buf);
    if (!cJSON_IsObject(h)) {
        cJSON_Delete(h);
        errf(err, errn, "%s: header is not a JSON object", path);
        return NULL;
    }
    return h;
}

/* Append the tensors of an opened header h (file number `file`). */
static int add_entries(SafeTensors *st, const cJSON *h, int file, uint64_t hl, uint64_t size, const char *path,
                       char *err, size_t errn) {
    int first = st->ntensors, n = cJSON_GetArraySize(h);
    StTensor *t = realloc(st->tensors, (size_t)(st->ntensors + n + 1) * sizeof *t);
    if (!t) return errf(err, errn, "%s: out of memory", path);
    st->tensors = t;
    const cJSON *e;
    cJSON_ArrayForEach(e, h) {
        if (!strcmp(e->string, "__metadata__")) continue;
        StTensor *x = &st->tensors[st->ntensors];
        memset(x, 0, sizeof *x);
        if (parse_entry(e, file, 8 + hl, size - 8 - hl, x, path, err, errn)) return -1;
        st->ntensors++;
    }
    return check_overlaps(st, first, path, err, errn);
}

/* Open one file and append its tensors. */
static int open_file(SafeTensors *st, const char *path, char *err, size_t errn) {
    int i = st->nfiles;
    char **p = realloc(st->paths, (size_t)(i + 1) * sizeof *p);
    if (p) st->paths = p;
    int *f = p ? realloc(st->fds, (size_t)(i + 1) * sizeof *f) : NULL;
    if (f) st->fds = f;
    if (!p || !f || !(st->paths[i] = strdup(path))) return errf(err, errn, "%s: out of memory", path);
    st->fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    st->nfiles++;
    struct stat sb;
    if (st->fds[i] < 0) return errf(err, errn, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(st->fds[i], &sb) || !S_ISREG(sb.st_mode)) return errf(err, errn, "%s: not a regular file", path);
    uint64_t hl, size = (uint64_t)sb.st_size;
    cJSON *h = read_header(st->fds[i], size, &hl, path, err, errn);
    if (!h) return -1;
    int rc = add_entries(st, h, i, hl, size, path, err, errn);
    cJSON_Delete(h);
    return rc;
}

/* ---------------------------------------------------------------- reading: a directory */

/* A shard named in an index: a plain file name in the same directory. */
static int shard_name_ok(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..");
}

static int file_index(const SafeTensors *st, const char *path) {
    for (int i = 0; i < st->nfiles; i++)
        if (!strcmp(st->paths[i], path)) return i;
    return -1;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

/* Sort by name; refuse duplicates. */
static int sort_names(SafeTensors *st, char *err, size_t errn) {
    qsort(st->tensors, (size_t)st->ntensors, sizeof *st->tensors, cmp_name);
    for (int i = 1; i < st->ntensors; i++)
        if (!strcmp(st->tensors[i].name, st->tensors[i - 1].name))
            return errf(err, errn, "%s: tensor %s appears twice (in %s and %s)", st->source, st->tensors[i].name,
                        st->paths[st->tensors[i - 1].file], st->paths[st->tensors[i].file]);
    return 0;
}

/* Open every shard of the index's weight_map; check each listed tensor is in its shard. */
static int open_index(SafeTensors *st, const char *dir, const char *ipath, char *err, size_t errn) {
    cJSON *j = hf_json_read(ipath, err, errn);
    if (!j) return -1;
    int rc = -1;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map"), *e;
    char path[PATH_MAX_LEN];
    if (!cJSON_IsObject(wm)) { errf(err, errn, "%s: expected an object \"weight_map\"", ipath); goto done; }
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e) || !shard_name_ok(e->valuestring)) {
            errf(err, errn, "%s: tensor %s: shard must be a file name without '/' or \"..\"", ipath, e->string);
            goto done;
        }
        if (snprintf(path, sizeof path, "%s/%s", dir, e->valuestring) >= (int)sizeof path) {
            errf(err, errn, "%s: shard path too long", ipath);
            goto done;
        }
        if (file_index(st, path) < 0 && open_file(st, path, err, errn)) goto done;
    }
    if (sort_names(st, err, errn)) goto done;
    cJSON_ArrayForEach(e, wm) {
        snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
        const StTensor *t = safetensors_find(st, e->string);
        if (!t || t->file != file_index(st, path)) {
            errf(err, errn, "%s: maps tensor %s to %s, which has no such tensor", ipath, e->string, e->valuestring);
            goto done;
        }
    }
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

static int is_file(const char *path) {
    struct stat sb;
    return !stat(path, &sb) && S_ISREG(sb.st_mode);
}

/* A directory: model.safetensors, else model.safetensors.index.json. */
static int open_dir(SafeTensors *st, const char *dir, char *err, size_t errn) {
    char single[PATH_MAX_LEN], index[PATH_MAX_LEN];
    if (snprintf(single, sizeof single, "%s/model.safetensors", dir) >= (int)sizeof single ||
        snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir) >= (int)sizeof index)
        return errf(err, errn, "%s: path too long", dir);
    if (is_file(single)) return open_file(st, single, err, errn) || sort_names(st, err, errn) ? -1 : 0;
    if (is_file(index)) return open_index(st, dir, index, err, errn);
    return errf(err, errn, "%s: no model.safetensors or model.safetensors.index.json", dir);
}

int safetensors_open(SafeTensors *st, const char *path, char *err, size_t errn) {
    memset(st, 0, sizeof *st);
    if (!(st->source = strdup(path))) return errf(err, errn, "%s: out of memory", path);
    struct stat sb;
    int rc;
    if (!stat(path, &sb) && S_ISDIR(sb.st_mode)) rc = open_dir(st, path, err, errn);
    else rc = open_file(st, path, err, errn) || sort_names(st, err, errn) ? -1 : 0;
    if (rc) safetensors_close(st);
    return rc;
}

void safetensors_close(SafeTensors *st) {
    for (int i = 0; i < st->nfiles; i++) {
        if (st->fds && st->fds[i] >= 0) close(st->fds[i]);
        free(st->paths ? st->paths[i] : NULL);
    }
    for (int i = 0; i < st->ntensors; i++) free(st->tensors[i].name);
    free(st->paths);
    free(st->fds);
    free(st->tensors);
    free(st->source);
    memset(st, 0, sizeof *st);
}

/* ---------------------------------------------------------------- lookup and read */

const StTensor *safetensors_find(const SafeTensors *st, const char *name) {
    int lo = 0, hi = st->ntensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(name, st->tensors[mid].name);
        if (!c) return &st->tensors[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *safetensors_name(const SafeTensors *st, int i) {
    return i >= 0 && i < st->ntensors ? st->tensors[i].name : NULL;
}

/* "[d0, d1, ...]" of a shape into out. */
static void shape_str(int ndim, const int64_t *shape, char *out, size_t n) {
    size_t k = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(out + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(out + k, n - k, "]");
}

static int shape_matches(const StTensor *t, int ndim, const int *shape, const char *path, char *err, size_t errn) {
    int ok = t->ndim == ndim && ndim <= ST_MAX_DIMS;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (ok) return 0;
    int64_t want[ST_MAX_DIMS];
    int nw = ndim < ST_MAX_DIMS ? ndim : ST_MAX_DIMS;
    for (int i = 0; i < nw; i++) want[i] = shape[i];
    char a[200], b[200];
    shape_str(t->ndim, t->shape, a, sizeof a);
    shape_str(nw, want, b, sizeof b);
    return errf(err, errn, "%s: tensor %s has shape %s, expected %s", path, t->name, a, b);
}

int safetensors_read_f32(const SafeTensors *st, const char *name, int ndim, const int *shape, float *out, char *err,
                         size_t errn) {
    const StTensor *t = safetensors_find(st, name);
    if (!t) return errf(err, errn, "%s: missing tensor %s", st->source, name);
    const char *path = st->paths[t->file];
    int fd = st->fds[t->file];
    if (shape_matches(t, ndim, shape, path, err, errn)) return -1;
    int bf = !strcmp(t->dtype, "BF16"), f16 = !strcmp(t->dtype, "F16");
    if (strcmp(t->dtype, "F32") && !bf && !f16)
        return errf(err, errn, "%s: tensor %s: unsupported dtype %s (F32, BF16, F16)", path, name, t->dtype);
    if (!bf && !f16) /* F32: little-endian on disk and in memory */
        return pread_full(fd, out, t->numel * 4, t->begin) ? errf(err, errn, "%s: tensor %s: read failed (truncated?)", path, name) : 0;
    enum { CHUNK = 1 << 16 };
    uint16_t *buf = malloc(CHUNK * sizeof *buf);
    if (!buf) return errf(err, errn, "%s: out of memory", path);
    for (uint64_t i = 0; i < t->numel; i += CHUNK) {
        size_t m = t->numel - i < CHUNK ? (size_t)(t->numel - i) : CHUNK;
        if (pread_full(fd, buf, m * 2, t->begin + i * 2)) {
            free(buf);
            return errf(err, errn, "%s: tensor %s: read failed (truncated?)", path, name);
        }
        for (size_t k = 0; k < m; k++) out[i + k] = bf ? bf16_to_f32(buf[k]) : f16_to_f32(buf[k]);
    }
    free(buf);
    return 0;
}

/* ---------------------------------------------------------------- writing */

static uint64_t numel_of(int ndim, const int *shape) {
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (uint64_t)shape[d];
    return n;
}

/* Names non-empty, distinct, not __metadata__; shapes valid. */
static int check_inputs(int n, const char *const *names, const int *ndims, const int *const *shapes, const char *path,
                        char *err, size_t errn) {
    for (int i = 0; i < n; i++) {
        if (!names[i] || !*names[i] || !strcmp(names[i], "__metadata__"))
            return errf(err, errn, "%s: tensor %d: empty or reserved name", path, i);
        if (ndims[i] < 0 || ndims[i] > ST_MAX_DIMS)
            return errf(err, errn, "%s: tensor %s: %d dimensions (0 .. %d)", path, names[i], ndims[i], ST_MAX_DIMS);
        for (int d = 0; d < ndims[i]; d++)
            if (shapes[i][d] < 0) return errf(err, errn, "%s: tensor %s: negative dimension", path, names[i]);
        for (int k = 0; k < i; k++)
            if (!strcmp(names[k], names[i])) return errf(err, errn, "%s: tensor %s appears twice", path, names[i]);
    }
    return 0;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes (*len). */
static char *make_header(int n, const char *const *names, const int *ndims, const int *const *shapes, int esize,
                         const char *dtype, size_t *len) {
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, names[i]);
        cJSON_AddStringToObject(e, "dtype", dtype);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < ndims[i]; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(shapes[i][d]));
        uint64_t bytes = numel_of(ndims[i], shapes[i]) * (uint64_t)esize;
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    char *s = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!s) return NULL;
    size_t hl = strlen(s), padded = (hl + 7) / 8 * 8;
    char *p = realloc(s, padded + 1);
    if (!p) { free(s); return NULL; }
    memset(p + hl, ' ', padded - hl);
    p[padded] = 0;
    *len = padded;
    return p;
}

/* Write one tensor's values as dtype. */
static int write_data(FILE *f, const float *x, uint64_t numel, StDtype dtype) {
    if (dtype == ST_F32) return fwrite(x, 4, numel, f) == numel ? 0 : -1;
    uint16_t buf[4096];
    for (uint64_t i = 0; i < numel; i += 4096) {
        size_t m = numel - i < 4096 ? (size_t)(numel - i) : 4096;
        for (size_t k = 0; k < m; k++) buf[k] = f32_to_bf16(x[i + k]);
        if (fwrite(buf, 2, m, f) != m) return -1;
    }
    return 0;
}

int safetensors_write(const char *path, int n, const char *const *names, const int *ndims, const int *const *shapes,
                      const float *const *data, StDtype dtype, char *err, size_t errn) {
    if (dtype != ST_F32 && dtype != ST_BF16) return errf(err, errn, "%s: can only write F32 or BF16", path);
    if (n < 0) return errf(err, errn, "%s: negative tensor count", path);
    if (check_inputs(n, names, ndims, shapes, path, err, errn)) return -1;
    size_t hl;
    char *h = make_header(n, names, ndims, shapes, dtype == ST_F32 ? 4 : 2, dtype == ST_F32 ? "F32" : "BF16", &hl);
    char tmp[PATH_MAX_LEN];
    if (!h) return errf(err, errn, "%s: out of memory", path);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) { free(h); return errf(err, errn, "%s: path too long", path); }
    FILE *f = fopen(tmp, "wb");
    if (!f) { free(h); return errf(err, errn, "%s: cannot write: %s", tmp, strerror(errno)); }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h, 1, hl, f) == hl;
    free(h);
    for (int i = 0; ok && i < n; i++) ok = !write_data(f, data[i], numel_of(ndims[i], shapes[i]), dtype);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return errf(err, errn, "%s: write failed", path);
    }
    return 0;
}

/* The index.json of shards: shard[i] is tensor i's shard number (0-based) of k. */
static int write_index(const char *dir, int n, const char *const *names, const int *shard, int k, uint64_t total,
                       char *err, size_t errn) {
    char path[PATH_MAX_LEN], file[64];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    cJSON *j = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(j, "metadata");
    cJSON_AddNumberToObject(meta, "total_size", (double)total);
    cJSON *wm = cJSON_AddObjectToObject(j, "weight_map");
    for (int i = 0; i < n; i++) {
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", shard[i] + 1, k);
        cJSON_AddStringToObject(wm, names[i], file);
    }
    int rc = hf_json_write(path, j, err, errn);
    cJSON_Delete(j);
    return rc;
}

int safetensors_write_sharded(const char *dir, int n, const char *const *names, const int *ndims,
                              const int *const *shapes, const float *const *data, StDtype dtype, size_t shard_bytes,
                              char *err, size_t errn) {
    if (strlen(dir) > PATH_MAX_LEN - 64) return errf(err, errn, "%s: path too long", dir);
    if (n < 0) return errf(err, errn, "%s: negative tensor count", dir);
    if (check_inputs(n, names, ndims, shapes, dir, err, errn)) return -1;
    if (mkdir_p(dir)) return errf(err, errn, "%s: cannot create directory: %s", dir, strerror(errno));
    int *shard = malloc((size_t)(n ? n : 1) * sizeof *shard), k = 0;
    if (!shard) return errf(err, errn, "%s: out of memory", dir);
    uint64_t total = 0, cur = 0, es = dtype == ST_F32 ? 4 : 2;
    for (int i = 0; i < n; i++) { /* greedy: a new shard when this tensor would overflow a non-empty one */
        uint64_t b = numel_of(ndims[i], shapes[i]) * es;
        if (i == 0 || (cur && cur + b > shard_bytes)) { k++; cur = 0; }
        shard[i] = k - 1;
        cur += b;
        total += b;
    }
    int rc = 0;
    char path[PATH_MAX_LEN];
    for (int s = 0, i = 0; s < k && !rc; s++) {
        int j = i;
        while (j < n && shard[j] == s) j++;
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, k);
        rc = safetensors_write(path, j - i, names + i, ndims + i, shapes + i, data + i, dtype, err, errn);
        i = j;
    }
    if (!rc) rc = write_index(dir, n, names, shard, k, total, err, errn);
    free(shard);
    return rc;
}
