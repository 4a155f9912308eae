#!/usr/bin/env python3
"""Writes the corpus of malformed GGUF files in this folder, and expected.txt.

    python3 crates/gguf/tests/malformed/generate.py

Each file breaks one rule of the format; expected.txt pairs it with a fragment of the
error message the reader must give. The files are encoded here with `struct`, not with
the crate's own writer, so the corpus does not share the writer's assumptions. Inputs
that the fuzzer found worth keeping are added to this folder by hand (listed in
expected.txt with the fragment of their error).
"""
import struct
from pathlib import Path

HERE = Path(__file__).parent
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def s(text):
    data = text if isinstance(text, bytes) else text.encode()
    return struct.pack("<Q", len(data)) + data


def header(n_tensors, n_kv, version=3):
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def tensor(name, dims, ggml_type, offset):
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) \
        + struct.pack("<IQ", ggml_type, offset)


def pad(data, align=32):
    return data + b"\0" * (-len(data) % align)


ARCH = kv("general.architecture", STR, s("llama"))
CASES = {}


def case(name, data, expect):
    CASES[name] = (data, expect)


case("empty", b"", "not a GGUF file")
case("short_magic", b"GG", "not a GGUF file")
case("bad_magic", b"GGML" + b"\0" * 20, "not a GGUF file")
case("version_1", header(0, 0, version=1), "unsupported GGUF version 1")
case("version_4", header(0, 0, version=4), "unsupported GGUF version 4")
case("big_endian", b"GGUF" + struct.pack(">IQQ", 3, 0, 0), "big-endian")
case("truncated_counts", b"GGUF" + struct.pack("<I", 3) + b"\1\0\0", "file ends inside the tensor count")
case("huge_tensor_count", header(1 << 62, 0), "the tensor count is 4611686018427387904")
case("huge_kv_count", header(0, (1 << 64) - 1), "the metadata entry count is 18446744073709551615")
case("huge_key_length", header(0, 1) + struct.pack("<Q", (1 << 64) - 1) + b"\0" * 16,
     "length of the key of metadata entry 0 is 18446744073709551615")
case("key_bad_utf8", header(0, 1) + kv(b"general.\xff\xfe", U32, struct.pack("<I", 1)),
     "the key of metadata entry 0 is not valid UTF-8")
case("unknown_value_type", header(0, 1) + kv("a.key", 99, b"\0" * 8), "the value of `a.key` has unknown value type 99")
case("truncated_string_value", header(0, 1) + kv("a.key", STR, struct.pack("<Q", 100) + b"abc"),
     "length of the value of `a.key` is 100")
case("truncated_u64_value", header(0, 1) + kv("a.key", U64, b"\1\2\3"), "file ends inside the value of `a.key`")
case("huge_array_count", header(0, 1) + kv("a.list", ARR, struct.pack("<IQ", U32, 1 << 61)),
     "element count of the value of `a.list`")
case("array_unknown_element_type", header(0, 1) + kv("a.list", ARR, struct.pack("<IQ", 77, 1)),
     "element type of the value of `a.list` has unknown value type 77")
nested = struct.pack("<IQ", U8, 0)
for _ in range(20):
    nested = struct.pack("<IQ", ARR, 1) + nested
case("array_nested_too_deep", header(0, 1) + kv("a.deep", ARR, nested), "nests arrays deeper than 16 levels")
case("string_array_bad_utf8",
     header(0, 1) + kv("tokenizer.ggml.tokens", ARR, struct.pack("<IQ", STR, 3) + s("a") + s("b") + s(b"\xc3")),
     "element 2 of the value of `tokenizer.ggml.tokens` is not valid UTF-8")
case("string_array_truncated",
     header(0, 1) + kv("tokenizer.ggml.tokens", ARR, struct.pack("<IQ", STR, 3) + s("a") + struct.pack("<Q", 1000) + b"b" * 16),
     "length of element 1 of the value of `tokenizer.ggml.tokens` is 1000")
