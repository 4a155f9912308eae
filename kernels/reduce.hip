// Row reductions over a contiguous row-major matrix x[rows][cols].
//
// Launch shape for every kernel here: 1-D blocks of blockDim.x threads, a multiple of
// 64 (whole warps on every GPU) and at most 1024 (256 is a good choice); one block
// per row: grid = (rows, 1, 1). A smaller grid also works (blocks loop over rows with
// a grid stride). No dynamic shared memory. cols == 0 is allowed.

#include "rocmforge_kernels.h"

// void rf_sum_f32(const float* x, float* y, unsigned int rows, unsigned int cols)
// y[r] = sum over c of x[r * cols + c], for r < rows.
RF_KERNEL void rf_sum_f32(const float* __restrict__ x, float* __restrict__ y, rf_u32 rows,
                          rf_u32 cols) {
    __shared__ float scratch[RF_MAX_WARPS];
    for (rf_u32 row = blockIdx.x; row < rows; row += gridDim.x) {
        const float* xr = x + (rf_u64)row * cols;
        float acc = 0.0f;
        for (rf_u32 c = threadIdx.x; c < cols; c += blockDim.x) {
            acc += xr[c];
        }
        acc = rf_block_sum(acc, scratch);
        if (threadIdx.x == 0) {
            y[row] = acc;
        }
    }
}

// void rf_max_f32(const float* x, float* y, unsigned int rows, unsigned int cols)
// y[r] = max over c of x[r * cols + c] (-inf for cols == 0), for r < rows.
RF_KERNEL void rf_max_f32(const float* __restrict__ x, float* __restrict__ y, rf_u32 rows,
                          rf_u32 cols) {
    __shared__ float scratch[RF_MAX_WARPS];
    for (rf_u32 row = blockIdx.x; row < rows; row += gridDim.x) {
        const float* xr = x + (rf_u64)row * cols;
        float acc = -RF_INFINITY;
        for (rf_u32 c = threadIdx.x; c < cols; c += blockDim.x) {
            acc = rf_fmaxf(acc, xr[c]);
        }
        acc = rf_block_max(acc, scratch);
        if (threadIdx.x == 0) {
            y[row] = acc;
        }
    }
}

// void rf_rms_norm_f32(const float* x, const float* w, float* y, float eps,
//                      unsigned int rows, unsigned int cols)
// y[r][c] = x[r][c] / sqrt(mean over c of x[r][c]^2 + eps) * w[c], for r < rows.
// y may be x (in place); w has cols elements.
RF_KERNEL void rf_rms_norm_f32(const float* x, const float* __restrict__ w, float* y, float eps,
                               rf_u32 rows, rf_u32 cols) {
    __shared__ float scratch[RF_MAX_WARPS];
    for (rf_u32 row = blockIdx.x; row < rows; row += gridDim.x) {
        const float* xr = x + (rf_u64)row * cols;
        float* yr = y + (rf_u64)row * cols;
        float sum_sq = 0.0f;
#pragma unroll 4
        for (rf_u32 c = threadIdx.x; c < cols; c += blockDim.x) {
            sum_sq = rf_fmaf(xr[c], xr[c], sum_sq);
        }
        sum_sq = rf_block_sum(sum_sq, scratch);
        const float scale = rf_rsqrtf(sum_sq / (float)cols + eps);
#pragma unroll 4
        for (rf_u32 c = threadIdx.x; c < cols; c += blockDim.x) {
            yr[c] = xr[c] * scale * w[c];
        }
    }
}

// void rf_add_rms_norm_f32(float* x, const float* o, const float* w, float* y, float eps,
//                          unsigned int rows, unsigned int cols)
// x[r][c] += o[r][c], then y = rms_norm(x) * w as rf_rms_norm_f32 computes it: the
// residual add and the next layer's norm in one pass. Same launch shape as
// rf_rms_norm_f32; y must not alias x or o.
RF_KERNEL void rf_add_rms_norm_f32(float* __restrict__ x, const float* __restrict__ o, const float* __restrict__ w,
                                   float* __restrict__ y, float eps, rf_u32 rows, rf_u32 cols) {
    __shared__ float scratch[RF_MAX_WARPS];
    for (rf_u32 row = blockIdx.x; row < rows; row += gridDim.x) {
        float* xr = x + (rf_u64)row * cols;
        const float* orow = o + (rf_u64)row * cols;
        float* yr = y + (rf_u64)row * cols;
        float sum_sq = 0.0f;
        // Each thread reads back only the values it wrote itself.
#pragma unroll 4
        for (rf_u32 c = threadIdx.x; c < cols; c += blockDim.x) {
            const float v = xr[c] + orow[c];
            xr[c] = v;
            sum_sq = rf_fmaf(v, v, sum_sq);
        }
        sum_sq = rf_block_sum(sum_sq, scratch);
        const float scale = rf_rsqrtf(sum_sq / (float)cols + eps);
#pragma unroll 4
        for (rf_u32 c = threadIdx.x; c < cols; c += blockDim.x) {
            yr[c] = xr[c] * scale * w[c];
        }
    }
}

// void rf_argmax_f32(const float* x, unsigned int* index, unsigned int n)
// index[0] = the position of the largest of x[0..n), the lowest among equal ones;
// NaN never wins; 0 when no value is above -inf (the CPU sampler's argmax). Greedy
// decoding copies back this one id instead of the logits. One block (grid = 1).
RF_KERNEL void rf_argmax_f32(const float* __restrict__ x, rf_u32* __restrict__ index, rf_u32 n) {
    __shared__ float warp_best[RF_MAX_WARPS];
    __shared__ rf_u32 warp_at[RF_MAX_WARPS];
    const rf_u32 none = 0xffffffffu;
    float best = -RF_INFINITY;
    rf_u32 at = none;
    // Each thread's positions rise, so a strict > keeps its first maximum.
    for (rf_u32 i = threadIdx.x; i < n; i += blockDim.x) {
        if (x[i] > best) {
            best = x[i];
            at = i;
        }
    }
    const rf_u32 lane = threadIdx.x % RF_WARP_SIZE, warps = blockDim.x / RF_WARP_SIZE;
    for (int round = 0; round < 2; ++round) {
        for (int mask = RF_WARP_SIZE / 2; mask > 0; mask /= 2) {
            const float other = rf_shfl_xor(best, mask);
            const rf_u32 other_at = (rf_u32)rf_shfl_xor((int)at, mask);
            if (other > best || (other == best && other_at < at)) {
                best = other;
                at = other_at;
            }
        }
        if (round == 1) break;
        if (lane == 0) {
            warp_best[rf_warp_id()] = best;
            warp_at[rf_warp_id()] = at;
        }
        __syncthreads();
        best = lane < warps ? warp_best[lane] : -RF_INFINITY;
        at = lane < warps ? warp_at[lane] : none;
    }
    if (threadIdx.x == 0) index[0] = at == none ? 0 : at;
}
