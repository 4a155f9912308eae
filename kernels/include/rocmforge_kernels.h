// rocmforge_kernels.h: the one portability header of the ROCmForge kernels.
//
// Every kernel source in kernels/*.hip includes this header and nothing else. It is
// compiled two ways (see kernels/README.md):
//
//   AMD     clang in HIP mode, device only, with -nogpuinc -nogpulib: no HIP headers
//           and no device libraries exist, so this header defines the CUDA/HIP
//           dialect itself (__global__, threadIdx, __syncthreads, ...) on top of
//           clang's amdgcn builtins. Math uses clang builtins that lower to
//           instructions (never to ocml calls).
//   NVIDIA  nvcc -x cu: the dialect is native; this header only adds the portable
//           helpers below on top of CUDA intrinsics.
//
// Portable vocabulary (the same on both vendors):
//
//   RF_KERNEL                       extern "C" __global__: every kernel is declared
//                                   `RF_KERNEL void rf_<op>_<type>(...)`
//   RF_WARP_SIZE                    64 on gfx9 (GCN/CDNA), 32 on RDNA and NVIDIA; a
//                                   compile-time constant, never assume either value
//   RF_MAX_BLOCK_THREADS            1024, the largest block any kernel is launched with
//   RF_MAX_WARPS                    RF_MAX_BLOCK_THREADS / RF_WARP_SIZE
//   rf_u8, rf_u32, rf_u64           unsigned 8/32/64-bit integers
//   rf_half, rf_bf16                2-byte storage types (IEEE binary16, bfloat16);
//                                   arithmetic is done in float after conversion
//   rf_half_to_float, rf_float_to_half   round to nearest even
//   rf_bf16_to_float, rf_float_to_bf16   round to nearest even, NaN kept quiet
//   rf_lane_id()                    lane of the calling thread in its warp
//   rf_warp_id()                    warp of the calling thread in a 1-D block
//   rf_global_id_x()                blockIdx.x * blockDim.x + threadIdx.x (64-bit)
//   rf_global_stride_x()            gridDim.x * blockDim.x (64-bit), for grid-stride loops
//   rf_shfl_xor(v, mask)            value of lane (lane ^ mask), mask < RF_WARP_SIZE
//   rf_shfl_down(v, delta)          value of lane (lane + delta), own value past the end
//   rf_shfl(v, src)                 value of lane src (broadcast)
//   rf_warp_sum(v), rf_warp_max(v)  reductions over the whole warp; every lane gets
//                                   the result
//   rf_block_sum(v, scratch)        reductions over a 1-D block whose size is a
//   rf_block_max(v, scratch)        multiple of RF_WARP_SIZE (use multiples of 64);
//                                   scratch is __shared__ float[RF_MAX_WARPS]; every
//                                   thread gets the result
//   rf_sync_threads()               __syncthreads()
//   rf_expf rf_logf rf_sqrtf rf_rsqrtf rf_fmaf rf_fmaxf rf_fminf rf_fabsf
//   rf_dp4a(a, b, c)                c + the dot product of the four signed bytes of a
//                                   and b (one instruction where the GPU has one)
//   RF_INFINITY                     +inf as a float
//   rf_q8_0_block, rf_q8_0_segment  a block of 32 activations quantized as Q8_0
//                                   (with its sum), from memory or from registers
//   rf_silu(x), rf_gelu_ggml(x)     the gated activations' nonlinearities (GELU as
//                                   ggml's f16 table computes it)
//
// The warp-level helpers need every lane of the warp to take part (no divergent
// calls, no partial warps).

#ifndef ROCMFORGE_KERNELS_H
#define ROCMFORGE_KERNELS_H

#if defined(__HIP__) && defined(__AMDGCN__)
#define RF_PLATFORM_AMD 1
#elif defined(__CUDACC__)
#define RF_PLATFORM_NVIDIA 1
#elif defined(__HIP__)
// clang's host pass of a HIP compile: xtask builds device code only.
#error "rocmforge kernels are compiled device-only (--cuda-device-only)"
#else
#error "rocmforge kernels need clang in HIP mode (AMD) or nvcc (NVIDIA)"
#endif

typedef unsigned char rf_u8;
typedef unsigned int rf_u32;
typedef unsigned long long rf_u64;

