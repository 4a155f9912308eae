//! Bit-exact checks against reference outputs from ggml and gguf-py.
//!
//! The fixtures in `fixtures/` were written by `fixtures/gen/generate.sh` (each file's
//! header names the command, the reference versions and which references agreed).

use std::path::{Path, PathBuf};

use rocmforge_gguf::GgmlType;
use rocmforge_gguf::quant;

struct Fixture {
    ty: GgmlType,
    direction: String,
    checked_by: String,
    elements: usize,
    input: Vec<u8>,
    output: Vec<u8>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(path: &Path) -> Fixture {
    let bytes = std::fs::read(path).unwrap();
    let end = bytes
        .windows(5)
        .position(|w| w == b"\n---\n")
        .expect("fixture header ends with ---");
    let header = std::str::from_utf8(&bytes[..end]).unwrap();
    let field = |key: &str| -> String {
        header
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
            .unwrap_or_else(|| panic!("{}: no `{key}` line", path.display()))
            .to_owned()
    };
    let number = |key: &str| field(key).parse::<usize>().unwrap();
    let body = &bytes[end + 5..];
    let (input_len, output_len) = (number("input-bytes"), number("output-bytes"));
    assert_eq!(body.len(), input_len + output_len, "{}", path.display());
    Fixture {
        ty: GgmlType::from_name(&field("type")).unwrap(),
        direction: field("direction"),
        checked_by: field("checked-by"),
        elements: number("elements"),
        input: body[..input_len].to_vec(),
        output: body[input_len..].to_vec(),
    }
}

fn fixtures(direction: &str) -> Vec<Fixture> {
    let mut all: Vec<Fixture> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "fixture"))
        .map(|path| load(&path))
        .filter(|fixture| fixture.direction == direction)
        .collect();
    all.sort_by_key(|fixture| fixture.ty);
    all
}

fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    got.iter().zip(want).position(|(a, b)| a != b)
}

#[test]
fn every_type_has_a_dequantization_fixture() {
    let covered: Vec<GgmlType> = fixtures("dequantize").iter().map(|f| f.ty).collect();
    assert_eq!(covered, GgmlType::ALL.to_vec());
}

#[test]
fn dequantization_is_bit_exact() {
    let mut failures = Vec::new();
    for fixture in fixtures("dequantize") {
        for parallel in [false, true] {
            let mut out = vec![0.0f32; fixture.elements];
            let convert = if parallel {
                quant::dequantize_parallel
            } else {
                quant::dequantize
            };
            convert(fixture.ty, &fixture.input, &mut out).unwrap();
            let got: &[u8] = bytemuck::cast_slice(&out);
            if let Some(at) = first_difference(got, &fixture.output) {
                let i = at / 4;
                let want = f32::from_le_bytes(fixture.output[i * 4..i * 4 + 4].try_into().unwrap());
                failures.push(format!(
                    "{} (parallel: {parallel}, reference {}): element {i}: got {}, want {want}",
                    fixture.ty, fixture.checked_by, out[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quantization_is_byte_exact() {
    let fixtures = fixtures("quantize");
    let covered: Vec<GgmlType> = fixtures.iter().map(|f| f.ty).collect();
    for ty in quant::QUANTIZABLE {
        assert!(
            ty == GgmlType::F32 || covered.contains(&ty),
            "no quantize fixture for {ty}"
        );
    }
    let mut failures = Vec::new();
    for fixture in fixtures {
        let input: Vec<f32> = fixture
            .input
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        for parallel in [false, true] {
            let mut out = vec![0u8; fixture.output.len()];
            let convert = if parallel {
                quant::quantize_parallel
            } else {
                quant::quantize
            };
            convert(fixture.ty, &input, &mut out).unwrap();
            if let Some(at) = first_difference(&out, &fixture.output) {
                let block = at / fixture.ty.type_size();
                failures.push(format!(
                    "{} (parallel: {parallel}, reference {}): first difference at byte {at} (block {block})",
                    fixture.ty, fixture.checked_by
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
