/* Attention of the CUDA backend (backend.h; ALGORITHM.md §3): flash-style
 * kernels that never hold more than a tile of scores, with the visibility
 * rule (token i sees token j iff j <= i, same row, vis[seg[i]·nseg + seg[j]]).
 *
 * Letters: n tokens, H query heads, KV key/value heads (query head h reads
 * group g = h / (H/KV)), hd head size, QS = (H + 2KV)·hd the row stride of
 * qkv = [q | k | v]. Rows are cut into tiles of TILE = 32 tokens (a table
 * built on the host from row_start_host). A block of 128 threads gives each
 * of its 32 tokens 4 threads; thread s of a token holds the float4 chunks
 * s, s+4, s+8, ... of a head vector (NCH chunks each, head size padded to
 * 16·NCH with zeros); dot products are summed over the 4 threads with two
 * shuffles.
 *
 *  - forward, block (query tile, head h): over the key tiles of the row up to
 *    the tile's last query, the online softmax of FlashAttention (running max
 *    m and sum l, rescaled once per key tile), out = acc / l, and the
 *    log-sum-exp lse = m + log l saved per (token, head): attention_saved is
 *    n·H floats. A query with no visible key has l = 0: out = 0.
 *  - backward (FlashAttention-2's, without atomics): D_i = dO_i·O_i; then
 *    P_ij = exp(scale·q_i·k_j − lse_i) on visible pairs (0 elsewhere),
 *    dS_ij = P_ij (dO_i·v_j − D_i)·scale, in two kernels that each own what
 *    they write: block (query tile, head) accumulates dq_i = Σ_j dS_ij k_j;
 *    block (key tile, kv group) accumulates dk_j = Σ_{h, i} dS_ij q_i and
 *    dv_j = Σ_{h, i} P_ij dO_i over the group's heads and the queries i >= j.
 *    Every sum runs in a fixed order: deterministic.
 *  - decoding (attention_cached): k, v of each token written into the cache,
 *    then one block per (token, head) over the slots 0..pos of its sequence.
 * Head sizes up to 256. */
#include "cuda_internal.h"

#include <math.h>
#include <stdio.h>

enum { TILE = 32, LPQ = 4, ATT_THREADS = TILE * LPQ, MAX_HD = 256 };

/* ---- helpers ------------------------------------------------------------------------------------ */

__device__ __forceinline__ float dot4(float4 a, float4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }

__device__ __forceinline__ void axpy4(float4 *y, float a, float4 x) {
    y->x += a * x.x, y->y += a * x.y, y->z += a * x.z, y->w += a * x.w;
}

__device__ __forceinline__ void scale4(float4 *y, float a) { y->x *= a, y->y *= a, y->z *= a, y->w *= a; }

/* Sum over the 4 threads of a token (lanes 4q .. 4q+3). */
__device__ __forceinline__ float group_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

/* This thread's chunks of a head vector at p (hd floats, any alignment); zeros past hd or when !ok. */
template <int NCH> __device__ __forceinline__ void load_vec(float4 *r, const float *p, int hd, int s, bool ok) {
#pragma unroll
    for (int u = 0; u < NCH; u++) {
        int d = 4 * (s + 4 * u);
        r[u].x = ok && d < hd ? p[d] : 0.0f;
        r[u].y = ok && d + 1 < hd ? p[d + 1] : 0.0f;
        r[u].z = ok && d + 2 < hd ? p[d + 2] : 0.0f;
        r[u].w = ok && d + 3 < hd ? p[d + 3] : 0.0f;
    }
}

/* p[d] = r (+= r when acc) over this thread's chunks, d < hd. */
template <int NCH> __device__ __forceinline__ void store_vec(float *p, const float4 *r, int hd, int s, bool acc) {
#pragma unroll
    for (int u = 0; u < NCH; u++) {
        int d = 4 * (s + 4 * u);
        float v[4] = {r[u].x, r[u].y, r[u].z, r[u].w};
        for (int e = 0; e < 4 && d + e < hd; e++) p[d + e] = acc ? p[d + e] + v[e] : v[e];
    }
}