// ---------------------------------------------------------------------------
// AMD: the CUDA/HIP dialect from clang builtins
// ---------------------------------------------------------------------------
#if defined(RF_PLATFORM_AMD)

// With real HIP headers included (hipcc without -nogpuinc) the dialect already exists.
#if !defined(HIP_INCLUDE_HIP_HIP_RUNTIME_H)

#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __host__ __attribute__((host))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(max_threads) __attribute__((amdgpu_flat_work_group_size(1, max_threads)))

struct rf_dim3 {
    rf_u32 x, y, z;
};

// Each access is a fresh, side-effect free read, so unused components cost nothing.
#define threadIdx                                                                        \
    (rf_dim3{__builtin_amdgcn_workitem_id_x(), __builtin_amdgcn_workitem_id_y(),         \
             __builtin_amdgcn_workitem_id_z()})
#define blockIdx                                                                         \
    (rf_dim3{__builtin_amdgcn_workgroup_id_x(), __builtin_amdgcn_workgroup_id_y(),       \
             __builtin_amdgcn_workgroup_id_z()})
#define blockDim                                                                         \
    (rf_dim3{(rf_u32)__builtin_amdgcn_workgroup_size_x(),                                \
             (rf_u32)__builtin_amdgcn_workgroup_size_y(),                                \
             (rf_u32)__builtin_amdgcn_workgroup_size_z()})
// The dispatch packet holds the grid in work-items; HIP grids are whole blocks.
#define gridDim                                                                          \
    (rf_dim3{__builtin_amdgcn_grid_size_x() / (rf_u32)__builtin_amdgcn_workgroup_size_x(), \
             __builtin_amdgcn_grid_size_y() / (rf_u32)__builtin_amdgcn_workgroup_size_y(), \
             __builtin_amdgcn_grid_size_z() / (rf_u32)__builtin_amdgcn_workgroup_size_z()})

// Workgroup barrier with the memory ordering of __syncthreads: writes before it
// (global and shared) are visible to the whole block after it.
__device__ static __forceinline__ void __syncthreads() {
    __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
    __builtin_amdgcn_s_barrier();
    __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}

#endif // !HIP_INCLUDE_HIP_HIP_RUNTIME_H

#if defined(__AMDGCN_WAVEFRONT_SIZE__)
#define RF_WARP_SIZE __AMDGCN_WAVEFRONT_SIZE__
#elif defined(__AMDGCN_WAVEFRONT_SIZE)
#define RF_WARP_SIZE __AMDGCN_WAVEFRONT_SIZE
#else
#error "clang does not define the wavefront size for this target"
#endif

#define RF_INFINITY __builtin_inff()

__device__ static __forceinline__ float rf_bits_to_float(rf_u32 bits) {
    return __builtin_bit_cast(float, bits);
}
__device__ static __forceinline__ rf_u32 rf_float_to_bits(float value) {
    return __builtin_bit_cast(rf_u32, value);
}

__device__ static __forceinline__ rf_u32 rf_lane_id() {
#if RF_WARP_SIZE == 64
    return __builtin_amdgcn_mbcnt_hi(~0u, __builtin_amdgcn_mbcnt_lo(~0u, 0u));
#else
    return __builtin_amdgcn_mbcnt_lo(~0u, 0u);
#endif
}

// ds_bpermute: every lane reads the 32-bit value of the lane whose byte address it
// names (lane * 4); addresses wrap modulo the wavefront.
__device__ static __forceinline__ int rf_bpermute(rf_u32 src_lane, int value) {
    return __builtin_amdgcn_ds_bpermute((int)(src_lane << 2), value);
}

__device__ static __forceinline__ int rf_shfl_xor(int value, int mask) {
    return rf_bpermute(rf_lane_id() ^ ((rf_u32)mask & (RF_WARP_SIZE - 1)), value);
}
__device__ static __forceinline__ int rf_shfl_down(int value, int delta) {
    rf_u32 lane = rf_lane_id();
    rf_u32 src = lane + (rf_u32)delta;
    return rf_bpermute(src < RF_WARP_SIZE ? src : lane, value);
}
__device__ static __forceinline__ int rf_shfl(int value, int src_lane) {
    return rf_bpermute((rf_u32)src_lane & (RF_WARP_SIZE - 1), value);
}

