// GGUF block formats on the GPU: matrix-vector products y = W x for one
// activation vector (decode), the quantizers of those activations (alone or with
// the RMS norm before them), and dequantization into f16 rows for the prompt's
// matrix products. W has `rows` rows of `cols` elements, stored as in the file
// (row after row of blocks); x and y are f32.
//
// Launch shape of the f32-activation kernels: 1-D blocks of RF_MV_THREADS (256)
// threads, one warp per row: grid = ceil(rows / (256 / RF_WARP_SIZE)) (the _q8
// kernels on quantized activations take blocks of 128, see below). Each lane takes
// whole quantization blocks of its row in turn and the warp sums the lanes. cols
// must be a multiple of the format's block size (32, or 256 for K-quants), as
// GGUF guarantees. Independent of the warp size.

#include "rocmforge_kernels.h"

#define RF_MV_THREADS 256

// The f16 at `p`, which every block format here keeps 2-byte aligned.
__device__ static __forceinline__ float rf_f16_at(const rf_u8* p) {
    rf_half h;
    h.bits = *(const unsigned short*)p;
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

// ---------------------------------------------------------------------------
// Activations quantized as the CPU backend (and ggml-cpu) quantizes them, and
// matrix-vector products on those blocks: integer dot products per block, so
// that the GPU multiplies exactly the numbers the CPU multiplies.
// ---------------------------------------------------------------------------

// The quantizers give each block to one warp (lane i takes values i, i + 32, ...),
// warps walking the blocks grid-stride: any 1-D launch whose block size is a
// multiple of the warp size works; one warp per block is fastest. The arithmetic
// is the same per value as a one-thread-per-block loop, so the bytes are too.

// Warps of the whole grid, and this thread's warp among them.
__device__ static __forceinline__ rf_u64 rf_grid_warps() { return rf_global_stride_x() / RF_WARP_SIZE; }
__device__ static __forceinline__ rf_u64 rf_grid_warp() { return rf_global_id_x() / RF_WARP_SIZE; }

// Q8_K blocks of 256 (f32 d, 256 x i8, 16 x i16 sums of 16), as ggml's reference:
// scale -127 / (the value of largest magnitude, first one), q capped at 127.
// One warp quantizes the 256 values at v into o.
__device__ static __forceinline__ void rf_q8_k_block(const float* v, rf_u8* o, rf_u32 lane) {
    // Largest magnitude and the first index holding it.
    float amax = 0.0f;
    int at = 256;
    if (lane < 32) {
        for (int k = 0; k < 8; ++k) {
            const int i = 32 * k + (int)lane;
            if (rf_fabsf(v[i]) > amax) {
                amax = rf_fabsf(v[i]);
                at = i;
            }
        }
    }
    for (int mask = RF_WARP_SIZE / 2; mask > 0; mask /= 2) {
        const float other = rf_shfl_xor(amax, mask);
        const int other_at = rf_shfl_xor(at, mask);
        if (other > amax || (other == amax && other_at < at)) {
            amax = other;
            at = other_at;
        }
    }
    float* d = (float*)o;
    signed char* qs = (signed char*)(o + 4);
    short* sums = (short*)(o + 260);
    if (amax == 0.0f) {
        if (lane < 32) {
            for (int k = 0; k < 8; ++k) qs[32 * k + lane] = 0;
            if (lane < 16) sums[lane] = 0;
        }
        if (lane == 0) *d = 0.0f;
        return;
    }
    const float iscale = -127.0f / v[at];
    for (int k = 0; k < 8; ++k) {
        int q = 0;
        if (lane < 32) {
            q = (int)rf_fminf(__builtin_rintf(iscale * v[32 * k + lane]), 127.0f);
            qs[32 * k + lane] = (signed char)q;
        }
        // Lanes 0-15 hold group 2k, lanes 16-31 group 2k + 1.
        int sum = q;
        for (int mask = 8; mask > 0; mask /= 2) sum += rf_shfl_xor(sum, mask);
        if (lane == 0 || lane == 16) sums[2 * k + lane / 16] = (short)sum;
    }
    if (lane == 0) *d = 1.0f / iscale;
}

// void rf_quantize_q8_0(const float* x, uint8_t* out, unsigned int blocks)
// void rf_quantize_q8_k(const float* x, uint8_t* out, unsigned int blocks)
// x[blocks * 32] (or * 256) into `blocks` blocks of the format above.
RF_KERNEL void rf_quantize_q8_0(const float* __restrict__ x, rf_u8* __restrict__ out, rf_u32 blocks) {
    for (rf_u64 b = rf_grid_warp(); b < blocks; b += rf_grid_warps()) {
        rf_q8_0_block(x + b * 32, out + b * RF_Q8_0X_BYTES, rf_lane_id());
    }
}
RF_KERNEL void rf_quantize_q8_k(const float* __restrict__ x, rf_u8* __restrict__ out, rf_u32 blocks) {
    for (rf_u64 b = rf_grid_warp(); b < blocks; b += rf_grid_warps()) {
        rf_q8_k_block(x + b * 256, out + b * 292, rf_lane_id());
    }
}

// The decode step's RMS norm and the quantization of its output in one launch:
// with `o` not null, x[c] += o[c] first (the residual add); then
// y[c] = x[c] / sqrt(mean of x^2 + eps) * w[c] as rf_rms_norm_f32 computes it,
// and y quantized into `q` as rf_quantize_q8_0 / rf_quantize_q8_k do.
// void rf_rms_norm_q8_0(float* x, const float* o, const float* w, float* y, uint8_t* q,
//                       float eps, unsigned int cols)   (and rf_rms_norm_q8_k)
// One block per row (row r: x, o and y from r * cols, q from its r * cols / 32 (256)
// blocks): grid = (rows, 1, 1), a 1-D block of whole warps, cols * 4 bytes of
// dynamic shared memory; cols a multiple of the block format's 32 (256) values.
template <void (*Block)(const float*, rf_u8*, rf_u32), int Values, int Bytes>
__device__ static __forceinline__ void rf_rms_norm_q(float* __restrict__ x, const float* __restrict__ o,
                                                     const float* __restrict__ w, float* __restrict__ y,
                                                     rf_u8* __restrict__ q, float eps, rf_u32 cols) {
    extern __shared__ float rf_row[];
    __shared__ float scratch[RF_MAX_WARPS];
    const rf_u64 first = (rf_u64)blockIdx.x * cols;
    x += first;
    o = o != nullptr ? o + first : nullptr;
    y += first;
    q += (rf_u64)blockIdx.x * (cols / Values) * Bytes;
    float sum_sq = 0.0f;
#pragma unroll 4
    for (rf_u32 c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = x[c];
        if (o != nullptr) {
            v += o[c];
            x[c] = v;
        }
        rf_row[c] = v;
        sum_sq = rf_fmaf(v, v, sum_sq);
    }
    sum_sq = rf_block_sum(sum_sq, scratch);
    const float scale = rf_rsqrtf(sum_sq / (float)cols + eps);
#pragma unroll 4
    for (rf_u32 c = threadIdx.x; c < cols; c += blockDim.x) {
        const float v = rf_row[c] * scale * w[c];
        rf_row[c] = v;
        y[c] = v;
    }
    __syncthreads();
    const rf_u32 warps = blockDim.x / RF_WARP_SIZE;
    for (rf_u32 b = rf_warp_id(); b < cols / Values; b += warps) {
        Block(rf_row + b * Values, q + (rf_u64)b * Bytes, rf_lane_id());
    }
}

// The Q8_0 form keeps each thread's values in registers (thread t holds columns
// t, t + blockDim.x, ...: every 32-lane segment one whole block, quantized with
// shuffles alone), so neither shared memory nor a second barrier is needed; its
// results equal the form above. cols <= RF_NORM_VALUES * blockDim.x.
#define RF_NORM_VALUES 12
RF_KERNEL void rf_rms_norm_q8_0(float* x, const float* o, const float* w, float* y, rf_u8* q, float eps,
                                rf_u32 cols) {
    __shared__ float scratch[RF_MAX_WARPS];
    const rf_u64 first = (rf_u64)blockIdx.x * cols;
    x += first;
    o = o != nullptr ? o + first : nullptr;
    y += first;
    q += (rf_u64)blockIdx.x * (cols / 32) * RF_Q8_0X_BYTES;
    float v[RF_NORM_VALUES], wv[RF_NORM_VALUES];
    float sum_sq = 0.0f;
#pragma unroll
    for (int k = 0; k < RF_NORM_VALUES; ++k) {
        const rf_u32 c = threadIdx.x + k * blockDim.x;
        v[k] = 0.0f;
        wv[k] = 0.0f;
        if (c < cols) {
            float value = x[c];
            if (o != nullptr) {
                value += o[c];
                x[c] = value;
            }
            v[k] = value;
            wv[k] = w[c];
            sum_sq = rf_fmaf(value, value, sum_sq);
        }
    }
    sum_sq = rf_block_sum(sum_sq, scratch);
    const float scale = rf_rsqrtf(sum_sq / (float)cols + eps);
#pragma unroll
    for (int k = 0; k < RF_NORM_VALUES; ++k) {
        const rf_u32 start = k * blockDim.x + (threadIdx.x & ~31u); // this lane's segment
        if (k * blockDim.x >= cols) break; // the same for the whole block
        const rf_u32 c = threadIdx.x + k * blockDim.x;
        const bool keep = start < cols; // the same for the segment (cols % 32 == 0)
        const float value = v[k] * scale * wv[k];
        if (keep) y[c] = value;
        rf_q8_0_segment(keep ? value : 0.0f, q + (rf_u64)(start / 32) * RF_Q8_0X_BYTES, keep);
    }
}
RF_KERNEL void rf_rms_norm_q8_k(float* x, const float* o, const float* w, float* y, rf_u8* q, float eps,
                                rf_u32 cols) {
    rf_rms_norm_q<rf_q8_k_block, 256, 292>(x, o, w, y, q, eps, cols);
}

// The decode step's gated activation and the quantization of its output in one
// launch: gate[i] = act(gate[i]) * up[i] (act: rf_silu or rf_gelu_ggml, as
// rf_swiglu_f32 / rf_geglu_f32), then gate quantized into `q` as
// rf_quantize_q8_0 / rf_quantize_q8_k do.
// void rf_{swiglu,geglu}_q8_{0,k}(float* gate, const float* up, uint8_t* q, unsigned int n)
// Each block takes RF_GLU_CHUNK values (n a multiple of the format's 32 or 256):
// grid = (ceil(n / RF_GLU_CHUNK), 1, 1), 1-D blocks of 256 threads.
#define RF_GLU_CHUNK 1024
template <float (*Act)(float), void (*Block)(const float*, rf_u8*, rf_u32), int Values, int Bytes>
__device__ static __forceinline__ void rf_glu_q(float* __restrict__ gate, const float* __restrict__ up,
                                                rf_u8* __restrict__ q, rf_u32 n) {
    __shared__ float chunk[RF_GLU_CHUNK];
    const rf_u32 first = blockIdx.x * RF_GLU_CHUNK;
    const rf_u32 count = n - first < RF_GLU_CHUNK ? n - first : RF_GLU_CHUNK;
    for (rf_u32 i = threadIdx.x; i < count; i += blockDim.x) {
        const float v = Act(gate[first + i]) * up[first + i];
        gate[first + i] = v;
        chunk[i] = v;
    }
    __syncthreads();
    const rf_u32 warps = blockDim.x / RF_WARP_SIZE;
    for (rf_u32 b = rf_warp_id(); b < count / Values; b += warps) {
        Block(chunk + b * Values, q + (rf_u64)(first / Values + b) * Bytes, rf_lane_id());
    }
}

// The Q8_0 forms keep each thread's RF_GLU_CHUNK / blockDim.x values in registers
// (as rf_rms_norm_q8_0 does): no shared memory, no barrier; the same results.
template <float (*Act)(float)>
__device__ static __forceinline__ void rf_glu_q8_0(float* __restrict__ gate, const float* __restrict__ up,
                                                   rf_u8* __restrict__ q, rf_u32 n) {
    const rf_u32 first = blockIdx.x * RF_GLU_CHUNK;
    for (rf_u32 k = 0; k < RF_GLU_CHUNK; k += blockDim.x) {
        const rf_u32 start = first + k + (threadIdx.x & ~31u); // this lane's segment
        if (first + k >= n) break; // the same for the whole block
        const rf_u32 i = first + k + threadIdx.x;
        const bool keep = start < n; // the same for the segment (n % 32 == 0)
        float v = 0.0f;
        if (keep) {
            v = Act(gate[i]) * up[i];
            gate[i] = v;
        }
        rf_q8_0_segment(v, q + (rf_u64)(start / 32) * RF_Q8_0X_BYTES, keep);
    }
}

RF_KERNEL void rf_swiglu_q8_0(float* gate, const float* up, rf_u8* q, rf_u32 n) {
    rf_glu_q8_0<rf_silu>(gate, up, q, n);
}
RF_KERNEL void rf_swiglu_q8_k(float* gate, const float* up, rf_u8* q, rf_u32 n) {
    rf_glu_q<rf_silu, rf_q8_k_block, 256, 292>(gate, up, q, n);
}
RF_KERNEL void rf_geglu_q8_0(float* gate, const float* up, rf_u8* q, rf_u32 n) {
    rf_glu_q8_0<rf_gelu_ggml>(gate, up, q, n);
}
RF_KERNEL void rf_geglu_q8_k(float* gate, const float* up, rf_u8* q, rf_u32 n) {
    rf_glu_q<rf_gelu_ggml, rf_q8_k_block, 256, 292>(gate, up, q, n);
}

// void rf_round_f16(float* x, unsigned long long n): x[i] = (float)(half)x[i], the
// activations of F16 weights. 1-D, any grid (grid-stride).
RF_KERNEL void rf_round_f16(float* x, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        x[i] = rf_half_to_float(rf_float_to_half(x[i]));
    }
}

