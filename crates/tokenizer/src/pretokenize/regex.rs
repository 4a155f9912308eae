//! llama.cpp's general regex path (`unicode_regex_split_stl`), emulated with
//! `fancy_regex` on a mapped copy of the text.
//!
//! llama.cpp runs C++ `std::regex` (ECMAScript, "C" locale) either on a
//! "collapsed" text, where every non-ASCII codepoint is replaced by one byte
//! standing for its category, or (for regexes without `\p{..}`) on the codepoints
//! with non-ASCII whitespace replaced by `\x0B`. Here each non-ASCII codepoint is
//! replaced by a marker codepoint of the same UTF-8 length, so byte offsets in the
//! mapped text are byte offsets in the original text, and the ECMAScript regex is
//! translated to an equivalent Rust regex over those markers.

use std::fmt::Write as _;
use std::ops::Range;

use super::unicode::{
    ACCENT_MARK, CATEGORY_MASK, LETTER, NUMBER, PUNCTUATION, SYMBOL, WHITESPACE, flags,
};

/// Whitespace markers, by UTF-8 length (there is no 4-byte whitespace). They must
/// lie outside every literal range of llama.cpp's regexes: U+0085 is whitespace
/// itself; U+FFF0 is unassigned and in no range (afmoe's CJK range, for one,
/// runs from U+8C48 to U+FAFF, over the private use area). A real U+FFF0 in the
/// text becomes `WS3_STANDIN`, another unassigned codepoint in no range.
const WS2: char = '\u{85}';
const WS3: char = '\u{FFF0}';
const WS3_STANDIN: char = '\u{FFF1}';

/// Category indices of the collapsed markers: other, N, L, P, M, S.
const CAT_OTHER: u32 = 0;
const CAT_N: u32 = 1;
const CAT_L: u32 = 2;
const CAT_P: u32 = 3;
const CAT_M: u32 = 4;
const CAT_S: u32 = 5;

/// First marker of each UTF-8 length (2, 3, 4); the category index is added.
const MARK2: u32 = 0x100;
const MARK3: u32 = 0xE000;
const MARK4: u32 = 0xF0000;

/// `\s` of the "C" locale plus the whitespace markers, as class members.
const SPACE: &str = "\\t\\n\\x0B\\x0C\\r\\x20\\x{85}\\x{FFF0}";
const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";

/// The ASCII members llama.cpp adds for each category (`k_ucat_map`).
fn ascii_members(cat: u32) -> &'static str {
    match cat {
        CAT_N => "0-9",
        CAT_L => "A-Za-z",
        CAT_P => {
            "\\x21-\\x23\\x25-\\x2A\\x2C-\\x2F\\x3A-\\x3B\\x3F-\\x40\\x5B-\\x5D\\x5F\\x7B\\x7D"
        }
        CAT_S => "\\x24\\x2B\\x3C-\\x3E\\x5E\\x60\\x7C\\x7E",
        _ => "",
    }
}

/// The category index of a `\p{..}` name llama.cpp knows (`k_ucat_enum`).
fn category_of(name: &str) -> Option<u32> {
    Some(match name {
        "N" => CAT_N,
        "L" | "Lu" | "Ll" | "Lt" | "Lm" | "Lo" => CAT_L,
        "P" => CAT_P,
        "M" => CAT_M,
        "S" => CAT_S,
        _ => return None,
    })
}

const UCAT_NAMES: [&str; 10] = [
    "\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}",
    "\\p{Lo}",
];

/// Whether llama.cpp runs `regex` on the collapsed text.
pub(crate) fn uses_collapsed(regex: &str) -> bool {
    UCAT_NAMES.iter().any(|n| regex.contains(n))
}

