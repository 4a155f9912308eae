//! A small but valid vocabulary for generated models.
//!
//! Real tokenizers are not needed to benchmark or to test the engine's plumbing,
//! but llama.cpp and our own loader expect a complete, consistent vocabulary with as
//! many tokens as the embedding has rows. We train a few hundred BPE merges on a short
//! built-in text, add the family's special tokens and pad with unused tokens.

use std::collections::HashMap;

use rocmforge_gguf::{Array, Value};

use super::family::Arch;

/// Token types of llama.cpp's `llama_token_type`.
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const UNUSED: i32 = 5;
const BYTE: i32 = 6;

/// Merges to learn at most; the tiny corpus runs out of frequent pairs before this.
const MAX_MERGES: usize = 600;

const CORPUS: &str = "\
The quick brown fox jumps over the lazy dog. A model reads the text one token at a time, \
and the tokens are pieces of words that appear often in the training data. When the \
weights are random the model says nothing sensible, but the shapes, the names and the \
numbers in the header are those of the real thing, so a program that loads it, runs it \
and measures its speed does the same work as with a trained model of that size.
In the beginning there was the prompt, and the prompt was long. Then came the decoding, \
one step after another, each step reading every weight of the network once.
fn main() { let numbers = vec![1, 2, 3, 4, 5]; for n in &numbers { println!(\"{}\", n * 2); } }
def attention(query, key, value): return softmax(query @ key.T / sqrt(dim)) @ value
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 2024 3.14159 42.
Some other scripts: naïve café, Straße, прыжок лисы, 快速的棕色狐狸, ロケット, 🙂.
";

/// Bytes mapped to printable characters, as GPT-2's byte-level BPE does.
fn byte_to_char() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        map[b as usize] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(next).unwrap_or('?');
            next += 1;
            c
        };
    }
    map
}

/// Learns merges over `words` (each a sequence of initial symbols), most frequent
/// pair first, ties broken by the pair's text so the result is deterministic.
fn learn_merges(words: &[Vec<String>], max_merges: usize) -> Vec<(String, String)> {
    let mut words: Vec<Vec<String>> = words.to_vec();
    let mut merges = Vec::new();
    while merges.len() < max_merges {
        let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
        for word in &words {
            for pair in word.windows(2) {
                *counts
                    .entry((pair[0].as_str(), pair[1].as_str()))
                    .or_default() += 1;
            }
        }
        let best = counts
            .into_iter()
            .filter(|&(_, n)| n >= 2)
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|((l, r), _)| (l.to_owned(), r.to_owned()));
        let Some((left, right)) = best else { break };
        let joined = format!("{left}{right}");
        for word in &mut words {
            let mut i = 0;
            while i + 1 < word.len() {
                if word[i] == left && word[i + 1] == right {
                    word[i] = joined.clone();
                    word.remove(i + 1);
                }
                i += 1;
            }
        }
        merges.push((left, right));
    }
    merges
}

/// Splits the corpus into words, each carrying the space before it (GPT-2 style).
fn corpus_words(space: &str, map_char: impl Fn(char) -> Vec<String>) -> Vec<Vec<String>> {
    CORPUS
        .split_whitespace()
        .map(|word| {
            let mut symbols = vec![space.to_owned()];
            symbols.extend(word.chars().flat_map(&map_char));
            symbols
        })
        .collect()
}

/// The family's special tokens: (text, type).
fn specials(arch: Arch) -> Vec<(&'static str, i32)> {
    match arch {
        Arch::Llama => vec![
            ("<|begin_of_text|>", CONTROL),
            ("<|end_of_text|>", CONTROL),
            ("<|start_header_id|>", CONTROL),
            ("<|end_header_id|>", CONTROL),
            ("<|eot_id|>", CONTROL),
        ],
        Arch::Qwen2 | Arch::Qwen3 => vec![
            ("<|endoftext|>", CONTROL),
            ("<|im_start|>", CONTROL),
            ("<|im_end|>", CONTROL),
        ],
        Arch::Gemma3 => vec![
            ("<pad>", CONTROL),
            ("<eos>", CONTROL),
            ("<bos>", CONTROL),
            ("<unk>", UNKNOWN),
            ("<start_of_turn>", CONTROL),
            ("<end_of_turn>", CONTROL),
        ],
    }
}

