//! Scale encodings shared by the FP4 quantizer and dequantizers.

/// Half of the E8M0 scale `2^(e - 127)`, i.e. `2^(e - 128)`, built from its bits
/// (`e` of 0 and 1 give the subnormals 2^-128 and 2^-127). `e = 255` gives 2^127
/// rather than NaN, as in ggml.
#[inline(always)]
pub(crate) fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}
