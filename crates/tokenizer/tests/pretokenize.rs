//! The pre-tokenizer against llama.cpp's own `unicode_regex_split`
//! (fixtures/pretok.refs.json, made by fixtures/gen/gen_pretok_refs.py), plus
//! properties on arbitrary text.

use std::collections::BTreeMap;
use std::ops::Range;

use proptest::prelude::*;
use rocmforge_tokenizer::pretokenize::{PreTokenizer, byte_to_unicode, unicode_to_byte};

/// Just enough JSON for the fixture.
#[derive(Debug)]
enum Json {
    /// A number, `true`, `false` or `null` (the fixture needs none of their values).
    Scalar,
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(
            self.s[self.i], c,
            "JSON: expected {} at {}",
            c as char, self.i
        );
        self.i += 1;
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return Json::Obj(m);
                }
                loop {
                    self.ws();
                    let Json::Str(k) = self.value() else {
                        panic!("JSON key")
                    };
                    self.eat(b':');
                    let v = self.value();
                    m.insert(k, v);
                    self.ws();
                    let c = self.s[self.i];
                    self.i += 1;
                    if c == b'}' {
                        return Json::Obj(m);
                    }
                    assert_eq!(c, b',');
                }
            }
            b'[' => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return Json::Arr(v);
                }
                loop {
                    v.push(self.value());
                    self.ws();
                    let c = self.s[self.i];
                    self.i += 1;
                    if c == b']' {
                        return Json::Arr(v);
                    }
                    assert_eq!(c, b',');
                }
            }
            b'"' => Json::Str(self.string()),
            b't' => {
                self.i += 4;
                Json::Scalar
            }
            b'f' => {
                self.i += 5;
                Json::Scalar
            }
            b'n' => {
                self.i += 4;
                Json::Scalar
            }
            _ => {
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                Json::Scalar
            }
        }
    }

    fn hex4(&mut self) -> u32 {
        let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(h, 16).unwrap()
    }

    fn string(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).unwrap(),
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    let ch = match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\x08',
                        b'f' => '\x0C',
                        b'/' => '/',
                        b'\\' => '\\',
                        b'"' => '"',
                        b'u' => {
                            let mut u = self.hex4();
                            if (0xD800..0xDC00).contains(&u) {
                                assert_eq!(&self.s[self.i..self.i + 2], b"\\u");
                                self.i += 2;
                                let lo = self.hex4();
                                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            char::from_u32(u).unwrap()
                        }
                        _ => panic!("JSON escape {}", e as char),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

fn load_fixture() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pretok.refs.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    Parser {
        s: text.as_bytes(),
        i: 0,
    }
    .value()
}

fn split<'t>(pre: &PreTokenizer, text: &'t str) -> Vec<&'t str> {
    let mut ranges = Vec::new();
    pre.split_into(text, &mut ranges);
    ranges.into_iter().map(|r| &text[r]).collect()
}

#[test]
fn matches_llama_cpp() {
    let Json::Obj(doc) = load_fixture() else {
        panic!()
    };
    let Some(Json::Obj(cases)) = doc.get("cases") else {
        panic!()
    };
    assert!(cases.len() >= 50);
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, list) in cases {
        let pre = PreTokenizer::from_name(name).unwrap_or_else(|e| panic!("{e}"));
        let Json::Arr(list) = list else { panic!() };
        for case in list {
            let Json::Arr(case) = case else { panic!() };
            let (Json::Str(text), Json::Arr(want)) = (&case[0], &case[1]) else {
                panic!()
            };
            let want: Vec<&str> = want
                .iter()
                .map(|p| match p {
                    Json::Str(s) => s.as_str(),
                    _ => panic!(),
                })
                .collect();
            let got = split(&pre, text);
            if got != want {
                failures.push(format!("{name}: {text:?}\n  want {want:?}\n  got  {got:?}"));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

#[test]
fn knows_llama_cpp_names() {
    let Json::Obj(doc) = load_fixture() else {
        panic!()
    };
    let Some(Json::Arr(names)) = doc.get("names") else {
        panic!()
    };
    let supported = PreTokenizer::supported_names();
    for n in names {
        let Json::Str(n) = n else { panic!() };
        assert!(PreTokenizer::from_name(n).is_ok(), "{n}");
        assert!(supported.contains(&n.as_str()), "{n}");
    }
    assert_eq!(supported.len(), names.len());
    assert!(supported.contains(&"default"));
}

#[test]
fn every_supported_name_builds() {
    for &n in PreTokenizer::supported_names() {
        let pre = PreTokenizer::from_name(n).unwrap();
        assert_eq!(pre.name(), n);
        assert_eq!(
            pre.byte_encode(),
            !matches!(
                n,
                "gemma4" | "granite-embed-multi-311m" | "sarvam-moe" | "whitespace"
            ),
            "{n}"
        );
    }
}

#[test]
fn unsupported_names() {
    for n in ["", "nope", "LLAMA-BPE", "phi-3"] {
        let e = PreTokenizer::from_name(n).unwrap_err();
        assert_eq!(e.name, n);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "pre-tokenizer '{n}' is not supported; supported: "
            )),
            "{msg}"
        );
        assert!(msg.contains("llama-bpe"));
    }
}

