/* Deterministic scatter-adds of the CUDA backend: embedding_backward,
 * scatter_add_rows and row_combine_backward (backend.h).
 *
 * Each is a list of entries e (in the order the contract sums them) adding
 * weight_e · src[srow_e] to dst[drow_e], where destination rows repeat. No
 * atomics: the entries are sorted by destination row with a stable radix
 * sort (CUB's DeviceRadixSort, stable by construction), so the entries of one
 * destination row stay in entry order; then one block per run of equal rows
 * adds its entries into the row in that order, as the CPU loop does. The
 * result is the same bits at every run. */
#include "cuda_internal.h"

#ifndef CUDA_EMU
#include <cub/device/device_radix_sort.cuh>
#else
#include <algorithm>
#include <numeric>
#endif

enum { THREADS = 128 };

/* keys_out, vals_out = (keys_in, vals_in) sorted stably by key. With temp ==
 * NULL only *temp_bytes is set (the scratch the sort needs). */
static cudaError_t sort_pairs(Backend *be, const int *keys_in, int *keys_out, const int *vals_in, int *vals_out, int m,
                              void *temp, size_t *temp_bytes) {
#ifndef CUDA_EMU
    return cub::DeviceRadixSort::SortPairs(temp, *temp_bytes, keys_in, keys_out, vals_in, vals_out, m, 0,
                                           (int)sizeof(int) * 8, cuda_stream(be));
#else
    (void)be;
    if (!temp) {
        *temp_bytes = 0;
        return cudaSuccess;
    }
    std::vector<int> ord(m);
    std::iota(ord.begin(), ord.end(), 0);
    std::stable_sort(ord.begin(), ord.end(), [&](int a, int b) { return keys_in[a] < keys_in[b]; });
    for (int i = 0; i < m; i++) keys_out[i] = keys_in[ord[i]], vals_out[i] = vals_in[ord[i]];
    return cudaSuccess;
#endif
}

/* v[i] = i */
__global__ void k_iota(int *v, int m) {
    GRID_STRIDE(i, m) v[i] = (int)i;
}

/* rowof[k − ptr[0]] = i for k in [ptr[i], ptr[i+1]): the CSR row of each entry. */
__global__ void k_csr_rows(int *rowof, const int *ptr, int m) {
    GRID_STRIDE(i, m)
    for (int k = ptr[i]; k < ptr[i + 1]; k++) rowof[k - ptr[0]] = (int)i;
}

/* Block i: when sorted position i starts a run of equal destination rows,
 * dst[row] += Σ_{s in the run, in order} w[e_s]·src[srow(e_s)] with e_s =
 * perm[s], srow(e) = srcrow[e] (srcrow NULL: e itself), w NULL: 1. */
__global__ void k_segment_add(float *dst, const float *src, const int *keys, const int *perm, const int *srcrow,
                              const float *w, int m, int c) {
    int i = blockIdx.x, row = keys[i];
    if (i > 0 && keys[i - 1] == row) return; /* not the start of a run: uniform over the block */
    for (int j = threadIdx.x; j < c; j += blockDim.x) {
        float acc = dst[(size_t)row * c + j];
        for (int s = i; s < m && keys[s] == row; s++) {
            int e = perm[s];
            float v = src[(size_t)(srcrow ? srcrow[e] : e) * c + j];
            acc = w ? acc + w[e] * v : acc + v;
        }
        dst[(size_t)row * c + j] = acc;
    }
}

/* dst[drow[e]] += w[e]·src[srow(e)] for e = 0..m−1 in order (see k_segment_add);
 * srcrow is set up by `csr_ptr` (the rows of a CSR of csr_m rows) when non-NULL. */
static void scatter(Backend *be, float *dst, const float *src, const int *drow, const int *csr_ptr, int csr_m,
                    const float *w, int m, int c, const char *what) {
    if (m <= 0 || c <= 0) return;
    size_t temp_bytes = 0, ints = cuda_align((size_t)m * sizeof(int));
    if (cuda_fail(be, sort_pairs(be, drow, NULL, NULL, NULL, m, NULL, &temp_bytes), what)) return;
    char *s = (char *)cuda_scratch(be, 4 * ints + temp_bytes);
    if (!s) return;
    int *keys = (int *)s, *iota = (int *)(s + ints), *perm = (int *)(s + 2 * ints), *rowof = (int *)(s + 3 * ints);
    cudaStream_t st = cuda_stream(be);
    CU_LAUNCH(k_iota, cuda_blocks((size_t)m, 256), 256, 0, st, iota, m);
    if (csr_ptr) CU_LAUNCH(k_csr_rows, cuda_blocks((size_t)csr_m, 256), 256, 0, st, rowof, csr_ptr, csr_m);
    if (cuda_check_launch(be, what) ||
        cuda_fail(be, sort_pairs(be, drow, keys, iota, perm, m, s + 4 * ints, &temp_bytes), what))
        return;
    CU_LAUNCH(k_segment_add, m, THREADS, 0, st, dst, src, keys, perm, csr_ptr ? rowof : NULL, w, m, c);
    cuda_check_launch(be, what);
}

extern "C" void cuda_embedding_backward(Backend *be, float *dE, const float *dx, const int *ids, int n, int c) {
    scatter(be, dE, dx, ids, NULL, 0, NULL, n, c, "embedding_backward");
}

extern "C" void cuda_scatter_add_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c) {
    scatter(be, dst, src, rows, NULL, 0, NULL, m, c, "scatter_add_rows");
}

/* Entries k = ptr[0]..ptr[m]−1 (read back from the device: a synchronisation) add w[k]·dout_i to dsrc[idx[k]]. */
extern "C" void cuda_row_combine_backward(Backend *be, float *dsrc, const float *dout, const int *ptr, const int *idx,
                                          const float *w, int m, int c) {
    if (m <= 0 || c <= 0) return;
    int k0 = 0, k1 = 0;
    be->download(be, &k0, ptr, sizeof k0);
    be->download(be, &k1, ptr + m, sizeof k1);
    if (k1 > k0) scatter(be, dsrc, dout, idx + k0, ptr, m, w + k0, k1 - k0, c, "row_combine_backward");
}
