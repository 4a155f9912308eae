//! SentencePiece-style BPE (`tokenizer.ggml.model = llama`): starting from single
//! characters, repeatedly merge the adjacent pair whose concatenation is the
//! vocabulary token with the highest score, leftmost first on ties; characters
//! left without a token become byte-fallback tokens `<0xXX>`.
//!
//! A priority queue of candidate pairs keeps this O(n log n); stale entries are
//! skipped when popped, as in llama.cpp's `llm_tokenizer_spm_session`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::vocab::Vocab;

/// What SentencePiece encoding needs besides the vocabulary.
#[derive(Debug, Clone)]
pub(crate) struct SpmModel {
    /// The token for each byte when a character has no token of its own.
    byte_tokens: [Option<u32>; 256],
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: u32,
    len: u32,
    prev: u32,
    next: u32,
}

const NONE: u32 = u32::MAX;

/// A candidate merge of `left` with the symbol after it.
#[derive(Debug, Clone, Copy)]
struct Bigram {
    score: f32,
    left: u32,
    right: u32,
    len: u32,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// Highest score first; on equal scores the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl SpmModel {
    pub fn new(vocab: &Vocab) -> Self {
        let mut byte_tokens = [None; 256];
        for (byte, slot) in byte_tokens.iter_mut().enumerate() {
            // `<0xXX>` first, else the byte itself as a one-byte token.
            *slot = vocab.id_of(&format!("<0x{byte:02X}>")).or_else(|| {
                u8::try_from(byte)
                    .ok()
                    .filter(u8::is_ascii)
                    .and_then(|b| vocab.id_of(&char::from(b).to_string()))
            });
        }
        Self { byte_tokens }
    }

    /// Encodes `text` (already space-escaped) and appends the ids to `out`.
    ///
    /// Bytes without any token are dropped; llama.cpp aborts on them (a
    /// vocabulary without byte fallback tokens and without the character).
    pub fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (start, ch) in text.char_indices() {
            let index = symbols.len() as u32;
            symbols.push(Symbol {
                start: start as u32,
                len: ch.len_utf8() as u32,
                prev: index.wrapping_sub(1),
                next: index + 1,
            });
        }
        if let Some(last) = symbols.last_mut() {
            last.next = NONE;
        }
        let mut queue = BinaryHeap::with_capacity(symbols.len());
        for right in 1..symbols.len() as u32 {
            push_bigram(vocab, text, &symbols, right - 1, right, &mut queue);
        }
        while let Some(bigram) = queue.pop() {
            let (left, right) = (bigram.left as usize, bigram.right as usize);
            if symbols[left].len == 0
                || symbols[right].len == 0
                || symbols[left].len + symbols[right].len != bigram.len
            {
                continue;
            }
            symbols[left].len += symbols[right].len;
            symbols[right].len = 0;
            symbols[left].next = symbols[right].next;
            let next = symbols[left].next;
            if let Some(after) = symbols.get_mut(next as usize) {
                after.prev = bigram.left;
            }
            let (prev, next) = (symbols[left].prev, symbols[left].next);
            if prev != NONE {
                push_bigram(vocab, text, &symbols, prev, bigram.left, &mut queue);
            }
            if next != NONE {
                push_bigram(vocab, text, &symbols, bigram.left, next, &mut queue);
            }
        }
        let mut at = 0;
        while at != NONE {
            let symbol = symbols[at as usize];
            let piece = &text[symbol.start as usize..(symbol.start + symbol.len) as usize];
            match vocab.id_of(piece) {
                Some(id) => out.push(id),
                None => out.extend(piece.bytes().filter_map(|b| self.byte_tokens[b as usize])),
            }
            at = symbol.next;
        }
    }
}

fn push_bigram(
    vocab: &Vocab,
    text: &str,
    symbols: &[Symbol],
    left: u32,
    right: u32,
    queue: &mut BinaryHeap<Bigram>,
) {
    let (l, r) = (symbols[left as usize], symbols[right as usize]);
    let len = l.len + r.len;
    let merged = &text[l.start as usize..(l.start + len) as usize];
    if let Some(id) = vocab.id_of(merged) {
        queue.push(Bigram {
            score: vocab.tokens[id as usize].score,
            left,
            right,
            len,
        });
    }
}