const LLAMA3_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";
const CHATML_TEMPLATE: &str = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
const GEMMA_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";

/// The `tokenizer.*` metadata of a vocabulary with exactly `n_vocab` tokens.
pub fn metadata(arch: Arch, n_vocab: u64) -> anyhow::Result<Vec<(String, Value)>> {
    let (mut tokens, mut types, mut scores) =
        (Vec::<String>::new(), Vec::<i32>::new(), Vec::<f32>::new());
    let mut meta: Vec<(String, Value)> = Vec::new();
    let id_of =
        |tokens: &[String], text: &str| tokens.iter().position(|t| t == text).map(|i| i as u32);

    if arch == Arch::Gemma3 {
        // SentencePiece style: specials, byte fallback tokens, characters, merged pieces.
        for (text, ty) in specials(arch) {
            tokens.push(text.into());
            types.push(ty);
            scores.push(-1000.0);
        }
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(BYTE);
            scores.push(0.0);
        }
        let words = corpus_words("▁", |c| vec![c.to_string()]);
        let mut chars: Vec<String> = words.iter().flatten().cloned().collect();
        chars.sort();
        chars.dedup();
        for (rank, c) in chars.into_iter().enumerate() {
            tokens.push(c);
            types.push(NORMAL);
            scores.push(-10_000.0 - rank as f32);
        }
        for (rank, (l, r)) in learn_merges(&words, MAX_MERGES).into_iter().enumerate() {
            // Two merges can spell the same piece ("a"+"bc", "ab"+"c"): keep the first.
            let piece = format!("{l}{r}");
            if !tokens.contains(&piece) {
                tokens.push(piece);
                types.push(NORMAL);
                scores.push(-(rank as f32));
            }
        }
        meta.push(("tokenizer.ggml.model".into(), "llama".into()));
        meta.push(("tokenizer.ggml.pre".into(), "default".into()));
    } else {
        // Byte-level BPE: the 256 byte symbols, merged tokens, then specials.
        let map = byte_to_char();
        for c in map {
            tokens.push(c.to_string());
            types.push(NORMAL);
        }
        let space = map[b' ' as usize].to_string();
        let words = corpus_words(&space, |c| {
            let mut buf = [0u8; 4];
            c.encode_utf8(&mut buf)
                .bytes()
                .map(|b| map[b as usize].to_string())
                .collect()
        });
        let merges = learn_merges(&words, MAX_MERGES);
        for (l, r) in &merges {
            let token = format!("{l}{r}");
            if !tokens.contains(&token) {
                tokens.push(token);
                types.push(NORMAL);
            }
        }
        for (text, ty) in specials(arch) {
            tokens.push(text.into());
            types.push(ty);
        }
        let pre = if arch == Arch::Llama {
            "llama-bpe"
        } else {
            "qwen2"
        };
        meta.push(("tokenizer.ggml.model".into(), "gpt2".into()));
        meta.push(("tokenizer.ggml.pre".into(), pre.into()));
        let merges: Vec<String> = merges
            .into_iter()
            .map(|(l, r)| format!("{l} {r}"))
            .collect();
        meta.push(("tokenizer.ggml.merges".into(), Value::from(merges)));
    }

    if tokens.len() as u64 > n_vocab {
        anyhow::bail!(
            "the built-in vocabulary has {} tokens, more than the {n_vocab} the shape allows",
            tokens.len()
        );
    }
    let mut unused = 0;
    while (tokens.len() as u64) < n_vocab {
        tokens.push(format!("<unused{unused}>"));
        types.push(UNUSED);
        if arch == Arch::Gemma3 {
            scores.push(-1000.0);
        }
        unused += 1;
    }

    let id = |text: &str| id_of(&tokens, text).ok_or_else(|| anyhow::anyhow!("no token {text}"));
    let (bos, eos, eot, template, add_bos) = match arch {
        Arch::Llama => (
            Some(id("<|begin_of_text|>")?),
            id("<|end_of_text|>")?,
            id("<|eot_id|>")?,
            LLAMA3_TEMPLATE,
            true,
        ),
        Arch::Qwen2 | Arch::Qwen3 => (
            None,
            id("<|endoftext|>")?,
            id("<|im_end|>")?,
            CHATML_TEMPLATE,
            false,
        ),
        Arch::Gemma3 => (
            Some(id("<bos>")?),
            id("<eos>")?,
            id("<end_of_turn>")?,
            GEMMA_TEMPLATE,
            true,
        ),
    };
    if let Some(bos) = bos {
        meta.push(("tokenizer.ggml.bos_token_id".into(), Value::U32(bos)));
    }
    meta.push(("tokenizer.ggml.eos_token_id".into(), Value::U32(eos)));
    meta.push(("tokenizer.ggml.eot_token_id".into(), Value::U32(eot)));
    if arch == Arch::Gemma3 {
        meta.push((
            "tokenizer.ggml.unknown_token_id".into(),
            Value::U32(id("<unk>")?),
        ));
        meta.push((
            "tokenizer.ggml.padding_token_id".into(),
            Value::U32(id("<pad>")?),
        ));
        meta.push(("tokenizer.ggml.add_space_prefix".into(), Value::Bool(false)));
    } else {
        meta.push(("tokenizer.ggml.padding_token_id".into(), Value::U32(eos)));
    }
    meta.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(add_bos)));
    meta.push(("tokenizer.ggml.add_eos_token".into(), Value::Bool(false)));
    meta.push(("tokenizer.chat_template".into(), template.into()));

    let mut out = vec![
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(Array::String(tokens)),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(Array::I32(types)),
        ),
    ];
    if !scores.is_empty() {
        out.push((
            "tokenizer.ggml.scores".into(),
            Value::Array(Array::F32(scores)),
        ));
    }
    // Keep the model and pre-tokenizer first, as llama.cpp's converter does.
    meta.splice(2..2, out);
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection_onto_printable_chars() {
        let map = byte_to_char();
        let mut sorted = map.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 256);
        assert_eq!(map[b' ' as usize], 'Ġ');
        assert_eq!(map[b'\n' as usize], 'Ċ');
        assert_eq!(map[b'A' as usize], 'A');
    }

    #[test]
    fn vocabularies_fill_the_embedding_exactly() {
        for arch in [Arch::Llama, Arch::Qwen2, Arch::Qwen3, Arch::Gemma3] {
            let meta = metadata(arch, 1024).unwrap();
            let tokens = meta
                .iter()
                .find(|(k, _)| k == "tokenizer.ggml.tokens")
                .unwrap();
            let Value::Array(Array::String(tokens)) = &tokens.1 else {
                panic!()
            };
            assert_eq!(tokens.len(), 1024);
            let mut unique = tokens.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 1024, "{arch:?}: duplicate tokens");
        }
    }

    #[test]
    fn every_merge_joins_two_existing_tokens_into_an_existing_token() {
        let meta = metadata(Arch::Llama, 1024).unwrap();
        let get = |key: &str| meta.iter().find(|(k, _)| k == key).unwrap().1.clone();
        let (Value::Array(Array::String(tokens)), Value::Array(Array::String(merges))) =
            (get("tokenizer.ggml.tokens"), get("tokenizer.ggml.merges"))
        else {
            panic!()
        };
        assert!(merges.len() > 100, "only {} merges", merges.len());
        for merge in &merges {
            let (l, r) = merge.split_once(' ').unwrap();
            for part in [l.to_owned(), r.to_owned(), format!("{l}{r}")] {
                assert!(tokens.contains(&part), "{merge}: `{part}` is not a token");
            }
        }
    }
}
