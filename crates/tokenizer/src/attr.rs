//! Token attributes: what kind of token an id is, as llama.cpp records it.

use std::fmt;
use std::ops::BitOr;

/// A set of token attribute flags (llama.cpp's `llama_token_attr`).
///
/// GGUF stores one token *type* per token (`tokenizer.ggml.token_type`); loading
/// turns it into one of these flags, and a few load-time rules add others
/// (for instance `CONTROL` for end-of-turn tokens, `RSTRIP` for Phi-3's special
/// tokens).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TokenAttr(u16);

impl TokenAttr {
    /// No type recorded (GGUF type 0, or an unknown type number).
    pub const UNDEFINED: Self = Self(0);
    /// The unknown-token token.
    pub const UNKNOWN: Self = Self(1 << 0);
    /// A reserved token that is never produced.
    pub const UNUSED: Self = Self(1 << 1);
    /// An ordinary piece of text.
    pub const NORMAL: Self = Self(1 << 2);
    /// A control token such as BOS, EOS or `<start_of_turn>`.
    pub const CONTROL: Self = Self(1 << 3);
    /// A user-defined token, matched in the text before BPE.
    pub const USER_DEFINED: Self = Self(1 << 4);
    /// A byte-fallback token `<0xXX>`.
    pub const BYTE: Self = Self(1 << 5);
    /// Strip whitespace to the left of this special token when matching it.
    pub const LSTRIP: Self = Self(1 << 7);
    /// Strip whitespace to the right of this special token when matching it.
    pub const RSTRIP: Self = Self(1 << 8);

    /// The attribute for a GGUF token type number (`tokenizer.ggml.token_type`).
    pub fn from_gguf_type(token_type: i32) -> Self {
        match token_type {
            1 => Self::NORMAL,
            2 => Self::UNKNOWN,
            3 => Self::CONTROL,
            4 => Self::USER_DEFINED,
            5 => Self::UNUSED,
            6 => Self::BYTE,
            _ => Self::UNDEFINED,
        }
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// These flags with `other`'s added (`on`) or removed.
    pub fn with(self, other: Self, on: bool) -> Self {
        if on {
            Self(self.0 | other.0)
        } else {
            Self(self.0 & !other.0)
        }
    }
}

impl BitOr for TokenAttr {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for TokenAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TokenAttr, &str); 9] = [
            (TokenAttr::UNKNOWN, "UNKNOWN"),
            (TokenAttr::UNUSED, "UNUSED"),
            (TokenAttr::NORMAL, "NORMAL"),
            (TokenAttr::CONTROL, "CONTROL"),
            (TokenAttr::USER_DEFINED, "USER_DEFINED"),
            (TokenAttr::BYTE, "BYTE"),
            (TokenAttr::LSTRIP, "LSTRIP"),
            (TokenAttr::RSTRIP, "RSTRIP"),
            (TokenAttr::UNDEFINED, "UNDEFINED"),
        ];
        if self.0 == 0 {
            return f.write_str("UNDEFINED");
        }
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(flag, _)| flag.0 != 0 && self.contains(*flag))
            .map(|(_, name)| *name)
            .collect();
        f.write_str(&names.join(" | "))
    }
}