// Four bytes at `p` as one int, from two 16-bit loads: blocks of 18, 22, 34 and
// 210 bytes keep only 2-byte alignment.
__device__ static __forceinline__ int rf_load_b2(const rf_u8* p) {
    const unsigned short* h = (const unsigned short*)p;
    return (int)((rf_u32)h[0] | ((rf_u32)h[1] << 16));
}

// Four bytes at a 4-byte aligned `p`.
__device__ static __forceinline__ int rf_load_b4(const rf_u8* p) { return *(const int*)p; }

#define RF_NIBBLES 0x0F0F0F0F
#define RF_ONES 0x01010101

// The kernels below split every weight block into `Parts` parts; a warp's lanes
// take consecutive parts of consecutive blocks, so their loads are contiguous.
// Each part returns its share of the block's dot product as a float; the warp
// adds the shares. Integer sums use rf_dp4a on packed bytes.

// Q8_0 against Q8_0 (36-byte activation blocks), part p of 2: values 16p..16p+15.
__device__ static __forceinline__ float rf_part_q8_0(const rf_u8* b, const rf_u8* a, int p) {
    int s = 0;
    for (int i = 0; i < 4; ++i) {
        s = rf_dp4a(rf_load_b2(b + 2 + 16 * p + 4 * i), rf_load_b4(a + 4 + 16 * p + 4 * i), s);
    }
    return (float)s * (rf_f16_at(b) * rf_f16_at(a));
}