/* Σ over this thread's chunks of a·(row j of the shared tile T, row stride 16·NCH floats), summed over the token's 4 threads. */
template <int NCH> __device__ __forceinline__ float tile_dot(const float4 *a, const float *T, int j, int s) {
    const float4 *row = (const float4 *)(T + (size_t)j * 16 * NCH);
    float p = 0.0f;
#pragma unroll
    for (int u = 0; u < NCH; u++) p += dot4(a[u], row[s + 4 * u]);
    return group_sum(p);
}

template <int NCH> __device__ __forceinline__ void tile_axpy(float4 *y, float a, const float *T, int j, int s) {
    const float4 *row = (const float4 *)(T + (size_t)j * 16 * NCH);
#pragma unroll
    for (int u = 0; u < NCH; u++) axpy4(&y[u], a, row[s + 4 * u]);
}

/* Shared tile T (TILE rows of 16·NCH floats) = the head vectors at column col of tokens t0.. (stride ld), zero
 * past hd and for tokens >= t1. */
template <int NCH> __device__ __forceinline__ void load_tile(float *T, const float *base, size_t ld, int col, int hd,
                                                          int t0, int t1) {
    const int HP = 16 * NCH;
    for (int e = threadIdx.x; e < TILE * HP; e += blockDim.x) {
        int j = e / HP, d = e % HP;
        T[e] = t0 + j < t1 && d < hd ? base[(size_t)(t0 + j) * ld + col + d] : 0.0f;
    }
}

/* A tile of the table: tokens [t0, t1) of the row [r0, r1). */
struct Tile {
    int t0, t1, r0, r1;
};

__device__ __forceinline__ Tile tile_of(const int *tiles, int b) {
    Tile t = {tiles[4 * b], tiles[4 * b + 1], tiles[4 * b + 2], tiles[4 * b + 3]};
    return t;
}

/* ---- forward -------------------------------------------------------------------------------------- */

template <int NCH>
__global__ void __launch_bounds__(ATT_THREADS)
    k_attn_forward(float *out, float *lse, const float *qkv, const int *tiles, const int *seg, const unsigned char *vis,
                   int nseg, int H, int KV, int hd, float scale) {
    const int HP = 16 * NCH;
    CU_DYN_SHARED(float, sm);
    float *Ks = sm, *Vs = sm + TILE * HP;
    int *kseg = (int *)(Vs + TILE * HP);
    Tile tl = tile_of(tiles, blockIdx.x);
    int h = blockIdx.y, g = h / (H / KV), s = threadIdx.x % LPQ, t = tl.t0 + (int)threadIdx.x / LPQ;
    size_t QS = (size_t)(H + 2 * KV) * hd;
    bool active = t < tl.t1;
    float4 q[NCH], acc[NCH];
    load_vec<NCH>(q, qkv + (size_t)t * QS + (size_t)h * hd, hd, s, active);
#pragma unroll
    for (int u = 0; u < NCH; u++) acc[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    const unsigned char *visq = vis + (size_t)(active ? seg[t] : 0) * nseg;
    float m = -INFINITY, l = 0.0f;
    for (int k0 = tl.r0; k0 < tl.t1; k0 += TILE) { /* keys up to the tile's last query */
        __syncthreads();                           /* the previous key tile is no longer read */
        load_tile<NCH>(Ks, qkv, QS, (H + g) * hd, hd, k0, tl.t1);
        load_tile<NCH>(Vs, qkv, QS, (H + KV + g) * hd, hd, k0, tl.t1);
        if (threadIdx.x < TILE) kseg[threadIdx.x] = k0 + (int)threadIdx.x < tl.t1 ? seg[k0 + (int)threadIdx.x] : -1;
        __syncthreads();
        float sc[TILE], tmax = -INFINITY;
#pragma unroll
        for (int j = 0; j < TILE; j++) {
            float p = tile_dot<NCH>(q, Ks, j, s);
            bool ok = active && kseg[j] >= 0 && k0 + j <= t && visq[kseg[j]];
            sc[j] = ok ? p * scale : -INFINITY;
            tmax = fmaxf(tmax, sc[j]);
        }
        float mn = fmaxf(m, tmax);
        if (mn == -INFINITY) continue; /* nothing visible yet */
        float alpha = expf(m - mn);    /* 0 while m = -inf */
        l *= alpha;
#pragma unroll
        for (int u = 0; u < NCH; u++) scale4(&acc[u], alpha);
#pragma unroll
        for (int j = 0; j < TILE; j++) {
            float p = sc[j] == -INFINITY ? 0.0f : expf(sc[j] - mn);
            l += p;
            tile_axpy<NCH>(acc, p, Vs, j, s);
        }
        m = mn;
    }
    if (!active) return;
    float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int u = 0; u < NCH; u++) scale4(&acc[u], inv);
    store_vec<NCH>(out + (size_t)t * H * hd + (size_t)h * hd, acc, hd, s, false);
    if (s == 0) lse[(size_t)t * H + h] = l > 0.0f ? m + logf(l) : 0.0f;
}

