//! Special tokens: the load-time rules that find and mark them, and the split of
//! input text into special tokens and the raw text between them.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rocmforge_gguf::Metadata;

use crate::Error;
use crate::attr::TokenAttr;
use crate::vocab::Vocab;

/// A run of the input: raw text to encode, or a special token matched in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fragment {
    Text(Range<usize>),
    Token(u32),
}

/// Texts that mark a role when the metadata names no id for it. llama.cpp keeps
/// the same lists.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];
/// gpt-oss's channel markers, always rendered as text.
const ALWAYS_RENDERED: &[&str] = &["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

/// Finds end-of-turn, fill-in-the-middle and end-of-generation tokens by their
/// text where the metadata does not name them, and marks them as control
/// tokens, as llama.cpp does at load.
///
/// Where several tokens fit one role, llama.cpp takes whichever its hash map
/// yields first; this takes the lowest id.
pub(crate) fn detect_by_text(vocab: &mut Vocab) {
    let mut entries: Vec<(u32, Box<str>)> = vocab
        .token_to_id
        .iter()
        .map(|(text, &id)| (id, text.clone()))
        .collect();
    entries.sort_unstable_by_key(|(id, _)| *id);

    let special = &mut vocab.special;
    let roles: [(&mut Option<u32>, &[&str]); 8] = [
        (&mut special.eot, EOT_TEXTS),
        (&mut special.eom, EOM_TEXTS),
        (&mut special.fim_pre, FIM_PRE_TEXTS),
        (&mut special.fim_suf, FIM_SUF_TEXTS),
        (&mut special.fim_mid, FIM_MID_TEXTS),
        (&mut special.fim_pad, FIM_PAD_TEXTS),
        (&mut special.fim_rep, FIM_REP_TEXTS),
        (&mut special.fim_sep, FIM_SEP_TEXTS),
    ];
    for (slot, texts) in roles {
        if slot.is_some() {
            continue;
        }
        if let Some((id, _)) = entries.iter().find(|(_, text)| texts.contains(&&**text)) {
            *slot = Some(*id);
            let attr = &mut vocab.tokens[*id as usize].attr;
            *attr = *attr | TokenAttr::CONTROL;
        }
    }

    // Control tokens named "unused…" are reserved.
    for (id, text) in &entries {
        let attr = &mut vocab.tokens[*id as usize].attr;
        if attr.contains(TokenAttr::CONTROL) && text.contains("unused") {
            *attr = *attr | TokenAttr::UNUSED;
        }
    }

    let special = vocab.special;
    let mut eog: Vec<u32> = [special.fim_pad, special.fim_rep, special.fim_sep]
        .into_iter()
        .flatten()
        .collect();
    for (id, text) in &entries {
        if EOG_TEXTS.contains(&&**text) {
            eog.push(*id);
            let attr = &mut vocab.tokens[*id as usize].attr;
            *attr = *attr | TokenAttr::CONTROL;
        }
    }
    for (id, text) in &entries {
        if ALWAYS_RENDERED.contains(&&**text) {
            vocab.tokens[*id as usize].attr = TokenAttr::USER_DEFINED;
        }
    }
    eog.extend(
        [special.eos, special.eot, special.eom]
            .into_iter()
            .flatten(),
    );
    eog.sort_unstable();
    eog.dedup();

    // o200k_harmony and solar-open end turns with `<|return|>`/`<|call|>`
    // (`<|calls|>`/`<|flush|>`); their `<|end|>` is not an end of generation.
    let text_of = |id: u32| &*vocab.tokens[id as usize].text;
    let has = |t: &str| eog.iter().any(|&id| text_of(id) == t);
    let has_call = has("<|call|>") || has("<|calls|>");
    if has_call
        && (has("<|return|>") || has("<|flush|>"))
        && let Some(end) = eog.iter().copied().rfind(|&id| text_of(id) == "<|end|>")
    {
        eog.retain(|&id| id != end);
        vocab.tokens[end as usize].attr = TokenAttr::USER_DEFINED;
    }
    // Gemma 4 and PLaMo use `</s>` as ordinary text.
    let text_of = |id: u32| &*vocab.tokens[id as usize].text;
    let has_normal_s_marker = eog
        .iter()
        .any(|&id| matches!(text_of(id), "<|tool_response>" | "<|plamo:eos|>"));
    if has_normal_s_marker && let Some(s) = eog.iter().copied().rfind(|&id| text_of(id) == "</s>") {
        eog.retain(|&id| id != s);
        vocab.tokens[s as usize].attr = TokenAttr::NORMAL;
    }
    vocab.eog = eog;
}

/// Ids of the tokens matched in text before BPE (control, user-defined and
/// unknown tokens), longest text first.
pub(crate) fn special_token_order(vocab: &Vocab) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..vocab.len() as u32)
        .filter(|&id| {
            vocab.tokens[id as usize]
                .attr
                .intersects(TokenAttr::CONTROL | TokenAttr::USER_DEFINED | TokenAttr::UNKNOWN)
        })
        .collect();
    ids.sort_by_key(|&id| std::cmp::Reverse(vocab.tokens[id as usize].text.len()));
    ids
}