// The activation block's Σq (rf_quantize_q8_0 stores it after d).
__device__ static __forceinline__ int rf_act_sum(const rf_u8* a) { return *(const short*)(a + 2); }

// Q4_0 against Q8_0, a whole block: nibble bytes i give values i (low nibbles) and
// 16 + i (high nibbles); the values are nibble - 8, so Σ q·x = Σ nibble·x - 8 Σx.
__device__ static __forceinline__ float rf_part_q4_0(const rf_u8* b, const rf_u8* a, int) {
    int s = 0;
    for (int i = 0; i < 4; ++i) {
        const int q = rf_load_b2(b + 2 + 4 * i);
        s = rf_dp4a(q & RF_NIBBLES, rf_load_b4(a + 4 + 4 * i), s);
        s = rf_dp4a((q >> 4) & RF_NIBBLES, rf_load_b4(a + 20 + 4 * i), s);
    }
    return (float)(s - 8 * rf_act_sum(a)) * (rf_f16_at(b) * rf_f16_at(a));
}

// Bit 4 of each byte from four consecutive bits of `bits` starting at `first`.
__device__ static __forceinline__ int rf_fifth_bits(rf_u32 bits, int first) {
    const rf_u32 b = bits >> first;
    return (int)(((b & 1) << 4) | ((b & 2) << 11) | ((b & 4) << 18) | ((b & 8) << 25));
}

// Q5_0 against Q8_0, a whole block, laid out as Q4_0 with a fifth bit per value
// (32 bits before the nibbles); the values are that 5-bit number - 16.
__device__ static __forceinline__ float rf_part_q5_0(const rf_u8* b, const rf_u8* a, int) {
    const rf_u32 qh = (rf_u32)rf_load_b2(b + 2);
    int s = 0;
    for (int i = 0; i < 4; ++i) {
        const int q = rf_load_b2(b + 6 + 4 * i);
        s = rf_dp4a((q & RF_NIBBLES) | rf_fifth_bits(qh, 4 * i), rf_load_b4(a + 4 + 4 * i), s);
        s = rf_dp4a(((q >> 4) & RF_NIBBLES) | rf_fifth_bits(qh, 16 + 4 * i), rf_load_b4(a + 20 + 4 * i), s);
    }
    return (float)(s - 16 * rf_act_sum(a)) * (rf_f16_at(b) * rf_f16_at(a));
}

