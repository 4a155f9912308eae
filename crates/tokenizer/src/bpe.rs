//! Byte-level BPE (`tokenizer.ggml.model = gpt2`): text is split by the
//! pre-tokenizer, each piece is mapped to GPT-2's byte alphabet, and within each
//! piece the adjacent pair with the lowest merge rank is merged until none is
//! left, leftmost first on ties (llama.cpp's `llm_tokenizer_bpe_session`).
//!
//! Every string that occurs in the vocabulary or the merges is interned once at
//! load, so merging compares integer pairs instead of building strings, and a
//! priority queue with lazy invalidation keeps each piece O(n log n).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

use rustc_hash::FxHashMap;

use crate::Error;
use crate::pretokenize::{PreTokenizer, byte_to_unicode};
use crate::vocab::Vocab;

/// No interned string / no token.
const NONE: u32 = u32::MAX;

/// The merge table and pre-tokenizer of a `gpt2` vocabulary.
#[derive(Debug, Clone)]
pub(crate) struct BpeModel {
    pre: PreTokenizer,
    /// Interned string → its vocabulary token, or `NONE`.
    interned: FxHashMap<Box<str>, u32>,
    symbol_token: Vec<u32>,
    /// (left symbol, right symbol) → (rank, merged symbol); the first listing of a
    /// pair wins.
    merges: FxHashMap<(u32, u32), (u32, u32)>,
    /// Byte-encoded vocabularies: the symbol of each byte's alphabet character.
    byte_symbol: [u32; 256],
    /// The tokens a byte falls back to when its symbol is not a token.
    byte_fallback: [Option<u32>; 256],
    ignore_merges: bool,
    /// Gemma 4's pre-tokenizer keeps a run of newlines whole when it is a token.
    newline_runs_whole: bool,
}

impl BpeModel {
    pub fn new(vocab: &Vocab, pre: PreTokenizer) -> Result<Self, Error> {
        let mut interned: FxHashMap<Box<str>, u32> = FxHashMap::default();
        let mut symbol_token: Vec<u32> = Vec::with_capacity(vocab.len());
        for (id, token) in vocab.tokens.iter().enumerate() {
            let symbol = *interned.entry(token.text.clone()).or_insert_with(|| {
                symbol_token.push(NONE);
                symbol_token.len() as u32 - 1
            });
            // Where texts repeat, the last id wins, as in the text → id map.
            symbol_token[symbol as usize] = id as u32;
        }
        let mut intern = |text: &str| -> u32 {
            if let Some(&symbol) = interned.get(text) {
                return symbol;
            }
            symbol_token.push(NONE);
            let symbol = symbol_token.len() as u32 - 1;
            interned.insert(text.into(), symbol);
            symbol
        };
        let mut merges =
            FxHashMap::with_capacity_and_hasher(vocab.merges.len(), Default::default());
        for (rank, (left, right)) in vocab.merges.iter().enumerate() {
            let key = (intern(left), intern(right));
            let merged = intern(&format!("{left}{right}"));
            merges.entry(key).or_insert((rank as u32, merged));
        }

        let byte_encode = pre.byte_encode();
        let mut byte_symbol = [NONE; 256];
        let mut byte_fallback = [None; 256];
        for byte in 0..=255u8 {
            if byte_encode {
                let ch = byte_to_unicode(byte);
                byte_symbol[byte as usize] =
                    *interned.get(ch.to_string().as_str()).unwrap_or(&NONE);
                // llama.cpp looks the unmerged symbol up byte by byte; only
                // ASCII alphabet characters can be one-byte tokens.
                byte_fallback[byte as usize] = ch
                    .is_ascii()
                    .then(|| vocab.id_of(ch.encode_utf8(&mut [0; 4])))
                    .flatten();
            } else {
                byte_fallback[byte as usize] = vocab.id_of(&format!("<0x{byte:02X}>"));
            }
        }
        let newline_runs_whole = matches!(pre.name(), "gemma4" | "granite-embed-multi-311m");
        Ok(Self {
            pre,
            interned,
            symbol_token,
            merges,
            byte_symbol,
            byte_fallback,
            ignore_merges: vocab.flags.ignore_merges,
            newline_runs_whole,
        })
    }

    /// Encodes `text` and appends the ids to `out`.
    pub fn encode(&self, vocab: &Vocab, text: &str, session: &mut BpeSession, out: &mut Vec<u32>) {
        session.pieces.clear();
        self.pre.split_into(text, &mut session.pieces);
        let pieces = std::mem::take(&mut session.pieces);
        for piece in &pieces {
            self.encode_piece(vocab, &text[piece.clone()], session, out);
        }
        session.pieces = pieces;
    }