case("string_array_count_too_large",
     header(0, 1) + kv("tokenizer.ggml.tokens", ARR, struct.pack("<IQ", STR, 3) + s("a")),
     "element count of the value of `tokenizer.ggml.tokens` is 3, more than the 9 bytes left")
case("duplicate_key", header(0, 2) + ARCH + ARCH, "duplicate metadata key `general.architecture`")
case("alignment_zero", header(0, 1) + kv("general.alignment", U32, struct.pack("<I", 0)),
     "general.alignment must be a u32 power of two, found 0")
case("alignment_not_power_of_two", header(0, 1) + kv("general.alignment", U32, struct.pack("<I", 48)),
     "general.alignment must be a u32 power of two, found 48")
case("alignment_wrong_type", header(0, 1) + kv("general.alignment", STR, s("32")),
     "general.alignment must be a u32 power of two, found a string")

F32_T, Q4_0_T = 0, 2


def one_tensor(dims, ggml_type=F32_T, offset=0, data=b"", name="t"):
    return pad(header(1, 1) + ARCH + tensor(name, dims, ggml_type, offset)) + data


case("tensor_five_dims", one_tensor([1, 1, 1, 1, 1]), "tensor `t`: 5 dimensions (at most 4)")
case("tensor_huge_dim_count", header(1, 0) + s("t") + struct.pack("<I", 0xFFFFFFFF) + b"\0" * 32,
     "tensor `t`: 4294967295 dimensions")
case("tensor_zero_dim", one_tensor([4, 0]), "tensor `t`: dimension 1 is zero")
case("tensor_dims_overflow", one_tensor([1 << 32, 1 << 32, 1 << 32]), "tensor `t`: the element count overflows")
case("tensor_unknown_type", one_tensor([32], ggml_type=4), "tensor `t`: unknown tensor type id 4")
case("tensor_type_after_table", one_tensor([32], ggml_type=43), "tensor `t`: unknown tensor type id 43")
case("tensor_row_not_block_multiple", one_tensor([30, 2], ggml_type=Q4_0_T, data=b"\0" * 64),
     "rows of 30 elements are not a multiple of the Q4_0 block size 32")
case("tensor_misaligned", one_tensor([4], offset=4, data=b"\0" * 64), "data offset 4 is not a multiple of the alignment 32")
case("tensor_beyond_end", one_tensor([64], data=b"\0" * 16), "lies beyond its end")
case("tensor_offset_overflow", one_tensor([4], offset=(1 << 64) - 32), "lies beyond its end")
case("tensor_name_bad_utf8", header(1, 0) + s(b"\xff") + struct.pack("<I", 1) + b"\0" * 32, "the name of tensor 0 is not valid UTF-8")
case("tensor_info_truncated", header(1, 0) + s("t") + struct.pack("<IQ", 2, 4), "dimension 1 of tensor `t`")
two = pad(header(2, 1) + ARCH + tensor("a", [16], F32_T, 0) + tensor("b", [16], F32_T, 32)) + b"\0" * 96
case("tensors_overlap", two, "tensors `a` and `b` overlap")
dup = pad(header(2, 1) + ARCH + tensor("w", [8], F32_T, 0) + tensor("w", [8], F32_T, 32)) + b"\0" * 64
case("duplicate_tensor_name", dup, "duplicate tensor name `w`")


def main():
    for old in HERE.glob("*.gguf"):
        if old.stem in CASES:
            old.unlink()
    lines = ["# file<TAB>fragment of the expected error (written by generate.py; fuzz finds appended by hand)"]
    for name, (data, expect) in CASES.items():
        (HERE / f"{name}.gguf").write_bytes(data)
        lines.append(f"{name}.gguf\t{expect}")
    existing = (HERE / "expected.txt").read_text().splitlines() if (HERE / "expected.txt").exists() else []
    kept = [l for l in existing if l and not l.startswith("#") and l.split("\t")[0][:-5] not in CASES]
    (HERE / "expected.txt").write_text("\n".join(lines + kept) + "\n")
    print(f"wrote {len(CASES)} malformed files")


if __name__ == "__main__":
    main()
