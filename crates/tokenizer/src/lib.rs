//! Tokenizers built from a GGUF file's own metadata, producing exactly the token ids
//! llama.cpp produces.
//!
//! - `llama` vocabularies: SentencePiece-style BPE by token scores, with byte
//!   fallback tokens `<0xXX>`;
//! - `gpt2` vocabularies: byte-level BPE with ranked merges, after one of
//!   llama.cpp's pre-tokenizers (`tokenizer.ggml.pre`).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file = rocmforge_gguf::GgufFile::open("model.gguf")?;
//! let tokenizer = rocmforge_tokenizer::Tokenizer::from_gguf(&file)?;
//! let ids = tokenizer.encode("Hello world", true, true);
//! let text = tokenizer.decode(&ids, false)?;
//! # let _ = text;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod attr;
mod bpe;
mod decode;
mod error;
pub mod pretokenize;
mod special;
mod spm;
mod vocab;

use std::cell::RefCell;

use rocmforge_gguf::{GgufFile, Metadata};

pub use attr::TokenAttr;
pub use decode::StreamDecoder;
pub use error::Error;
pub use vocab::{SpecialTokens, VocabKind};

use bpe::{BpeModel, BpeSession};
use special::{Fragment, SpecialMatcher};
use spm::SpmModel;
use vocab::Vocab;

/// Values of `tokenizer.ggml.model` this crate implements.
pub const SUPPORTED_MODELS: &[&str] = &["llama", "gpt2", "gemma4"];

/// A tokenizer built from GGUF metadata.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: Vocab,
    model: Model,
    special_matcher: SpecialMatcher,
    /// Each token's bytes with special tokens rendered.
    pieces: Vec<Box<[u8]>>,
}

#[derive(Debug, Clone)]
enum Model {
    Spm(Box<SpmModel>),
    Bpe(Box<BpeModel>),
}

thread_local! {
    static BPE_SESSION: RefCell<BpeSession> = RefCell::new(BpeSession::default());
}

/// How [`Tokenizer::decode_bytes`] treats special tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    /// Drop a leading BOS and a trailing EOS that the vocabulary adds itself.
    pub remove_special: bool,
    /// Render control tokens as their text instead of nothing.
    pub render_special: bool,
}

impl Tokenizer {
    /// Builds the tokenizer of a GGUF file (a full model or a vocabulary-only file).
    pub fn from_gguf(file: &GgufFile) -> Result<Self, Error> {
        Self::from_metadata(&file.metadata())
    }

    /// Builds a tokenizer from `tokenizer.ggml.*` metadata.
    pub fn from_metadata(meta: &Metadata<'_>) -> Result<Self, Error> {
        let mut vocab = Vocab::load(meta)?;
        if vocab.flags.add_bos && vocab.special.bos.is_none() {
            return Err(Error::MissingSpecialToken { which: "BOS" });
        }
        if vocab.flags.add_eos && vocab.special.eos.is_none() {
            return Err(Error::MissingSpecialToken { which: "EOS" });
        }
        let model = match vocab.pre.take() {
            Some(pre) => Model::Bpe(Box::new(BpeModel::new(&vocab, pre)?)),
            None => Model::Spm(Box::new(SpmModel::new(&vocab))),
        };
        let special_matcher = SpecialMatcher::new(&vocab);
        let pieces = decode::build_pieces(&vocab);
        vocab.merges = Vec::new();
        Ok(Self {
            vocab,
            model,
            special_matcher,
            pieces,
        })
    }

