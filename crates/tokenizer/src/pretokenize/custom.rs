//! Hand-written splitters that llama.cpp uses instead of its regex engine for some
//! regexes (`unicode_regex_split_custom*`). They follow llama.cpp's code, not the
//! regex, wherever the two could differ.

use std::ops::Range;

use super::unicode::{ACCENT_MARK, LETTER, NUMBER, WHITESPACE, flags};

/// The splitters llama.cpp has custom code for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Custom {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    Gpt2,
    /// llama3 (digits in runs of up to 3), qwen2 (single digits) and qwen35 (letters
    /// and marks together).
    Llama3 {
        /// The most digits a piece holds.
        max_digits: usize,
        /// `[\p{L}\p{M}]` in place of `\p{L}` (qwen35).
        marks: bool,
    },
    /// `[^\n]+|[\n]+`
    Newlines,
    /// `\p{AFMoE_digits}` and tiny_aya's `\d{1,3}(?=(?:\d{3})*\b)`.
    DigitGroups,
    /// kimi-k2's whole split, triggered by `\p{Han}+`.
    KimiK2,
}

impl Custom {
    /// The custom splitter llama.cpp picks for `regex`, if any.
    pub(crate) fn for_regex(regex: &str) -> Option<Custom> {
        Some(match regex {
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)" => {
                Custom::Gpt2
            }
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
            | "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" => {
                Custom::Llama3 {
                    max_digits: 3,
                    marks: false,
                }
            }
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" => {
                Custom::Llama3 {
                    max_digits: 1,
                    marks: false,
                }
            }
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" => {
                Custom::Llama3 {
                    max_digits: 1,
                    marks: true,
                }
            }
            "[^\\n]+|[\\n]+" => Custom::Newlines,
            "\\p{AFMoE_digits}" | "\\d{1,3}(?=(?:\\d{3})*\\b)" => Custom::DigitGroups,
            "\\p{Han}+" => Custom::KimiK2,
            _ => return None,
        })
    }

    /// Splits `text[piece]`, appending the pieces to `out`.
    pub(crate) fn split(self, text: &str, piece: Range<usize>, out: &mut Vec<Range<usize>>) {
        let mut s = Splitter {
            bytes: text.as_bytes(),
            end: piece.end,
            prev: piece.start,
            out,
        };
        match self {
            Custom::Gpt2 => s.gpt2(piece.start),
            Custom::Llama3 { max_digits, marks } => s.llama3(piece.start, max_digits, marks),
            Custom::Newlines => s.newlines(piece.start),
            Custom::DigitGroups => s.digit_groups(piece.start),
            Custom::KimiK2 => s.kimi_k2(piece.start),
        }
    }
}

