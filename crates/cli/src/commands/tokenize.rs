//! `rocmforge tokenize -m FILE (-p TEXT | -f FILE | --stdin)`: token ids as
//! llama.cpp's `llama-tokenize` prints them.

use std::io::{Read, Write};

use anyhow::Context;
use rocmforge_tokenizer::Tokenizer;

use crate::args::TokenizeArgs;

pub fn run(args: &TokenizeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut text: Vec<u8> = if let Some(prompt) = &args.prompt {
        prompt.as_bytes().to_vec()
    } else if let Some(path) = &args.file {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
    } else {
        let mut buffer = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buffer)
            .context("cannot read standard input")?;
        buffer
    };
    if !args.no_escape {
        text = process_escapes(&text);
    }
    let text = String::from_utf8(text).map_err(|e| {
        anyhow::anyhow!(
            "the text is not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;

    let model = args.model.display().to_string();
    let file = super::open_gguf(&args.model)?;
    let tokenizer = Tokenizer::from_gguf(&file).with_context(|| model)?;

    // As llama-tokenize: BOS (and with it EOS) only when the model asks for it.
    let add_special = tokenizer.add_bos() && !args.no_bos;
    let ids = tokenizer.encode(&text, add_special, !args.no_parse_special);
    if args.show {
        for &id in &ids {
            let piece = tokenizer.token_to_piece(id, true)?;
            // llama-tokenize prints the piece as a C string.
            let piece = piece.split(|&b| b == 0).next().unwrap_or_default();
            write!(out, "{id:6} -> '")?;
            out.write_all(piece)?;
            writeln!(out, "'")?;
        }
    } else {
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(out, "[{}]", list.join(", "))?;
    }
    if args.show_count {
        writeln!(out, "Total number of tokens: {}", ids.len())?;
    }
    Ok(())
}

/// Processes `\n`, `\r`, `\t`, `\'`, `\"`, `\\` and `\xNN` like llama.cpp's
/// `string_process_escapes`; any other backslash is kept as it is.
fn process_escapes(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'\\' || i + 1 >= input.len() {
            out.push(input[i]);
            i += 1;
            continue;
        }
        i += 1;
        match input[i] {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'x' if i + 2 < input.len() && hex_pair(input[i + 1], input[i + 2]).is_some() => {
                out.push(hex_pair(input[i + 1], input[i + 2]).unwrap_or_default());
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
        i += 1;
    }
    out
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let high = (high as char).to_digit(16)?;
    let low = (low as char).to_digit(16)?;
    Some((high * 16 + low) as u8)
}

#[cfg(test)]
mod tests {
    use super::process_escapes;

    #[test]
    fn escapes_as_llama_cpp() {
        assert_eq!(
            process_escapes(br"a\nb\tc\\d\'\x41\x4"),
            b"a\nb\tc\\d'A\\x4"
        );
        assert_eq!(process_escapes(br"\q\"), br"\q\");
        assert_eq!(process_escapes(br"\xzz"), br"\xzz");
    }
}