struct rf_half {
    unsigned short bits;
};

__device__ static __forceinline__ float rf_half_to_float(rf_half h) {
    return (float)__builtin_bit_cast(_Float16, h.bits);
}
__device__ static __forceinline__ rf_half rf_float_to_half(float f) {
    rf_half h;
    h.bits = __builtin_bit_cast(unsigned short, (_Float16)f);
    return h;
}

__device__ static __forceinline__ float rf_expf(float x) { return __builtin_expf(x); }
__device__ static __forceinline__ float rf_logf(float x) { return __builtin_logf(x); }
__device__ static __forceinline__ float rf_sqrtf(float x) { return __builtin_sqrtf(x); }
// v_rsq_f32: 1 ulp.
__device__ static __forceinline__ float rf_rsqrtf(float x) { return __builtin_amdgcn_rsqf(x); }
__device__ static __forceinline__ float rf_fmaf(float a, float b, float c) {
    return __builtin_fmaf(a, b, c);
}
__device__ static __forceinline__ float rf_fmaxf(float a, float b) { return __builtin_fmaxf(a, b); }
__device__ static __forceinline__ float rf_fminf(float a, float b) { return __builtin_fminf(a, b); }
__device__ static __forceinline__ float rf_fabsf(float x) { return __builtin_fabsf(x); }

// Signed 8-bit dot products: CDNA and RDNA2 have v_dot4_i32_i8, RDNA3 and RDNA4
// the mixed-sign form; other targets add the four products.
__device__ static __forceinline__ int rf_dp4a(int a, int b, int c) {
#if defined(__gfx90a__) || defined(__gfx942__) || defined(__gfx1030__)
    return __builtin_amdgcn_sdot4(a, b, c, false);
#elif defined(__gfx1100__) || defined(__gfx1201__)
    return __builtin_amdgcn_sudot4(true, a, true, b, c, false);
#else
    for (int i = 0; i < 32; i += 8) {
        c += (int)(signed char)(a >> i) * (int)(signed char)(b >> i);
    }
    return c;
#endif
}

// ---------------------------------------------------------------------------
// NVIDIA: CUDA intrinsics
// ---------------------------------------------------------------------------
#elif defined(RF_PLATFORM_NVIDIA)

#define RF_WARP_SIZE 32
#define RF_FULL_MASK 0xffffffffu
#define RF_INFINITY __int_as_float(0x7f800000)

__device__ static __forceinline__ float rf_bits_to_float(rf_u32 bits) {
    return __uint_as_float(bits);
}
__device__ static __forceinline__ rf_u32 rf_float_to_bits(float value) {
    return __float_as_uint(value);
}

__device__ static __forceinline__ rf_u32 rf_lane_id() {
    rf_u32 lane;
    asm("mov.u32 %0, %%laneid;" : "=r"(lane));
    return lane;
}

__device__ static __forceinline__ int rf_shfl_xor(int value, int mask) {
    return __shfl_xor_sync(RF_FULL_MASK, value, mask);
}
__device__ static __forceinline__ int rf_shfl_down(int value, int delta) {
    return __shfl_down_sync(RF_FULL_MASK, value, (unsigned)delta);
}
__device__ static __forceinline__ int rf_shfl(int value, int src_lane) {
    return __shfl_sync(RF_FULL_MASK, value, src_lane);
}

// cuda_fp16.h needs the CCCL headers, which the nvcc wheels do not carry; the
// conversions are single PTX instructions anyway.
struct rf_half {
    unsigned short bits;
};

__device__ static __forceinline__ float rf_half_to_float(rf_half h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits));
    return f;
}
__device__ static __forceinline__ rf_half rf_float_to_half(float f) {
    rf_half h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
    return h;
}

__device__ static __forceinline__ float rf_expf(float x) { return expf(x); }
__device__ static __forceinline__ float rf_logf(float x) { return logf(x); }
__device__ static __forceinline__ float rf_sqrtf(float x) { return sqrtf(x); }
__device__ static __forceinline__ float rf_rsqrtf(float x) { return rsqrtf(x); }
__device__ static __forceinline__ float rf_fmaf(float a, float b, float c) { return fmaf(a, b, c); }
__device__ static __forceinline__ float rf_fmaxf(float a, float b) { return fmaxf(a, b); }
__device__ static __forceinline__ float rf_fminf(float a, float b) { return fminf(a, b); }
__device__ static __forceinline__ float rf_fabsf(float x) { return fabsf(x); }