/// Appends to `out` the text as the regex of the given kind sees it.
pub(crate) fn map_text(text: &str, collapsed: bool, out: &mut String) {
    out.reserve(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Copy an ASCII run at once.
        let run = bytes[i..]
            .iter()
            .position(|&b| b >= 0x80)
            .map_or(bytes.len(), |n| i + n);
        if run > i {
            out.push_str(&text[i..run]);
            i = run;
            continue;
        }
        let c = text[i..].chars().next().unwrap_or('\0');
        let len = c.len_utf8();
        out.push(map_char(c, len, collapsed));
        i += len;
    }
}

#[inline]
fn map_char(c: char, len: usize, collapsed: bool) -> char {
    let f = flags(c as u32);
    if f & WHITESPACE != 0 {
        return if len == 2 { WS2 } else { WS3 };
    }
    if !collapsed {
        return if c == WS3 { WS3_STANDIN } else { c };
    }
    let cat = match f & CATEGORY_MASK {
        NUMBER => CAT_N,
        LETTER => CAT_L,
        PUNCTUATION => CAT_P,
        ACCENT_MARK => CAT_M,
        SYMBOL => CAT_S,
        _ => CAT_OTHER,
    };
    marker(cat, len)
}

fn marker(cat: u32, len: usize) -> char {
    let base = match len {
        2 => MARK2,
        3 => MARK3,
        _ => MARK4,
    };
    char::from_u32(base + cat).unwrap_or('\0')
}

/// The class members standing for category `cat` in the collapsed text.
fn category_members(cat: u32, out: &mut String) {
    for len in 2..=4 {
        let _ = write!(out, "\\x{{{:X}}}", marker(cat, len) as u32);
    }
    out.push_str(ascii_members(cat));
}

/// Error of [`translate`]: the regex uses something this emulation lacks.
#[derive(Debug)]
pub(crate) struct Untranslatable(#[allow(dead_code)] pub(crate) String);

fn push_char_escaped(c: char, out: &mut String) {
    let _ = write!(out, "\\x{{{:X}}}", c as u32);
}

/// Translates an ECMAScript regex of llama.cpp to Rust `fancy_regex` syntax over
/// the mapped text.
pub(crate) fn translate(src: &str) -> Result<String, Untranslatable> {
    let collapsed = uses_collapsed(src);
    if collapsed && !src.is_ascii() {
        return Err(Untranslatable(
            "unicode categories with non-ASCII characters".into(),
        ));
    }
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len() * 2);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let (atom, next) = parse_escape(&chars, i, collapsed)?;
                match atom {
                    Atom::Char(ch) => push_char_escaped(ch, &mut out),
                    Atom::Set { members, negated } => {
                        out.push_str(if negated { "[^" } else { "[" });
                        out.push_str(&members);
                        out.push(']');
                    }
                    Atom::Raw(s) => out.push_str(&s),
                }
                i = next;
            }
            '[' => i = translate_class(&chars, i, collapsed, &mut out)?,
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    match chars.get(i + 2) {
                        Some(':') | Some('=') | Some('!') => {
                            out.push_str("(?");
                            out.push(chars[i + 2]);
                            i += 3;
                        }
                        _ => return Err(Untranslatable(format!("group syntax at {i}"))),
                    }
                } else {
                    out.push_str("(?:");
                    i += 1;
                }
            }
            ')' | '|' | '*' | '+' | '?' | '^' | '$' => {
                out.push(c);
                i += 1;
            }
            '.' => {
                out.push_str("[^\\n\\r]");
                i += 1;
            }
            '{' => {
                // A quantifier {n}, {n,}, {n,m}; else a literal brace.
                let close = chars[i..].iter().position(|&x| x == '}').map(|n| i + n);
                let body: Option<String> = close.map(|e| chars[i + 1..e].iter().collect());
                let valid = body.as_deref().is_some_and(|b| {
                    let mut parts = b.splitn(2, ',');
                    let first = parts.next().unwrap_or("");
                    !first.is_empty()
                        && first.chars().all(|x| x.is_ascii_digit())
                        && parts
                            .next()
                            .is_none_or(|s| s.chars().all(|x| x.is_ascii_digit()))
                });
                if let (true, Some(e)) = (valid, close) {
                    out.extend(&chars[i..=e]);
                    i = e + 1;
                } else {
                    push_char_escaped(c, &mut out);
                    i += 1;
                }
            }
            _ => {
                push_char_escaped(c, &mut out);
                i += 1;
            }
        }
    }
    Ok(out)
}

