#!/usr/bin/env python3
"""A bounded load test of a running `rocmforge serve` (it ends by itself).

Usage: load_test.py --base-url URL --api-key KEY --pid PID
                    [--requests 500] [--concurrency 16] [--max-tokens 16]
                    [--throughput] [--json FILE]

1. Load: after a warm-up, REQUESTS requests (completions and chats, whole and
   streamed, varied prompts) at CONCURRENCY clients; every one must succeed,
   and the server's resident memory afterwards must not exceed what it was after
   the warm-up by more than a small allowance (allocator noise). It is also
   printed halfway: a leak grows with the requests served.
2. With --throughput: generated tokens per second with one client at a time
   against eight at once (greedy, fixed lengths), and their ratio.

Prints a summary; exits 1 when a request failed or memory grew. Only Python's
standard library is used, so it runs where no package can be installed.
"""

import argparse
import concurrent.futures
import json
import sys
import time
import urllib.request

PROMPTS = [
    "The capital of France is",
    "def quicksort(items):",
    "Once upon a time, in a small village,",
    "The three primary colors are",
    "To make a cup of tea, first",
    "Water boils at",
    "The largest planet in the solar system",
    "List of prime numbers: 2, 3, 5,",
    "A haiku about autumn:",
    "The French word for cat is",
    "In 1969, the first person to walk on the moon",
    "SELECT name FROM users WHERE",
]

# Resident memory may move by this much for reasons other than leaks.
RSS_ALLOWANCE_KB = 16 * 1024


def rss_kb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Client:
    """POSTs JSON to the server; streamed answers are read as server-sent events."""

    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key

    def post(self, path, body):
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(),
                                         method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {self.key}")
        with urllib.request.urlopen(request, timeout=600) as response:
            if not body.get("stream"):
                return json.load(response)
            chunks = []
            for line in response:
                line = line.decode().strip()
                if not line.startswith("data: "):
                    continue
                data = line[len("data: "):]
                if data == "[DONE]":
                    return chunks
                chunk = json.loads(data)
                if "error" in chunk:
                    raise RuntimeError(chunk["error"]["message"])
                chunks.append(chunk)
            raise RuntimeError("the stream ended without [DONE]")

    def model(self):
        request = urllib.request.Request(self.base + "/v1/models")
        request.add_header("Authorization", f"Bearer {self.key}")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["data"][0]["id"]


def one_request(client, model, i, max_tokens):
    """Request number i: the four kinds in turn. Returns generated tokens."""
    prompt = PROMPTS[i % len(PROMPTS)]
    kind = i % 4
    common = dict(model=model, max_tokens=max_tokens, temperature=0.7, seed=i)
    chat = dict(messages=[{"role": "user", "content": prompt}], **common)
    if kind == 0:
        return client.post("/v1/completions", dict(prompt=prompt, **common))["usage"]["completion_tokens"]
    if kind == 1:
        return client.post("/v1/chat/completions", chat)["usage"]["completion_tokens"]
    if kind == 2:
        chunks = client.post("/v1/completions", dict(prompt=prompt, stream=True, **common))
        return sum(1 for c in chunks if c["choices"] and c["choices"][0]["text"])
    chunks = client.post("/v1/chat/completions",
                         dict(stream=True, stream_options={"include_usage": True}, **chat))
    return chunks[-1]["usage"]["completion_tokens"]


def run_many(client, model, count, concurrency, max_tokens, offset=0):
    errors = []
    tokens = 0
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(one_request, client, model, offset + i, max_tokens) for i in range(count)]
        for f in concurrent.futures.as_completed(futures):
            try:
                tokens += f.result()
            except Exception as e:  # noqa: BLE001 - every failure counts
                errors.append(repr(e))
    return time.perf_counter() - started, tokens, errors


def throughput(client, model, clients, requests, max_tokens):
    """Generated tokens/s of greedy, fixed-length completions at `clients` at once."""
    def ask(i):
        body = dict(model=model, prompt=PROMPTS[i % len(PROMPTS)], max_tokens=max_tokens,
                    temperature=0, ignore_eos=True)
        return client.post("/v1/completions", body)["usage"]["completion_tokens"]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
        tokens = sum(pool.map(ask, range(requests)))
    return tokens / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", default="none")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    client = Client(args.base_url, args.api_key)
    model = client.model()
    result = {}

    if args.throughput:
        # Alternating rounds, so that a machine whose speed drifts (shared
        # hosts do) affects both sides alike; the median round is reported.
        length, rounds = 64, []
        for _ in range(3):
            sequential = throughput(client, model, 1, 4, length)
            concurrent8 = throughput(client, model, 8, 16, length)
            rounds.append((concurrent8 / sequential, sequential, concurrent8))
            print(f"throughput round: 1 client {sequential:.1f} tokens/s, 8 clients "
                  f"{concurrent8:.1f} tokens/s ({concurrent8 / sequential:.2f}x)")
        speedup, sequential, concurrent8 = sorted(rounds)[1]
        result.update(sequential_tokens_per_s=sequential, concurrent8_tokens_per_s=concurrent8,
                      speedup=speedup, rounds=rounds)
        print(f"throughput (median round): 1 client {sequential:.1f} tokens/s, 8 clients "
              f"{concurrent8:.1f} tokens/s ({speedup:.2f}x)")

    # The warm-up lets every worker thread and the allocator reach their
    # working sizes; after it, memory must stay put.
    warm = max(8 * args.concurrency, 64)
    _, _, warm_errors = run_many(client, model, warm, args.concurrency, args.max_tokens)
    rss_before = rss_kb(args.pid)
    half = args.requests // 2
    seconds1, tokens1, errors = run_many(client, model, half, args.concurrency, args.max_tokens,
                                         offset=1000)
    rss_half = rss_kb(args.pid)
    seconds2, tokens2, errors2 = run_many(client, model, args.requests - half, args.concurrency,
                                          args.max_tokens, offset=1000 + half)
    time.sleep(0.5)
    rss_after = rss_kb(args.pid)
    seconds, tokens = seconds1 + seconds2, tokens1 + tokens2
    errors += errors2 + warm_errors
    result.update(requests=args.requests, concurrency=args.concurrency, seconds=seconds,
                  generated_tokens=tokens, errors=len(errors), rss_before_kb=rss_before,
                  rss_half_kb=rss_half, rss_after_kb=rss_after)
    print(f"load: {args.requests} requests at concurrency {args.concurrency} in {seconds:.1f} s "
          f"({args.requests / seconds:.1f} requests/s, {tokens / seconds:.1f} tokens/s), "
          f"{len(errors)} errors (after {warm} warm-up requests)")
    print(f"memory: {rss_before / 1024:.1f} MiB after the warm-up, {rss_half / 1024:.1f} MiB halfway, "
          f"{rss_after / 1024:.1f} MiB after the run")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    for e in errors[:5]:
        print(f"error: {e}")
    if errors:
        print("FAILED: requests failed")
        sys.exit(1)
    if rss_after > rss_before + RSS_ALLOWANCE_KB:
        print(f"FAILED: resident memory grew by {(rss_after - rss_before) / 1024:.1f} MiB")
        sys.exit(1)
    print("ok: every request succeeded and memory did not grow")


if __name__ == "__main__":
    main()
