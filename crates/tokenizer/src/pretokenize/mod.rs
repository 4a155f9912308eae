//! Pre-tokenization: splitting text into the pieces that byte-level BPE merges
//! within, exactly as llama.cpp's `unicode_regex_split` does for each
//! `tokenizer.ggml.pre`.
//!
//! llama.cpp applies a list of regexes in turn: each one splits every current piece
//! (seeing only that piece) into its matches and the gaps between them. Four common
//! regexes (GPT-2's, llama3's, qwen2's, qwen35's) and a few others run hand-written
//! code there; this module follows that code. The others run on C++ `std::regex`
//! over a category-collapsed text; this module translates them to `fancy_regex`
//! over an equivalent mapped text (see the `regex` submodule).

mod bytes;
mod custom;
mod regex;
mod unicode;

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock};

pub use bytes::{byte_to_unicode, unicode_to_byte};

use custom::Custom;
use regex::{RegexStep, map_text};

/// A pre-tokenizer of llama.cpp, chosen by `tokenizer.ggml.pre`.
#[derive(Debug, Clone)]
pub struct PreTokenizer {
    name: &'static str,
    byte_encode: bool,
    steps: Arc<[Step]>,
    /// Which mapped texts the steps need: (plain, collapsed).
    needs: (bool, bool),
}

#[derive(Debug)]
enum Step {
    Custom(Custom),
    Regex(RegexStep),
}

/// A `tokenizer.ggml.pre` value this crate cannot pre-tokenize for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedPreTokenizer {
    /// The value of `tokenizer.ggml.pre`.
    pub name: String,
}

impl fmt::Display for UnsupportedPreTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pre-tokenizer '{}' is not supported; supported: {}",
            self.name,
            PreTokenizer::supported_names().join(", ")
        )
    }
}

impl std::error::Error for UnsupportedPreTokenizer {}

static SUPPORTED: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| NAMES.iter().map(|&(n, _)| n).collect());

impl PreTokenizer {
    /// The pre-tokenizer for a `tokenizer.ggml.pre` value (llama.cpp's names and
    /// aliases; `"default"` is llama.cpp's fallback, which callers use for a missing
    /// or empty value).
    pub fn from_name(name: &str) -> Result<Self, UnsupportedPreTokenizer> {
        let unsupported = || UnsupportedPreTokenizer {
            name: name.to_string(),
        };
        let &(name, pre) = NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(unsupported)?;
        let (regexes, byte_encode) = pre.regexes();
        let mut steps = Vec::with_capacity(regexes.len());
        let mut needs = (false, false);
        for src in regexes {
            if let Some(c) = Custom::for_regex(src) {
                steps.push(Step::Custom(c));
            } else {
                let step = RegexStep::new(src).map_err(|_| unsupported())?;
                if step.collapsed {
                    needs.1 = true;
                } else {
                    needs.0 = true;
                }
                steps.push(Step::Regex(step));
            }
        }
        Ok(PreTokenizer {
            name,
            byte_encode,
            steps: steps.into(),
            needs,
        })
    }

    /// Every supported `tokenizer.ggml.pre` value: all of llama.cpp's names and
    /// aliases. Those that llama.cpp splits with custom code (gpt2, llama3, qwen2,
    /// qwen35 and the pre-types sharing their regexes; kimi-k2's `\p{Han}` split;
    /// afmoe's and tiny_aya's digit grouping; the newline split of gemma4,
    /// sarvam-moe and laguna) follow that code. superbpe's empty-match lookahead
    /// runs as a regex; its empty matches give no piece.
    pub fn supported_names() -> &'static [&'static str] {
        &SUPPORTED
    }

    /// The `tokenizer.ggml.pre` value this was made from.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Whether pieces are written with GPT-2's byte-to-unicode mapping before BPE
    /// (llama.cpp's `byte_encode`; false for gemma4, sarvam-moe and whitespace).
    pub fn byte_encode(&self) -> bool {
        self.byte_encode
    }

    /// Appends the byte ranges of `text`'s pieces to `out`, in order; together they
    /// cover `text` exactly, and none is empty.
    pub fn split_into(&self, text: &str, out: &mut Vec<Range<usize>>) {
        if text.is_empty() {
            return;
        }
        let mut plain = String::new();
        if self.needs.0 {
            map_text(text, false, &mut plain);
        }
        let mut collapsed = String::new();
        if self.needs.1 {
            map_text(text, true, &mut collapsed);
        }
        let apply = |step: &Step, piece: Range<usize>, dst: &mut Vec<Range<usize>>| match step {
            Step::Custom(c) => c.split(text, piece, dst),
            Step::Regex(r) => r.split(if r.collapsed { &collapsed } else { &plain }, piece, dst),
        };
        let n = self.steps.len();
        let mut cur = Vec::with_capacity(1);
        cur.push(0..text.len());
        let mut next = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let dst = if i + 1 == n { &mut *out } else { &mut next };
            for piece in cur.drain(..) {
                apply(step, piece, dst);
            }
            if i + 1 < n {
                std::mem::swap(&mut cur, &mut next);
            }
        }
    }
}