enum Atom {
    Char(char),
    /// Class members (without brackets) and whether the set is negated.
    Set {
        members: String,
        negated: bool,
    },
    /// Something only valid outside a class (`\b`).
    Raw(String),
}

/// Parses the escape at `chars[i] == '\\'`; returns the atom and the next index.
fn parse_escape(
    chars: &[char],
    i: usize,
    collapsed: bool,
) -> Result<(Atom, usize), Untranslatable> {
    let Some(&e) = chars.get(i + 1) else {
        return Err(Untranslatable("trailing backslash".into()));
    };
    let set = |m: &str, negated: bool| Atom::Set {
        members: m.to_string(),
        negated,
    };
    let word_boundary = |negated: bool| {
        let w = format!("[{WORD}]");
        let nw = format!("[^{WORD}]");
        // \b: a word character on exactly one side (start and end count as non-word).
        let s = if negated {
            format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))")
        } else {
            format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))")
        };
        let _ = nw;
        Atom::Raw(s)
    };
    Ok(match e {
        's' => (set(SPACE, false), i + 2),
        'S' => (set(SPACE, true), i + 2),
        'd' => (set(DIGIT, false), i + 2),
        'D' => (set(DIGIT, true), i + 2),
        'w' => (set(WORD, false), i + 2),
        'W' => (set(WORD, true), i + 2),
        'b' => (word_boundary(false), i + 2),
        'B' => (word_boundary(true), i + 2),
        't' => (Atom::Char('\t'), i + 2),
        'n' => (Atom::Char('\n'), i + 2),
        'r' => (Atom::Char('\r'), i + 2),
        'f' => (Atom::Char('\x0C'), i + 2),
        'v' => (Atom::Char('\x0B'), i + 2),
        '0' => (Atom::Char('\0'), i + 2),
        'x' | 'u' => {
            let n = if e == 'x' { 2 } else { 4 };
            let hex: String = chars
                .get(i + 2..i + 2 + n)
                .map(|h| h.iter().collect())
                .unwrap_or_default();
            let v = u32::from_str_radix(&hex, 16)
                .map_err(|_| Untranslatable(format!("bad \\{e} escape")))?;
            let ch = char::from_u32(v).ok_or_else(|| Untranslatable("bad escape".into()))?;
            (Atom::Char(ch), i + 2 + n)
        }
        'p' => {
            let close = chars[i..].iter().position(|&x| x == '}').map(|n| i + n);
            let name: Option<String> = close
                .filter(|_| chars.get(i + 2) == Some(&'{'))
                .map(|c| chars[i + 3..c].iter().collect());
            match (name.as_deref().and_then(category_of), close) {
                (Some(cat), Some(close)) if collapsed => {
                    let mut m = String::new();
                    category_members(cat, &mut m);
                    (
                        Atom::Set {
                            members: m,
                            negated: false,
                        },
                        close + 1,
                    )
                }
                _ => return Err(Untranslatable(format!("unsupported \\p at {i}"))),
            }
        }
        c if c.is_ascii_digit() => return Err(Untranslatable("back-references".into())),
        'c' => return Err(Untranslatable("\\c escapes".into())),
        c => (Atom::Char(c), i + 2),
    })
}