    fn encode_piece(
        &self,
        vocab: &Vocab,
        piece: &str,
        session: &mut BpeSession,
        out: &mut Vec<u32>,
    ) {
        let byte_encode = self.pre.byte_encode();
        if self.ignore_merges || self.newline_runs_whole {
            let whole = if byte_encode {
                session.encoded.clear();
                session.encoded.extend(piece.bytes().map(byte_to_unicode));
                session.encoded.as_str()
            } else {
                piece
            };
            let newlines_only = piece.bytes().all(|b| b == b'\n');
            if (self.ignore_merges || newlines_only)
                && let Some(id) = vocab.id_of(whole)
            {
                out.push(id);
                return;
            }
        }

        let symbols = &mut session.symbols;
        symbols.clear();
        if byte_encode {
            symbols.extend(piece.bytes().enumerate().map(|(at, b)| Symbol {
                symbol: self.byte_symbol[b as usize],
                start: at as u32,
                len: 1,
                prev: NONE,
                next: NONE,
            }));
        } else {
            symbols.extend(piece.char_indices().map(|(at, ch)| {
                Symbol {
                    symbol: *self
                        .interned
                        .get(ch.encode_utf8(&mut [0; 4]) as &str)
                        .unwrap_or(&NONE),
                    start: at as u32,
                    len: ch.len_utf8() as u32,
                    prev: NONE,
                    next: NONE,
                }
            }));
        }
        let n = symbols.len() as u32;
        for (i, symbol) in symbols.iter_mut().enumerate() {
            let i = i as u32;
            symbol.prev = i.wrapping_sub(1);
            symbol.next = if i + 1 < n { i + 1 } else { NONE };
        }

        let queue = &mut session.queue;
        queue.clear();
        for right in 1..n {
            self.push_pair(symbols, right - 1, right, queue);
        }
        while let Some(Reverse(pair)) = queue.pop() {
            let (left, right) = (pair.left as usize, pair.right as usize);
            // Stale: one side has merged with something else since.
            if symbols[left].len == 0
                || symbols[right].len == 0
                || symbols[left].symbol != pair.left_symbol
                || symbols[right].symbol != pair.right_symbol
            {
                continue;
            }
            symbols[left].symbol = pair.merged;
            symbols[left].len += symbols[right].len;
            symbols[right].len = 0;
            symbols[left].next = symbols[right].next;
            let next = symbols[left].next;
            if let Some(after) = symbols.get_mut(next as usize) {
                after.prev = pair.left;
            }
            let (prev, next) = (symbols[left].prev, symbols[left].next);
            if prev != NONE {
                self.push_pair(symbols, prev, pair.left, queue);
            }
            if next != NONE {
                self.push_pair(symbols, pair.left, next, queue);
            }
        }

        let mut at = if symbols.is_empty() { NONE } else { 0 };
        while at != NONE {
            let symbol = symbols[at as usize];
            match self
                .symbol_token
                .get(symbol.symbol as usize)
                .copied()
                .unwrap_or(NONE)
            {
                NONE => {
                    let range = symbol.start as usize..(symbol.start + symbol.len) as usize;
                    out.extend(
                        piece.as_bytes()[range]
                            .iter()
                            .filter_map(|&b| self.byte_fallback[b as usize]),
                    );
                }
                id => out.push(id),
            }
            at = symbol.next;
        }
    }

    fn push_pair(
        &self,
        symbols: &[Symbol],
        left: u32,
        right: u32,
        queue: &mut BinaryHeap<Reverse<Pair>>,
    ) {
        let (l, r) = (
            symbols[left as usize].symbol,
            symbols[right as usize].symbol,
        );
        if l == NONE || r == NONE {
            return;
        }
        if let Some(&(rank, merged)) = self.merges.get(&(l, r)) {
            queue.push(Reverse(Pair {
                rank,
                left,
                right,
                left_symbol: l,
                right_symbol: r,
                merged,
            }));
        }
    }

    /// The pre-tokenizer.
    pub fn pre_tokenizer(&self) -> &PreTokenizer {
        &self.pre
    }
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    /// Interned string, or `NONE` when the text occurs nowhere in the vocabulary.
    symbol: u32,
    /// Byte range in the piece.
    start: u32,
    len: u32,
    prev: u32,
    next: u32,
}

/// A candidate merge; ordered by rank, then leftmost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pair {
    rank: u32,
    left: u32,
    right: u32,
    left_symbol: u32,
    right_symbol: u32,
    merged: u32,
}

/// Reusable buffers for encoding.
#[derive(Debug, Default)]
pub(crate) struct BpeSession {
    pieces: Vec<Range<usize>>,
    encoded: String,
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Reverse<Pair>>,
}