/// llama.cpp's `unicode_cpt_is_han`.
fn is_han(cp: u32) -> bool {
    matches!(
        cp,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B820..=0x2CEAF
            | 0x2CEB0..=0x2EBEF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// Out of the piece (llama.cpp's `OUT_OF_RANGE`).
const OUT: u32 = u32::MAX;

/// One codepoint at a byte position: value, flags (0 when out of the piece) and
/// UTF-8 length (0 when out of the piece).
#[derive(Clone, Copy)]
struct Cp {
    cp: u32,
    flags: u16,
    len: usize,
}

impl Cp {
    #[inline]
    fn has(self, f: u16) -> bool {
        self.flags & f != 0
    }
}

struct Splitter<'a, 'o> {
    bytes: &'a [u8],
    end: usize,
    prev: usize,
    out: &'o mut Vec<Range<usize>>,
}

impl Splitter<'_, '_> {
    /// The codepoint at byte `pos` (a char boundary), or the out-of-range value.
    #[inline]
    fn at(&self, pos: usize) -> Cp {
        if pos >= self.end {
            return Cp {
                cp: OUT,
                flags: 0,
                len: 0,
            };
        }
        let b0 = self.bytes[pos];
        let (cp, len) = if b0 < 0x80 {
            (u32::from(b0), 1)
        } else if b0 < 0xE0 {
            (
                (u32::from(b0 & 0x1F) << 6) | u32::from(self.bytes[pos + 1] & 0x3F),
                2,
            )
        } else if b0 < 0xF0 {
            (
                (u32::from(b0 & 0x0F) << 12)
                    | (u32::from(self.bytes[pos + 1] & 0x3F) << 6)
                    | u32::from(self.bytes[pos + 2] & 0x3F),
                3,
            )
        } else {
            (
                (u32::from(b0 & 0x07) << 18)
                    | (u32::from(self.bytes[pos + 1] & 0x3F) << 12)
                    | (u32::from(self.bytes[pos + 2] & 0x3F) << 6)
                    | u32::from(self.bytes[pos + 3] & 0x3F),
                4,
            )
        };
        Cp {
            cp,
            flags: flags(cp),
            len,
        }
    }

    /// llama.cpp's `_add_token`: ends the current piece at `end` if it is not empty.
    #[inline]
    fn add(&mut self, end: usize) {
        if end > self.prev {
            self.out.push(self.prev..end);
        }
        self.prev = end;
    }

    /// At an apostrophe at `pos`: the end of `'s|'t|'re|'ve|'m|'ll|'d` there, if it
    /// matches (ASCII case-insensitively if `fold`).
    #[inline]
    fn contraction(&self, pos: usize, fold: bool) -> Option<usize> {
        let lower = |c: u32| {
            if fold && (u32::from(b'A')..=u32::from(b'Z')).contains(&c) {
                c + 32
            } else {
                c
            }
        };
        let p1 = pos + 1;
        if p1 >= self.end {
            return None;
        }
        let c1 = self.at(p1);
        let n1 = lower(c1.cp);
        if [b's', b't', b'm', b'd'].iter().any(|&b| n1 == u32::from(b)) {
            return Some(p1 + c1.len);
        }
        let p2 = p1 + c1.len;
        if p2 >= self.end {
            return None;
        }
        let c2 = self.at(p2);
        let n2 = lower(c2.cp);
        let pair = |a: u8, b: u8| n1 == u32::from(a) && n2 == u32::from(b);
        if pair(b'r', b'e') || pair(b'v', b'e') || pair(b'l', b'l') {
            return Some(p2 + c2.len);
        }
        None
    }

    /// Counts the whitespace run at `pos`: (count, byte position of its last
    /// codepoint, end of the run, end of its last `\r` or `\n` or 0).
    #[inline]
    fn whitespace_run(&self, mut pos: usize) -> (usize, usize, usize, usize) {
        let mut n = 0;
        let mut last = pos;
        let mut last_rn = 0;
        loop {
            let c = self.at(pos);
            if !c.has(WHITESPACE) {
                return (n, last, pos, last_rn);
            }
            n += 1;
            last = pos;
            pos += c.len;
            if c.cp == u32::from(b'\r') || c.cp == u32::from(b'\n') {
                last_rn = pos;
            }
        }
    }

    /// `\p{N}{1,max}` repeated: adds a piece for every `max` digits from `pos`
    /// and one for the rest; returns the end of the digits.
    fn digit_run(&mut self, mut pos: usize, max: usize) -> usize {
        let mut count = 0;
        loop {
            let n = self.at(pos);
            if !n.has(NUMBER) {
                break;
            }
            pos += n.len;
            count += 1;
            if count >= max {
                self.add(pos);
                count = 0;
            }
        }
        self.add(pos);
        pos
    }

    /// The end of ` ?[^\s{word}\p{N}]+[\r\n]*` at `pos` (whose character is
    /// `c`), if it matches there. llama.cpp's llama3 family tests the flags of
    /// `c` itself for the first character (`gate_on_c`), kimi-k2 those of the
    /// character after an optional space; both are kept.
    fn symbol_run_end(&self, mut pos: usize, c: Cp, word: u16, gate_on_c: bool) -> Option<usize> {
        let other = |c: Cp| !c.has(WHITESPACE | word | NUMBER) && c.flags != 0;
        let is_space = c.cp == u32::from(b' ');
        let mut c2 = if is_space { self.at(pos + 1) } else { c };
        let gate = if gate_on_c { c.flags } else { c2.flags };
        if c2.has(WHITESPACE | word | NUMBER) || gate == 0 {
            return None;
        }
        if is_space {
            pos += 1;
        }
        while other(c2) {
            pos += c2.len;
            c2 = self.at(pos);
        }
        while matches!(self.at(pos).cp, 0x0D | 0x0A) {
            pos += 1;
        }
        Some(pos)
    }

    /// The end of the piece at `pos` by the tail alternatives the llama3 family
    /// shares, `\s*[\r\n]+|\s+(?!\S)|\s+`, or else of the single character of
    /// length `len` there.
    fn whitespace_piece_end(&self, pos: usize, len: usize) -> usize {
        let (n, last, run_end, last_rn) = self.whitespace_run(pos);
        if last_rn > 0 {
            last_rn
        } else if n > 1 && run_end < self.end {
            last
        } else if n > 0 {
            run_end
        } else {
            pos + len
        }
    }

    fn gpt2(&mut self, mut pos: usize) {
        while pos < self.end {
            let c = self.at(pos);
            if c.cp == u32::from(b'\'')
                && let Some(e) = self.contraction(pos, false)
            {
                self.add(e);
                pos = e;
                continue;
            }
            let is_space = c.cp == u32::from(b' ');
            let mut c2 = if is_space { self.at(pos + 1) } else { c };
            // <space>?\p{L}+, <space>?\p{N}+
            for class in [LETTER, NUMBER] {
                if c2.has(class) {
                    if is_space {
                        pos += 1;
                    }
                    while c2.has(class) {
                        pos += c2.len;
                        c2 = self.at(pos);
                    }
                    break;
                }
            }
            if pos != self.prev {
                self.add(pos);
                continue;
            }
            // <space>?[^\s\p{L}\p{N}]+
            let other = |c: Cp| !c.has(WHITESPACE | LETTER | NUMBER) && c.flags != 0;
            if other(c2) {
                if is_space {
                    pos += 1;
                }
                while other(c2) {
                    pos += c2.len;
                    c2 = self.at(pos);
                }
                self.add(pos);
                continue;
            }
            let (n, last, run_end, _) = self.whitespace_run(pos);
            if n > 1 && run_end < self.end {
                // \s+(?!\S)
                pos = last;
            } else if n > 0 {
                // \s+
                pos = run_end;
            } else {
                pos += c.len;
            }
            self.add(pos);
        }
    }

    fn llama3(&mut self, mut pos: usize, max_digits: usize, marks: bool) {
        let word = if marks { LETTER | ACCENT_MARK } else { LETTER };
        while pos < self.end {
            let c = self.at(pos);
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if c.cp == u32::from(b'\'')
                && let Some(e) = self.contraction(pos, true)
            {
                self.add(e);
                pos = e;
                continue;
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c.cp == u32::from(b'\r') || c.cp == u32::from(b'\n') || c.has(NUMBER))
                && (c.has(word) || self.at(pos + c.len).has(word))
            {
                pos += c.len;
                loop {
                    let n = self.at(pos);
                    if !n.has(word) {
                        break;
                    }
                    pos += n.len;
                }
                self.add(pos);
                continue;
            }
            // \p{N}{1,max_digits}
            if c.has(NUMBER) {
                pos = self.digit_run(pos, max_digits);
                continue;
            }
            // <space>?[^\s\p{L}\p{N}]+[\r\n]*
            if let Some(end) = self.symbol_run_end(pos, c, word, true) {
                pos = end;
                self.add(pos);
                continue;
            }
            pos = self.whitespace_piece_end(pos, c.len);
            self.add(pos);
        }
    }

    /// llama.cpp's `unicode_regex_split_custom_kimi_k2`.
    fn kimi_k2(&mut self, mut pos: usize) {
        let letter = |c: Cp| c.has(LETTER) && !is_han(c.cp);
        while pos < self.end {
            let c = self.at(pos);
            // [\p{Han}]+
            if is_han(c.cp) {
                loop {
                    let n = self.at(pos);
                    if !is_han(n.cp) {
                        break;
                    }
                    pos += n.len;
                }
                self.add(pos);
                continue;
            }
            // [^\r\n\p{L}\p{N}]?(letters but Han)+ and an optional contraction
            let lead_ok =
                !(c.cp == u32::from(b'\r') || c.cp == u32::from(b'\n') || c.has(LETTER | NUMBER));
            if letter(c) || (lead_ok && letter(self.at(pos + c.len))) {
                let start = pos;
                if lead_ok {
                    pos += c.len;
                }
                let mut has_letters = false;
                while letter(self.at(pos)) {
                    has_letters = true;
                    pos += self.at(pos).len;
                }
                if has_letters || (!lead_ok && letter(self.at(pos))) {
                    if !has_letters {
                        pos += self.at(pos).len;
                    }
                    while letter(self.at(pos)) {
                        pos += self.at(pos).len;
                    }
                    if self.at(pos).cp == u32::from(b'\'')
                        && let Some(e) = self.contraction(pos, true)
                    {
                        pos = e;
                    }
                    self.add(pos);
                    continue;
                }
                pos = start;
            }
            // \p{N}{1,3}
            if c.has(NUMBER) {
                pos = self.digit_run(pos, 3);
                continue;
            }
            // <space>?[^\s\p{L}\p{N}]+[\r\n]*
            if let Some(end) = self.symbol_run_end(pos, c, LETTER, false) {
                pos = end;
                self.add(pos);
                continue;
            }
            pos = self.whitespace_piece_end(pos, c.len);
            self.add(pos);
        }
    }

    fn newlines(&mut self, mut pos: usize) {
        while pos < self.end {
            let nl = self.bytes[pos] == b'\n';
            while pos < self.end && (self.bytes[pos] == b'\n') == nl {
                pos += 1;
            }
            self.add(pos);
        }
    }

    fn digit_groups(&mut self, mut pos: usize) {
        // llama.cpp's unicode_regex_split_custom_afmoe: text before a digit run is
        // not cut off; it joins the run's first group.
        while pos < self.end {
            let c = self.at(pos);
            if !c.has(NUMBER) {
                pos += c.len;
                continue;
            }
            let start = pos;
            let mut count = 0;
            loop {
                let n = self.at(pos);
                if !n.has(NUMBER) {
                    break;
                }
                pos += n.len;
                count += 1;
            }
            let mut next_cut = match count % 3 {
                0 => 3,
                rem => rem,
            };
            let mut p = start;
            for k in 1..=count {
                p += self.at(p).len;
                if k == next_cut {
                    self.add(p);
                    next_cut += 3;
                }
            }
        }
        if self.prev < self.end {
            self.add(self.end);
        }
    }
}
