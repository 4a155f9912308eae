#!/usr/bin/env python3
"""Writes the text used to compare tokenizer speed with llama.cpp's llama-tokenize.

    python3 crates/tokenizer/benches/bench_text.py --mb 8 --out /tmp/tokenizer-bench.txt

Deterministic: the repository's own prose and Rust sources (English text and code)
followed by the multilingual reference corpus (crates/tokenizer/tests/fixtures), the
whole repeated until the size is reached.
"""
import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def parts():
    files = sorted(ROOT.glob("docs/*.md")) + sorted(ROOT.glob("crates/*/README.md")) + [ROOT / "README.md"]
    files += sorted(p for p in ROOT.glob("crates/gguf/src/**/*.rs") if "tables" not in p.name)
    for f in files:
        yield f.read_text(encoding="utf-8")
    corpus = json.loads((ROOT / "crates/tokenizer/tests/fixtures/gemma3-270m.refs.json").read_text(encoding="utf-8"))
    seen = []
    for case in corpus["cases"]:
        if case["text"] not in seen:
            seen.append(case["text"])
    yield "\n".join(seen)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=8)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    block = "\n\n".join(parts())
    target = int(args.mb * (1 << 20))
    data = (block * (target // len(block.encode()) + 1)).encode()[:target]
    text = data.decode("utf-8", errors="ignore")  # drop a character cut at the end
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {len(text.encode())} bytes to {args.out}")


if __name__ == "__main__":
    main()