__device__ static __forceinline__ int rf_dp4a(int a, int b, int c) { return __dp4a(a, b, c); }

#endif // platform

// ---------------------------------------------------------------------------
// Common to both vendors
// ---------------------------------------------------------------------------

#define RF_KERNEL extern "C" __global__
#define RF_MAX_BLOCK_THREADS 1024
#define RF_MAX_WARPS (RF_MAX_BLOCK_THREADS / RF_WARP_SIZE)

__device__ static __forceinline__ void rf_sync_threads() { __syncthreads(); }

__device__ static __forceinline__ rf_u32 rf_warp_id() { return threadIdx.x / RF_WARP_SIZE; }

__device__ static __forceinline__ rf_u64 rf_global_id_x() {
    return (rf_u64)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ static __forceinline__ rf_u64 rf_global_stride_x() {
    return (rf_u64)gridDim.x * blockDim.x;
}

__device__ static __forceinline__ float rf_shfl_xor(float value, int mask) {
    return rf_bits_to_float((rf_u32)rf_shfl_xor((int)rf_float_to_bits(value), mask));
}
__device__ static __forceinline__ float rf_shfl_down(float value, int delta) {
    return rf_bits_to_float((rf_u32)rf_shfl_down((int)rf_float_to_bits(value), delta));
}
__device__ static __forceinline__ float rf_shfl(float value, int src_lane) {
    return rf_bits_to_float((rf_u32)rf_shfl((int)rf_float_to_bits(value), src_lane));
}

// Butterfly reductions: log2(RF_WARP_SIZE) steps, every lane ends with the result.
__device__ static __forceinline__ float rf_warp_sum(float value) {
#pragma unroll
    for (int offset = RF_WARP_SIZE / 2; offset > 0; offset /= 2) {
        value += rf_shfl_xor(value, offset);
    }
    return value;
}
__device__ static __forceinline__ float rf_warp_max(float value) {
#pragma unroll
    for (int offset = RF_WARP_SIZE / 2; offset > 0; offset /= 2) {
        value = rf_fmaxf(value, rf_shfl_xor(value, offset));
    }
    return value;
}

// Block reductions for 1-D blocks of whole warps (blockDim.x a multiple of
// RF_WARP_SIZE, at most RF_MAX_BLOCK_THREADS). Every thread of the block must call
// them; scratch is __shared__ float[RF_MAX_WARPS] and may be reused by the next call.
// RF_MAX_WARPS <= RF_WARP_SIZE, so one warp-level pass over the partials finishes.
__device__ static __forceinline__ float rf_block_sum(float value, float* scratch) {
    const rf_u32 lane = threadIdx.x % RF_WARP_SIZE;
    const rf_u32 warps = blockDim.x / RF_WARP_SIZE;
    value = rf_warp_sum(value);
    __syncthreads(); // an earlier call may still be reading scratch
    if (lane == 0) {
        scratch[rf_warp_id()] = value;
    }
    __syncthreads();
    return rf_warp_sum(lane < warps ? scratch[lane] : 0.0f);
}
__device__ static __forceinline__ float rf_block_max(float value, float* scratch) {
    const rf_u32 lane = threadIdx.x % RF_WARP_SIZE;
    const rf_u32 warps = blockDim.x / RF_WARP_SIZE;
    value = rf_warp_max(value);
    __syncthreads();
    if (lane == 0) {
        scratch[rf_warp_id()] = value;
    }
    __syncthreads();
    return rf_warp_max(lane < warps ? scratch[lane] : -RF_INFINITY);
}

// Activation quantization shared by the kernels that apply it (the matrix-vector
// module's quantizers and fused norms, attention's output).

// Bytes of one block of rf_quantize_q8_0's output: f16 d, i16 sum, 32 x i8.
#define RF_Q8_0X_BYTES 36

// Q8_0 values in 36-byte blocks for the GPU kernels: f16 d = max|x| / 127, the
// i16 sum of the 32 q, then q = round-half-even(x * 127 / max|x|). d and q are
// ggml's Q8_0 (its 34-byte block is this one without the sum); the sum and the
// 4-byte aligned values let the dot products read whole words and skip Σq.
// One warp quantizes the 32 values at v into o (v in global or shared memory).
__device__ static __forceinline__ void rf_q8_0_block(const float* v, rf_u8* o, rf_u32 lane) {
    const float x = lane < 32 ? v[lane] : 0.0f;
    const float amax = rf_warp_max(rf_fabsf(x));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    float q = 0.0f;
    if (lane < 32) {
        q = __builtin_rintf(x * id);
        q = rf_fminf(rf_fmaxf(q, -128.0f), 127.0f);
        o[4 + lane] = (rf_u8)(signed char)(int)q;
    }
    // Integers below 2^24: the float sum is exact in any order.
    const float sum = rf_warp_sum(q);
    if (lane == 0) {
        // 16-bit stores (blocks start at 4-byte offsets): byte stores of the
        // converted half lost its low byte under ptxas 13.0.
        *(rf_half*)o = rf_float_to_half(d);
        *(short*)(o + 2) = (short)(int)sum;
    }
}

// rf_q8_0_block for values already in registers: each 32-lane segment of the
// warp (the whole warp on 32-lane GPUs, each half on 64-lane ones) holds one
// block's 32 values, one per lane, and writes it to `o` when `keep` (the same
// for the segment's lanes). Every lane must call it: the reductions shuffle
// within the segment, so its results equal rf_q8_0_block's.
__device__ static __forceinline__ void rf_q8_0_segment(float x, rf_u8* o, bool keep) {
    const rf_u32 lane = rf_lane_id() % 32;
    float amax = rf_fabsf(x);
    for (int mask = 16; mask > 0; mask /= 2) amax = rf_fmaxf(amax, rf_shfl_xor(amax, mask));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const float q = rf_fminf(rf_fmaxf(__builtin_rintf(x * id), -128.0f), 127.0f);
    float sum = q;
    for (int mask = 16; mask > 0; mask /= 2) sum += rf_shfl_xor(sum, mask);
    if (keep) {
        o[4 + lane] = (rf_u8)(signed char)(int)q;
        if (lane == 0) {
            *(rf_half*)o = rf_float_to_half(d);
            *(short*)(o + 2) = (short)(int)sum;
        }
    }
}

// Gated activations' nonlinearities, shared by the kernels that apply them.
// SiLU: x * sigmoid(x).
__device__ static __forceinline__ float rf_silu(float x) { return x / (1.0f + rf_expf(-x)); }

// GELU with the tanh approximation as ggml computes it: its table rounds the input
// and the result through f16 between -10 and 10; outside, 0 and x.
__device__ static __forceinline__ float rf_gelu_ggml(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float xh = rf_half_to_float(rf_float_to_half(x));
    const float inner = rf_fmaf(0.044715f * xh, xh, 1.0f);
    const float z = 0.7978845608028654f * xh * inner;
    // tanh(z) = 1 - 2 / (exp(2z) + 1), exact at both ends.
    const float t = 1.0f - 2.0f / (rf_expf(2.0f * z) + 1.0f);
    return rf_half_to_float(rf_float_to_half(0.5f * xh * (1.0f + t)));
}

// bfloat16 is the top half of a float.
struct rf_bf16 {
    unsigned short bits;
};

__device__ static __forceinline__ float rf_bf16_to_float(rf_bf16 b) {
    return rf_bits_to_float((rf_u32)b.bits << 16);
}
__device__ static __forceinline__ rf_bf16 rf_float_to_bf16(float f) {
    const rf_u32 bits = rf_float_to_bits(f);
    rf_bf16 b;
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
        b.bits = (unsigned short)((bits >> 16) | 0x0040u); // NaN: keep it quiet
    } else {
        b.bits = (unsigned short)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
    }
    return b;
}

static_assert(sizeof(rf_half) == 2, "rf_half is 2 bytes");
static_assert(sizeof(rf_bf16) == 2, "rf_bf16 is 2 bytes");
static_assert(RF_WARP_SIZE == 32 || RF_WARP_SIZE == 64, "warp size is 32 or 64");
static_assert(RF_MAX_WARPS <= RF_WARP_SIZE, "one warp reduces the per-warp partials");

#endif // ROCMFORGE_KERNELS_H
