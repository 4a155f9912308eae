#!/usr/bin/env python3
"""Writes crates/gguf/src/quant/tables.rs from ggml's ggml-common.h.

The i-quant grids, sign tables and non-linear value tables are part of the file
formats: a quantized weight is only an index into them. Rather than retyping
thousands of numbers, this script copies them out of ggml's own header.

    python3 crates/gguf/src/quant/gen_tables.py LLAMA_CPP_DIR > crates/gguf/src/quant/tables.rs

LLAMA_CPP_DIR is a llama.cpp source tree (the header is ggml/src/ggml-common.h).
"""
import re
import sys
from pathlib import Path

COMMAND = (
    "python3 crates/gguf/src/quant/gen_tables.py LLAMA_CPP_DIR "
    "> crates/gguf/src/quant/tables.rs"
)

# (ggml name, Rust name, Rust element type, values per line, doc comment)
TABLES = [
    ("kmask_iq2xs", "KMASK_IQ2XS", "u8", 8,
     "Bit `j` of a sign byte: set means element `j` of an 8-value group is negative."),
    ("ksigns_iq2xs", "KSIGNS_IQ2XS", "u8", 16,
     "Expands 7 stored sign bits to 8: bit 7 makes the number of negative signs even."),
    ("iq2xxs_grid", "IQ2XXS_GRID", "u64", 4,
     "IQ2_XXS grid: 8 unsigned magnitudes per entry, element `j` in byte `j`."),
    ("iq2xs_grid", "IQ2XS_GRID", "u64", 4,
     "IQ2_XS grid: 8 unsigned magnitudes per entry, element `j` in byte `j`."),
    ("iq2s_grid", "IQ2S_GRID", "u64", 4,
     "IQ2_S grid: 8 unsigned magnitudes per entry, element `j` in byte `j`."),
    ("iq3xxs_grid", "IQ3XXS_GRID", "u32", 8,
     "IQ3_XXS grid: 4 unsigned magnitudes per entry, element `j` in byte `j`."),
    ("iq3s_grid", "IQ3S_GRID", "u32", 8,
     "IQ3_S grid: 4 unsigned magnitudes per entry, element `j` in byte `j`."),
    ("iq1s_grid", "IQ1S_GRID", "u64", 4,
     "IQ1_S and IQ1_M grid: 8 values in {-1, 0, 1} per entry, element `j` in byte `j` (as i8)."),
    ("kvalues_iq4nl", "KVALUES_IQ4NL", "i8", 16,
     "IQ4_NL and IQ4_XS: the 16 non-linear levels a 4-bit index selects."),
    ("kvalues_fp4", "KVALUES_MXFP4", "i8", 16,
     "E2M1 (FP4) values, doubled to be integers; shared by MXFP4 and NVFP4."),
]

# (ggml define, Rust name, doc comment)
FLOAT_CONSTANTS = [
    ("IQ1S_DELTA", "IQ1S_DELTA", "Offset added to IQ1_S grid values (sign chosen per 32 weights)."),
    ("IQ1M_DELTA", "IQ1M_DELTA", "Offset added to IQ1_M grid values (sign chosen per 8 weights)."),
]

RUST_TYPE_BITS = {"u8": 8, "i8": 8, "u32": 32, "u64": 64}


def parse_tables(text):
    """Maps each GGML_TABLE_BEGIN name to (C type, declared size, values)."""
    tables = {}
    pattern = re.compile(
        r"GGML_TABLE_BEGIN\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)(.*?)GGML_TABLE_END\(\)", re.S
    )
    for ctype, name, size, body in pattern.findall(text):
        if name in tables:
            continue  # the header repeats GPU variants under other names only
        values = [int(tok, 0) for tok in re.findall(r"-?(?:0x[0-9a-fA-F]+|\d+)", body)]
        tables[name] = (ctype, size, values)
    return tables


def parse_defines(text):
    return dict(re.findall(r"^#define\s+(\w+)\s+(\S+)", text, re.M))


def declared_size(size, defines):
    while not size.isdigit():
        size = defines[size]
    return int(size)


def literal(value, rust_type):
    if rust_type == "u64":
        return f"0x{value:016x}"
    if rust_type == "u32":
        return f"0x{value:08x}"
    return str(value)


def emit_table(out, name, rust_type, values, per_line, doc):
    bits = RUST_TYPE_BITS[rust_type]
    for v in values:
        if rust_type.startswith("u"):
            assert 0 <= v < 1 << bits, (name, v)
        else:
            assert -(1 << (bits - 1)) <= v < 1 << (bits - 1), (name, v)
    out.append(f"/// {doc}")
    out.append("#[rustfmt::skip]")
    out.append(f"pub(crate) static {name}: [{rust_type}; {len(values)}] = [")
    for i in range(0, len(values), per_line):
        row = ", ".join(literal(v, rust_type) for v in values[i:i + per_line])
        out.append(f"    {row},")
    out.append("];")
    out.append("")