// Q4_K against Q8_K, part k of 8: sub-block k (32 values) with its 6-bit scale
// and minimum: d_x * (d * scale * (q . x) - dmin * min * (sum of x)).
__device__ static __forceinline__ float rf_part_q4_k(const rf_u8* b, const rf_u8* a, int k) {
    int sc, m;
    rf_q4_k_scale_min(k, b + 4, &sc, &m);
    const rf_u8* q = b + 16 + 32 * (k / 2);
    const int shift = 4 * (k & 1);
    const rf_u8* x = a + 4 + 32 * k;
    int s = 0;
    for (int i = 0; i < 8; ++i) {
        s = rf_dp4a((rf_load_b4(q + 4 * i) >> shift) & RF_NIBBLES, rf_load_b4(x + 4 * i), s);
    }
    const short* bsums = (const short*)(a + 260);
    const int sum_x = bsums[2 * k] + bsums[2 * k + 1];
    const float dx = *(const float*)a;
    return dx * (rf_f16_at(b) * (float)(sc * s) - rf_f16_at(b + 2) * (float)(m * sum_x));
}

// Q6_K against Q8_K, part k of 8: half n = k / 4 of the block, quarter j = k % 4
// of that half (32 values, two groups of 16 with their own scales). A value is
// 4 low bits from `ql` and 2 high bits from `qh`, minus 32.
__device__ static __forceinline__ float rf_part_q6_k(const rf_u8* b, const rf_u8* a, int k) {
    const int n = k / 4, j = k % 4;
    const rf_u8* ql = b + 64 * n + 32 * (j & 1);
    const int low_shift = 4 * (j / 2);
    const rf_u8* qh = b + 128 + 32 * n;
    const signed char* scales = (const signed char*)(b + 192) + 8 * n + 2 * j;
    const rf_u8* x = a + 4 + 128 * n + 32 * j;
    int total = 0;
    for (int g = 0; g < 2; ++g) {
        int s = 0, sum_x = 0;
        for (int i = 0; i < 4; ++i) {
            const int at = 16 * g + 4 * i;
            const int lo = (rf_load_b2(ql + at) >> low_shift) & RF_NIBBLES;
            const int hi = ((rf_load_b2(qh + at) >> (2 * j)) & 0x03030303) << 4;
            const int xv = rf_load_b4(x + at);
            s = rf_dp4a(lo | hi, xv, s);
            sum_x = rf_dp4a(RF_ONES, xv, sum_x);
        }
        total += scales[g] * (s - 32 * sum_x);
    }
    return *(const float*)a * rf_f16_at(b + 208) * (float)total;
}

// One row per warp, on quantized activations (`a`: the row's activation blocks):
// the lanes take the row's parts in turn (unrolled, so that each lane has several
// loads in flight), then the warp adds its lanes' shares; no block barrier. (A
// block per row measured 3-5 % slower at decode on an H100.) With Cols > 1 the
// warp multiplies the row by n <= Cols activation vectors (`a` holding them one
// after another, `y` taking a row of results per vector) while it has the row's
// blocks at hand, each summed in the same order as alone.
template <float (*Part)(const rf_u8*, const rf_u8*, int), int Parts, int BlockBytes, int ActBytes,
          int BlockValues, int Cols>
__device__ static __forceinline__ void rf_matvec_q_row(const rf_u8* __restrict__ w, const rf_u8* __restrict__ a,
                                                       float* __restrict__ y, const float* __restrict__ bias,
                                                       rf_u32 row, rf_u32 rows, rf_u32 cols, rf_u32 n,
                                                       rf_u32 part, rf_u32 parts) {
    const rf_u32 lane = rf_lane_id();
    const rf_u32 blocks = cols / BlockValues;
    const rf_u64 act_stride = (rf_u64)blocks * ActBytes;
    const rf_u8* wr = w + (rf_u64)row * blocks * BlockBytes;
    float sum[Cols];
#pragma unroll
    for (int j = 0; j < Cols; ++j) sum[j] = 0.0f;
    // Several vectors already give each lane loads in flight: unrolled only alone.
#pragma unroll(Cols == 1 ? 4 : 1)
    for (rf_u32 t = part * RF_WARP_SIZE + lane; t < blocks * Parts; t += parts * RF_WARP_SIZE) {
        const rf_u32 b = t / Parts;
        const rf_u8* wb = wr + (rf_u64)b * BlockBytes;
        const rf_u8* ab = a + (rf_u64)b * ActBytes;
#pragma unroll
        for (int j = 0; j < Cols; ++j) {
            if (Cols == 1 || (rf_u32)j < n) sum[j] += Part(wb, ab + j * act_stride, (int)(t % Parts));
        }
    }
    // With parts > 1 the block's warps split the row (part = the warp): each
    // warp's sum goes to shared memory and warp 0 adds them in warp order.
    __shared__ float partial[RF_MAX_WARPS * Cols];
#pragma unroll
    for (int j = 0; j < Cols; ++j) {
        if (Cols > 1 && (rf_u32)j >= n) break;
        const float s = rf_warp_sum(sum[j]);
        if (parts == 1) {
            if (lane == 0) y[(rf_u64)j * rows + row] = bias != nullptr ? s + bias[row] : s;
        } else if (lane == 0) {
            partial[part * Cols + j] = s;
        }
    }
    if (parts > 1) {
        __syncthreads();
        if (part == 0 && lane < (rf_u32)Cols && lane < n) {
            float s = partial[lane];
            for (rf_u32 p = 1; p < parts; ++p) s += partial[p * Cols + lane];
            y[(rf_u64)lane * rows + row] = bias != nullptr ? s + bias[row] : s;
        }
    }
}

// The row of this warp.
__device__ static __forceinline__ rf_u32 rf_warp_row() {
    return blockIdx.x * (blockDim.x / RF_WARP_SIZE) + rf_warp_id();
}

template <float (*Part)(const rf_u8*, const rf_u8*, int), int Parts, int BlockBytes, int ActBytes,
          int BlockValues>
__device__ static __forceinline__ void rf_matvec_q(const rf_u8* __restrict__ w, const rf_u8* __restrict__ a,
                                                   float* __restrict__ y, rf_u32 rows, rf_u32 cols,
                                                   rf_u32 split) {
    const rf_u32 row = split ? blockIdx.x : rf_warp_row();
    if (row >= rows) {
        return; // the whole warp (or block): `row` is the same for all its lanes
    }
    const rf_u32 part = split ? rf_warp_id() : 0, parts = split ? blockDim.x / RF_WARP_SIZE : 1;
    rf_matvec_q_row<Part, Parts, BlockBytes, ActBytes, BlockValues, 1>(w, a, y, nullptr, row, rows, cols, 1, part,
                                                                       parts);
}

