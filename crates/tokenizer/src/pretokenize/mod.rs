//! Pre-tokenization: splitting text into the pieces that byte-level BPE merges
//! within, exactly as llama.cpp's `unicode_regex_split` does for each
//! `tokenizer.ggml.pre`.

use std::ops::Range;

/// A pre-tokenizer of llama.cpp, chosen by `tokenizer.ggml.pre`.
#[derive(Debug, Clone)]
pub struct PreTokenizer {
    name: String,
}

/// `tokenizer.ggml.pre` names a pre-tokenizer that is not implemented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pre-tokenizer '{name}' is not supported")]
pub struct UnsupportedPreTokenizer {
    /// The name.
    pub name: String,
}

impl PreTokenizer {
    /// The pre-tokenizer for a `tokenizer.ggml.pre` value.
    pub fn from_name(name: &str) -> Result<Self, UnsupportedPreTokenizer> {
        Ok(Self {
            name: name.to_owned(),
        })
    }

    /// The name it was made from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether pieces are mapped to GPT-2's byte-level alphabet before merging.
    pub fn byte_encode(&self) -> bool {
        true
    }

    /// Appends the byte ranges of `text`'s pieces to `out`, in order.
    pub fn split_into(&self, text: &str, out: &mut Vec<Range<usize>>) {
        if !text.is_empty() {
            out.push(0..text.len());
        }
    }
}

/// GPT-2's byte to printable character mapping.
pub fn byte_to_unicode(b: u8) -> char {
    let c = b as u32;
    let printable =
        (0x21..=0x7e).contains(&c) || (0xa1..=0xac).contains(&c) || (0xae..=0xff).contains(&c);
    if printable {
        return char::from(b);
    }
    let mut n = 0;
    for x in 0..c {
        let p =
            (0x21..=0x7e).contains(&x) || (0xa1..=0xac).contains(&x) || (0xae..=0xff).contains(&x);
        if !p {
            n += 1;
        }
    }
    char::from_u32(256 + n).unwrap_or('?')
}

/// The inverse of [`byte_to_unicode`].
pub fn unicode_to_byte(c: char) -> Option<u8> {
    (0..=255u8).find(|&b| byte_to_unicode(b) == c)
}
