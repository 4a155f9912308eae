#!/usr/bin/env python3
"""Drives a running `rocmforge serve` with the official `openai` package.

Usage: openai_client.py --base-url http://HOST:PORT --api-key KEY --expected FILE

FILE is JSON: {"max_tokens": N, "prompts": [{"prompt": ..., "text": ...}, ...]}, the
greedy continuations `rocmforge run --temp 0 -n N` printed for each prompt. Every
check prints one line; the script exits 1 on the first failure.
"""

import argparse
import concurrent.futures
import json
import sys
import time
import urllib.error
import urllib.request

import openai


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def raw(base, path, body=None, key=None, method=None):
    """An HTTP request outside the client (bad bodies, /health, /metrics)."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(base, name):
    _, text = raw(base, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"/metrics has no {name}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--expected", required=True)
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    with open(args.expected, encoding="utf-8") as f:
        expected = json.load(f)
    n = expected["max_tokens"]
    prompts = expected["prompts"]
    client = openai.OpenAI(base_url=base + "/v1", api_key=args.api_key, max_retries=0)

    models = [m.id for m in client.models.list()]
    check(len(models) == 1, f"/v1/models lists one model ({models})")
    model = models[0]

    # Greedy completions equal `rocmforge run`.
    first = prompts[0]
    r = client.completions.create(model=model, prompt=first["prompt"], max_tokens=n, temperature=0)
    check(r.choices[0].text == first["text"], "greedy completion equals rocmforge run")
    check(r.usage.completion_tokens == n and r.choices[0].finish_reason == "length",
          f"usage counts {n} tokens, finish_reason length")
    check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "usage totals add up")

    # Streaming gives the same text, piece by piece.
    pieces = []
    finish = None
    for chunk in client.completions.create(model=model, prompt=first["prompt"], max_tokens=n,
                                           temperature=0, stream=True):
        pieces.append(chunk.choices[0].text)
        finish = chunk.choices[0].finish_reason or finish
    check("".join(pieces) == first["text"] and len(pieces) > 1,
          f"streamed completion equals the whole one ({len(pieces)} chunks)")
    check(finish == "length", "streamed completion ends with finish_reason length")

    # Chat, whole and streamed with usage.
    messages = [{"role": "system", "content": "You answer briefly."},
                {"role": "user", "content": "Name a color."}]
    whole = client.chat.completions.create(model=model, messages=messages, max_tokens=12, temperature=0)
    text = whole.choices[0].message.content
    check(whole.choices[0].message.role == "assistant" and whole.usage.completion_tokens > 0,
          f"chat answers ({text!r})")
    streamed, usage, roles = [], None, []
    for chunk in client.chat.completions.create(model=model, messages=messages, max_tokens=12,
                                                temperature=0, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            streamed.append(choice.delta.content or "")
    check("".join(streamed) == text, "streamed chat equals the whole answer")
    check(roles == ["assistant"], "the first chat chunk names the role")
    check(usage is not None and usage.completion_tokens == whole.usage.completion_tokens,
          "the last streamed chunk carries usage")

    # Stop sequences: a piece of the greedy text ends the answer before it.
    cut = len(first["text"]) // 2
    stop = first["text"][cut:cut + 3]
    r = client.completions.create(model=model, prompt=first["prompt"], max_tokens=n,
                                  temperature=0, stop=[stop])
    check(r.choices[0].text == first["text"][:first["text"].index(stop)]
          and r.choices[0].finish_reason == "stop", f"stop sequence {stop!r} cuts the answer")

    # Seeds make sampling reproducible.
    def sampled(seed):
        return client.completions.create(model=model, prompt="Once upon a time", max_tokens=16,
                                         temperature=1.0, top_p=0.95, seed=seed).choices[0].text
    a, b = sampled(1234), sampled(1234)
    check(a == b, "the same seed gives the same text")
    others = {sampled(seed) for seed in (1, 2, 3)}
    check(len(others | {a}) > 1, "other seeds give other texts")

    # Penalties are accepted and change nothing when zero.
    r = client.completions.create(model=model, prompt=first["prompt"], max_tokens=n, temperature=0,
                                  presence_penalty=0.0, frequency_penalty=0.0)
    check(r.choices[0].text == first["text"], "zero penalties keep the greedy text")

    # Log-probabilities.
    r = client.chat.completions.create(model=model, messages=messages, max_tokens=6, temperature=0,
                                       logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    check(len(content) == r.usage.completion_tokens, "one logprob entry per chat token")
    check(all(len(t.top_logprobs) == 3 and t.logprob <= 0 for t in content),
          "three alternatives each, log-probabilities <= 0")
    check(all(abs(t.top_logprobs[0].logprob - t.logprob) < 1e-6 for t in content),
          "greedy tokens are their own best alternative")
    r = client.completions.create(model=model, prompt=first["prompt"], max_tokens=4, temperature=0,
                                  logprobs=2)
    lp = r.choices[0].logprobs
    check(len(lp.tokens) == 4 and len(lp.token_logprobs) == 4 and len(lp.top_logprobs) == 4,
          "completion logprobs cover every token")

    # Eight clients at once, different prompts: each gets `rocmforge run`'s answer.
    def ask(p):
        return client.completions.create(model=model, prompt=p["prompt"], max_tokens=n,
                                         temperature=0).choices[0].text
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, prompts[:8]))
    for p, answer in zip(prompts[:8], answers):
        check(answer == p["text"], f"concurrent greedy answer equals rocmforge run for {p['prompt']!r}")
    check(metric(base, "rocmforge_batch_size_mean") > 1.0, "decode steps batched several sequences")

    # A client that goes away cancels its request.
    cancelled = metric(base, "rocmforge_requests_cancelled_total")
    stream = client.completions.create(model=model, prompt="Write a long story.", max_tokens=400,
                                       temperature=0, stream=True)
    for i, _ in enumerate(stream):
        if i == 2:
            break
    stream.close()
    deadline = time.time() + 30
    while metric(base, "rocmforge_requests_cancelled_total") <= cancelled and time.time() < deadline:
        time.sleep(0.1)
    check(metric(base, "rocmforge_requests_cancelled_total") == cancelled + 1,
          "a closed stream cancels its request")
    check(metric(base, "rocmforge_batch_size") == 0, "nothing is left running")

    # Errors in OpenAI's shape.
    def error_of(status, body):
        try:
            error = json.loads(body)["error"]
        except (ValueError, KeyError):
            raise AssertionError(f"not an OpenAI error body: {body!r}")
        return status, error
    status, error = error_of(*raw(base, "/v1/completions", "{not json", args.api_key, "POST"))
    check(status == 400 and "invalid request body" in error["message"], "bad JSON is a 400")
    status, error = error_of(*raw(base, "/v1/completions", '{"prompt": 5}', args.api_key, "POST"))
    check(status == 400, "a field of the wrong type is a 400")
    status, error = error_of(*raw(base, "/v1/chat/completions", '{"messages": []}', args.api_key, "POST"))
    check(status == 400 and error["param"] == "messages", "no messages is a 400")
    try:
        client.completions.create(model=model, prompt="word " * 5000, max_tokens=4)
        check(False, "a prompt longer than the context is refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and "context" in str(e) and e.body["param"] == "prompt",
              f"a prompt longer than the context is a 400 ({e.body['message']})")
    try:
        client.completions.create(model=model, prompt="x", temperature=float("nan"))
        check(False, "NaN temperature is refused")
    except (openai.BadRequestError, ValueError):
        print("ok: NaN temperature is refused")
    wrong = openai.OpenAI(base_url=base + "/v1", api_key="wrong-key", max_retries=0)
    try:
        wrong.models.list()
        check(False, "a wrong key is refused")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, "a wrong key is a 401")
    status, _ = raw(base, "/v1/models")
    check(status == 401, "a missing key is a 401")
    status, body = raw(base, "/health")
    check(status == 200 and json.loads(body)["status"] == "ok", "/health answers without a key")
    for name in ("rocmforge_requests_total", "rocmforge_generated_tokens_total", "rocmforge_queue_depth",
                 "rocmforge_decode_tokens_per_second", "rocmforge_http_client_errors_total"):
        check(metric(base, name) >= 0, f"/metrics reports {name}")
    # The server is still up after all that.
    r = client.completions.create(model=model, prompt=first["prompt"], max_tokens=n, temperature=0)
    check(r.choices[0].text == first["text"], "the server still answers correctly")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}")
        sys.exit(1)