// Three products of one input in one launch (Q, K and V; or gate and up with
// rows2 = 0): rows 0 .. rows0 are w0's, the next rows1 w1's, then w2's; each for
// n input vectors, Cols per warp: ceil(n / Cols) consecutive warps share a row
// (in one block, so that the row's weights come from the block's cache after
// the first warp), each taking its own vectors.
template <float (*Part)(const rf_u8*, const rf_u8*, int), int Parts, int BlockBytes, int ActBytes,
          int BlockValues, int Cols>
__device__ static __forceinline__ void rf_matvec3_q(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2,
                                                    const rf_u8* a, float* y0, float* y1, float* y2,
                                                    const float* b0, const float* b1, const float* b2,
                                                    rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols,
                                                    rf_u32 n, rf_u32 split) {
    // A warp per row (and vector group), or with `split` a block, its warps
    // splitting the row.
    rf_u32 row = split ? blockIdx.x : rf_warp_row();
    const rf_u32 part = split ? rf_warp_id() : 0, parts = split ? blockDim.x / RF_WARP_SIZE : 1;
    if (Cols < n) {
        // This warp's share of the vectors.
        const rf_u32 groups = (n + Cols - 1) / Cols;
        const rf_u32 first = (row % groups) * Cols;
        row /= groups;
        n = n - first < Cols ? n - first : Cols;
        a += (rf_u64)first * (cols / BlockValues) * ActBytes;
        const rf_u64 total = (rf_u64)rows0 + rows1 + rows2;
        if (row >= total) {
            return;
        }
        y0 += (rf_u64)first * rows0;
        y1 += (rf_u64)first * rows1;
        y2 += (rf_u64)first * rows2;
    }
    if (row < rows0) {
        rf_matvec_q_row<Part, Parts, BlockBytes, ActBytes, BlockValues, Cols>(w0, a, y0, b0, row, rows0, cols, n, part, parts);
        return;
    }
    row -= rows0;
    if (row < rows1) {
        rf_matvec_q_row<Part, Parts, BlockBytes, ActBytes, BlockValues, Cols>(w1, a, y1, b1, row, rows1, cols, n, part, parts);
        return;
    }
    row -= rows1;
    if (row < rows2) {
        rf_matvec_q_row<Part, Parts, BlockBytes, ActBytes, BlockValues, Cols>(w2, a, y2, b2, row, rows2, cols, n, part, parts);
    }
}

// Launch shape of the _q8 kernels: 1-D blocks of whole warps (128 threads); with
// split == 0 a row per warp, grid = (ceil(rows / warps per block), 1, 1); with
// split != 0 a row per block, its warps taking the row's blocks in turn (more
// warps for a matrix of few rows), grid = (rows, 1, 1). (The 3 and 3x8 forms
// likewise, over all their rows and vector groups.)
// void rf_matvec_<type>_q8(const uint8_t* w, const uint8_t* xq, float* y,
//                          unsigned int rows, unsigned int cols, unsigned int split)
// xq: the activation vector quantized by rf_quantize_q8_0 (Q8_0-family weights,
// 36-byte blocks) or rf_quantize_q8_k (K-quants).
RF_KERNEL void rf_matvec_q8_0_q8(const rf_u8* w, const rf_u8* a, float* y, rf_u32 rows, rf_u32 cols, rf_u32 split) {
    rf_matvec_q<rf_part_q8_0, 2, 34, RF_Q8_0X_BYTES, 32>(w, a, y, rows, cols, split);
}
RF_KERNEL void rf_matvec_q4_0_q8(const rf_u8* w, const rf_u8* a, float* y, rf_u32 rows, rf_u32 cols, rf_u32 split) {
    rf_matvec_q<rf_part_q4_0, 1, 18, RF_Q8_0X_BYTES, 32>(w, a, y, rows, cols, split);
}
RF_KERNEL void rf_matvec_q5_0_q8(const rf_u8* w, const rf_u8* a, float* y, rf_u32 rows, rf_u32 cols, rf_u32 split) {
    rf_matvec_q<rf_part_q5_0, 1, 22, RF_Q8_0X_BYTES, 32>(w, a, y, rows, cols, split);
}
RF_KERNEL void rf_matvec_q4_k_q8(const rf_u8* w, const rf_u8* a, float* y, rf_u32 rows, rf_u32 cols, rf_u32 split) {
    rf_matvec_q<rf_part_q4_k, 8, 144, 292, 256>(w, a, y, rows, cols, split);
}
RF_KERNEL void rf_matvec_q6_k_q8(const rf_u8* w, const rf_u8* a, float* y, rf_u32 rows, rf_u32 cols, rf_u32 split) {
    rf_matvec_q<rf_part_q6_k, 8, 210, 292, 256>(w, a, y, rows, cols, split);
}

// void rf_matvec3_<type>_q8(const u8* w0, const u8* w1, const u8* w2, const u8* xq,
//                           float* y0, float* y1, float* y2, const float* b0,
//                           const float* b1, const float* b2, unsigned int rows0,
//                           unsigned int rows1, unsigned int rows2, unsigned int cols,
//                           unsigned int split)
// y_i = W_i x (+ b_i where b_i is not null) for three weights of one type sharing
// the quantized input xq (see
// rf_matvec3_q): grid = (rows0 + rows1 + rows2, 1, 1), blocks as the _q8 kernels.
RF_KERNEL void rf_matvec3_q8_0_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                 float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                 rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 split) {
    rf_matvec3_q<rf_part_q8_0, 2, 34, RF_Q8_0X_BYTES, 32, 1>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, 1, split);
}
RF_KERNEL void rf_matvec3_q4_0_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                 float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                 rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 split) {
    rf_matvec3_q<rf_part_q4_0, 1, 18, RF_Q8_0X_BYTES, 32, 1>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, 1, split);
}
RF_KERNEL void rf_matvec3_q5_0_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                 float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                 rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 split) {
    rf_matvec3_q<rf_part_q5_0, 1, 22, RF_Q8_0X_BYTES, 32, 1>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, 1, split);
}
RF_KERNEL void rf_matvec3_q4_k_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                 float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                 rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 split) {
    rf_matvec3_q<rf_part_q4_k, 8, 144, 292, 256, 1>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, 1, split);
}
RF_KERNEL void rf_matvec3_q6_k_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                 float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                 rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 split) {
    rf_matvec3_q<rf_part_q6_k, 8, 210, 292, 256, 1>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, 1, split);
}

