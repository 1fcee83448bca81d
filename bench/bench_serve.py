#!/usr/bin/env python3
"""bench_serve.py - `attn serve` under concurrent clients: total generated tokens/s, per-request
latency and time to first token for 1, 4 and 8 clients (continuous batching should make 8
clients far faster in total than 1), plus the server's idle memory.

Each client sends streamed completions one after another (different prompts, a fixed number of
tokens: ignore_eos), for --requests requests; the clients start together, and a level's tokens/s
is all tokens generated over the level's wall time. Then, with 2 or more clients, three rounds
in which all clients but one send a request and the last sends its own a third of a request
later: the median TTFT of those late requests (which arrive while the others decode) is the
"arriving under load" column. The server is started here (--parallel = the largest client
count) unless --url points at a running one.

  python3 bench/bench_serve.py                      # SmolLM2 ($ATTN_SMOLLM2_GGUF or the cache)
  python3 bench/bench_serve.py --clients 1,4,8 --requests 4 --max-tokens 128 --threads 2
  python3 bench/bench_serve.py --server-args "--matmul auto"   # two-byte activations (serve defaults to int8)
  python3 bench/bench_serve.py --score     # scoring: choices after one context, as lm-eval asks them
With --score, one client sends lm-evaluation-harness's loglikelihood requests (echo, logprobs 1,
max_tokens 1, token ids) for --contexts contexts of 400 tokens, each followed by 4 choices of
16 tokens: the first choice scores the whole prompt, the others reuse the slot's scored context.
Standard library only."""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.environ.get("ATTN_SMOLLM2_GGUF") or os.path.expanduser(
    "~/.cache/attn/models/SmolLM2-135M-Instruct.Q4_1.gguf")
PROMPTS = ["The history of the printing press", "Once upon a time in a small village", "The best way to learn",
           "In the year 2050, cities will", "A recipe for bread:", "The ocean is", "My favourite book is",
           "Scientists have discovered"]


