//! The vocabulary read from GGUF metadata: token texts, scores and attributes,
//! special token ids and the flags that steer encoding and decoding, following the
//! order and rules of llama.cpp's `llama_vocab::load`.

use rocmforge_gguf::Metadata;
use rustc_hash::FxHashMap;

use crate::Error;
use crate::attr::TokenAttr;
use crate::pretokenize::PreTokenizer;

/// `tokenizer.ggml.*` keys.
pub(crate) mod keys {
    pub const MODEL: &str = "tokenizer.ggml.model";
    pub const PRE: &str = "tokenizer.ggml.pre";
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    pub const SCORES: &str = "tokenizer.ggml.scores";
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    pub const MERGES: &str = "tokenizer.ggml.merges";
    pub const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
    pub const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
}

/// A merge rule: the left and right texts it joins.
pub(crate) type Merge = (Box<str>, Box<str>);

/// The two vocabulary types this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabKind {
    /// `llama`: SentencePiece-style BPE by token scores, with byte fallback.
    Spm,
    /// `gpt2`: byte-level BPE with ranked merges.
    Bpe,
}

/// One token of the vocabulary.
#[derive(Debug, Clone)]
pub(crate) struct TokenData {
    pub text: Box<str>,
    pub score: f32,
    pub attr: TokenAttr,
}

/// Special token ids; `None` where the vocabulary has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Beginning of sequence.
    pub bos: Option<u32>,
    /// End of sequence.
    pub eos: Option<u32>,
    /// End of turn.
    pub eot: Option<u32>,
    /// End of message.
    pub eom: Option<u32>,
    /// Unknown token.
    pub unk: Option<u32>,
    /// Separator.
    pub sep: Option<u32>,
    /// Padding.
    pub pad: Option<u32>,
    /// Mask.
    pub mask: Option<u32>,
    /// Fill-in-the-middle prefix.
    pub fim_pre: Option<u32>,
    /// Fill-in-the-middle suffix.
    pub fim_suf: Option<u32>,
    /// Fill-in-the-middle middle.
    pub fim_mid: Option<u32>,
    /// Fill-in-the-middle padding.
    pub fim_pad: Option<u32>,
    /// Fill-in-the-middle repository name.
    pub fim_rep: Option<u32>,
    /// Fill-in-the-middle file separator.
    pub fim_sep: Option<u32>,
}

/// Flags that steer encoding and decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flags {
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    pub clean_spaces: bool,
    pub escape_whitespaces: bool,
    pub ignore_merges: bool,
}

/// The loaded vocabulary.
#[derive(Debug, Clone)]
pub(crate) struct Vocab {
    pub kind: VocabKind,
    pub model: String,
    pub tokens: Vec<TokenData>,
    /// Text to id; where texts repeat, the last id wins (as in llama.cpp).
    pub token_to_id: FxHashMap<Box<str>, u32>,
    pub special: SpecialTokens,
    /// Tokens that end generation, ascending.
    pub eog: Vec<u32>,
    pub flags: Flags,
    /// For `gpt2` vocabularies: the pre-tokenizer and the merges in rank order.
    pub pre: Option<PreTokenizer>,
    pub merges: Vec<Merge>,
}