// Batched decode: up to RF_MV_BATCH sequences' tokens through the same weights.
// void rf_matvec3x8_<type>_q8(w0, w1, w2, xq, y0, y1, y2, b0, b1, b2, rows0, rows1,
//                             rows2, cols, unsigned int n, unsigned int split)
// As rf_matvec3_<type>_q8 for n <= RF_MV_BATCH activation vectors: xq holds the n
// vectors' blocks one after another, y_i[j][rows_i] vector j's products. Each
// output is summed exactly as the one-vector kernel sums it. A warp takes
// RF_MV_COLS vectors of a row: grid = (ceil(rows * ceil(n / RF_MV_COLS) / warps
// per block), 1, 1), blocks of 128 threads.
#define RF_MV_BATCH 8
#define RF_MV_COLS 2
RF_KERNEL void rf_matvec3x8_q8_0_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                   float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                   rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 n, rf_u32 split) {
    rf_matvec3_q<rf_part_q8_0, 2, 34, RF_Q8_0X_BYTES, 32, RF_MV_COLS>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, n, split);
}
RF_KERNEL void rf_matvec3x8_q4_0_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                   float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                   rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 n, rf_u32 split) {
    rf_matvec3_q<rf_part_q4_0, 1, 18, RF_Q8_0X_BYTES, 32, RF_MV_COLS>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, n, split);
}
RF_KERNEL void rf_matvec3x8_q5_0_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                   float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                   rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 n, rf_u32 split) {
    rf_matvec3_q<rf_part_q5_0, 1, 22, RF_Q8_0X_BYTES, 32, RF_MV_COLS>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, n, split);
}
RF_KERNEL void rf_matvec3x8_q4_k_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                   float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                   rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 n, rf_u32 split) {
    rf_matvec3_q<rf_part_q4_k, 8, 144, 292, 256, RF_MV_COLS>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, n, split);
}
RF_KERNEL void rf_matvec3x8_q6_k_q8(const rf_u8* w0, const rf_u8* w1, const rf_u8* w2, const rf_u8* a, float* y0,
                                   float* y1, float* y2, const float* b0, const float* b1, const float* b2,
                                   rf_u32 rows0, rf_u32 rows1, rf_u32 rows2, rf_u32 cols, rf_u32 n, rf_u32 split) {
    rf_matvec3_q<rf_part_q6_k, 8, 210, 292, 256, RF_MV_COLS>(w0, w1, w2, a, y0, y1, y2, b0, b1, b2, rows0, rows1, rows2, cols, n, split);
}

// F16 weights against activations rounded to f16 on the fly (as ggml-cpu rounds
// them for F16 weights).
__device__ static __forceinline__ float rf_dot_f16_rounded(const rf_u8* b, const float* x) {
    float s = 0.0f;
    for (int i = 0; i < 32; ++i) {
        s = rf_fmaf(rf_f16_at(b + 2 * i), rf_half_to_float(rf_float_to_half(x[i])), s);
    }
    return s;
}

// void rf_matvec_f16_x16(const uint8_t* w, const float* x, float* y,
//                        unsigned int rows, unsigned int cols)
RF_KERNEL void rf_matvec_f16_x16(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_f16_rounded, 64, 32>(w, x, y, rows, cols);
}

// ---------------------------------------------------------------------------
// Blocks to f16 rows, for the prompt's matrix products (vendor BLAS multiplies
// the dequantized rows with f16 activations). Each thread writes four
// consecutive values, so the stores are coalesced.
//
// void rf_dequant_<type>_f16(const u8* w, uint16_t* out, unsigned long long quads)
// out[4i .. 4i + 4] = the values 4i .. 4i + 4 of w (row after row, as stored),
// for i < quads, as f16 (rounded to nearest even). 1-D, any grid (grid-stride).

// Values j .. j + 3 of one block.
__device__ static __forceinline__ void rf_four_q8_0(const rf_u8* b, int j, float* v) {
    const float d = rf_f16_at(b);
    const signed char* qs = (const signed char*)(b + 2);
    for (int t = 0; t < 4; ++t) v[t] = d * (float)qs[j + t];
}

__device__ static __forceinline__ void rf_four_q4_0(const rf_u8* b, int j, float* v) {
    const float d = rf_f16_at(b);
    const rf_u8* qs = b + 2;
    for (int t = 0; t < 4; ++t) {
        const int l = j + t;
        const int q = l < 16 ? (qs[l] & 15) : (qs[l - 16] >> 4);
        v[t] = d * (float)(q - 8);
    }
}

__device__ static __forceinline__ void rf_four_q5_0(const rf_u8* b, int j, float* v) {
    const float d = rf_f16_at(b);
    const rf_u32 qh = (rf_u32)b[2] | ((rf_u32)b[3] << 8) | ((rf_u32)b[4] << 16) | ((rf_u32)b[5] << 24);
    const rf_u8* qs = b + 6;
    for (int t = 0; t < 4; ++t) {
        const int l = j + t;
        const int low = l < 16 ? (qs[l] & 15) : (qs[l - 16] >> 4);
        const int q = low | (int)(((qh >> l) & 1) << 4);
        v[t] = d * (float)(q - 16);
    }
}

