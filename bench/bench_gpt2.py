#!/usr/bin/env python3
"""bench_gpt2.py - attn next to PyTorch and HF transformers on GPT-2 124M, in one run.

Every engine runs the same random GPT-2 124M (float32; the model tools/check_gpt2_reference.py
builds, cached in ~/.cache/attn/gpt2-124m-random and made here when missing), each in its
own process, with the same thread count:

  attn           `ATTN bench -m DIR -p P -n N -t THREADS --json`, which prints one JSON
                 object with "pp_tok_s", "tg_tok_s", "peak_rss_mb", "load_s".
  PyTorch eager  GPT2LMHeadModel in float32: prefill of P tokens (median of 3), then N
                 single-token decode steps feeding past_key_values (greedy).
  HF generate    model.generate(max_new_tokens=N, min_new_tokens=N, do_sample=False) on a
                 P-token prompt, timed end to end (prefill included).

Peak RSS is each process's high-water mark (wait4's ru_maxrss), read the same way for all.
It prints a Markdown table; bench/README.md explains the columns. The whole run takes
about 1-2 minutes on 2 cores (plus ~10 s the first time, to make the model).

Usage: python3 bench/bench_gpt2.py --attn build/attn [--threads 2] [--prompt 512] [--gen 128]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEER_TIMEOUT = 300


# ---------------------------------------------------------------------------------------
# Peers: each runs in its own process (`bench_gpt2.py --peer NAME ...`), prints JSON.

def eager_measure(model, prompt_len, gen, threads, reps=3):
    """PyTorch eager prefill (median of reps) and gen single-token decode steps with a KV
    cache. Returns tokens/s and the raw times."""
    import torch
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, model.config.vocab_size, (1, prompt_len), generator=g)
    with torch.inference_mode():
        model(input_ids=ids[:, :32], use_cache=True)  # warm-up: allocator, kernels
        times, out = [], None
        for _ in range(reps):
            t0 = time.perf_counter()
            out = model(input_ids=ids, use_cache=True)
            times.append(time.perf_counter() - t0)
        prefill_s = statistics.median(times)
        past = out.past_key_values
        tok = out.logits[:, -1].argmax(-1, keepdim=True)
        t0 = time.perf_counter()
        for _ in range(gen):
            out = model(input_ids=tok, past_key_values=past, use_cache=True)
            past = out.past_key_values
            tok = out.logits[:, -1].argmax(-1, keepdim=True)
        decode_s = time.perf_counter() - t0
    return {"pp_tok_s": prompt_len / prefill_s, "tg_tok_s": gen / decode_s,
            "prefill_s": times, "decode_s": decode_s}


def generate_measure(model, prompt_len, gen, threads):
    """HF generate end to end: new tokens per second, prefill included."""
    import torch
    from transformers import GenerationConfig
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, model.config.vocab_size, (1, prompt_len), generator=g)
    mask = torch.ones_like(ids)

    def cfg(n):
        return GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=n, min_new_tokens=n,
                                use_cache=True, pad_token_id=model.config.eos_token_id)
    with torch.inference_mode():
        model.generate(ids[:, :32], attention_mask=mask[:, :32], generation_config=cfg(4))
        t0 = time.perf_counter()
        out = model.generate(ids, attention_mask=mask, generation_config=cfg(gen))
        e2e_s = time.perf_counter() - t0
    assert out.shape[1] == prompt_len + gen, out.shape
    return {"e2e_tok_s": gen / e2e_s, "e2e_s": e2e_s}


def peer_main(args):
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    import transformers
    from transformers import GPT2LMHeadModel
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = GPT2LMHeadModel.from_pretrained(args.model_dir, dtype=torch.float32).eval()
    load_s = time.perf_counter() - t0
    if args.peer == "eager":
        r = eager_measure(model, args.prompt, args.gen, args.threads)
    else:
        r = generate_measure(model, args.prompt, args.gen, args.threads)
    r.update(load_s=load_s, torch=torch.__version__, transformers=transformers.__version__,
             torch_threads=torch.get_num_threads())
    print(json.dumps(r))
    return 0


# ---------------------------------------------------------------------------------------
# The driver.

def run_child(cmd, env, timeout=PEER_TIMEOUT):
    """Run cmd alone; return (its last JSON line as a dict, its peak RSS in MB, wall s)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)  # this child's own rusage
        finally:
            timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode != 0:
        why = "ran past %d s and was killed" % timeout if p.returncode == -9 else \
            "exited %d" % p.returncode
        raise RuntimeError(f"`{' '.join(cmd)}` {why}:\n{stderr.strip()[-1500:]}")
    for line in reversed(stdout.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj, usage.ru_maxrss / 1024.0, wall
    raise RuntimeError(f"`{' '.join(cmd)}` printed no JSON object:\n{stdout.strip()[-1500:]}")


def busy_compilers():
    """Other processes compiling now (they would skew the timings)."""
    names = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm in ("cc1", "cc1plus", "ld", "collect2", "rustc", "ninja"):
                names.append(comm)
    return names


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(x, nd=1):
    return "—" if x is None else f"{x:,.{nd}f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--attn", help="path to the attn binary; without it only the peers run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512, help="prompt tokens (prefill)")
    ap.add_argument("--gen", type=int, default=128, help="generated tokens (decode)")
    ap.add_argument("--model-dir", help="GPT-2 directory (default: the random 124M of "
                    "tools/check_gpt2_reference.py, made when missing)")
    ap.add_argument("--peers", default="eager,generate",
                    help="comma list of peers to run: eager, generate (default both)")
    ap.add_argument("--peer", choices=["eager", "generate"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        return peer_main(args)

    if not args.model_dir:
        sys.path.insert(0, os.path.join(REPO, "tools"))
        import check_gpt2_reference as ref
        ref.quiet_hf()
        args.model_dir = ref.default_workdir("124M")
        if ref.read_marker(args.model_dir) is None:
            ref.prepare("124M", args.model_dir, args.threads)
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    if args.prompt + args.gen > cfg.get("n_positions", 1024):
        ap.error(f"--prompt + --gen must fit n_positions {cfg.get('n_positions')}")

    busy = busy_compilers()
    if busy:
        print(f"WARNING: {len(busy)} compiler processes running ({', '.join(sorted(set(busy)))}):"
              " timings will be low and noisy. Rerun when the machine is idle.", file=sys.stderr)

    t_start = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), TRANSFORMERS_VERBOSITY="error",
               HF_HUB_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false")
    rows, notes, versions = {}, [], None

    if args.attn:
        cmd = [args.attn, "bench", "-m", args.model_dir, "-p", str(args.prompt), "-n",
               str(args.gen), "-t", str(args.threads), "--json"]
        print(f"running attn: {' '.join(cmd)}", file=sys.stderr, flush=True)
        try:
            r, rss, wall = run_child(cmd, env)
            missing = [k for k in ("pp_tok_s", "tg_tok_s") if not isinstance(r.get(k), (int, float))]
            if missing:
                raise RuntimeError(f"attn bench --json lacks {missing}: {json.dumps(r)}")
            rows["attn"] = dict(pp=r["pp_tok_s"], tg=r["tg_tok_s"], rss=rss, wall=wall)
            # attn decodes N tokens after a P-token prefill; its end-to-end rate, to set next
            # to HF generate's:
            rows["attn"]["e2e"] = args.gen / (args.prompt / r["pp_tok_s"] + args.gen / r["tg_tok_s"])
            extra = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in r.items() if k not in ("pp_tok_s", "tg_tok_s"))
            notes.append(f"attn reports: {extra}")
        except RuntimeError as e:
            print(f"attn failed: {e}", file=sys.stderr)
            notes.append("attn: failed to run (see stderr); its row is empty")
            rows["attn"] = dict(pp=None, tg=None, rss=None, e2e=None, wall=None)

    peer_names = {"eager": "PyTorch eager", "generate": "HF generate (end-to-end)"}
    for peer in [p.strip() for p in args.peers.split(",") if p.strip()]:
        if peer not in peer_names:
            ap.error(f"unknown peer {peer!r}: choose from {', '.join(peer_names)}")
        cmd = [sys.executable, os.path.abspath(__file__), "--peer", peer, "--model-dir",
               args.model_dir, "--threads", str(args.threads), "--prompt", str(args.prompt),
               "--gen", str(args.gen)]
        print(f"running {peer_names[peer]} ...", file=sys.stderr, flush=True)
        r, rss, wall = run_child(cmd, env)
        versions = f"torch {r['torch']}, transformers {r['transformers']}"
        if peer == "eager":
            rows[peer_names[peer]] = dict(pp=r["pp_tok_s"], tg=r["tg_tok_s"], rss=rss, wall=wall)
        else:
            rows[peer_names[peer]] = dict(pp=None, tg=r["e2e_tok_s"], e2e=r["e2e_tok_s"],
                                          rss=rss, wall=wall)

    a = rows.get("attn")
    print(f"\nGPT-2 124M (random weights, float32), prompt {args.prompt} tokens, "
          f"{args.gen} generated, {args.threads} threads; {cpu_name()}, {os.cpu_count()} CPUs"
          + (f"; {versions}" if versions else ""))
    print()
    print("| engine | prompt tok/s | gen tok/s | peak RSS MB | ratio attn/peer (prompt, gen) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        if name == "attn":
            rat = "1.00x, 1.00x" if r["pp"] else "—"
        elif a is None:
            rat = "— (no --attn)"
        elif "e2e" in r:  # HF generate: compare end-to-end rates
            rat = f"—, {ratio(a.get('e2e'), r['e2e'])} (end-to-end)"
        else:
            rat = f"{ratio(a['pp'], r['pp'])}, {ratio(a['tg'], r['tg'])}"
        print(f"| {name} | {fmt(r['pp'])} | {fmt(r['tg'])} | {fmt(r['rss'], 0)} | {rat} |")
    print()
    if "HF generate (end-to-end)" in rows:
        e2e = f"; attn's own end-to-end rate is {fmt(a['e2e'])} tok/s" if a and a.get("e2e") else ""
        print(f"HF generate's gen tok/s is end to end: {args.gen} new tokens / the time of the "
              f"whole generate call, {args.prompt}-token prefill included{e2e}.")
    for n in notes:
        print(n)
    print("llama.cpp (llama-cpp-python) joins this table once attn reads and writes GGUF: "
          "the same model as GGUF f32, same prompt, generated tokens and threads.")
    print(f"(whole run {time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
