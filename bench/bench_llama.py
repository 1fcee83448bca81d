#!/usr/bin/env python3
"""bench_llama.py - attn next to llama.cpp on LLaMA-architecture GGUF files, in one run.

For every GGUF given (or the default set below), both engines run alone, one after the other,
with the same thread count, llama-bench's method (bench_gpt2.py's llamacpp_measure: warm-up,
then the median of 3 prompt-processing runs of P tokens and of 3 generation runs of N
single-token decodes from an empty cache):

  attn       `ATTN bench -m GGUF -p P -n N -t THREADS --json`
  llama.cpp  libllama through llama-cpp-python's low-level API (built natively from the PyPI
             source package), with its default model parameters: its "extra buffer" types on,
             so Q4_0 and Q4_K weights are repacked for its own interleaved kernels (the
             table's "repack MB"). Where that dies (SIGILL: on a VM that reports AMX the
             kernel does not grant), the row is measured again with use_extra_bufts = False
             and says so.

The default set: SmolLM2-135M-Instruct as shipped (Q4_1, scripts/fetch-smollm2.sh), the same
model converted by `attn quantize` to f32, f16, q8_0, q4_0 and q4_k_m (from the Q4_1 weights: the
values differ from a quantization of the original f16 model, the speed does not), and a
random-weight LLaMA of TinyLlama-1.1B's shape (22 layers, width 2048, GQA 32/4 heads,
FFN 5632, vocab 32000; tools/make_random_llama_gguf.py) in f16, f32, q8_0, q4_0 and q4_k_m. Speed does not
depend on the weights' values. Files are made once under ~/.cache/attn/bench-gguf.

Prints a Markdown table (tokens/s, ratio attn / llama.cpp, generation as a share of the memory
bound, peak RSS of each process). The memory's read bandwidth is probed (`attn bench
--bandwidth` with no model: 1 GiB read by the same threads, ~0.2 s) before attn's run, between
the two engines' runs and after llama.cpp's, in every round. The bound is the bytes of weights
a token reads (all but an untied embedding table) over the best bandwidth probed so far in the
run (a slow sample would put a fast round over 100%); the row's own best probe is printed
beside it.
A shared host's bandwidth moves in phases: on the 2-vCPU EPYC these notes come from, it reads
~45 or ~80 GB/s for tens of seconds at a time, all memory alike. A round whose engines ran in
different phases gives a ratio that says nothing about the engines, so the table also gives the
generation ratio of every "steady" round, one whose three probes lie within 15% of each other,
with its bandwidth. Every round's probes and both engines' read rates
go to stderr.
Then (--bursts B, default 16; 0: not) generation is timed again with both engines loaded at
once, each in its own process waiting on a pipe (attn's: build/bench/bench_bursts; llama.cpp's:
this script as a child), alternating B bursts of each (n tokens from an empty cache, n about
0.4 s of attn's; the order flips every pair; 0.2 s idle before each, so that neither engine's
spinning threads take the other's cores), the memory's bandwidth probed before each pair (by
attn's child, over a buffer it keeps: a probe process of its own, allocating and freeing 1 GiB
each time, sometimes slowed the burst right after it): both
meet the same phases, and the table gives the median of the pairs' ratios with its quartiles,
each engine's median share of its pair's probe, and a ceiling: the median ratio to llama.cpp's
burst of an engine that read the weights at the probe's rate, the most any engine could have
shown in those phases (within the few % by which prefetching kernels pass the probe's plain
read loop). Then (--prompt-pairs P, default 16) prompts the same way: P alternated pairs of
one --prompt-token forward each, both engines loaded, the median and quartiles of the pairs'
ratios (the sequential rounds' pp ratio moved with the host's compute speed: 1.04x and
1.23-1.35x on SmolLM2 f16 in runs of the same code). Not with --depth.
With --depth D, generation is timed after D positions are already in the cache (both
engines; llama-bench's -d): long-context decoding, where the KV cache's reads add to the
weights' (the bound column still counts the weights alone).
Usage: python3 bench/bench_llama.py --attn build/attn [--threads 2] [--prompt 128] [--gen 64]
                                    [--depth 0] [--rounds 1] [--bursts 16] [--prompt-pairs 16]
                                    [--gguf A.gguf ...] [--no-1b]
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench_gpt2 as common  # noqa: E402  (run_child, llamacpp_measure, busy_compilers, cpu_name)

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "attn", "bench-gguf")
TINYLLAMA_SHAPE = ["--layers", "22", "--embd", "2048", "--ffn", "5632", "--heads", "32", "--kv-heads", "4",
                   "--vocab", "32000"]


def plain_buffers():
    """llama.cpp without its extra buffer types in this process (the SIGILL fallback)."""
    sys.path.insert(0, os.path.join(REPO, "tools"))
    from llamacpp_buffers import use_plain_buffers
    use_plain_buffers()


def llamacpp_child(gguf, prompt, gen, threads, depth):
    print(json.dumps(common.llamacpp_measure(gguf, prompt, gen, threads, depth=depth)))


def llamacpp_bursts_child(gguf, threads):
    """llama.cpp's side of `interleaved` (bench_bursts.c is attn's): load, one warm-up token,
    "ready", then the seconds of each stdin line's N single tokens from an empty cache, or of
    an N-token prompt for a line "p N"."""
    lc = common.LlamaCpp(gguf, 1024, threads)
    lc.run_gen(1)
    print("ready", flush=True)
    for line in sys.stdin:
        secs = lc.run_prompt(int(line[1:])) if line.startswith("p") else lc.run_gen(int(line))
        print(f"{secs:.6f}", flush=True)
    lc.close()


class Bursts:
    """A child process that answers a line "N" with the seconds of N decoded tokens, "p N" with
    those of an N-token prompt (and attn's, a line "bw" with the memory's read bandwidth)."""

    def __init__(self, cmd, env):
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        self._expect("ready")

    def _expect(self, word):
        line = self.p.stdout.readline()
        if not line.startswith(word):
            self.p.kill()
            raise RuntimeError(f"`{' '.join(self.cmd)}` said {line.strip()!r}, not {word!r} (exit {self.p.wait()})")

    def seconds(self, n):
        return self.ask(n)

    def prompt_seconds(self, n):
        return self.ask(f"p {n}")

    def bandwidth(self):
        """attn's child only: the memory's read bandwidth now, GB/s."""
        return self.ask("bw")

    def ask(self, what):
        self.p.stdin.write(f"{what}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        try:
            return float(line)
        except ValueError:
            self.p.kill()
            raise RuntimeError(f"`{' '.join(self.cmd)}` answered {line.strip()!r} (exit {self.p.wait()})")

    def close(self):
        self.p.stdin.close()
        if self.p.wait():
            raise RuntimeError(f"`{' '.join(self.cmd)}` exited {self.p.returncode}")


BURST_S = 0.4  # about this long a burst: shorter than the host's memory phases
GAP_S = 0.2  # idle between bursts: both engines' threads spin a while after work (attn's ~60 ms
             # of CPU, llama.cpp's ~10), which would take cores from the other's next burst


def interleaved(args, gguf, plain, decode_gb):
    """Generation of both engines in alternating bursts: both stay loaded (each waits on its
    pipe while the other runs), bursts of n tokens from an empty cache (n: ~BURST_S of
    attn's), args.bursts of each, the order flipped every pair, the memory's read bandwidth
    probed just before each pair. Returns the median tok/s of each, the quartiles of the pairs'
    ratios, each engine's median share of its pair's probe (decode_gb a token), and the median
    ceiling: the ratio to llama.cpp's burst of an engine that read the weights at the probe's
    rate (its kernels can pass the probe's plain read loop by a few %: a bound, not a wall)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    tool = os.path.join(os.path.dirname(os.path.abspath(args.attn)), "bench", "bench_bursts")
    eng = [Bursts([tool, gguf, str(args.threads)], env)]
    try:
        eng.append(Bursts([sys.executable, os.path.abspath(__file__), "--llamacpp-bursts", gguf, "--threads",
                           str(args.threads)] + (["--plain-buffers"] if plain else []), env))
        n = max(2, min(64, round(BURST_S * 4 / eng[0].seconds(4))))
        rates, probes = [[], []], []
        for i in range(args.bursts):
            time.sleep(GAP_S)
            probes.append(eng[0].bandwidth())
            for e in ((0, 1) if i % 2 == 0 else (1, 0)):
                time.sleep(GAP_S)
                rates[e].append(n / eng[e].seconds(n))
        pp = [[], []]
        if args.prompt_pairs:  # untimed: the first prompt sizes each engine's buffers
            for e in eng:
                e.prompt_seconds(args.prompt)
        for i in range(args.prompt_pairs):
            for e in ((0, 1) if i % 2 == 0 else (1, 0)):
                time.sleep(GAP_S)
                pp[e].append(args.prompt / eng[e].prompt_seconds(args.prompt))
    except BaseException:
        for e in eng:
            e.p.kill()
        raise
    for e in eng:
        e.close()
    ratios = [a / b for a, b in zip(*rates)]
    for a, b in zip(*pp):
        print(f"    prompt: attn {a:.1f} tok/s, llama.cpp {b:.1f}, {a / b:.2f}x", file=sys.stderr)
    for p, a, b in zip(probes, *rates):
        print(f"    probe {p:.1f} GB/s: attn {a:.1f} tok/s ({100 * a * decode_gb / p:.0f}%), llama.cpp {b:.1f} "
              f"({100 * b * decode_gb / p:.0f}%), {a / b:.2f}x", file=sys.stderr)
    share = [statistics.median(100 * r * decode_gb / p for r, p in zip(rates[e], probes)) for e in (0, 1)]
    ceiling = statistics.median(p / decode_gb / r for r, p in zip(rates[1], probes))
    return dict(quartiles(rates), n=n, attn_pct=share[0], lc_pct=share[1], ceiling=ceiling,
                probes=(min(probes), max(probes)), phases=by_phase(probes, ratios), pp=quartiles(pp))


def quartiles(pairs):
    """The median and quartiles of alternated pairs' ratios, and each engine's median rate."""
    ratios = [a / b for a, b in zip(*pairs)]
    if not ratios:
        return None
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return dict(q1=q[0], med=q[1], q3=q[2], attn=statistics.median(pairs[0]), lc=statistics.median(pairs[1]))


PHASE_GAP = 1.3  # probes this far apart: the memory ran in two phases during the row


def by_phase(probes, ratios):
    """The pairs' median ratio in each memory phase: those probed above the midpoint of the
    row's probes and those below, when the largest probe is PHASE_GAP times the smallest (hosts
    whose memory switches between a slow and a fast phase: the engines answer them differently,
    so the row's median depends on which phase the bursts met). None when the memory held one
    phase."""
    lo, hi = min(probes), max(probes)
    if hi < PHASE_GAP * lo:
        return None
    mid = (lo + hi) / 2
    fast = [r for r, p in zip(ratios, probes) if p >= mid]
    slow = [r for r, p in zip(ratios, probes) if p < mid]
    return dict(mid=mid, fast=(statistics.median(fast), len(fast)), slow=(statistics.median(slow), len(slow)))


TYPE_SUFFIXES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q4_k_m", "q5_k", "q6_k")


def model_stem(path):
    """The file's name without .gguf and its type suffix (a name may hold dots: random-llama-1.1b)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    head, _, tail = stem.rpartition(".")
    return head if head and tail.lower() in TYPE_SUFFIXES else stem


def make_quantized(attn, src, qtype):
    os.makedirs(CACHE, exist_ok=True)
    stem = model_stem(src)
    out = os.path.join(CACHE, f"{stem}.{qtype}.gguf")
    if not os.path.exists(out):
        print(f"making {out} with attn quantize ...", file=sys.stderr, flush=True)
        subprocess.run([attn, "quantize", src, out, "--type", qtype], check=True,
                       stdout=subprocess.DEVNULL)
    return out


def make_tinyllama_f16():
    out = os.path.join(CACHE, "random-llama-1.1b.f16.gguf")
    if not os.path.exists(out):
        os.makedirs(CACHE, exist_ok=True)
        print(f"making {out} (random weights, 2.2 GB) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_random_llama_gguf.py"), "-o", out]
                       + TINYLLAMA_SHAPE, check=True)
    return out


def default_set(attn, with_1b):
    smol = subprocess.run([os.path.join(REPO, "scripts", "fetch-smollm2.sh")], check=True,
                          capture_output=True, text=True).stdout.strip()
    files = [smol] + [make_quantized(attn, smol, t) for t in ("f32", "f16", "q8_0", "q4_0", "q4_k_m")]
    if with_1b:
        big = make_tinyllama_f16()
        files += [big] + [make_quantized(attn, big, t) for t in ("f32", "q8_0", "q4_0", "q4_k_m")]
    return files


def probe(args, env):
    """The read bandwidth of args.threads threads right now, GB/s."""
    r, _, _ = common.run_child([args.attn, "bench", "--bandwidth", "-t", str(args.threads), "--json"], env)
    return r["bandwidth_gb_s"]


STEADY = 1.15  # a round is steady when its largest probe is within 15% of its smallest


def measure(args, gguf):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    row = {"probes": [probe(args, env)]}
    cmd = [args.attn, "bench", "-m", gguf, "-p", str(args.prompt), "-n", str(args.gen), "-d", str(args.depth),
           "-t", str(args.threads), "--json"]
    r, rss, _ = common.run_child(cmd, env)
    row["attn"] = dict(pp=r["pp_tok_s"], tg=r["tg_tok_s"], rss=rss, type=r.get("dtype", "?"),
                       decode_gb=r["decode_mb"] * 1048576 / 1e9)
    row["probes"].append(probe(args, env))
    cmd = [sys.executable, os.path.abspath(__file__), "--llamacpp-child", gguf, "--prompt", str(args.prompt),
           "--gen", str(args.gen), "--threads", str(args.threads), "--depth", str(args.depth)]
    try:
        r, rss, _ = common.run_child(cmd, env)
        plain = False
    except RuntimeError as e:
        if getattr(e, "returncode", None) != 128 + signal.SIGILL:  # its extra buffers' kernels; else a failure
            raise
        print("  llama.cpp died with SIGILL: measured again without its extra buffers", file=sys.stderr)
        r, rss, _ = common.run_child(cmd + ["--plain-buffers"], env)
        plain = True
    row["llama.cpp"] = dict(pp=r["pp_tok_s"], tg=r["tg_tok_s"], rss=rss, ver=r["llama_cpp_python"],
                            repack=r.get("repack_mb", 0), plain=plain)
    row["probes"].append(probe(args, env))
    p, gb = row["probes"], row["attn"]["decode_gb"]
    at, lc = row["attn"]["tg"] * gb, row["llama.cpp"]["tg"] * gb
    print(f"  probes {p[0]:.1f} / {p[1]:.1f} / {p[2]:.1f} GB/s{' (steady)' if steady(row) else ''}: "
          f"attn read {at:.1f} GB/s ({100 * at / max(p[0], p[1]):.0f}% of its probes' best), "
          f"llama.cpp {lc:.1f} ({100 * lc / max(p[1], p[2]):.0f}%), tg {row['attn']['tg'] / row['llama.cpp']['tg']:.2f}x",
          file=sys.stderr, flush=True)
    return row


def steady(row):
    return max(row["probes"]) <= STEADY * min(row["probes"])


def median_rows(rounds):
    out = {}
    for eng in ("attn", "llama.cpp"):
        out[eng] = dict(rounds[0][eng])
        for k in ("pp", "tg", "rss"):
            out[eng][k] = statistics.median(r[eng][k] for r in rounds)
    out["llama.cpp"]["plain"] = any(r["llama.cpp"]["plain"] for r in rounds)
    out["steady"] = sorted((statistics.median(r["probes"]), r["attn"]["tg"] / r["llama.cpp"]["tg"])
                           for r in rounds if steady(r))  # (bandwidth, tg ratio), slowest first
    out["best_probe"] = max(max(r["probes"]) for r in rounds)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attn", default=os.path.join(REPO, "build", "attn"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--depth", type=int, default=0,
                    help="positions in the KV cache before generation is timed (llama-bench's -d)")
    ap.add_argument("--rounds", type=int, default=1, help="alternate the engines R times; medians")
    ap.add_argument("--gguf", action="append", help="a GGUF to measure (repeatable); default: the set above")
    ap.add_argument("--no-1b", action="store_true", help="leave out the random 1.1B model")
    ap.add_argument("--bursts", type=int, default=16,
                    help="then time generation in B alternating bursts of each engine (0: not)")
    ap.add_argument("--prompt-pairs", type=int, default=16,
                    help="and prompts in P alternated pairs, both engines loaded (with --bursts)")
    ap.add_argument("--llamacpp-child", help=argparse.SUPPRESS)
    ap.add_argument("--llamacpp-bursts", help=argparse.SUPPRESS)
    ap.add_argument("--plain-buffers", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.plain_buffers:
        plain_buffers()
    if a.llamacpp_bursts:
        return llamacpp_bursts_child(a.llamacpp_bursts, a.threads)
    if a.llamacpp_child:
        return llamacpp_child(a.llamacpp_child, a.prompt, a.gen, a.threads, a.depth)
    if not common.llamacpp_installed():
        sys.exit(common.LLAMACPP_NOTE)
    busy = common.busy_compilers()
    if busy:
        print(f"warning: {len(busy)} compiler processes are running: timings will be low and noisy",
              file=sys.stderr)
    files = a.gguf or default_set(a.attn, not a.no_1b)
    print(f"{common.cpu_name()}, {a.threads} threads, prompt {a.prompt} tokens, generation {a.gen} tokens"
          f"{f' after {a.depth} cached positions' if a.depth else ''}, median of {a.rounds} round(s)\n")
    print("| model | type | attn pp tok/s | llama.cpp pp tok/s | pp ratio | interleaved pp: ratio [quartiles] (attn / llama.cpp tok/s) | attn tg tok/s | llama.cpp tg tok/s "
          "| tg ratio | steady rounds: tg ratio @ GB/s | interleaved tg: ratio [quartiles] (attn / llama.cpp tok/s) "
          "| interleaved % of probe attn / llama.cpp (ceiling) | interleaved by phase: fast (pairs) / slow (pairs) @ GB/s "
          "| tg % of bound attn / llama.cpp | row's GB/s | attn RSS MB | llama.cpp RSS MB | llama.cpp repack MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ver, gbps = "?", []
    for gguf in files:
        print(f"measuring {gguf} ...", file=sys.stderr, flush=True)
        rows = median_rows([measure(a, gguf) for _ in range(a.rounds)])
        at, lc, st = rows["attn"], rows["llama.cpp"], rows["steady"]
        ver = lc["ver"]
        gbps.append(rows["best_probe"])
        tok_bound = max(gbps) / at["decode_gb"]  # this row's bytes, the best bandwidth so far
        repack = "off (SIGILL)" if lc["plain"] else f"{lc['repack']:.0f}"
        calm = ", ".join(f"{ratio:.2f}x @ {bw:.0f}" for bw, ratio in st) or "-"
        mixed = share = phased = pp_mixed = "-"
        if a.bursts and not a.depth:
            il = interleaved(a, gguf, lc["plain"], at["decode_gb"])
            mixed = f"{il['med']:.2f}x [{il['q1']:.2f}-{il['q3']:.2f}] ({il['attn']:.1f} / {il['lc']:.1f})"
            share = f"{il['attn_pct']:.0f}% / {il['lc_pct']:.0f}% ({il['ceiling']:.2f}x)"
            ip = il["pp"]
            if ip:
                pp_mixed = f"{ip['med']:.2f}x [{ip['q1']:.2f}-{ip['q3']:.2f}] ({ip['attn']:.1f} / {ip['lc']:.1f})"
            ph = il["phases"]
            phased = (f"{ph['fast'][0]:.2f}x ({ph['fast'][1]}) / {ph['slow'][0]:.2f}x ({ph['slow'][1]}) @ {ph['mid']:.0f}"
                      if ph else "one phase")
            print(f"  interleaved: {a.bursts} bursts of {il['n']} tokens each, probes {il['probes'][0]:.1f}-"
                  f"{il['probes'][1]:.1f} GB/s", file=sys.stderr, flush=True)
        print(f"| {model_stem(gguf)} | {at['type']} | {at['pp']:.1f} | {lc['pp']:.1f} | {at['pp'] / lc['pp']:.2f}x | {pp_mixed} "
              f"| {at['tg']:.1f} | {lc['tg']:.1f} | {at['tg'] / lc['tg']:.2f}x | {calm} | {mixed} | {share} | {phased} "
              f"| {100 * at['tg'] / tok_bound:.0f}% / {100 * lc['tg'] / tok_bound:.0f}% "
              f"| {rows['best_probe']:.1f} | {at['rss']:.0f} | {lc['rss']:.0f} "
              f"| {repack} |", flush=True)
    print(f"\nllama.cpp: llama-cpp-python {ver} (compiled from source here); attn: {a.attn}")
    print(f"bound: the weight bytes a token reads over the best read bandwidth of {a.threads} threads probed so far "
          f"(`attn bench --bandwidth`: {min(gbps):.1f}-{max(gbps):.1f} GB/s over the rows); steady rounds: their "
          f"three probes within {100 * (STEADY - 1):.0f}% of each other, each with its median probe; interleaved: "
          f"both engines loaded, {a.bursts} bursts of each alternated (~{BURST_S} s of attn's each, from an empty "
          f"cache, the memory probed before each pair), the median and quartiles of the pairs' ratios (prompts: "
          f"{a.prompt_pairs} pairs); % of probe: "
          f"each engine's weight bytes a second over its pair's probe (medians); ceiling: the median ratio to "
          f"llama.cpp's burst of an engine reading at the probe's rate; by phase: the pairs' median ratio probed above "
          f"and below the midpoint of the row's probes, where the largest is {PHASE_GAP}x the smallest")

if __name__ == "__main__":
    sys.exit(main())