__device__ static __forceinline__ void rf_four_q4_k(const rf_u8* b, int j, float* v) {
    const float d = rf_f16_at(b);
    const float dmin = rf_f16_at(b + 2);
    const int chunk = j / 64, r = j % 64;
    int scale, min;
    rf_q4_k_scale_min(2 * chunk + (r >= 32), b + 4, &scale, &min);
    const rf_u8* qs = b + 16 + 32 * chunk + (r % 32);
    for (int t = 0; t < 4; ++t) {
        const int q = r < 32 ? (qs[t] & 15) : (qs[t] >> 4);
        v[t] = d * (float)scale * (float)q - dmin * (float)min;
    }
}

__device__ static __forceinline__ void rf_four_q6_k(const rf_u8* b, int j, float* v) {
    const int half = j / 128, quarter = (j % 128) / 32, l = j % 32;
    const rf_u8* ql = b + 64 * half + (quarter & 1) * 32 + l;
    const rf_u8* qh = b + 128 + 32 * half + l;
    const signed char* sc = (const signed char*)(b + 192) + 8 * half + 2 * quarter;
    const float d = rf_f16_at(b + 208);
    const int shift = 2 * quarter;
    for (int t = 0; t < 4; ++t) {
        const int low = quarter < 2 ? (ql[t] & 15) : (ql[t] >> 4);
        const int q = (low | (((qh[t] >> shift) & 3) << 4)) - 32;
        v[t] = d * (float)sc[(l + t) / 16] * (float)q;
    }
}

template <void (*Four)(const rf_u8*, int, float*), int BlockBytes, int BlockValues>
__device__ static __forceinline__ void rf_dequant_f16(const rf_u8* __restrict__ w, rf_half* __restrict__ out,
                                                      rf_u64 quads) {
    for (rf_u64 i = rf_global_id_x(); i < quads; i += rf_global_stride_x()) {
        const rf_u64 first = 4 * i;
        const rf_u64 block = first / BlockValues;
        float v[4];
        Four(w + block * BlockBytes, (int)(first % BlockValues), v);
        rf_u64 packed = 0;
        for (int t = 0; t < 4; ++t) {
            packed |= (rf_u64)rf_float_to_half(v[t]).bits << (16 * t);
        }
        *(rf_u64*)(out + first) = packed;
    }
}

RF_KERNEL void rf_dequant_q8_0_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q8_0, 34, 32>(w, out, quads);
}
RF_KERNEL void rf_dequant_q4_0_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q4_0, 18, 32>(w, out, quads);
}
RF_KERNEL void rf_dequant_q5_0_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q5_0, 22, 32>(w, out, quads);
}
RF_KERNEL void rf_dequant_q4_k_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q4_k, 144, 256>(w, out, quads);
}
RF_KERNEL void rf_dequant_q6_k_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q6_k, 210, 256>(w, out, quads);
}

// ---------------------------------------------------------------------------
// Further GGUF types: Q4_1, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_NL, MXFP4 and BF16. Each is
// decoded four values at a time (rf_four_<type>, as ggml's dequantize_row_<type>
// computes them) for both its matrix-vector product on f32 activations
// (rf_matvec_<type>: a warp per row, a lane per block) and its f16 rows
// (rf_dequant_<type>_f16, launch shapes as above).

// Q4_1: 20 bytes per 32 values: f16 d, f16 m, 16 bytes of nibbles (low nibbles
// values 0-15, high nibbles 16-31); value = d * q + m.
__device__ static __forceinline__ void rf_four_q4_1(const rf_u8* b, int j, float* v) {
    const float d = rf_f16_at(b), m = rf_f16_at(b + 2);
    const rf_u8* qs = b + 4;
    for (int t = 0; t < 4; ++t) {
        const int l = j + t;
        const int q = l < 16 ? (qs[l] & 15) : (qs[l - 16] >> 4);
        v[t] = d * (float)q + m;
    }
}

// Q5_1: 24 bytes per 32 values: f16 d, f16 m, 32 fifth bits, 16 bytes of nibbles;
// value = d * q + m.
__device__ static __forceinline__ void rf_four_q5_1(const rf_u8* b, int j, float* v) {
    const float d = rf_f16_at(b), m = rf_f16_at(b + 2);
    const rf_u32 qh = (rf_u32)b[4] | ((rf_u32)b[5] << 8) | ((rf_u32)b[6] << 16) | ((rf_u32)b[7] << 24);
    const rf_u8* qs = b + 8;
    for (int t = 0; t < 4; ++t) {
        const int l = j + t;
        const int low = l < 16 ? (qs[l] & 15) : (qs[l - 16] >> 4);
        v[t] = d * (float)(low | (int)(((qh >> l) & 1) << 4)) + m;
    }
}

// Q2_K: 84 bytes per 256 values: 16 scale bytes (low nibble scale, high nibble
// min), 64 bytes of 2-bit values, f16 d, f16 dmin. Value n*128 + k*32 + l takes
// bits 2k of byte n*32 + l and scale byte n*8 + 2k + (l >= 16).
__device__ static __forceinline__ void rf_four_q2_k(const rf_u8* b, int j, float* v) {
    const float d = rf_f16_at(b + 80), dmin = rf_f16_at(b + 82);
    const int n = j / 128, k = (j % 128) / 32, l = j % 32;
    const int sc = b[n * 8 + 2 * k + (l >= 16)];
    const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
    const rf_u8* q = b + 16 + n * 32 + l;
    for (int t = 0; t < 4; ++t) v[t] = dl * (float)((q[t] >> (2 * k)) & 3) - ml;
}

// Q3_K: 110 bytes per 256 values: 32 bytes of high bits, 64 bytes of 2-bit values,
// 12 bytes of 6-bit scales (offset 32), f16 d. Indexing as Q2_K; the high bit of
// value n*128 + k*32 + l is bit n*4 + k of hmask[l] (set: +0, clear: -4).
__device__ static __forceinline__ void rf_four_q3_k(const rf_u8* b, int j, float* v) {
    const rf_u8* hmask = b;
    const rf_u8* sc = b + 96;
    const float d = rf_f16_at(b + 108);
    const int n = j / 128, k = (j % 128) / 32, l = j % 32;
    const int i = n * 8 + 2 * k + (l >= 16);
    const int low = i < 8 ? (sc[i] & 15) : (sc[i - 8] >> 4);
    const int high = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
    const float dl = d * (float)((low | (high << 4)) - 32);
    const rf_u8* q = b + 32 + n * 32 + l;
    const int bit = 1 << (n * 4 + k);
    for (int t = 0; t < 4; ++t) {
        const int value = ((q[t] >> (2 * k)) & 3) - ((hmask[l + t] & bit) ? 0 : 4);
        v[t] = dl * (float)value;
    }
}