impl Vocab {
    pub fn id_of(&self, text: &str) -> Option<u32> {
        self.token_to_id.get(text).copied()
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Reads the vocabulary from `meta`.
    pub fn load(meta: &Metadata<'_>) -> Result<Self, Error> {
        let model = meta.get_str(keys::MODEL)?.to_owned();
        let pre_name = meta.get_opt::<&str>(keys::PRE)?.unwrap_or("");
        let (kind, mut special, mut flags) = match model.as_str() {
            "llama" => (
                VocabKind::Spm,
                SpecialTokens {
                    bos: Some(1),
                    eos: Some(2),
                    unk: Some(0),
                    ..SpecialTokens::default()
                },
                Flags {
                    add_bos: true,
                    add_eos: false,
                    add_space_prefix: true,
                    clean_spaces: false,
                    escape_whitespaces: true,
                    ignore_merges: false,
                },
            ),
            "gpt2" => {
                let pre = if pre_name.is_empty() {
                    "default"
                } else {
                    pre_name
                };
                let bpe = bpe_flags(pre);
                (
                    VocabKind::Bpe,
                    SpecialTokens {
                        bos: Some(11),
                        eos: Some(11),
                        ..SpecialTokens::default()
                    },
                    Flags {
                        add_bos: bpe.add_bos,
                        add_eos: false,
                        add_space_prefix: false,
                        clean_spaces: bpe.clean_spaces,
                        escape_whitespaces: bpe.escape_whitespaces,
                        ignore_merges: bpe.ignore_merges,
                    },
                )
            }
            // Gemma 4: BPE over raw UTF-8 with SentencePiece's `▁` for spaces.
            "gemma4" => (
                VocabKind::Bpe,
                SpecialTokens::default(),
                Flags {
                    add_bos: false,
                    add_eos: false,
                    add_space_prefix: false,
                    clean_spaces: true,
                    escape_whitespaces: true,
                    ignore_merges: false,
                },
            ),
            _ => return Err(Error::UnsupportedModel { model }),
        };
        // Gemma 4 always uses its own pre-tokenizer.
        let pre_name = if model == "gemma4" {
            "gemma4"
        } else {
            pre_name
        };
        let pre = match kind {
            VocabKind::Bpe => Some(PreTokenizer::from_name(if pre_name.is_empty() {
                "default"
            } else {
                pre_name
            })?),
            VocabKind::Spm => None,
        };
        let merges = match kind {
            VocabKind::Bpe => read_merges(meta)?,
            VocabKind::Spm => Vec::new(),
        };
        if let Some(value) = meta.get_opt::<bool>(keys::ADD_SPACE_PREFIX)? {
            flags.add_space_prefix = value;
        }

        let tokens = read_tokens(meta)?;
        let mut token_to_id = FxHashMap::with_capacity_and_hasher(tokens.len(), Default::default());
        for (id, token) in tokens.iter().enumerate() {
            token_to_id.insert(token.text.clone(), id as u32);
        }
        check_merges(&merges, &token_to_id)?;
        let mut vocab = Vocab {
            kind,
            model,
            tokens,
            token_to_id,
            special: SpecialTokens::default(),
            eog: Vec::new(),
            flags,
            pre,
            merges,
        };

        read_special_ids(meta, &mut special, vocab.len())?;
        if let Some(value) = meta.get_opt::<bool>(keys::ADD_BOS)? {
            vocab.flags.add_bos = value;
        }
        if let Some(value) = meta.get_opt::<bool>(keys::ADD_EOS)? {
            vocab.flags.add_eos = value;
        }
        // llama.cpp always adds BOS for Gemma 4, whatever the metadata says.
        if vocab.model == "gemma4" {
            vocab.flags.add_bos = true;
        }
        vocab.special = special;
        crate::special::detect_by_text(&mut vocab);
        crate::special::apply_model_attrs(&mut vocab, meta)?;
        Ok(vocab)
    }
}

/// Per-pre-tokenizer flags of `gpt2` vocabularies, as llama.cpp sets them.
struct BpeFlags {
    add_bos: bool,
    clean_spaces: bool,
    ignore_merges: bool,
    escape_whitespaces: bool,
}

fn bpe_flags(pre: &str) -> BpeFlags {
    /// The names of llama.cpp's llama3 pre-tokenizer.
    const LLAMA3: &[&str] = &[
        "llama3",
        "llama-v3",
        "llama-bpe",
        "falcon3",
        "falcon-h1",
        "pixtral",
        "midm-2.0",
        "lfm2",
        "jina-v5-nano",
    ];
    const IGNORE_MERGES: &[&str] = &[
        "minicpm5",
        "youtu",
        "glm4",
        "glm5",
        "tekken",
        "granite-embed-multi-97m",
    ];
    const KEEP_SPACES: &[&str] = &[
        "deepseek-llm",
        "deepseek-coder",
        "deepseek-v3",
        "spark2_5",
        "youtu",
        "sarvam-moe",
        "command-r",
        "qwen2",
        "deepseek-r1-qwen",
        "kormo",
        "f2llmv2",
        "qwen35",
        "poro-chat",
        "viking",
        "tekken",
        "smollm",
        "chameleon",
        "gpt-4o",
        "llama4",
        "kanana2",
        "talkie",
        "granite-embed-multi-97m",
        "tiny_aya",
        "cohere2moe",
        "superbpe",
        "trillion",
        "granite-docling",
        "bailingmoe",
        "bailingmoe2",
        "llada-moe",
        "seed-coder",
        "hunyuan",
        "hunyuan-dense",
        "hy_v4",
        "joyai-llm",
        "kimi-k2",
        "ufakzeka",
        "grok-2",
        "afmoe",
        "laguna",
        "minimax-m2",
        "solar-open",
    ];
    const ESCAPE_WHITESPACES: &[&str] = &["gemma4", "granite-embed-multi-311m", "sarvam-moe"];
    const ADD_BOS: &[&str] = &["tekken", "chameleon"];
    BpeFlags {
        add_bos: LLAMA3.contains(&pre) || ADD_BOS.contains(&pre),
        clean_spaces: !KEEP_SPACES.contains(&pre),
        ignore_merges: LLAMA3.contains(&pre) || IGNORE_MERGES.contains(&pre),
        escape_whitespaces: ESCAPE_WHITESPACES.contains(&pre),
    }
}

fn read_tokens(meta: &Metadata<'_>) -> Result<Vec<TokenData>, Error> {
    let texts = meta.get_str_array(keys::TOKENS)?;
    let n = texts.len();
    if n == 0 || n > i32::MAX as usize {
        return Err(Error::VocabSize(n));
    }
    let scores = read_scores(meta, n)?;
    let types: Option<Vec<i32>> = match meta.get(keys::TOKEN_TYPE) {
        None => None,
        Some(_) => Some(meta.get_vec::<i32>(keys::TOKEN_TYPE)?),
    };
    if let Some(types) = &types
        && types.len() < n
    {
        return Err(Error::ShortArray {
            key: keys::TOKEN_TYPE,
            found: types.len(),
            tokens: n,
        });
    }
    Ok(texts
        .iter()
        .enumerate()
        .map(|(i, text)| TokenData {
            // llama.cpp renames empty tokens so that every text is distinct.
            text: if text.is_empty() {
                format!("[EMPTY_{i}]").into()
            } else {
                (*text).into()
            },
            score: scores.as_ref().map_or(0.0, |s| s[i]),
            attr: types
                .as_ref()
                .map_or(TokenAttr::NORMAL, |t| TokenAttr::from_gguf_type(t[i])),
        })
        .collect())
}

fn read_scores(meta: &Metadata<'_>, n: usize) -> Result<Option<Vec<f32>>, Error> {
    if meta.get(keys::SCORES).is_none() {
        return Ok(None);
    }
    let scores: Vec<f32> = match meta.get_vec::<f32>(keys::SCORES) {
        Ok(scores) => scores,
        Err(_) => meta
            .get_vec::<i32>(keys::SCORES)?
            .into_iter()
            .map(|s| s as f32)
            .collect(),
    };
    if scores.len() < n {
        return Err(Error::ShortArray {
            key: keys::SCORES,
            found: scores.len(),
            tokens: n,
        });
    }
    Ok(Some(scores))
}

fn read_merges(meta: &Metadata<'_>) -> Result<Vec<Merge>, Error> {
    let merges = meta.get_str_array(keys::MERGES)?;
    merges
        .iter()
        .enumerate()
        .map(|(index, merge)| {
            // llama.cpp splits at the first space after the first byte, so a
            // merge whose left side starts with a space still splits correctly.
            let split = merge
                .char_indices()
                .skip(1)
                .find(|&(_, c)| c == ' ')
                .map(|(at, _)| at);
            match split {
                Some(at) if at + 1 < merge.len() => {
                    Ok((merge[..at].into(), merge[at + 1..].into()))
                }
                _ => Err(Error::InvalidMerge {
                    index,
                    text: (*merge).to_owned(),
                }),
            }
        })
        .collect()
}

/// Every side of every merge must be a token: merges of texts that are not
/// tokens could never apply, so they betray a broken vocabulary.
fn check_merges(merges: &[Merge], token_to_id: &FxHashMap<Box<str>, u32>) -> Result<(), Error> {
    for (index, (left, right)) in merges.iter().enumerate() {
        if let Some(missing) = [left, right]
            .into_iter()
            .find(|side| !token_to_id.contains_key(*side))
        {
            return Err(Error::InconsistentMerge {
                index,
                text: format!("{left} {right}"),
                missing: missing.to_string(),
            });
        }
    }
    Ok(())
}

fn read_special_ids(
    meta: &Metadata<'_>,
    special: &mut SpecialTokens,
    n_tokens: usize,
) -> Result<(), Error> {
    type Slot = fn(&mut SpecialTokens) -> &mut Option<u32>;
    let slots: [(&str, Slot); 17] = [
        ("tokenizer.ggml.bos_token_id", |s| &mut s.bos),
        ("tokenizer.ggml.eos_token_id", |s| &mut s.eos),
        ("tokenizer.ggml.eot_token_id", |s| &mut s.eot),
        ("tokenizer.ggml.eom_token_id", |s| &mut s.eom),
        ("tokenizer.ggml.unknown_token_id", |s| &mut s.unk),
        ("tokenizer.ggml.seperator_token_id", |s| &mut s.sep),
        ("tokenizer.ggml.padding_token_id", |s| &mut s.pad),
        ("tokenizer.ggml.mask_token_id", |s| &mut s.mask),
        ("tokenizer.ggml.fim_pre_token_id", |s| &mut s.fim_pre),
        ("tokenizer.ggml.fim_suf_token_id", |s| &mut s.fim_suf),
        ("tokenizer.ggml.fim_mid_token_id", |s| &mut s.fim_mid),
        ("tokenizer.ggml.fim_pad_token_id", |s| &mut s.fim_pad),
        ("tokenizer.ggml.fim_rep_token_id", |s| &mut s.fim_rep),
        ("tokenizer.ggml.fim_sep_token_id", |s| &mut s.fim_sep),
        // Older names of the fill-in-the-middle ids.
        ("tokenizer.ggml.prefix_token_id", |s| &mut s.fim_pre),
        ("tokenizer.ggml.suffix_token_id", |s| &mut s.fim_suf),
        ("tokenizer.ggml.middle_token_id", |s| &mut s.fim_mid),
    ];
    for (key, slot_of) in slots {
        let slot = slot_of(special);
        // A default id outside the vocabulary is dropped; an id from the file
        // outside it is ignored in favour of the default (llama.cpp warns).
        if slot.is_some_and(|id| id as usize >= n_tokens) {
            *slot = None;
        }
        if let Some(id) = meta.get_opt::<u32>(key)?
            && (id as usize) < n_tokens
        {
            *slot = Some(id);
        }
    }
    Ok(())
}