    /// Encodes `text`. `add_special` adds the BOS/EOS tokens the vocabulary asks
    /// for; `parse_special` matches control-token texts such as `<start_of_turn>`
    /// in `text` (user-defined tokens are always matched), as llama.cpp's
    /// `llama_tokenize` does.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        self.encode_into(text, add_special, parse_special, &mut out);
        out
    }

    /// Like [`encode`](Self::encode), appending to `out`.
    pub fn encode_into(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
        out: &mut Vec<u32>,
    ) {
        let mut fragments = Vec::new();
        self.special_matcher
            .partition(text, parse_special, &mut fragments);
        let flags = self.vocab.flags;
        if add_special && flags.add_bos {
            out.extend(self.vocab.special.bos);
        }
        match &self.model {
            Model::Spm(spm) => {
                let mut escaped = String::new();
                let mut prev_special = true;
                for fragment in &fragments {
                    match fragment {
                        Fragment::Text(range) => {
                            escaped.clear();
                            if flags.add_space_prefix && prev_special {
                                escaped.push('▁');
                            }
                            escape_spaces(&text[range.clone()], &mut escaped);
                            spm.encode(&self.vocab, &escaped, out);
                            prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(*id);
                            prev_special = true;
                        }
                    }
                }
            }
            Model::Bpe(bpe) => BPE_SESSION.with_borrow_mut(|session| {
                let mut escaped = String::new();
                for fragment in &fragments {
                    match fragment {
                        Fragment::Text(range) => {
                            let part = &text[range.clone()];
                            let part = if flags.escape_whitespaces {
                                escaped.clear();
                                escape_spaces(part, &mut escaped);
                                escaped.as_str()
                            } else {
                                part
                            };
                            bpe.encode(&self.vocab, part, session, out);
                        }
                        Fragment::Token(id) => out.push(*id),
                    }
                }
            }),
        }
        if add_special && flags.add_eos {
            out.extend(self.vocab.special.eos);
        }
    }

    /// The bytes of one token; with `special` false, control and unknown tokens
    /// decode to nothing (llama.cpp's `token_to_piece`).
    pub fn token_to_piece(&self, id: u32, special: bool) -> Result<&[u8], Error> {
        let attr = self.token_attr(id)?;
        if !special && attr.intersects(TokenAttr::CONTROL | TokenAttr::UNKNOWN) {
            return Ok(&[]);
        }
        Ok(&self.pieces[id as usize])
    }

    /// Decodes `ids` to bytes as llama.cpp's `llama_detokenize` does, including
    /// its removal of the space prefix and, for vocabularies that ask for it,
    /// its clean-up of spaces before punctuation.
    pub fn decode_bytes(&self, ids: &[u32], options: DecodeOptions) -> Result<Vec<u8>, Error> {
        let flags = self.vocab.flags;
        let special = self.vocab.special;
        let mut ids = ids;
        let mut remove_space = flags.add_space_prefix;
        if options.remove_special
            && flags.add_bos
            && ids.first().is_some_and(|&id| Some(id) == special.bos)
        {
            remove_space = false;
            ids = &ids[1..];
        }
        if options.remove_special
            && flags.add_eos
            && ids.last().is_some_and(|&id| Some(id) == special.eos)
        {
            ids = &ids[..ids.len() - 1];
        }
        let mut text = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let mut piece = self.token_to_piece(id, options.render_special)?;
            if remove_space && let Some(rest) = piece.strip_prefix(b" ") {
                piece = rest;
            }
            remove_space = false;
            text.extend_from_slice(piece);
        }
        if flags.clean_spaces {
            decode::clean_spaces(&mut text);
        }
        Ok(text)
    }

    /// Decodes `ids` to text (invalid UTF-8 becomes U+FFFD), rendering control
    /// tokens as text if `special` is set; as llama.cpp's `common_detokenize`.
    pub fn decode(&self, ids: &[u32], special: bool) -> Result<String, Error> {
        let bytes = self.decode_bytes(
            ids,
            DecodeOptions {
                remove_special: false,
                render_special: special,
            },
        )?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// A decoder for streaming generated tokens (see [`StreamDecoder`]).
    pub fn stream_decoder(&self, special: bool) -> StreamDecoder<'_> {
        StreamDecoder::new(self, special)
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The vocabulary type.
    pub fn kind(&self) -> VocabKind {
        self.vocab.kind
    }

    /// The value of `tokenizer.ggml.model`.
    pub fn model_name(&self) -> &str {
        &self.vocab.model
    }

    /// The pre-tokenizer name of a `gpt2` vocabulary.
    pub fn pre_tokenizer_name(&self) -> Option<&str> {
        match &self.model {
            Model::Bpe(bpe) => Some(bpe.pre_tokenizer().name()),
            Model::Spm(_) => None,
        }
    }

    /// Special token ids.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.vocab.special
    }

    /// Beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.vocab.special.bos
    }

    /// End-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.vocab.special.eos
    }

    /// End-of-turn token.
    pub fn eot(&self) -> Option<u32> {
        self.vocab.special.eot
    }

    /// Padding token.
    pub fn pad(&self) -> Option<u32> {
        self.vocab.special.pad
    }

    /// Tokens that end generation (EOS, EOT, EOM and the texts llama.cpp treats
    /// so), ascending.
    pub fn eog_tokens(&self) -> &[u32] {
        &self.vocab.eog
    }

    /// Whether `id` ends generation.
    pub fn is_eog(&self, id: u32) -> bool {
        self.vocab.eog.binary_search(&id).is_ok()
    }

    /// Whether encoding with `add_special` prepends BOS.
    pub fn add_bos(&self) -> bool {
        self.vocab.flags.add_bos
    }

    /// Whether encoding with `add_special` appends EOS.
    pub fn add_eos(&self) -> bool {
        self.vocab.flags.add_eos
    }

    /// Whether SentencePiece encoding prefixes raw text with a space.
    pub fn add_space_prefix(&self) -> bool {
        self.vocab.flags.add_space_prefix
    }

    /// The text of a token as stored in the vocabulary.
    pub fn token_text(&self, id: u32) -> Result<&str, Error> {
        Ok(&self.token(id)?.text)
    }

    /// The score of a token.
    pub fn token_score(&self, id: u32) -> Result<f32, Error> {
        Ok(self.token(id)?.score)
    }

    /// The attributes of a token.
    pub fn token_attr(&self, id: u32) -> Result<TokenAttr, Error> {
        Ok(self.token(id)?.attr)
    }

    /// The id of a token text, if it is one.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.id_of(text)
    }

    fn token(&self, id: u32) -> Result<&vocab::TokenData, Error> {
        self.vocab
            .tokens
            .get(id as usize)
            .ok_or(Error::TokenOutOfRange {
                id,
                vocab_size: self.vocab.len(),
            })
    }
}

/// Appends `text` with every space replaced by SentencePiece's `▁`.
fn escape_spaces(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find(' ') {
        out.push_str(&rest[..at]);
        out.push('▁');
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}
