//! GPT-2's byte-to-unicode mapping (`bytes_to_unicode`, llama.cpp's
//! `unicode_byte_to_utf8` / `unicode_utf8_to_byte`): every byte gets a printable
//! codepoint so byte-level BPE vocabularies can be written as text.

/// Whether GPT-2 maps byte `b` to itself (the printable Latin-1 bytes).
const fn is_direct(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

const BYTE_TO_CP: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut n = 0u16;
    let mut b = 0usize;
    while b < 256 {
        if is_direct(b as u8) {
            table[b] = b as u16;
        } else {
            table[b] = 256 + n;
            n += 1;
        }
        b += 1;
    }
    table
};

/// Inverse of `BYTE_TO_CP`, indexed by codepoint (all are below 324).
const CP_TO_BYTE: [i16; 324] = {
    let mut table = [-1i16; 324];
    let mut b = 0usize;
    while b < 256 {
        table[BYTE_TO_CP[b] as usize] = b as i16;
        b += 1;
    }
    table
};

/// The codepoint GPT-2's byte-level BPE writes for byte `b`.
#[inline]
pub fn byte_to_unicode(b: u8) -> char {
    // Every value of the table is below 324, a valid scalar value.
    char::from_u32(u32::from(BYTE_TO_CP[b as usize])).unwrap_or('\u{FFFD}')
}

/// The byte that GPT-2's byte-level BPE writes as `c`, if any.
#[inline]
pub fn unicode_to_byte(c: char) -> Option<u8> {
    let v = *CP_TO_BYTE.get(c as usize)?;
    u8::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(byte_to_unicode(b'a'), 'a');
        assert_eq!(byte_to_unicode(b' '), '\u{120}');
        assert_eq!(byte_to_unicode(b'\n'), '\u{10A}');
        assert_eq!(byte_to_unicode(0x00), '\u{100}');
        assert_eq!(byte_to_unicode(0x7F), '\u{121}');
        assert_eq!(byte_to_unicode(0xAD), '\u{143}');
        assert_eq!(byte_to_unicode(0xFF), '\u{FF}');
        assert_eq!(unicode_to_byte('\u{120}'), Some(b' '));
        assert_eq!(unicode_to_byte('\u{144}'), None);
        assert_eq!(unicode_to_byte('€'), None);
    }

    #[test]
    fn round_trip() {
        let mut seen = std::collections::HashSet::new();
        for b in 0..=255u8 {
            let c = byte_to_unicode(b);
            assert!(seen.insert(c));
            assert_eq!(unicode_to_byte(c), Some(b));
        }
    }
}