def stream_completion(host, port, prompt, max_tokens):
    """(seconds to the first text, seconds in all, completion tokens) of one streamed request.
    Only the first text event and the usage event are parsed: the clients share the server's two
    cores, and a JSON parse per token would take the server's time."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=600)
    body = {"prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0.8, "stream": True,
            "stream_options": {"include_usage": True}}
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
    ttft, last, pending = None, None, b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        pending += chunk
        *events, pending = pending.split(b"\n\n")
        for event in events:
            data = event[len(b"data: "):]
            if data == b"[DONE]":
                continue
            last = data
            if ttft is None:
                j = json.loads(data)
                if j["choices"] and j["choices"][0]["text"]:
                    ttft = time.perf_counter() - t0
    conn.close()
    usage = json.loads(last).get("usage") if last else None
    if not usage:
        raise RuntimeError("the stream ended without its usage event")
    return ttft or 0.0, time.perf_counter() - t0, usage["completion_tokens"]


def run_clients(host, port, clients, requests, max_tokens, late_s=None):
    """Results per client of `clients` clients sending `requests` requests each, one after another.
    With late_s, the last client starts late_s after the others."""
    results = [[] for _ in range(clients)]

    def client(c):
        if late_s is not None and c == clients - 1:
            time.sleep(late_s)
        for i in range(requests):
            results[c].append(stream_completion(host, port, PROMPTS[(c + i) % len(PROMPTS)] + f" ({c}.{i})", max_tokens))
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def run_level(host, port, clients, requests, max_tokens, late_s):
    """Throughput: all clients start together and send their requests, so every slot decodes all
    the way. Then, with 2 or more clients, the time to first token of a request arriving under
    load, three times: clients - 1 clients send one request each and the last sends its own
    late_s later, while the others decode."""
    t0 = time.perf_counter()
    results = [r for per_client in run_clients(host, port, clients, requests, max_tokens) for r in per_client]
    wall = time.perf_counter() - t0
    late = [run_clients(host, port, clients, 1, max_tokens, late_s)[-1][0][0] for _ in range(3)] if clients > 1 else []
    ttfts = sorted(r[0] for r in results)
    tokens = sum(r[2] for r in results)
    return {"clients": clients, "requests": len(results), "tokens": tokens, "wall_s": wall,
            "tok_s": tokens / wall, "latency_s": statistics.mean(r[1] for r in results),
            "ttft_p50_s": statistics.median(ttfts), "ttft_max_s": ttfts[-1],
            "ttft_arriving_p50_s": statistics.median(late or ttfts)}


def post_json(host, port, path, body):
    conn = http.client.HTTPConnection(host, port, timeout=600)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = json.loads(conn.getresponse().read())
    conn.close()
    return r


def run_scoring(host, port, contexts):
    """Milliseconds of each first choice and of each later one; tokens taken from the cache."""
    text = open(os.path.join(ROOT, "models", "shakespeare-char", "README.md")).read() * 4
    ids = post_json(host, port, "/tokenize", {"content": text})["tokens"]
    if len(ids) < 400 + 4 * 16 + contexts:
        sys.exit("bench_serve: the scoring text is too short")
    choices = [ids[400 + 16 * i: 416 + 16 * i] for i in range(4)]
    first, later, cached = [], [], []
    for c in range(contexts):
        ctx = ids[c: c + 400]  # a context of its own each round
        for i, choice in enumerate(choices):
            t0 = time.perf_counter()
            r = post_json(host, port, "/v1/completions", {"prompt": ctx + choice, "max_tokens": 1, "logprobs": 1,
                                                          "echo": True, "temperature": 0})
            (first if i == 0 else later).append((time.perf_counter() - t0) * 1000)
            if i:
                cached.append(r["usage"]["prompt_tokens_details"]["cached_tokens"])
    return first, later, cached


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_server(a, parallel):
    cmd = [a.attn, "serve", "-m", a.model, "--port", "0", "--parallel", str(parallel), "--ctx-size", str(a.ctx),
           "-t", str(a.threads)] + a.server_args.split()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        sys.stderr.write(line)
        if "listening on http://" in line:
            port = int(line.split("http://", 1)[1].split()[0].rsplit(":", 1)[1])
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its log
            return proc, port
    raise RuntimeError(f"the server did not start: {' '.join(cmd)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attn", default=os.path.join(ROOT, "build", "attn"))
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--url", help="a running server (http://127.0.0.1:8080) instead of starting one")
    ap.add_argument("--clients", default="1,4,8")
    ap.add_argument("--requests", type=int, default=4, help="requests per client")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--ctx", type=int, default=1024, help="--ctx-size of the server it starts")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--server-args", default="", help="more options for the server it starts, e.g. '--matmul auto'")
    ap.add_argument("--json", action="store_true", help="print the results as JSON lines too")
    ap.add_argument("--score", action="store_true", help="time prompt scoring instead (see above)")
    ap.add_argument("--contexts", type=int, default=8, help="--score: contexts, 4 choices each")
    a = ap.parse_args()
    levels = [int(c) for c in a.clients.split(",")]
    proc = None
    if a.url:
        host, port = a.url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
        port = int(port)
    else:
        if not os.path.exists(a.model):
            sys.exit(f"bench_serve: no model at {a.model}: run scripts/fetch-smollm2.sh or give --model")
        proc, port = start_server(a, max(levels))
        host = "127.0.0.1"
    if a.score:
        try:
            stream_completion(host, port, "warm up", 8)
            first, later, cached = run_scoring(host, port, a.contexts)
        finally:
            if proc:
                proc.terminate()
                proc.wait(30)
        print(f"\n{os.path.basename(a.model)}: {a.contexts} contexts of 400 tokens x 4 choices of 16 (echo, "
              f"logprobs 1)\nfirst choice: median {statistics.median(first):.1f} ms ({min(first):.1f}-"
              f"{max(first):.1f})\nlater choices: median {statistics.median(later):.1f} ms ({min(later):.1f}-"
              f"{max(later):.1f}), {min(cached)}-{max(cached)} positions from the cache")
        return
    try:
        idle = rss_mb(proc.pid) if proc else 0.0
        stream_completion(host, port, "warm up", 8)
        rows, late = [], 0.3
        for c in levels:
            rows.append(run_level(host, port, c, a.requests, a.max_tokens, late))
            late = rows[0]["latency_s"] / 3  # a third into the others' requests: they are decoding
        after = rss_mb(proc.pid) if proc else 0.0
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
    base = rows[0]["tok_s"]
    print(f"\n{os.path.basename(a.model)}: {a.requests} streamed requests per client, {a.max_tokens} tokens each\n")
    print("| clients | total tok/s | vs 1 client | mean latency | TTFT p50 | TTFT max | TTFT arriving under load (p50) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['tok_s']:.1f} | {r['tok_s'] / base:.2f}x | {r['latency_s']:.2f} s "
              f"| {r['ttft_p50_s'] * 1000:.0f} ms | {r['ttft_max_s'] * 1000:.0f} ms "
              f"| {r['ttft_arriving_p50_s'] * 1000:.0f} ms |")
        if a.json:
            print(json.dumps(r))
    if proc:
        size = os.path.getsize(a.model) / 2**20
        print(f"\nserver RSS: {idle:.1f} MB idle after start, {after:.1f} MB after the run (model file {size:.1f} MB)")


if __name__ == "__main__":
    main()