/* ---- backward ------------------------------------------------------------------------------------- */

/* D[t·H + h] = dO·O over the head: one warp per (token, head), lanes over the head. */
__global__ void k_attn_delta(float *D, const float *dout, const float *out, int nh, int hd) {
    int w = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    float s = 0.0f;
    if (w < nh)
        for (int d = lane; d < hd; d += 32) s += dout[(size_t)w * hd + d] * out[(size_t)w * hd + d];
    s = warp_sum(s);
    if (w < nh && lane == 0) D[w] = s;
}

/* Block (query tile, head h): dq_i += Σ_j dS_ij k_j. */
template <int NCH>
__global__ void __launch_bounds__(ATT_THREADS)
    k_attn_backward_dq(float *dqkv, const float *qkv, const float *dout, const float *lse, const float *D,
                       const int *tiles, const int *seg, const unsigned char *vis, int nseg, int H, int KV, int hd,
                       float scale) {
    const int HP = 16 * NCH;
    CU_DYN_SHARED(float, sm);
    float *Ks = sm, *Vs = sm + TILE * HP;
    int *kseg = (int *)(Vs + TILE * HP);
    Tile tl = tile_of(tiles, blockIdx.x);
    int h = blockIdx.y, g = h / (H / KV), s = threadIdx.x % LPQ, t = tl.t0 + (int)threadIdx.x / LPQ;
    size_t QS = (size_t)(H + 2 * KV) * hd, OS = (size_t)H * hd;
    bool active = t < tl.t1;
    float4 q[NCH], dO[NCH], dq[NCH];
    load_vec<NCH>(q, qkv + (size_t)t * QS + (size_t)h * hd, hd, s, active);
    load_vec<NCH>(dO, dout + (size_t)t * OS + (size_t)h * hd, hd, s, active);
#pragma unroll
    for (int u = 0; u < NCH; u++) dq[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    const unsigned char *visq = vis + (size_t)(active ? seg[t] : 0) * nseg;
    float Li = active ? lse[(size_t)t * H + h] : 0.0f, Di = active ? D[(size_t)t * H + h] : 0.0f;
    for (int k0 = tl.r0; k0 < tl.t1; k0 += TILE) {
        __syncthreads();
        load_tile<NCH>(Ks, qkv, QS, (H + g) * hd, hd, k0, tl.t1);
        load_tile<NCH>(Vs, qkv, QS, (H + KV + g) * hd, hd, k0, tl.t1);
        if (threadIdx.x < TILE) kseg[threadIdx.x] = k0 + (int)threadIdx.x < tl.t1 ? seg[k0 + (int)threadIdx.x] : -1;
        __syncthreads();
#pragma unroll 4
        for (int j = 0; j < TILE; j++) {
            float sc = tile_dot<NCH>(q, Ks, j, s), dp = tile_dot<NCH>(dO, Vs, j, s);
            bool ok = active && kseg[j] >= 0 && k0 + j <= t && visq[kseg[j]];
            float P = ok ? expf(sc * scale - Li) : 0.0f, dS = P * (dp - Di) * scale;
            tile_axpy<NCH>(dq, dS, Ks, j, s);
        }
    }
    if (active) store_vec<NCH>(dqkv + (size_t)t * QS + (size_t)h * hd, dq, hd, s, true);
}

/* Block (key tile, kv group g): dk_j += Σ_{h in g, i >= j} dS_ij q_i ; dv_j += Σ P_ij dO_i. */
template <int NCH>
__global__ void __launch_bounds__(ATT_THREADS)
    k_attn_backward_dkv(float *dqkv, const float *qkv, const float *dout, const float *lse, const float *D,
                        const int *tiles, const int *seg, const unsigned char *vis, int nseg, int H, int KV, int hd,
                        float scale) {
    const int HP = 16 * NCH;
    CU_DYN_SHARED(float, sm);
    float *Qs = sm, *dOs = sm + TILE * HP, *qL = dOs + TILE * HP, *qD = qL + TILE;
    int *qseg = (int *)(qD + TILE);
    Tile tl = tile_of(tiles, blockIdx.x);
    int g = blockIdx.y, grp = H / KV, s = threadIdx.x % LPQ, t = tl.t0 + (int)threadIdx.x / LPQ;
    size_t QS = (size_t)(H + 2 * KV) * hd, OS = (size_t)H * hd;
    bool active = t < tl.t1;
    float4 k[NCH], v[NCH], dk[NCH], dv[NCH];
    load_vec<NCH>(k, qkv + (size_t)t * QS + (size_t)(H + g) * hd, hd, s, active);
    load_vec<NCH>(v, qkv + (size_t)t * QS + (size_t)(H + KV + g) * hd, hd, s, active);
#pragma unroll
    for (int u = 0; u < NCH; u++) dk[u] = dv[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    int segk = active ? seg[t] : 0;
    for (int h = g * grp; h < (g + 1) * grp; h++)
        for (int q0 = tl.t0; q0 < tl.r1; q0 += TILE) { /* the queries that can see this key tile */
            __syncthreads();
            load_tile<NCH>(Qs, qkv, QS, h * hd, hd, q0, tl.r1);
            load_tile<NCH>(dOs, dout, OS, h * hd, hd, q0, tl.r1);
            if (threadIdx.x < TILE) {
                int i = q0 + (int)threadIdx.x;
                bool in = i < tl.r1;
                qseg[threadIdx.x] = in ? seg[i] : -1;
                qL[threadIdx.x] = in ? lse[(size_t)i * H + h] : 0.0f;
                qD[threadIdx.x] = in ? D[(size_t)i * H + h] : 0.0f;
            }
            __syncthreads();
#pragma unroll 4
            for (int i = 0; i < TILE; i++) {
                float sc = tile_dot<NCH>(k, Qs, i, s), dp = tile_dot<NCH>(v, dOs, i, s);
                bool ok = active && qseg[i] >= 0 && t <= q0 + i && vis[(size_t)qseg[i] * nseg + segk];
                float P = ok ? expf(sc * scale - qL[i]) : 0.0f, dS = P * (dp - qD[i]) * scale;
                tile_axpy<NCH>(dv, P, dOs, i, s);
                tile_axpy<NCH>(dk, dS, Qs, i, s);
            }
        }
    if (!active) return;
    store_vec<NCH>(dqkv + (size_t)t * QS + (size_t)(H + g) * hd, dk, hd, s, true);
    store_vec<NCH>(dqkv + (size_t)t * QS + (size_t)(H + KV + g) * hd, dv, hd, s, true);
}

/* ---- host side ------------------------------------------------------------------------------------------ */

/* Float4 chunks per thread for head size hd (head padded to 16·NCH); 0 when hd > MAX_HD. */
static int chunks_for(int hd) { return hd <= 16 ? 1 : hd <= 32 ? 2 : hd <= 64 ? 4 : hd <= 128 ? 8 : hd <= MAX_HD ? 16 : 0; }

/* Dynamic shared memory of the three kernels: two tiles of 16·NCH floats per row and TILE ints/floats x3. */
static size_t tile_smem(int nch) { return (size_t)2 * TILE * 16 * nch * sizeof(float) + 3 * TILE * sizeof(float); }

/* The tile table (4 ints per tile, device, in scratch at offset 0) of L; returns the tile count, -1 on error. */
static int upload_tiles(Backend *be, const AttnLayout *L, int **dev, size_t extra_bytes, void **extra) {
    int ntiles = 0;
    for (int r = 0; r < L->nrows; r++) ntiles += (L->row_start_host[r + 1] - L->row_start_host[r] + TILE - 1) / TILE;
    size_t tbytes = cuda_align((size_t)(ntiles ? ntiles : 1) * 4 * sizeof(int));
    int *host = (int *)cuda_host_staging(be, tbytes);
    char *s = (char *)cuda_scratch(be, tbytes + extra_bytes);
    if (!host || !s) return -1;
    int k = 0;
    for (int r = 0; r < L->nrows; r++) {
        int r0 = L->row_start_host[r], r1 = L->row_start_host[r + 1];
        for (int t0 = r0; t0 < r1; t0 += TILE, k++)
            host[4 * k] = t0, host[4 * k + 1] = t0 + TILE < r1 ? t0 + TILE : r1, host[4 * k + 2] = r0, host[4 * k + 3] = r1;
    }
    *dev = (int *)s;
    if (extra) *extra = s + tbytes;
    if (ntiles) be->upload(be, s, host, (size_t)ntiles * 4 * sizeof(int));
    return ntiles;
}

/* Raises a kernel's dynamic shared memory limit when it needs more than the default 48 KiB. */
template <class K> static int smem_limit(Backend *be, K kernel, size_t bytes) {
    if (bytes <= (48u << 10)) return 0;
    if ((int)bytes > cuda_ctx(be)->smem_optin) return cuda_fail(be, cudaErrorInvalidConfiguration, "attention shared memory");
    return cuda_fail(be, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes),
                     "cudaFuncSetAttribute");
}

static int hd_supported(Backend *be, int hd, int H, int KV) {
    if (hd > 0 && hd <= MAX_HD && KV > 0 && H % KV == 0) return 1;
    CudaCtx *c = cuda_ctx(be);
    if (!c->failed)
        snprintf(c->err, sizeof c->err, "CUDA backend: attention: head size %d (at most %d) or heads %d/%d unsupported", hd,
                 MAX_HD, H, KV);
    c->failed = 1;
    return 0;
}

extern "C" size_t cuda_attention_saved(Backend *be, const AttnLayout *L, int H, int KV, int hd) {
    (void)be, (void)KV, (void)hd;
    return (size_t)L->n * H;
}

template <int NCH>
static int forward_nch(Backend *be, float *out, float *lse, const float *qkv, const AttnLayout *L, int H, int KV, int hd) {
    int *tiles;
    int ntiles = upload_tiles(be, L, &tiles, 0, NULL);
    if (ntiles <= 0) return ntiles;
    void (*k)(float *, float *, const float *, const int *, const int *, const unsigned char *, int, int, int, int,
              float) = k_attn_forward<NCH>;
    size_t smem = tile_smem(NCH);
    if (smem_limit(be, k, smem)) return -1;
    CU_LAUNCH(k, dim3(ntiles, H), ATT_THREADS, smem, cuda_stream(be), out, lse, qkv, tiles, L->seg, L->vis, L->nseg, H,
              KV, hd, 1.0f / sqrtf((float)hd));
    return cuda_check_launch(be, "attention_forward") ? -1 : 0;
}

extern "C" int cuda_attention_forward(Backend *be, float *out, float *saved, const float *qkv, const AttnLayout *L, int H,
                                      int KV, int hd) {
    if (L->n <= 0 || L->nrows <= 0) return 0;
    if (!hd_supported(be, hd, H, KV)) return -1;
    switch (chunks_for(hd)) {
    case 1: return forward_nch<1>(be, out, saved, qkv, L, H, KV, hd);
    case 2: return forward_nch<2>(be, out, saved, qkv, L, H, KV, hd);
    case 4: return forward_nch<4>(be, out, saved, qkv, L, H, KV, hd);
    case 8: return forward_nch<8>(be, out, saved, qkv, L, H, KV, hd);
    default: return forward_nch<16>(be, out, saved, qkv, L, H, KV, hd);
    }
}

template <int NCH>
static int backward_nch(Backend *be, float *dqkv, const float *dout, const float *out, const float *lse, const float *qkv,
                        const AttnLayout *L, int H, int KV, int hd) {
    int *tiles;
    void *extra;
    size_t nh = (size_t)L->n * H;
    int ntiles = upload_tiles(be, L, &tiles, nh * sizeof(float), &extra);
    if (ntiles <= 0) return ntiles;
    float *D = (float *)extra, scale = 1.0f / sqrtf((float)hd);
    cudaStream_t st = cuda_stream(be);
    CU_LAUNCH(k_attn_delta, (unsigned)((nh + 3) / 4), 128, 0, st, D, dout, out, (int)nh, hd);
    void (*kq)(float *, const float *, const float *, const float *, const float *, const int *, const int *,
               const unsigned char *, int, int, int, int, float) = k_attn_backward_dq<NCH>;
    void (*kkv)(float *, const float *, const float *, const float *, const float *, const int *, const int *,
                const unsigned char *, int, int, int, int, float) = k_attn_backward_dkv<NCH>;
    size_t smem = tile_smem(NCH);
    if (smem_limit(be, kq, smem) || smem_limit(be, kkv, smem)) return -1;
    CU_LAUNCH(kq, dim3(ntiles, H), ATT_THREADS, smem, st, dqkv, qkv, dout, lse, D, tiles, L->seg, L->vis, L->nseg, H, KV,
              hd, scale);
    CU_LAUNCH(kkv, dim3(ntiles, KV), ATT_THREADS, smem, st, dqkv, qkv, dout, lse, D, tiles, L->seg, L->vis, L->nseg, H,
              KV, hd, scale);
    return cuda_check_launch(be, "attention_backward") ? -1 : 0;
}

extern "C" int cuda_attention_backward(Backend *be, float *dqkv, const float *dout, const float *out, const float *saved,
                                       const float *qkv, const AttnLayout *L, int H, int KV, int hd) {
    if (L->n <= 0 || L->nrows <= 0) return 0;
    if (!hd_supported(be, hd, H, KV)) return -1;
    switch (chunks_for(hd)) {
    case 1: return backward_nch<1>(be, dqkv, dout, out, saved, qkv, L, H, KV, hd);
    case 2: return backward_nch<2>(be, dqkv, dout, out, saved, qkv, L, H, KV, hd);
    case 4: return backward_nch<4>(be, dqkv, dout, out, saved, qkv, L, H, KV, hd);
    case 8: return backward_nch<8>(be, dqkv, dout, out, saved, qkv, L, H, KV, hd);
    default: return backward_nch<16>(be, dqkv, dout, out, saved, qkv, L, H, KV, hd);
    }
}

/* ---- decoding with the KV cache ---------------------------------------------------------------------------- */

/* cache[seq, pos] = (k, v) of each token; tokens whose pos is outside [0, max_len) are skipped. */
__global__ void k_kv_write(float *K, float *V, const float *qkv, const int *seq, const int *pos, int n, int H, int KV,
                           int hd, int max_len) {
    size_t kvs = (size_t)KV * hd, QS = (size_t)(H + 2 * KV) * hd;
    GRID_STRIDE(e, (size_t)n * kvs) {
        size_t t = e / kvs, r = e % kvs;
        if (pos[t] < 0 || pos[t] >= max_len) continue;
        size_t slot = ((size_t)seq[t] * max_len + pos[t]) * kvs + r;
        K[slot] = qkv[t * QS + (size_t)H * hd + r];
        V[slot] = qkv[t * QS + (size_t)(H + KV) * hd + r];
    }
}

enum { CACHED_THREADS = 128, CACHED_SMEM_SCORES = 11264 /* floats: 44 KiB, with the static 1.1 KiB under 48 KiB */ };

/* Block (token t, head h): out = Σ_{j <= pos} softmax_j(scale·q·k_j) v_j over the slots of the token's
 * sequence. Scores in dynamic shared memory when max_pos1 <= CACHED_SMEM_SCORES, else in gsc (n·H·max_pos1). */
__global__ void __launch_bounds__(CACHED_THREADS)
    k_attn_cached(float *out, const float *qkv, const float *K, const float *V, const int *seq, const int *pos, int H,
                  int KV, int hd, int max_len, int max_pos1, float *gsc, float scale) {
    __shared__ float qs[MAX_HD];
    __shared__ float red[32];
    CU_DYN_SHARED(float, smem);
    int t = blockIdx.x, h = blockIdx.y, g = h / (H / KV);
    size_t kvs = (size_t)KV * hd, QS = (size_t)(H + 2 * KV) * hd;
    float *sc = gsc ? gsc + ((size_t)t * H + h) * max_pos1 : smem;
    int np = pos[t] + 1;
    np = np > max_len ? max_len : np > max_pos1 ? max_pos1 : np;
    const float *Kb = K + (size_t)seq[t] * max_len * kvs + (size_t)g * hd, *Vb = V + (Kb - K);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = qkv[(size_t)t * QS + (size_t)h * hd + d];
    __syncthreads();
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < np; j += blockDim.x) {
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += qs[d] * Kb[(size_t)j * kvs + d];
        sc[j] = s * scale;
        mx = fmaxf(mx, sc[j]);
    }
    mx = block_max(mx, red);
    float z = 0.0f;
    for (int j = threadIdx.x; j < np; j += blockDim.x) z += sc[j] = expf(sc[j] - mx);
    z = block_sum(z, red); /* its barriers also publish sc */
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int j = 0; j < np; j++) o += sc[j] * Vb[(size_t)j * kvs + d];
        out[((size_t)t * H + h) * hd + d] = np > 0 ? o / z : 0.0f;
    }
}

