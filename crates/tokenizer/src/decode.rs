//! Ids back to text: the piece of each token (llama.cpp's `token_to_piece`), whole
//! sequences (`detokenize`, with its space clean-up), and a streaming decoder
//! that never emits half a UTF-8 character.

use crate::attr::TokenAttr;
use crate::pretokenize::unicode_to_byte;
use crate::vocab::{Vocab, VocabKind};

/// The bytes each token decodes to when special tokens are rendered.
pub(crate) fn build_pieces(vocab: &Vocab) -> Vec<Box<[u8]>> {
    vocab
        .tokens
        .iter()
        .map(|token| piece_of(vocab, &token.text, token.attr).into_boxed_slice())
        .collect()
}

fn piece_of(vocab: &Vocab, text: &str, attr: TokenAttr) -> Vec<u8> {
    if attr.intersects(TokenAttr::UNKNOWN | TokenAttr::CONTROL | TokenAttr::USER_DEFINED) {
        return text.as_bytes().to_vec();
    }
    if attr.contains(TokenAttr::NORMAL) {
        return match vocab.kind {
            VocabKind::Spm => text.replace('▁', " ").into_bytes(),
            VocabKind::Bpe if vocab.flags.escape_whitespaces => text.replace('▁', " ").into_bytes(),
            VocabKind::Bpe => decode_byte_level(text),
        };
    }
    if attr.contains(TokenAttr::BYTE) {
        return vec![byte_token_value(text)];
    }
    Vec::new()
}

/// Maps GPT-2 alphabet characters back to bytes; a character outside the
/// alphabet is written as llama.cpp does, `[UNK_BYTE_0x…<token text>]`.
fn decode_byte_level(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for ch in text.chars() {
        match unicode_to_byte(ch) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                for b in ch.encode_utf8(&mut [0; 4]).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
    out
}

/// The byte of a byte token `<0xXX>`: the hex digits at offset 3 and 4, read
/// the way llama.cpp's `strtol` reads them (leading hex digits; 0 if none).
fn byte_token_value(text: &str) -> u8 {
    let digits = text.as_bytes().get(3..text.len().min(5)).unwrap_or(&[]);
    let mut value = 0u8;
    for &d in digits {
        match (d as char).to_digit(16) {
            Some(v) => value = value.wrapping_mul(16).wrapping_add(v as u8),
            None => break,
        }
    }
    value
}

/// Applies llama.cpp's `clean_up_tokenization_spaces` passes, in place and
/// index for index as llama.cpp writes them (the second pass blanks the space it
/// skips, which the next position then sees).
pub(crate) fn clean_spaces(text: &mut Vec<u8>) {
    let t = text.as_mut_slice();
    // " ?", " !", " .", " ," lose the space.
    let n = t.len();
    let mut total = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        t[total] = x;
        total += 1;
    }
    // " ' " becomes "'".
    let n = total;
    total = usize::from(n > 0);
    let mut i = 1;
    while i < n {
        let x = t[i];
        if x == b'\'' && i + 1 < n && t[i - 1] == b' ' && t[i + 1] == b' ' {
            total -= 1;
            i += 1;
            t[i] = 0;
        }
        t[total] = x;
        total += 1;
        i += 1;
    }
    // " 's", " 'm", " 're", " 've" lose the space.
    let n = total;
    total = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = t[i + 1];
            let drop = matches!(x1, b's' | b'm')
                || (i + 2 < n && matches!((x1, t[i + 2]), (b'r', b'e') | (b'v', b'e')));
            if drop {
                total -= 1;
            }
        }
        t[total] = x;
        total += 1;
    }
    text.truncate(total);
}

/// Decodes tokens one at a time for streaming: each call returns the text that
/// is complete so far, holding back the bytes of a character that is not yet
/// whole. Bytes that can never form a character come out as U+FFFD.
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tokenizer: &'a crate::Tokenizer,
    special: bool,
    pending: Vec<u8>,
}

impl<'a> StreamDecoder<'a> {
    pub(crate) fn new(tokenizer: &'a crate::Tokenizer, special: bool) -> Self {
        Self {
            tokenizer,
            special,
            pending: Vec::new(),
        }
    }

    /// Adds a token; returns the text it completes (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String, crate::Error> {
        let piece = self.tokenizer.token_to_piece(id, self.special)?;
        self.pending.extend_from_slice(piece);
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(valid) => {
                    text.push_str(valid);
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    text.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // An incomplete character at the end: wait for more.
                        None => {
                            self.pending.drain(..valid);
                            break;
                        }
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
        Ok(text)
    }

    /// Ends the stream; an unfinished character comes out as U+FFFD.
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_token_values() {
        assert_eq!(byte_token_value("<0x0A>"), 0x0a);
        assert_eq!(byte_token_value("<0xFF>"), 0xff);
        assert_eq!(byte_token_value("<0x"), 0);
    }

    #[test]
    fn clean_spaces_passes() {
        let mut text = b"Hello , world ! it 's a ' quote ' and I 've I 'll".to_vec();
        clean_spaces(&mut text);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "Hello, world! it's a'quote'and I've I 'll"
        );
    }
}
