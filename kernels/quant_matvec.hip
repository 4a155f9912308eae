// Matrix-vector products on weights in their GGUF block formats: y = W x for one
// activation vector (decode). W has `rows` rows of `cols` elements, stored as
// in the file (row after row of blocks); x and y are f32.
//
// Launch shape for every kernel here: 1-D blocks of RF_MV_THREADS (256) threads,
// one warp per row: grid = ceil(rows / (256 / RF_WARP_SIZE)). Each lane takes
// whole quantization blocks of its row in turn and the warp sums the lanes. cols
// must be a multiple of the format's block size (32, or 256 for K-quants), as
// GGUF guarantees. Independent of the warp size.

#include "rocmforge_kernels.h"

#define RF_MV_THREADS 256

typedef unsigned char rf_u8;

__device__ static __forceinline__ float rf_f16_at(const rf_u8* p) {
    rf_half h;
    h.bits = (unsigned short)(p[0] | (p[1] << 8));
    return rf_half_to_float(h);
}

// Row `row` of this warp, or -1 when the grid has more warps than rows.
__device__ static __forceinline__ long long rf_mv_row(rf_u32 rows) {
    const rf_u64 row = (rf_u64)blockIdx.x * (RF_MV_THREADS / RF_WARP_SIZE) + rf_warp_id();
    return row < rows ? (long long)row : -1;
}

// Q8_0: 34 bytes per 32 values: f16 d, 32 x i8.
__device__ static __forceinline__ float rf_dot_q8_0(const rf_u8* b, const float* x) {
    float s = 0.0f;
    for (int i = 0; i < 32; ++i) {
        s = rf_fmaf((float)(signed char)b[2 + i], x[i], s);
    }
    return s * rf_f16_at(b);
}

// Q4_0: 18 bytes per 32 values: f16 d, 16 bytes of nibbles (low: values 0..15,
// high: values 16..31), value = (nibble - 8) * d.
__device__ static __forceinline__ float rf_dot_q4_0(const rf_u8* b, const float* x) {
    float s = 0.0f;
    for (int i = 0; i < 16; ++i) {
        const int q = b[2 + i];
        s = rf_fmaf((float)((q & 15) - 8), x[i], s);
        s = rf_fmaf((float)((q >> 4) - 8), x[i + 16], s);
    }
    return s * rf_f16_at(b);
}

// Q5_0: 22 bytes per 32 values: f16 d, 32 high bits, 16 bytes of low nibbles;
// value = (nibble | high << 4) - 16, times d.
__device__ static __forceinline__ float rf_dot_q5_0(const rf_u8* b, const float* x) {
    const rf_u32 qh = (rf_u32)b[2] | ((rf_u32)b[3] << 8) | ((rf_u32)b[4] << 16) | ((rf_u32)b[5] << 24);
    float s = 0.0f;
    for (int i = 0; i < 16; ++i) {
        const int q = b[6 + i];
        const int lo = (q & 15) | (int)(((qh >> i) & 1) << 4);
        const int hi = (q >> 4) | (int)(((qh >> (i + 16)) & 1) << 4);
        s = rf_fmaf((float)(lo - 16), x[i], s);
        s = rf_fmaf((float)(hi - 16), x[i + 16], s);
    }
    return s * rf_f16_at(b);
}