// The `tokenizer.ggml.pre` values llama.cpp knows (llama-vocab.cpp), in its order,
// with the pre-type each selects.
const NAMES: &[(&str, PreType)] = &[
    ("default", PreType::Default),
    ("minicpm5", PreType::Minicpm5),
    ("llama3", PreType::Llama3),
    ("llama-v3", PreType::Llama3),
    ("llama-bpe", PreType::Llama3),
    ("falcon3", PreType::Llama3),
    ("falcon-h1", PreType::Llama3),
    ("pixtral", PreType::Llama3),
    ("midm-2.0", PreType::Llama3),
    ("lfm2", PreType::Llama3),
    ("jina-v5-nano", PreType::Llama3),
    ("deepseek-llm", PreType::DeepseekLlm),
    ("deepseek-coder", PreType::DeepseekCoder),
    ("deepseek-v3", PreType::Deepseek3Llm),
    ("spark2_5", PreType::Spark25),
    ("youtu", PreType::Youtu),
    ("falcon", PreType::Falcon),
    ("mpt", PreType::Mpt),
    ("starcoder", PreType::Starcoder),
    ("gpt-2", PreType::Gpt2),
    ("phi-2", PreType::Gpt2),
    ("jina-es", PreType::Gpt2),
    ("jina-de", PreType::Gpt2),
    ("gigachat", PreType::Gpt2),
    ("jina-v2-es", PreType::Gpt2),
    ("jina-v2-de", PreType::Gpt2),
    ("a.x-4.0", PreType::Gpt2),
    ("mellum", PreType::Gpt2),
    ("modern-bert", PreType::Gpt2),
    ("jais-2", PreType::Jais2),
    ("gemma4", PreType::Gemma4),
    ("granite-embed-multi-311m", PreType::Gemma4),
    ("sarvam-moe", PreType::SarvamMoe),
    ("jina-v1-en", PreType::Gpt2),
    ("jina-v2-code", PreType::Gpt2),
    ("roberta-bpe", PreType::Gpt2),
    ("whitespace", PreType::Whitespace),
    ("refact", PreType::Refact),
    ("command-r", PreType::CommandR),
    ("qwen2", PreType::Qwen2),
    ("deepseek-r1-qwen", PreType::Qwen2),
    ("kormo", PreType::Qwen2),
    ("f2llmv2", PreType::Qwen2),
    ("qwen35", PreType::Qwen35),
    ("stablelm2", PreType::Stablelm2),
    ("olmo", PreType::Olmo),
    ("dbrx", PreType::Dbrx),
    ("smaug-bpe", PreType::Smaug),
    ("poro-chat", PreType::Poro),
    ("chatglm-bpe", PreType::Chatglm4),
    ("glm4", PreType::Chatglm4),
    ("glm5", PreType::Chatglm4),
    ("viking", PreType::Viking),
    ("jais", PreType::Jais),
    ("tekken", PreType::Tekken),
    ("smollm", PreType::Smollm),
    ("codeshell", PreType::Codeshell),
    ("bloom", PreType::Bloom),
    ("gpt3-finnish", PreType::Gpt3Finnish),
    ("exaone", PreType::Exaone),
    ("exaone4", PreType::Gpt2),
    ("exaone-moe", PreType::ExaoneMoe),
    ("chameleon", PreType::Chameleon),
    ("minerva-7b", PreType::Minerva),
    ("megrez", PreType::Qwen2),
    ("gpt-4o", PreType::Gpt4o),
    ("llama4", PreType::Gpt4o),
    ("kanana2", PreType::Gpt4o),
    ("talkie", PreType::Gpt4o),
    ("granite-embed-multi-97m", PreType::GraniteEmbMulti),
    ("tiny_aya", PreType::TinyAya),
    ("cohere2moe", PreType::TinyAya),
    ("superbpe", PreType::Superbpe),
    ("trillion", PreType::Trillion),
    ("granite-docling", PreType::GraniteDocling),
    ("bailingmoe", PreType::Bailingmoe),
    ("bailingmoe2", PreType::Bailingmoe),
    ("llada-moe", PreType::Bailingmoe),
    ("seed-coder", PreType::SeedCoder),
    ("hunyuan", PreType::Hunyuan),
    ("hunyuan-dense", PreType::HunyuanDense),
    ("hy_v4", PreType::HyV4),
    ("joyai-llm", PreType::JoyaiLlm),
    ("kimi-k2", PreType::KimiK2),
    ("ufakzeka", PreType::Ufakzeka),
    ("grok-2", PreType::Grok2),
    ("afmoe", PreType::Afmoe),
    ("laguna", PreType::Laguna),
    ("minimax-m2", PreType::MinimaxM2),
    ("solar-open", PreType::SolarOpen),
    ("mellum2", PreType::Mellum2),
];

