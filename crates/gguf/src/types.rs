//! ggml tensor types: ids, names and block geometry.
//!
//! The table follows `enum ggml_type` in ggml's `ggml.h` and `GGMLQuantizationType` in
//! gguf-py. Removed ids (4, 5, 31–33, 36–38) are rejected like any unknown id.

use std::fmt;

/// Elements per super-block of the k-quant and i-quant families (`QK_K` in ggml).
pub const QK_K: usize = 256;

/// A tensor element type as stored in a GGUF file.
///
/// Variant names follow ggml's spelling (`Q4_K`, `IQ2_XXS`) so they read like the
/// tables people already know.
#[allow(non_camel_case_types)] // ggml's names, kept verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum GgmlType {
    /// 32-bit IEEE float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// 4-bit, blocks of 32 with an f16 scale.
    Q4_0,
    /// 4-bit, blocks of 32 with f16 scale and minimum.
    Q4_1,
    /// 5-bit, blocks of 32 with an f16 scale.
    Q5_0,
    /// 5-bit, blocks of 32 with f16 scale and minimum.
    Q5_1,
    /// 8-bit, blocks of 32 with an f16 scale.
    Q8_0,
    /// 8-bit, blocks of 32 with an f16 scale and the scaled sum (activation format).
    Q8_1,
    /// 2-bit k-quant, super-blocks of 256.
    Q2_K,
    /// 3-bit k-quant, super-blocks of 256.
    Q3_K,
    /// 4-bit k-quant, super-blocks of 256.
    Q4_K,
    /// 5-bit k-quant, super-blocks of 256.
    Q5_K,
    /// 6-bit k-quant, super-blocks of 256.
    Q6_K,
    /// 8-bit k-quant with f32 scale and block sums (activation format).
    Q8_K,
    /// 2.06 bits per weight i-quant.
    IQ2_XXS,
    /// 2.31 bits per weight i-quant.
    IQ2_XS,
    /// 3.06 bits per weight i-quant.
    IQ3_XXS,
    /// 1.56 bits per weight i-quant.
    IQ1_S,
    /// 4-bit non-linear, blocks of 32.
    IQ4_NL,
    /// 3.44 bits per weight i-quant.
    IQ3_S,
    /// 2.5 bits per weight i-quant.
    IQ2_S,
    /// 4.25 bits per weight non-linear, super-blocks of 256.
    IQ4_XS,
    /// 8-bit signed integer.
    I8,
    /// 16-bit signed integer.
    I16,
    /// 32-bit signed integer.
    I32,
    /// 64-bit signed integer.
    I64,
    /// 64-bit IEEE float.
    F64,
    /// 1.75 bits per weight i-quant.
    IQ1_M,
    /// bfloat16.
    BF16,
    /// Ternary, 1.69 bits per weight.
    TQ1_0,
    /// Ternary, 2.06 bits per weight.
    TQ2_0,
    /// OCP microscaling FP4 (E2M1 values, E8M0 block scale), blocks of 32.
    MXFP4,
    /// NVIDIA FP4 (E2M1 values, UE4M3 scale per 16), blocks of 64.
    NVFP4,
    /// 1-bit sign quantization, blocks of 128.
    Q1_0,
    /// 2-bit quantization, blocks of 64.
    Q2_0,
}

/// Static facts about one type: `(type, id, name, block size, bytes per block)`.
const TABLE: [(GgmlType, u32, &str, usize, usize); 35] = {
    use GgmlType::*;
    [
        (F32, 0, "F32", 1, 4),
        (F16, 1, "F16", 1, 2),
        (Q4_0, 2, "Q4_0", 32, 18),
        (Q4_1, 3, "Q4_1", 32, 20),
        (Q5_0, 6, "Q5_0", 32, 22),
        (Q5_1, 7, "Q5_1", 32, 24),
        (Q8_0, 8, "Q8_0", 32, 34),
        (Q8_1, 9, "Q8_1", 32, 36),
        (Q2_K, 10, "Q2_K", QK_K, 84),
        (Q3_K, 11, "Q3_K", QK_K, 110),
        (Q4_K, 12, "Q4_K", QK_K, 144),
        (Q5_K, 13, "Q5_K", QK_K, 176),
        (Q6_K, 14, "Q6_K", QK_K, 210),
        (Q8_K, 15, "Q8_K", QK_K, 292),
        (IQ2_XXS, 16, "IQ2_XXS", QK_K, 66),
        (IQ2_XS, 17, "IQ2_XS", QK_K, 74),
        (IQ3_XXS, 18, "IQ3_XXS", QK_K, 98),
        (IQ1_S, 19, "IQ1_S", QK_K, 50),
        (IQ4_NL, 20, "IQ4_NL", 32, 18),
        (IQ3_S, 21, "IQ3_S", QK_K, 110),
        (IQ2_S, 22, "IQ2_S", QK_K, 82),
        (IQ4_XS, 23, "IQ4_XS", QK_K, 136),
        (I8, 24, "I8", 1, 1),
        (I16, 25, "I16", 1, 2),
        (I32, 26, "I32", 1, 4),
        (I64, 27, "I64", 1, 8),
        (F64, 28, "F64", 1, 8),
        (IQ1_M, 29, "IQ1_M", QK_K, 56),
        (BF16, 30, "BF16", 1, 2),
        (TQ1_0, 34, "TQ1_0", QK_K, 54),
        (TQ2_0, 35, "TQ2_0", QK_K, 66),
        (MXFP4, 39, "MXFP4", 32, 17),
        (NVFP4, 40, "NVFP4", 64, 36),
        (Q1_0, 41, "Q1_0", 128, 18),
        (Q2_0, 42, "Q2_0", 64, 18),
    ]
};

