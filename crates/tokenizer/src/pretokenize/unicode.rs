//! llama.cpp's codepoint flags (`unicode_cpt_flags_from_cpt`), reduced to what the
//! pre-tokenizers need: the category and the whitespace bit.

#[path = "unicode_table.rs"]
mod table;

/// `\p{N}`.
pub(crate) const NUMBER: u16 = 0x0002;
/// `\p{L}`.
pub(crate) const LETTER: u16 = 0x0004;
/// `\p{M}`.
pub(crate) const ACCENT_MARK: u16 = 0x0010;
/// `\p{P}`.
pub(crate) const PUNCTUATION: u16 = 0x0020;
/// `\p{S}`.
pub(crate) const SYMBOL: u16 = 0x0040;
/// llama.cpp's whitespace set.
pub(crate) const WHITESPACE: u16 = 0x0100;
/// The category bits.
pub(crate) const CATEGORY_MASK: u16 = 0x00FF;

/// The flags of a codepoint, as llama.cpp has them (never zero).
#[inline]
pub(crate) fn flags(cp: u32) -> u16 {
    if cp < 128 {
        return table::ASCII_FLAGS[cp as usize];
    }
    let ranges = &table::FLAG_RANGES;
    let i = ranges.partition_point(|&(start, _)| start <= cp);
    // ranges[0] starts at 0, so i >= 1.
    ranges[i - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_checks_agree_with_llama_cpp() {
        // Values as llama.cpp's unicode_cpt_flags_from_cpt gives them (category and
        // whitespace bits only).
        let cases: &[(u32, u16)] = &[
            (0x00, 0x0080),
            (0x09, 0x0180),
            (0x0B, 0x0180),
            (0x1C, 0x0080),
            (b' ' as u32, 0x0108),
            (b'!' as u32, PUNCTUATION),
            (b'$' as u32, SYMBOL),
            (b'+' as u32, SYMBOL),
            (b'0' as u32, NUMBER),
            (b'A' as u32, LETTER),
            (b'_' as u32, PUNCTUATION),
            (b'`' as u32, SYMBOL),
            (b'~' as u32, SYMBOL),
            (0x7F, 0x0080),
            (0x85, 0x0180),
            (0xA0, 0x0108),
            (0xB2, NUMBER),
            (0xB5, LETTER),
            (0xE9, LETTER),
            (0x0301, ACCENT_MARK),
            (0x0378, 0x0001),
            (0x0410, LETTER),
            (0x0660, NUMBER),
            (0x0915, LETTER),
            (0x093F, ACCENT_MARK),
            (0x0E01, LETTER),
            (0x1680, 0x0108),
            (0x2000, 0x0108),
            (0x200B, 0x0080),
            (0x200D, 0x0080),
            (0x2019, PUNCTUATION),
            (0x2028, 0x0108),
            (0x2029, 0x0108),
            (0x3000, 0x0108),
            (0x4E00, LETTER),
            (0xAC00, LETTER),
            (0xE000, 0x0080),
            (0xFE0F, ACCENT_MARK),
            (0xFFFD, SYMBOL),
            (0x1F600, SYMBOL),
            (0x1F3FB, SYMBOL),
            (0x10FFFF, 0x0001),
        ];
        for &(cp, want) in cases {
            assert_eq!(flags(cp) & (CATEGORY_MASK | WHITESPACE), want, "U+{cp:04X}");
        }
    }
}
