// Element-wise kernels over contiguous buffers.
//
// Launch shape for every kernel here: 1-D, any block size up to 1024 (256 is a good
// choice), any grid size: the kernels loop over the elements with a grid stride, so
// grid = min(ceil(n / block), a few blocks per compute unit) covers any n. n == 0 is
// a no-op. Pointers may alias only where a kernel says so.

#include "rocmforge_kernels.h"

// void rf_fill_f32(float* y, float value, unsigned long long n)
// y[i] = value for i < n.
RF_KERNEL void rf_fill_f32(float* __restrict__ y, float value, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        y[i] = value;
    }
}

// void rf_add_f32(const float* a, const float* b, float* y, unsigned long long n)
// y[i] = a[i] + b[i]. y may be a or b (in place).
RF_KERNEL void rf_add_f32(const float* a, const float* b, float* y, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        y[i] = a[i] + b[i];
    }
}

// void rf_add_bias_f32(float* y, const float* bias, unsigned long long cols,
//                      unsigned long long n)
// y[i] += bias[i % cols] for i < n: a bias added to every row of cols values.
RF_KERNEL void rf_add_bias_f32(float* __restrict__ y, const float* __restrict__ bias, rf_u64 cols, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        y[i] += bias[i % cols];
    }
}

// void rf_mul_f32(const float* a, const float* b, float* y, unsigned long long n)
// y[i] = a[i] * b[i]. y may be a or b (in place).
RF_KERNEL void rf_mul_f32(const float* a, const float* b, float* y, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        y[i] = a[i] * b[i];
    }
}

// void rf_scale_f32(const float* x, float* y, float alpha, unsigned long long n)
// y[i] = alpha * x[i]. y may be x (in place).
RF_KERNEL void rf_scale_f32(const float* x, float* y, float alpha, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        y[i] = alpha * x[i];
    }
}

// void rf_axpy_f32(float alpha, const float* x, float* y, unsigned long long n)
// y[i] = alpha * x[i] + y[i] (one fused multiply-add).
RF_KERNEL void rf_axpy_f32(float alpha, const float* __restrict__ x, float* __restrict__ y, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        y[i] = rf_fmaf(alpha, x[i], y[i]);
    }
}

// void rf_f16_to_f32(const uint16_t* x, float* y, unsigned long long n)
// y[i] = (float)x[i], x holding IEEE binary16 bit patterns. Exact.
RF_KERNEL void rf_f16_to_f32(const rf_half* __restrict__ x, float* __restrict__ y, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        y[i] = rf_half_to_float(x[i]);
    }
}

// void rf_f32_to_f16(const float* x, uint16_t* y, unsigned long long n)
// y[i] = binary16 bits of x[i], rounded to nearest even (overflow gives inf).
RF_KERNEL void rf_f32_to_f16(const float* __restrict__ x, rf_half* __restrict__ y, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        y[i] = rf_float_to_half(x[i]);
    }
}

// void rf_bf16_to_f32(const uint16_t* x, float* y, unsigned long long n)
// y[i] = (float)x[i], x holding bfloat16 bit patterns. Exact.
RF_KERNEL void rf_bf16_to_f32(const rf_bf16* __restrict__ x, float* __restrict__ y, rf_u64 n) {
    for (rf_u64 i = rf_global_id_x(); i < n; i += rf_global_stride_x()) {
        y[i] = rf_bf16_to_float(x[i]);
    }
}
