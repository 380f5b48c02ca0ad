/* safetensors files (https://huggingface.co/docs/safetensors): reading one
 * file or a Hugging Face checkpoint directory (model.safetensors, or shards
 * listed in model.safetensors.index.json), and writing one file or a sharded
 * directory.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {...}, "name": {"dtype": "F32", "shape": [d0, ...],
 *    "data_offsets": [begin, end]}, ...}
 * then the data; offsets are relative to the first byte after the header and
 * end - begin = numel * sizeof(dtype). Data is little-endian; so are the
 * hosts we build on (x86-64, aarch64).
 *
 * Opening checks everything a later read relies on, so no read goes out of
 * bounds: the file is long enough for its header (N <= 100 MB), the header is
 * a JSON object, every tensor has a known dtype, a shape of at most
 * ST_MAX_DIMS non-negative integers whose product (and byte size) does not
 * overflow, data_offsets integers (JSON numbers that are whole, in [0, 2^53]:
 * negative, fractional or huge offsets are refused, never cast) within the
 * data with end - begin equal to the byte size and begin a multiple of the
 * dtype size, and no two tensors of a file share a byte. No tensor name
 * appears twice. Every error names the file and, where there is one, the
 * tensor. */
#ifndef ENGINE_SAFETENSORS_H
#define ENGINE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

/* Dtypes the writer produces. */
typedef enum { ST_F32, ST_BF16 } StDtype;

typedef struct StTensor {
    char *name;                /* owned */
    char dtype[12];            /* as in the header: "F32", "BF16", "F16", "I64", ... */
    int esize;                 /* bytes per element of dtype */
    int ndim;                  /* 0 .. ST_MAX_DIMS (0: a scalar, numel 1) */
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;
    int file;                  /* index into SafeTensors.paths / fds */
    uint64_t begin, end;       /* absolute byte range in that file */
} StTensor;

typedef struct SafeTensors {
    char *source;              /* the path given to safetensors_open */
    int nfiles;
    char **paths;              /* (nfiles) the opened files */
    int *fds;                  /* (nfiles) their descriptors */
    int ntensors;
    StTensor *tensors;         /* (ntensors) sorted by name */
} SafeTensors;

/* Open path: a .safetensors file, or a directory holding model.safetensors
 * or else model.safetensors.index.json, whose "weight_map" maps each tensor
 * name to a shard file in the same directory (a plain file name: no '/',
 * no ".."); every shard is opened and each listed tensor must be in its
 * shard. Returns 0, or -1 with err naming the file (and tensor): cannot
 * open, too short, header length beyond the file, bad JSON, bad entry,
 * unknown dtype, offsets out of range, of the wrong size or not aligned to
 * the dtype, overlapping tensors, a duplicate name, a bad shard name. *st is zeroed on error. */
int safetensors_open(SafeTensors *st, const char *path, char *err, size_t errn);
void safetensors_close(SafeTensors *st);

/* Tensor by name; NULL when absent. */
const StTensor *safetensors_find(const SafeTensors *st, const char *name);
static inline int safetensors_has(const SafeTensors *st, const char *name) { return safetensors_find(st, name) != 0; }

/* Name of tensor i in 0 .. st->ntensors-1 (sorted order); NULL past the end. */
const char *safetensors_name(const SafeTensors *st, int i);

/* Read tensor name into out (numel floats), converted from F32, BF16 or F16.
 * Its shape must be (shape[0], ..., shape[ndim-1]). Returns 0, or -1 with
 * err naming the file and tensor: absent, shape mismatch (both shapes
 * given), another dtype (named), a read error or a file truncated since
 * safetensors_open. */
int safetensors_read_f32(const SafeTensors *st, const char *name, int ndim, const int *shape, float *out, char *err,
                         size_t errn);

/* Write n tensors to path (atomically: path.tmp, then rename): tensor i is
 * names[i], shape shapes[i][0 .. ndims[i]), ndims[i] in 0 .. ST_MAX_DIMS,
 * values data[i] (numel floats), stored as dtype (BF16: round to nearest
 * even). Header: "__metadata__" {"format": "pt"} then the tensors in the
 * given order, padded with spaces to a multiple of 8 bytes; data in the same
 * order. Returns 0, or -1 with err naming the file (or tensor: empty or
 * duplicate name, bad shape). */
int safetensors_write(const char *path, int n, const char *const *names, const int *ndims, const int *const *shapes,
                      const float *const *data, StDtype dtype, char *err, size_t errn);

/* Write the tensors as Hugging Face shards into directory dir (created if
 * needed): model-00001-of-0000K.safetensors ..., each holding consecutive
 * tensors up to shard_bytes bytes of data (at least one tensor per shard),
 * and model.safetensors.index.json with {"metadata": {"total_size": bytes},
 * "weight_map": {name: shard file}}. Returns 0 or -1 with err naming the
 * file. */
int safetensors_write_sharded(const char *dir, int n, const char *const *names, const int *ndims,
                              const int *const *shapes, const float *const *data, StDtype dtype, size_t shard_bytes,
                              char *err, size_t errn);

#endif