/// A type id that no current ggml type carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown ggml tensor type id {0}")]
pub struct UnknownTypeId(pub u32);

impl GgmlType {
    /// Every type, in id order.
    pub const ALL: [GgmlType; 35] = {
        let mut all = [GgmlType::F32; 35];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    /// Looks a type up by its ggml id.
    pub fn from_id(id: u32) -> Result<Self, UnknownTypeId> {
        TABLE
            .iter()
            .find(|row| row.1 == id)
            .map(|row| row.0)
            .ok_or(UnknownTypeId(id))
    }

    /// Looks a type up by name, case-insensitively (`"q4_k"`, `"Q4_K"`).
    pub fn from_name(name: &str) -> Option<Self> {
        TABLE
            .iter()
            .find(|row| row.2.eq_ignore_ascii_case(name))
            .map(|row| row.0)
    }

    /// The ggml type id stored in GGUF tensor infos.
    pub const fn id(self) -> u32 {
        // The table is in declaration order, so the discriminant indexes it.
        TABLE[self as usize].1
    }

    /// The upper-case name used by llama.cpp and gguf-py (`"Q4_K"`).
    pub const fn name(self) -> &'static str {
        TABLE[self as usize].2
    }

    /// Elements per block (1 for plain scalar types).
    pub const fn block_size(self) -> usize {
        TABLE[self as usize].3
    }

    /// Bytes per block.
    pub const fn type_size(self) -> usize {
        TABLE[self as usize].4
    }

    /// Whether the type stores blocks of quantized values rather than plain scalars.
    pub fn is_quantized(self) -> bool {
        !matches!(
            self,
            Self::F32 | Self::F16 | Self::BF16 | Self::F64 | Self::I8 | Self::I16 | Self::I32 | Self::I64
        )
    }

    /// Bytes taken by `n_elements` values, or `None` when `n_elements` is not a whole
    /// number of blocks or the size overflows.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let block = self.block_size() as u64;
        if !n_elements.is_multiple_of(block) {
            return None;
        }
        (n_elements / block).checked_mul(self.type_size() as u64)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_declaration_order() {
        for (i, row) in TABLE.iter().enumerate() {
            assert_eq!(row.0 as usize, i, "{}", row.2);
        }
    }

    #[test]
    fn ids_round_trip_and_unknown_ids_fail() {
        for ty in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(ty.id()), Ok(ty));
            assert_eq!(GgmlType::from_name(&ty.name().to_lowercase()), Some(ty));
        }
        for removed in [4, 5, 31, 32, 33, 36, 37, 38, 43, 1000, u32::MAX] {
            assert_eq!(GgmlType::from_id(removed), Err(UnknownTypeId(removed)));
        }
    }

    #[test]
    fn ids_match_ggml() {
        // Spot checks against ggml.h, including the newest ids.
        let expect = [
            (GgmlType::IQ4_XS, 23),
            (GgmlType::BF16, 30),
            (GgmlType::TQ2_0, 35),
            (GgmlType::MXFP4, 39),
            (GgmlType::NVFP4, 40),
            (GgmlType::Q1_0, 41),
            (GgmlType::Q2_0, 42),
        ];
        for (ty, id) in expect {
            assert_eq!(ty.id(), id);
        }
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(GgmlType::Q4_K.bytes_for(512), Some(288));
        assert_eq!(GgmlType::Q4_K.bytes_for(100), None);
        assert_eq!(GgmlType::F32.bytes_for(u64::MAX), None);
    }
}
