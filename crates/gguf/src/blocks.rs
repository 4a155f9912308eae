//! ggml's block layouts as `#[repr(C)]` plain-old-data structs.
//!
//! Each struct mirrors the C struct of the same name in ggml's `ggml-common.h`, field
//! for field, so a tensor's bytes can be viewed as a slice of blocks without copying
//! (see [`crate::TensorView::blocks`]). Multi-byte fields are little-endian, as in
//! every GGUF file this crate accepts.

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::types::{GgmlType, QK_K};

/// A block type that a tensor of [`Block::TYPE`] is made of.
pub trait Block: Pod {
    /// The tensor type whose data is a sequence of these blocks.
    const TYPE: GgmlType;
}

macro_rules! blocks {
    ($( $(#[$doc:meta])* $name:ident = $ty:ident, $size:literal { $($field:ident : $fty:ty),+ $(,)? } )+) => {
        $(
            $(#[$doc])*
            #[repr(C)]
            #[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
            #[allow(missing_docs)] // field names are ggml's; see ggml-common.h
            pub struct $name { $(pub $field: $fty),+ }

            impl Block for $name {
                const TYPE: GgmlType = GgmlType::$ty;
            }

            const _: () = assert!(size_of::<$name>() == $size);
            const _: () = assert!($size == GgmlType::$ty.type_size());
        )+
    };
}

blocks! {
    /// `block_q4_0`: 32 weights, 4 bits each, one scale.
    BlockQ4_0 = Q4_0, 18 { d: f16, qs: [u8; 16] }
    /// `block_q4_1`: 32 weights, 4 bits each, scale and minimum.
    BlockQ4_1 = Q4_1, 20 { d: f16, m: f16, qs: [u8; 16] }
    /// `block_q5_0`: 32 weights, 5 bits each (high bits in `qh`).
    BlockQ5_0 = Q5_0, 22 { d: f16, qh: [u8; 4], qs: [u8; 16] }
    /// `block_q5_1`: 32 weights, 5 bits each, scale and minimum.
    BlockQ5_1 = Q5_1, 24 { d: f16, m: f16, qh: [u8; 4], qs: [u8; 16] }
    /// `block_q8_0`: 32 weights, 8 bits each.
    BlockQ8_0 = Q8_0, 34 { d: f16, qs: [i8; 32] }
    /// `block_q8_1`: 32 weights, 8 bits each, with `s = d * sum(qs)`.
    BlockQ8_1 = Q8_1, 36 { d: f16, s: f16, qs: [i8; 32] }
    /// `block_q2_K`: 256 weights, 2 bits each, 4-bit scales and minimums per 16.
    BlockQ2K = Q2_K, 84 { scales: [u8; QK_K / 16], qs: [u8; QK_K / 4], d: f16, dmin: f16 }
    /// `block_q3_K`: 256 weights, 3 bits each, 6-bit scales per 16.
    BlockQ3K = Q3_K, 110 { hmask: [u8; QK_K / 8], qs: [u8; QK_K / 4], scales: [u8; 12], d: f16 }
    /// `block_q4_K`: 256 weights, 4 bits each, 6-bit scales and minimums per 32.
    BlockQ4K = Q4_K, 144 { d: f16, dmin: f16, scales: [u8; 12], qs: [u8; QK_K / 2] }
    /// `block_q5_K`: 256 weights, 5 bits each, 6-bit scales and minimums per 32.
    BlockQ5K = Q5_K, 176 { d: f16, dmin: f16, scales: [u8; 12], qh: [u8; QK_K / 8], qs: [u8; QK_K / 2] }
    /// `block_q6_K`: 256 weights, 6 bits each, 8-bit scales per 16.
    BlockQ6K = Q6_K, 210 { ql: [u8; QK_K / 2], qh: [u8; QK_K / 4], scales: [i8; QK_K / 16], d: f16 }
    /// `block_q8_K`: 256 weights, 8 bits each, f32 scale and sums per 16.
    BlockQ8K = Q8_K, 292 { d: f32, qs: [i8; QK_K], bsums: [i16; QK_K / 16] }
    /// `block_iq2_xxs`.
    BlockIq2Xxs = IQ2_XXS, 66 { d: f16, qs: [u16; QK_K / 8] }
    /// `block_iq2_xs`.
    BlockIq2Xs = IQ2_XS, 74 { d: f16, qs: [u16; QK_K / 8], scales: [u8; QK_K / 32] }
    /// `block_iq2_s`.
    BlockIq2S = IQ2_S, 82 { d: f16, qs: [u8; QK_K / 4], qh: [u8; QK_K / 32], scales: [u8; QK_K / 32] }
    /// `block_iq3_xxs`.
    BlockIq3Xxs = IQ3_XXS, 98 { d: f16, qs: [u8; 3 * QK_K / 8] }
    /// `block_iq3_s`.
    BlockIq3S = IQ3_S, 110 { d: f16, qs: [u8; QK_K / 4], qh: [u8; QK_K / 32], signs: [u8; QK_K / 8], scales: [u8; QK_K / 64] }
    /// `block_iq1_s`.
    BlockIq1S = IQ1_S, 50 { d: f16, qs: [u8; QK_K / 8], qh: [u16; QK_K / 32] }
    /// `block_iq1_m` (its f16 scale is spread over the top nibbles of `scales`).
    BlockIq1M = IQ1_M, 56 { qs: [u8; QK_K / 8], qh: [u8; QK_K / 16], scales: [u8; QK_K / 32] }
    /// `block_iq4_nl`: 32 weights, 4-bit indices into a non-linear table.
    BlockIq4Nl = IQ4_NL, 18 { d: f16, qs: [u8; 16] }
    /// `block_iq4_xs`.
    BlockIq4Xs = IQ4_XS, 136 { d: f16, scales_h: u16, scales_l: [u8; QK_K / 64], qs: [u8; QK_K / 2] }
    /// `block_tq1_0`: ternary weights packed five to a byte.
    BlockTq1_0 = TQ1_0, 54 { qs: [u8; (QK_K - 4 * QK_K / 64) / 5], qh: [u8; QK_K / 64], d: f16 }
    /// `block_tq2_0`: ternary weights, 2 bits each.
    BlockTq2_0 = TQ2_0, 66 { qs: [u8; QK_K / 4], d: f16 }
    /// `block_mxfp4`: 32 E2M1 values with an E8M0 exponent.
    BlockMxfp4 = MXFP4, 17 { e: u8, qs: [u8; 16] }
    /// `block_nvfp4`: 64 E2M1 values with a UE4M3 scale per 16.
    BlockNvfp4 = NVFP4, 36 { d: [u8; 4], qs: [u8; 32] }
    /// `block_q1_0`: 128 signs with one scale.
    BlockQ1_0 = Q1_0, 18 { d: f16, qs: [u8; 16] }
    /// `block_q2_0`: 64 weights, 2 bits each, one scale.
    BlockQ2_0 = Q2_0, 18 { d: f16, qs: [u8; 16] }
}