// Q5_K: 176 bytes per 256 values: f16 d, f16 dmin, 12 bytes of scales and mins as
// Q4_K, 32 bytes of fifth bits, 128 bytes of nibbles; value = d * scale * q - dmin * min.
__device__ static __forceinline__ void rf_four_q5_k(const rf_u8* b, int j, float* v) {
    const float d = rf_f16_at(b), dmin = rf_f16_at(b + 2);
    const int chunk = j / 64, r = j % 64;
    int scale, min;
    rf_q4_k_scale_min(2 * chunk + (r >= 32), b + 4, &scale, &min);
    const rf_u8* qh = b + 16 + (r % 32);
    const rf_u8* qs = b + 48 + 32 * chunk + (r % 32);
    const int bit = r < 32 ? 1 << (2 * chunk) : 1 << (2 * chunk + 1);
    for (int t = 0; t < 4; ++t) {
        const int q = (r < 32 ? (qs[t] & 15) : (qs[t] >> 4)) + ((qh[t] & bit) ? 16 : 0);
        v[t] = d * (float)scale * (float)q - dmin * (float)min;
    }
}

// IQ4_NL: 18 bytes per 32 values: f16 d, nibbles (as Q4_0) indexing 16 levels.
__device__ static __forceinline__ void rf_four_iq4_nl(const rf_u8* b, int j, float* v) {
    const signed char levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    const float d = rf_f16_at(b);
    const rf_u8* qs = b + 2;
    for (int t = 0; t < 4; ++t) {
        const int l = j + t;
        v[t] = d * (float)levels[l < 16 ? (qs[l] & 15) : (qs[l - 16] >> 4)];
    }
}

// MXFP4: 17 bytes per 32 values: an E8M0 exponent byte, nibbles (as Q4_0) indexing
// FP4 (E2M1) values doubled; scale = 2^(e - 127) / 2.
__device__ static __forceinline__ void rf_four_mxfp4(const rf_u8* b, int j, float* v) {
    const signed char levels[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const rf_u32 e = b[0];
    const float d = rf_bits_to_float(e < 2 ? 0x00200000u << e : (e - 1) << 23);
    const rf_u8* qs = b + 1;
    for (int t = 0; t < 4; ++t) {
        const int l = j + t;
        v[t] = (float)levels[l < 16 ? (qs[l] & 15) : (qs[l - 16] >> 4)] * d;
    }
}

// BF16: 2 bytes per value, taken 32 at a time.
__device__ static __forceinline__ void rf_four_bf16(const rf_u8* b, int j, float* v) {
    const unsigned short* p = (const unsigned short*)b + j;
    for (int t = 0; t < 4; ++t) v[t] = rf_bits_to_float((rf_u32)p[t] << 16);
}

// A block's dot product with f32 activations through its four-value decoder.
template <void (*Four)(const rf_u8*, int, float*), int BlockValues>
__device__ static __forceinline__ float rf_dot_four(const rf_u8* b, const float* x) {
    float s = 0.0f;
    for (int j = 0; j < BlockValues; j += 4) {
        float v[4];
        Four(b, j, v);
        for (int t = 0; t < 4; ++t) s = rf_fmaf(v[t], x[j + t], s);
    }
    return s;
}

RF_KERNEL void rf_matvec_q4_1(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_four<rf_four_q4_1, 32>, 20, 32>(w, x, y, rows, cols);
}
RF_KERNEL void rf_dequant_q4_1_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q4_1, 20, 32>(w, out, quads);
}
RF_KERNEL void rf_matvec_q5_1(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_four<rf_four_q5_1, 32>, 24, 32>(w, x, y, rows, cols);
}
RF_KERNEL void rf_dequant_q5_1_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q5_1, 24, 32>(w, out, quads);
}
RF_KERNEL void rf_matvec_q2_k(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_four<rf_four_q2_k, 256>, 84, 256>(w, x, y, rows, cols);
}
RF_KERNEL void rf_dequant_q2_k_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q2_k, 84, 256>(w, out, quads);
}
RF_KERNEL void rf_matvec_q3_k(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_four<rf_four_q3_k, 256>, 110, 256>(w, x, y, rows, cols);
}
RF_KERNEL void rf_dequant_q3_k_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q3_k, 110, 256>(w, out, quads);
}
RF_KERNEL void rf_matvec_q5_k(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_four<rf_four_q5_k, 256>, 176, 256>(w, x, y, rows, cols);
}
RF_KERNEL void rf_dequant_q5_k_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_q5_k, 176, 256>(w, out, quads);
}
RF_KERNEL void rf_matvec_iq4_nl(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_four<rf_four_iq4_nl, 32>, 18, 32>(w, x, y, rows, cols);
}
RF_KERNEL void rf_dequant_iq4_nl_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_iq4_nl, 18, 32>(w, out, quads);
}
RF_KERNEL void rf_matvec_mxfp4(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_four<rf_four_mxfp4, 32>, 17, 32>(w, x, y, rows, cols);
}
RF_KERNEL void rf_dequant_mxfp4_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_mxfp4, 17, 32>(w, out, quads);
}
RF_KERNEL void rf_matvec_bf16(const rf_u8* w, const float* x, float* y, rf_u32 rows, rf_u32 cols) {
    rf_matvec<rf_dot_four<rf_four_bf16, 32>, 64, 32>(w, x, y, rows, cols);
}
RF_KERNEL void rf_dequant_bf16_f16(const rf_u8* w, rf_half* out, rf_u64 quads) {
    rf_dequant_f16<rf_four_bf16, 64, 32>(w, out, quads);
}