// Q4_K: 144 bytes per 256 values: f16 d, f16 dmin, 12 bytes of 6-bit scales and
// mins for 8 sub-blocks of 32, 128 bytes of nibbles (each 32 bytes: low nibbles
// are one sub-block, high nibbles the next); value = d * scale * q - dmin * min.
__device__ static __forceinline__ void rf_q4_k_scale_min(int j, const rf_u8* s, int* scale, int* min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

__device__ static __forceinline__ float rf_dot_q4_k(const rf_u8* b, const float* x) {
    const float d = rf_f16_at(b);
    const float dmin = rf_f16_at(b + 2);
    const rf_u8* scales = b + 4;
    const rf_u8* qs = b + 16;
    float total = 0.0f;
    for (int pair = 0; pair < 4; ++pair) {
        int sc0, m0, sc1, m1;
        rf_q4_k_scale_min(2 * pair, scales, &sc0, &m0);
        rf_q4_k_scale_min(2 * pair + 1, scales, &sc1, &m1);
        float dot0 = 0.0f, dot1 = 0.0f, sum0 = 0.0f, sum1 = 0.0f;
        for (int i = 0; i < 32; ++i) {
            const int q = qs[32 * pair + i];
            const float x0 = x[64 * pair + i];
            const float x1 = x[64 * pair + 32 + i];
            dot0 = rf_fmaf((float)(q & 15), x0, dot0);
            dot1 = rf_fmaf((float)(q >> 4), x1, dot1);
            sum0 += x0;
            sum1 += x1;
        }
        total += d * ((float)sc0 * dot0 + (float)sc1 * dot1) - dmin * ((float)m0 * sum0 + (float)m1 * sum1);
    }
    return total;
}

// Q6_K: 210 bytes per 256 values: 128 bytes low nibbles, 64 bytes of 2-bit highs,
// 16 signed 8-bit scales (one per 16 values), f16 d; value = d * scale * (q - 32).
__device__ static __forceinline__ float rf_dot_q6_k(const rf_u8* b, const float* x) {
    const rf_u8* ql = b;
    const rf_u8* qh = b + 128;
    const signed char* sc = (const signed char*)(b + 192);
    const float d = rf_f16_at(b + 208);
    float total = 0.0f;
    for (int half = 0; half < 2; ++half) {
        const rf_u8* l = ql + 64 * half;
        const rf_u8* h = qh + 32 * half;
        const signed char* s = sc + 8 * half;
        const float* xs = x + 128 * half;
        float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int i = 0; i < 32; ++i) {
            const int is = i / 16;
            const int q1 = ((l[i] & 15) | (((h[i] >> 0) & 3) << 4)) - 32;
            const int q2 = ((l[i + 32] & 15) | (((h[i] >> 2) & 3) << 4)) - 32;
            const int q3 = ((l[i] >> 4) | (((h[i] >> 4) & 3) << 4)) - 32;
            const int q4 = ((l[i + 32] >> 4) | (((h[i] >> 6) & 3) << 4)) - 32;
            part[is] = rf_fmaf((float)q1, xs[i], part[is]);
            part[is + 2] = rf_fmaf((float)q2, xs[i + 32], part[is + 2]);
            part[is + 4] = rf_fmaf((float)q3, xs[i + 64], part[is + 4]);
            part[is + 6] = rf_fmaf((float)q4, xs[i + 96], part[is + 6]);
        }
        for (int k = 0; k < 8; ++k) {
            total += d * (float)s[k] * part[k];
        }
    }
    return total;
}

// F16: 2 bytes per value, taken 32 at a time.
__device__ static __forceinline__ float rf_dot_f16(const rf_u8* b, const float* x) {
    float s = 0.0f;
    for (int i = 0; i < 32; ++i) {
        s = rf_fmaf(rf_f16_at(b + 2 * i), x[i], s);
    }
    return s;
}

// F32: 4 bytes per value, taken 32 at a time.
__device__ static __forceinline__ float rf_dot_f32(const rf_u8* b, const float* x) {
    const float* w = (const float*)b;
    float s = 0.0f;
    for (int i = 0; i < 32; ++i) {
        s = rf_fmaf(w[i], x[i], s);
    }
    return s;
}

// One warp per row: each lane dots whole blocks, the warp sums the lanes.
template <float (*Dot)(const rf_u8*, const float*), int BlockBytes, int BlockValues>
__device__ static __forceinline__ void rf_matvec(const rf_u8* __restrict__ w, const float* __restrict__ x,
                                                 float* __restrict__ y, rf_u32 rows, rf_u32 cols) {
    const long long row = rf_mv_row(rows);
    if (row < 0) {
        return;
    }
    const rf_u32 blocks = cols / BlockValues;
    const rf_u8* wr = w + (rf_u64)row * blocks * BlockBytes;
    float sum = 0.0f;
    for (rf_u32 b = rf_lane_id(); b < blocks; b += RF_WARP_SIZE) {
        sum += Dot(wr + (rf_u64)b * BlockBytes, x + (rf_u64)b * BlockValues);
    }
    sum = rf_warp_sum(sum);
    if (rf_lane_id() == 0) {
        y[row] = sum;
    }
}

// void rf_matvec_<type>(const uint8_t* w, const float* x, float* y,
//                       unsigned int rows, unsigned int cols)
RF_KERNEL void rf_matvec_q8_0(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_q8_0, 34, 32>(w, x, y, rows, cols);
}
RF_KERNEL void rf_matvec_q4_0(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_q4_0, 18, 32>(w, x, y, rows, cols);
}
RF_KERNEL void rf_matvec_q5_0(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_q5_0, 22, 32>(w, x, y, rows, cols);
}
RF_KERNEL void rf_matvec_q4_k(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_q4_k, 144, 256>(w, x, y, rows, cols);
}
RF_KERNEL void rf_matvec_q6_k(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_q6_k, 210, 256>(w, x, y, rows, cols);
}
RF_KERNEL void rf_matvec_f16(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_f16, 64, 32>(w, x, y, rows, cols);
}
RF_KERNEL void rf_matvec_f32(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_f32, 128, 32>(w, x, y, rows, cols);
}