extern "C" void cuda_attention_cached(Backend *be, float *out, const float *qkv, const KVView *kv, int n, int H, int KV,
                                      int hd) {
    if (n <= 0) return;
    if (!hd_supported(be, hd, H, KV)) return;
    cudaStream_t st = cuda_stream(be);
    size_t kvs = (size_t)KV * hd;
    CU_LAUNCH(k_kv_write, cuda_blocks((size_t)n * kvs, 256), 256, 0, st, kv->k, kv->v, qkv, kv->seq, kv->pos, n, H, KV,
              hd, kv->max_len);
    int mp = kv->max_pos1 > 0 ? kv->max_pos1 : 1;
    float *gsc = NULL;
    size_t smem = 0;
    if (mp > CACHED_SMEM_SCORES) {
        if (!(gsc = (float *)cuda_scratch(be, (size_t)n * H * mp * sizeof(float)))) return;
    } else {
        smem = (size_t)mp * sizeof(float);
    }
    CU_LAUNCH(k_attn_cached, dim3(n, H), CACHED_THREADS, smem, st, out, qkv, kv->k, kv->v, kv->seq, kv->pos, H, KV, hd,
              kv->max_len, mp, gsc, 1.0f / sqrtf((float)hd));
    cuda_check_launch(be, "attention_cached");
}
