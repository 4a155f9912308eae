#!/usr/bin/env python3
"""Writes small valid GGUF files as starting points for the fuzzer:

    python3 crates/gguf/fuzz/seeds/make_seeds.py
"""
import struct
from pathlib import Path

HERE = Path(__file__).parent


def s(text):
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def tensor(name, dims, ggml_type, offset):
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) \
        + struct.pack("<IQ", ggml_type, offset)


def gguf(kvs, tensors, blobs, version=3, align=32):
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs) + b"".join(tensors)
    head += b"\0" * (-len(head) % align)
    return head + b"".join(b + b"\0" * (-len(b) % align) for b in blobs)


metadata = [
    kv("general.architecture", 8, s("llama")),
    kv("llama.block_count", 4, struct.pack("<I", 2)),
    kv("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)),
    kv("flag", 7, b"\1"),
    kv("big", 10, struct.pack("<Q", 1 << 40)),
    kv("tokens", 9, struct.pack("<IQ", 8, 3) + s("a") + s("bc") + s("日本")),
    kv("nested", 9, struct.pack("<IQ", 9, 2) + struct.pack("<IQ", 4, 2) + struct.pack("<II", 1, 2)
       + struct.pack("<IQ", 8, 1) + s("x")),
]
tensors = [tensor("f32", [4], 0, 0), tensor("q4_0", [32, 2], 2, 32), tensor("q4_k", [256], 12, 96)]
blobs = [struct.pack("<4f", 1, 2, 3, 4), bytes(range(36)), bytes(range(144))]
(HERE / "valid_v3.gguf").write_bytes(gguf(metadata, tensors, blobs))
(HERE / "valid_v2.gguf").write_bytes(gguf(metadata[:3], tensors[:1], blobs[:1], version=2))
(HERE / "valid_aligned_64.gguf").write_bytes(
    gguf([kv("general.alignment", 4, struct.pack("<I", 64))], [tensor("w", [32], 8, 0)], [bytes(34)], align=64))
print("wrote seeds")