#[test]
fn simple_splits() {
    let llama3 = PreTokenizer::from_name("llama-bpe").unwrap();
    assert_eq!(
        split(&llama3, "Hello world's 12345!!\n\n  x"),
        [
            "Hello", " world", "'s", " ", "123", "45", "!!\n\n", " ", " x"
        ]
    );
    let gpt2 = PreTokenizer::from_name("gpt-2").unwrap();
    assert_eq!(
        split(&gpt2, "Hello world's 12345!!\n\n  x"),
        ["Hello", " world", "'s", " 12345", "!!", "\n\n ", " x"]
    );
    let mut out = Vec::new();
    out.push(7..7);
    llama3.split_into("", &mut out);
    assert_eq!(out.len(), 1);
    llama3.split_into("ab", &mut out);
    assert_eq!(out, [7..7, 0..2]);
}

#[test]
fn byte_mapping() {
    for b in 0..=255u8 {
        assert_eq!(unicode_to_byte(byte_to_unicode(b)), Some(b));
    }
    assert_eq!(byte_to_unicode(b' '), '\u{120}');
}

fn check_cover(text: &str, ranges: &[Range<usize>]) -> Result<(), TestCaseError> {
    let mut pos = 0;
    for r in ranges {
        prop_assert_eq!(r.start, pos);
        prop_assert!(r.end > r.start);
        prop_assert!(text.is_char_boundary(r.end));
        pos = r.end;
    }
    prop_assert_eq!(pos, text.len());
    Ok(())
}

fn interesting_text() -> impl Strategy<Value = String> {
    let pool: Vec<char> = "aZz \t\n\r'sSlL09.,!?$_-()\u{a0}\u{3000}\u{2028}\u{85}\u{e9}\u{301}\u{4e2d}\u{1f600}\u{200d}\u{661}\u{378}\u{e000}\u{f0000}\u{b}"
        .chars()
        .collect();
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(pool), 0..60)
            .prop_map(|v| v.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pieces_cover_the_text(text in interesting_text()) {
        for &n in PreTokenizer::supported_names() {
            let pre = PreTokenizer::from_name(n).unwrap();
            let mut ranges = Vec::new();
            pre.split_into(&text, &mut ranges);
            check_cover(&text, &ranges)?;
        }
    }
}

/// Throughput on ~5 MB of mixed text, release: `cargo test --release -p
/// rocmforge-tokenizer --test pretokenize -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    let chunk = "fn main() {\n    let x = vec![1, 2, 3]; // The quick brown fox's 12345 jumps.\n}\n\
                 It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.\n\
                 Привет, мир! Café résumé naïve. 你好，世界。 😀👍🏽 مرحبا بالعالم\n\t\t    indented   text\r\n";
    let mut text = String::new();
    while text.len() < 5_000_000 {
        text.push_str(chunk);
    }
    for name in [
        "llama-bpe",
        "gpt-2",
        "qwen2",
        "default",
        "gpt-4o",
        "deepseek-v3",
        "starcoder",
        "bloom",
    ] {
        let pre = PreTokenizer::from_name(name).unwrap();
        let mut out = Vec::new();
        let t = std::time::Instant::now();
        pre.split_into(&text, &mut out);
        let s = t.elapsed().as_secs_f64();
        println!(
            "{name:>12}: {:7.1} MB/s ({} pieces)",
            text.len() as f64 / s / 1e6,
            out.len()
        );
    }
}
