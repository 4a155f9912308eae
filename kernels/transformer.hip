// Transformer steps: rotary embeddings, gated activations and attention over an
// f16 key/value cache, for one decoded token or the rows of a prompt.
//
// Launch shapes are given per kernel. Blocks are 1-D with a multiple of 64
// threads (256 is a good choice). Independent of the warp size.

#include "rocmforge_kernels.h"

// Rotates the first rope_dims values of one head by the angles whose cos/sin pairs
// are cs[rope_dims / 2][2]; pairs (2i, 2i+1), or (i, i + rope_dims / 2) when neox.
__device__ static __forceinline__ void rf_rope_head(float* head, const float* cs, rf_u32 rope_dims, rf_u32 neox) {
    const rf_u32 pairs = rope_dims / 2;
    for (rf_u32 i = threadIdx.x; i < pairs; i += blockDim.x) {
        const rf_u32 a = neox ? i : 2 * i;
        const rf_u32 b = neox ? i + pairs : 2 * i + 1;
        const float c = cs[2 * i];
        const float s = cs[2 * i + 1];
        const float x0 = head[a];
        const float x1 = head[b];
        head[a] = rf_fmaf(x0, c, -(x1 * s));
        head[b] = rf_fmaf(x0, s, x1 * c);
    }
}

// One block of the rope-and-store kernels: token `row`'s head `h` (query heads,
// then key heads, then value heads), its keys and values stored at position `at`
// of k_cache / v_cache.
__device__ static __forceinline__ void rf_rope_store_head(float* __restrict__ q, float* __restrict__ k,
                                                          const float* __restrict__ v, const float* __restrict__ cs,
                                                          rf_half* __restrict__ k_cache, rf_half* __restrict__ v_cache,
                                                          rf_u64 at, rf_u64 row, rf_u32 h, rf_u32 n_head_q,
                                                          rf_u32 n_head_k, rf_u32 head_dim, rf_u32 head_dim_v,
                                                          rf_u32 rope_dims, rf_u32 neox) {
    if (h < n_head_q) {
        rf_rope_head(q + (row * n_head_q + h) * head_dim, cs + row * head_dim, rope_dims, neox);
    } else if (h < n_head_q + n_head_k) {
        const rf_u32 kh = h - n_head_q;
        float* head = k + (row * n_head_k + kh) * head_dim;
        rf_rope_head(head, cs + row * head_dim, rope_dims, neox);
        __syncthreads(); // the rotated pairs were written by other threads
        rf_half* dst = k_cache + (at * n_head_k + kh) * head_dim;
        for (rf_u32 d = threadIdx.x; d < head_dim; d += blockDim.x) dst[d] = rf_float_to_half(head[d]);
    } else {
        const rf_u32 vh = h - n_head_q - n_head_k;
        const float* head = v + (row * n_head_k + vh) * head_dim_v;
        rf_half* dst = v_cache + (at * n_head_k + vh) * head_dim_v;
        for (rf_u32 d = threadIdx.x; d < head_dim_v; d += blockDim.x) dst[d] = rf_float_to_half(head[d]);
    }
}

// void rf_rope_store_f32(float* q, float* k, const float* v, const float* cs,
//                        uint16_t* k_cache, uint16_t* v_cache, const unsigned int* pos,
//                        unsigned int n_head_q, unsigned int n_head_k, unsigned int head_dim,
//                        unsigned int head_dim_v, unsigned int rope_dims, unsigned int neox)
// For each token row of one sequence: rotates the query heads q[row][n_head_q][head_dim]
// and the key heads k[row][n_head_k][head_dim] with that row's table cs[row][head_dim]
// (see rf_rope_head), and stores the rotated keys and the values
// v[row][n_head_k][head_dim_v] as f16 into row pos[0] + row of the caches (the first
// position read from device memory). grid = (n_head_q + 2 * n_head_k, rows, 1):
// blocks take query heads, then key heads, then value heads.
RF_KERNEL void rf_rope_store_f32(float* __restrict__ q, float* __restrict__ k, const float* __restrict__ v,
                                 const float* __restrict__ cs, rf_half* __restrict__ k_cache,
                                 rf_half* __restrict__ v_cache, const rf_u32* __restrict__ pos,
                                 rf_u32 n_head_q, rf_u32 n_head_k, rf_u32 head_dim, rf_u32 head_dim_v,
                                 rf_u32 rope_dims, rf_u32 neox) {
    const rf_u64 row = blockIdx.y;
    rf_rope_store_head(q, k, v, cs, k_cache, v_cache, (rf_u64)pos[0] + row, row, blockIdx.x, n_head_q, n_head_k,
                       head_dim, head_dim_v, rope_dims, neox);
}