TESTS = """\
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_tables_follow_their_rule() {
        for (i, &mask) in KMASK_IQ2XS.iter().enumerate() {
            assert_eq!(mask, 1 << i);
        }
        for (i, &signs) in KSIGNS_IQ2XS.iter().enumerate() {
            assert_eq!(usize::from(signs & 0x7f), i);
            assert_eq!(signs.count_ones() % 2, 0, "entry {i}");
        }
    }

    #[test]
    fn grid_entries_match_ggml() {
        // First and last entries, copied by hand from ggml-common.h.
        assert_eq!(IQ2XXS_GRID[0], 0x0808080808080808);
        assert_eq!(IQ2XXS_GRID[255], 0x2b2b2b1908081908);
        assert_eq!(IQ2XS_GRID[0], 0x0808080808080808);
        assert_eq!(IQ2XS_GRID[511], 0x2b2b2b2b2b2b2b2b);
        assert_eq!(IQ2S_GRID[0], 0x0808080808080808);
        assert_eq!(IQ2S_GRID[1023], 0x2b2b2b2b2b2b2b2b);
        assert_eq!(IQ3XXS_GRID[0], 0x04040404);
        assert_eq!(IQ3XXS_GRID[255], 0x3e341c04);
        assert_eq!(IQ3S_GRID[0], 0x01010101);
        assert_eq!(IQ3S_GRID[511], 0x0f0f0101);
        assert_eq!(IQ1S_GRID[0], 0xffffffffffffffff);
        assert_eq!(IQ1S_GRID[2047], 0x0101010101010101);
    }

    #[test]
    fn grid_values_are_in_range() {
        let bytes = |v: u64| v.to_le_bytes();
        for v in IQ2XXS_GRID.iter().chain(&IQ2XS_GRID).chain(&IQ2S_GRID) {
            assert!(bytes(*v).iter().all(|b| [8, 25, 43].contains(b)), "{v:#x}");
        }
        for v in &IQ3XXS_GRID {
            let levels = [4, 12, 20, 28, 36, 44, 52, 62];
            assert!(v.to_le_bytes().iter().all(|b| levels.contains(b)), "{v:#x}");
        }
        for v in &IQ3S_GRID {
            let odd = |b: &u8| b % 2 == 1 && *b < 16;
            assert!(v.to_le_bytes().iter().all(odd), "{v:#x}");
        }
        for v in &IQ1S_GRID {
            let trit = |b: &u8| [0x00, 0x01, 0xff].contains(b);
            assert!(bytes(*v).iter().all(trit), "{v:#x}");
        }
    }

    #[test]
    fn value_tables_match_ggml() {
        assert_eq!(KVALUES_IQ4NL[0], -127);
        assert_eq!(KVALUES_IQ4NL[15], 113);
        let e2m1 = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];
        assert_eq!(KVALUES_MXFP4, e2m1);
        assert_eq!(IQ1S_DELTA, 0.125);
        assert_eq!(IQ1M_DELTA, 0.125);
    }
}
"""


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} LLAMA_CPP_DIR > tables.rs")
    header = Path(sys.argv[1], "ggml/src/ggml-common.h").read_text()
    tables = parse_tables(header)
    defines = parse_defines(header)

    out = [
        "//! Lookup tables shared by quantizers and dequantizers, copied from ggml's",
        "//! `ggml-common.h`.",
        "//!",
        "//! Generated; do not edit. To regenerate:",
        "//!",
        "//! ```text",
        f"//! {COMMAND}",
        "//! ```",
        "//!",
        "//! The grids pack one group of weights per integer, little-endian: element `j` of",
        "//! a group is byte `j` of the entry (`entry.to_le_bytes()[j]`).",
        "",
    ]
    for cname, rname, rust_type, per_line, doc in TABLES:
        ctype, size, values = tables[cname]
        if declared_size(size, defines) != len(values):
            sys.exit(f"{cname}: {len(values)} values but declared size {size}")
        emit_table(out, rname, rust_type, values, per_line, doc)
    for cname, rname, doc in FLOAT_CONSTANTS:
        value = defines[cname].rstrip("fF")
        float(value)  # must be a plain literal
        out.append(f"/// {doc}")
        out.append(f"pub(crate) const {rname}: f32 = {value};")
        out.append("")
    out.append(TESTS)
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
