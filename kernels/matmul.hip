// Dense f32 matrix product with shared-memory tiles.
//
// Launch shape: blocks of RF_MATMUL_TILE x RF_MATMUL_TILE threads (16 x 16 = 256),
// grid = (ceil(n / 16), ceil(m / 16), 1). No dynamic shared memory. Any m, n, k
// (edges are guarded; k == 0 gives zeros). Independent of the warp size.

#include "rocmforge_kernels.h"

#define RF_MATMUL_TILE 16

// void rf_matmul_f32(const float* a, const float* b, float* c,
//                    unsigned int m, unsigned int n, unsigned int k)
// c[i][j] = sum over p of a[i][p] * b[p][j]; row-major a[m][k], b[k][n], c[m][n].
// Each thread sums its products in order of p with fused multiply-adds.
RF_KERNEL void rf_matmul_f32(const float* __restrict__ a, const float* __restrict__ b,
                             float* __restrict__ c, rf_u32 m, rf_u32 n, rf_u32 k) {
    __shared__ float a_tile[RF_MATMUL_TILE][RF_MATMUL_TILE];
    __shared__ float b_tile[RF_MATMUL_TILE][RF_MATMUL_TILE + 1];
    const rf_u32 tx = threadIdx.x;
    const rf_u32 ty = threadIdx.y;
    const rf_u32 row = blockIdx.y * RF_MATMUL_TILE + ty;
    const rf_u32 col = blockIdx.x * RF_MATMUL_TILE + tx;
    float acc = 0.0f;
    for (rf_u32 start = 0; start < k; start += RF_MATMUL_TILE) {
        const rf_u32 a_col = start + tx;
        const rf_u32 b_row = start + ty;
        a_tile[ty][tx] = (row < m && a_col < k) ? a[(rf_u64)row * k + a_col] : 0.0f;
        b_tile[ty][tx] = (b_row < k && col < n) ? b[(rf_u64)b_row * n + col] : 0.0f;
        __syncthreads();
        for (rf_u32 p = 0; p < RF_MATMUL_TILE; ++p) {
            acc = rf_fmaf(a_tile[ty][p], b_tile[p][tx], acc);
        }
        __syncthreads();
    }
    if (row < m && col < n) {
        c[(rf_u64)row * n + col] = acc;
    }
}