// void rf_rope_store_seqs_f32(float* q, float* k, const float* v, const float* cs,
//                             const uint64_t* k_caches, const uint64_t* v_caches,
//                             const unsigned int* pos, unsigned int n_head_q, ...)
// rf_rope_store_f32 for one token of each of `rows` sequences: row r's keys and
// values go to position pos[r] of the caches at addresses k_caches[r] and
// v_caches[r] (all read from device memory, so that a captured decode step can be
// replayed for any positions and sequences). grid = (n_head_q + 2 * n_head_k, rows, 1).
RF_KERNEL void rf_rope_store_seqs_f32(float* __restrict__ q, float* __restrict__ k, const float* __restrict__ v,
                                      const float* __restrict__ cs, const rf_u64* __restrict__ k_caches,
                                      const rf_u64* __restrict__ v_caches, const rf_u32* __restrict__ pos,
                                      rf_u32 n_head_q, rf_u32 n_head_k, rf_u32 head_dim, rf_u32 head_dim_v,
                                      rf_u32 rope_dims, rf_u32 neox) {
    const rf_u64 row = blockIdx.y;
    rf_rope_store_head(q, k, v, cs, (rf_half*)k_caches[row], (rf_half*)v_caches[row], pos[row], row, blockIdx.x,
                       n_head_q, n_head_k, head_dim, head_dim_v, rope_dims, neox);
}

// void rf_swiglu_f32(float* gate, const float* up, unsigned long long n)
// gate[i] = silu(gate[i]) * up[i]. 1-D, any grid (grid-stride loop).
RF_KERNEL void rf_swiglu_f32(float* gate, const float* up, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        gate[i] = rf_silu(gate[i]) * up[i];
    }
}

// void rf_geglu_f32(float* gate, const float* up, unsigned long long n)
// gate[i] = gelu(gate[i]) * up[i], GELU as ggml's f16 table computes it
// (rf_gelu_ggml). 1-D, any grid (grid-stride loop).
RF_KERNEL void rf_geglu_f32(float* gate, const float* up, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        gate[i] = rf_gelu_ggml(gate[i]) * up[i];
    }
}

__device__ static __forceinline__ float rf_round_half(float x) {
    return rf_half_to_float(rf_float_to_half(x));
}

// Most head dimensions one lane of the attention kernels holds: head_dim must be
// at most RF_ATTEND_DIMS * RF_WARP_SIZE (256 on 32-lane warps).
#define RF_ATTEND_DIMS 8