/// llama.cpp's `LLAMA_VOCAB_PRE_TYPE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreType {
    Llama3,
    Jais2,
    Dbrx,
    Smaug,
    DeepseekLlm,
    Deepseek3Llm,
    HunyuanDense,
    JoyaiLlm,
    HyV4,
    Spark25,
    Youtu,
    DeepseekCoder,
    Falcon,
    Starcoder,
    Refact,
    CommandR,
    Smollm,
    Codeshell,
    Exaone,
    Minerva,
    Mellum2,
    Gpt2,
    Mpt,
    Olmo,
    Jais,
    Trillion,
    GraniteDocling,
    Stablelm2,
    Qwen2,
    Hunyuan,
    SolarOpen,
    Qwen35,
    Poro,
    Bloom,
    Gpt3Finnish,
    Chatglm4,
    Viking,
    Tekken,
    Chameleon,
    Gpt4o,
    MinimaxM2,
    GraniteEmbMulti,
    TinyAya,
    KimiK2,
    Superbpe,
    Bailingmoe,
    SeedCoder,
    Ufakzeka,
    Grok2,
    Afmoe,
    Laguna,
    ExaoneMoe,
    Gemma4,
    SarvamMoe,
    Minicpm5,
    Whitespace,
    Default,
}

impl PreType {
    /// llama.cpp's regex list and `byte_encode` flag (llm_tokenizer_bpe).
    fn regexes(self) -> (&'static [&'static str], bool) {
        match self {
            PreType::Llama3 => (
                &[
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Jais2 => (
                &[
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
                ],
                true,
            ),
            PreType::Dbrx | PreType::Smaug => (
                &[
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::DeepseekLlm => (
                &[
                    "[\r\n]",
                    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
                    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
                    "\\s+$",
                    "[一-龥ࠀ-一가-퟿]+",
                    "\\p{N}+",
                ],
                true,
            ),
            PreType::Deepseek3Llm | PreType::HunyuanDense | PreType::JoyaiLlm | PreType::HyV4 => (
                &[
                    "\\p{N}{1,3}",
                    "[一-龥぀-ゟ゠-ヿ]+",
                    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Spark25 => (
                &[
                    "\\p{N}{1,3}",
                    "[一-龥぀-ゟ゠-ヿ]+",
                    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
                    "\\p{N}",
                ],
                true,
            ),
            PreType::Youtu => (
                &[
                    "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
                    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::DeepseekCoder => (
                &[
                    "[\r\n]",
                    "\\s?\\p{L}+",
                    "\\s?\\p{P}+",
                    "[一-龥ࠀ-一가-퟿]+",
                    "\\p{N}",
                ],
                true,
            ),
            PreType::Falcon => (
                &[
                    "[\\p{P}\\$\\+<=>\\^~\\|`]+",
                    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
                    "[0-9][0-9][0-9]",
                ],
                true,
            ),
            PreType::Starcoder
            | PreType::Refact
            | PreType::CommandR
            | PreType::Smollm
            | PreType::Codeshell
            | PreType::Exaone
            | PreType::Minerva
            | PreType::Mellum2 => (
                &[
                    "\\p{N}",
                    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
                ],
                true,
            ),
            PreType::Gpt2
            | PreType::Mpt
            | PreType::Olmo
            | PreType::Jais
            | PreType::Trillion
            | PreType::GraniteDocling => (
                &["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"],
                true,
            ),
            PreType::Stablelm2 | PreType::Qwen2 | PreType::Hunyuan | PreType::SolarOpen => (
                &[
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Qwen35 => (
                &[
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Poro | PreType::Bloom | PreType::Gpt3Finnish => {
                (&[" ?[^(\\s|.,!?…。，、।۔،)]+"], true)
            }
            PreType::Chatglm4 => (
                &[
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Viking => (&[" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"], true),
            PreType::Tekken => (
                &[
                    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Chameleon => (
                &[
                    "<sentinel:[0-9]+>",
                    "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                    "([\\t\\n]|    |  )",
                    "\\p{N}",
                    "[\\p{P}!-/:-@\\[-`{-~]",
                    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
                ],
                true,
            ),
            PreType::Gpt4o | PreType::MinimaxM2 => (
                &[
                    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::GraniteEmbMulti => (
                &[
                    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::TinyAya => (
                &[
                    "\\d{1,3}(?=(?:\\d{3})*\\b)",
                    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::KimiK2 => (&["\\p{Han}+"], true),
            PreType::Superbpe => (&["\\p{N}+", "(?=(\\d{3})+(?!\\d))"], true),
            PreType::Bailingmoe => (
                &[
                    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::SeedCoder => (
                &[
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Ufakzeka => (
                &[
                    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Grok2 => (
                &[
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Afmoe => (
                &[
                    "\\p{AFMoE_digits}",
                    "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
                    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Laguna => (
                &[
                    "[^\\n]+|[\\n]+",
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::ExaoneMoe => (
                &[
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Gemma4 => (&["[^\\n]+|[\\n]+"], false),
            PreType::SarvamMoe => (&["[^\\n]+|[\\n]+"], false),
            PreType::Minicpm5 => (
                &[
                    "\\p{N}{1,3}",
                    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                ],
                true,
            ),
            PreType::Whitespace => (&["\\S+"], false),
            PreType::Default => (
                &[
                    "[\\p{P}\\$\\+<=>\\^~\\|]+",
                    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
                    "\\p{N}+",
                    "[0-9][0-9][0-9]",
                ],
                true,
            ),
        }
    }
}