/// Translates the bracket expression at `chars[i] == '['`; returns the next index.
fn translate_class(
    chars: &[char],
    i: usize,
    collapsed: bool,
    out: &mut String,
) -> Result<usize, Untranslatable> {
    let mut j = i + 1;
    out.push('[');
    if chars.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    let mut members = 0;
    loop {
        let Some(&c) = chars.get(j) else {
            return Err(Untranslatable("unterminated class".into()));
        };
        if c == ']' {
            if members == 0 {
                return Err(Untranslatable("empty class".into()));
            }
            out.push(']');
            return Ok(j + 1);
        }
        let (atom, next) = class_atom(chars, j, collapsed)?;
        j = next;
        members += 1;
        match atom {
            Atom::Char(lo) => {
                // A range lo-hi, unless the '-' is last.
                if chars.get(j) == Some(&'-') && chars.get(j + 1).is_some_and(|&x| x != ']') {
                    let (hi, next) = class_atom(chars, j + 1, collapsed)?;
                    let Atom::Char(hi) = hi else {
                        return Err(Untranslatable("class in a range".into()));
                    };
                    if hi < lo {
                        return Err(Untranslatable("inverted range".into()));
                    }
                    push_char_escaped(lo, out);
                    out.push('-');
                    push_char_escaped(hi, out);
                    j = next;
                } else {
                    push_char_escaped(lo, out);
                }
            }
            Atom::Set { members, negated } => {
                if negated {
                    out.push_str("[^");
                    out.push_str(&members);
                    out.push(']');
                } else {
                    out.push_str(&members);
                }
            }
            Atom::Raw(_) => return Err(Untranslatable("\\b in a class".into())),
        }
    }
}

fn class_atom(chars: &[char], j: usize, collapsed: bool) -> Result<(Atom, usize), Untranslatable> {
    match chars[j] {
        '\\' => match chars.get(j + 1) {
            // In a class, \b is a backspace.
            Some('b') => Ok((Atom::Char('\x08'), j + 2)),
            _ => parse_escape(chars, j, collapsed),
        },
        c => Ok((Atom::Char(c), j + 1)),
    }
}

/// One compiled regex step.
#[derive(Debug, Clone)]
pub(crate) struct RegexStep {
    re: fancy_regex::Regex,
    /// Whether it runs on the collapsed text.
    pub(crate) collapsed: bool,
}

impl RegexStep {
    /// Compiles llama.cpp's ECMAScript `src`.
    pub(crate) fn new(src: &str) -> Result<RegexStep, Untranslatable> {
        let translated = translate(src)?;
        let re = fancy_regex::RegexBuilder::new(&translated)
            .backtrack_limit(100_000_000)
            .build()
            .map_err(|e| Untranslatable(format!("{translated}: {e}")))?;
        Ok(RegexStep {
            re,
            collapsed: uses_collapsed(src),
        })
    }

    /// Splits `mapped[piece]` (the mapped text), appending pieces to `out`: each
    /// match and each gap between matches; empty matches give no piece.
    pub(crate) fn split(&self, mapped: &str, piece: Range<usize>, out: &mut Vec<Range<usize>>) {
        let base = piece.start;
        let hay = &mapped[piece];
        let mut last = 0;
        for m in self.re.find_iter(hay) {
            // A failed match (backtracking limit): the rest stays one piece.
            let Ok(m) = m else { break };
            if m.start() > last {
                out.push(base + last..base + m.start());
            }
            if m.end() > m.start() {
                out.push(base + m.start()..base + m.end());
            }
            last = m.end();
        }
        if last < hay.len() {
            out.push(base + last..base + hay.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates() {
        let t = translate("\\s+(?!\\S)|[^\\r\\n\\p{L}]?").unwrap();
        assert!(t.starts_with("[\\t\\n"), "{t}");
        assert!(translate("\\p{Han}+").is_err());
        assert!(translate("(IMGIMG)((A|B){1,4})Z").is_ok());
    }

    #[test]
    fn mapping_keeps_lengths() {
        let text = "a é € 😀\u{a0}\u{3000}x";
        for collapsed in [false, true] {
            let mut m = String::new();
            map_text(text, collapsed, &mut m);
            assert_eq!(m.len(), text.len());
            for ((a, _), (b, _)) in text.char_indices().zip(m.char_indices()) {
                assert_eq!(a, b);
            }
        }
    }
}
