/* The regulariser ops of the CUDA backend (backend.h "regularisers"):
 * epps_pulley, SIGReg's Epps–Pulley statistic of each column of Y (B, S)
 * against N(0, 1) and its gradient (engine/jepa_reg.h; LeJEPA, arXiv
 * 2511.08544, Algorithm 1). One block per column: every thread sums cos and
 * sin of its samples at the EP_NODES quadrature nodes in double, the block
 * reduces them in an order fixed by the block size (deterministic), and the
 * gradient pass reads the column's sums. The sums run in another order than
 * the reference's sequential loop, so results agree to rounding. */
#include "cuda_internal.h"

#include <math.h>

enum { EP_THREADS = 128 };

/* The quadrature of ep_quadrature (backend.h), passed by value. */
typedef struct EpNodes {
    double t[EP_NODES], omega[EP_NODES], phi[EP_NODES];
} EpNodes;

__global__ void k_epps_pulley(double *stat, float *dY, const float *Y, int B, int S, double dscale, EpNodes q) {
    __shared__ double red[32];
    __shared__ double cs[EP_NODES], sn[EP_NODES];
    int s = blockIdx.x;
    double c[EP_NODES], si[EP_NODES];
    for (int k = 0; k < EP_NODES; k++) c[k] = 0, si[k] = 0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        double y = Y[(size_t)b * S + s];
        for (int k = 0; k < EP_NODES; k++) {
            double a = q.t[k] * y;
            c[k] += cos(a), si[k] += sin(a);
        }
    }
    for (int k = 0; k < EP_NODES; k++) {
        double a = block_sum(c[k], red), b2 = block_sum(si[k], red);
        if (threadIdx.x == 0) cs[k] = a / B, sn[k] = b2 / B;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double e = 0;
        for (int k = 0; k < EP_NODES; k++) e += q.omega[k] * ((cs[k] - q.phi[k]) * (cs[k] - q.phi[k]) + sn[k] * sn[k]);
        stat[s] = B * e;
    }
    if (!dY) return;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        double y = Y[(size_t)b * S + s], g = 0;
        for (int k = 0; k < EP_NODES; k++) {
            double a = q.t[k] * y;
            g += q.omega[k] * q.t[k] * (sn[k] * cos(a) - (cs[k] - q.phi[k]) * sin(a));
        }
        dY[(size_t)b * S + s] = (float)(dscale * 2.0 * g);
    }
}

/* The statistic is 0 for B = 0 (as the reference: no samples, no statistic). */
__global__ void k_zero_doubles(double *x, int n) {
    GRID_STRIDE(i, n) x[i] = 0;
}

extern "C" void cuda_epps_pulley(Backend *be, double *stat, float *dY, const float *Y, int B, int S, double dscale) {
    if (S <= 0) return;
    if (B <= 0) {
        CU_LAUNCH(k_zero_doubles, cuda_blocks((size_t)S, EP_THREADS), EP_THREADS, 0, cuda_stream(be), stat, S);
        cuda_check_launch(be, "epps_pulley");
        return;
    }
    EpNodes q;
    ep_quadrature(q.t, q.omega, q.phi);
    CU_LAUNCH(k_epps_pulley, S, EP_THREADS, 0, cuda_stream(be), stat, dY, Y, B, S, dscale, q);
    cuda_check_launch(be, "epps_pulley");
}