// One query position of one sequence (the body of rf_attend_f16_seqs): for each
// head h = blockIdx.x, out[h] = softmax(scale * q[h] . k[j]) v[j] over the cached
// positions first <= j < total. k[pos][n_head_kv][head_dim] and
// v[pos][n_head_kv][head_dim_v] hold f16; query heads share key/value heads in
// groups of n_head / n_head_kv; scores has n_head rows of `stride` >= total floats.
// The query is rounded to f16 as the cache is; scores, softmax and the weighted sum
// are f32. Each warp takes positions in turn (its lanes split the head's
// dimensions), then the block's threads split the weighted sum over dimensions and
// groups of positions. With q8 not null, the outputs are also quantized there
// (rf_quantize_q8_0's blocks: head h's head_dim_v / 32 blocks from block
// h * head_dim_v / 32).
__device__ static __forceinline__ void rf_attend_f16_one(const float* __restrict__ q,
                                                          const rf_half* __restrict__ k,
                                                          const rf_half* __restrict__ v, float* __restrict__ out,
                                                          float* __restrict__ scores, rf_u32 n_head,
                                                          rf_u32 n_head_kv, rf_u32 head_dim, rf_u32 head_dim_v,
                                                          rf_u32 first, rf_u32 total, rf_u32 stride, float scale,
                                                          rf_u8* __restrict__ q8) {
    __shared__ float scratch[RF_MAX_WARPS];
    __shared__ float part[RF_MAX_BLOCK_THREADS];
    const rf_u32 h = blockIdx.x;
    const rf_u32 kvh = h / (n_head / n_head_kv);
    const rf_u32 lane = rf_lane_id(), warps = blockDim.x / RF_WARP_SIZE;
    const float* qh = q + (rf_u64)h * head_dim;
    float* s = scores + (rf_u64)h * stride;
    float qv[RF_ATTEND_DIMS];
    for (int i = 0; i < RF_ATTEND_DIMS; ++i) {
        const rf_u32 d = lane + i * RF_WARP_SIZE;
        qv[i] = d < head_dim ? rf_round_half(qh[d]) : 0.0f;
    }
    float local_max = -RF_INFINITY;
    for (rf_u32 j = first + rf_warp_id(); j < total; j += warps) {
        const rf_half* kj = k + ((rf_u64)j * n_head_kv + kvh) * head_dim;
        float dot = 0.0f;
        for (int i = 0; i < RF_ATTEND_DIMS; ++i) {
            const rf_u32 d = lane + i * RF_WARP_SIZE;
            if (d < head_dim) dot = rf_fmaf(qv[i], rf_half_to_float(kj[d]), dot);
        }
        const float sj = rf_warp_sum(dot) * scale;
        if (lane == 0) s[j] = sj;
        local_max = rf_fmaxf(local_max, sj);
    }
    // The block reductions' barriers also make every s[j] visible to the block.
    const float max = rf_block_max(local_max, scratch);
    float local_sum = 0.0f;
    for (rf_u32 j = first + threadIdx.x; j < total; j += blockDim.x) {
        const float p = rf_expf(s[j] - max);
        s[j] = p;
        local_sum += p;
    }
    const float sum = rf_block_sum(local_sum, scratch);
    const rf_u32 groups = head_dim_v < blockDim.x ? blockDim.x / head_dim_v : 1;
    for (rf_u32 i = threadIdx.x; i < groups * head_dim_v; i += blockDim.x) {
        const rf_u32 g = i / head_dim_v, d = i % head_dim_v;
        float acc = 0.0f;
        for (rf_u32 j = first + g; j < total; j += groups) {
            acc = rf_fmaf(s[j], rf_half_to_float(v[((rf_u64)j * n_head_kv + kvh) * head_dim_v + d]), acc);
        }
        if (groups == 1) {
            out[(rf_u64)h * head_dim_v + d] = acc / sum;
        } else {
            part[i] = acc;
        }
    }
    if (groups > 1) {
        __syncthreads();
        for (rf_u32 d = threadIdx.x; d < head_dim_v; d += blockDim.x) {
            float acc = 0.0f;
            for (rf_u32 g = 0; g < groups; ++g) acc += part[g * head_dim_v + d];
            out[(rf_u64)h * head_dim_v + d] = acc / sum;
        }
    }
    if (q8 != nullptr) {
        // The head's outputs as whole Q8_0 blocks (head_dim_v % 32 == 0), as
        // rf_quantize_q8_0 would write them for the next product.
        __syncthreads();
        const float* oh = out + (rf_u64)h * head_dim_v;
        rf_u8* qh8 = q8 + (rf_u64)h * (head_dim_v / 32) * RF_Q8_0X_BYTES;
        for (rf_u32 b = rf_warp_id(); b < head_dim_v / 32; b += warps) {
            rf_q8_0_block(oh + 32 * b, qh8 + (rf_u64)b * RF_Q8_0X_BYTES, lane);
        }
    }
}

// void rf_attend_f16_seqs(const float* q, const uint64_t* k_caches, const uint64_t* v_caches,
//                        float* out, float* scores, unsigned int n_head, unsigned int n_head_kv,
//                        unsigned int head_dim, unsigned int head_dim_v,
//                        const unsigned int* spans, unsigned int stride, float scale,
//                        uint8_t* q8)
// One query token of each of `rows` sequences (a decode step): row r attends the
// positions spans[2r] <= j < spans[2r + 1] of the caches at addresses k_caches[r]
// and v_caches[r] (see rf_attend_f16_one; everything that changes between steps is
// read from device memory, so that a captured step can be replayed). q[r][n_head][head_dim],
// out[r][n_head][head_dim_v], scores[r][n_head][stride]; q8 null, or room for each
// row's n_head * head_dim_v / 32 Q8_0 blocks (head_dim_v % 32 == 0), where the
// outputs go quantized too. grid = (n_head, rows, 1), 1-D blocks of whole warps (256).
RF_KERNEL void rf_attend_f16_seqs(const float* __restrict__ q, const rf_u64* __restrict__ k_caches,
                                  const rf_u64* __restrict__ v_caches, float* __restrict__ out,
                                  float* __restrict__ scores, rf_u32 n_head, rf_u32 n_head_kv, rf_u32 head_dim,
                                  rf_u32 head_dim_v, const rf_u32* __restrict__ spans, rf_u32 stride,
                                  float scale, rf_u8* __restrict__ q8) {
    const rf_u64 r = blockIdx.y;
    rf_u8* row_q8 = q8 != nullptr ? q8 + r * (n_head * head_dim_v / 32) * RF_Q8_0X_BYTES : nullptr;
    rf_attend_f16_one(q + r * n_head * head_dim, (const rf_half*)k_caches[r], (const rf_half*)v_caches[r],
                      out + r * n_head * head_dim_v, scores + r * n_head * stride, n_head, n_head_kv, head_dim,
                      head_dim_v, spans[2 * r], spans[2 * r + 1], stride, scale, row_q8);
}