/// Strip attributes that llama.cpp sets by model name, architecture or
/// pre-tokenizer name.
pub(crate) fn apply_model_attrs(vocab: &mut Vocab, meta: &Metadata<'_>) -> Result<(), Error> {
    let name = meta
        .get_opt::<&str>("general.name")?
        .unwrap_or("")
        .to_ascii_lowercase();
    let pre = meta.get_opt::<&str>("tokenizer.ggml.pre")?.unwrap_or("");
    let arch = meta.get_opt::<&str>("general.architecture")?.unwrap_or("");
    let mut set = |text: &str, attr: TokenAttr, on: bool| {
        if let Some(id) = vocab.id_of(text) {
            let slot = &mut vocab.tokens[id as usize].attr;
            *slot = slot.with(attr, on);
        }
    };
    if ["jina-v2-de", "jina-v2-es", "jina-v2-code"]
        .iter()
        .any(|p| pre.contains(p))
        || ["nomic-bert-moe", "jina-bert-v3"]
            .iter()
            .any(|a| arch.contains(a))
    {
        set("<mask>", TokenAttr::LSTRIP, true);
    } else if name.contains("phi-3") || name.contains("phi3") {
        for id in special_token_order(vocab) {
            let slot = &mut vocab.tokens[id as usize].attr;
            *slot = slot.with(TokenAttr::RSTRIP, true);
        }
        let mut set = |text: &str, on: bool| {
            if let Some(id) = vocab.id_of(text) {
                let slot = &mut vocab.tokens[id as usize].attr;
                *slot = slot.with(TokenAttr::RSTRIP, on);
            }
        };
        set("</s>", true);
        for text in ["<unk>", "<s>", "<|endoftext|>"] {
            set(text, false);
        }
    } else if name.contains("modern-bert") {
        set("[MASK]", TokenAttr::LSTRIP, true);
    }
    Ok(())
}

/// Splits text at special tokens exactly as llama.cpp's
/// `tokenizer_st_partition`: each special token in turn, longest first, is
/// matched left to right in the raw text that earlier tokens left over.
#[derive(Debug, Clone)]
pub(crate) struct SpecialMatcher {
    /// Special token ids in matching order; pattern `i` of the automaton is `order[i]`.
    order: Vec<u32>,
    attrs: Vec<TokenAttr>,
    automaton: Option<AhoCorasick>,
}

/// Byte states while partitioning.
const FREE: u8 = 0;
const STRIPPED: u8 = 1;
const TAKEN: u8 = 2;

impl SpecialMatcher {
    pub fn new(vocab: &Vocab) -> Self {
        let order = special_token_order(vocab);
        let attrs = order
            .iter()
            .map(|&id| vocab.tokens[id as usize].attr)
            .collect();
        let automaton = (!order.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(
                    order
                        .iter()
                        .map(|&id| vocab.tokens[id as usize].text.as_bytes()),
                )
                .expect("special token automaton within size limits")
        });
        Self {
            order,
            attrs,
            automaton,
        }
    }

    /// Appends `text`'s fragments to `out`.
    pub fn partition(&self, text: &str, parse_special: bool, out: &mut Vec<Fragment>) {
        if text.is_empty() {
            return;
        }
        let Some(automaton) = &self.automaton else {
            out.push(Fragment::Text(0..text.len()));
            return;
        };
        let skipped = TokenAttr::CONTROL | TokenAttr::UNKNOWN;
        // Every occurrence of every special token, grouped by matching order.
        let mut found: Vec<(u32, usize, usize)> = automaton
            .find_overlapping_iter(text.as_bytes())
            .filter(|m| parse_special || !self.attrs[m.pattern().as_usize()].intersects(skipped))
            .map(|m| (m.pattern().as_u32(), m.start(), m.end()))
            .collect();
        if found.is_empty() {
            out.push(Fragment::Text(0..text.len()));
            return;
        }
        found.sort_unstable();

        let bytes = text.as_bytes();
        let mut state = vec![FREE; bytes.len()];
        let mut taken: Vec<(usize, u32)> = Vec::new();
        let mut group_start = 0;
        while group_start < found.len() {
            let pattern = found[group_start].0;
            let group_end = found[group_start..]
                .iter()
                .position(|f| f.0 != pattern)
                .map_or(found.len(), |n| group_start + n);
            let attr = self.attrs[pattern as usize];
            let mut search_from = 0;
            for &(_, start, end) in &found[group_start..group_end] {
                if start < search_from || state[start..end].iter().any(|&s| s != FREE) {
                    continue;
                }
                state[start..end].fill(TAKEN);
                taken.push((start, self.order[pattern as usize]));
                search_from = end;
                if attr.contains(TokenAttr::LSTRIP) {
                    let mut at = start;
                    while at > 0 && state[at - 1] == FREE && is_c_space(bytes[at - 1]) {
                        at -= 1;
                        state[at] = STRIPPED;
                    }
                }
                if attr.contains(TokenAttr::RSTRIP) {
                    let mut at = end;
                    while at < bytes.len() && state[at] == FREE && is_c_space(bytes[at]) {
                        state[at] = STRIPPED;
                        at += 1;
                    }
                    search_from = at;
                }
            }
            group_start = group_end;
        }

        taken.sort_unstable();
        let mut next_token = taken.iter().peekable();
        let mut at = 0;
        while at < bytes.len() {
            match state[at] {
                FREE => {
                    let run = state[at..]
                        .iter()
                        .position(|&s| s != FREE)
                        .map_or(bytes.len(), |n| at + n);
                    out.push(Fragment::Text(at..run));
                    at = run;
                }
                STRIPPED => at += 1,
                _ => {
                    let &(start, id) = next_token
                        .next()
                        .expect("a token starts at every taken run");
                    debug_assert_eq!(start, at);
                    out.push(Fragment::Token(id));
                    at += state[at..]
                        .iter()
                        .position(|&s| s != TAKEN)
                        .unwrap_or(bytes.len() - at);
                    // Adjacent tokens form one taken run; emit each.
                    while let Some(&&(start, id)) = next_token.peek() {
                        if start >= at {
                            break;
                        }
                        out.push(Fragment::Token(id));
                        next_token.next();
                    }
                }
            }
        }
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}