// void rf_attend_rows_f16(const float* q, const uint16_t* k, const uint16_t* v, float* out,
//                         unsigned int n_head, unsigned int n_head_kv, unsigned int head_dim,
//                         unsigned int head_dim_v, unsigned int start, unsigned int rows,
//                         unsigned int window, float scale)
// Causal attention of a prompt's rows: query row i (position start + i, heads
// q[i][n_head][head_dim]) attends the cached positions first .. start + i, where
// first = start + i + 1 - window when window > 0 and that is positive, else 0;
// out[i][n_head][head_dim_v]. The caches (f16, as in rf_attend_f16_body) already
// hold the rows' own keys and values. One warp per (row, head), its lanes
// splitting the head's dimensions; an online softmax in f32 with the query
// rounded to f16 as the cache is. grid = (ceil(rows * n_head / warps per block), 1, 1).
RF_KERNEL void rf_attend_rows_f16(const float* __restrict__ q, const rf_half* __restrict__ k,
                                  const rf_half* __restrict__ v, float* __restrict__ out, rf_u32 n_head,
                                  rf_u32 n_head_kv, rf_u32 head_dim, rf_u32 head_dim_v, rf_u32 start,
                                  rf_u32 rows, rf_u32 window, float scale) {
    const rf_u64 task = (rf_u64)blockIdx.x * (blockDim.x / RF_WARP_SIZE) + rf_warp_id();
    if (task >= (rf_u64)rows * n_head) {
        return;
    }
    const rf_u32 row = (rf_u32)(task / n_head), h = (rf_u32)(task % n_head);
    const rf_u32 kvh = h / (n_head / n_head_kv);
    const rf_u32 lane = rf_lane_id();
    const rf_u32 pos = start + row;
    const rf_u32 first = (window > 0 && pos + 1 > window) ? pos + 1 - window : 0;
    const float* qh = q + ((rf_u64)row * n_head + h) * head_dim;
    float qv[RF_ATTEND_DIMS], acc[RF_ATTEND_DIMS];
    for (int i = 0; i < RF_ATTEND_DIMS; ++i) {
        const rf_u32 d = lane + i * RF_WARP_SIZE;
        qv[i] = d < head_dim ? rf_round_half(qh[d]) : 0.0f;
        acc[i] = 0.0f;
    }
    float max = -RF_INFINITY, sum = 0.0f;
    for (rf_u32 j = first; j <= pos; ++j) {
        const rf_half* kj = k + ((rf_u64)j * n_head_kv + kvh) * head_dim;
        float dot = 0.0f;
        for (int i = 0; i < RF_ATTEND_DIMS; ++i) {
            const rf_u32 d = lane + i * RF_WARP_SIZE;
            if (d < head_dim) dot = rf_fmaf(qv[i], rf_half_to_float(kj[d]), dot);
        }
        const float s = rf_warp_sum(dot) * scale;
        const float next = rf_fmaxf(max, s);
        const float keep = rf_expf(max - next);
        const float p = rf_expf(s - next);
        max = next;
        sum = rf_fmaf(sum, keep, p);
        const rf_half* vj = v + ((rf_u64)j * n_head_kv + kvh) * head_dim_v;
        for (int i = 0; i < RF_ATTEND_DIMS; ++i) {
            const rf_u32 d = lane + i * RF_WARP_SIZE;
            if (d < head_dim_v) acc[i] = rf_fmaf(p, rf_half_to_float(vj[d]), acc[i] * keep);
        }
    }
    float* oh = out + ((rf_u64)row * n_head + h) * head_dim_v;
    for (int i = 0; i < RF_ATTEND_DIMS; ++i) {
        const rf_u32 d = lane + i * RF_WARP_SIZE;
        if (d < head_dim_v) oh[d] = acc[i] / sum;
    }
}
